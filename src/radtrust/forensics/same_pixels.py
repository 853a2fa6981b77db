"""The same pixels under another name: an image filed again for another patient, or with other dates or acquisition
parameters, whatever its UIDs became.

Two acquisitions never give the same pixels: the quantum noise differs in every pixel. An image whose decoded pixels
(in modality units) are identical to another's is a copy of it, however it is named, and two records of one
acquisition must agree on who was imaged, when and how. :mod:`.copies` pairs copies that kept their SOPInstanceUID
or their place (frame of reference, position, orientation); a copy re-filed under another patient with every UID
generated anew (an identity swap meant to last, or images moved to the wrong patient) keeps neither. Nothing in
either file alone contradicts it, so no detector can see it; an archive that holds both can.

The workers return a fingerprint of each instance with a header: the SHA-256 of its pixels (float32 modality
values) and 8 bytes of a SHA-256 of each attribute of :data:`COMPARED` (values are never kept or printed).
:class:`PixelIndex` sees the instances in task order (serial and parallel scans agree) and tells a later instance
whose pixels equal an earlier one's under another SOPInstanceUID with any of those attributes different; the earlier
record is already written. Not told: a copy that agrees on all of them (a copy, which :mod:`.copies` reports where
it can place it), the patient, the dates and the device serial number when either file records a de-identification
(a research export carries the pixels under another identity, without the serial and with shifted dates by design;
its acquisition parameters are still compared), images with fewer than :data:`MIN_VALUES` distinct values in a sparse
sample (blank frames and masks repeat by construction), and pairs the task's own comparison of copies already
named. A resumed scan compares only what it analyses. Memory: a few hundred bytes per instance.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from radtrust.forensics.copies import PATIENT, _deidentified, _value

MIN_VALUES = 16
#: what two records of one acquisition must agree on: who, when it was acquired, and how. Not the UIDs, the series'
#: own date and time, the content date and time or the geometry, which a copy filed as a new series may change.
WHEN = ("StudyDate", "StudyTime", "AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime", "PatientAge")
COMPARED = (*PATIENT, *WHEN, "Modality", "Manufacturer", "ManufacturerModelName", "DeviceSerialNumber", "KVP",
            "XRayTubeCurrent", "ExposureTime", "Exposure", "ExposureInuAs", "ConvolutionKernel", "SliceThickness",
            "PixelSpacing", "ImagerPixelSpacing", "BodyPartExamined", "ViewPosition", "ImageLaterality",
            "ExposureIndex", "CTDIvol")
#: what a de-identification removes or shifts (PS3.15 Annex E basic profile) and is not compared when a file records one
DEIDENTIFIED = (*PATIENT, *WHEN, "DeviceSerialNumber")
_H = 8  # bytes of SHA-256 kept per attribute


def fingerprint(image: Any) -> dict[str, Any] | None:
    """An instance's pixel hash and attribute hashes (picklable), or None when its pixels cannot tell it apart."""
    ds = getattr(image, "dataset", None)
    if ds is None:
        return None
    pixels = np.ascontiguousarray(image.pixels, dtype=np.float32)
    if np.unique(pixels[..., ::7, ::7]).size < MIN_VALUES:
        return None
    header = b"".join(hashlib.sha256(_value(ds, k).encode("utf-8", "replace")).digest()[:_H] for k in COMPARED)
    return {"sha256": hashlib.sha256(pixels.tobytes()).digest(), "shape": pixels.shape, "header": header,
            "deidentified": _deidentified(ds)}


@dataclass
class _Entry:
    path: str
    sop: str | None
    header: bytes  # _H bytes of SHA-256 per attribute of COMPARED, in order
    deidentified: bool


@dataclass
class PixelIndex:
    """Every fingerprinted instance seen so far, by pixel hash."""

    seen: dict[tuple[bytes, tuple[int, ...]], list[_Entry]] = field(default_factory=dict)

    def check(self, rec: dict[str, Any], fp: dict[str, Any]) -> bool:
        """Add the note to ``rec`` when its pixels were seen under another SOPInstanceUID with other attributes; True if
        so. Then remember it."""
        key = (fp["sha256"], tuple(fp["shape"]))
        found = False
        for earlier in self.seen.get(key, []):
            if earlier.sop == rec.get("sop_instance_uid"):
                continue
            skip = DEIDENTIFIED if earlier.deidentified or fp["deidentified"] else ()
            differ = [k for i, k in enumerate(COMPARED)
                      if k not in skip and earlier.header[_H * i:_H * (i + 1)] != fp["header"][_H * i:_H * (i + 1)]]
            if not differ or any(earlier.path in line for line in rec.get("evidence", [])):
                continue
            who = "under another patient, " if set(differ) & set(PATIENT) else ""
            rec["evidence"] = [
                f"copies: {earlier.path} holds exactly these pixels {who}with other {', '.join(differ)} (SOPInstanceUID "
                f"{earlier.sop}, scanned earlier): two acquisitions never share their noise, so one of the two records "
                "was altered or filed again under another identity", *rec.get("evidence", [])]
            found = True
            break
        self.seen.setdefault(key, []).append(
            _Entry(rec.get("path", ""), rec.get("sop_instance_uid"), fp["header"], fp["deidentified"]))
        return found
