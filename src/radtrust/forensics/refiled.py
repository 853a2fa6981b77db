"""Copies across scan tasks: a slice filed again, under new UIDs, in a series too long to share its original's task.

:mod:`radtrust.forensics.copies` compares the images of one task, and the planner
(:func:`radtrust.forensics.planning.plan`) puts a series and a small series with slices at the same places in one
task. Two series that together hold more files than a task analyses whole stay apart: an edited series exported
again in full, say. For those the planner knows which places (frame of reference, position, orientation, matrix)
occur in more than one task; the workers return a digest of the instances there (:mod:`radtrust.forensics.digest`:
a SHA-256 of the pixels and their 16 x 16 block means), and :class:`CrossTask` compares each such instance, in task
order, with the instances at its place in earlier tasks. Serial and parallel scans meet them in the same order, so
they say the same. Only the later record can carry the note: the earlier one is already written; and a resumed
scan (``--resume``) compares only what this run analyses, not the series its journal already held.

What is said is what the comparison of copies says, at block resolution: the same pixels under another UID (a copy,
not an alteration) or most blocks the same and some changed, named to the block (one of the two was altered; with
``--copies flag`` an authentic verdict becomes suspicious, and so does its series). Two acquisitions or
reconstructions at one place change every block mean and are not paired.

:class:`CrossTask` also holds the scan's :class:`~radtrust.forensics.same_pixels.PixelIndex`, which compares every
instance wherever it lies and its header too; it speaks first, and a pair it has told is not told again here (the
same pixels under another patient are not "a copy, not an alteration").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from radtrust.forensics._scanwork import Items
from radtrust.forensics.digest import same_image
from radtrust.forensics.planning import Place
from radtrust.forensics.same_pixels import PixelIndex


@dataclass
class _Seen:
    path: str
    sop: str | None
    series: str | None
    digest: dict[str, Any]


@dataclass
class CrossTask:
    """Compares instances at shared places across tasks. ``flag``: raise an authentic verdict over ``threshold``
    when an alteration is found (``--copies flag``); otherwise the evidence only."""

    flag: bool
    threshold: float
    seen: dict[Place, list[_Seen]] = field(default_factory=dict)
    pixels: PixelIndex = field(default_factory=PixelIndex)  # the same pixels under another patient, any place
    keep_pixels: bool = False  # leave each instance's fingerprint in its extras (for a service's own pixel memory)

    def amend(self, items: Items) -> Items:
        """The task's items with each instance that differs from an earlier copy told so (and its series), the
        digests (and, unless ``keep_pixels``, the fingerprints) taken out of the extras."""
        altered: dict[str | None, list[str]] = {}
        out: Items = []
        for rec, extra in items:
            if extra and ("digest" in extra or "pixels" in extra):
                extra = dict(extra)
                found = False
                # the pixel index first: it also compares the headers, which the digest comparison does not
                fp = extra.get("pixels") if self.keep_pixels else extra.pop("pixels", None)
                if fp is not None and self.pixels.check(rec, fp):
                    found = True
                    self._raise(rec)
                if "digest" in extra:
                    place, digest = extra.pop("place"), extra.pop("digest")
                    found = self._compare(rec, place, digest) or found
                    self.seen.setdefault(place, []).append(
                        _Seen(rec["path"], rec.get("sop_instance_uid"), rec.get("series_instance_uid"), digest))
                if found:
                    altered.setdefault(rec.get("series_instance_uid"), []).append(rec.get("sop_instance_uid") or "")
                extra = extra or None
            elif rec.get("kind") == "series" and altered.get(rec.get("series_instance_uid")):
                rec = self._series(rec, altered[rec.get("series_instance_uid")])
            out.append((rec, extra))
        return out

    def _compare(self, rec: dict[str, Any], place: Place, digest: dict[str, Any]) -> bool:
        found = False
        for earlier in self.seen.get(place, []):
            if earlier.sop == rec.get("sop_instance_uid") or earlier.series == rec.get("series_instance_uid"):
                continue  # one instance twice, or one series: the task's own comparison of copies
            if any(earlier.path in line for line in rec["evidence"]):
                continue  # already told by the pixel index (the same pixels under another patient, say)
            relation = same_image(earlier.digest, digest)
            if relation is None:
                continue
            what, changed = relation
            where = (f"copies: {earlier.path} is this image under another SOPInstanceUID ({earlier.sop} in series "
                     f"{earlier.series}, scanned earlier: same frame of reference, position and orientation")
            if not changed:
                rec["evidence"] = [f"{where}, {what}): a copy, not an alteration", *rec["evidence"]]
                continue
            note = (f"{where}, the same pixels in most of the image) but differs: pixels: {what}; one of the two was "
                    "altered")
            rec["evidence"] = [note, *rec["evidence"]]
            found = True
            self._raise(rec)
        return found

    def _raise(self, rec: dict[str, Any]) -> None:
        """With ``--copies flag``, an authentic verdict becomes suspicious (its score just over the threshold)."""
        if self.flag and rec.get("verdict") == "authentic":
            rec["verdict"] = "suspicious"
            over = math.ceil(float(np.nextafter(self.threshold, 1.0)) * 1e6) / 1e6  # records keep 6 decimals
            rec["score"] = max(float(rec.get("score") or 0.0), over)

    def _series(self, rec: dict[str, Any], sops: list[str]) -> dict[str, Any]:
        rec = dict(rec)
        note = (f"copies: {len(sops)} instance(s) differ from a copy of themselves scanned earlier (one of each pair "
                "was altered or filed again under another patient)")
        rec["evidence"] = [*rec["evidence"], note]
        if self.flag:
            if rec.get("verdict") == "authentic":
                rec["verdict"] = "suspicious"
            rec["suspicious_instances"] = [*rec.get("suspicious_instances", []),
                                           *(s for s in sops if s not in rec.get("suspicious_instances", []))]
        return rec
