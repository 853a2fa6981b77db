"""An instance received again with other bytes: compared with what the gateway still has of the earlier copy.

A modality may send an instance twice (a retry in another transfer syntax, a re-send after a fix at the
console), and a copy edited on the way arrives the same way. While the earlier copy is spooled, the two files are
compared (:mod:`radtrust.forensics.copies`); after its study was reported and its file deleted, the copy is
compared with the digest kept of it (:mod:`radtrust.forensics.digest`) and its header (kept in the queue). A
re-encoding (the same pixels and header) or a conversion of the whole image is noted and not flagged; pixels
that differ in a region, or a changed patient, date or acquisition parameter, are named and flagged. With
nothing left to compare (an earlier copy that is neither spooled nor digested), other bytes under the same UID
are flagged, as a re-encoding cannot be told from an edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

SAME = "this SOP Instance UID was received before in another encoding: the same pixels and header"
UNSEEN = "this SOP Instance UID was received before with different content (no earlier copy left to compare)"


@dataclass(frozen=True)
class Earlier:
    """What the queue has of an earlier copy: its spool path (the file may be gone), digest and header (JSON)."""

    path: str
    digest: dict[str, Any] | None = None
    header: dict[str, Any] | None = None


def compare_with_earlier(path: str, earlier: list[Earlier]) -> tuple[list[str], bool]:
    """(evidence, whether one of the copies was altered) for the instance at ``path`` against earlier copies."""
    from pydicom.dataset import Dataset

    from radtrust.forensics.copies import compare_copies
    from radtrust.forensics.digest import compare_with_digest
    from radtrust.io import load_image

    kept = [e.path for e in earlier if Path(e.path).exists()]
    remembered = [e for e in earlier if not Path(e.path).exists() and e.digest and "error" not in e.digest]
    if not kept and not remembered:
        return [UNSEEN], True
    try:
        images = [load_image(path)] + [load_image(p) for p in kept]
        headers = [Dataset.from_json(e.header) if e.header else None for e in remembered]
    except Exception as exc:  # noqa: BLE001 - an unreadable copy cannot clear the new one
        return [f"this SOP Instance UID was received before with different content (not compared: {exc})"], True
    notes: list[str] = []
    altered = False
    if kept:
        found = compare_copies(images).get(0)
        if found is None:
            notes.append(SAME)
        else:
            notes.extend(found.evidence)
            altered = found.altered
    for e, header in zip(remembered, headers, strict=True):
        what, changed = compare_with_digest(images[0], e.digest or {}, header)
        known = "pixels and header" if header is not None else "pixels (no header kept)"
        if what is None:
            notes.append(f"{SAME} (compared with the digest of the copy forwarded earlier: its {known})")
        else:
            verdict = "one of the two was altered" if changed else "not an alteration"
            notes.append(f"copies: this SOP Instance UID was forwarded earlier with other content (compared with "
                         f"the digest of its {known}): {what}; {verdict}")
        altered = altered or changed
    return notes, altered
