"""Detector fingerprint (Chen-Fridrich 2008) on images carrying a SIMULATED fixed pattern.

No public series of radiographs from one detector is available here, so the fixed pattern is simulated:
``I = I0 * (1 + K) + shot noise`` with K ~ N(0, 0.01) per pixel. Splices come from a second detector.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from radtrust.forensics.oneclass.fingerprint import Fingerprint, FingerprintEstimator, serial_key

SIZE = 512


def _anatomy(rng: np.random.Generator) -> np.ndarray:
    f = ndimage.gaussian_filter(rng.normal(size=(SIZE, SIZE)), 20)
    f = (f - f.min()) / (f.max() - f.min())
    return 400.0 + 2600.0 * f


def _expose(i0: np.ndarray, k: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return i0 * (1.0 + k) + rng.normal(size=i0.shape) * np.sqrt(i0)


@pytest.fixture(scope="module")
def detector() -> tuple[Fingerprint, np.ndarray, np.random.Generator]:
    rng = np.random.default_rng(7)
    k = rng.normal(0, 0.01, (SIZE, SIZE))
    images = [_expose(_anatomy(rng), k, rng) for _ in range(10)]
    est = FingerprintEstimator((SIZE, SIZE))
    for im in images:
        est.add(im)
    return Fingerprint.fit(serial_key("SN-1"), est, images), k, rng


def test_estimate_matches_the_simulated_pattern(detector) -> None:
    fp, k, _ = detector
    assert np.corrcoef(fp.pattern.ravel(), k.ravel())[0, 1] > 0.5
    assert fp.images == 10


def test_splice_localisation_pixel_auc(detector) -> None:
    """Issue 7 target: pixel AUC >= 0.95 on simulated-fingerprint splices."""
    fp, k, rng = detector
    k_other = np.random.default_rng(99).normal(0, 0.01, (SIZE, SIZE))
    aucs = []
    for _ in range(4):
        host = _expose(_anatomy(rng), k, rng)
        donor = _expose(_anatomy(rng), k_other, rng)
        mask = np.zeros((SIZE, SIZE), bool)
        y, x = rng.integers(40, SIZE - 200, size=2)
        mask[y:y + 160, x:x + 160] = True
        spliced = np.where(mask, donor, host)
        z, frac = fp.localise(spliced)
        aucs.append(roc_auc_score(mask.ravel(), z.ravel()))
        assert frac > 0.03
        _, frac_authentic = fp.localise(host)
        assert frac_authentic < 0.01
    assert min(aucs) >= 0.95, aucs


def test_wrong_shape_is_rejected() -> None:
    est = FingerprintEstimator((64, 64))
    with pytest.raises(ValueError, match="shape"):
        est.add(np.zeros((64, 65)))


def test_serial_is_stored_hashed() -> None:
    assert serial_key(" SN-1 ") == serial_key("SN-1") and "SN" not in serial_key("SN-1")
