"""Known-answer loading tests: HU, photometric interpretation, series order, research formats."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from radtrust.io import load_image, load_series
from tests.conftest import require_tool

# (row, column) voxels checked in every Siemens slice: air, fat/soft tissue, centre, bone region.
VOXELS = [(10, 10), (256, 256), (300, 200), (400, 256), (128, 384)]


def _raw_stored(path: Path, tmp: Path) -> tuple[np.ndarray, float, float]:
    """Stored values decoded by GDCM (not pydicom's decoders), read straight from the raw bytes."""
    gdcmraw = require_tool("gdcmraw")
    raw = tmp / (path.name + ".raw")
    subprocess.run([gdcmraw, "-i", str(path), "-o", str(raw), "-P"], check=True)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    dtype = "<i2" if int(ds.PixelRepresentation) == 1 else "<u2"
    stored = np.frombuffer(raw.read_bytes(), dtype=dtype).reshape(int(ds.Rows), int(ds.Columns))
    return stored, float(ds.RescaleSlope), float(ds.RescaleIntercept)


def test_siemens_hu_matches_stored_values(shared_data: Path, tmp_path: Path) -> None:
    files = sorted((shared_data / "ct" / "siemens_abdomen").iterdir())[:4]
    for path in files:
        image = load_image(path)
        stored, slope, intercept = _raw_stored(path, tmp_path)
        assert image.modality == "CT"
        assert image.transfer_syntax == "1.2.840.10008.1.2.4.90"
        assert image.rescale == (slope, intercept) == (1.0, -1024.0)
        for r, c in VOXELS:
            assert image.pixels[r, c] == pytest.approx(stored[r, c] * slope + intercept)
        # Air outside the patient is about -1000 HU after the Modality LUT.
        assert image.pixels[5:20, 5:20].mean() < -900


def test_sample_ct_is_hu_with_acquisition_and_geometry(sample_ct_files: list[Path]) -> None:
    image = load_image(sample_ct_files[0])
    assert image.pixels.dtype == np.float32 and image.shape == (512, 512)
    acq = image.acquisition
    assert (acq.kvp, acq.exposure_mas, acq.manufacturer) == (120.0, 253.0, "SIEMENS")
    assert acq.kernel is not None and acq.kernel.startswith("Br38f")
    assert image.geometry.pixel_spacing == pytest.approx((0.9765625, 0.9765625))
    assert image.geometry.slice_thickness == 3.0
    assert image.geometry.orientation == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert image.signature_count == 0
    assert image.dataset is not None and image.has_header


def test_cr_is_monochrome1_and_display_flips(sample_cr_file: Path) -> None:
    image = load_image(sample_cr_file)
    assert image.modality == "CR"
    assert image.photometric == "MONOCHROME1"
    assert image.bits_stored == 15
    assert image.geometry.pixel_spacing is None  # the source carries PixelSpacing [0, 0]
    shown = image.display_pixels()
    assert shown.max() == image.pixels.max() and shown.min() == image.pixels.min()
    # Flipped: the brightest stored value is the darkest shown.
    assert shown.flat[int(np.argmax(image.pixels))] == image.pixels.min()


def test_shared_cr_is_monochrome1(shared_data: Path) -> None:
    image = load_image(shared_data / "cr" / "RG1_UNCR.dcm")
    assert image.photometric == "MONOCHROME1"
    assert image.shape == (1955, 1841)
    assert image.acquisition.kvp == 150.0 and image.acquisition.exposure_mas == 2.0


def test_series_sorted_along_normal_and_shuffle_invariant(sample_ct_files: list[Path], tmp_path: Path) -> None:
    names = [f"x{i:02d}.dcm" for i in range(len(sample_ct_files))]
    random.Random(7).shuffle(names)
    for src, name in zip(sample_ct_files, names):
        shutil.copy(src, tmp_path / name)
    [ordered] = load_series(sample_ct_files)
    [shuffled] = load_series(tmp_path)
    uids = [im.sop_instance_uid for im in ordered.instances]
    assert uids == [im.sop_instance_uid for im in shuffled.instances]
    z = [im.geometry.position[2] for im in ordered.instances]
    assert z == sorted(z)
    assert ordered.problems == ()
    assert ordered.slice_spacing == pytest.approx(2.0)
    assert ordered.volume().shape == (len(sample_ct_files), 512, 512)


def test_series_reports_gap_and_duplicate(sample_ct_files: list[Path], tmp_path: Path) -> None:
    chosen = [sample_ct_files[0], sample_ct_files[1], sample_ct_files[4], sample_ct_files[5]]
    for i, src in enumerate(chosen):
        shutil.copy(src, tmp_path / f"{i}.dcm")
    extra = pydicom.dcmread(sample_ct_files[1])  # an edited slice inserted at slice 1's position
    extra.decompress()
    arr = extra.pixel_array.copy()
    arr[200:240, 200:240] += 40
    extra.PixelData = arr.tobytes()
    extra.SOPInstanceUID = extra.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    extra.save_as(tmp_path / "dup.dcm")
    [series] = load_series(tmp_path)
    text = " ".join(series.problems)
    assert "gap" in text and "duplicated" in text


def test_the_same_instance_saved_twice_in_one_folder_is_a_copy(sample_ct_files: list[Path], tmp_path: Path) -> None:
    """pydicom's test files hold one MR instance in seven encodings in one folder: seven copies of an
    instance, not seven slices at one position; so is a copy a toolkit re-wrote under a new UID with the same
    pixels, and a lossy copy under a new UID (pydicom-data's 693_UNCI beside 693_UNCR). An edited copy is a second
    slice (the test above)."""
    for src in sample_ct_files[:3]:
        shutil.copy(src, tmp_path / src.name)
    shutil.copy(sample_ct_files[1], tmp_path / "renamed copy.dcm")
    reminted = pydicom.dcmread(sample_ct_files[1])  # re-written by a toolkit that minted a new UID, pixels the same
    reminted.SOPInstanceUID = reminted.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    reminted.save_as(tmp_path / "zz another.dcm")
    lossy = pydicom.dcmread(sample_ct_files[1])  # a lossy copy under a new UID: off by one almost everywhere
    lossy.decompress()
    arr = lossy.pixel_array.copy()
    arr[::2, :] += 1
    arr[1::2, ::3] += 1
    lossy.PixelData, lossy.LossyImageCompression = arr.tobytes(), "01"
    lossy.SOPInstanceUID = lossy.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    lossy.save_as(tmp_path / "zz lossy.dcm")
    series = load_series(tmp_path)
    assert sorted(len(s) for s in series) == [1, 1, 1, 3]
    assert all(s.problems == () for s in series)


def test_a_lossy_copy_that_leaves_the_padding_untouched_is_still_a_copy(sample_ct_files: list[Path],
                                                                        tmp_path: Path) -> None:
    """JPEG 2000 10:1 of a slice whose outside is uniform padding changes under half of the pixels (the codec keeps
    flat areas exact): it is still the same slice, not a second one at that position. The rule before session 8
    (over half of the pixels differing) read it as two slices."""
    from pydicom.uid import JPEG2000

    ds = pydicom.dcmread(sample_ct_files[1])
    ds.decompress(generate_instance_uid=False)
    arr = ds.pixel_array.copy()
    yy, xx = np.ogrid[: arr.shape[0], : arr.shape[1]]
    arr[(yy - 256) ** 2 + (xx - 256) ** 2 > 150**2] = arr.min()  # a small field of view in a padded matrix
    ds.PixelData = arr.tobytes()
    ds.save_as(tmp_path / "a.dcm", enforce_file_format=True)
    ds.compress(JPEG2000, j2k_cr=[10])  # a new SOP Instance UID, as a lossy compression should mint
    ds.LossyImageCompression = "01"
    ds.save_as(tmp_path / "b.dcm", enforce_file_format=True)
    a, b = (load_image(tmp_path / n).pixels for n in ("a.dcm", "b.dcm"))
    assert 0.0 < float(np.mean(a != b)) < 0.5
    series = load_series(tmp_path)  # the copy stays apart from the original instead of doubling its position
    assert [len(s) for s in series] == [1, 1] and all(s.problems == () for s in series)


def test_copies_of_a_series_in_two_folders_stay_apart(sample_ct_files: list[Path], tmp_path: Path) -> None:
    for folder in ("original", "copy"):
        (tmp_path / folder).mkdir()
        for src in sample_ct_files[:3]:
            shutil.copy(src, tmp_path / folder / src.name)
    series = load_series(tmp_path)
    assert [len(s) for s in series] == [3, 3] and all(s.problems == () for s in series)
    # One series split over two folders (no repeated SOPInstanceUID) stays one series.
    (tmp_path / "copy" / sample_ct_files[0].name).unlink()
    (tmp_path / "original" / sample_ct_files[1].name).unlink()
    (tmp_path / "original" / sample_ct_files[2].name).unlink()
    assert [len(s) for s in load_series(tmp_path)] == [3]


def test_series_reports_mixed_geometry(sample_ct_files: list[Path], tmp_path: Path) -> None:
    for i, src in enumerate(sample_ct_files[:3]):
        ds = pydicom.dcmread(src)
        if i == 2:
            ds.PixelSpacing = [0.8, 0.8]
        ds.save_as(tmp_path / f"{i}.dcm")
    [series] = load_series(tmp_path)
    assert any("mixed geometry" in p for p in series.problems)


def test_siemens_blank_uids_grouped_by_frame_of_reference(shared_data: Path) -> None:
    series = load_series(shared_data / "ct" / "siemens_abdomen")
    assert len(series) == 1 and len(series[0]) == 20
    assert any("no SeriesInstanceUID" in p for p in series[0].problems)


def test_png_and_nifti_have_no_header(tmp_path: Path) -> None:
    from PIL import Image as PILImage
    import nibabel as nib

    arr = (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 7) % 4096
    PILImage.fromarray(arr.astype(np.uint16)).save(tmp_path / "a.png")
    png = load_image(tmp_path / "a.png")
    assert png.source_format == "png" and not png.has_header
    np.testing.assert_array_equal(png.pixels, arr)
    from radtrust.errors import NotApplicable
    with pytest.raises(NotApplicable):
        png.require_dataset("header forensics")

    vol = np.random.default_rng(0).normal(size=(20, 30, 5)).astype(np.float32)
    nib.save(nib.Nifti1Image(vol, np.diag([0.7, 0.8, 2.5, 1.0])), tmp_path / "v.nii.gz")
    nii = load_image(tmp_path / "v.nii.gz")
    assert nii.shape == (5, 30, 20)  # (z, y, x)
    np.testing.assert_allclose(nii.pixels, np.transpose(vol, (2, 1, 0)))
    assert nii.geometry.pixel_spacing == pytest.approx((0.8, 0.7)) and nii.geometry.slice_thickness == pytest.approx(2.5)


def test_chest_volume_nifti(shared_data: Path) -> None:
    image = load_image(shared_data / "ct" / "chest_volume" / "cxr.nii.gz")
    assert image.shape == (133, 512, 512)
    assert image.pixels.min() < -900  # HU
    assert image.modality == "CT" and "modality CT inferred" in image.notes[0]
    labels = load_image(shared_data / "ct" / "chest_volume" / "mask.nii.gz")  # a label map: no air, no CT
    assert labels.modality is None and not labels.notes


def _phantom_hu(rng: np.random.Generator, shape=(6, 40, 40)) -> np.ndarray:
    """Air around a water disc, with noise: what every CT field of view holds."""
    z, y, x = np.indices(shape)
    body = (y - shape[1] / 2) ** 2 + (x - shape[2] / 2) ** 2 < (shape[1] / 3) ** 2
    return np.where(body, 40.0, -1000.0) + rng.normal(0, 12, shape)


@pytest.mark.parametrize(("kind", "expected"), [
    ("ct", "CT"),
    ("ct padded at -3024", "CT"),  # a vendor's padding outside the field of view
    ("ct in raw units", None),  # stored values, air near 0: nothing says they are CT numbers
    ("mr", None),  # magnitudes, never negative
    ("labels", None),
    ("below every padding value", None),
    ("all nan", None),
])
def test_nifti_modality_inferred_from_hounsfield_units(tmp_path: Path, kind: str, expected: str | None) -> None:
    import nibabel as nib

    from radtrust.io.hounsfield import hounsfield_modality

    rng = np.random.default_rng(1)
    vol = _phantom_hu(rng)
    vol = {"ct": vol, "ct in raw units": vol + 1024.0, "mr": np.abs(rng.normal(300, 80, vol.shape)),
           "labels": (vol > -500).astype(np.float32) * 3, "all nan": np.full(vol.shape, np.nan),
           "below every padding value": np.where(vol < -900, -4000.0, vol)}.get(kind, vol)
    if kind == "ct padded at -3024":
        vol = vol.copy()
        vol[:, :4] = -3024.0
    assert hounsfield_modality(vol) == expected
    nib.save(nib.Nifti1Image(np.transpose(vol, (2, 1, 0)).astype(np.float32), np.eye(4)), tmp_path / "v.nii.gz")
    assert load_image(tmp_path / "v.nii.gz").modality == expected


@pytest.mark.parametrize(("steps", "expected"), [
    ([2.0] * 8, (0, 0)),  # a regular run
    ([2.0, 2.0, 2.0, 4.0, 2.0, 2.0], (1, 0)),  # one slice missing
    ([2.0, 2.0, 6.0, 2.0, 2.0], (1, 0)),  # two missing side by side
    ([4.0] * 6 + [1.08] + [7.0] * 6, (0, 1)),  # a two-part protocol (4 mm, then 7 mm): its overlap step only
    ([4.0] * 6 + [20.0] + [7.0] * 6, (1, 0)),  # ... with coverage missing between the parts
    ([2.5, 2.5, 2.6, 2.5, 2.5], (0, 0)),  # within 5%
    ([3.0], (0, 0)),
])
def test_slice_steps_judged_against_their_own_part_of_the_series(steps, expected) -> None:
    from radtrust.io.series import _step_problems

    assert _step_problems(np.asarray(steps)) == expected


@pytest.mark.parametrize(("positions", "thickness", "expected"), [
    # a stretch ending one step into a new part of contiguous 7 mm slabs (the GE head's first 16 slices)
    ([0, 4, 8, 12, 13.08, 20.08], [4, 4, 4, 4, 7, 7], ["1 irregular slice step(s) around 4 mm"]),
    # ... two steps into it
    ([0, 4, 8, 12, 13.08, 20.08, 27.08], [4, 4, 4, 4, 7, 7, 7], ["1 irregular slice step(s) around 4 mm"]),
    # ... and a 7 mm slab missing there: a gap
    ([0, 4, 8, 12, 13.08, 20.08, 34.08], [4, 4, 4, 4, 7, 7, 7], ["1 gap(s) in slice positions (expected step 4 mm)",
                                                                 "1 irregular slice step(s) around 4 mm"]),
    # the same without SliceThickness: one regular side only, read as a gap
    ([0, 4, 8, 12, 13.08, 20.08], None, ["1 gap(s) in slice positions (expected step 4 mm)",
                                         "1 irregular slice step(s) around 4 mm"]),
    # a slice missing from an overlapping reconstruction (5 mm slabs every 2.5 mm): still a gap
    ([0, 2.5, 5, 7.5, 12.5, 15, 17.5], [5] * 7, ["1 gap(s) in slice positions (expected step 2.5 mm)"]),
    # a slice missing from contiguous 4 mm slabs: a gap whatever the thickness says
    ([0, 4, 8, 16, 20, 24], [4] * 6, ["1 gap(s) in slice positions (expected step 4 mm)"]),
    # ... and with the two slabs around it rewritten as 8 mm thick: an island, not a part, still a gap
    ([0, 4, 8, 16, 20, 24], [4, 4, 8, 8, 4, 4], ["1 gap(s) in slice positions (expected step 4 mm)"]),
    # a new part at the start of a stretch: one 7 mm step, the overlap, then 4 mm slabs
    ([0, 7, 8.08, 12.08, 16.08, 20.08], [7, 7, 4, 4, 4, 4], ["1 irregular slice step(s) around 4 mm"]),
])
def test_a_new_part_of_contiguous_slabs_is_no_gap(positions, thickness, expected) -> None:
    from radtrust.io.series import position_problems

    assert position_problems([float(p) for p in positions], thickness) == expected


def test_stretches_of_the_two_part_head_protocol_have_no_gaps(shared_data: Path) -> None:
    """Benchmarks cut 16-slice stretches; the GE head's first 16 end one 7 mm step into its second part."""
    from radtrust.io.series import assemble

    [series] = load_series(shared_data / "ct" / "ge_head")
    for z0 in range(len(series) - 15):
        problems = assemble(series.instances[z0:z0 + 16]).problems
        assert not any("gap" in p for p in problems), (z0, problems)


def test_two_part_head_protocol_has_no_gaps(shared_data: Path) -> None:
    """The GE head: 14 slices every 4 mm, then 14 every 7 mm (slice thickness 4 and 7 mm: contiguous). It was read as
    13 gaps, which made it the one authentic series flagged when held out of the fusion's fit."""
    [series] = load_series(shared_data / "ct" / "ge_head")
    assert not any("gap" in p for p in series.problems), series.problems
    assert series.problems == ("1 irregular slice step(s) around 4 mm",)


def _bare(src: Path, out: Path, implicit: bool) -> Path:
    """``src`` written as a bare dataset: no preamble, no file meta information (old PACS exports)."""
    import pydicom
    from pydicom.filebase import DicomFileLike
    from pydicom.filewriter import write_dataset

    ds = pydicom.dcmread(src)
    del ds.file_meta
    with open(out, "wb") as fh:
        fp = DicomFileLike(fh)
        fp.is_little_endian, fp.is_implicit_VR = True, implicit
        write_dataset(fp, ds)
    return out


@pytest.mark.parametrize(("implicit", "syntax"), [(True, "Implicit VR Little Endian"),
                                                  (False, "Explicit VR Little Endian")])
def test_bare_dataset_reads_with_the_syntax_of_its_encoding(shared_data: Path, tmp_path: Path, implicit: bool,
                                                            syntax: str) -> None:
    src = sorted((shared_data / "ct" / "ge_head").iterdir())[0]
    image = load_image(_bare(src, tmp_path / "bare.dcm", implicit))
    np.testing.assert_array_equal(image.pixels, load_image(src).pixels)
    assert image.modality == "CT"
    note = f"no file meta information (a bare dataset): transfer syntax {syntax} taken from its encoding"
    assert image.notes[0] == note


def test_bare_dataset_with_encapsulated_pixels_is_unsupported(shared_data: Path, tmp_path: Path) -> None:
    from radtrust.errors import UnsupportedSyntax

    src = sorted((shared_data / "ct" / "siemens_abdomen").iterdir())[0]  # JPEG 2000 lossless, encapsulated
    with pytest.raises(UnsupportedSyntax) as err:
        load_image(_bare(src, tmp_path / "bare_j2k.dcm", False))
    assert "encapsulated" in str(err.value)


def test_secondary_capture_pictures_keep_their_modality(tmp_path: Path) -> None:
    """The values decide only for CT numbers: an 8-bit secondary capture (a screenshot, a picture) stays OT."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Modality, ds.Rows, ds.Columns = "OT", 64, 64
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelData = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8).tobytes()
    ds.save_as(tmp_path / "sc.dcm", enforce_file_format=True)
    image = load_image(tmp_path / "sc.dcm")
    assert image.modality == "OT" and not any("inferred" in n for n in image.notes)
    assert pydicom.dcmread(tmp_path / "sc.dcm").Modality == "OT"


def _rgb_dicom(rgb: np.ndarray, path: Path) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (
        ExplicitVRLittleEndian,
        SecondaryCaptureImageStorage,
        generate_uid,
    )

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Modality, ds.Rows, ds.Columns = "OT", rgb.shape[0], rgb.shape[1]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.PixelData = rgb.astype(np.uint8).tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_colour_pictures_mark_where_a_channel_was_clipped(tmp_path: Path) -> None:
    """A red marking on a grey picture (green and blue at 0): its pixels are marked, in PNG and in RGB DICOM alike;
    grey pixels at black or white are not (the luminance is clipped there too), and a grey picture has no mask."""
    from PIL import Image as PILImage

    grey = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))  # includes pure black and white
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[10:20, 20:40] = (230, 0, 0)
    PILImage.fromarray(rgb).save(tmp_path / "marked.png")
    _rgb_dicom(rgb, tmp_path / "marked.dcm")
    for name in ("marked.png", "marked.dcm"):
        image = load_image(tmp_path / name)
        expected = np.zeros(grey.shape, bool)
        expected[10:20, 20:40] = True
        np.testing.assert_array_equal(image.colour_clipped, expected)
        np.testing.assert_allclose(image.pixels[15, 30], 0.299 * 230, atol=0.5)
    PILImage.fromarray(np.repeat(grey[..., None], 3, axis=2)).save(tmp_path / "grey_rgb.png")
    PILImage.fromarray(grey).save(tmp_path / "grey.png")
    assert load_image(tmp_path / "grey_rgb.png").colour_clipped is None
    assert load_image(tmp_path / "grey.png").colour_clipped is None
