"""The credential's interface to keys and certificate trust, shared with the PS3.15 signature code.

Key loading (PEM, DER, PKCS#12, PKCS#11 tokens) and RFC 5280 path validation live in
:mod:`radtrust.provenance.signatures` (``keys``, ``trust``); the credential uses them unchanged, so a
modality key in an HSM signs both the PS3.15 signature and the content credential.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

from cryptography import x509

from radtrust.errors import VerificationError
from radtrust.provenance.signatures import keys as _keys
from radtrust.provenance.signatures import trust as _trust

Signer = _keys.Signer  # certificate, chain, key_type, sign_digest(digest, MacAlgorithm)
load_certificates = _keys.load_certificates
load_crls = _trust.load_crls


def load_signer(key: str | os.PathLike[str], cert: str | os.PathLike[str] | None = None,
                chain: str | os.PathLike[str] | None = None, *, password: bytes | None = None) -> Any:
    """A signer from a key file or ``pkcs11:`` URI (see :func:`radtrust.provenance.signatures.keys.load_signer`)."""
    return _keys.load_signer(key, cert, chain, password=password)


def signer_chain(signer: Any) -> list[x509.Certificate]:
    """Leaf first, then the intermediates the signer carries."""
    return [signer.certificate, *[c for c in signer.chain if c != signer.certificate]]


def validate_chain(chain: tuple[x509.Certificate, ...], anchors: list[x509.Certificate], *,
                   at: datetime | None = None, crls: list[x509.CertificateRevocationList] | None = None,
                   intermediates: list[x509.Certificate] | None = None,
                   where: str | None = None) -> list[x509.Certificate]:
    """The validated path (leaf first, anchor last); raises VerificationError naming the file otherwise.

    ``intermediates`` are extra untrusted CA certificates (``--intermediate``) beside those in the credential.
    """
    try:
        return _trust.validate_chain(chain[0], [*chain[1:], *(intermediates or [])], anchors, crls or (),
                                     at=at or datetime.now(timezone.utc))
    except VerificationError as exc:
        raise VerificationError(exc.message, where, exc.reasons) from None
