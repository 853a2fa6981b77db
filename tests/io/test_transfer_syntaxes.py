"""Every transfer syntax decodes to the same pixels as the uncompressed reference.

Variants are made with the real DCMTK and GDCM tools. Lossless variants must match exactly; lossy ones
must match the pixels that DCMTK/GDCM themselves decode (within one stored value).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian

from radtrust.io import load_image
from tests.conftest import require_tool

# name, command (tool, args...), expected transfer syntax UID
LOSSLESS = [
    ("implicit-le", ["dcmconv", "+ti"], "1.2.840.10008.1.2"),
    ("explicit-le", ["dcmconv", "+te"], "1.2.840.10008.1.2.1"),
    ("explicit-be", ["dcmconv", "+tb"], "1.2.840.10008.1.2.2"),
    ("deflate", ["dcmconv", "+td"], "1.2.840.10008.1.2.1.99"),
    ("rle", ["dcmcrle"], "1.2.840.10008.1.2.5"),
    ("jpeg-ls-lossless", ["dcmcjpls"], "1.2.840.10008.1.2.4.80"),
    ("jpeg-lossless-sv1", ["dcmcjpeg", "+e1"], "1.2.840.10008.1.2.4.70"),
    ("jpeg-lossless", ["dcmcjpeg", "+el"], "1.2.840.10008.1.2.4.57"),
    ("j2k-lossless-gdcm", ["gdcmconv", "--j2k"], "1.2.840.10008.1.2.4.90"),
    ("jpeg-ls-gdcm", ["gdcmconv", "--jpegls"], "1.2.840.10008.1.2.4.80"),
    ("rle-gdcm", ["gdcmconv", "--rle"], "1.2.840.10008.1.2.5"),
]


def _reference(src: Path, dst: Path, frames: list[Path] | None = None) -> np.ndarray:
    """Write an uncompressed Explicit VR Little Endian copy; return its stored values."""
    ds = pydicom.dcmread(src)
    ds.decompress()
    if frames:
        arrays = [pydicom.dcmread(f).pixel_array for f in frames]
        ds.NumberOfFrames = len(arrays)
        ds.PixelData = np.stack(arrays).astype(np.uint16).tobytes()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(dst, enforce_file_format=True)
    return load_image(dst).pixels


def _convert(cmd: list[str], src: Path, dst: Path) -> None:
    tool = require_tool(cmd[0])
    subprocess.run([tool, *cmd[1:], str(src), str(dst)], check=True, capture_output=True)


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory, sample_ct_files: list[Path], sample_cr_file: Path) -> dict:
    tmp = tmp_path_factory.mktemp("ref")
    refs = {}
    for name, src, frames in [("ct", sample_ct_files[0], None), ("cr", sample_cr_file, None),
                              ("multiframe", sample_ct_files[0], sample_ct_files[:3])]:
        path = tmp / f"{name}.dcm"
        refs[name] = (path, _reference(src, path, frames))
    return refs


@pytest.mark.parametrize("kind", ["ct", "cr", "multiframe"])
@pytest.mark.parametrize("name,cmd,tsuid", LOSSLESS, ids=[c[0] for c in LOSSLESS])
def test_lossless_variant_decodes_identically(references: dict, tmp_path: Path, kind: str, name: str,
                                              cmd: list[str], tsuid: str) -> None:
    ref_path, ref_pixels = references[kind]
    out = tmp_path / f"{kind}-{name}.dcm"
    _convert(cmd, ref_path, out)
    image = load_image(out)
    assert image.transfer_syntax == tsuid
    assert image.pixels.shape == ref_pixels.shape
    np.testing.assert_array_equal(image.pixels, ref_pixels)


def test_sample_j2k_matches_uncompressed(references: dict, sample_ct_files: list[Path]) -> None:
    np.testing.assert_array_equal(load_image(sample_ct_files[0]).pixels, references["ct"][1])


@pytest.mark.parametrize("encode,decode,tsuid", [
    (["dcmcjpeg", "+ee"], ["dcmdjpeg"], "1.2.840.10008.1.2.4.51"),
    (["dcmcjpls", "+en", "+md", "3"], ["dcmdjpls"], "1.2.840.10008.1.2.4.81"),
])
def test_lossy_variant_matches_reference_decoder(references: dict, tmp_path: Path, encode: list[str],
                                                 decode: list[str], tsuid: str) -> None:
    ref_path, _ = references["ct"]
    lossy, decoded = tmp_path / "lossy.dcm", tmp_path / "decoded.dcm"
    _convert(encode, ref_path, lossy)
    _convert(decode, lossy, decoded)
    image = load_image(lossy)
    assert image.transfer_syntax == tsuid
    assert np.max(np.abs(image.pixels - load_image(decoded).pixels)) <= 1.0


def test_j2k_lossy_matches_gdcm(references: dict, tmp_path: Path) -> None:
    from pydicom.uid import JPEG2000

    ref_path, ref = references["ct"]
    ds = pydicom.dcmread(ref_path)
    ds.compress(JPEG2000, j2k_cr=[20], encoding_plugin="pylibjpeg")
    lossy, raw = tmp_path / "j2k.dcm", tmp_path / "j2k.raw"
    ds.save_as(lossy)
    subprocess.run([require_tool("gdcmraw"), "-i", str(lossy), "-o", str(raw), "-P"], check=True)
    gdcm = np.frombuffer(raw.read_bytes(), dtype="<u2").reshape(ref.shape).astype(np.float32) - 1024
    image = load_image(lossy)
    assert image.transfer_syntax == "1.2.840.10008.1.2.4.91"
    assert np.max(np.abs(image.pixels - gdcm)) <= 1.0
    assert np.max(np.abs(image.pixels - ref)) > 0  # really lossy


def test_jpeg_baseline_8bit(references: dict, tmp_path: Path) -> None:
    ref_path, ref = references["cr"]
    ds = pydicom.dcmread(ref_path)
    eight = (ds.pixel_array >> 7).astype(np.uint8)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = eight.tobytes()
    src, lossy, decoded = tmp_path / "8bit.dcm", tmp_path / "baseline.dcm", tmp_path / "dec.dcm"
    ds.save_as(src)
    _convert(["dcmcjpeg", "+eb"], src, lossy)
    _convert(["dcmdjpeg"], lossy, decoded)
    image = load_image(lossy)
    assert image.transfer_syntax == "1.2.840.10008.1.2.4.50"
    assert np.max(np.abs(image.pixels - load_image(decoded).pixels)) <= 1.0


@pytest.mark.parametrize("kind", ["ct", "cr"])
@pytest.mark.parametrize(("option", "tsuid"), [("+ti", "1.2.840.10008.1.2"), ("+te", "1.2.840.10008.1.2.1"),
                                               ("+tb", "1.2.840.10008.1.2.2")])
def test_bare_dataset_written_by_dcmtk_decodes_identically(references: dict, tmp_path: Path, kind: str, option: str,
                                                           tsuid: str) -> None:
    """``dcmconv -F`` writes the dataset without its file meta information, as old PACS exports are: the syntax
    of its encoding is taken (these failed as "corrupt pixel data" before session 17)."""
    ref_path, ref_pixels = references[kind]
    out = tmp_path / f"{kind}-bare{option}.dcm"
    _convert(["dcmconv", "-F", option], ref_path, out)
    assert out.read_bytes()[128:132] != b"DICM"  # no preamble, no meta
    image = load_image(out)
    assert image.transfer_syntax == tsuid and "bare dataset" in image.notes[0]
    np.testing.assert_array_equal(image.pixels, ref_pixels)
