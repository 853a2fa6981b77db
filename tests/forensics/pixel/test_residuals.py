"""Known answers for the shared residual primitives (after scikit-image's estimate_sigma tests)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import ndimage

from radtrust.forensics.residuals import (
    bin2d,
    block_reduce,
    block_sigma,
    dilate,
    dilate_cross,
    erode_cross,
    fill_holes,
    gaussian,
    gaussians,
    group_medians,
    highpass,
    local_range,
    logistic,
    repeat_blocks,
    robust_z,
    valid_mask,
)


@pytest.mark.parametrize("sigma", [0.8, 5.0, 20.0])
def test_block_sigma_recovers_known_noise(sigma):
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:256, :256]
    ramp = 0.5 * yy + 0.25 * xx + 1000.0  # a linear ramp and an offset vanish in the residual
    x = (ramp + rng.normal(0, sigma, ramp.shape)).astype(np.float32)
    est = block_sigma(highpass(x), np.ones(x.shape, bool), 32)
    assert est.shape == (8, 8)
    assert np.median(est) == pytest.approx(sigma, rel=0.05)


def test_valid_mask_excludes_clipped_floor_but_not_single_extremes():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 10, (128, 128)).astype(np.float32)
    assert valid_mask(x).all()  # lone min/max samples are noise, not clipping
    x[:, :30] = x.min() - 5.0
    m = valid_mask(x, margin=1)
    assert not m[:, :31].any() and m[:, 32:].all()


def test_logistic_and_robust_z():
    assert logistic(5.0, 5.0, 1.0) == pytest.approx(0.5)
    assert logistic(float("nan"), 5.0, 1.0) == 0.0
    z = robust_z(np.array([0.0, 1.0, -1.0, 0.5, -0.5, 10.0]))
    assert z[-1] > 5


@pytest.mark.parametrize("shape", [(50, 60), (7, 3), (1, 9), (4, 4, 5)])
@pytest.mark.parametrize("radius", [1, 2, 3])
def test_dilate_matches_a_maximum_filter(shape, radius):
    mask = np.random.default_rng(radius).random(shape) < 0.05
    expected = ndimage.maximum_filter(mask.view(np.uint8), size=2 * radius + 1).astype(bool)
    assert np.array_equal(dilate(mask, radius), expected)


@pytest.mark.parametrize("shape", [(5, 5), (9, 40), (14, 3), (65, 200), (130, 17), (300, 257)])
@pytest.mark.parametrize(("sigma", "truncate"), [(1.0, 2.0), (3.0, 2.0), (2.5, 4.0), (0.3, 2.0)])
def test_gaussian_is_scipys_bit_for_bit(shape, sigma, truncate):
    rng = np.random.default_rng(sum(shape))
    for x in (np.rint(rng.random(shape) * 255), rng.normal(0, 100, shape), np.full(shape, 37.0),
              rng.random(shape) * 4000 - 1024):
        x = x.astype(np.float32)
        got, want = gaussian(x, sigma, truncate), ndimage.gaussian_filter(x, sigma, truncate=truncate)
        assert got.dtype == want.dtype == np.float32
        np.testing.assert_array_equal(got, want)  # equal values, not close: the band's hash signs depend on them


@pytest.mark.parametrize("shape", [(5, 5), (65, 200), (300, 257)])
@pytest.mark.parametrize("sigmas", [(1.0, 3.0), (3.0, 1.0, 2.0), (0.3, 1.0)])
def test_gaussians_sharing_rows_are_scipys_bit_for_bit(shape, sigmas):
    x = np.random.default_rng(len(sigmas)).normal(0, 100, shape).astype(np.float32)
    for got, sigma in zip(gaussians(x, sigmas, 2.0), sigmas, strict=True):
        np.testing.assert_array_equal(got, ndimage.gaussian_filter(x, sigma, truncate=2.0))


@pytest.mark.parametrize("shape", [(512, 512), (301, 517), (3, 130, 98)])
@pytest.mark.parametrize("factor", [2, 3, 4, 7, 8, 16])
def test_bin2d_is_the_block_mean_bit_for_bit(shape, factor):
    """The whole-array additions give NumPy's own block mean, value for value (the map smoothing and the
    2 x 2 means of noise-residual, noise-free and the CT noise estimate rely on it)."""
    rng = np.random.default_rng(factor)
    for scale in (1.0, 1e3, 1e-3):
        x = (rng.random(shape) * scale).astype(np.float32)
        *lead, h, w = shape
        ny, nx = h // factor, w // factor
        want = x[..., : ny * factor, : nx * factor].reshape(*lead, ny, factor, nx, factor).mean(
            axis=(-3, -1), dtype=np.float32)
        got = bin2d(x, factor)
        assert got.dtype == np.float32 and np.array_equal(got, want)
    ints = rng.integers(-1024, 3000, shape).astype(np.int16)  # stored CT values are binned as float32 too
    assert np.array_equal(bin2d(ints, factor), bin2d(ints.astype(np.float32), factor))


@pytest.mark.parametrize("shape", [(256, 256), (255, 131), (3, 9)])
@pytest.mark.parametrize("size", [2, 3, 4, 5])
def test_local_range_is_scipys_bit_for_bit(shape, size):
    a = np.random.default_rng(size).normal(0, 100, shape).astype(np.float32)
    want = ndimage.maximum_filter(a, size) - ndimage.minimum_filter(a, size)
    assert np.array_equal(local_range(a, size), want)


def _windows(a, block, op):
    """``op`` reduced over each block x block window starting at a position, truncated at the far edges."""
    out = np.empty_like(a)
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[i, j] = op.reduce(a[i : i + block, j : j + block], axis=None)
    return out


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (13, 17), (31, 24)])
@pytest.mark.parametrize("block", [1, 2, 3, 4, 5, 6, 7, 12, 14])
def test_block_reduce_over_windows(shape, block):
    """Maxima, minima, logical reductions and integer sums (windows doubled) and float sums (added in order) are the
    reduction over each window; an integer sum wraps around as the window's own sum does."""
    rng = np.random.default_rng(block)
    ints = rng.integers(0, 256, shape)
    cases = [(ints.astype(np.uint8), np.add), (ints.astype(np.uint16), np.add), (ints - 128, np.add),
             (ints.astype(np.uint8), np.maximum), (ints.astype(np.float32) - 9.5, np.minimum),
             (ints > 100, np.logical_or), (ints > 20, np.logical_and), (ints.astype(np.uint8), np.bitwise_or)]
    for a, op in cases:
        got = block_reduce(a, block, op)
        assert got.dtype == a.dtype and np.array_equal(got, _windows(a, block, op)), (a.dtype, op)
    floats = rng.normal(0, 1e4, shape).astype(np.float32)
    sequential = np.empty_like(floats)  # left to right, row sums first: the order the float path keeps
    for i in range(shape[0]):
        for j in range(shape[1]):
            rows = [functools.reduce(np.add, floats[y, j : j + block]) for y in range(i, min(i + block, shape[0]))]
            sequential[i, j] = functools.reduce(np.add, rows)
    assert np.array_equal(block_reduce(floats, block, np.add), sequential)


def test_highpass_rounds_as_the_written_filter():
    """The residual computed in place is ``(a - 2b + c)`` rows then columns, times 1/6, in float32, bit for bit."""
    x = np.random.default_rng(2).normal(0, 300, (61, 47)).astype(np.float32)
    p = np.pad(x, 1, mode="symmetric")
    a = p[:-2] - np.float32(2.0) * p[1:-1] + p[2:]
    want = (a[:, :-2] - np.float32(2.0) * a[:, 1:-1] + a[:, 2:]) * np.float32(1.0 / 6.0)
    assert np.array_equal(highpass(x), want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_group_medians_are_numpys_medians(dtype):
    rng = np.random.default_rng(3)
    groups = rng.integers(0, 9, 400)
    groups[groups == 4] = 5  # group 4 is empty: NaN
    values = rng.normal(0, 50, 400).astype(dtype)
    values[:40] = values[40:80]  # ties
    got = group_medians(groups, values, 10)
    for g in range(10):
        sel = values[groups == g]
        if sel.size:
            want = np.median(sel)
            assert got[g] == want and got.dtype == np.asarray(want).dtype
        else:
            assert np.isnan(got[g])


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (6, 1), (9, 13), (64, 48)])
@pytest.mark.parametrize("iterations", [1, 2, 4])
def test_cross_erosion_and_dilation_are_scipys(shape, iterations):
    """The body masks' morphology by shifted ANDs and ORs is SciPy's with its default cross and border, an opening
    (erosion then dilation) included."""
    rng = np.random.default_rng(iterations)
    for m in (ndimage.gaussian_filter(rng.random(shape), 1.5) > 0.5, rng.random(shape) < 0.7, np.ones(shape, bool)):
        assert np.array_equal(erode_cross(m, iterations), ndimage.binary_erosion(m, iterations=iterations))
        assert np.array_equal(dilate_cross(m, iterations), ndimage.binary_dilation(m, iterations=iterations))
        assert np.array_equal(dilate_cross(erode_cross(m)), ndimage.binary_opening(m, iterations=1))


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (9, 13), (64, 48)])
def test_fill_holes_is_scipys(shape):
    rng = np.random.default_rng(sum(shape))
    ring = np.zeros(shape, bool)
    ring[1:-1, 1:-1] = True
    ring[2:-2, 2:-2] = False  # a hole where there is room for one
    for m in (ndimage.gaussian_filter(rng.random(shape), 1.5) > 0.45, rng.random(shape) < 0.6, ring,
              np.ones(shape, bool), np.zeros(shape, bool)):
        assert np.array_equal(fill_holes(m), ndimage.binary_fill_holes(m))


@pytest.mark.parametrize("block", [1, 2, 4, 7])
def test_repeat_blocks_paints_cells_cut_and_filled(block):
    """Each cell over its block x block pixels, cells past the edge cut (a grid of ceil(n / block) cells, as the body
    masks use) and pixels past the last cell filled (a grid of floor(n / block)), in the values' type."""
    rng = np.random.default_rng(block)
    for cells, shape in (((5, 6), (5 * block - 1, 6 * block - 1)), ((3, 4), (3 * block + 2, 4 * block + 3)),
                         ((3, 4), (3 * block, 4 * block))):
        for values in (rng.random(cells) < 0.5, rng.normal(0, 1, cells).astype(np.float32)):
            big = np.kron(values, np.ones((block, block), values.dtype))[: shape[0], : shape[1]]
            want = np.full(shape, 9, values.dtype)
            want[: big.shape[0], : big.shape[1]] = big
            got = repeat_blocks(values, block, shape, 9)
            assert got.dtype == values.dtype and np.array_equal(got, want)
