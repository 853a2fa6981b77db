"""Known answers for the double-JPEG detector: content added between two JPEG compressions is found in place
(a splice, a blurred patch, a copy shifted off the grid), untouched twice-compressed pictures stay quiet, a
picture compressed once is not judged, and the last table is read from a JPEG file or DICOM JPEG pixel data."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage
from pydicom.dataset import FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit, SecondaryCaptureImageStorage, generate_uid
from scipy import ndimage

from radtrust.errors import NotApplicable
from radtrust.forensics.detectors.jpeg_double import DoubleJpegDetector, last_table
from radtrust.io import load_image

from .test_jpeg_grid import EDIT, jpeg_roundtrip, radiograph

INSIDE = (slice(EDIT[0].start - 8, EDIT[0].stop + 8), slice(EDIT[1].start - 8, EDIT[1].stop + 8))


def save_jpeg(x: np.ndarray, path: Path, quality: int = 90) -> Path:
    PILImage.fromarray(np.clip(np.rint(x), 0, 255).astype(np.uint8)).save(path, "JPEG", quality=quality)
    return path


def edited(kind: str, rng: np.random.Generator) -> np.ndarray:
    """A picture compressed at quality 70, then edited in EDIT (before it is saved again)."""
    x, _ = jpeg_roundtrip(radiograph(rng), 70)
    y = x.copy()
    if kind == "splice":  # from a picture with no JPEG history
        y[EDIT] = radiograph(np.random.default_rng(99))[EDIT]
    elif kind == "blur":
        y[EDIT] = ndimage.gaussian_filter(x, 1.5)[EDIT]
    elif kind == "copy":  # moved by (43, -61) pixels: off the 8x8 grid
        y[EDIT] = x[EDIT[0].start + 43:EDIT[0].stop + 43, EDIT[1].start - 61:EDIT[1].stop - 61]
    return y


@pytest.mark.parametrize("kind", ["splice", "blur", "copy"])
def test_content_added_between_two_compressions_is_found_in_place(kind, tmp_path):
    image = load_image(save_jpeg(edited(kind, np.random.default_rng(1)), tmp_path / "edited.jpg"))
    f = DoubleJpegDetector().run(image)
    assert f.score > 0.9, f.evidence
    peak = np.unravel_index(int(np.argmax(f.heatmap)), f.heatmap.shape)
    assert INSIDE[0].start <= peak[0] < INSIDE[0].stop and INSIDE[1].start <= peak[1] < INSIDE[1].stop
    assert f.heatmap[EDIT].mean() > 5 * f.heatmap.mean()
    assert "compressed only once" in f.evidence[0]


def test_untouched_double_compression_is_quiet(tmp_path):
    f = DoubleJpegDetector().run(load_image(save_jpeg(edited("none", np.random.default_rng(1)), tmp_path / "a.jpg")))
    assert f.score < 0.2
    assert any("compressed twice" in e for e in f.evidence)


def test_a_copy_moved_by_whole_blocks_keeps_its_double_compression(tmp_path):
    """The documented blind spot: moved by (48, -64), the copy's blocks carry the first compression too."""
    x, _ = jpeg_roundtrip(radiograph(np.random.default_rng(1)), 70)
    y = x.copy()
    y[EDIT] = x[EDIT[0].start + 48:EDIT[0].stop + 48, EDIT[1].start - 64:EDIT[1].stop - 64]
    assert DoubleJpegDetector().run(load_image(save_jpeg(y, tmp_path / "aligned.jpg"))).score < 0.2


def test_compressed_once_is_not_judged(tmp_path):
    path = save_jpeg(radiograph(np.random.default_rng(2)), tmp_path / "once.jpg", quality=90)
    with pytest.raises(NotApplicable, match="first, stronger JPEG compression"):
        DoubleJpegDetector().run(load_image(path))


def test_real_picture_resaved_and_edited(samples_dir, tmp_path):
    """Real anatomy and its noise: the shipped sample (a published chest picture) compressed at quality 75, then
    saved again at quality 90 untouched stays quiet; with a copy moved off the grid before saving it is found."""
    src, _ = jpeg_roundtrip(load_image(samples_dir / "picture" / "4d98e1de.jpg").pixels, 75)
    plain = DoubleJpegDetector().run(load_image(save_jpeg(src, tmp_path / "plain.jpg")))
    assert plain.score < 0.2
    h, w = src.shape
    region = (slice(h // 3, h // 3 + 96), slice(w // 3, w // 3 + 96))
    y = src.copy()
    y[region] = src[h // 3 + 101:h // 3 + 197, w // 3 + 37:w // 3 + 133]
    f = DoubleJpegDetector().run(load_image(save_jpeg(y, tmp_path / "copied.jpg")))
    assert f.score > 0.9
    assert f.heatmap[region].mean() > 5 * f.heatmap.mean()


def test_tone_curve_between_the_compressions_is_not_an_edit(shared_data, tmp_path, monkeypatch):
    """A real JPEG picture given a gamma of 0.8 and saved again at quality 90 (what a teaching file gets): the curve's
    slope above 1 in the dark scaled those blocks' coefficients, so their first compression's gaps filled up, and most
    of the dark bands read as compressed once (0.83). The bands' own median is taken off. A copy moved off the grid
    before the resave, in the same curved picture, is still found in place."""
    from radtrust.forensics.detectors import jpeg_double

    im = PILImage.open(shared_data / "cxr" / "covid-19-pneumonia-41-day-2.jpg").convert("L")
    x = np.asarray(im.point([round((v / 255) ** 0.8 * 255) for v in range(256)]), dtype=np.float64)
    assert DoubleJpegDetector().run(load_image(save_jpeg(x, tmp_path / "curved.jpg"))).score < 0.2
    h, w = x.shape
    region = (slice(h // 3, h // 3 + 96), slice(w // 3, w // 3 + 96))
    y = x.copy()
    y[region] = x[h // 3 + 101:h // 3 + 197, w // 3 + 37:w // 3 + 133]
    f = DoubleJpegDetector().run(load_image(save_jpeg(y, tmp_path / "copied.jpg")))
    assert f.score > 0.8, f.evidence
    assert f.heatmap[region].mean() > 5 * f.heatmap.mean()
    monkeypatch.setattr(jpeg_double, "tone_curve_offset", lambda x, llr, usable, phase: 0.0)
    assert DoubleJpegDetector().run(load_image(tmp_path / "curved.jpg")).score > 0.5


def _jpeg_dicom(x: np.ndarray, path: Path) -> Path:
    buf = io.BytesIO()
    PILImage.fromarray(np.clip(np.rint(x), 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.SeriesInstanceUID, ds.StudyInstanceUID, ds.Modality = generate_uid(), generate_uid(), "OT"
    ds.Rows, ds.Columns = x.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.LossyImageCompression = "01"
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_dicom_stored_as_jpeg_baseline(tmp_path):
    """A secondary capture whose pixel data is the re-saved JPEG: the table comes from the encapsulated
    stream, and the splice is found as in a JPEG file."""
    y = edited("splice", np.random.default_rng(3))
    image = load_image(_jpeg_dicom(y, tmp_path / "sc.dcm"))
    _, table = jpeg_roundtrip(y, 90)
    assert np.array_equal(last_table(image), np.asarray(table, float).reshape(8, 8))
    assert DoubleJpegDetector().run(image).score > 0.9
