"""Known answers for the spectral detector: a resampled region shows its period; z-resampling in a series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from radtrust.forensics.detectors.spectral import SpectralDetector, local_periodicity, predictor_error
from radtrust.forensics.registry import get_detector
from radtrust.forensics.residuals import highpass
from radtrust.io import Series, load_image, load_series

from .conftest import make_image, phantom

REGION = (slice(192, 320), slice(192, 320))


@pytest.mark.parametrize(("factor", "period"), [(2.0, 2.0), (1.5, 3.0), (4.0 / 3.0, 4.0)])
def test_resampled_region_shows_its_period(rng, factor, period):
    x = phantom(rng)
    patch = x[REGION]
    x[REGION] = np.round(ndimage.zoom(patch, factor, order=1)[:128, :128])
    stat, freq, ok = local_periodicity(x, 32)
    inside = stat[7:9, 7:9]
    outside = stat[ok]  # all valid tiles
    assert inside.min() > np.median(outside) + 4 * np.std(outside[outside < np.percentile(outside, 90)])
    periods = 1.0 / np.max(np.abs(freq[7:9, 7:9]), axis=-1)
    assert np.allclose(periods, period, atol=0.25)
    finding = get_detector("spectral").run(make_image(x))
    # calibrated conservatively for CT (real tables and phantom holders are periodic too): factor 2 alone
    # passes 0.5; milder factors must still stand far above the untampered slice
    clean = get_detector("spectral").run(make_image(phantom(np.random.default_rng(20261128)))).score
    assert finding.score > (0.5 if factor == 2.0 else max(0.05, 10 * clean)), finding.evidence
    found = [float(t) for t in finding.evidence[0].replace("period ", "|").split("|")[1:] for t in [t.split()[0]]]
    assert any(abs(f - period) < 0.25 for f in found), finding.evidence
    k = np.unravel_index(int(np.argmax(finding.heatmap)), x.shape)
    assert 160 <= k[0] < 352 and 160 <= k[1] < 352


def test_predictor_error_is_kirchners():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (64, 64)).astype(np.float32)
    kernel = np.array([[-0.25, 0.5, -0.25], [0.5, 0.0, 0.5], [-0.25, 0.5, -0.25]])
    direct = x - ndimage.correlate(x, kernel, mode="mirror")
    assert np.allclose(predictor_error(x)[1:-1, 1:-1], direct[1:-1, 1:-1], atol=1e-5)
    assert np.allclose(predictor_error(x), 1.5 * highpass(x))


def test_authentic_images_score_low(rng, sample_ct_files, sample_cr_file):
    det = SpectralDetector()
    assert det.run(make_image(phantom(rng))).score < 0.2
    for path in [*sample_ct_files, sample_cr_file]:
        image = load_image(path)
        finding = det.run(image)
        assert finding.score < 0.3, (path, finding.evidence)
        assert finding.heatmap.shape == image.pixels.shape


def test_series_z_resampling_found(rng):
    """A cube whose content comes from another z sampling (generated on a coarser grid, rescaled to the
    series' spacing, as CT-GAN pastes cubes rescaled from isotropic space): its slices are interpolations."""
    vol = np.stack([phantom(np.random.default_rng(k), (256, 256)) for k in range(16)])
    cube = vol[3:13, 64:160, 96:192]
    round_trip = ndimage.zoom(ndimage.zoom(cube, (0.4, 1, 1), order=1), (2.5, 1, 1), order=1)
    vol[3:13, 64:160, 96:192] = np.round(round_trip[: cube.shape[0]])
    series = Series("1.2", tuple(make_image(v) for v in vol), tuple(float(k) for k in range(16)))
    finding = SpectralDetector().run_series(series)
    assert finding.heatmap.shape == vol.shape
    k, y, x = np.unravel_index(int(np.argmax(finding.heatmap)), vol.shape)
    assert 3 <= k < 13 and 48 <= y < 176 and 80 <= x < 208
    assert finding.score > 0.9, finding.evidence
    assert any("along z" in e for e in finding.evidence)
    clean = np.stack([phantom(np.random.default_rng(k), (256, 256)) for k in range(16)])
    series = Series("1.3", tuple(make_image(v) for v in clean), tuple(float(k) for k in range(16)))
    assert SpectralDetector().run_series(series).score < 0.3


def test_rounding_of_an_upsampled_picture_is_not_a_resampled_region(shared_data, tmp_path, monkeypatch):
    """A whole picture enlarged by 1.5 and saved as JPEG: in its dark, smooth corner the predictor error is below
    half a grey level, so the p-map reads the rounding of interpolated values, periodic there and not elsewhere
    (0.99 before such tiles were left out; session 15's benign-processing check)."""
    from PIL import Image as PILImage

    from radtrust.forensics.detectors import spectral

    im = PILImage.open(shared_data / "cxr" / "pneumocystis-jirovecii-pneumonia-3-3.jpg").convert("L")
    im.resize((round(im.width * 1.5), round(im.height * 1.5)), PILImage.BICUBIC).save(tmp_path / "x.jpg", quality=90)
    image = load_image(tmp_path / "x.jpg")
    assert SpectralDetector().run(image).score < 0.1
    monkeypatch.setattr(spectral, "MIN_ERROR", 0.0)
    assert SpectralDetector().run(image).score > 0.5


def _stored(sample_ct_files, out: Path, how: str) -> Series:
    """The sample CT series (authentic) stored lossy, as a PACS stores on ingest: JPEG 2000 9-7 at a ratio
    (OpenJPEG through pydicom) or 12-bit JPEG extended at a quality (DCMTK's dcmcjpeg)."""
    import subprocess

    import pydicom
    from pydicom.uid import JPEG2000

    from tests.conftest import require_tool

    out.mkdir()
    for f in sample_ct_files:
        ds = pydicom.dcmread(f)
        ds.decompress(generate_instance_uid=False)
        if how.startswith("j2k"):
            ds.compress(JPEG2000, j2k_cr=[int(how[3:])], generate_instance_uid=False)
            ds.save_as(out / f.name, enforce_file_format=True)
        else:
            ds.save_as(out / ("raw-" + f.name), enforce_file_format=True)
            subprocess.run([require_tool("dcmcjpeg"), "+ee", "+q", how[4:], str(out / ("raw-" + f.name)),
                            str(out / f.name)], check=True, capture_output=True)
            (out / ("raw-" + f.name)).unlink()
    (series,) = load_series(sorted(out.glob("*.dcm")))
    return series


@pytest.mark.parametrize("how", ["j2k4", "j2k5", "jpeg75", "jpeg90"])
def test_authentic_ct_stored_lossy_is_not_read_as_resampled(sample_ct_files, tmp_path, how):
    """JPEG 2000 at 4:1 or 5:1 quantises the finest wavelet level away where the slice is smooth and keeps it
    elsewhere, so periods of 2 and 4 px show in some tiles (0.88 and 0.57 before, the sample series tampered or
    suspicious); 12-bit JPEG removes each slice's noise unevenly, so the slices read as interpolations of their
    neighbours (0.997). The codec's grid periods and the z test are not judged on such storage."""
    finding = SpectralDetector().run_series(_stored(sample_ct_files, tmp_path / how, how))
    assert finding.score < 0.1, finding.evidence
    assert any("px not judged" in e for e in finding.evidence)
    if how.startswith("jpeg"):
        assert any("along z not judged" in e for e in finding.evidence)


def test_codec_grid_periods_skipped_others_kept(rng):
    """Skipping the 8-pixel grid's periods leaves a resampled region of another period found."""
    for factor, found_on_grid in ((2.0, True), (1.5, False)):
        x = phantom(rng)
        x[REGION] = np.round(ndimage.zoom(x[REGION], factor, order=1)[:128, :128])
        stat, freq, ok = local_periodicity(x, 32)
        skipped, freq_s, _ = local_periodicity(x, 32, skip_grid=True)
        on_grid = np.isin(np.abs(freq_s[7:9, 7:9]), (0.125, 0.25, 0.375, 0.5)).any()
        assert not on_grid
        outside = stat[ok]
        strong = np.median(outside) + 4 * np.std(outside[outside < np.percentile(outside, 90)])
        assert (skipped[7:9, 7:9].min() > strong) is not found_on_grid
