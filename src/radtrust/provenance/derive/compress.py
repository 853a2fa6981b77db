"""Lossy compression (JPEG 2000 irreversible, ISO 15444-1) through pydicom + pylibjpeg-openjpeg.

Pixel values change, so the binding of the acquisition no longer matches. The derived image gets a new
SOP Instance UID (PS3.3 C.7.6.1.1.5: lossy compression makes a new instance), Lossy Image Compression
"01", its ratio and method, and a credential that says plainly that pixels changed, by whom and how.
"""

from __future__ import annotations

from typing import Any

from radtrust.errors import UsageError
from radtrust.io.lossy import record_lossy_step
from radtrust.provenance.derive.derived import mark_derived

JPEG2000 = "1.2.840.10008.1.2.4.91"
MAX_RATIO = 1000.0  # beyond this the "image" is a few header bytes


def check_ratio(ratio: float) -> float:
    """``ratio`` if it is a usable target compression ratio (above 1, at most :data:`MAX_RATIO`), else UsageError."""
    if not (1 < ratio <= MAX_RATIO):  # also refuses nan
        raise UsageError(f"the compression ratio must be above 1 and at most {MAX_RATIO:g}, not {ratio:g}")
    return ratio


def compress(ds: Any, *, ratio: float = 10.0) -> dict[str, Any]:
    from pydicom.uid import UID

    check_ratio(ratio)
    before = str(ds.file_meta.TransferSyntaxUID)
    if UID(before).is_compressed:
        ds.decompress(generate_instance_uid=False)
    raw = len(ds.PixelData)
    source = mark_derived(ds, f"Lossy JPEG 2000 compression, target ratio {ratio:g}:1")
    ds.compress(UID(JPEG2000), j2k_cr=[ratio], generate_instance_uid=False)
    actual = record_lossy_step(ds, raw)
    return {"method": "ISO_15444_1", "target_ratio": ratio, "ratio": round(actual, 3), "from": before,
            "to": JPEG2000, "source": source}
