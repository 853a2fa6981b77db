"""What a scan returns: per-instance and per-series results, and their JSON-lines records.

The records are the `radtrust scan --format jsonl` contract (issue 6); other tools (bench, gateway,
Orthanc plugin) parse them, so field names and meanings stay stable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from radtrust.forensics.copies import CopyFinding

VERDICTS = ("authentic", "suspicious", "tampered", "signed-authentic", "error")
FLAGGED = frozenset({"suspicious", "tampered"})
_SEVERITY = {"authentic": 0, "signed-authentic": 0, "suspicious": 1, "tampered": 2, "error": 3}


def worst(verdicts: list[str]) -> str:
    """The most severe verdict of several (error > tampered > suspicious > authentic)."""
    if not verdicts:
        return "authentic"
    if all(v == "signed-authentic" for v in verdicts):
        return "signed-authentic"
    return max(verdicts, key=lambda v: _SEVERITY[v])


@dataclass(frozen=True)
class SignatureStatus:
    """Signature / content-credential state of one file, decided before any forensic check.

    ``state``: ``none`` (nothing to check), ``valid`` (trusted, covers the pixels), ``broken`` (a signature
    or credential that does not verify), ``unverified`` (present but not checked: no trust anchors or no
    provenance library). ``detail`` is a sentence for the report.
    """

    state: str
    detail: str
    reasons: tuple[str, ...] = ()


NO_SIGNATURE = SignatureStatus("none", "no digital signature or content credential")


def _rounded(scores: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in sorted(scores.items()) if v is not None and math.isfinite(v)}


@dataclass(eq=False)
class InstanceResult:
    """The verdict on one image (one instance of a series, or a stand-alone image)."""

    path: Path | None
    sop_instance_uid: str | None
    series_instance_uid: str | None
    modality: str | None
    score: float
    verdict: str
    detectors: dict[str, float]
    evidence: list[str]
    heatmap: np.ndarray | None = None
    signature: SignatureStatus = NO_SIGNATURE
    notes: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return self.verdict in FLAGGED

    def heatmap_name(self) -> str:
        """File name of this instance's heatmap: ``<SOPInstanceUID>.npy`` (the file stem without a UID)."""
        base = self.sop_instance_uid or (self.path.name if self.path else "image")
        safe = "".join(c if c.isalnum() or c in ".-_" else "_" for c in base)
        return f"{safe}.npy"

    def record(self, heatmap_path: str | None = None) -> dict[str, Any]:
        return {
            "kind": "instance",
            "path": str(self.path) if self.path is not None else None,
            "sop_instance_uid": self.sop_instance_uid,
            "series_instance_uid": self.series_instance_uid,
            "modality": self.modality,
            "score": round(float(self.score), 6),
            "verdict": self.verdict,
            "detectors": _rounded(self.detectors),
            "evidence": list(self.evidence),
            "heatmap": heatmap_path,
        }


@dataclass(eq=False)
class SeriesResult:
    """The verdict on a series analysed as a whole (3D evidence included)."""

    series_instance_uid: str | None
    modality: str | None
    instances: int
    score: float
    verdict: str
    detectors: dict[str, float]
    evidence: list[str]
    suspicious_instances: list[str]
    heatmap: np.ndarray | None = None

    def record(self) -> dict[str, Any]:
        return {
            "kind": "series",
            "series_instance_uid": self.series_instance_uid,
            "modality": self.modality,
            "instances": self.instances,
            "score": round(float(self.score), 6),
            "verdict": self.verdict,
            "detectors": _rounded(self.detectors),
            "evidence": list(self.evidence),
            "suspicious_instances": list(self.suspicious_instances),
        }


@dataclass(eq=False)
class SeriesTally:
    """What a series record needs of its instances' results, kept instead of the results themselves when a long
    series is scanned slab by slab (:mod:`radtrust.forensics.slabs`)."""

    scores: list[float] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)  # SOPInstanceUID, else path, of flagged instances
    altered: int = 0  # instances that differ from another copy of themselves

    def add(self, res: InstanceResult, copy: CopyFinding | None = None) -> None:
        self.scores.append(float(res.score))
        self.verdicts.append(res.verdict)
        if res.verdict in FLAGGED:
            self.flagged.append(res.sop_instance_uid or str(res.path))
        if copy is not None and copy.altered:
            self.altered += 1


def error_record(path: str | None, message: str) -> dict[str, Any]:
    return {"kind": "error", "path": path, "message": message}
