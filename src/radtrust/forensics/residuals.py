"""Noise-residual primitives shared by the pixel detectors (spectral, noise-residual, duplicated-noise).

The residual is Immerkær's Laplacian-of-differences high-pass (J. Immerkær, "Fast noise variance estimation",
CVIU 64(2), 1996): the 3x3 mask ``[[1,-2,1],[-2,4,-2],[1,-2,1]] / 6`` cancels constant and linear intensity
(so small intensity offsets and ramps vanish) and keeps white noise of standard deviation sigma at standard
deviation sigma. Block noise levels are a winsorised mean-absolute-deviation estimate (sigma = sqrt(pi/2)
* E|r| for Gaussian r), robust to the few edge pixels a block contains, O(n) and fully vectorised.

Pixels at the image's extreme values (clipped air, padding outside the CT field of view, saturated text
burned into a picture) carry no noise by construction; :func:`valid_mask` excludes them so no detector
mistakes a clipped region for a noise-free forgery (the physics detector reports clipping instead).
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from scipy import ndimage

_SQRT_HALF_PI = math.sqrt(math.pi / 2.0)


_LOCAL = threading.local()  # .cache: {(what, id, key): (input, result)} inside shared_intermediates()


@contextmanager
def shared_intermediates() -> Iterator[None]:
    """Within this block, what :func:`reuse` computes of one array is computed once: the residual
    (:func:`highpass`), the clipping masks (:func:`valid_mask`), block weights, the body mask (physics).

    The scanner runs every detector on one ``Image.pixels`` inside this block, so the intermediates they
    share are not recomputed per detector. Entries are keyed by the array's identity
    and hold the array (its id cannot be recycled meanwhile); detectors never write into the pixels they
    analyse, and the entries are dropped when the outermost block ends, so an array edited afterwards is
    analysed afresh and a scan holds no memory once it returns. Outside any block nothing is cached.
    The cache is per thread.
    """
    outermost = getattr(_LOCAL, "cache", None) is None
    if outermost:
        _LOCAL.cache = {}
    try:
        yield
    finally:
        if outermost:
            _LOCAL.cache = None


def reuse(what: str, x: np.ndarray, key: int, compute) -> np.ndarray:  # noqa: ANN001 - callable
    """``compute()`` of ``x`` (read-only), computed once per array and ``key`` inside :func:`shared_intermediates`."""
    cache = getattr(_LOCAL, "cache", None)
    entry = (what, id(x), key)
    if cache is not None and entry in cache and cache[entry][0] is x:
        return cache[entry][1]
    result = compute()
    if isinstance(result, np.ndarray):
        result.setflags(write=False)
    if cache is not None:
        cache[entry] = (x, result)
    return result


_IDEMPOTENT = (np.maximum, np.minimum, np.logical_and, np.logical_or, np.bitwise_and, np.bitwise_or)


def block_reduce(a: np.ndarray, block: int, op) -> np.ndarray:  # noqa: ANN001 - a NumPy binary ufunc
    """``op`` (np.add, np.maximum, np.logical_and...) accumulated over the block x block window starting at each
    position of a 2D array, by shifted slices (edge windows truncated; same shape as ``a``).

    Where the order of combining cannot change a value (maxima, minima, logical and bitwise AND/OR, sums of
    integers, whose wrap-around is modular), windows are doubled (:func:`_doubling`): three passes per axis for 6 px
    instead of five, four for 12 instead of eleven. Floating-point sums keep the one order of adding the window's
    values left to right, so every value rounds as before."""
    if op in _IDEMPOTENT or (op is np.add and a.dtype.kind in "biu"):
        return _doubling(_doubling(a, block, op, 1), block, op, 0)
    ny, nx = a.shape
    row = a.copy()
    for j in range(1, min(block, nx)):
        op(row[:, : nx - j], a[:, j:], out=row[:, : nx - j])
    out = row.copy()
    for i in range(1, min(block, ny)):
        op(out[: ny - i], row[i:], out=out[: ny - i])
    return out


def _doubling(a: np.ndarray, block: int, op, axis: int) -> np.ndarray:  # noqa: ANN001 - a NumPy binary ufunc
    """``op`` over the ``block`` values starting at each index along ``axis`` (truncated at the end), from windows of
    1, 2, 4... values (each two of the last, side by side) joined side by side as ``block``'s binary digits say:
    no value is taken twice, so this holds for sums as for maxima."""
    n = a.shape[axis]

    def join(x: np.ndarray, y: np.ndarray, shift: int) -> np.ndarray:  # x's window, then y's starting shift later
        out = np.empty_like(x)
        lead = [slice(None)] * a.ndim
        rest = [slice(None)] * a.ndim
        ahead = [slice(None)] * a.ndim
        lead[axis], ahead[axis], rest[axis] = slice(0, max(n - shift, 0)), slice(shift, n), slice(max(n - shift, 0), n)
        op(x[tuple(lead)], y[tuple(ahead)], out=out[tuple(lead)])
        out[tuple(rest)] = x[tuple(rest)]  # windows reaching past the end: x's is all there is
        return out

    power, width = a, 1  # the window of ``width`` values
    acc, reach = None, 0  # the window built so far, of ``reach`` values
    remaining = block
    while remaining:
        if remaining & 1:
            acc = power if acc is None else join(acc, power, reach)
            reach += width
        remaining >>= 1
        if remaining:
            power = join(power, power, width)
            width *= 2
    return acc.copy() if acc is a else acc


def box_mean(x: np.ndarray, k: int) -> np.ndarray:
    """Mean over k x k pixels (k odd), edges mirrored as ``ndimage.uniform_filter`` does ('reflect'), by shifted
    sums: three to five times faster than uniform_filter on float32 for these small windows."""
    h = k // 2
    p = np.pad(x, h, mode="symmetric")
    n0, n1 = x.shape
    if k == 1:
        return p.copy()
    rows = p[0:n0] + p[1 : 1 + n0]  # the first addition makes the array: no copy first
    for i in range(2, k):
        rows += p[i : i + n0]
    out = rows[:, 0:n1] + rows[:, 1 : 1 + n1]
    for j in range(2, k):
        out += rows[:, j : j + n1]
    out *= np.float32(1.0 / (k * k))
    return out


ROWS_PER_CHUNK = 64  # rows of the axis-0 Gaussian pass done at once: in float64 they stay in the core's cache


def gaussian(x: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """``ndimage.gaussian_filter(x, sigma, truncate=truncate)`` of a 2D float32 array ('reflect' edges), the same
    values bit for bit, in a third to a sixth of SciPy's time along axis 0.

    SciPy filters along axis 0 one strided column at a time (55 against 10 ms along axis 1 for sigma 1 on a
    2048 x 2048 array, here; 9 ms this way, and 18 against 60 ms for sigma 3). That pass is done as shifted sums
    of whole rows instead, in float64 and in SciPy's order (centre tap first, then each pair of taps from the
    outermost in: ``acc += (x[i-j] + x[i+j]) * w[j]``), so every value rounds as SciPy's does; the pass along
    axis 1 is SciPy's own. Arrays too short for the kernel, or not 2D float32, are left to SciPy.
    """
    return gaussians(x, (sigma,), truncate)[0]


def gaussians(x: np.ndarray, sigmas: tuple[float, ...], truncate: float = 4.0) -> list[np.ndarray]:
    """:func:`gaussian` of ``x`` at each of ``sigmas``, the rows' pass along axis 0 shared: each chunk of rows is
    taken to float64 once, and the sums of the pairs of rows the kernels share are added once (the band of
    duplicated-noise's coarse scale, sigma 1 and 3)."""
    taps = [_gaussian_taps(float(s), float(truncate)) for s in sigmas]
    radii = [w.size - 1 for w in taps]
    r = max(radii)
    if x.ndim != 2 or x.dtype != np.float32 or x.shape[0] <= 2 * r or min(radii) == 0:
        return [ndimage.gaussian_filter(x, s, truncate=truncate) for s in sigmas]
    padded = np.pad(x, ((r, r), (0, 0)), mode="symmetric")  # NumPy's 'symmetric' is SciPy's 'reflect'
    downs = [np.empty(x.shape, np.float32) for _ in sigmas]
    shared = min(radii) if len(sigmas) > 1 else 0  # pairs every kernel reaches
    for i in range(0, x.shape[0], ROWS_PER_CHUNK):
        n = min(ROWS_PER_CHUNK, x.shape[0] - i)
        rows = padded[i : i + n + 2 * r].astype(np.float64)
        pairs = {j: rows[r - j : r - j + n] + rows[r + j : r + j + n] for j in range(1, shared + 1)}
        pair = np.empty((n, x.shape[1]))
        for w, down in zip(taps, downs, strict=True):
            acc = rows[r : r + n] * w[0]
            for j in range(w.size - 1, 0, -1):
                if j in pairs:
                    np.multiply(pairs[j], w[j], out=pair)
                else:
                    np.add(rows[r - j : r - j + n], rows[r + j : r + j + n], out=pair)
                    pair *= w[j]
                acc += pair
            down[i : i + n] = acc
    return [ndimage.gaussian_filter1d(d, s, axis=1, truncate=truncate) for d, s in zip(downs, sigmas, strict=True)]


@functools.lru_cache(maxsize=16)
def _gaussian_taps(sigma: float, truncate: float) -> np.ndarray:
    """SciPy's Gaussian weights (centre, then taps 1..radius), read off its response to a unit impulse."""
    radius = int(truncate * sigma + 0.5)
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    taps = ndimage.gaussian_filter1d(impulse, sigma, truncate=truncate, mode="constant")[radius:]
    taps.setflags(write=False)
    return taps


def highpass(x: np.ndarray) -> np.ndarray:
    """Immerkær residual of a 2D array (float32, same shape, read-only; white noise sigma is preserved)."""
    return reuse("highpass", x, 0, lambda: _highpass(x))


def _highpass(x: np.ndarray) -> np.ndarray:
    # separable: [1, -2, 1] along rows, then along columns (slicing is ~2x faster than ndimage.correlate); in place,
    # -2 * b + a + c rounds as a - 2 * b + c does (doubling is exact, and a - d is a + (-d))
    p = np.pad(np.asarray(x, dtype=np.float32), 1, mode="symmetric")
    a = p[1:-1] * np.float32(-2.0)
    a += p[:-2]
    a += p[2:]
    out = a[:, 1:-1] * np.float32(-2.0)
    out += a[:, :-2]
    out += a[:, 2:]
    out *= np.float32(1.0 / 6.0)
    return out


def valid_mask(x: np.ndarray, *, margin: int = 1) -> np.ndarray:
    """Pixels whose residual can be trusted: not at the array's min/max (clipping, padding) nor next to them.

    Only values that occupy at least 0.1% of the pixels count as clipped, so an authentic image whose
    darkest pixel is a single noise sample keeps all its pixels. The result is read-only.
    """
    return reuse("valid", x, margin, lambda: _valid_mask(x, margin))


def _valid_mask(x: np.ndarray, margin: int) -> np.ndarray:
    bad = reuse("clipped", x, 0, lambda: _clipped(x))  # shared by the margins the detectors ask for
    if margin and bad.any():
        return ~dilate(bad, margin)
    return ~bad


def _clipped(x: np.ndarray) -> np.ndarray:
    """Pixels at the array's min or max, where that value occupies at least 0.1% of the pixels."""
    x = np.asarray(x)
    lo, hi = float(x.min()), float(x.max())
    bad = np.zeros(x.shape, dtype=bool)
    floor = max(16, x.size // 1000)
    for value in (lo, hi):
        hit = x == value
        if np.count_nonzero(hit) >= floor:
            bad |= hit
    return bad


def local_range(a: np.ndarray, size: int) -> np.ndarray:
    """``ndimage.maximum_filter(a, size) - ndimage.minimum_filter(a, size)`` of a 2D array ('reflect' edges), the same
    values: :func:`block_reduce` over the array padded as SciPy's window reaches (for an even size one more pixel
    back than forward), three times faster (256 x 256, size 4)."""
    before, after = size // 2, size - 1 - size // 2
    p = np.pad(a, ((before, after), (before, after)), mode="symmetric")  # NumPy's 'symmetric' is SciPy's 'reflect'
    spread = block_reduce(p, size, np.maximum) - block_reduce(p, size, np.minimum)
    return spread[: a.shape[0], : a.shape[1]]


def erode_cross(mask: np.ndarray, iterations: int = 1) -> np.ndarray:
    """``ndimage.binary_erosion(mask, iterations=iterations)`` of a 2D mask: SciPy's default structure (a pixel and
    its 4 neighbours) and border (outside counts as False, so the border's pixels go), by shifted ANDs. The same
    mask in a tenth of SciPy's time on the small grids the body masks use (256 x 256: 1.2 -> 0.1 ms)."""
    return _cross(mask, iterations, np.logical_and, ndimage.binary_erosion)


def dilate_cross(mask: np.ndarray, iterations: int = 1) -> np.ndarray:
    """``ndimage.binary_dilation(mask, iterations=iterations)`` of a 2D mask (the 4-neighbour cross, nothing grown in
    from outside), by shifted ORs; :func:`erode_cross` then this is SciPy's ``binary_opening``."""
    return _cross(mask, iterations, np.logical_or, ndimage.binary_dilation)


def _cross(mask: np.ndarray, iterations: int, op, scipy_op) -> np.ndarray:  # noqa: ANN001 - ufunc, SciPy's function
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2 or iterations < 1:  # volumes, and SciPy's "until nothing changes"
        return scipy_op(m, iterations=iterations)
    for _ in range(iterations):
        src, m = m, m.copy()
        op(m[1:], src[:-1], out=m[1:])
        op(m[:-1], src[1:], out=m[:-1])
        op(m[:, 1:], src[:, :-1], out=m[:, 1:])
        op(m[:, :-1], src[:, 1:], out=m[:, :-1])
        if op is np.logical_and:  # the outside is False: the border's pixels lose a neighbour
            m[0] = m[-1] = False
            m[:, 0] = m[:, -1] = False
    return m


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``ndimage.binary_fill_holes(mask)`` of a 2D mask: the background regions (4-connected, as SciPy's default)
    that touch no border are filled. One labelling instead of SciPy's dilation repeated until nothing changes: the
    same mask, a third of the time on a body mask's 128 x 128 grid (0.76 -> 0.26 ms)."""
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        return ndimage.binary_fill_holes(m)
    lab, n = ndimage.label(~m)
    outside = np.zeros(n + 1, bool)
    for edge in (lab[0], lab[-1], lab[:, 0], lab[:, -1]):
        outside[edge] = True
    outside[0] = False  # the mask itself
    return ~outside[lab]


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` grown by ``radius`` pixels along every axis (a box); the same as ``maximum_filter`` with size
    2 * radius + 1, by shifted ORs, which is several times faster for the small radii used here.

    Per axis the box is grown in steps of 1, 2, 4... pixels (each step ORs two shifted copies; the last
    step takes the remainder): radius 7 takes three steps instead of seven. Growing by a then by b is
    growing by a + b, also at the array's border, so the result is the same box.
    """
    out = np.asarray(mask, dtype=bool)
    steps, reach = [], 0
    while reach < radius:
        steps.append(min(reach + 1, radius - reach))
        reach += steps[-1]
    for axis in range(out.ndim):
        n = out.shape[axis]
        for s in steps:
            if s > n - 1:
                s = n - 1
            if s < 1:
                break
            src, out = out, out.copy()
            hi = [slice(None)] * src.ndim
            lo = [slice(None)] * src.ndim
            hi[axis], lo[axis] = slice(s, None), slice(None, n - s)
            out[tuple(hi)] |= src[tuple(lo)]
            out[tuple(lo)] |= src[tuple(hi)]
    return out


def crop_to_blocks(shape: tuple[int, int], block: int) -> tuple[int, int]:
    """Number of whole blocks along each axis."""
    return shape[0] // block, shape[1] // block


def block_view(x: np.ndarray, block: int) -> np.ndarray:
    """(nby, nbx, block, block) view of the top-left whole-block part of a 2D array."""
    ny, nx = crop_to_blocks(x.shape, block)
    return x[: ny * block, : nx * block].reshape(ny, block, nx, block).swapaxes(1, 2)


def block_sum(x: np.ndarray, block: int) -> np.ndarray:
    """Sums over whole block x block tiles (contiguous inner reductions: faster than a 4D view's sum)."""
    ny, nx = crop_to_blocks(x.shape, block)
    return x[: ny * block, : nx * block].reshape(ny, block, nx, block).sum(axis=3).sum(axis=1)


def block_mean(x: np.ndarray, block: int, weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted block means and the weight sums (NaN mean where the weight is zero)."""
    x = np.asarray(x, dtype=np.float32)
    if weight is None:
        s = block_sum(x, block)
        return s / float(block * block), np.full(s.shape, float(block * block), dtype=np.float32)
    w, ws = _block_weights(weight, block)
    ny, nx = ws.shape
    return _weighted_block_mean(x[: ny * block, : nx * block], w, ws, block), ws


def _block_weights(valid: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """A mask's float32 weights over its whole blocks and their per-block sums.

    For a read-only mask (a :func:`valid_mask`), computed once inside :func:`shared_intermediates`: the
    noise-residual detector weighs four block means by one mask.
    """
    ny, nx = crop_to_blocks(valid.shape, block)
    if valid.flags.writeable:
        w = valid[: ny * block, : nx * block].astype(np.float32)
        return w, block_sum(w, block)
    w = reuse("weights", valid, 0, lambda: valid.astype(np.float32))[: ny * block, : nx * block]
    return w, reuse("weight sums", valid, block, lambda: block_sum(w, block))


def _weighted_block_mean(x: np.ndarray, w: np.ndarray, ws: np.ndarray, block: int) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        m = block_sum(x * w, block) / ws
    m[ws == 0] = np.nan
    return m


def block_sigma(residual: np.ndarray, valid: np.ndarray, block: int, *, min_fraction: float = 0.6) -> np.ndarray:
    """Robust per-block noise sigma of a residual: winsorised mean |r| (clipped at 3x a first estimate).

    Continuous even on 8-bit data (where a median of |r| only takes a few discrete values); the clipping
    keeps the few edge pixels of a block from dominating. NaN for blocks with fewer than ``min_fraction``
    valid pixels.
    """
    ny, nx = crop_to_blocks(residual.shape, block)
    a = np.abs(residual[: ny * block, : nx * block]).astype(np.float32, copy=False)
    w, ws = _block_weights(valid, block)  # the same weights and sums serve both passes
    m1 = _weighted_block_mean(a, w, ws, block)
    cap = np.nan_to_num(3.0 * m1, nan=0.0)[:, None, :, None]  # broadcast over each block, not painted
    clipped = np.minimum(a.reshape(ny, block, nx, block), cap).reshape(a.shape)
    m2 = _weighted_block_mean(clipped, w, ws, block)
    # E|r| of a Gaussian clipped at 3 E|r| (= 2.39 sigma) is 0.9863 E|r|; undo that small bias.
    sigma = _SQRT_HALF_PI * m2 / 0.9863
    sigma[ws < min_fraction * block * block] = np.nan
    return sigma


def quantisation_floor(x: np.ndarray) -> float:
    """Smallest noise sigma that can be measured: 0.5 for integer-valued data (one LSB), else ~0."""
    sample = np.asarray(x).ravel()[:: max(1, x.size // 50000)]
    if sample.size and np.all(sample == np.round(sample)):
        return 0.5
    return 1e-6


def upsample_blocks(values: np.ndarray, block: int, shape: tuple[int, ...], *, fill: float = 0.0) -> np.ndarray:
    """Paint per-block values back onto a full-size float32 map (NaN and the edge remainder filled with ``fill``)."""
    return repeat_blocks(np.nan_to_num(values.astype(np.float32), nan=fill), block, shape, fill)


def repeat_blocks(values: np.ndarray, block: int, shape: tuple[int, int], fill: object = 0) -> np.ndarray:
    """A new array of ``shape`` (``values``' type) with each value of the 2D grid ``values`` over its block x block
    pixels: cells reaching past ``shape`` cut, pixels past the last cell ``fill``. The columns are repeated, then
    each row of cells is written ``block`` times by broadcasting (a third of the time of repeating along both axes:
    1.3 against 4.2 ms for a 2k mask of 4 px tiles)."""
    out = np.full(shape, fill, dtype=values.dtype)
    rows = np.repeat(values, block, axis=1)[:, : shape[1]]
    w = rows.shape[1]
    whole = min(values.shape[0], shape[0] // block)  # rows of cells that fit whole
    out[: whole * block, :w].reshape(whole, block, w)[:] = rows[:whole, None, :]
    if whole < values.shape[0] and whole * block < shape[0]:  # a row of cells cut by the bottom edge
        out[whole * block :, :w] = rows[whole]
    return out


def median_last(a: np.ndarray) -> np.ndarray:
    """``np.median(a, axis=-1)``, bit for bit, for finite ``a``, several times faster on many short rows.

    np.median partitions around both middle ranks plus the last one (its NaN check); one partition around
    the upper middle rank and the maximum below it give the same values.
    """
    n = a.shape[-1]
    part = np.partition(np.ascontiguousarray(a), n // 2, axis=-1)  # strided rows partition ~6x slower
    upper = part[..., n // 2]
    if n % 2:
        return upper
    lower = part[..., : n // 2].max(axis=-1)
    return np.mean(np.stack([lower, upper], axis=-1), axis=-1)


def group_medians(groups: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """``np.median(values[groups == g])`` for g in 0..n-1 (NaN where none), bit for bit for finite values, by one
    sort instead of a selection and a median per group (1-D arrays; ``groups`` non-negative integers below n)."""
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)  # np.median averages integers as float64
    s = values[np.lexsort((values, groups))]
    counts = np.bincount(groups, minlength=n)[:n]
    start = np.cumsum(counts) - counts
    out = np.full(n, np.nan, dtype=values.dtype)
    some = counts > 0
    upper = s[(start + counts // 2)[some]]
    lower = s[(start + (counts - 1) // 2)[some]]
    # as np.median: the middle value, or the mean of the two middle ones ((a + b) / 2 in the values' type)
    out[some] = np.where(counts[some] % 2 == 1, upper, (lower + upper) / np.asarray(2, values.dtype))
    return out


def robust_scale(values: np.ndarray) -> float:
    """1.4826 x median absolute deviation of the finite values (a Gaussian-consistent sigma), >= 1e-6."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return 1.0
    return max(1.4826 * float(np.median(np.abs(v - np.median(v)))), 1e-6)


def robust_z(values: np.ndarray, *, floor: float = 0.0) -> np.ndarray:
    """(v - median) / max(robust sigma, floor) over the finite values; NaN stays NaN."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return np.full(values.shape, np.nan)
    return (values - float(np.median(v))) / max(robust_scale(values), floor)


def logistic(stat: float, center: float, width: float) -> float:
    """Score in [0, 1]: 0.5 at ``center``, rising over ``width``; the calibrated link of every pixel detector."""
    if not math.isfinite(stat):
        return 0.0
    return float(1.0 / (1.0 + math.exp(-(stat - center) / width)))


VOLUME_FORMATS = ("nifti", "metaimage")  # header-less volumes: research CT and MR, never radiographs


def image_class(modality: str | None, source: str, bits: int | None) -> str:
    """'ct', 'radiograph' (more than 8 bits) or 'picture' (8-bit or lossy raster): the calibration class."""
    if (modality or "").upper() == "CT" or source in VOLUME_FORMATS:
        return "ct"
    if source in ("jpeg", "png", "tiff") or (bits is not None and bits <= 8):
        return "picture"
    return "radiograph"



def frames(pixels: np.ndarray) -> Iterator[np.ndarray]:
    """The 2D planes of an image: itself when 2D, each frame when 3D."""
    if pixels.ndim == 2:
        yield pixels
    else:
        yield from pixels


def bin2d(x: np.ndarray, factor: int) -> np.ndarray:
    """Mean-bin the last two axes by an integer factor (float32; rows and columns past whole blocks dropped)."""
    if factor <= 1:
        return np.asarray(x, dtype=np.float32)
    *lead, h, w = x.shape
    ny, nx = h // factor, w // factor
    cut = x[..., : ny * factor, : nx * factor]
    if factor < 8:
        # NumPy adds fewer than 8 values in order, so these are the mean's sums in its order (along the rows, then
        # down the columns), by whole-array additions: 6 to 13 times faster (2 x 2 blocks of 512 x 512: 2.8 -> 0.2 ms)
        v = np.asarray(cut, dtype=np.float32).reshape(*lead, ny * factor, nx, factor)
        cols = v[..., 0] + v[..., 1]
        for j in range(2, factor):
            cols += v[..., j]
        r = cols.reshape(*lead, ny, factor, nx)
        total = r[..., 0, :] + r[..., 1, :]
        for i in range(2, factor):
            total += r[..., i, :]
        return total / np.float32(factor * factor)
    return cut.reshape(*lead, ny, factor, nx, factor).mean(axis=(-3, -1), dtype=np.float32)
