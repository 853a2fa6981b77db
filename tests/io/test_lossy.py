"""Lossy-compression history: from the transfer syntax, the JPEG 2000 codestream itself, and the header.

Files are made by the real DCMTK and GDCM tools where they can make them, and by OpenJPEG (through pydicom)
for an irreversible JPEG 2000 codestream, since gdcmconv will not derive a lossy copy of these samples.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEG2000

from radtrust.io import load_image
from radtrust.io.lossy import (
    NEAR_LOSSLESS_RATIO,
    codec_grid,
    j2k_irreversible,
    lossy_reason,
    near_lossless,
    record_lossy_step,
    stored_lossy,
    stored_ratio,
)
from tests.conftest import require_tool


@pytest.fixture(scope="module")
def raw_ct(sample_ct_files, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lossy") / "raw.dcm"
    ds = pydicom.dcmread(sample_ct_files[0])
    ds.decompress(generate_instance_uid=False)
    ds.save_as(out, enforce_file_format=True)
    return out


def _tool(args: list[str], src: Path, dst: Path) -> Path:
    subprocess.run([require_tool(args[0]), *args[1:], str(src), str(dst)], check=True, capture_output=True)
    return dst


def test_lossless_encodings_have_no_lossy_history(raw_ct, tmp_path):
    for path in (raw_ct, _tool(["gdcmconv", "--j2k"], raw_ct, tmp_path / "j2k.dcm"),
                 _tool(["dcmcjpls"], raw_ct, tmp_path / "jls.dcm")):
        image = load_image(path)
        assert stored_lossy(image) is None and lossy_reason(image) is None, path


def test_lossy_transfer_syntaxes_are_named(raw_ct, tmp_path):
    cases = ((["dcmcjpeg", "+ee"], "JPEG Extended"), (["dcmcjpls", "--encode-nearlossless"], "JPEG-LS near-lossless"))
    for args, name in cases:
        image = load_image(_tool(args, raw_ct, tmp_path / f"{args[0]}.dcm"))
        assert name in (stored_lossy(image) or ""), args


def test_jpeg2000_is_judged_by_its_codestream_not_its_uid(raw_ct, tmp_path):
    # a reversible (5-3) codestream under the "lossless or lossy" UID is lossless
    ds = pydicom.dcmread(_tool(["gdcmconv", "--j2k"], raw_ct, tmp_path / "j2k.dcm"))
    ds.file_meta.TransferSyntaxUID = JPEG2000
    ds.save_as(tmp_path / "rev.dcm")
    assert stored_lossy(load_image(tmp_path / "rev.dcm")) is None
    # an irreversible (9-7) one is lossy even when the header does not say so
    ds = pydicom.dcmread(raw_ct)
    ds.compress(JPEG2000, j2k_cr=[10], generate_instance_uid=False)
    ds.pop("LossyImageCompression", None)
    ds.save_as(tmp_path / "irr.dcm")
    image = load_image(tmp_path / "irr.dcm")
    assert "irreversible 9-7" in (stored_lossy(image) or "")
    assert lossy_reason(image) == stored_lossy(image)


def test_header_flag_is_history_not_storage(raw_ct, tmp_path):
    ds = pydicom.dcmread(raw_ct)
    ds.LossyImageCompression = "01"  # e.g. a secondary capture made from a JPEG file, stored uncompressed
    ds.save_as(tmp_path / "flagged.dcm")
    image = load_image(tmp_path / "flagged.dcm")
    assert stored_lossy(image) is None
    assert "LossyImageCompression 01" in (lossy_reason(image) or "")


def test_codestream_parser_fails_soft():
    assert j2k_irreversible(b"not a codestream") is None
    assert j2k_irreversible(b"\xff\x4f\xff\x51\x00") is None  # truncated main header
    # SOC, then a COD segment whose transformation byte is 1 (5-3)
    cod = b"\xff\x52\x00\x0c" + bytes([0, 0, 0, 1, 0, 5, 4, 4, 0, 1]) + b"\x00\x00"
    assert j2k_irreversible(b"\xff\x4f" + cod) is False
    assert j2k_irreversible(b"\xff\x4f" + cod[:13] + b"\x00" + cod[14:]) is True


def test_codec_grid_names_the_block_and_wavelet_codecs(raw_ct, tmp_path):
    assert codec_grid(load_image(raw_ct)) is None
    assert codec_grid(load_image(_tool(["gdcmconv", "--j2k"], raw_ct, tmp_path / "j2k.dcm"))) is None  # 5-3
    assert codec_grid(load_image(_tool(["dcmcjpls", "--encode-nearlossless"], raw_ct, tmp_path / "jls.dcm"))) is None
    assert "DCT blocks" in codec_grid(load_image(_tool(["dcmcjpeg", "+ee"], raw_ct, tmp_path / "jpg.dcm")))
    ds = pydicom.dcmread(raw_ct)
    ds.compress(JPEG2000, j2k_cr=[5], generate_instance_uid=False)
    ds.save_as(tmp_path / "irr.dcm")
    assert "wavelet" in codec_grid(load_image(tmp_path / "irr.dcm"))
    from PIL import Image as PILImage

    PILImage.fromarray(np.linspace(0, 255, 64 * 64).reshape(64, 64).astype(np.uint8)).save(tmp_path / "x.jpg")
    assert "JPEG file" in codec_grid(load_image(tmp_path / "x.jpg"))


def _j2k(src: Path, dst: Path, ratio: float, **header: str) -> Path:
    ds = pydicom.dcmread(src)
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        ds.decompress(generate_instance_uid=False)
    ds.compress(JPEG2000, j2k_cr=[ratio], generate_instance_uid=False)
    ds.LossyImageCompression = "01"
    for keyword, value in header.items():
        setattr(ds, keyword, value)
    ds.save_as(dst, enforce_file_format=True)
    return dst


def test_jpeg2000_at_a_low_ratio_is_judged_as_lossless(raw_ct, tmp_path):
    """12 stored bits at 2:1: lossy storage, but its error is a fraction of one HU, so the noise checks judge it."""
    mild = load_image(_j2k(raw_ct, tmp_path / "mild.dcm", 2))
    assert stored_lossy(mild) and lossy_reason(mild) is None
    assert "judged as if lossless" in near_lossless(mild) and stored_ratio(mild) <= NEAR_LOSSLESS_RATIO
    assert float(np.abs(mild.pixels - load_image(raw_ct).pixels).mean()) < 0.5
    strong = load_image(_j2k(raw_ct, tmp_path / "strong.dcm", 10))
    assert abs(stored_ratio(strong) - 10) < 0.2  # measured on the codestream, at the bits stored
    assert near_lossless(strong) is None and lossy_reason(strong) == stored_lossy(strong)
    # the header's record of the step (a writer may count its ratio at the 16 bits allocated) is this storage
    recorded = load_image(_j2k(raw_ct, tmp_path / "rec.dcm", 2, LossyImageCompressionRatio="3.5",
                               LossyImageCompressionMethod="ISO_15444_1"))
    assert near_lossless(recorded) and lossy_reason(recorded) is None


@pytest.mark.parametrize("header", [{"LossyImageCompressionMethod": ["ISO_10918_1", "ISO_15444_1"]},
                                    {"LossyImageCompressionRatio": ["12", "2.6"]},
                                    {"LossyImageCompressionRatio": "2.00"}])
def test_an_earlier_lossy_step_in_the_header_keeps_the_image_lossy(raw_ct, tmp_path, header):
    path = _j2k(raw_ct, tmp_path / "earlier.dcm", 2, **header)
    if header.get("LossyImageCompressionRatio") == "2.00":  # written malformed: no ratio can be read from it
        data = path.read_bytes()
        path.write_bytes(data.replace(b"2.00", b"n/a ", 1))
        assert pydicom.dcmread(path).get_item("LossyImageCompressionRatio").value == b"n/a "
    image = load_image(path)
    assert near_lossless(image) is None and lossy_reason(image) == stored_lossy(image)


def test_eight_bit_pictures_are_never_near_lossless(tmp_path):
    """The 9-7 transform's rounding is as large as an 8-bit picture's JPEG lattice: lossy at any ratio."""
    from tests.forensics.pixel.test_jpeg_grid import _stored_as_j2k

    pixels = np.clip(np.random.default_rng(3).normal(120, 20, (128, 128)), 0, 255)
    image = _stored_as_j2k(pixels, tmp_path / "pic.dcm", 2)
    assert near_lossless(image) is None and lossy_reason(image)


@pytest.mark.parametrize("method, ratio, mild", [("ISO_15444_1", "2.6", True), ("ISO_15444_1", "10", False),
                                                 ("ISO_15444_1", None, False), (None, "2.6", False),
                                                 ("ISO_10918_1", "2.6", False)])
def test_a_recorded_mild_jpeg2000_step_on_lossless_pixels(raw_ct, tmp_path, method, ratio, mild):
    """A near-lossless image decompressed for export keeps its record: JPEG 2000 within the bound, method and ratio
    both recorded, is judged; any other record (or half of one) keeps the image lossy."""
    ds = pydicom.dcmread(raw_ct)
    ds.LossyImageCompression = "01"
    if method:
        ds.LossyImageCompressionMethod = method
    if ratio:
        ds.LossyImageCompressionRatio = ratio
    ds.save_as(tmp_path / "exported.dcm")
    image = load_image(tmp_path / "exported.dcm")
    assert stored_lossy(image) is None
    if mild:
        assert "records lossy compression as JPEG 2000 at 2.6:1 only" in near_lossless(image)
        assert lossy_reason(image) is None
    else:
        assert near_lossless(image) is None and "LossyImageCompression 01" in lossy_reason(image)


def test_jpeg_ls_near_lossless_stays_lossy_however_small_its_error(raw_ct, tmp_path):
    """JPEG-LS with NEAR 1 errs by one HU at most, yet quantises a quiet phantom's residuals into combs (region-comb
    read the Philips phantom as re-scaled, 0.999, session 29): it is not judged as lossless."""
    args = ["dcmcjpls", "--encode-nearlossless", "--max-deviation", "1"]
    image = load_image(_tool(args, raw_ct, tmp_path / "n1.dcm"))
    assert near_lossless(image) is None and "JPEG-LS near-lossless" in lossy_reason(image)


def test_a_lossy_step_is_appended_to_the_header_record(raw_ct):
    """One value per step (PS3.3 C.7.6.1.1.5), earlier single values kept whole (a single DS or CS value is not a
    list: it was once iterated character by character)."""
    ds = pydicom.dcmread(raw_ct)
    ds.LossyImageCompression, ds.LossyImageCompressionMethod, ds.LossyImageCompressionRatio = "01", "ISO_10918_1", "5"
    raw = len(ds.PixelData)
    ds.compress(JPEG2000, j2k_cr=[10], generate_instance_uid=False)
    ratio = record_lossy_step(ds, raw)
    assert 12 < ratio < 15  # 10:1 at the 12 bits stored is 13.3:1 at the 16 allocated
    assert list(ds.LossyImageCompressionMethod) == ["ISO_10918_1", "ISO_15444_1"]
    assert [float(r) for r in ds.LossyImageCompressionRatio] == [5.0, float(f"{ratio:.4g}")]
    assert ds.LossyImageCompression == "01"
