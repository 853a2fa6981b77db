"""The same pixels under another patient: an image filed again for someone else, whatever its UIDs became.

Two acquisitions never give the same pixels: the quantum noise differs in every pixel. An image whose decoded pixels
(in modality units) are identical to another's is a copy of it, however it is named. :mod:`.copies` pairs copies
that kept their SOPInstanceUID or their place (frame of reference, position, orientation); a copy re-filed under
another patient with every UID generated anew (what an identity swap that means to last looks like, and what
moving images to the wrong patient in some workstations leaves) keeps neither. Nothing in either file alone
contradicts it, so no detector can see it; an archive that holds both can.

The workers return a fingerprint of each instance with a header: the SHA-256 of its pixels (float32 modality
values) and a short hash of each patient attribute (:data:`~radtrust.forensics.copies.PATIENT`; values are never
kept or printed). :class:`PixelIndex` sees the instances in task order (serial and parallel scans agree) and
tells a later instance whose pixels equal an earlier one's under another SOPInstanceUID and other patient
attributes; the earlier record is already written. Not told: a copy for the same patient (a copy, which
:mod:`.copies` reports where it can place it), a pair where either file records a de-identification (a research
export is meant to carry the pixels under another identity), images with fewer than :data:`MIN_VALUES` distinct
values in a sparse sample (blank frames and masks repeat by construction), and pairs the task's own comparison of
copies already named. A resumed scan compares only what it analyses. Memory: about 200 bytes per instance.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from radtrust.forensics.copies import PATIENT, _deidentified, _value

MIN_VALUES = 16


def fingerprint(image: Any) -> dict[str, Any] | None:
    """An instance's pixel hash and patient attribute hashes (picklable), or None when it cannot be told apart."""
    ds = getattr(image, "dataset", None)
    if ds is None:
        return None
    pixels = np.ascontiguousarray(image.pixels, dtype=np.float32)
    if np.unique(pixels[..., ::7, ::7]).size < MIN_VALUES:
        return None
    patient = b"".join(hashlib.sha256(_value(ds, k).encode("utf-8", "replace")).digest()[:8] for k in PATIENT)
    return {"sha256": hashlib.sha256(pixels.tobytes()).digest(), "shape": pixels.shape, "patient": patient,
            "deidentified": _deidentified(ds)}


@dataclass
class _Entry:
    path: str
    sop: str | None
    patient: bytes  # 8 bytes of SHA-256 per attribute of PATIENT, in order
    deidentified: bool


@dataclass
class PixelIndex:
    """Every fingerprinted instance seen so far, by pixel hash."""

    seen: dict[tuple[bytes, tuple[int, ...]], list[_Entry]] = field(default_factory=dict)

    def check(self, rec: dict[str, Any], fp: dict[str, Any]) -> bool:
        """Add the note to ``rec`` when its pixels were seen under another patient; True if so. Then remember it."""
        key = (fp["sha256"], tuple(fp["shape"]))
        found = False
        for earlier in self.seen.get(key, []):
            if earlier.sop == rec.get("sop_instance_uid") or earlier.deidentified or fp["deidentified"]:
                continue
            differ = [k for i, k in enumerate(PATIENT) if earlier.patient[8 * i:8 * i + 8] != fp["patient"][8 * i:8 * i + 8]]
            if not differ or any(earlier.path in line for line in rec.get("evidence", [])):
                continue
            rec["evidence"] = [
                f"copies: {earlier.path} holds exactly these pixels under another patient ({', '.join(differ)} "
                f"differ; SOPInstanceUID {earlier.sop}, scanned earlier): two acquisitions never share their noise, "
                "so one image was filed again under another identity", *rec.get("evidence", [])]
            found = True
            break
        self.seen.setdefault(key, []).append(
            _Entry(rec.get("path", ""), rec.get("sop_instance_uid"), fp["patient"], fp["deidentified"]))
        return found
