"""Lossless transcoding through pydicom's encoders (RLE, JPEG-LS, JPEG 2000 via pylibjpeg/pyjpegls).

Pixel values and bound attributes stay identical, so the content binding is unchanged and the new
credential records only *how* the bytes were re-encoded. A PS3.15 signature cannot survive this step.
"""

from __future__ import annotations

from typing import Any

# CLI name -> (transfer syntax UID, whether the pixel data is encapsulated)
TARGETS: dict[str, tuple[str, bool]] = {
    "explicit-le": ("1.2.840.10008.1.2.1", False),
    "implicit-le": ("1.2.840.10008.1.2", False),
    "deflate": ("1.2.840.10008.1.2.1.99", False),
    "rle": ("1.2.840.10008.1.2.5", True),
    "jpeg-ls": ("1.2.840.10008.1.2.4.80", True),
    "j2k": ("1.2.840.10008.1.2.4.90", True),
}


def transcode(ds: Any, *, target: str) -> dict[str, Any]:
    """Re-encode ``ds`` in place to the lossless transfer syntax named ``target``."""
    from pydicom.uid import UID

    if target not in TARGETS:
        raise ValueError(f"unknown transcode target {target!r} (one of {', '.join(TARGETS)})")
    uid, encapsulated = TARGETS[target]
    before = str(ds.file_meta.TransferSyntaxUID)
    if UID(before).is_compressed:
        ds.decompress(generate_instance_uid=False)
    if encapsulated:
        ds.compress(UID(uid), generate_instance_uid=False)
    else:
        ds.file_meta.TransferSyntaxUID = UID(uid)
    return {"from": before, "to": uid, "target": target, "lossless": True}
