"""Signing keys: PEM/DER/PKCS#12 files and PKCS#11 tokens (RFC 7512 URIs), behind one ``Signer`` interface.

A signer signs a *digest* (the MAC of PS3.15 C.12.1): RSA with RSASSA-PKCS1-v1_5 over a DigestInfo (RFC 8017 9.2),
ECDSA with a DER ``Ecdsa-Sig-Value`` (RFC 5480), as DCMTK does. Passwords and PINs come from a prompt, an environment
variable or a file, never from the command line; they are never logged.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import pkcs12

from radtrust.errors import InputError, UsageError
from radtrust.io.files import read_side_file
from radtrust.provenance.signatures.mac_stream import MacAlgorithm


class _RIPEMD160(hashes.HashAlgorithm):
    """RIPEMD-160 for prehashed signatures (OpenSSL knows it; cryptography has no class for it)."""

    name = "ripemd160"
    digest_size = 20
    block_size = 64


_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "RIPEMD160": _RIPEMD160, "SHA1": hashes.SHA1, "MD5": hashes.MD5,
    "SHA256": hashes.SHA256, "SHA384": hashes.SHA384, "SHA512": hashes.SHA512,
}
#: DER DigestInfo prefixes (RFC 8017 9.2 note 1) for raw RSA PKCS#1 v1.5 signing on tokens.
DIGEST_INFO_PREFIX = {
    "MD5": "3020300c06082a864886f70d020505000410",
    "SHA1": "3021300906052b0e03021a05000414",
    "RIPEMD160": "3021300906052b2403020105000414",
    "SHA256": "3031300d060960864801650304020105000420",
    "SHA384": "3041300d060960864801650304020205000430",
    "SHA512": "3051300d060960864801650304020305000440",
}


def prehashed(alg: MacAlgorithm) -> utils.Prehashed:
    return utils.Prehashed(_HASHES[alg.dicom_name]())


def key_type(public_key: Any) -> str:
    """"RSA" or "ECDSA" for a public key; anything else is refused."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "ECDSA"
    raise InputError(f"unsupported key type {type(public_key).__name__} (RSA or ECDSA only)")


class Signer(Protocol):
    """What signing needs: a certificate (with its chain) and a digest-signing operation."""

    certificate: x509.Certificate
    chain: list[x509.Certificate]

    @property
    def key_type(self) -> str: ...

    def sign_digest(self, digest: bytes, alg: MacAlgorithm) -> bytes: ...


def _even(sig: bytes) -> bytes:
    """DICOM OB values have even length: DCMTK pads ECDSA DER signatures with one zero byte."""
    return sig + b"\x00" if len(sig) % 2 else sig


@dataclass
class SoftwareSigner:
    """A private key held in memory (loaded from PEM, DER or PKCS#12)."""

    private_key: Any
    certificate: x509.Certificate
    chain: list[x509.Certificate] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.private_key.public_key().public_numbers() != self.certificate.public_key().public_numbers():
            raise InputError("the private key does not match the certificate")

    @property
    def key_type(self) -> str:
        return key_type(self.certificate.public_key())

    def sign_digest(self, digest: bytes, alg: MacAlgorithm) -> bytes:
        if self.key_type == "RSA":
            return self.private_key.sign(digest, padding.PKCS1v15(), prehashed(alg))
        return _even(self.private_key.sign(digest, ec.ECDSA(prehashed(alg))))


@dataclass
class Pkcs11Signer:
    """A key that never leaves a PKCS#11 token (an HSM, a smart card, SoftHSM2), used through python-pkcs11."""

    session: Any
    key: Any
    certificate: x509.Certificate
    chain: list[x509.Certificate] = field(default_factory=list)

    @property
    def key_type(self) -> str:
        return key_type(self.certificate.public_key())

    def sign_digest(self, digest: bytes, alg: MacAlgorithm) -> bytes:
        from pkcs11 import Mechanism

        if self.key_type == "RSA":
            data = bytes.fromhex(DIGEST_INFO_PREFIX[alg.dicom_name]) + digest
            return bytes(self.key.sign(data, mechanism=Mechanism.RSA_PKCS))
        raw = bytes(self.key.sign(digest, mechanism=Mechanism.ECDSA))
        half = len(raw) // 2
        der = utils.encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
        return _even(der)

    def close(self) -> None:
        self.session.close()


def read_password(*, env: str | None = None, file: str | os.PathLike[str] | None = None,
                  prompt: str | None = None) -> bytes | None:
    """A password from an environment variable, a file (first line) or an interactive prompt, in that order."""
    if env:
        value = os.environ.get(env)
        if value is None:
            raise UsageError(f"environment variable {env} is not set")
        return value.encode()
    if file:
        try:
            lines = read_side_file(file, what="password file").decode("utf-8").splitlines()
        except UnicodeDecodeError:
            raise InputError("password file is not UTF-8 text", file) from None
        return lines[0].encode() if lines else b""
    if prompt:
        return getpass.getpass(prompt).encode()
    return None


def load_certificates(path: str | os.PathLike[str]) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle or a single DER certificate."""
    data = read_side_file(path)
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise InputError(f"not an X.509 certificate file ({exc})", path) from None


def _load_private_key(data: bytes, password: bytes | None, path: str | os.PathLike[str]) -> Any:
    loaders = ((serialization.load_pem_private_key,) if b"-----BEGIN" in data
               else (serialization.load_der_private_key,))
    try:
        return loaders[0](data, password=password or None)
    except TypeError as exc:  # encrypted without password, or password for an unencrypted key
        raise InputError(f"private key password problem: {exc}", path) from None
    except ValueError as exc:
        raise InputError(f"cannot load private key (wrong password or not a key): {exc}", path) from None


def load_signer(key: str | os.PathLike[str], cert: str | os.PathLike[str] | None = None,
                chain: str | os.PathLike[str] | Sequence[x509.Certificate] | None = None, *,
                password: bytes | None = None) -> Signer:
    """Load a signer from a key file (PEM, DER, PKCS#12 ``.p12/.pfx``) or a ``pkcs11:`` URI.

    Parameters
    ----------
    key : a file path or an RFC 7512 URI such as
        ``pkcs11:token=radtrust;object=signer?module-path=/usr/lib/softhsm/libsofthsm2.so``.
    cert : the signer certificate (PEM or DER); optional for PKCS#12 and for tokens that hold it.
    chain : intermediate certificates (a PEM bundle path or certificates) to embed for verifiers.
    password : key password or token PIN (see :func:`read_password`).
    """
    extra = list(chain) if isinstance(chain, Sequence) and not isinstance(chain, str) else (
        load_certificates(chain) if chain else [])
    certificate = load_certificates(cert)[0] if cert else None
    if str(key).startswith("pkcs11:"):
        return _load_pkcs11(str(key), certificate, extra, password)
    data = read_side_file(key)
    if str(key).lower().endswith((".p12", ".pfx")):
        try:
            pk, c, more = pkcs12.load_key_and_certificates(data, password)
        except ValueError as exc:
            raise InputError(f"cannot open PKCS#12 (wrong password?): {exc}", key) from None
        if pk is None:
            raise InputError("PKCS#12 file holds no private key", key)
        certificate = certificate or c
        extra = extra or list(more or [])
        if certificate is None:
            raise UsageError("PKCS#12 file holds no certificate: give --cert")
        return SoftwareSigner(pk, certificate, extra)
    if certificate is None:
        raise UsageError("a signer certificate is needed (--cert)")
    return SoftwareSigner(_load_private_key(data, password, key), certificate, extra)


def parse_pkcs11_uri(uri: str) -> dict[str, str]:
    """Path and query attributes of an RFC 7512 ``pkcs11:`` URI."""
    body = uri[len("pkcs11:"):]
    path, _, query = body.partition("?")
    attrs: dict[str, str] = {}
    for part in [p for p in path.split(";") if p] + [q for q in query.split("&") if q]:
        name, _, value = part.partition("=")
        attrs[name] = unquote(value)
    return attrs


def _load_pkcs11(uri: str, certificate: x509.Certificate | None, chain: list[x509.Certificate],
                 pin: bytes | None) -> Pkcs11Signer:
    try:
        import pkcs11
        from pkcs11 import Attribute, ObjectClass
    except ImportError:
        raise UsageError("PKCS#11 needs python-pkcs11: pip install 'radtrust[hsm]'") from None
    attrs = parse_pkcs11_uri(uri)
    module = attrs.get("module-path") or os.environ.get("RADTRUST_PKCS11_MODULE")
    if not module:
        raise UsageError("PKCS#11 URI needs module-path=... (or RADTRUST_PKCS11_MODULE)")
    if "pin-value" in attrs:
        raise UsageError("refusing pin-value in a PKCS#11 URI: give the PIN by prompt, env var or file")
    try:
        lib = pkcs11.lib(module)
        token = lib.get_token(token_label=attrs["token"]) if "token" in attrs else next(iter(lib.get_tokens()))
        try:
            session = token.open(user_pin=pin.decode() if pin else None)
        except pkcs11.exceptions.UserAlreadyLoggedIn:
            # PKCS#11 login is per application: a second signer on the same token shares it.
            session = token.open()
    except Exception as exc:
        raise InputError(f"cannot open PKCS#11 token: {type(exc).__name__} {exc}", uri) from None
    query: dict[Any, Any] = {Attribute.CLASS: ObjectClass.PRIVATE_KEY}
    if "object" in attrs:
        query[Attribute.LABEL] = attrs["object"]
    if "id" in attrs:
        query[Attribute.ID] = attrs["id"].encode("latin-1")
    keys = list(session.get_objects(query))
    if len(keys) != 1:
        session.close()
        raise InputError(f"PKCS#11 token has {len(keys)} matching private keys (need exactly one)", uri)
    if certificate is None:
        cq = {Attribute.CLASS: ObjectClass.CERTIFICATE}
        if "object" in attrs:
            cq[Attribute.LABEL] = attrs["object"]
        certs = list(session.get_objects(cq))
        if not certs:
            session.close()
            raise UsageError("no certificate on the token for this key: give --cert")
        certificate = x509.load_der_x509_certificate(bytes(certs[0][Attribute.VALUE]))
    return Pkcs11Signer(session, keys[0], certificate, chain)
