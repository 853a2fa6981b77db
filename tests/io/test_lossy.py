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
from radtrust.io.lossy import codec_grid, j2k_irreversible, lossy_reason, stored_lossy
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
