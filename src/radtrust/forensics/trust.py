"""Signatures come first: the signature / content-credential state of a file before any forensic check.

Issue 6's rule: a valid, trusted PS3.15 digital signature (or content credential) covering the pixels gives
``signed-authentic``; a broken one gives ``tampered`` with the reason; otherwise the forensic verdict applies.
Verification itself lives in :mod:`radtrust.provenance` (issues 3 and 4), imported lazily so that scanning
works without it; when it is absent, signatures are reported as present but unverified.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from radtrust.errors import Error, VerificationError
from radtrust.forensics.results import NO_SIGNATURE, SignatureStatus

log = logging.getLogger(__name__)


def _provenance_verifier() -> Any | None:
    try:
        module = importlib.import_module("radtrust.provenance")
    except ImportError:
        return None
    return getattr(module, "verify_file", None)


def _credential_present(path: Path | None) -> bool:
    """A content-credential sidecar beside the file (``<file>.c2pa`` or ``<file>.cose``)."""
    if path is None:
        return False
    return any(path.with_name(path.name + ext).exists() for ext in (".c2pa", ".cose"))


def _call(verify: Any, path: Path, trust: Sequence[str]) -> Any:
    """Call ``verify_file`` with the trust anchors under whichever keyword its signature uses."""
    try:
        params = inspect.signature(verify).parameters
    except (TypeError, ValueError):
        params = {}
    for key in ("trust", "trusted", "ca", "cas", "trust_anchors", "ca_files", "anchors"):
        if key in params:
            return verify(path, **{key: list(trust)})
    return verify(path, list(trust))


def signature_status(path: Path | None, signature_count: int, trust: Sequence[str] | None) -> SignatureStatus:
    """Decide the signature state of one file; never raises for a failed signature (it is a result here)."""
    credential = _credential_present(path)
    if signature_count == 0 and not credential:
        return NO_SIGNATURE
    what = (f"{signature_count} digital signature(s)" if signature_count else "a content credential")
    if not trust:
        return SignatureStatus("unverified", f"{what} present, not verified (give --trust CA_PEM to check it)")
    verify = _provenance_verifier()
    if verify is None or path is None:
        return SignatureStatus("unverified", f"{what} present; the provenance library is not installed, not verified")
    try:
        result = _call(verify, path, trust)
    except VerificationError as exc:
        reasons = tuple(exc.reasons)
        return SignatureStatus("broken", f"signature check failed: {'; '.join(reasons)}", reasons)
    except Error as exc:
        return SignatureStatus("unverified", f"{what} present, could not be checked: {exc.message}")
    covers = getattr(result, "covers_pixels", True)
    if covers is False:
        return SignatureStatus("unverified", f"{what} valid but does not cover the pixel data")
    signer = getattr(result, "signer", None) or getattr(result, "subject", None)
    return SignatureStatus("valid", "valid trusted signature covering the pixels" + (f" (signer {signer})" if signer else ""))
