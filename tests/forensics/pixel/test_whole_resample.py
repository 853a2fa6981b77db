"""Known answers for the whole-resample detector: a CT volume or slice zoomed to another in-plane grid and back (what
CT-GAN's code does to the whole scan) is found, at the period the zoom sets; untouched CT (synthetic, the samples,
every DICOM series in ../shared/data/ct), benign processing that does not re-grid, a local edit, NIfTI volumes,
reformats and a lossy codec's own grid periods are not."""

from __future__ import annotations

import dataclasses

import numpy as np
import pydicom
import pytest
from scipy import ndimage

from radtrust.errors import NotApplicable
from radtrust.forensics.detectors.whole_resample import WholeResampleDetector, line_strength
from radtrust.io import load_series
from radtrust.io.image import Geometry
from radtrust.simulation.antiforensics import rescale_scan

from .conftest import make_image, phantom


def _volume(rng: np.random.Generator, slices: int = 8) -> np.ndarray:
    return np.stack([phantom(rng) for _ in range(slices)])


def _regrid(v: np.ndarray, factor: float) -> np.ndarray:
    """Every slice zoomed in-plane by ``factor`` and back, stored as CT-GAN stores it (the simulator's rescale_scan:
    pixels of ``factor`` mm taken to 1 mm and back)."""
    spacing = (1.0, factor, factor) if v.ndim == 3 else (factor, factor)
    return rescale_scan(v, spacing, (), (-np.inf, np.inf))


def test_untouched_synthetic_ct_is_quiet(rng):
    f = WholeResampleDetector().run(make_image(_volume(rng)))
    assert f.score < 0.05, f.evidence
    assert f.heatmap is None
    assert "not resampled as a whole" in f.evidence[0]


@pytest.mark.parametrize("factor, period", [(0.7, 0.3), (0.49, 0.49), (0.8, 0.2)])
def test_a_volume_regridded_as_a_whole_is_found_at_its_period(rng, factor, period):
    v = _regrid(_volume(rng), factor)
    strength, freq = line_strength(list(v))
    assert abs(freq - period) < 0.01, (freq, strength)
    f = WholeResampleDetector().run(make_image(v))
    assert f.score > 0.95, f.evidence
    assert "resampled in-plane" in f.evidence[0]


def _pasted_back(rng: np.random.Generator, slices: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """A volume re-gridded as a whole with a 64 px box of its original pixels pasted back (CT-GAN's touch-up around
    its edit, without the edit), and the box's mask."""
    v = _volume(rng, slices)
    out = _regrid(v, 0.7)
    box = np.zeros(v.shape, bool)
    box[:, 200:264, 280:344] = True
    out[box] = v[box]
    return out, box


def test_the_map_marks_the_box_pasted_back_unresampled(rng):
    """The heatmap is where the modulation is missing: CT-GAN's touch-up box of the original scan stands out of a
    scan re-gridded as a whole; a scan re-gridded with nothing pasted back has no such region."""
    from radtrust.benchmarking.metrics import roc_auc

    v, box = _pasted_back(rng)
    f = WholeResampleDetector().run(make_image(v))
    assert f.score > 0.95 and f.heatmap is not None and f.heatmap.shape == v.shape
    assert roc_auc(box.ravel().astype(int), f.heatmap.ravel()) > 0.9
    assert f.heatmap[box].mean() > 0.6 > 0.2 > np.median(f.heatmap[~box])
    assert "where it is missing" in " ".join(f.evidence)
    whole = WholeResampleDetector().run(make_image(_regrid(_volume(rng), 0.7)))
    assert whole.heatmap is not None and np.percentile(whole.heatmap, 99) < f.heatmap[box].mean() - 0.3


def test_a_series_map_covers_every_slice_and_each_carries_the_score_in_full(rng, tmp_path):
    from radtrust.simulation.dicomize import ct_series_datasets
    from radtrust.simulation.writer import write_dicom

    v, box = _pasted_back(rng, slices=6)
    dest = write_dicom(ct_series_datasets(v.shape, (1.0, 0.7, 0.7), patient_id="P", key="k"), v, tmp_path / "s")
    (series,) = load_series(dest)
    f = WholeResampleDetector().run_series(series)
    assert f.heatmap.shape == v.shape and f.shares == (1.0,) * 6
    assert f.heatmap[box].mean() > 0.6 > 0.2 > np.median(f.heatmap[~box])


def test_a_single_slice_regridded_is_found(rng):
    f = WholeResampleDetector().run(make_image(_regrid(phantom(rng), 0.7)))
    assert f.score > 0.9, f.evidence
    assert f.heatmap is not None and f.heatmap.shape == (512, 512)


def test_the_evidence_names_ct_gans_one_millimetre_round_trip(rng):
    image = dataclasses.replace(make_image(_regrid(_volume(rng), 0.7)), geometry=Geometry(pixel_spacing=(0.7, 0.7)))
    assert "as CT-GAN's code does" in WholeResampleDetector().run(image).evidence[0]


def test_a_local_edit_is_not_a_whole_resample(rng):
    """A region resampled (CT-GAN's cube alone, or a splice) leaves its period in that region only."""
    v = _volume(rng)
    v[:, 180:300, 180:300] = _regrid(v[:, 180:300, 180:300], 0.7)
    assert WholeResampleDetector().run(make_image(v)).score < 0.2


def test_volumes_read_from_files_without_an_acquisition_record_are_not_judged(rng):
    image = make_image(_regrid(_volume(rng), 0.7), source="nifti")
    with pytest.raises(NotApplicable, match="nifti"):
        WholeResampleDetector().run(image)


def test_a_reformat_is_not_judged(rng):
    ds = pydicom.Dataset()
    ds.ImageType = ["DERIVED", "SECONDARY", "MPR"]
    image = dataclasses.replace(make_image(_regrid(_volume(rng), 0.7)), dataset=ds)
    with pytest.raises(NotApplicable, match="interpolated by design"):
        WholeResampleDetector().run(image)


def test_a_ct_filed_as_a_secondary_capture_is_still_judged(rng):
    """Filing an edited CT as a secondary capture must not turn the check off (tests/forensics/scan/test_header.py
    has the reader's side: such a file is read as CT from its values)."""
    image = dataclasses.replace(make_image(_regrid(_volume(rng), 0.7)), sop_class_uid="1.2.840.10008.5.1.4.1.1.7")
    assert WholeResampleDetector().run(image).score > 0.95


def test_a_lossy_codecs_grid_periods_are_skipped(rng):
    """A zoom of 0.75 puts its line at 0.25 cycles per pixel, a JPEG 2000 wavelet period: judged when the image was
    never lossy-coded, skipped when its header says it was."""
    v = _regrid(_volume(rng), 0.75)
    assert WholeResampleDetector().run(make_image(v)).score > 0.95
    ds = pydicom.Dataset()
    ds.LossyImageCompression = "01"
    f = WholeResampleDetector().run(dataclasses.replace(make_image(v), dataset=ds))
    assert f.score < 0.5, f.evidence
    assert "codec's own grid periods" in f.evidence[-1]


def test_authentic_ct_and_benign_processing_are_quiet(shared_data, sample_ct_files):
    """Every DICOM CT series here and the samples, as series and as single slices; and a series put through what
    consoles do without re-gridding (a softer kernel, a slab of 3, a sliding MIP, more noise)."""
    det = WholeResampleDetector()
    series = [s for s in load_series([shared_data / "ct"]) if s.is_volume() and (s.modality or "") == "CT"]
    series += load_series(sample_ct_files)
    assert len(series) >= 4
    for s in series:
        assert det.run_series(s).score < 0.05, (s.instances[0].path, det.run_series(s).evidence)
        for image in s.instances[::7]:
            assert det.run(image).score < 0.05, (image.path, det.run(image).evidence)
    [head] = load_series(shared_data / "ct" / "ge_head")
    x = np.stack([im.pixels for im in head.instances[:16]]).astype(np.float32)
    noisy = x + np.round(np.random.default_rng(30).normal(0, 3, x.shape))
    for v in (ndimage.gaussian_filter(x, (0, 0.7, 0.7)), ndimage.uniform_filter1d(x, 3, axis=0),
              ndimage.maximum_filter1d(x, 3, axis=0), noisy):
        assert det.run(make_image(np.round(v))).score < 0.05


def test_real_ct_taken_to_one_millimetre_and_back_is_found(shared_data):
    """The GE head (0.49 mm pixels) zoomed to 1 mm and back in-plane, as CT-GAN's scale_scan does."""
    [head] = load_series(shared_data / "ct" / "ge_head")
    x = np.stack([im.pixels for im in head.instances[:16]]).astype(np.float32)
    spacing = float(head.instances[0].geometry.pixel_spacing[1])
    image = dataclasses.replace(make_image(_regrid(x, spacing)), geometry=Geometry(pixel_spacing=(spacing, spacing)))
    f = WholeResampleDetector().run(image)
    assert f.score > 0.9, f.evidence
    assert "CT-GAN" in f.evidence[0]
