"""COSE_Sign1 (RFC 9052 §4.2) with an X.509 chain in ``x5chain`` (RFC 9360): the credential's signature container.

The same container C2PA uses for its claim signatures. Encoding uses ``cbor2`` (deterministic CBOR);
every cryptographic operation goes through ``cryptography``. pycose was considered and is used in
the tests as an independent verifier, but it signs ECDSA with the pure-Python ``ecdsa`` package and
needs raw private key numbers (no HSM keys), so radtrust builds the four-element structure itself.

Algorithms: ES256/ES384/ES512 for P-256/P-384/P-521 keys (raw r||s signatures, RFC 9053 §2.1), PS256
for RSA software keys (RSASSA-PSS, RFC 8230; what C2PA requires), RS256 (RFC 8812) for RSA keys on
a PKCS#11 token, which the shared signer interface drives with PKCS#1 v1.5 only.

An optional RFC 3161 timestamp token over SHA-256 of the signature value travels in the
unprotected header as ``sigTst`` (``{"tstTokens": [{"val": token}]}``), as in C2PA's ``sigTst2``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

COSE_SIGN1_TAG = 18
HDR_ALG, HDR_CONTENT_TYPE, HDR_X5CHAIN = 1, 3, 33
CONTENT_TYPE = "application/radtrust-credential+cbor"
TIMESTAMP_HEADER = "sigTst"

ES256, ES384, ES512, PS256, RS256 = -7, -35, -36, -37, -257
_EC_ALGS = {"secp256r1": (ES256, hashes.SHA256(), 32), "secp384r1": (ES384, hashes.SHA384(), 48),
            "secp521r1": (ES512, hashes.SHA512(), 66)}
ALG_NAMES = {ES256: "ES256", ES384: "ES384", ES512: "ES512", PS256: "PS256", RS256: "RS256"}

Timestamper = Callable[[bytes], bytes]  # data -> RFC 3161 token (DER) whose imprint is SHA-256(data)


class ContainerError(ValueError):
    """The COSE_Sign1 message is malformed or its signature does not verify."""


@dataclass(frozen=True)
class Opened:
    """A COSE_Sign1 whose signature verified against the leaf certificate it carries."""

    payload: bytes
    chain: tuple[x509.Certificate, ...]  # leaf first
    algorithm: str
    signature: bytes
    timestamp_token: bytes | None


def _cbor_dumps(obj: Any) -> bytes:
    import cbor2

    return cbor2.dumps(obj, canonical=True)


def _cbor_loads(data: bytes) -> Any:
    import cbor2

    try:
        return cbor2.loads(data)
    except Exception as exc:  # cbor2 raises several types on bad input
        raise ContainerError(f"not CBOR ({exc})") from None


def _algorithm_for(public: Any, software: bool) -> tuple[int, hashes.HashAlgorithm, int]:
    if isinstance(public, ec.EllipticCurvePublicKey):
        try:
            return _EC_ALGS[public.curve.name]
        except KeyError:
            raise ContainerError(f"EC curve {public.curve.name} has no COSE algorithm here") from None
    if isinstance(public, rsa.RSAPublicKey):
        if public.key_size < 2048:
            raise ContainerError(f"RSA key of {public.key_size} bits is too short (2048 at least)")
        return (PS256 if software else RS256), hashes.SHA256(), 0
    raise ContainerError(f"unsupported key type {type(public).__name__} (use RSA or ECDSA P-256/P-384/P-521)")


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return _cbor_dumps(["Signature1", protected, b"", payload])


def _sign(signer: Any, alg: int, hash_alg: hashes.HashAlgorithm, size: int, tbs: bytes) -> bytes:
    key = getattr(signer, "private_key", None)
    if alg == PS256:
        return key.sign(tbs, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hash_alg)
    if key is not None:
        der = key.sign(tbs, ec.ECDSA(hash_alg))
    else:  # a token: sign the digest through the PS3.15 signer interface (PKCS#1 v1.5 or ECDSA)
        from radtrust.provenance.signatures.mac_stream import MAC_ALGORITHMS

        mac = MAC_ALGORITHMS[hash_alg.name]
        digest = mac.new()
        digest.update(tbs)
        der = signer.sign_digest(digest.digest(), mac)
        if alg == RS256:
            return der
        der = der[:2 + der[1]] if der[1] < 0x80 else der[:3 + der[2]]  # drop DICOM's even-length pad
    r, s = decode_dss_signature(der)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def sign1(payload: bytes, signer: Any, *, timestamper: Timestamper | None = None) -> bytes:
    """Sign ``payload`` with a :class:`radtrust.provenance.signatures.keys.Signer` (software key or token).

    Software keys sign RSA as PS256 (what C2PA requires); keys on a PKCS#11 token sign RSA as RS256
    (RFC 8812) because the shared token interface does PKCS#1 v1.5 only.
    """
    from radtrust.provenance.credential.trust import signer_chain

    chain = signer_chain(signer)
    software = getattr(signer, "private_key", None) is not None
    alg, hash_alg, size = _algorithm_for(chain[0].public_key(), software)
    protected = _cbor_dumps({HDR_ALG: alg, HDR_CONTENT_TYPE: CONTENT_TYPE,
                             HDR_X5CHAIN: [c.public_bytes(Encoding.DER) for c in chain]})
    signature = _sign(signer, alg, hash_alg, size, _sig_structure(protected, payload))
    unprotected: dict[Any, Any] = {}
    if timestamper is not None:
        token = timestamper(signature)  # e.g. radtrust.provenance.signatures.timestamp.TsaClient
        unprotected[TIMESTAMP_HEADER] = {"tstTokens": [{"val": token}]}
    import cbor2

    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, unprotected, payload, signature]), canonical=True)


def open1(message: bytes) -> Opened:
    """Parse a COSE_Sign1 and verify its signature with the leaf of its ``x5chain``.

    The chain is *not* validated here (see :mod:`radtrust.provenance.credential.trust`).
    Raises :class:`ContainerError` on any problem.
    """
    import cbor2

    obj = _cbor_loads(message)
    if isinstance(obj, cbor2.CBORTag):
        if obj.tag != COSE_SIGN1_TAG:
            raise ContainerError(f"CBOR tag {obj.tag} is not COSE_Sign1 (18)")
        obj = obj.value
    if not (isinstance(obj, (list, tuple)) and len(obj) == 4):
        raise ContainerError("not a COSE_Sign1 array of four elements")
    protected, unprotected, payload, signature = obj
    if not all(isinstance(x, bytes) for x in (protected, payload, signature)) or not isinstance(unprotected, Mapping):
        raise ContainerError("COSE_Sign1 elements have the wrong types")
    headers = _cbor_loads(protected)
    if not isinstance(headers, Mapping):
        raise ContainerError("protected header is not a map")
    alg = headers.get(HDR_ALG)
    if alg not in ALG_NAMES:
        raise ContainerError(f"COSE algorithm {alg!r} is not accepted (ES256/ES384/ES512/PS256/RS256)")
    if headers.get(HDR_CONTENT_TYPE) != CONTENT_TYPE:
        raise ContainerError(f"content type {headers.get(HDR_CONTENT_TYPE)!r} is not a radtrust credential")
    raw_chain = headers.get(HDR_X5CHAIN)
    if isinstance(raw_chain, bytes):
        raw_chain = [raw_chain]
    if not isinstance(raw_chain, (list, tuple)) or not raw_chain or not all(isinstance(c, bytes) for c in raw_chain):
        raise ContainerError("no x5chain (signer certificate) in the protected header")
    try:
        chain = tuple(x509.load_der_x509_certificate(c) for c in raw_chain)
    except ValueError as exc:
        raise ContainerError(f"unreadable certificate in x5chain ({exc})") from None
    public = chain[0].public_key()
    tbs = _sig_structure(protected, payload)
    try:
        if alg in (PS256, RS256):
            if not isinstance(public, rsa.RSAPublicKey):
                raise ContainerError(f"{ALG_NAMES[alg]} signature but the signer key is not RSA")
            pad = (padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32) if alg == PS256
                   else padding.PKCS1v15())
            public.verify(signature, tbs, pad, hashes.SHA256())
        else:
            if not isinstance(public, ec.EllipticCurvePublicKey) or _EC_ALGS.get(public.curve.name, (None,))[0] != alg:
                raise ContainerError(f"{ALG_NAMES[alg]} signature but the signer key does not match it")
            _, hash_alg, size = _EC_ALGS[public.curve.name]
            if len(signature) != 2 * size:
                raise ContainerError("ECDSA signature has the wrong length")
            der = encode_dss_signature(int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big"))
            public.verify(der, tbs, ec.ECDSA(hash_alg))
    except InvalidSignature:
        raise ContainerError("the COSE signature does not verify with the signer certificate") from None
    token = None
    tst = unprotected.get(TIMESTAMP_HEADER)
    if tst is not None:
        try:
            token = bytes(tst["tstTokens"][0]["val"])
        except (KeyError, IndexError, TypeError):
            raise ContainerError("malformed sigTst timestamp header") from None
    return Opened(payload=payload, chain=chain, algorithm=ALG_NAMES[alg], signature=signature, timestamp_token=token)


def message_digest(message: bytes) -> bytes:
    """The hash a child credential uses to reference this one (SHA-256 of the COSE_Sign1 bytes)."""
    return hashlib.sha256(message).digest()
