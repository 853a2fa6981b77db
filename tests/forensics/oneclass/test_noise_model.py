"""The CT acquisition-to-noise model: known-answer fits and a header whose mAs no longer matches the noise."""

from __future__ import annotations

import numpy as np
import pytest

from radtrust.forensics.oneclass.features import slice_features
from radtrust.forensics.oneclass.noise_model import PRIOR_SLOPES, CTNoiseModel, covariates, measure
from radtrust.io.image import Acquisition


def _phantom(sigma: float, rng: np.random.Generator) -> np.ndarray:
    """A water/fat phantom slice in HU with white noise of ``sigma``."""
    x = np.full((256, 256), 40.0)
    x[:, 128:] = -100.0
    return x + rng.normal(0, sigma, x.shape)


def _sigma(mas: float, thickness: float, kernel: str) -> float:
    return (3.0 if kernel == "SHARP" else 1.0) * 300.0 / np.sqrt(mas * thickness)


def _rows(rng: np.random.Generator, mas_values, thick_values, kernels=("SOFT", "SHARP")):
    rows = []
    for kernel in kernels:
        for mas in mas_values:
            for th in thick_values:
                acq = Acquisition(kvp=120, exposure_mas=mas, kernel=kernel)
                rows.append((covariates(acq, th), measure(slice_features(_phantom(_sigma(mas, th, kernel), rng)))))
    return rows


def test_slopes_are_learned_when_the_site_varies_its_protocol() -> None:
    rng = np.random.default_rng(0)
    model = CTNoiseModel.fit(_rows(rng, [50, 100, 200, 400], [1.0, 2.5, 5.0]))
    assert model is not None
    meta = model.to_meta()
    assert meta["slopes"]["log_mAs"] == pytest.approx(-0.5, abs=0.05)
    assert meta["slopes"]["log_thickness"] == pytest.approx(-0.5, abs=0.05)
    # kernel offset: SHARP is 3x noisier
    assert model.coef[2 + model.kernels.index("SHARP")] - model.coef[2 + model.kernels.index("SOFT")] == \
        pytest.approx(np.log(3.0), abs=0.05)


def test_a_single_protocol_keeps_the_physical_slopes() -> None:
    rng = np.random.default_rng(1)
    model = CTNoiseModel.fit(_rows(rng, [200] * 3, [3.0], kernels=("SOFT",)))
    assert model is not None
    np.testing.assert_allclose(model.coef[-3:], PRIOR_SLOPES, atol=1e-3)


def test_noise_that_contradicts_the_header_mas_is_reported() -> None:
    rng = np.random.default_rng(2)
    model = CTNoiseModel.fit(_rows(rng, [50, 100, 200, 400], [1.0, 2.5, 5.0]))
    assert model is not None
    honest = slice_features(_phantom(_sigma(400, 2.5, "SOFT"), rng))
    z_ok, lines_ok = model.check(Acquisition(kvp=120, exposure_mas=400, kernel="SOFT"), 2.5, honest)
    assert abs(z_ok) < 3 and not lines_ok
    low_dose = slice_features(_phantom(_sigma(50, 2.5, "SOFT"), rng))  # header says 400 mAs, noise says 50
    z, lines = model.check(Acquisition(kvp=120, exposure_mas=400, kernel="SOFT"), 2.5, low_dose)
    assert z > 3 and any("mAs 400" in line for line in lines)


def test_missing_parameters_or_unknown_kernel_are_not_judged() -> None:
    rng = np.random.default_rng(3)
    model = CTNoiseModel.fit(_rows(rng, [100, 200], [2.0, 4.0]))
    assert model is not None
    f = slice_features(_phantom(10.0, rng))
    assert model.check(Acquisition(kvp=120, kernel="SOFT"), 2.0, f) == (0.0, [
        "noise model not applied: kVp, mAs (or mA and time), kernel or thickness missing"])
    z, lines = model.check(Acquisition(kvp=120, exposure_mas=100, kernel="B70f"), 2.0, f)
    assert z == 0.0 and "not in the training data" in lines[0]
    # mAs from mA x exposure time
    assert covariates(Acquisition(kvp=120, tube_current_ma=200, exposure_time_ms=500, kernel="K"), 1.0)[0] == \
        pytest.approx(np.log(100.0))
