"""Verifying a content credential. Fails closed: a result only when everything holds.

Order of checks: the bundle is present and well-formed; the current COSE_Sign1 verifies with its
signer certificate; the binding matches the pixels and bound attributes in hand (else the changed
frames and attributes are named); every ancestor verifies and every hash link holds; every signer's
chain reaches a trust anchor (else the status is ``untrusted``, not ``invalid``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from radtrust.errors import Error, VerificationError
from radtrust.provenance.credential import store
from radtrust.provenance.credential.binding import compare_binding
from radtrust.provenance.credential.custody import Chain, walk
from radtrust.provenance.credential.store import Bundle
from radtrust.provenance.credential.trust import validate_chain
from radtrust.provenance.signatures.timestamp import verify_token

VALID, INVALID, UNTRUSTED, ABSENT = "valid", "invalid", "untrusted", "absent"


class CredentialError(VerificationError):
    """The credential is absent, invalid or untrusted; ``status``, ``changed`` and ``history`` say how."""

    def __init__(self, status: str, message: str, path: str | os.PathLike[str] | None, reasons: list[str],
                 changed: tuple[str, ...] = (), chain: Chain | None = None, frames: tuple[bytes, ...] = ()) -> None:
        super().__init__(message, path, reasons)
        self.status = status
        self.changed = tuple(changed)
        self.chain = chain
        self.frames = tuple(frames)  # frame digests of the pixels in hand (when they were computed)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "changed": list(self.changed), "reasons": list(self.reasons),
                "history": [s.to_json() for s in self.chain.steps] if self.chain else []}


@dataclass(frozen=True)
class CredentialResult:
    """A credential that verified: its walked chain and the one-line summary."""

    path: str | None
    chain: Chain
    summary: str
    trusted: bool = True  # False only when verified with trust=None (integrity only)

    @property
    def status(self) -> str:
        return VALID

    def to_json(self) -> dict[str, Any]:
        return {"status": VALID, "changed": [], "reasons": [], "summary": self.summary,
                "history": [s.to_json() for s in self.chain.steps]}


def find_bundle(ds: Any, path: str | os.PathLike[str] | None) -> Bundle | None:
    """The bundle in the file, else in a sidecar next to it; ValueError when garbled."""
    bundle = store.extract(ds)
    if bundle is None and path is not None:
        bundle = store.read_sidecar(path)
    return bundle


def verify_dataset(ds: Any, path: str | os.PathLike[str] | None, *, trust: list[x509.Certificate] | None,
                   at: datetime | None = None, bundle: Bundle | None = None, require_acquisition: bool = False,
                   crls: list[x509.CertificateRevocationList] | None = None,
                   intermediates: list[x509.Certificate] | None = None) -> CredentialResult:
    """Verify the credential of one dataset; raise :class:`CredentialError` unless it is valid and trusted.

    ``trust=None`` checks integrity only (binding, signatures, hash links) and skips certificate trust;
    ``radtrust derive`` uses it to refuse a tampered parent. Verifiers always pass anchors.
    """
    where = str(path) if path is not None else None
    try:
        bundle = bundle or find_bundle(ds, path)
    except ValueError as exc:
        raise CredentialError(INVALID, f"content credential unreadable: {exc}", where, [str(exc)]) from None
    if bundle is None:
        raise CredentialError(ABSENT, "no content credential", where, ["no content credential in the file"])
    try:
        chain = walk(bundle)
    except ValueError as exc:
        raise CredentialError(INVALID, f"content credential invalid: {exc}", where, [str(exc)]) from None
    try:
        comparison = compare_binding(chain.current.manifest.binding, ds, path)
    except Error as exc:  # no or undecodable pixel data: the binding cannot hold
        raise CredentialError(INVALID, f"content credential invalid: cannot recompute the binding: {exc.message}",
                              where, [f"cannot recompute the binding: {exc.message}"], chain=chain) from None
    reasons: list[str] = []
    if not comparison.ok:
        reasons.append("changed since the credential was issued: " + ", ".join(comparison.changed))
    reasons.extend(chain.problems)
    if require_acquisition and chain.acquisition is None:
        reasons.append(f"history does not reach an acquisition credential (first step: "
                       f"'{chain.steps[0].manifest.action.action}')")
    if reasons:
        raise CredentialError(INVALID, "content credential invalid: " + "; ".join(reasons), where, reasons,
                              changed=comparison.changed, chain=chain, frames=comparison.current.frames)
    untrusted: list[str] = []
    for step in chain.steps if trust is not None else ():
        when = at
        if step.opened.timestamp_token is not None:
            try:
                when = verify_token(step.opened.timestamp_token, step.opened.signature, trust,
                                    chain=intermediates or (), crls=crls or ()).time
            except VerificationError as exc:
                untrusted.append(f"'{step.manifest.action.action}' timestamp: {exc.message}")
                continue
        try:
            validate_chain(step.opened.chain, trust, at=when, crls=crls, intermediates=intermediates, where=where)
        except VerificationError as exc:
            untrusted.append(f"'{step.manifest.action.action}' signer {step.signer}: {exc.reasons[0]}")
    if untrusted:
        raise CredentialError(UNTRUSTED, "content credential untrusted: " + "; ".join(untrusted), where,
                              untrusted, chain=chain)
    return CredentialResult(path=where, chain=chain, summary=chain.summary(), trusted=trust is not None)


def verify_file(path: str | os.PathLike[str], *, trust: list[x509.Certificate] | None, at: datetime | None = None,
                require_acquisition: bool = False,
                crls: list[x509.CertificateRevocationList] | None = None) -> CredentialResult:
    """Read a DICOM file (strictly, through radtrust.io) and verify its credential."""
    from radtrust.io import read_dataset

    ds = read_dataset(path)
    return verify_dataset(ds, Path(path), trust=trust, at=at, require_acquisition=require_acquisition,
                          crls=crls)


def report(ds: Any, path: str | os.PathLike[str] | None, **kwargs: Any) -> dict[str, Any]:
    """The jsonl ``"credential"`` object for any outcome (for ``radtrust verify``), never raising on failure."""
    try:
        return verify_dataset(ds, path, **kwargs).to_json()
    except CredentialError as exc:
        return exc.to_json()


def cross_reference(outcomes: list[tuple[str, Any]]) -> dict[str, list[str]]:
    """Across several files, say where changed pixels came from: ``{path: [note, ...]}``.

    ``outcomes`` are (path, CredentialResult | CredentialError). A changed frame whose pixels equal a frame
    credentialed for another file is named as such (slices swapped or copied between files).
    """
    origin: dict[bytes, tuple[str, int]] = {}
    for path, outcome in outcomes:
        chain = outcome.chain
        if chain is not None:
            for i, digest in enumerate(chain.current.manifest.binding.frames):
                origin.setdefault(digest, (path, i))
    notes: dict[str, list[str]] = {}
    for path, outcome in outcomes:
        if not isinstance(outcome, CredentialError) or outcome.chain is None:
            continue
        own = outcome.chain.current.manifest.binding.frames
        for i, digest in enumerate(outcome.frames):
            source = origin.get(digest)
            if source is not None and source[0] != path and (i >= len(own) or own[i] != digest):
                notes.setdefault(path, []).append(
                    f"frame {i + 1} holds the pixels credentialed for {source[0]} frame {source[1] + 1} "
                    "(slices swapped or copied between files)")
    return notes
