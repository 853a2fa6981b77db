"""Known answers for the noise-free-region detector: a hole without noise inside the body is found in place,
authentic CT (samples and every series in ../shared/data/ct) has none; in 8-bit pictures a fill inside noisy
surroundings is found, and labels, smooth areas, sharpened and tone-curved authentic pictures are not read as fills."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from radtrust.errors import NotApplicable
from radtrust.forensics.detectors.base import Finding
from radtrust.forensics.detectors.noise_free import NoiseFreeRegionDetector
from radtrust.io import Series, group_series, iter_images, load_image, load_series

from .conftest import make_image, phantom

HOLE = (slice(250, 266), slice(300, 316))  # 16 x 16 pixels: a small removed nodule (11 mm at 0.7 mm)


def _volume(rng: np.random.Generator, slices: int = 6) -> np.ndarray:
    return np.stack([phantom(rng) for _ in range(slices)])


def _fill_smooth(x: np.ndarray, sl: tuple[slice, ...]) -> None:
    """What a naive in-painting leaves: the region's own smooth trend, rounded to integer HU, no noise."""
    x[sl] = np.round(ndimage.gaussian_filter(x, 4.0)[sl])


def test_noise_free_hole_is_found_in_place(rng):
    x = phantom(rng)
    _fill_smooth(x, HOLE)
    finding = NoiseFreeRegionDetector().run(make_image(x))
    assert finding.score > 0.9, finding.evidence
    assert finding.heatmap.shape == x.shape
    ys, xs = np.nonzero(finding.heatmap > 0.5)
    assert HOLE[0].start - 3 <= ys.min() and ys.max() < HOLE[0].stop + 3
    assert HOLE[1].start - 3 <= xs.min() and xs.max() < HOLE[1].stop + 3
    assert "almost no noise" in finding.evidence[0] and "rows 2" in finding.evidence[0]


def test_the_same_hole_with_noise_added_back_is_not_this_detectors_case(rng):
    x = phantom(rng)
    clean = phantom(np.random.default_rng(7))
    x[HOLE] = np.round(ndimage.gaussian_filter(x, 4.0)[HOLE] + (clean - ndimage.gaussian_filter(clean, 4.0))[HOLE])
    assert NoiseFreeRegionDetector().run(make_image(x)).score < 0.1


def test_fill_renoised_too_weakly_is_found_by_the_quiet_tier(sample_ct_files):
    """A biharmonic fill of a 20 mm disc on three real slices, white noise re-added at a fifth of the scan's level:
    nothing in it is noise-free (0.15 of the reference), but a region of a few hundred voxels stays under 0.25,
    which no authentic CT here shows (44 voxels at most)."""
    import dataclasses

    from skimage.restoration import inpaint_biharmonic

    [series] = load_series(sample_ct_files)
    det = NoiseFreeRegionDetector()
    assert det.run_series(series).score < 0.05
    rng = np.random.default_rng(1)
    yy, xx = np.ogrid[:512, :512]
    images = list(series.instances)
    ref = 10.6  # the series' reference noise (median 5x5 RMS of the 3x3-mean residual in soft tissue), HU
    for z, radius in ((2, 7), (3, 10), (4, 7)):
        disc = (yy - 318) ** 2 + (xx - 351) ** 2 < radius**2  # soft tissue at 40-70 HU in the sample series
        x = images[z].pixels.astype(np.float64)
        fill = inpaint_biharmonic(x, disc) + rng.normal(0.0, 0.2 * ref, x.shape)
        images[z] = dataclasses.replace(images[z], pixels=np.where(disc, np.round(fill), x).astype(np.float32))
    finding = det.run_series(dataclasses.replace(series, instances=tuple(images)))
    assert finding.score > 0.5, finding.evidence
    assert "under 0.25 of the scan's noise (slices 2-4, rows 3" in finding.evidence[0]
    ys, xs = np.nonzero(finding.heatmap[3] > 0.5)
    assert 318 - 14 <= ys.min() and ys.max() <= 318 + 14 and 351 - 14 <= xs.min() and xs.max() <= 351 + 14


def test_series_region_spans_slices_and_scores_higher_than_one_slice(rng):
    vol = _volume(rng)
    for z in (2, 3):
        _fill_smooth(vol[z], (slice(250, 261), slice(300, 311)))  # 11 x 11: on one slice, the fine tier's alone
    images = [make_image(s) for s in vol]
    series = Series(None, tuple(images), tuple(float(z) for z in range(len(images))))
    det = NoiseFreeRegionDetector()
    one = max(det.run(im).score for im in images)
    both = det.run_series(series)
    assert both.score > 0.9 and both.score > one + 0.2  # one slice: 0.61 (fine tier), both as a series: 0.92
    assert both.heatmap.shape == vol.shape and both.heatmap[2:4].max() > 0.5 and both.heatmap[[0, 1, 4, 5]].max() <= 0.2
    assert "slices 2-3" in both.evidence[0]


def test_air_is_not_judged_but_a_constant_fill_is(rng):
    x = phantom(rng)
    x[300:330, 100:130] = -1000.0  # air pocket without noise (outside the judged HU range)
    assert NoiseFreeRegionDetector().run(make_image(x)).score < 0.1
    x[100:120, 200:220] = 40.0  # the crudest removal: one constant value
    assert NoiseFreeRegionDetector().run(make_image(x)).score > 0.9


def test_lossy_compressed_ct_is_not_judged(sample_ct_files, tmp_path):
    """JPEG 2000 at 10:1 smooths authentic CT into noise-free patches: such images are not applicable."""
    from radtrust.benchmarking.robustness import transform_file

    out = tmp_path / "lossy.dcm"
    transform_file(sample_ct_files[0], out, "j2k-lossy")
    with pytest.raises(NotApplicable, match="lossy"):
        NoiseFreeRegionDetector().run(load_image(out))
    (series,) = load_series([out, *sample_ct_files[1:]])
    with pytest.raises(NotApplicable, match="lossy"):
        NoiseFreeRegionDetector().run_series(series)


def test_picture_stored_as_lossy_jpeg2000_is_not_judged(shared_data, tmp_path):
    """An authentic picture stored as JPEG 2000 at 8:1 (a PACS compressing on ingest) holds a 758 px region the
    codec smoothed inside the noise it kept (0.86 before); a picture stored as JPEG, like a JPEG file, is still
    judged: the picture rules were set on JPEG pictures."""
    import pydicom
    from pydicom.uid import JPEG2000

    from radtrust.benchmarking.robustness import transform_file
    from radtrust.simulation import writer
    from radtrust.simulation.target import from_raster

    target = from_raster(shared_data / "cxr" / "16745_6_1.png")
    writer.write_dicom(target.datasets, target.pixels, tmp_path / "raw.dcm", syntax="explicit")
    assert NoiseFreeRegionDetector().run(load_image(tmp_path / "raw.dcm")).score < 0.2
    ds = pydicom.dcmread(tmp_path / "raw.dcm")
    ds.compress(JPEG2000, j2k_cr=[8], generate_instance_uid=False)
    ds.save_as(tmp_path / "j2k.dcm", enforce_file_format=True)
    with pytest.raises(NotApplicable, match="irreversible 9-7 wavelet"):
        NoiseFreeRegionDetector().run(load_image(tmp_path / "j2k.dcm"))
    transform_file(tmp_path / "raw.dcm", tmp_path / "jpeg.dcm", "jpeg-resave")
    assert NoiseFreeRegionDetector().run(load_image(tmp_path / "jpeg.dcm")).score < 0.2  # judged, not refused


def test_outside_ct_only_8bit_pictures_are_judged(rng):
    det = NoiseFreeRegionDetector()
    with pytest.raises(NotApplicable, match="8-bit pictures only"):
        det.run(make_image(phantom(rng), modality="CR"))  # CT numbers stored as a radiograph: not 8-bit
    assert not det.applies_to(make_image(_picture(rng), modality="US"))
    with pytest.raises(NotApplicable):
        det.run(make_image(np.full((64, 64), -1000.0)))  # no body, no tissue


def _picture(rng: np.random.Generator, shape: tuple[int, int] = (768, 768), sigma: float = 2.5) -> np.ndarray:
    """An 8-bit radiograph-like picture: smooth anatomy at grey levels 60-200, noise growing with the grey level
    (sigma at mid-grey), rounded to integers."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    base = 130 + 50 * np.sin(yy / 90.0) * np.cos(xx / 130.0) + ndimage.gaussian_filter(rng.normal(0, 40, shape), 25)
    base = np.clip(base, 60, 200)
    noise = ndimage.gaussian_filter(rng.normal(0, 1, shape), 0.6)
    noise *= sigma / noise.std() * np.sqrt(base / 130.0)
    return np.clip(np.round(base + noise), 0, 255).astype(np.float32)


def _picture_image(x: np.ndarray):
    return make_image(x, modality="DX", bits=8)


def _biharmonic_disc(x: np.ndarray, cy: int, cx: int, radius: int) -> np.ndarray:
    from skimage.restoration import inpaint_biharmonic

    yy, xx = np.ogrid[: x.shape[0], : x.shape[1]]
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2
    win = (slice(cy - 3 * radius, cy + 3 * radius), slice(cx - 3 * radius, cx + 3 * radius))
    out = x.copy()
    out[win] = np.where(disc[win], np.round(inpaint_biharmonic(x[win].astype(np.float64), disc[win])), x[win])
    return out


def test_picture_inpainted_disc_is_found_in_place(rng):
    """A biharmonic fill (scikit-image's, as the held-out benchmark's in-painting) of a 15 px disc in a noisy
    8-bit picture: quiet inside, the picture's ordinary noise around it."""
    x = _picture(rng)
    det = NoiseFreeRegionDetector()
    clean = det.run(_picture_image(x))
    assert clean.score < 0.05, clean.evidence
    edited = det.run(_picture_image(_biharmonic_disc(x, 400, 300, 15)))
    assert edited.score > 0.5, edited.evidence
    assert "has under 0.25 of the noise this picture carries" in edited.evidence[0]
    ys, xs = np.nonzero(edited.heatmap > 0.5)
    assert 400 - 18 <= ys.min() and ys.max() <= 400 + 18 and 300 - 18 <= xs.min() and xs.max() <= 300 + 18


def test_a_fill_quiet_only_once_averaged_over_2x2_pixels_is_found_in_place(rng):
    """A fill that propagates its edge inward and rounds each step (OpenCV's Telea in-painting) carries rings of +-1
    grey level, a third of the picture's noise: not quiet at full resolution, quiet in 2 x 2 means, which cancel
    them."""
    x = _picture(rng, sigma=3.0)
    cy, cx, radius = 380, 420, 40
    yy, xx = np.mgrid[: x.shape[0], : x.shape[1]]
    rr = np.hypot(yy - cy, xx - cx)
    disc = rr < radius
    smooth = ndimage.gaussian_filter(x, 12)  # the anatomy under the fill, without noise
    rings = np.where(np.floor(rr) % 2 == 0, 1.0, -1.0) * (np.floor(np.arctan2(yy - cy, xx - cx) * 12) % 2 * 2 - 1)
    filled = np.where(disc, np.round(smooth + 0.5 * rings), x).astype(np.float32)
    from radtrust.forensics.detectors import noise_free_picture as nfp

    assert nfp._at_scale(filled, nfp.FULL).score < 0.5  # not quiet at full resolution
    found = NoiseFreeRegionDetector().run(_picture_image(filled))
    assert found.score > 0.5 and "once averaged over 2 x 2 pixels" in found.evidence[0], found.evidence
    ys, xs = np.nonzero(found.heatmap > 0.5)
    assert cy - radius - 12 <= ys.min() and ys.max() <= cy + radius + 12
    assert cx - radius - 12 <= xs.min() and xs.max() <= cx + radius + 12
    assert found.heatmap.shape == x.shape
    assert NoiseFreeRegionDetector().run(_picture_image(x)).score < 0.05


def test_picture_label_box_is_not_a_fill(rng):
    """A burned-in label (a box shaded by a codec, with a letter) is quiet inside, but its edge makes the 3-6 px
    around it far noisier than the picture's noise (4fed5061.jpg's "L" box, 11,590 px, in ../shared/data)."""
    x = _picture(rng)
    x[100:250, 500:600] = np.linspace(126.0, 140.0, 150)[:, None].round()
    x[130:220, 530:545] = x[205:220, 530:580] = 220.0
    finding = NoiseFreeRegionDetector().run(_picture_image(x))
    assert finding.score < 0.1, finding.evidence


def _fading(x: np.ndarray, cy: int, cx: int, radius: float) -> np.ndarray:
    """``x`` whose noise fades out towards (cy, cx) over ``radius`` px: smooth there (JPEG-smoothed dark air)."""
    yy, xx = np.mgrid[: x.shape[0], : x.shape[1]]
    fade = np.clip(np.hypot(yy - cy, xx - cx) / radius - 0.3, 0.0, 1.0)
    smooth = ndimage.gaussian_filter(x, 5.0)
    return np.round(smooth + fade * (x - smooth)).astype(np.float32)


@pytest.mark.parametrize("sharpened", [False, True])
def test_picture_area_whose_noise_fades_out_is_not_a_fill(rng, sharpened):
    """An authentic smooth area: its noise fades in over tens of pixels, where a fill's surroundings carry the
    picture's noise up to its edge. Sharpened with a threshold (PIL's unsharp mask, as a teaching file might be:
    scripts/benign_processing_check.py), the noise around it rises and the area stays quiet; still no fill."""
    x = _fading(_picture(rng, sigma=1.2), 400, 400, 60.0)
    if sharpened:
        from PIL import Image as PILImage
        from PIL import ImageFilter

        sharp = PILImage.fromarray(x.astype(np.uint8)).filter(ImageFilter.UnsharpMask(radius=2, percent=80, threshold=2))
        x = np.asarray(sharp, dtype=np.float32)
    finding = NoiseFreeRegionDetector().run(_picture_image(x))
    assert finding.score < 0.1, finding.evidence


def test_picture_without_noise_is_not_judged(rng):
    x = np.round(ndimage.gaussian_filter(_picture(rng), 3.0)).astype(np.float32)  # smoothed: no noise left
    with pytest.raises(NotApplicable, match="under 0.8 grey levels"):
        NoiseFreeRegionDetector().run(_picture_image(x))


def test_authentic_pictures_with_the_largest_quiet_regions_are_not_flagged(shared_data):
    """The authentic pictures of ../shared/data/cxr whose quiet regions are largest (burned-in labels, dark air,
    JPEG-smoothed tissue; scripts/picture_fill_check.py measures all 160): none reads as a fill."""
    det = NoiseFreeRegionDetector()
    for name in ("4fed5061.jpg", "covid-19-pneumonia-mild.JPG", "887db78f.jpg", "3248cc61.jpg", "bd3ceeb6.jpg",
                 "covid-19-pneumonia-43-day2.jpeg", "527321ee.jpg", "pneumococcal-pneumonia-day35.jpg"):
        path = shared_data / "cxr" / name
        if path.exists():
            finding = det.run(load_image(path))
            assert finding.score < 0.2, (name, finding.evidence)


def test_authentic_samples_score_low(sample_ct_files):
    det = NoiseFreeRegionDetector()
    (series,) = load_series(sample_ct_files)
    assert det.run_series(series).score < 0.05
    for path in sample_ct_files:
        assert det.run(load_image(path)).score < 0.05


def test_no_false_alarm_on_authentic_ct(shared_data):
    det = NoiseFreeRegionDetector()
    judged = 0
    for folder in sorted((shared_data / "ct").iterdir()):
        images = [ld.image for ld in iter_images([folder]) if ld.image is not None and ld.image.modality == "CT"]
        for series in group_series(images):
            for run, item in [(det.run_series, series), *((det.run, im) for im in series.instances)]:
                try:
                    finding = run(item)
                except NotApplicable:  # the Philips phantom's slices with little soft tissue
                    continue
                judged += 1
                assert finding.score < 0.05, (folder, finding.evidence)
    assert judged >= 50


def test_stretches_of_authentic_ct_are_not_flagged(shared_data):
    """Benchmarks judge 16-slice stretches. The top 16 slices of the Philips phantom hold 950 soft-tissue voxels
    per slice, mostly the edges between its inserts: their reference noise was twice the whole phantom's and its
    smooth plastic scored 0.8 (a 404-voxel quiet region). Such a stretch has no reference now; every other
    stretch of the CT series here is judged, and quiet."""
    det = NoiseFreeRegionDetector()
    judged = skipped = 0
    for folder in ("siemens_abdomen", "ge_head", "philips_phantom"):
        (series,) = load_series(shared_data / "ct" / folder)
        for z0 in range(0, len(series) - 15, 4):
            part = Series(series.series_instance_uid, series.instances[z0:z0 + 16], series.positions[z0:z0 + 16])
            try:
                finding = det.run_series(part)
            except NotApplicable:
                skipped += 1
                assert folder == "philips_phantom" and z0 >= 12, z0
                continue
            judged += 1
            assert finding.score < 0.05, (folder, z0, finding.evidence)
    assert judged >= 8 and skipped >= 1


def test_extended_field_of_view_periphery_is_not_judged(rng):
    """Beyond the data-collection field (ReconstructionDiameter > DataCollectionDiameter) the body is extrapolated and
    smooth: not a tamper. A hole inside the measured field is still found."""
    import dataclasses

    from pydicom.dataset import Dataset

    from radtrust.io import Geometry

    x = phantom(rng)
    yy, xx = np.mgrid[:512, :512]
    outside = (yy - 255.5) ** 2 + (xx - 255.5) ** 2 > 160.0**2  # 160 px = 160 mm at 1 mm
    x = np.where(outside & (x > -500), np.round(ndimage.gaussian_filter(x, 4.0)), x).astype(np.float32)
    ds = Dataset()
    ds.DataCollectionDiameter, ds.ReconstructionDiameter = "320", "512"
    image = dataclasses.replace(make_image(x), dataset=ds, geometry=Geometry(pixel_spacing=(1.0, 1.0)))
    det = NoiseFreeRegionDetector()
    from radtrust.errors import EvidenceLost

    with pytest.raises(EvidenceLost):  # without the header, a smooth periphery (42% of the body) is not judged
        det.run(make_image(x))
    assert det.run(image).score < 0.05
    _fill_smooth(x, HOLE)
    assert det.run(dataclasses.replace(image, pixels=x)).score > 0.9


def test_a_data_collection_field_too_small_to_be_real_is_not_believed(rng):
    """DataCollectionDiameter written as 50 mm under a 512 mm reconstruction would leave all but a 24 mm disc
    unjudged: no scanner measures so little, so the whole image is judged and the hole 50 mm off centre found."""
    import dataclasses

    from pydicom.dataset import Dataset

    from radtrust.io import Geometry

    x = phantom(rng)
    _fill_smooth(x, HOLE)
    ds = Dataset()
    ds.DataCollectionDiameter, ds.ReconstructionDiameter = "50", "512"
    image = dataclasses.replace(make_image(x), dataset=ds, geometry=Geometry(pixel_spacing=(1.0, 1.0)))
    assert NoiseFreeRegionDetector().run(image).score > 0.9


def test_scan_denoised_throughout_is_not_judged(sample_ct_files):
    """Total-variation denoising (weight 5) of an authentic Siemens series made noise-free flag it (score 1.0): an
    edge-preserving denoiser flattens noise throughout. Such a scan is declined and says why; weight 2 is judged."""
    from dataclasses import replace

    from skimage.restoration import denoise_tv_chambolle

    from radtrust.errors import EvidenceLost

    [series] = load_series(sample_ct_files)
    det = NoiseFreeRegionDetector()

    def denoised(weight):
        ims = [replace(im, pixels=np.round(denoise_tv_chambolle(im.pixels.astype(np.float64), weight=weight))
                       .astype(np.float32)) for im in series.instances]
        return replace(series, instances=ims)

    with pytest.raises(EvidenceLost, match="denoised or iteratively reconstructed throughout"):
        det.run_series(denoised(5.0))
    with pytest.raises(EvidenceLost):
        det.run(denoised(5.0).instances[0])
    assert det.run_series(denoised(2.0)).score < 0.1


def test_quiet_spots_throughout_a_denoised_series_are_not_an_edit(shared_data):
    """Total-variation denoising (weight 20) blended 70% with the original, as adaptive and iterative
    reconstructions are offered: uniform tissue gets quieter than texture, so the quiet tier finds quiet spots in
    every organ (a 788-voxel one scored 0.97 before). Many dense regions are an adaptive denoiser's, not an edit's:
    that tier is not judged and the evidence says why; a hole of noise-free content in the same series still is."""
    from skimage.restoration import denoise_tv_chambolle

    x = load_image(shared_data / "ct" / "chest_volume" / "cxr.nii.gz").pixels[58:74].astype(np.float32)
    v = np.round(0.7 * np.stack([denoise_tv_chambolle(s, weight=20.0) for s in x]) + 0.3 * x)
    det = NoiseFreeRegionDetector()
    finding = det.run(make_image(v))
    assert finding.score < 0.05, finding.evidence
    assert "separate regions under 0.25 of the scan's noise" in finding.evidence[0]
    assert "adaptive denoising" in finding.evidence[0]
    yy, xx = np.ogrid[:512, :512]
    hole = v.copy()
    hole[7][(yy - 300) ** 2 + (xx - 330) ** 2 < 12**2] = 40.0  # a constant fill in the liver's slices
    assert det.run(make_image(hole)).score > 0.9


def test_slices_of_a_series_take_its_judgement(shared_data, monkeypatch):
    """A slice of that denoised series judged alone holds a few quiet regions, one of them large (0.78), and
    cannot tell them from an edit; its series can. There each slice takes its share of the series finding, and
    when the series is denoised throughout, each slice says it was not judged and why. The slices of a series
    whose quiet regions are not spread are still judged alone too (a copy rotated on one slice leaves its
    finest-scale dips dense in that slice only), in the series pass, from the maps it computed."""
    from skimage.restoration import denoise_tv_chambolle

    from radtrust.forensics.scanner import Scanner

    x = load_image(shared_data / "ct" / "chest_volume" / "cxr.nii.gz").pixels[58:74].astype(np.float32)
    tv = np.stack([denoise_tv_chambolle(s, weight=20.0) for s in x])
    blended = np.round(0.7 * tv + 0.3 * x)
    det = NoiseFreeRegionDetector()
    assert det.run(make_image(blended[12])).score > 0.5
    scanner = Scanner(detectors=["noise-free"])

    def series(v):
        return Series(None, tuple(make_image(s) for s in v), tuple(float(z) for z in range(len(v))))

    found = scanner.series_findings(series(blended))
    assert max(d["noise-free"].score for d in found.instances) < 0.05
    found = scanner.series_findings(series(np.round(tv)))
    assert not found.series_scores and all("noise-free" not in d for d in found.instances)
    assert all(any(n.startswith("noise-free: not judged:") and "throughout" in n for n in notes)
               for notes in found.instance_notes)
    assert det.run_series(series(blended)).slices == "share"
    judged = det.run_series(series(x)).slices
    assert len(judged) == len(x) and all(isinstance(f, Finding) for f in judged)
    alone = []
    monkeypatch.setattr(NoiseFreeRegionDetector, "run", lambda self, image: alone.append(image) or Finding(0.0))
    scanner.series_findings(series(blended))
    scanner.series_findings(series(x))
    assert not alone  # neither series' slices are read again


def _resampled(x: np.ndarray) -> np.ndarray:
    """``x`` zoomed to 70% and back, linearly: CT-GAN's round trip to 1 mm voxels for the cube it edits (it uses a
    cubic spline, which keeps about half of the finest band where linear keeps a quarter), without the edit. The
    coarse noise stays, the finest scale goes."""
    small = ndimage.zoom(x, 0.7, order=1)
    return ndimage.zoom(small, np.array(x.shape) / np.array(small.shape), order=1)[: x.shape[0], : x.shape[1]]


def test_a_resampled_cube_is_found_by_the_finest_scale_and_a_resampled_scan_is_not(sample_ct_files):
    """A 40-pixel square on three real slices resampled and pasted back keeps some of its noise at 3x3 pixels (the
    quiet tier finds part of it), but not the band at the corner of the spectrum that every reconstructed voxel
    carries: the fine tier's dense dips lie in the square (a few in the slices next to it, which the density
    window spans, none elsewhere). Every slice resampled whole is no
    different from its surroundings anywhere: nothing found."""
    import dataclasses

    from radtrust.forensics.detectors.noise_free import (
        FINE_WINDOW_3D,
        _dense_dips,
        _fine_dip,
        _slice_maps,
    )

    [series] = load_series(sample_ct_files)
    det = NoiseFreeRegionDetector()
    box = (slice(300, 340), slice(330, 370))
    images = list(series.instances)
    for z in (2, 3, 4):
        x = images[z].pixels.astype(np.float64)
        out = x.copy()
        out[box] = np.round(_resampled(x[280:360, 310:390])[20:60, 20:60])
        images[z] = dataclasses.replace(images[z], pixels=out.astype(np.float32))
    maps = [_slice_maps(im.pixels) for im in images]
    judged = np.stack([m[1] for m in maps])
    dense = _dense_dips(np.stack([_fine_dip(m[3], m[1]) for m in maps]), judged, FINE_WINDOW_3D)
    inside = np.zeros(dense.shape, bool)
    inside[(slice(2, 5), *box)] = True
    assert dense[inside].sum() > 500 and dense[inside].sum() > 0.8 * dense.sum(), (dense[inside].sum(), dense.sum())
    finding = det.run_series(dataclasses.replace(series, instances=tuple(images)))
    assert finding.score > 0.9, finding.evidence
    ys, xs = np.nonzero(finding.heatmap[3] > 0.5)
    assert 300 - 6 <= ys.min() and ys.max() < 340 + 6 and 330 - 6 <= xs.min() and xs.max() < 370 + 6
    whole = [dataclasses.replace(im, pixels=np.round(_resampled(im.pixels.astype(np.float64))).astype(np.float32))
             for im in series.instances]
    assert det.run_series(dataclasses.replace(series, instances=tuple(whole))).score < 0.05


def test_the_fine_tier_names_a_region_the_other_tiers_miss(sample_ct_files):
    """Content with the scan's noise level at 3x3 pixels but none at the finest scale (the square's own noise,
    blurred by a 3x3 binomial filter and scaled back to its level): only the fine tier sees it, and says so."""
    import dataclasses

    [series] = load_series(sample_ct_files)
    box = (slice(300, 340), slice(330, 370))
    images = list(series.instances)
    kernel = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
    for z in (2, 3, 4):
        x = images[z].pixels.astype(np.float64)
        trend = ndimage.gaussian_filter(x, 3.0)
        noise = x - trend
        blurred = ndimage.convolve(noise, kernel)
        blurred *= noise[box].std() / blurred[box].std()
        out = x.copy()
        out[box] = np.round(trend[box] + blurred[box])
        images[z] = dataclasses.replace(images[z], pixels=out.astype(np.float32))
    finding = NoiseFreeRegionDetector().run_series(dataclasses.replace(series, instances=tuple(images)))
    assert finding.score > 0.5, finding.evidence
    assert "finest-scale noise" in finding.evidence[0] and "slices 2-4" in finding.evidence[0]


def test_sharpened_authentic_pictures_are_not_flagged(shared_data):
    """PIL's unsharp mask with a threshold sharpens noise only where it exceeds the threshold, which leaves an
    authentic picture's quiet areas quiet inside newly noisy surroundings. These are the pictures of
    ../shared/data/cxr where that read as fills before the lower quartile and the seen share of the near
    surroundings were judged (scores 0.54-1.0; scripts/benign_processing_check.py)."""
    from PIL import Image as PILImage
    from PIL import ImageFilter

    det = NoiseFreeRegionDetector()
    for name in ("figure1-5e75d0940b71e1b702629659-98-right.jpeg", "all14238-fig-0001-m-c.jpg", "nejmoa2001017_f1-b.png",
                 "covid-19-pneumonia-mild.JPG", "1.CXRCTThoraximagesofCOVID-19fromSingapore.pdf-003-fig4a.png",
                 "all14238-fig-0001-m-b.jpg", "covid-19-pneumonia-43-day2.jpeg"):
        path = shared_data / "cxr" / name
        if not path.exists():
            continue
        image = load_image(path)
        picture = PILImage.fromarray(np.clip(np.rint(image.pixels), 0, 255).astype(np.uint8))
        sharp = picture.filter(ImageFilter.UnsharpMask(radius=2, percent=80, threshold=2))
        finding = det.run(make_image(np.asarray(sharp, dtype=np.float32), modality=None, source="png", bits=8))
        assert finding.score < 0.5, (name, finding.evidence)


def test_tone_curved_authentic_pictures_are_not_flagged(shared_data):
    """A tone curve whose slope is under 1 somewhere (equalisation, a gamma) merges grey levels there: smooth areas
    become runs of one level, quiet inside noisy surroundings. A region more than half one grey level is not a
    fill (these were false alarms, 0.56-1.0, before that rule)."""
    from PIL import Image as PILImage
    from PIL import ImageOps

    det = NoiseFreeRegionDetector()
    cases = [("01E392EE-69F9-4E33-BFCE-E5C968654078.jpeg", ImageOps.equalize),
             ("5e6dd879fde9502400e58b2f.jpeg", ImageOps.equalize), ("klebsiella-pneumonia-1.jpg", ImageOps.equalize),
             ("88de9d8c39e946abd495b37cd07d89e5-0666-0.jpg", ImageOps.equalize),
             ("nejmc2001573_f1b.jpeg", lambda im: im.point(lambda v: round(255 * (v / 255) ** 0.8)))]
    for name, curve in cases:
        path = shared_data / "cxr" / name
        if not path.exists():
            continue
        picture = PILImage.fromarray(np.clip(np.rint(load_image(path).pixels), 0, 255).astype(np.uint8))
        curved = np.asarray(curve(picture), dtype=np.float32)
        finding = det.run(make_image(curved, modality=None, source="png", bits=8))
        assert finding.score < 0.5, (name, finding.evidence)


@pytest.mark.parametrize("density", [0.0, 0.0005, 0.01, 0.2, 0.55])
@pytest.mark.parametrize("along_slices", [False, True])
def test_region_sizes_are_ndimage_labels_sizes_in_its_order(density, along_slices):
    """The sparse-graph component sizes equal ``ndimage.label``'s, region by region in its numbering (the largest
    region's index names the evidence's place), for scattered voxels and for percolating ones, across image edges."""
    from radtrust.forensics.detectors.noise_free import region_sizes

    rng = np.random.default_rng(int(density * 1e4) + along_slices)
    voxels = rng.random((5, 37, 53)) < density
    voxels[:, :, -1] |= rng.random((5, 37)) < 0.5  # regions that touch the last column must not wrap to the next row
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = ndimage.generate_binary_structure(2, 1)
    if along_slices:
        structure[0, 1, 1] = structure[2, 1, 1] = True
    labels, n = ndimage.label(voxels, structure=structure)
    assert np.array_equal(region_sizes(voxels, along_slices=along_slices), np.bincount(labels.ravel())[1:])


def test_ct_stored_as_near_lossless_jpeg2000_is_judged(sample_ct_files, tmp_path):
    """JPEG 2000 at 2:1 changes a 12-bit CT slice by a fraction of one HU: a removal's hole without noise is still
    found in place, and the authentic slice stays quiet (radtrust.io.lossy.near_lossless)."""
    import pydicom

    from radtrust.benchmarking.robustness import transform_file

    ds = pydicom.dcmread(sample_ct_files[0])
    x = ds.pixel_array.astype(np.float64)
    sl = (slice(246, 270), slice(294, 318))  # soft tissue, noise about 19 HU
    x[sl] = np.round(ndimage.gaussian_filter(x, 4.0)[sl])
    ds.PixelData = x.astype(ds.pixel_array.dtype).tobytes()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.save_as(tmp_path / "edited.dcm", enforce_file_format=True)
    det = NoiseFreeRegionDetector()
    for src, name in ((sample_ct_files[0], "authentic"), (tmp_path / "edited.dcm", "edited")):
        transform_file(src, tmp_path / f"{name}-2.dcm", "j2k-lossy:2")
        found = det.run(load_image(tmp_path / f"{name}-2.dcm"))
        if name == "authentic":
            assert found.score < 0.2
        else:
            assert found.score > 0.9 and found.heatmap[sl].mean() > 0.5
        transform_file(src, tmp_path / f"{name}-10.dcm", "j2k-lossy")
        with pytest.raises(NotApplicable, match="lossy"):
            det.run(load_image(tmp_path / f"{name}-10.dcm"))
