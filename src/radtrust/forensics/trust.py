"""Signatures come first: the signature / content-credential state of a file before any forensic check.

Issue 6's rule: a valid, trusted PS3.15 digital signature or content credential covering the pixels gives
``signed-authentic``; a broken one gives ``tampered`` with the reason; otherwise the forensic verdict applies.
Verification lives in :mod:`radtrust.provenance` (``signatures.verify_file``, whose default policy requires
Pixel Data to be covered, and ``credential.verify.verify_dataset``), imported lazily so that scanning works
without it. A broken MAC or binding is tampering whoever signed, so integrity is checked even without
``--trust``; only ``signed-authentic`` needs trust anchors.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

from radtrust.errors import Error, VerificationError
from radtrust.forensics.results import NO_SIGNATURE, SignatureStatus

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=8)
def _certificates(paths: tuple[str, ...]) -> tuple[Any, ...]:
    from radtrust.provenance.signatures import load_certificates

    out: list[Any] = []
    for p in paths:
        out.extend(load_certificates(p))
    return tuple(out)


def _ps315(image: Any, certs: list[Any]) -> SignatureStatus | None:
    if not image.signature_count or image.path is None:
        return None
    n = image.signature_count
    try:
        from radtrust.provenance.signatures import verify_file
    except ImportError:
        return SignatureStatus("unverified", f"{n} digital signature(s); provenance library not installed, not verified")
    try:
        verify_file(image.path, trust=certs, chain=certs)
    except VerificationError as exc:
        status = getattr(getattr(exc, "result", None), "status", "invalid")
        reasons = tuple(exc.reasons)
        if status == "invalid":
            return SignatureStatus("broken", f"digital signature broken: {'; '.join(reasons)}", reasons)
        if status == "untrusted" and not certs:
            return SignatureStatus("unverified", f"{n} digital signature(s) intact; signer not checked (give --trust)")
        return SignatureStatus("unverified", f"digital signature {status}: {'; '.join(reasons)}", reasons)
    except Error as exc:
        return SignatureStatus("unverified", f"digital signature could not be checked: {exc.message}")
    return SignatureStatus("valid", "valid trusted PS3.15 signature covering the pixels")


def _credential(image: Any, certs: list[Any]) -> SignatureStatus | None:
    if image.dataset is None:
        return None
    try:
        from radtrust.provenance.credential.verify import CredentialError, verify_dataset
    except ImportError:
        return None
    try:
        result = verify_dataset(image.dataset, image.path, trust=certs or None)
    except CredentialError as exc:
        if exc.status == "absent":
            return None
        reasons = tuple(exc.reasons)
        if exc.status == "invalid":
            return SignatureStatus("broken", f"content credential broken: {'; '.join(reasons)}", reasons)
        return SignatureStatus("unverified", f"content credential {exc.status}: {'; '.join(reasons)}", reasons)
    except Error as exc:
        return SignatureStatus("unverified", f"content credential could not be checked: {exc.message}")
    if not getattr(result, "trusted", True) or not certs:
        return SignatureStatus("unverified", "content credential intact; signer not checked (give --trust)")
    return SignatureStatus("valid", f"valid trusted content credential ({getattr(result, 'summary', '')})")


def signature_status(image: Any, trust: Sequence[str] | None) -> SignatureStatus:
    """Decide the signature state of one image; a failed signature is a result here, never an exception."""
    try:
        certs = list(_certificates(tuple(trust))) if trust else []
    except ImportError:
        certs = []
    found = [s for s in (_ps315(image, certs), _credential(image, certs)) if s is not None]
    if not found:
        return NO_SIGNATURE
    for state in ("broken", "valid", "unverified"):
        picked = [s for s in found if s.state == state]
        if picked:
            detail = "; ".join(s.detail for s in picked)
            return SignatureStatus(state, detail, tuple(r for s in picked for r in s.reasons))
    return NO_SIGNATURE
