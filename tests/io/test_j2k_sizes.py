"""The JPEG 2000 size check reads each codestream where it starts, not every FF4F FF51 in Pixel Data.

Those bytes may occur inside a valid codestream (coded data, or a comment segment as here); session 15 found an
irreversible JPEG 2000 CT slice refused as corrupt because its coded data held them. A codestream whose own SIZ
claims another size than the header is still refused before decoding.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_fragmented_frames
from pydicom.uid import JPEG2000Lossless

from radtrust.errors import CorruptPixelData
from radtrust.io import load_image

_SOC_SIZ = b"\xff\x4f\xff\x51"


def _j2k_ct(sample: Path, out: Path, edit: Callable[[bytes], bytes]) -> Path:
    ds = pydicom.dcmread(sample)
    ds.decompress(generate_instance_uid=False)
    ds.compress(JPEG2000Lossless, generate_instance_uid=False)
    frame = b"".join(next(generate_fragmented_frames(ds.PixelData)))
    ds.PixelData = encapsulate([edit(frame)])
    ds.save_as(out, enforce_file_format=True)
    return out


def _with_comment(codestream: bytes, body: bytes) -> bytes:
    """A COM marker segment (ITU-T T.800 A.9.2, Rcom 0: binary) right after SIZ, holding ``body``."""
    siz_end = 4 + int.from_bytes(codestream[4:6], "big")  # SOC and the SIZ marker, then Lsiz bytes
    com = b"\xff\x64" + struct.pack(">HH", 4 + len(body), 0) + body
    return codestream[: siz_end] + com + codestream[siz_end:]


def test_the_size_bytes_inside_a_codestream_are_not_a_codestream(sample_ct_files, tmp_path):
    fake = _SOC_SIZ + struct.pack(">HHIIII", 41, 0, 60000, 60000, 0, 0)  # what an old check took for a SIZ
    path = _j2k_ct(sample_ct_files[0], tmp_path / "com.dcm", lambda cs: _with_comment(cs, fake))
    reference = pydicom.dcmread(sample_ct_files[0])
    image = load_image(path)
    assert image.pixels.shape == (reference.Rows, reference.Columns)
    assert np.array_equal(image.pixels, load_image(sample_ct_files[0]).pixels)  # lossless: the same values


def test_a_codestream_claiming_another_size_is_refused(sample_ct_files, tmp_path):
    def bomb(cs: bytes) -> bytes:
        assert cs.startswith(_SOC_SIZ)
        return cs[:8] + struct.pack(">II", 60000, 60000) + cs[16:]

    path = _j2k_ct(sample_ct_files[0], tmp_path / "bomb.dcm", bomb)
    with pytest.raises(CorruptPixelData, match="codestream is 60000x60000"):
        load_image(path)
