"""Known-answer tests for the window features and the Gaussian patch model."""

from __future__ import annotations

import numpy as np
import pytest

from radtrust.errors import NotApplicable
from radtrust.forensics.oneclass.features import (CELL, FEATURES_2D, FEATURES_Z, slice_features,
                                                  windows_to_pixels)
from radtrust.forensics.oneclass.padim import BinnedGaussian, top_mean

SIGMA_COL = FEATURES_2D.index("log_sigma_s1")


@pytest.mark.parametrize("sigma, offset", [(5.0, 0.0), (20.0, 1000.0), (0.8, 30000.0)])
def test_residual_sigma_recovers_added_noise(sigma: float, offset: float) -> None:
    """White noise of sigma through the 4-neighbour Laplacian predictor has sigma * sqrt(1.25)."""
    rng = np.random.default_rng(3)
    x = offset + rng.normal(0, sigma, (256, 256))
    f = slice_features(x)
    est = np.exp(np.median(f.values[..., SIGMA_COL])) / np.sqrt(1.25)
    assert est == pytest.approx(sigma, rel=0.05)
    assert np.median(f.intensity) == pytest.approx(offset, abs=3 * sigma)


def test_shapes_2d_3d_and_odd_sizes() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 75)).astype(np.float32)
    f = slice_features(x)
    assert f.values.shape == (100 // CELL - 1, 75 // CELL - 1, len(FEATURES_2D))
    f3 = slice_features(x, x + 1, x - 1)
    assert f3.values.shape[-1] == len(FEATURES_2D) + len(FEATURES_Z)
    heat = windows_to_pixels(f.values[..., 0], x.shape)
    assert heat.shape == x.shape and heat.dtype == np.float32 and np.isfinite(heat).all()


def test_too_small_image_is_not_applicable() -> None:
    with pytest.raises(NotApplicable):
        slice_features(np.zeros((20, 400)))


def test_flat_region_and_correlated_noise_change_the_features() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0, 10, (128, 128))
    y = x.copy()
    y[32:96, 32:96] = 0.0  # noise-free patch
    fx, fy = slice_features(x), slice_features(y)
    flat = FEATURES_2D.index("log_flat_fraction_s1")
    assert fy.values[2, 2, flat] > fx.values[2, 2, flat] + 3
    rho = FEATURES_2D.index("rho_h_s1")
    from scipy import ndimage
    smooth = ndimage.gaussian_filter(x, 1.5)
    assert slice_features(smooth).values[..., rho].mean() > fx.values[..., rho].mean() + 0.3


def test_gaussian_scores_outliers_higher_and_bins_by_intensity() -> None:
    rng = np.random.default_rng(2)
    n, d = 4000, 5
    inten = rng.uniform(0, 100, n)
    feats = rng.normal(size=(n, d)) + (inten[:, None] > 50) * 3.0  # the two intensity halves differ
    g = BinnedGaussian.fit(feats, inten, bins=4)
    inlier_hi = np.full((1, d), 3.0)
    assert g.distance(inlier_hi, np.array([80.0]))[0] < g.distance(inlier_hi, np.array([10.0]))[0]
    base = g.distance(rng.normal(size=(200, d)), rng.uniform(0, 40, 200))
    far = g.distance(rng.normal(size=(200, d)) + 6.0, rng.uniform(0, 40, 200))
    assert far.min() > np.percentile(base, 99)
    assert top_mean(np.arange(1000.0)) == pytest.approx(np.mean(np.arange(990.0, 1000.0)))
