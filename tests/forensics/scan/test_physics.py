"""Physics detector: known answers on seeded cases (clipped HU floor, re-quantisation comb, calibration, FOV)
and no false alarm on the authentic slices."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from radtrust.forensics.ct_noise import NoiseModel, kernel_class, uniform_noise_sigma
from radtrust.forensics.detectors.physics import PhysicsCheck, pileups
from radtrust.io import iter_images, load_image


@pytest.fixture(scope="module")
def ct(sample_ct_files):
    return load_image(sample_ct_files[2])


def _with(image, pixels):
    return dataclasses.replace(image, pixels=pixels.astype(np.float32))


def test_clipped_hu_floor_is_reported_where_it_is(ct):
    rng = np.random.default_rng(0)
    p = ct.pixels.copy()
    yy, xx = np.mgrid[: p.shape[0], : p.shape[1]]
    disk = (yy - 256) ** 2 + (xx - 300) ** 2 < 30 ** 2
    p[disk] = np.maximum(np.rint(rng.normal(-980, 25, disk.sum())), -1000)  # CT-GAN: values < -1000 -> -1000
    f = PhysicsCheck().run(_with(ct, p))
    assert f.score > 0.8
    assert any("-1000 HU" in e and "floor" in e for e in f.evidence)
    assert f.heatmap[disk].mean() > 0.9 and f.heatmap[~disk].mean() < 0.02


def test_smooth_narrow_peak_is_not_a_floor():
    rng = np.random.default_rng(1)
    values = np.rint(rng.normal(-994, 1.0, 20000))  # air in a low-noise phantom: narrow but smooth
    assert pileups(values, set()) == []


@pytest.mark.parametrize("factor", [1.3, 0.7])
def test_requantisation_comb(ct, factor):
    f = PhysicsCheck().run(_with(ct, np.rint(ct.pixels * factor)))
    assert f.score > 0.5
    assert any("comb" in e or "gaps" in e for e in f.evidence)


def test_calibration_shift_is_reported(ct):
    f = PhysicsCheck().run(_with(ct, ct.pixels + 200))
    assert any("air outside the body" in e for e in f.evidence)


def test_spacing_vs_field_of_view(ct):
    ds = copy.deepcopy(ct.dataset)
    ds.ReconstructionDiameter = 350
    f = PhysicsCheck().run(dataclasses.replace(ct, dataset=ds))
    assert any("field of view" in e for e in f.evidence)


def test_noise_sigma_known_answer():
    rng = np.random.default_rng(2)
    img = np.full((256, 256), 40.0) + rng.normal(0, 12.0, (256, 256))
    sigma, n = uniform_noise_sigma(img)
    assert n > 10000 and sigma == pytest.approx(12.0, rel=0.08)


def test_noise_model_flags_an_edited_mas(ct):
    model = NoiseModel.shipped()
    assert model is not None and "standard" in model.intercepts
    acq = dataclasses.replace(ct.acquisition, exposure_mas=ct.acquisition.exposure_mas * 5000)
    f = PhysicsCheck().run(dataclasses.replace(ct, acquisition=acq))
    assert any("noise in uniform tissue" in e for e in f.evidence)


@pytest.mark.parametrize("kernel, cls", [("Br38f\\3", "standard"), ("B70f", "sharp"), ("BONE", "sharp"),
                                         ("STD+", "standard"), ("SOFT", "smooth"), ("UB", "standard")])
def test_kernel_classes(kernel, cls):
    assert kernel_class(kernel) == cls


def test_no_false_alarm_on_authentic_dicom(shared_data, samples_dir):
    det = PhysicsCheck()
    scores = []
    for loaded in iter_images([shared_data / "ct", shared_data / "cr", samples_dir]):
        if loaded.image is None or not det.applies_to(loaded.image):
            continue
        try:
            scores.append(det.run(loaded.image).score)
        except Exception as exc:  # NotApplicable on slices without a body
            assert type(exc).__name__ == "NotApplicable"
    assert len(scores) > 70
    assert max(scores) < 0.5
