"""Encapsulated multi-frame pixel data whose Basic Offset Table points elsewhere than its items: read as GDCM
reads it (one fragment per frame), without changing the dataset; when fragments and frames do not match, still
one line naming the file and the problem."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_fragments
from pydicom.uid import RLELossless

from radtrust.cli import main
from radtrust.io import load_image

from ..conftest import require_tool

GDCM_EXAMPLE = Path("/usr/share/doc/libgdcm3.0/examples/00191113.dcm")


def _multiframe_rle(sample: Path, path: Path, frames: int = 3) -> np.ndarray:
    ds = pydicom.dcmread(sample)
    one = ds.pixel_array
    stack = np.stack([np.roll(one, 7 * i, axis=1) for i in range(frames)])
    ds.NumberOfFrames = frames
    ds.compress(RLELossless, stack)
    ds.save_as(path, enforce_file_format=True)
    return stack


def _shift_offsets(path: Path, by: int) -> None:
    """Rewrite the Basic Offset Table so every offset after the first is ``by`` bytes off (the items stay)."""
    ds = pydicom.dcmread(path)
    items = list(generate_fragments(ds.PixelData))
    bot = struct.unpack(f"<{len(items[0]) // 4}I", items[0])
    wrong = struct.pack(f"<{len(bot)}I", *(o + by if o else 0 for o in bot))
    ds.PixelData = encapsulate(items[1:], has_bot=True)  # a correct table first, then its offsets corrupted
    ds["PixelData"].VR = "OB"
    data = bytearray(ds.PixelData)
    start = 8  # the offset table's item header
    assert bytes(data[start:start + len(wrong)]) == struct.pack(f"<{len(bot)}I", *bot)
    data[start:start + len(wrong)] = wrong
    ds.PixelData = bytes(data)
    ds.save_as(path, enforce_file_format=True)


def test_frames_are_read_past_an_offset_table_that_points_a_byte_off(tmp_path, sample_ct_files):
    path = tmp_path / "rle.dcm"
    stack = _multiframe_rle(sample_ct_files[0], path)
    _shift_offsets(path, 1)
    with pytest.raises(StopIteration):  # pydicom alone finds no frame where the table says
        pydicom.dcmread(path).pixel_array
    before = path.read_bytes()
    image = load_image(path)
    slope, intercept = image.rescale or (1.0, 0.0)
    assert np.array_equal(image.pixels, stack * slope + intercept)
    assert path.read_bytes() == before

    gdcmconv = require_tool("gdcmconv")  # the real counterpart reads the same pixels
    raw = tmp_path / "raw.dcm"
    subprocess.run([gdcmconv, "--raw", str(path), str(raw)], check=True, capture_output=True)
    assert np.array_equal(pydicom.dcmread(raw).pixel_array, stack)


def test_fragments_that_do_not_match_the_frames_stay_an_error(tmp_path, sample_ct_files, capsys):
    path = tmp_path / "rle.dcm"
    _multiframe_rle(sample_ct_files[0], path)
    _shift_offsets(path, 1)
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 4  # one frame more than there are fragments
    ds.save_as(path, enforce_file_format=True)
    assert main(["scan", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "corrupt pixel data" in err and "StopIteration" not in err


@pytest.mark.skipif(not GDCM_EXAMPLE.exists(), reason="libgdcm3.0's example files are not installed")
def test_gdcms_own_example_with_a_misplaced_offset_table(tmp_path):
    image = load_image(GDCM_EXAMPLE)
    assert image.pixels.shape == (4, 512, 512)
    raw = tmp_path / "raw.dcm"
    subprocess.run([require_tool("gdcmconv"), "--raw", str(GDCM_EXAMPLE), str(raw)], check=True, capture_output=True)
    assert np.array_equal(image.pixels, pydicom.dcmread(raw).pixel_array)
