"""Has an image been through lossy compression? What noise- and lattice-based detectors need to know.

Two questions, because they differ for a picture made from a JPEG file:

- :func:`stored_lossy`: is the pixel data *as stored* lossy-compressed? Then that compression was the last
  thing done to the pixels (a PACS or gateway compressing on ingest), and it degraded every trace that lives
  in the finest scales. Read from the transfer syntax, and for JPEG 2000, whose UIDs also allow reversible
  coding, from the codestream's own COD marker (wavelet 9-7 is irreversible), so a header that omits or
  misstates Lossy Image Compression does not hide it.
- :func:`lossy_reason`: has the image been lossy-compressed at any point? Also true when the header says so
  (Lossy Image Compression "01", PS3.3 C.7.6.1.1.5), e.g. a secondary capture made from a JPEG file.

Both return a sentence saying why, or None.
"""

from __future__ import annotations

from typing import Any

#: the DCT-based JPEG syntaxes (ISO 10918-1): a quantisation table in every frame
JPEG_DCT_SYNTAXES = {"1.2.840.10008.1.2.4.50": "JPEG Baseline", "1.2.840.10008.1.2.4.51": "JPEG Extended"}
#: transfer syntaxes whose coding is always lossy (PS3.5 / PS3.6)
LOSSY_SYNTAXES = {
    **JPEG_DCT_SYNTAXES,
    "1.2.840.10008.1.2.4.81": "JPEG-LS near-lossless",
    **{f"1.2.840.10008.1.2.4.{n}": "MPEG/HEVC video" for n in range(100, 109)},
    "1.2.840.10008.1.2.4.111": "JPEG XL recompression of a lossy JPEG",
    "1.2.840.10008.1.2.4.112": "JPEG XL",
}
#: JPEG 2000 and HTJ2K syntaxes that may hold reversible or irreversible codestreams
_J2K_EITHER = {"1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.93", "1.2.840.10008.1.2.4.203"}
_SOC, _COD, _SOT = b"\xff\x4f", b"\xff\x52", b"\xff\x90"


def j2k_irreversible(codestream: bytes) -> bool | None:
    """True when a JPEG 2000 codestream uses the irreversible 9-7 wavelet, False for 5-3, None if unreadable.

    The COD marker segment (ITU-T T.800 A.6.1) follows SIZ in the main header: marker, Lcod (2 bytes), Scod,
    SGcod (progression 1, layers 2, component transform 1), then SPcod (levels, code-block width and
    height, code-block style, transformation: 0 = 9-7 irreversible, 1 = 5-3 reversible).
    """
    if not codestream.startswith(_SOC):
        return None
    pos = 2
    while pos + 4 <= len(codestream):  # walk the main header's marker segments (each: marker, length, body)
        marker = codestream[pos:pos + 2]
        if marker == _COD:
            return codestream[pos + 13] == 0 if len(codestream) > pos + 13 else None
        if marker[0] != 0xFF or marker == _SOT:
            return None
        pos += 2 + int.from_bytes(codestream[pos + 2:pos + 4], "big")
    return None


def first_frame(ds: Any) -> bytes | None:
    """The first frame's encapsulated bytes (None for native pixel data or an unreadable fragment table)."""
    from pydicom.encaps import get_frame

    data = ds.get("PixelData")
    if not isinstance(data, (bytes, bytearray)):
        return None
    try:
        return get_frame(data, 0, number_of_frames=int(ds.get("NumberOfFrames", 1) or 1))
    except (ValueError, TypeError, IndexError):
        return None


def wavelet_coded(image: Any) -> bool:
    """Is the pixel data stored as an irreversible (9-7 wavelet) JPEG 2000 codestream? Its dyadic subbands,
    quantised to nothing where the image is smooth and kept where it is not, leave periods of 2, 4 and 8 pixels
    in some places and not in others."""
    if (image.transfer_syntax or "") not in _J2K_EITHER or image.dataset is None:
        return False
    frame = first_frame(image.dataset)
    return frame is not None and bool(j2k_irreversible(frame))


def codec_grid(image: Any) -> str | None:
    """Which codec's 8-pixel grid the stored pixels carry, or None: JPEG's 8 x 8 DCT blocks (a JPEG file, or DICOM
    stored as JPEG baseline or extended) or irreversible JPEG 2000's wavelet levels (periods 2, 4 and 8). Either
    quantises some places to nothing and keeps others, so the grid's periods show in some places only."""
    if image.source_format == "jpeg":
        return "a JPEG file (8 x 8 DCT blocks)"
    ts = image.transfer_syntax or ""
    if ts in JPEG_DCT_SYNTAXES:
        return f"stored as {JPEG_DCT_SYNTAXES[ts]} (8 x 8 DCT blocks)"
    if wavelet_coded(image):
        return "stored as lossy JPEG 2000 (wavelet levels)"
    return None


def stored_lossy(image: Any) -> str | None:
    """Why the image's pixel data as stored is lossy-compressed (the last step applied to it), or None."""
    ts = image.transfer_syntax or ""
    if ts in LOSSY_SYNTAXES:
        return f"stored with a lossy transfer syntax ({LOSSY_SYNTAXES[ts]})"
    if wavelet_coded(image):
        return f"stored lossy-compressed as {image.transfer_syntax_name or 'JPEG 2000'} (irreversible 9-7 wavelet)"
    return None


def lossy_reason(image: Any) -> str | None:
    """Why the image is known to have been lossy-compressed at some point, or None."""
    if reason := stored_lossy(image):
        return reason
    ds = image.dataset
    if ds is not None and str(ds.get("LossyImageCompression", "") or "").strip() == "01":
        return "the header says the image went through lossy compression (LossyImageCompression 01)"
    return None
