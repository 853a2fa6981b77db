"""The one analysis the services run on a received instance: signature first, then the forensic scan.

The gateway and the Orthanc plugin call :meth:`Analyzer.analyze` and nothing else, so what "checked"
means is defined once. The order follows issue 6 ("signatures come first"):

1. PS3.15 signature verification (:func:`radtrust.provenance.verify_file`, imported lazily). A valid
   signature chained to a configured trust anchor gives ``signed-authentic``; a broken one gives
   ``tampered`` with the verifier's reasons.
2. Otherwise the forensic scan (:class:`radtrust.forensics.scanner.Scanner`, imported lazily), whose
   per-instance record (the ``radtrust scan --format jsonl`` contract) supplies score, verdict,
   detector scores, evidence and heatmap.

The result is that scan record plus ``study_instance_uid``, ``signature``
(``{"status": valid|invalid|untrusted|policy-failed|unsigned|not-checked|error, "reasons": [...]}``) and
``credential`` (content credential, issue 4: ``valid|invalid|untrusted|absent|not-checked|error``).
With ``scan=False`` (verification only) an unsigned instance gets the verdict ``unverified``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from radtrust.errors import Error, UsageError, VerificationError

log = logging.getLogger(__name__)

#: Verdicts that make the site's policy (quarantine, flag, reject) apply.
FLAGGED_VERDICTS = frozenset({"suspicious", "tampered", "error"})
SIGNATURE_TAG = 0xFFFAFFFA


def _header(path: Path) -> Any:
    from pydicom import dcmread

    # the Digital Signatures Sequence follows Pixel Data: read to the end, deferring large values
    return dcmread(path, defer_size=4096)


def _signature_status(exc: VerificationError) -> str:
    """Map a verifier failure onto the status words of ``radtrust verify``."""
    status = getattr(getattr(exc, "result", None), "status", None) or getattr(exc, "status", None)
    if isinstance(status, str) and status:
        return status
    text = " ".join([exc.message, *exc.reasons]).lower()
    if "trust" in text or "chain" in text or "self-signed" in text:
        return "untrusted"
    if "policy" in text or "not covered" in text or "coverage" in text:
        return "policy-failed"
    return "invalid"


def _load_anchors(paths: Sequence[str]) -> tuple[list[Any], list[Any]]:
    """Trust anchors (self-issued certificates) and intermediates from the --trust PEM files.

    Without any self-issued certificate, every given certificate is an anchor (trusting an intermediate
    CA is a legitimate configuration).
    """
    from radtrust.provenance.signatures import load_certificates

    certs = [c for p in paths for c in load_certificates(p)]
    roots = [c for c in certs if c.subject == c.issuer]
    if not roots:
        return certs, []
    return roots, [c for c in certs if c.subject != c.issuer]


CREDENTIAL_CREATOR = "RADTRUST CREDENTIAL 1"  # radtrust.provenance.credential.store.PRIVATE_CREATOR


def _has_credential(header: Any) -> bool:
    """A content credential's private block (group 0099) in the file."""
    for elem in header.group_dataset(0x0099) if hasattr(header, "group_dataset") else ():
        if elem.tag.element < 0x100 and str(elem.value).strip() == CREDENTIAL_CREATOR:
            return True
    return False


def provenance_verdict(signature: dict[str, Any], credential: dict[str, Any]) -> tuple[str | None, list[str], bool]:
    """Signatures come first (issue 6): (verdict or None to let the scan decide, evidence, flag a scan verdict).

    A valid trusted PS3.15 signature, or a valid trusted content credential (which survives lossless
    re-encoding that breaks the PS3.15 bytes), gives ``signed-authentic``; a broken one gives ``tampered``.
    An untrusted or policy-failed one lets the scan decide but never below ``suspicious``.
    """
    sig, cred = signature["status"], credential["status"]
    if cred == "invalid":
        changed = ", ".join(credential.get("changed") or []) or "content"
        return "tampered", [f"content credential broken ({changed} changed): {r}" for r in credential["reasons"]], True
    if sig == "valid":
        return "signed-authentic", ["a valid PS3.15 signature from a trusted signer covers the pixels"], False
    if cred == "valid":
        why = ["a valid trusted content credential: pixels and bound metadata unchanged since it was issued"]
        if sig == "invalid":
            why.append("the PS3.15 signature no longer matches the bytes (re-encoded after signing)")
        return "signed-authentic", why, False
    if sig == "invalid":
        return "tampered", [f"signature broken: {r}" for r in signature["reasons"]], True
    evidence = [f"signature {sig}: {r}" for r in signature["reasons"] if sig in ("untrusted", "policy-failed")]
    evidence += [f"content credential {cred}: {r}" for r in credential["reasons"] if cred == "untrusted"]
    return None, evidence, bool(evidence)


class Analyzer:
    """Verify and scan instances; one per service, safe to call from several threads.

    Parameters
    ----------
    trust : CA certificate PEM paths that anchor signature chains. Without any, signatures are
        reported ``not-checked`` (nothing can be trusted) and the scan decides.
    model : optional one-class site model passed to the scanner (issue 7).
    scan : run the forensic scan on instances without a valid signature. ``False`` = verification only.
    fpr : target false-alarm rate of the scanner's threshold.
    """

    def __init__(self, trust: Sequence[str | Path] = (), *, model: str | Path | None = None,
                 scan: bool = True, fpr: float = 0.01) -> None:
        self.trust = [str(p) for p in trust]
        self.model = str(model) if model else None
        self.scan = scan
        self.fpr = fpr
        self._local = threading.local()
        if scan:
            self._scanner()  # fail at start-up, not on the first instance
        self._anchors: tuple[list[Any], list[Any]] = ([], [])
        if self.trust:
            self._verifier()
            self._anchors = _load_anchors(self.trust)

    # -- lazily imported collaborators ---------------------------------------------------------
    def _scanner(self) -> Any:
        scanner = getattr(self._local, "scanner", None)
        if scanner is None:
            try:
                from radtrust.forensics.scanner import Scanner
            except ImportError as exc:
                raise UsageError(f"the forensic scan is not available ({exc}); "
                                 "install radtrust[forensics] or run verification only") from None
            scanner = Scanner(model=self.model, fpr=self.fpr)
            self._local.scanner = scanner
        return scanner

    @staticmethod
    def _verifier() -> Any:
        try:
            from radtrust.provenance.signatures import verify_file
        except ImportError as exc:
            raise UsageError(f"signature verification is not available ({exc})") from None
        return verify_file

    # -- the analysis ----------------------------------------------------------------------------
    def verify(self, path: Path, header: Any) -> dict[str, Any]:
        """Signature status of one file: never raises for a failed check."""
        if SIGNATURE_TAG not in header:
            return {"status": "unsigned", "reasons": []}
        if not self.trust:
            return {"status": "not-checked", "reasons": ["signed, but no trust anchor is configured"]}
        try:
            anchors, intermediates = self._anchors
            self._verifier()(path, trust=anchors, chain=intermediates)
        except VerificationError as exc:
            return {"status": _signature_status(exc), "reasons": list(exc.reasons)}
        return {"status": "valid", "reasons": []}

    def verify_credential(self, path: Path, header: Any) -> dict[str, Any]:
        """Content-credential status (issue 4) of one file: never raises for a failed check."""
        if not _has_credential(header):
            return {"status": "absent", "reasons": []}
        if not self.trust:
            return {"status": "not-checked", "reasons": ["content credential present, but no trust anchor"]}
        try:
            from radtrust.io import read_dataset
            from radtrust.provenance.credential import verify_dataset
        except ImportError as exc:
            return {"status": "not-checked", "reasons": [f"content credentials not available ({exc})"]}
        anchors, intermediates = self._anchors
        try:
            verify_dataset(read_dataset(path), path, trust=list(anchors), intermediates=list(intermediates))
        except VerificationError as exc:
            return {"status": str(getattr(exc, "status", "invalid")), "reasons": list(exc.reasons),
                    "changed": list(getattr(exc, "changed", ()))}
        except Error as exc:
            return {"status": "error", "reasons": [exc.message]}
        return {"status": "valid", "reasons": []}

    def analyze(self, path: str | Path, *, heatmaps_dir: str | Path | None = None) -> dict[str, Any]:
        """Analyse one DICOM file. Raises :class:`~radtrust.errors.Error` for unreadable input."""
        return self.analyze_file(path, heatmaps_dir=heatmaps_dir)[0]

    def analyze_file(self, path: str | Path, *, heatmaps_dir: str | Path | None = None,
                     ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """:meth:`analyze`, with the instance's pixel fingerprint (:func:`radtrust.forensics.same_pixels.fingerprint`)
        when the scan made one, so a pixel memory need not decode the file again; None otherwise."""
        path = Path(path)
        pixels = None
        started = time.perf_counter()
        try:
            header = _header(path)
        except Exception as exc:  # pydicom raises many kinds on garbage
            raise Error(f"not readable as DICOM: {exc}", path) from exc
        signature = self.verify(path, header)
        record: dict[str, Any] = {
            "kind": "instance", "path": str(path),
            "sop_instance_uid": str(header.get("SOPInstanceUID", "")),
            "series_instance_uid": str(header.get("SeriesInstanceUID", "")),
            "study_instance_uid": str(header.get("StudyInstanceUID", "")),
            "modality": str(header.get("Modality", "")),
            "score": 0.0, "verdict": "unverified", "detectors": {}, "evidence": [], "heatmap": None,
        }
        credential = self.verify_credential(path, header)
        decided, evidence, flag = provenance_verdict(signature, credential)
        if decided is not None:
            record.update(verdict=decided, score=1.0 if decided == "tampered" else 0.0, evidence=evidence)
        elif self.scan:
            scanned, pixels = self._scan(path, heatmaps_dir)
            record.update(scanned)
            record["evidence"] = evidence + list(record["evidence"])
            if flag and record["verdict"] == "authentic":
                record["verdict"] = "suspicious"
        else:
            record["evidence"] = evidence
        record["study_instance_uid"] = record.get("study_instance_uid") or str(header.get("StudyInstanceUID", ""))
        record["signature"] = signature
        record["credential"] = credential
        record["elapsed_s"] = round(time.perf_counter() - started, 4)
        return record, pixels

    def _scan(self, path: Path, heatmaps_dir: str | Path | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
        items = list(self._scanner().scan_items([path], heatmaps_dir=heatmaps_dir, fingerprints=True))
        for rec, _ in items:
            if rec.get("kind") == "error":
                raise Error(rec.get("message", "scan failed"), path)
        instances = [(r, extra) for r, extra in items if r.get("kind") == "instance"]
        if not instances:
            raise Error("the scanner returned no result", path)
        rec, extra = instances[0]
        keep = ("score", "verdict", "detectors", "evidence", "heatmap", "modality")
        return {k: rec[k] for k in keep if k in rec}, (extra or {}).get("pixels")
