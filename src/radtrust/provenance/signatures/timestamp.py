"""RFC 3161 timestamps for DICOM signatures (PS3.15 C.12.1.1.3: Certified Timestamp of type ``CMS_TSP``).

The timestamp's message imprint is the hash of the Signature (0400,0120) value, as DCMTK's ``dcmsign +ts`` asks.
Requests and responses are encoded and the token's CMS signature checked by ``rfc3161-client`` (a maintained
library); the TSA certificate path is validated here with :func:`radtrust.provenance.signatures.trust.validate_chain`
(extended key usage timeStamping, revocation) at the time the TSA asserts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from radtrust.errors import InputError, UsageError, VerificationError
from radtrust.provenance.signatures.trust import TIME_STAMPING, describe, validate_chain

_HASH_OIDS = {"2.16.840.1.101.3.4.2.1": "sha256", "2.16.840.1.101.3.4.2.2": "sha384",
              "2.16.840.1.101.3.4.2.3": "sha512"}


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def token_as_response(token: bytes) -> bytes:
    """Wrap a TimeStampToken in a granted TimeStampResp (RFC 3161 2.4.2) so it can be decoded and verified."""
    body = b"\x30\x03\x02\x01\x00" + token
    return b"\x30" + _der_len(len(body)) + body


@dataclass
class TsaClient:
    """Ask a Time-Stamp Authority over HTTP (RFC 3161 section 3.4) for a token over some bytes."""

    url: str
    hash_name: str = "sha256"
    timeout: float = 15.0

    def __post_init__(self) -> None:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(self.url)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"the TSA URL must be http:// or https://, not {self.url!r}")

    def __call__(self, data: bytes) -> bytes:
        return self.stamp(data)

    def stamp(self, data: bytes) -> bytes:
        """DER TimeStampToken whose imprint is the hash of ``data``; raises InputError if the TSA misbehaves."""
        from rfc3161_client import HashAlgorithm, TimestampRequestBuilder, decode_timestamp_response

        alg = {"sha256": HashAlgorithm.SHA256, "sha512": HashAlgorithm.SHA512}[self.hash_name]
        req = TimestampRequestBuilder().data(data).hash_algorithm(alg).nonce(nonce=True).cert_request(
            cert_request=True).build()
        http = urllib.request.Request(self.url, data=req.as_bytes(), method="POST",
                                      headers={"Content-Type": "application/timestamp-query"})
        try:
            with urllib.request.urlopen(http, timeout=self.timeout) as resp:  # noqa: S310 (URL chosen by the user)
                body = resp.read(1 << 20)
        except (urllib.error.URLError, OSError) as exc:
            raise InputError(f"TSA request failed: {exc}", self.url) from None
        try:
            tsr = decode_timestamp_response(body)
        except Exception as exc:
            raise InputError(f"TSA sent an undecodable response: {exc}", self.url) from None
        if tsr.status not in (0, 1):
            raise InputError(f"TSA refused the request (status {tsr.status}: {tsr.status_string})", self.url)
        info = tsr.tst_info
        if info.message_imprint.message != hashlib.new(self.hash_name, data).digest():
            raise InputError("TSA response does not cover the request", self.url)
        if req.nonce is not None and info.nonce != req.nonce:
            raise InputError("TSA response nonce does not match the request", self.url)
        return tsr.time_stamp_token()


@dataclass(frozen=True)
class TimestampInfo:
    """A verified timestamp: when, by whom, with which hash."""

    time: dt.datetime
    tsa: str
    hash_name: str
    serial: int


def verify_token(token: bytes, data: bytes, trust: Sequence[x509.Certificate],
                 chain: Sequence[x509.Certificate] = (), crls: Sequence[x509.CertificateRevocationList] = (),
                 ) -> TimestampInfo:
    """Check that ``token`` is a valid TSA timestamp over ``data``; raise VerificationError otherwise."""
    from rfc3161_client import VerifierBuilder, decode_timestamp_response

    try:
        tsr = decode_timestamp_response(token_as_response(token))
        info = tsr.tst_info
        hash_name = _HASH_OIDS[info.message_imprint.hash_algorithm.dotted_string]
    except KeyError:
        raise VerificationError("timestamp uses an unsupported hash algorithm") from None
    except Exception as exc:
        raise VerificationError(f"timestamp token cannot be decoded ({type(exc).__name__})") from None
    if info.message_imprint.message != hashlib.new(hash_name, data).digest():
        raise VerificationError("timestamp does not cover this signature (message imprint mismatch)")
    embedded = [x509.load_der_x509_certificate(c) for c in tsr.signed_data.certificates]
    tsa_cert = _tsa_certificate(tsr, embedded + list(chain))
    if tsa_cert is None:
        raise VerificationError("timestamp token does not include the TSA certificate")
    gen_time = info.gen_time if info.gen_time.tzinfo else info.gen_time.replace(tzinfo=dt.timezone.utc)
    validate_chain(tsa_cert, embedded + list(chain), trust, crls, at=gen_time, usage="", eku=TIME_STAMPING)
    try:
        builder = VerifierBuilder(roots=list(trust), intermediates=[c for c in embedded + list(chain)
                                                                     if c not in trust and c != tsa_cert])
        builder = builder.tsa_certificate(tsa_cert)
        builder.build().verify(tsr, hashlib.new(hash_name, data).digest())
    except Exception as exc:
        raise VerificationError(f"timestamp signature does not verify: {exc}") from None
    return TimestampInfo(gen_time, describe(tsa_cert), hash_name, info.serial_number)


def _tsa_certificate(tsr: object, candidates: list[x509.Certificate]) -> x509.Certificate | None:
    signers = list(tsr.signed_data.signer_infos)  # type: ignore[attr-defined]
    if len(signers) != 1:
        return None
    si = signers[0]
    for c in candidates:
        if c.serial_number == si.serial_number and c.issuer == si.issuer:
            return c
    return None
