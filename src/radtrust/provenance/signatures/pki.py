"""A development PKI for ``radtrust keys init``: NOT FOR PRODUCTION.

Root CA -> intermediate CA -> modality signer (digitalSignature + nonRepudiation) and a TSA certificate
(critical extendedKeyUsage timeStamping, RFC 3161 2.3), plus an empty CRL from each CA (RFC 5280). Certificates
are backdated by a day: DCMTK rejects a certificate whose notBefore is the second of signing. Every key is written
0600; a real deployment keeps the signer key in the device's HSM (see ``pkcs11:`` keys).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from radtrust.errors import UsageError

WARNING = "radtrust development PKI - NOT FOR PRODUCTION"
_UTC = dt.timezone.utc


def new_key(algorithm: str = "rsa", size: int = 2048) -> Any:
    """An RSA (``size`` bits) or ECDSA (P-256, or P-384 when ``size`` is 384) private key."""
    if algorithm == "rsa":
        return rsa.generate_private_key(65537, size)
    if algorithm == "ecdsa":
        return ec.generate_private_key(ec.SECP384R1() if size == 384 else ec.SECP256R1())
    raise UsageError(f"unknown key algorithm {algorithm!r} (rsa or ecdsa)")


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "radtrust dev PKI (not for production)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _usage(**on: bool) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{n: on.get(n, False) for n in names})


def issue(cn: str, key: Any, issuer: tuple[x509.Certificate, Any] | None = None, *, ca: bool = False,
          digital_signature: bool = True, tsa: bool = False, now: dt.datetime | None = None,
          not_before: dt.datetime | None = None, not_after: dt.datetime | None = None,
          serial: int | None = None) -> x509.Certificate:
    """Issue a certificate for ``key`` signed by ``issuer`` (cert, key), or self-signed when issuer is None."""
    now = now or dt.datetime.now(_UTC)
    subject = _name(cn)
    issuer_name, issuer_key = (issuer[0].subject, issuer[1]) if issuer else (subject, key)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
         .serial_number(serial or x509.random_serial_number())
         .not_valid_before(not_before or now - dt.timedelta(days=1))
         .not_valid_after(not_after or now + dt.timedelta(days=3650 if ca else 825))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    if ca:
        b = b.add_extension(_usage(key_cert_sign=True, crl_sign=True, digital_signature=True), critical=True)
    elif tsa:
        b = b.add_extension(_usage(digital_signature=True, content_commitment=True), critical=True)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    else:
        b = b.add_extension(_usage(digital_signature=digital_signature, content_commitment=True,
                                   key_encipherment=not digital_signature), critical=True)
        # C2PA (credential export) requires an EKU on end-entity certificates; DCMTK ignores it.
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def make_crl(issuer: tuple[x509.Certificate, Any], revoked: list[tuple[int, dt.datetime]] = (), *,
             now: dt.datetime | None = None, days: int = 30) -> x509.CertificateRevocationList:
    """A CRL from ``issuer`` listing (serial, revocation date) pairs."""
    now = now or dt.datetime.now(_UTC)
    b = (x509.CertificateRevocationListBuilder().issuer_name(issuer[0].subject)
         .last_update(now - dt.timedelta(hours=1)).next_update(now + dt.timedelta(days=days)))
    for serial, when in revoked:
        b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial)
                                      .revocation_date(when).build())
    return b.sign(issuer[1], hashes.SHA256())


def key_pem(key: Any, password: bytes | None = None) -> bytes:
    enc = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def cert_pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def write_private(path: Path, data: bytes) -> None:
    """Write atomically with mode 0600 (temp file in the same folder, then rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class DevPki:
    """Paths of a development PKI made by :func:`init_dev_pki`."""

    directory: Path

    def __getattr__(self, name: str) -> Path:
        files = {"root": "root-ca.pem", "intermediate": "intermediate-ca.pem", "chain": "chain.pem",
                 "signer_cert": "signer.pem", "signer_key": "signer.key", "signer_p12": "signer.p12",
                 "tsa_cert": "tsa.pem", "tsa_key": "tsa.key", "crl": "crls.pem", "root_key": "root-ca.key",
                 "intermediate_key": "intermediate-ca.key"}
        if name in files:
            return self.directory / files[name]
        raise AttributeError(name)


def init_dev_pki(directory: str | os.PathLike[str], algorithm: str = "rsa", *, p12_password: bytes | None = None,
                 now: dt.datetime | None = None, force: bool = False) -> DevPki:
    """Create root CA, intermediate CA, modality signer, TSA and CRLs in ``directory`` (all files 0600)."""
    if not str(directory).strip():  # Path("") is the current folder
        raise UsageError("the PKI folder is an empty path")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    pki = DevPki(d)
    if pki.signer_key.exists() and not force:
        raise UsageError(f"{d} already holds a PKI (use --force to replace it)")
    now = now or dt.datetime.now(_UTC)
    root_key, inter_key = new_key(algorithm, 384 if algorithm == "ecdsa" else 3072), new_key(algorithm)
    root = issue("radtrust dev root CA", root_key, ca=True, now=now)
    inter = issue("radtrust dev intermediate CA", inter_key, (root, root_key), ca=True, now=now)
    signer_key, tsa_key = new_key(algorithm), new_key(algorithm)
    signer = issue("radtrust dev modality signer", signer_key, (inter, inter_key), now=now)
    tsa = issue("radtrust dev TSA", tsa_key, (inter, inter_key), tsa=True, now=now)
    crls = (make_crl((root, root_key), now=now).public_bytes(serialization.Encoding.PEM)
            + make_crl((inter, inter_key), now=now).public_bytes(serialization.Encoding.PEM))
    files = {
        pki.root: cert_pem(root), pki.root_key: key_pem(root_key), pki.intermediate: cert_pem(inter),
        pki.intermediate_key: key_pem(inter_key), pki.chain: cert_pem(inter), pki.signer_cert: cert_pem(signer),
        pki.signer_key: key_pem(signer_key), pki.tsa_cert: cert_pem(tsa), pki.tsa_key: key_pem(tsa_key),
        pki.crl: crls, d / "README.txt": (WARNING + "\n\nroot-ca.pem is the trust anchor (radtrust verify --trust). "
                                          "signer.key/signer.pem sign (radtrust sign --key --cert --chain chain.pem).\n"
                                          ).encode(),
    }
    if p12_password is not None:
        files[pki.signer_p12] = pkcs12.serialize_key_and_certificates(
            b"radtrust-signer", signer_key, signer, [inter],
            serialization.BestAvailableEncryption(p12_password) if p12_password else serialization.NoEncryption())
    for path, data in files.items():
        write_private(path, data)
    return pki
