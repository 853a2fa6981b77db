"""Marking an image as DERIVED (PS3.3 C.7.6.1.1.2-3): new SOP Instance UID, reference to its source."""

from __future__ import annotations

from typing import Any


def mark_derived(ds: Any, description: str) -> str:
    """Give ``ds`` a new SOP Instance UID, ImageType DERIVED, a Derivation Description and a Source
    Image Sequence pointing to the original; returns the original SOP Instance UID."""
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    original = str(ds.get("SOPInstanceUID", ""))
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.get("SOPClassUID", "")
    ref.ReferencedSOPInstanceUID = original
    ds.SourceImageSequence = [ref]
    image_type = [str(v) for v in ds.get("ImageType", [])] or ["ORIGINAL", "PRIMARY"]
    ds.ImageType = ["DERIVED", *image_type[1:]]
    previous = str(ds.get("DerivationDescription", "")).strip()
    ds.DerivationDescription = (previous + "; " if previous else "") + description
    ds.SOPInstanceUID = generate_uid()
    if getattr(ds, "file_meta", None) is not None:
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return original
