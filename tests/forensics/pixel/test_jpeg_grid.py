"""Known answers for the JPEG-lattice detector: the quantisation table is recovered, edits made after the last
compression are found in place, untouched decoded pictures stay quiet, and images without a lattice are not judged."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageFilter
from scipy import ndimage

from radtrust.errors import NotApplicable
from radtrust.forensics.detectors import jpeg_grid
from radtrust.forensics.detectors.jpeg_grid import JpegGridDetector, find_lattice
from radtrust.forensics.registry import get_detector

from .conftest import make_image

EDIT = (slice(200, 248), slice(296, 344))


def radiograph(rng: np.random.Generator, shape: tuple[int, int] = (512, 640)) -> np.ndarray:
    """An 8-bit chest-picture-like image: smooth anatomy, ribs, correlated noise."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    x = 90 + 60 * np.exp(-(((yy - shape[0] / 2) / 180) ** 2 + ((xx - shape[1] / 2) / 260) ** 2))
    x += 12 * np.sin(yy / 9.0) * (np.abs(xx - shape[1] / 2) > 60)
    x += ndimage.gaussian_filter(rng.normal(0, 6, shape), 0.8)
    return np.clip(np.rint(x), 1, 254)


def jpeg_roundtrip(x: np.ndarray, quality: int) -> tuple[np.ndarray, list[int]]:
    buf = io.BytesIO()
    PILImage.fromarray(x.astype(np.uint8)).save(buf, "JPEG", quality=quality)
    with PILImage.open(io.BytesIO(buf.getvalue())) as im:
        return np.asarray(im, dtype=np.float32), list(im.quantization[0])


def picture(x: np.ndarray):
    return make_image(x, modality="DX", bits=8)


@pytest.mark.parametrize("quality", [75, 90])
def test_quantisation_table_recovered(rng, quality):
    decoded, table = jpeg_roundtrip(radiograph(rng), quality)
    lattice, _, _ = find_lattice(decoded.astype(np.float64), 0.0, 255.0)
    assert lattice.phase == (0, 0)
    truth = np.array(table).reshape(8, 8)
    found = lattice.steps > 0
    assert found.sum() >= 6
    assert np.array_equal(lattice.steps[found], truth[found])


@pytest.mark.parametrize("shift", [(3, 5), (0, 7)])
def test_grid_phase_of_a_cropped_picture(rng, shift):
    decoded, _ = jpeg_roundtrip(radiograph(rng), 80)
    lattice, _, _ = find_lattice(decoded[shift[0]:, shift[1]:].astype(np.float64), 0.0, 255.0)
    assert lattice.phase == ((8 - shift[0]) % 8, (8 - shift[1]) % 8)


def test_untouched_decoded_picture_stays_quiet(rng):
    decoded, _ = jpeg_roundtrip(radiograph(rng), 80)
    finding = get_detector("jpeg-grid").run(picture(decoded))
    assert finding.score < 0.2
    assert finding.heatmap.shape == decoded.shape


@pytest.mark.parametrize("edit", ["blur", "noise", "paste", "brighten"])
def test_edit_after_compression_found_in_place(rng, edit):
    decoded, _ = jpeg_roundtrip(radiograph(rng), 80)
    x = decoded.copy()
    region = x[EDIT]
    if edit == "blur":  # in-painting or lesion removal
        x[EDIT] = np.rint(ndimage.gaussian_filter(region, 2.0))
    elif edit == "noise":  # noise re-added over a generated region
        x[EDIT] = np.clip(np.rint(region + rng.normal(0, 2.0, region.shape)), 1, 254)
    elif edit == "paste":  # a patch from another, differently compressed picture
        other, _ = jpeg_roundtrip(radiograph(np.random.default_rng(7)), 60)
        x[EDIT] = other[100:148, 100:148]
    else:  # a smooth opacity added: low frequencies move off the lattice
        yy, xx = np.mgrid[:48, :48]
        x[EDIT] = np.clip(np.rint(region + 25 * np.exp(-((yy - 24) ** 2 + (xx - 24) ** 2) / 200.0)), 1, 254)
    finding = JpegGridDetector().run(picture(x))
    assert finding.score > 0.9, finding.evidence
    peak = np.unravel_index(int(np.argmax(finding.heatmap)), x.shape)
    assert EDIT[0].start - 8 <= peak[0] < EDIT[0].stop + 8 and EDIT[1].start - 8 <= peak[1] < EDIT[1].stop + 8
    assert any("edited after the last JPEG compression" in e for e in finding.evidence)
    inside = finding.heatmap[EDIT].mean()
    outside = np.delete(finding.heatmap, np.s_[150:300], axis=0).mean()
    assert inside > 5 * outside + 0.1


def test_never_compressed_or_resized_pictures_are_not_judged(rng):
    det = JpegGridDetector()
    with pytest.raises(NotApplicable, match="no JPEG compression lattice"):
        det.run(picture(radiograph(rng)))
    decoded, _ = jpeg_roundtrip(radiograph(rng), 80)
    small = PILImage.fromarray(decoded.astype(np.uint8)).resize((480, 384), PILImage.Resampling.LANCZOS)
    with pytest.raises(NotApplicable, match="no JPEG compression lattice"):
        det.run(picture(np.asarray(small, dtype=np.float32)))



@pytest.mark.parametrize("seed", [0, 3, 4])
def test_picture_processed_as_a_whole_is_not_judged(seed):
    """Resampled to 75% and back, a q75 picture keeps a partial lattice whose uneven survival looked like edits
    (scores 0.6-0.9 before the deficit check); an edit on the same picture still leaves the lattice strong."""
    from radtrust.benchmarking.robustness import _resample

    rng = np.random.default_rng(seed)
    decoded, _ = jpeg_roundtrip(radiograph(rng, (1024, 1024)), 75)
    resampled = np.clip(np.rint(_resample(decoded)), 0, 255)
    with pytest.raises(NotApplicable, match="weak throughout"):
        JpegGridDetector().run(picture(resampled))
    edited = decoded.copy()
    edited[300:420, 300:420] = np.rint(edited[300:420, 300:420] * 0.9 + 10)
    assert JpegGridDetector().run(picture(edited)).score > 0.9

def test_high_bit_depth_and_lossy_archives_are_not_judged(rng):
    det = JpegGridDetector()
    twelve = radiograph(rng) * 16 + rng.integers(0, 16, (512, 640))  # genuinely 12-bit: thousands of levels
    with pytest.raises(NotApplicable, match="more than 256 grey levels"):
        det.run(make_image(twelve, modality="CR", bits=12))
    decoded, _ = jpeg_roundtrip(radiograph(rng), 80)
    from dataclasses import replace

    lossy = replace(picture(decoded), transfer_syntax="1.2.840.10008.1.2.4.50")
    with pytest.raises(NotApplicable, match="lossy transfer syntax"):
        det.run(lossy)
    with pytest.raises(NotApplicable, match="a JPEG file"):
        det.run(replace(picture(decoded), source_format="jpeg"))


def _pasted_nodule_is_found(x: np.ndarray, cy: int, cx: int) -> None:
    """Paste a faint 40-px nodule at (cy, cx) after the last compression: found there."""
    yy, xx = np.mgrid[-20:20, -20:20]
    x[cy - 20:cy + 20, cx - 20:cx + 20] = np.clip(np.rint(x[cy - 20:cy + 20, cx - 20:cx + 20]
                                                          + 18 * np.exp(-(yy ** 2 + xx ** 2) / 120.0)), 0, 255)
    found = JpegGridDetector().run(picture(x))
    assert found.score > 0.9
    peak = np.unravel_index(int(np.argmax(found.heatmap)), x.shape)
    assert abs(peak[0] - cy) < 32 and abs(peak[1] - cx) < 32


def test_real_chest_picture_edit_found(shared_data):
    """A real JPEG chest picture from ../shared/data: untouched it stays quiet; a pasted nodule is found."""
    from radtrust.io import load_image

    image = load_image(shared_data / "cxr" / "16663_1_1.jpg")
    x = np.rint(image.pixels)
    quiet = JpegGridDetector().run(picture(x))
    assert quiet.score < 0.2, quiet.evidence
    cy, cx = 1200, 700
    _pasted_nodule_is_found(x, cy, cx)


def test_lattice_at_the_file_origin_is_tried_when_blockiness_points_elsewhere(shared_data):
    """A progressive greyscale JPEG whose content makes row offset 7 look blockiest: its lattice is at (0, 0)."""
    from radtrust.forensics.detectors.jpeg_grid import candidate_phases, eight_bit_levels
    from radtrust.io import load_image

    image = load_image(shared_data / "cxr" / "radiol.2020201160.fig3b.jpeg")
    x = np.rint(image.pixels)
    assert (0, 0) not in candidate_phases(eight_bit_levels(x)[0])
    quiet = JpegGridDetector().run(picture(x))
    assert quiet.score < 0.2 and "grid phase (0, 0)" in " ".join(quiet.evidence)
    cy, cx = 500, 650  # lung field (the mediastinum is saturated at 255: no lattice to leave)
    _pasted_nodule_is_found(x, cy, cx)


def test_burned_in_text_is_not_an_edit(rng):
    """Annotations burned in before compression (labels, markers) ring and clip; they must not look edited."""
    from PIL import ImageDraw, ImageFont

    canvas = PILImage.fromarray(radiograph(rng).astype(np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=28)
    draw.text((40, 30), "ICU MOBILE AP SUPINE", fill=(255, 255, 255), font=font)
    draw.text((500, 420), "R", fill=(40, 230, 40), font=font)  # a coloured marker
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=80)
    with PILImage.open(io.BytesIO(buf.getvalue())) as im:
        grey = np.rint(np.asarray(im.convert("RGB"), dtype=np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
    assert JpegGridDetector().run(picture(grey)).score < 0.2


@pytest.mark.parametrize("name", ["covid-19-pneumonia-43-day0.jpeg",
                                  "1.CXRCTThoraximagesofCOVID-19fromSingapore.pdf-003-fig4b.png"])
def test_real_pictures_with_burned_in_text_stay_quiet(shared_data, name):
    """Two authentic pictures whose text ("ICU MOBILE AP SUPINE", a panel letter) left the lattice: glyph blocks
    are skipped, so the untouched anatomy decides."""
    from radtrust.forensics.calibration import lossless_copy
    from radtrust.io import load_image

    finding = JpegGridDetector().run(lossless_copy(load_image(shared_data / "cxr" / name)))
    assert finding.score < 0.5, finding.evidence


@pytest.mark.parametrize("scale, offset, invert", [(16, 0, False), (257, -1024, False), (16, 100, True)])
def test_eight_bit_picture_stored_with_more_bits(rng, scale, offset, invert):
    """An 8-bit JPEG picture written into a 12/16-bit DICOM (scaled, offset, MONOCHROME1-inverted) keeps its lattice."""
    decoded, _ = jpeg_roundtrip(radiograph(rng), 80)
    x = decoded.copy()
    x[EDIT] = np.rint(ndimage.gaussian_filter(x[EDIT], 2.0))
    stored = (255 - x if invert else x) * scale + offset
    quiet = JpegGridDetector().run(make_image((255 - decoded if invert else decoded) * scale + offset, "DX", bits=16))
    found = JpegGridDetector().run(make_image(stored, "DX", bits=16))
    assert quiet.score < 0.2 and found.score > 0.9
    assert any("8-bit content stored with more bits" in e for e in found.evidence)
    peak = np.unravel_index(int(np.argmax(found.heatmap)), x.shape)
    assert EDIT[0].start - 8 <= peak[0] < EDIT[0].stop + 8 and EDIT[1].start - 8 <= peak[1] < EDIT[1].stop + 8


@pytest.mark.parametrize("tint, subsampling, progressive", [((1.0, 1.0, 1.0), 0, False), ((1.0, 0.93, 0.8), 2, False),
                                                            ((1.0, 0.93, 0.8), 0, True), ((0.9, 1.0, 1.0), 1, False)])
def test_colour_pictures_read_through_the_raster_loader(rng, tmp_path, tint, subsampling, progressive):
    """Tinted colour JPEGs (4:4:4, 4:2:2, 4:2:0, progressive) become ITU-R 601 luminance, i.e. JPEG's Y:
    the lattice holds."""
    from radtrust.io import load_image

    grey = radiograph(rng)
    rgb = np.clip(np.stack([grey * t for t in tint], axis=-1), 0, 255).astype(np.uint8)
    path = tmp_path / "picture.jpg"
    PILImage.fromarray(rgb).save(path, "JPEG", quality=85, subsampling=subsampling, progressive=progressive)
    y = np.rint(load_image(path).pixels)
    assert JpegGridDetector().run(picture(y)).score < 0.2
    y[EDIT] = np.rint(ndimage.gaussian_filter(y[EDIT], 2.0))
    assert JpegGridDetector().run(picture(y)).score > 0.9


def test_picture_given_a_tone_curve_after_compression_is_not_judged(shared_data, tmp_path):
    """A real chest picture given a gamma of 0.8 and saved as PNG keeps its lattice in the mid-tones and loses it in
    the dark, where the curve's slope is above 1: 1.0 before, now not judged (the curve's empty grey levels say
    why). The same picture with one region's contrast raised by 1.3 is still judged, and found."""
    from radtrust.errors import EvidenceLost
    from radtrust.io import load_image

    source = PILImage.open(shared_data / "cxr" / "3248cc61.jpg").convert("L")
    table = np.clip(np.rint((np.arange(256) / 255.0) ** 0.8 * 255.0), 0, 255).astype(np.uint8).tolist()
    source.point(table).save(tmp_path / "gamma.png")
    with pytest.raises(EvidenceLost, match="tone curve"):
        JpegGridDetector().run(load_image(tmp_path / "gamma.png"))
    x = np.asarray(source, dtype=np.float64).copy()
    region = x[900:1000, 900:1000]
    x[900:1000, 900:1000] = np.clip(np.rint(region.mean() + 1.3 * (region - region.mean())), 0, 255)
    PILImage.fromarray(x.astype(np.uint8)).save(tmp_path / "edited.png")
    found = JpegGridDetector().run(load_image(tmp_path / "edited.png"))
    assert found.score > 0.9, found.evidence


GAMMA_125 = [round((v / 255) ** 1.25 * 255) for v in range(256)]  # a gamma of 1.25 as a PIL point table


@pytest.mark.parametrize(("name", "process"), [
    ("2-chest-filmc.jpg", lambda im: im.filter(ImageFilter.UnsharpMask(radius=2, percent=80, threshold=2))),
    ("d9d6ca9a.jpg", lambda im: im.point(GAMMA_125)),
])
def test_lattice_weakened_as_a_whole_raises_the_bar(shared_data, tmp_path, monkeypatch, name, process):
    """Real pictures sharpened with a threshold, or given a gamma of 1.25 whose empty grey levels fall where too few
    pixels are to count, and saved as PNG: their lattice is weakened everywhere (deficits 0.075 and 0.073, under the
    0.08 that stops judging) and chance lifted their peaks to 0.12-0.20 (scores 0.99 and 1.0). The centre rises with
    the deficit."""
    from radtrust.forensics.detectors import jpeg_grid
    from radtrust.io import load_image

    process(PILImage.open(shared_data / "cxr" / name).convert("L")).save(tmp_path / "whole.png")
    assert JpegGridDetector().run(load_image(tmp_path / "whole.png")).score < 0.2
    monkeypatch.setattr(jpeg_grid, "_DEFICIT_SLOPE", 0.0)  # (the sharpened one: 0.55 with its weakest frequencies
    monkeypatch.setattr(jpeg_grid, "_MAX_FREQ_DEFICIT", float("inf"))  # left out alone, 0.99 without either rule)
    assert JpegGridDetector().run(load_image(tmp_path / "whole.png")).score > 0.9


def test_edit_after_a_whole_picture_tone_curve_is_still_found(shared_data, tmp_path):
    """The gamma-curved picture above with noise (sigma 2) added to an 80 px square afterwards: found in place over
    the raised bar. (A blur or a paste of the same size peaks no higher than the curve's own chance peak there, and
    is not: on a lattice weakened as a whole, only edits that leave it clearly are told from the processing.)"""
    from radtrust.io import load_image

    im = PILImage.open(shared_data / "cxr" / "d9d6ca9a.jpg").convert("L")
    x = np.asarray(im.point(GAMMA_125), dtype=np.float64).copy()
    region = (slice(304, 384), slice(304, 384))
    x[region] = np.clip(np.rint(x[region] + np.random.default_rng(0).normal(0, 2, (80, 80))), 0, 255)
    PILImage.fromarray(x.astype(np.uint8)).save(tmp_path / "edited.png")
    found = JpegGridDetector().run(load_image(tmp_path / "edited.png"))
    assert found.score > 0.9, found.evidence
    heat = found.heatmap
    assert heat[region].mean() > 5 * heat.mean()


def test_a_frequency_whose_lattice_is_half_gone_is_left_out(shared_data, tmp_path, monkeypatch):
    """A published figure cropped to 80% and saved as PNG: its lattice includes the DC term at step 3 with strength
    0.70 (0.83 is what rounding leaves), whose distance read the figure's bright flat areas as edited (0.996; 0.77
    uncropped, where the DC term is not found). Left out, the cropped figure scores as the uncropped one does."""
    from radtrust.forensics.detectors import jpeg_grid
    from radtrust.io import load_image

    im = PILImage.open(shared_data / "cxr" / "nejmoa2001017_f1-a.png").convert("L")
    w, h = im.size
    im.crop((w // 10, h // 10, w - w // 10, h - h // 10)).save(tmp_path / "crop.png")
    assert JpegGridDetector().run(load_image(tmp_path / "crop.png")).score < 0.8
    monkeypatch.setattr(jpeg_grid, "_MAX_FREQ_DEFICIT", float("inf"))
    assert JpegGridDetector().run(load_image(tmp_path / "crop.png")).score > 0.99


def _blur_square(x: np.ndarray, region: tuple[slice, slice]) -> np.ndarray:
    """``x`` (8-bit, grey or colour) with a Gaussian blur of 1.5 px inside ``region``."""
    y = x.copy()
    y[region] = np.asarray(PILImage.fromarray(y[region]).filter(ImageFilter.GaussianBlur(1.5)))
    return y


def test_weak_lattice_at_the_file_origin_is_judged(shared_data, tmp_path):
    """A published figure saved near quality 90 keeps only 11 frequencies with a clear lattice (a step of 2 never
    reaches the strength a frequency needs: rounding alone leaves it 0.66), at (0, 0) where its blockiness does not
    point. Session 9 asked such a lattice for 15 frequencies; judged now, the untouched figure stays quiet and a
    blurred 80 px square is found in place."""
    from radtrust.forensics.detectors.jpeg_grid import candidate_phases
    from radtrust.io import load_image

    x = np.asarray(PILImage.open(shared_data / "cxr" / "all14238-fig-0002-m-d.jpg").convert("L"))
    PILImage.fromarray(x).save(tmp_path / "untouched.png")
    assert (0, 0) not in candidate_phases(x.astype(np.float64))
    lattice, _, _ = find_lattice(x.astype(np.float64), 0.0, 255.0)
    assert lattice.phase == (0, 0) and 6 <= lattice.frequencies < 15
    assert JpegGridDetector().run(load_image(tmp_path / "untouched.png")).score < 0.5
    region = (slice(300, 380), slice(300, 380))
    PILImage.fromarray(_blur_square(x, region)).save(tmp_path / "blurred.png")
    found = JpegGridDetector().run(load_image(tmp_path / "blurred.png"))
    assert found.score > 0.9, found.evidence
    assert found.heatmap[region].mean() > 5 * found.heatmap.mean()


def test_colour_markings_are_not_edits(shared_data, tmp_path):
    """A figure with a red arrow, kept in colour as PNG: JPEG ringing drove green and blue below 0 around the
    arrow, and the clipping moved the luminance there off the lattice (1.0). Blocks where a channel was clipped
    are left out; a blur made after the compression is still found."""
    import dataclasses

    from radtrust.io import load_image

    rgb = np.asarray(PILImage.open(shared_data / "cxr" / "radiol.2020200490.fig3.jpeg").convert("RGB"))
    PILImage.fromarray(rgb).save(tmp_path / "marked.png")
    image = load_image(tmp_path / "marked.png")
    quiet = JpegGridDetector().run(image)
    assert quiet.score < 0.5
    assert any("colour channel was clipped" in e and "not judged" in e for e in quiet.evidence), quiet.evidence
    assert JpegGridDetector().run(dataclasses.replace(image, colour_clipped=None)).score > 0.9
    region = (slice(500, 580), slice(600, 680))
    PILImage.fromarray(_blur_square(rgb, region)).save(tmp_path / "blurred.png")
    found = JpegGridDetector().run(load_image(tmp_path / "blurred.png"))
    assert found.score > 0.9, found.evidence
    assert found.heatmap[region].mean() > 5 * found.heatmap.mean()


def test_file_origin_read_in_full_when_the_phase_search_points_elsewhere(shared_data):
    """A small chest picture whose blockiness points to (3, 6): compared on the low frequencies, where its steps of 2-3
    are unreadable or weakened by rounding, that phase looks best and, read in full, holds 5 frequencies. The origin,
    read in full as well now, holds 26: the picture is judged (it was "no lattice"), quiet untouched, and a blurred
    square is found in place. (A faint pasted nodule is not: its change is in the low frequencies, where this lattice
    has no step to read; its map peaks in place at 0.2-0.5.)"""
    from radtrust.forensics.detectors.jpeg_grid import candidate_phases
    from radtrust.io import load_image

    x = np.rint(load_image(shared_data / "cxr" / "wong-0003.jpg").pixels)
    assert (0, 0) not in candidate_phases(x)
    lattice, _, _ = find_lattice(x, 0.0, 255.0)
    assert lattice.phase == (0, 0) and lattice.frequencies >= 20
    assert JpegGridDetector().run(picture(x)).score < 0.2
    region = (slice(180, 260), slice(100, 180))
    found = JpegGridDetector().run(picture(_blur_square(x.astype(np.uint8), region).astype(np.float64)))
    assert found.score > 0.9, found.evidence
    assert found.heatmap[region].mean() > 5 * found.heatmap.mean()


def _stored_as_j2k(x: np.ndarray, path, ratio: float):
    """``x`` as an 8-bit DICOM secondary capture stored as irreversible JPEG 2000 at ``ratio`` (OpenJPEG)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import JPEG2000, ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    from radtrust.io import load_image

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    ds.Modality, ds.Rows, ds.Columns, ds.SamplesPerPixel = "OT", x.shape[0], x.shape[1], 1
    ds.PhotometricInterpretation, ds.BitsAllocated, ds.BitsStored, ds.HighBit = "MONOCHROME2", 8, 8, 7
    ds.PixelRepresentation, ds.PixelData = 0, np.rint(x).astype(np.uint8).tobytes()
    ds.compress(JPEG2000, np.rint(x).astype(np.uint8), j2k_cr=[ratio], generate_instance_uid=False)
    ds.LossyImageCompression = "01"
    ds.save_as(path, enforce_file_format=True)
    return load_image(path)


@pytest.mark.parametrize("edit", ["noise", "paste"])
def test_lattice_is_read_through_mild_jpeg2000_storage(tmp_path, edit):
    """An edit made after the last JPEG compression, then stored as JPEG 2000 at 2:1 (an archive compressing on
    ingest): the lattice is read through the codec's rounding and the edit found in place; the untouched picture so
    stored stays quiet. (A blur of the region, found stored losslessly, is not found through it: 0.02.)"""
    rng = np.random.default_rng(1)
    decoded, _ = jpeg_roundtrip(radiograph(rng), 80)
    x = decoded.copy()
    if edit == "noise":
        x[EDIT] = np.clip(np.rint(x[EDIT] + rng.normal(0, 2.0, x[EDIT].shape)), 1, 254)
    else:
        other, _ = jpeg_roundtrip(radiograph(np.random.default_rng(7)), 60)
        x[EDIT] = other[100:148, 100:148]
    det = JpegGridDetector()
    assert det.run(_stored_as_j2k(decoded, tmp_path / "quiet.dcm", 2)).score < 0.05
    found = det.run(_stored_as_j2k(x, tmp_path / "edited.dcm", 2))
    assert found.score > 0.9 and any("read through that codec's rounding" in e for e in found.evidence)
    assert found.heatmap[EDIT].mean() > 0.5 > 0.05 > np.delete(found.heatmap, np.s_[150:300], axis=0).mean()


def test_lattice_under_more_than_the_codecs_rounding_is_not_judged(tmp_path):
    """Noise added over the whole picture before JPEG 2000 (or a codec that took more than its rounding) leaves the
    lattice noisier than the 9-7 rounding does (variance 0.73 against 0.41): not judged, and said why."""
    rng = np.random.default_rng(1)
    decoded, _ = jpeg_roundtrip(radiograph(rng), 80)
    noisy = np.clip(np.rint(decoded + rng.normal(0, 0.5, decoded.shape)), 0, 255)
    with pytest.raises(NotApplicable, match="took more than its rounding"):
        JpegGridDetector().run(_stored_as_j2k(noisy, tmp_path / "noisy.dcm", 2))


def test_grey_levels_count_rounded_clipped_values():
    """Counts per level 0-255 of the values rounded (half to even) and clipped, for floats and integers alike."""
    rng = np.random.default_rng(11)
    floats = np.concatenate([rng.uniform(-40, 300, 5000), [0.5, 1.5, 254.5, 255.5, -0.5, 2.4999]]).astype(np.float32)
    want = np.bincount(np.clip(np.rint(floats).astype(np.int64), 0, 255), minlength=256)
    assert np.array_equal(jpeg_grid.grey_levels(floats.reshape(-1, 2)), want)
    assert np.array_equal(jpeg_grid.grey_levels(floats.astype(np.float64)), want)
    for dtype in (np.uint8, np.uint16, np.int16):
        ints = rng.integers(0 if dtype != np.int16 else -300, 256 if dtype == np.uint8 else 600, 5000).astype(dtype)
        assert np.array_equal(jpeg_grid.grey_levels(ints), np.bincount(np.clip(ints.astype(np.int64), 0, 255),
                                                                        minlength=256))


def test_tone_curve_counts_of_the_stored_pixels_are_the_lattices_levels(rng):
    """jpeg-grid judges a tone curve from the stored pixels' grey-level counts (shared with patch-fill) where its
    levels are the stored values, not renumbered: the same counts as its own levels'."""
    decoded, _ = jpeg_roundtrip(radiograph(rng), 85)
    img = picture(decoded)
    x, note, *_ = jpeg_grid.picture_lattice(img)
    assert note == ""
    assert np.array_equal(jpeg_grid.grey_levels(x), jpeg_grid.grey_levels(img.pixels))
