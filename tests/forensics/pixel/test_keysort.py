"""group_keys does what the block searches need of np.sort: equal hashes adjacent, positions ascending among them."""

import numpy as np
import pytest

import radtrust.forensics.detectors.duplicated_noise as duplicated_noise
import radtrust.forensics.detectors.patch_fill as patch_fill
from radtrust.forensics import keysort
from radtrust.forensics.keysort import bucket_group_keys, group_keys

LOW = 22


def assert_grouped(out: np.ndarray, keys: np.ndarray, low: int = LOW) -> None:
    assert out.dtype == np.uint64
    assert np.array_equal(np.sort(out), np.sort(keys))  # a permutation
    high = out >> np.uint64(low)
    runs = 1 + int(np.count_nonzero(high[1:] != high[:-1])) if out.size else 0
    assert runs == np.unique(high).size  # each hash in one run
    same = high[1:] == high[:-1]
    assert np.all(out[1:][same] > out[:-1][same])  # positions ascending within a run


def hash_position_keys(rng: np.random.Generator, n: int, hash_bits: int = 36) -> np.ndarray:
    return (rng.integers(0, 1 << hash_bits, n, dtype=np.uint64) << np.uint64(LOW)) | rng.permutation(n).astype(
        np.uint64)


@pytest.mark.parametrize("n", [0, 1, 2, 1023, 1024, 5000, 100_000, 600_000])
def test_groups_hash_position_keys(n: int) -> None:
    keys = hash_position_keys(np.random.default_rng(n), n, hash_bits=12 if n > 1000 else 36)  # many repeats
    before = keys.copy()
    for grouping in (group_keys, bucket_group_keys):
        assert_grouped(grouping(keys, LOW), keys)
        assert np.array_equal(keys, before)  # the input is left as it is


@pytest.mark.parametrize("simd", [True, False])
def test_overwrite_groups_the_keys_given(monkeypatch: pytest.MonkeyPatch, simd: bool) -> None:
    monkeypatch.setattr(keysort, "SIMD_SORT", simd)
    keys = hash_position_keys(np.random.default_rng(4), 50_000, hash_bits=12)
    want = group_keys(keys, LOW)
    got = group_keys(keys.copy(), LOW, overwrite=True)
    assert np.array_equal(got, want)
    assert_grouped(got, keys)


def test_skewed_hashes_and_the_top_bit() -> None:
    rng = np.random.default_rng(1)
    # one hash held by most keys (a single bucket holds them all), a few keys using bit 63, small values
    keys = np.concatenate([(np.uint64(7) << np.uint64(LOW)) + rng.choice(1 << LOW, 50_000, replace=False).astype(
        np.uint64), rng.integers(0, 1 << 63, 3_000, dtype=np.uint64) | np.uint64(1 << 63),
        rng.choice(1 << LOW, 3_000, replace=False).astype(np.uint64)])
    rng.shuffle(keys)
    for grouping in (group_keys, bucket_group_keys):
        assert_grouped(grouping(keys, LOW), keys)
        assert np.array_equal(grouping(np.arange(5000, dtype=np.uint64), 40), np.arange(5000))


def test_detectors_find_what_a_full_sort_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The votes of duplicated-noise and the fragment counts of patch-fill are the same with the bucket path as with
    np.sort, on an image with a planted copy and a patch-filled region."""
    monkeypatch.setattr(keysort, "SIMD_SORT", False)
    rng = np.random.default_rng(5)
    img = rng.normal(1000, 30, (384, 384)).round().astype(np.float32)
    img[200:260, 220:290] = img[40:100, 30:100]  # a copy-move
    for k in range(40):  # a fill of small exact copies from many places
        y, x = 300 + (k // 8) * 8, 40 + (k % 8) * 8
        sy, sx = rng.integers(0, 370, 2)
        img[y:y + 8, x:x + 8] = img[sy:sy + 8, sx:sx + 8]
    hashes, usable = duplicated_noise.residual_signs(img)
    votes = duplicated_noise.vote_displacements(hashes, usable)
    counts = patch_fill.displacement_counts(img, picture=False)
    assert votes and votes[0][1] == (160, 190)
    assert counts[0] >= 10  # many displacements in one place: the fill
    for module in (duplicated_noise, patch_fill):
        monkeypatch.setattr(module, "group_keys", lambda keys, low, **_: np.sort(keys))
    assert duplicated_noise.vote_displacements(hashes, usable) == votes
    full = patch_fill.displacement_counts(img, picture=False)
    assert full[0] == counts[0] and np.array_equal(full[1], counts[1])


def test_the_simd_path_is_np_sort_and_the_other_the_buckets(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = hash_position_keys(np.random.default_rng(9), 50_000, hash_bits=12)
    monkeypatch.setattr(keysort, "SIMD_SORT", True)
    assert np.array_equal(group_keys(keys, LOW), np.sort(keys))
    monkeypatch.setattr(keysort, "SIMD_SORT", False)
    out = group_keys(keys, LOW)
    assert np.array_equal(out, bucket_group_keys(keys, LOW))
    assert not np.array_equal(out, np.sort(keys))  # the buckets leave the groups in another order
