"""A throwaway test PKI: root CA -> intermediate -> signer, with the extensions C2PA also requires."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


@dataclass
class TestPKI:
    root: x509.Certificate
    intermediate: x509.Certificate
    leaf: x509.Certificate
    leaf_key: object
    root_key: object
    dir: Path

    @property
    def key_path(self) -> Path:
        return self.dir / "signer.key"

    @property
    def cert_path(self) -> Path:
        return self.dir / "signer.pem"

    @property
    def chain_path(self) -> Path:
        return self.dir / "chain.pem"

    @property
    def root_path(self) -> Path:
        return self.dir / "root.pem"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "radtrust tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key, issuer_cert, issuer_key, *, ca: bool, path_len: int | None = None,
          usage_sign: bool = True) -> x509.Certificate:
    issuer_name = issuer_cert.subject if issuer_cert is not None else _name(subject)
    b = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer_name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(EPOCH - timedelta(days=1)).not_valid_after(EPOCH + timedelta(days=3650))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=path_len), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer_cert is not None:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                            critical=False)
    if ca:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                          crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
    else:
        b = b.add_extension(x509.KeyUsage(digital_signature=usage_sign, content_commitment=not usage_sign,
                                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                                          key_cert_sign=False, crl_sign=False, encipher_only=False,
                                          decipher_only=False), critical=True)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
    return b.sign(issuer_key or key, hashes.SHA256())


def make_pki(directory: Path, *, algorithm: str = "ec", name: str = "Modality CT-1") -> TestPKI:
    directory.mkdir(parents=True, exist_ok=True)
    new = (lambda: ec.generate_private_key(ec.SECP256R1())) if algorithm == "ec" else (
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
    root_key, inter_key, leaf_key = new(), new(), new()
    root = _cert(f"{name} test root CA", root_key, None, None, ca=True, path_len=1)
    inter = _cert(f"{name} test intermediate CA", inter_key, root, root_key, ca=True, path_len=0)
    leaf = _cert(name, leaf_key, inter, inter_key, ca=False)
    pki = TestPKI(root, inter, leaf, leaf_key, root_key, directory)
    pem = serialization.Encoding.PEM
    pki.key_path.write_bytes(leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    pki.key_path.chmod(0o600)
    pki.cert_path.write_bytes(leaf.public_bytes(pem))
    pki.chain_path.write_bytes(inter.public_bytes(pem))
    pki.root_path.write_bytes(root.public_bytes(pem))
    return pki
