"""MetaImage (.mhd + .raw, .mha) read against files SimpleITK writes: values, axes, spacing, modality, bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from radtrust.errors import InputError, TooLarge
from radtrust.io import load_image
from radtrust.io.load import iter_images

sitk = pytest.importorskip("SimpleITK")


def _ct(shape=(6, 40, 48)) -> np.ndarray:
    rng = np.random.default_rng(3)
    z, y, x = np.indices(shape)
    body = (y - shape[1] / 2) ** 2 + (x - shape[2] / 2) ** 2 < (shape[1] / 3) ** 2
    return np.rint(np.where(body, 40.0, -1000.0) + rng.normal(0, 12, shape)).astype(np.int16)


def _write(arr: np.ndarray, path: Path, spacing=(0.7, 0.8, 2.5), compress: bool = False) -> Path:
    img = sitk.GetImageFromArray(arr)  # (z, y, x) in, (x, y, z) in the file
    img.SetSpacing(spacing[: arr.ndim])
    sitk.WriteImage(img, str(path), compress)
    return path


@pytest.mark.parametrize(("name", "compress"), [("ct.mhd", False), ("ct.mhd", True), ("ct.mha", False)])
def test_metaimage_written_by_simpleitk_reads_as_written(tmp_path: Path, name: str, compress: bool) -> None:
    arr = _ct()
    image = load_image(_write(arr, tmp_path / name, compress=compress))
    assert image.source_format == "metaimage" and not image.has_header
    assert image.shape == arr.shape  # (z, y, x), slice-first like a series
    np.testing.assert_array_equal(image.pixels, arr.astype(np.float32))
    assert image.geometry.pixel_spacing == pytest.approx((0.8, 0.7)) and image.geometry.slice_thickness == 2.5
    assert image.modality == "CT" and image.notes[0].startswith("modality CT inferred")
    assert "MetaImage carries no modality" in image.notes[0]


def test_metaimage_that_is_not_ct_keeps_no_modality(tmp_path: Path) -> None:
    mr = np.abs(np.random.default_rng(4).normal(300, 80, (5, 32, 32))).astype(np.uint16)
    image = load_image(_write(mr, tmp_path / "mr.mhd"))
    assert image.modality is None and not image.notes
    two_d = load_image(_write(_ct()[2], tmp_path / "slice.mha"))
    assert two_d.shape == (40, 48) and two_d.modality == "CT"


@pytest.mark.parametrize(("field", "expected"), [("MET_MOD_CT", "CT"), ("MET_MOD_MR", "MR"), ("MET_MOD_UNKNOWN", None)])
def test_the_header_modality_field_is_read(tmp_path: Path, field: str, expected: str | None) -> None:
    noise = np.random.default_rng(5).normal(0, 50, (4, 32, 32)).astype(np.int16)  # no air: nothing to infer
    path = _write(noise, tmp_path / "m.mhd")
    path.write_text(path.read_text().replace("NDims = 3", f"NDims = 3\nModality = {field}"))
    image = load_image(path)
    assert image.modality == expected
    assert bool(image.notes) == (expected is not None)


@pytest.mark.parametrize(("edit", "words"), [
    (("CompressedData = False", "CompressedData = True"), "Uncompress failed"),  # zeros came back, with a complaint
    (("DimSize = 48 40 6", "DimSize = 48 40 60"), "data not read completely"),
    (("DimSize = 48 40 6", "DimSize = 0 40 6"), "empty MetaImage"),
    (("ElementDataFile = bad.raw", "ElementDataFile = LIST"), "multi-file"),
    (("ElementType = MET_SHORT", "ElementType = MET_BOGUS"), "PixelType"),
])
def test_broken_headers_are_one_line_errors_in_metaio_s_words(tmp_path: Path, edit, words: str) -> None:
    path = _write(_ct(), tmp_path / "bad.mhd")
    text = path.read_text()
    assert edit[0] in text
    path.write_text(text.replace(*edit))
    with pytest.raises(InputError) as err:
        load_image(path)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_truncated_or_missing_pixel_data_is_a_one_line_error(tmp_path: Path) -> None:
    path = _write(_ct(), tmp_path / "cut.mhd")
    raw = tmp_path / "cut.raw"
    raw.write_bytes(raw.read_bytes()[:1000])
    with pytest.raises(InputError) as err:
        load_image(path)
    assert "MetaImage" in str(err.value) and "\n" not in str(err.value)
    raw.unlink()
    with pytest.raises(InputError):
        load_image(path)
    (tmp_path / "junk.mhd").write_text("this is not a MetaImage header\n")
    with pytest.raises(InputError):
        load_image(tmp_path / "junk.mhd")


def test_header_naming_a_device_as_its_data_is_refused(tmp_path: Path) -> None:
    path = _write(_ct(), tmp_path / "dev.mhd")
    path.write_text(path.read_text().replace("ElementDataFile = dev.raw", "ElementDataFile = /dev/zero"))
    with pytest.raises(InputError) as err:
        load_image(path)
    assert "pipe or a device" in str(err.value)


def test_header_claiming_a_huge_volume_is_refused_before_reading(tmp_path: Path, monkeypatch) -> None:
    path = _write(_ct(), tmp_path / "big.mhd")
    text = path.read_text().replace("DimSize = 48 40 6", "DimSize = 60000 60000 6000")
    assert text != path.read_text()
    path.write_text(text)
    with pytest.raises(TooLarge):
        load_image(path)


def test_folder_walk_reads_the_header_not_its_raw_file(tmp_path: Path) -> None:
    _write(_ct(), tmp_path / "scan.mhd")
    assert (tmp_path / "scan.raw").is_file()
    loaded = list(iter_images([tmp_path]))
    assert [(p.path.name, p.error) for p in loaded] == [("scan.mhd", None)]


def test_scan_cli_on_a_metaimage(tmp_path: Path) -> None:
    path = _write(_ct((8, 160, 160)), tmp_path / "vol.mhd")
    out = subprocess.run([sys.executable, "-m", "radtrust", "scan", str(path), "--format", "jsonl"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode in (0, 1), out.stderr
    assert '"modality": "CT"' in out.stdout


def test_simulator_takes_a_metaimage_volume(tmp_path: Path) -> None:
    """CT-GAN's own format (LUNA16 .mhd): the simulator reads it as it reads a NIfTI volume."""
    from radtrust.simulation.target import load_target

    target = load_target(_write(_ct(), tmp_path / "1.3.6.1.4.1.14519.5.mhd"))
    assert target.modality == "CT" and target.pixels.shape == (6, 40, 48) and target.name == "1.3.6.1.4.1.14519.5"
    assert target.spacing == pytest.approx((2.5, 0.8, 0.7)) and "MetaImage volume" in target.notes[0]
    with pytest.raises(InputError):
        load_target(_write(_ct()[0], tmp_path / "flat.mha"))
