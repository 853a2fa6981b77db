"""Sliding MIP and MinIP series: told from the pixels, and their slices judged with the series, not alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import ndimage

from radtrust.forensics.detectors.base import Finding
from radtrust.forensics.projection import sliding_projection
from radtrust.forensics.scanner import Scanner
from radtrust.io import Image, Series, load_image, load_series

SOURCES = ("siemens_abdomen", "ge_head", "philips_phantom", "chest_volume/cxr.nii.gz")


def _volume(shared_data, name: str) -> np.ndarray:
    path = shared_data / "ct" / name
    if path.is_dir():
        return load_series(path)[0].volume()[:16].astype(np.float32)
    return load_image(path).pixels[58:74].astype(np.float32)


@pytest.mark.parametrize("name", SOURCES)
def test_sliding_projections_are_told_from_acquired_and_smoothed_slices(shared_data, name):
    v = _volume(shared_data, name)
    assert sliding_projection(v) is None
    for project in (ndimage.maximum_filter1d, ndimage.minimum_filter1d):
        said = sliding_projection(project(v, 3, axis=0, mode="nearest"))
        assert said is not None and "sliding projection" in said
    assert sliding_projection(ndimage.maximum_filter1d(v, 8, axis=0, mode="nearest")) is not None
    # an average over slices repeats no value; a series smoothed in-plane repeats in-plane as much as along z
    assert sliding_projection(np.rint(ndimage.uniform_filter1d(v, 3, axis=0, mode="nearest"))) is None
    assert sliding_projection(np.rint(ndimage.median_filter(v, (1, 5, 5)))) is None
    assert sliding_projection(v[:2]) is None


def _with_pixels(series: Series, v: np.ndarray) -> Series:
    return dataclasses.replace(series, instances=tuple(dataclasses.replace(im, pixels=p)
                                                       for im, p in zip(series.instances, v, strict=True)))


def test_slices_of_a_mip_series_are_judged_with_the_series(shared_data):
    """A MIP of 3 slices of the GE head (slices 6-21, as scripts/ct_benign_check.py makes it) was `tampered` on all
    16 slices: judged alone, each slice's noise read as too low (noise-residual, 0.51-0.85, also in 3D over the
    skull, where the maximum of a slab is quieter than any slice). Now noise-residual says why it did not judge
    the series, the slices take the series' judgement for the noise readers, and no slice is flagged."""
    (head,) = load_series(shared_data / "ct" / "ge_head")
    part = dataclasses.replace(head, instances=head.instances[6:22], positions=head.positions[6:22])
    mip = _with_pixels(part, ndimage.maximum_filter1d(part.volume().astype(np.float32), 3, axis=0, mode="nearest"))
    results, sres = Scanner().scan_series(mip)
    assert sres.verdict == "authentic" and all(r.verdict == "authentic" for r in results), \
        [round(r.score, 3) for r in results]
    for r in results:
        assert any(e.startswith("noise-residual: not judged:") and "sliding projection" in e for e in r.evidence)
    assert any(e.startswith("noise-free (3D): slices form a sliding projection") for e in sres.evidence)


def test_the_noise_readers_judge_acquired_slices_alone_and_projected_ones_with_their_series(shared_data,
                                                                                             monkeypatch):
    """A projection settles the detectors that read one slice's noise; in an acquired series noise-free still judges
    each slice alone (single-slice edits need it), in its series pass (``Finding.slices``), and the detectors whose
    3D pass reads every plane are not run on the slices again either."""
    from radtrust.forensics.detectors.duplicated_noise import DuplicatedNoiseDetector
    from radtrust.forensics.detectors.noise_free import NoiseFreeRegionDetector
    from radtrust.forensics.detectors.noise_residual import NoiseResidualDetector
    from radtrust.forensics.detectors.region_comb import RegionCombDetector

    x = load_image(shared_data / "ct" / "chest_volume" / "cxr.nii.gz").pixels[58:66].astype(np.float32)
    alone: list[str] = []
    for cls in (NoiseFreeRegionDetector, NoiseResidualDetector, RegionCombDetector, DuplicatedNoiseDetector):
        monkeypatch.setattr(cls, "run", lambda self, image: alone.append(self.name) or Finding(0.0))
    scanner = Scanner(detectors=["noise-free", "noise-residual", "region-comb", "duplicated-noise"])

    def series(v: np.ndarray) -> Series:
        return Series(None, tuple(Image(path=None, pixels=s, source_format="dicom", modality="CT", bits_stored=12)
                                  for s in v), tuple(float(z) for z in range(len(v))))

    found = scanner.series_findings(series(x))
    assert alone == []
    assert all("noise-free" in inst for inst in found.instances)  # each slice's own judgement, from the series pass
    assert {"duplicated-noise", "noise-residual", "region-comb"} <= set(found.series_scores)
    alone.clear()
    found = scanner.series_findings(series(ndimage.minimum_filter1d(x, 3, axis=0, mode="nearest")))
    assert alone == []
    assert "noise-residual" not in found.series_scores
    assert "noise-free" in found.series_scores and "region-comb" in found.series_scores
    assert all(any("sliding projection" in n for n in notes) for notes in found.instance_notes)


def test_a_multi_frame_mip_is_judged_as_its_series_would_be(shared_data):
    """The same GE head MIP as one multi-frame CT image (an Enhanced CT, or a NIfTI volume): 0.98 `tampered` by
    noise-residual before. Its frames are now judged together by noise-free, and noise-residual says why it did not
    judge them; the untouched frames are judged as before."""
    (head,) = load_series(shared_data / "ct" / "ge_head")
    v = head.volume()[6:22].astype(np.float32)

    def image(x: np.ndarray) -> Image:
        return Image(path=None, pixels=x, source_format="dicom", modality="CT", bits_stored=12,
                     dataset=head.instances[0].dataset)

    plain = Scanner().scan_image(image(v))
    assert plain.verdict == "authentic" and "noise-residual" in plain.detectors
    mip = Scanner().scan_image(image(ndimage.maximum_filter1d(v, 3, axis=0, mode="nearest")))
    assert mip.verdict == "authentic", (mip.score, mip.detectors)
    assert "noise-residual" not in mip.detectors and "noise-free" in mip.detectors
    assert any(e.startswith("noise-residual: not judged:") and "sliding projection" in e for e in mip.evidence)
