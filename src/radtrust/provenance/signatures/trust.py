"""Certificate path validation for signers and TSAs (RFC 5280 Section 6: what a DICOM signature verifier needs).

Builds the path from the signer certificate through the embedded/extra intermediates to a trust anchor, checking each
signature, validity at a given time, CA basic constraints and keyCertSign, the leaf's key usage (digitalSignature by
default), unknown critical extensions, and revocation against CRLs whose signature verifies. Fails closed: any doubt
raises :class:`~radtrust.errors.VerificationError` with every reason found.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from radtrust.errors import InputError, VerificationError
from radtrust.io.files import read_side_file

_KNOWN_CRITICAL = {ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE,
                   ExtensionOID.SUBJECT_ALTERNATIVE_NAME, ExtensionOID.CERTIFICATE_POLICIES,
                   ExtensionOID.NAME_CONSTRAINTS, ExtensionOID.POLICY_CONSTRAINTS}
MAX_DEPTH = 8


def load_crls(path: str | os.PathLike[str]) -> list[x509.CertificateRevocationList]:
    """Every CRL in a PEM file (several allowed) or one DER CRL."""
    data = read_side_file(path)
    try:
        if b"-----BEGIN" in data:
            marker = b"-----BEGIN X509 CRL-----"
            crls = [x509.load_pem_x509_crl(marker + part) for part in data.split(marker)[1:]]
        else:
            crls = [x509.load_der_x509_crl(data)]
    except ValueError as exc:
        raise InputError(f"not a CRL file ({exc})", path) from None
    if not crls:  # a certificate or a key given as --crl: revocation would silently go unchecked
        raise InputError("no CRL in this file (PEM without an X509 CRL block)", path)
    return crls


def describe(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


@functools.lru_cache(maxsize=1024)
def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer`` signed ``cert`` (cached: a batch of files shares a handful of certificates)."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, Exception):
        return False


def _ext(cert: x509.Certificate, cls: type) -> object | None:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def build_path(cert: x509.Certificate, chain: Sequence[x509.Certificate],
               trust: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """[leaf, ..., anchor]; raises VerificationError when no anchor is reached."""
    path = [cert]
    current = cert
    for _ in range(MAX_DEPTH):
        if current in trust:
            return path
        issuer = next((c for c in list(trust) + list(chain) if c not in path and _issued_by(current, c)), None)
        if issuer is None:
            if current.issuer == current.subject:
                raise VerificationError(f"self-signed certificate '{describe(current)}' is not a trust anchor")
            raise VerificationError(f"certificate chain of '{describe(cert)}' does not reach a trust anchor "
                                    f"(issuer '{current.issuer.rfc4514_string()}' not found or its signature fails)")
        path.append(issuer)
        current = issuer
    raise VerificationError("certificate chain too long")


def validate_chain(cert: x509.Certificate, chain: Sequence[x509.Certificate], trust: Sequence[x509.Certificate],
                   crls: Iterable[x509.CertificateRevocationList] = (), *, at: dt.datetime,
                   usage: str = "digital_signature", eku: x509.ObjectIdentifier | None = None,
                   ) -> list[x509.Certificate]:
    """Validate ``cert`` at time ``at``; return the path [leaf, ..., anchor] or raise VerificationError.

    Parameters
    ----------
    chain : untrusted intermediates (embedded in the file or given by the caller).
    trust : trust anchors.
    crls : when any are given, every non-anchor certificate in the path must be covered by a valid CRL from its issuer.
    usage : the KeyUsage bit the leaf must carry (``digital_signature``).
    eku : an ExtendedKeyUsage the leaf must carry (timeStamping for TSAs), or None.
    """
    if not trust:
        raise VerificationError("no trust anchors given")
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    path = build_path(cert, chain, trust)
    reasons: list[str] = []
    for i, c in enumerate(path):
        if at < c.not_valid_before_utc:
            reasons.append(f"certificate '{describe(c)}' not yet valid at {at.isoformat()}")
        if at > c.not_valid_after_utc:
            reasons.append(f"certificate '{describe(c)}' expired at {at.isoformat()}")
        for ext in c.extensions:
            if ext.critical and ext.oid not in _KNOWN_CRITICAL:
                reasons.append(f"certificate '{describe(c)}' has an unknown critical extension {ext.oid.dotted_string}")
        if i > 0:
            bc = _ext(c, x509.BasicConstraints)
            if bc is None or not bc.ca:  # type: ignore[attr-defined]
                reasons.append(f"issuer '{describe(c)}' is not a CA")
            elif bc.path_length is not None and i - 1 > bc.path_length:  # type: ignore[attr-defined]
                reasons.append(f"path length constraint of '{describe(c)}' exceeded")
            ku = _ext(c, x509.KeyUsage)
            if ku is not None and not ku.key_cert_sign:  # type: ignore[attr-defined]
                reasons.append(f"issuer '{describe(c)}' lacks keyCertSign usage")
    leaf_ku = _ext(cert, x509.KeyUsage)
    if leaf_ku is None:
        reasons.append(f"signer certificate '{describe(cert)}' has no key usage extension")
    elif usage and not getattr(leaf_ku, usage):
        reasons.append(f"signer certificate '{describe(cert)}' lacks {usage.replace('_', '')} key usage")
    bc = _ext(cert, x509.BasicConstraints)
    if bc is not None and bc.ca and len(path) > 1:  # type: ignore[attr-defined]
        reasons.append(f"signer certificate '{describe(cert)}' is a CA certificate")
    if eku is not None:
        ekus = _ext(cert, x509.ExtendedKeyUsage)
        if ekus is None or eku not in ekus:  # type: ignore[operator]
            reasons.append(f"certificate '{describe(cert)}' lacks extended key usage {eku._name}")
    crls = list(crls)
    if crls:
        reasons += _revocation(path, crls, at)
    if reasons:
        raise VerificationError(reasons[0], reasons=reasons)
    return path


_CRL_OK: dict[tuple[bytes, bytes, x509.Certificate], bool] = {}  # cache: signed bytes + signature + issuer


def _crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    """Whether ``issuer`` signed ``crl``, cached on the CRL's signed bytes (CRL objects are not hashable)."""
    key = (crl.tbs_certlist_bytes, crl.signature, issuer)
    if key not in _CRL_OK:
        if len(_CRL_OK) > 256:
            _CRL_OK.clear()
        _CRL_OK[key] = crl.is_signature_valid(issuer.public_key())
    return _CRL_OK[key]


def _revocation(path: list[x509.Certificate], crls: list[x509.CertificateRevocationList],
                at: dt.datetime) -> list[str]:
    reasons = []
    for c, issuer in zip(path, path[1:]):
        valid = [crl for crl in crls if crl.issuer == issuer.subject and _crl_signed_by(crl, issuer)]
        if not valid:
            reasons.append(f"no valid CRL from '{describe(issuer)}' to check '{describe(c)}'")
            continue
        for crl in valid:
            entry = crl.get_revoked_certificate_by_serial_number(c.serial_number)
            if entry is None:
                continue
            reason = None
            try:
                reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
            except x509.ExtensionNotFound:
                pass
            if entry.revocation_date_utc <= at or reason == x509.ReasonFlags.key_compromise:
                reasons.append(f"certificate '{describe(c)}' revoked on {entry.revocation_date_utc.isoformat()}")
    return reasons


TIME_STAMPING = ExtendedKeyUsageOID.TIME_STAMPING
