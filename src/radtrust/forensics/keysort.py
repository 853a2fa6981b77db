"""Grouping the 64-bit (hash, position) keys the exact-match block searches are built on.

duplicated-noise and patch-fill find equal blocks by sorting one 64-bit key per position (the block's hash in the
high bits, its position in the low ones), then reading equal hashes off neighbouring keys: millions of keys on a
2048 x 2048 radiograph, the largest single cost of a scan there. They need less than a sort: keys of equal hash
next to each other, positions ascending among them; the order of different hashes does not matter. Without a SIMD
sort (session 24's machine) NumPy sorts 64-bit integers by introsort, as slow as heapsort, about 60 ns a key once
the array outgrows the cache. Here the keys are split into buckets by a multiplicative
(Fibonacci) hash of their hash part, with NumPy's radix argsort of 16-bit integers, and each bucket, a hundred or
two keys that fit in the cache, is sorted on its own. Equal hashes share a bucket, so they come out together and in
position order, as from np.sort, in 0.4 of its time (3.7M band hashes of a 2k radiograph: 0.09 against 0.22 s).
The Fibonacci hash spreads the skewed hashes of real images evenly (their top bits alone left up to 30,000 keys in
one bucket: 0.13 s).

Where NumPy sorts 64-bit integers with a SIMD quicksort (x86-simd-sort, dispatched on CPUs with AVX2 or AVX-512
since NumPy 2.0), np.sort is the faster of the two and is used: on this project's 2-core AMD EPYC machine (AVX2,
NumPy 2.4.6) the 3.8M band keys of the 2k benchmark picture took 0.062 s with np.sort against 0.234 s grouped in
buckets (session 32; NumPy 2.0.2, 2.2.6 and 2.3.5 sorted 3.8M random keys there in 0.08-0.10 s). The bucket path
stays for CPUs where NumPy has no SIMD sort (introsort, as measured in session 24).

Written here: NumPy offers radix sorting only for integers of 16 bits or fewer, and no NumPy, SciPy or
scikit-image routine groups 64-bit keys faster without a SIMD sort.
"""

from __future__ import annotations

import numpy as np

MAX_BUCKET_BITS = 14  # at most 16,384 buckets (the Python loop over them costs about 9 ms)
PER_BUCKET = 128  # keys per bucket aimed at (60-180 were fastest for 30,000 to 3M random keys)
_SMALL = 1024  # below this many keys one np.sort
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: Knuth's multiplicative hash


def simd_sort() -> bool:
    """Whether NumPy sorts 64-bit integers with its SIMD quicksort on this CPU (x86-simd-sort: AVX2 or AVX-512).
    False where the CPU features cannot be read."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # pragma: no cover - NumPy's layout before 2.0 (not supported) or after
        return False
    return bool(features.get("AVX2") or features.get("AVX512_SKX"))


SIMD_SORT = simd_sort()


def group_keys(keys: np.ndarray, low_bits: int, *, overwrite: bool = False) -> np.ndarray:
    """``keys`` (1D, unsigned 64-bit) reordered so that keys of equal ``keys >> low_bits`` are adjacent and
    ascending among themselves, as in ``np.sort(keys)``; the groups come in no particular order. A new array, or
    with ``overwrite`` possibly ``keys`` itself, reordered in place (no copy of millions of keys)."""
    keys = np.asarray(keys, dtype=np.uint64)
    if SIMD_SORT or keys.size < _SMALL:
        if overwrite:
            keys.sort()
            return keys
        return np.sort(keys)
    return bucket_group_keys(keys, low_bits)


def bucket_group_keys(keys: np.ndarray, low_bits: int) -> np.ndarray:
    """:func:`group_keys` by buckets sorted one at a time (the path for CPUs without NumPy's SIMD sort)."""
    keys = np.asarray(keys, dtype=np.uint64)
    if keys.size < _SMALL:
        return np.sort(keys)
    bits = min(MAX_BUCKET_BITS, (keys.size // PER_BUCKET).bit_length())
    bucket = ((keys >> np.uint64(low_bits)) * _GOLDEN >> np.uint64(64 - bits)).astype(np.uint16)
    out = keys[np.argsort(bucket, kind="stable")]  # radix sort: 16-bit keys
    start = 0
    for end in np.cumsum(np.bincount(bucket, minlength=1 << bits)).tolist():
        if end - start > 1:
            out[start:end].sort()  # in place, on a view
        start = end
    return out
