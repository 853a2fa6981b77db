"""Signing keys: PEM, DER, encrypted PEM and PKCS#12 with passwords from env/file, PKCS#11 tokens (SoftHSM2)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from radtrust.errors import InputError, UsageError
from radtrust.provenance.signatures import load_signer, read_password, sign_file
from radtrust.provenance.signatures.pki import key_pem, new_key
from tests.provenance.signatures.conftest import CT, dcmsign_verify, trust_for
from radtrust.provenance.signatures.verify import examine_file

from tests.provenance.conftest import SOFTHSM


def _ok(pki, path):
    assert dcmsign_verify(pki, path).returncode == 0
    assert examine_file(path, trust_for(pki)).status == "valid"


def test_encrypted_pem_with_password_from_env_and_file(pki, tmp_path, monkeypatch):
    key = serialization.load_pem_private_key(pki.signer_key.read_bytes(), None)
    enc = tmp_path / "enc.key"
    enc.write_bytes(key_pem(key, b"pa55"))
    monkeypatch.setenv("RT_TEST_PW", "pa55")
    (tmp_path / "pw.txt").write_text("pa55\n")
    for pw in (read_password(env="RT_TEST_PW"), read_password(file=tmp_path / "pw.txt")):
        s = load_signer(enc, pki.signer_cert, password=pw)
        sign_file(CT, tmp_path / "s.dcm", s)
        _ok(pki, tmp_path / "s.dcm")
    with pytest.raises(InputError):
        load_signer(enc, pki.signer_cert, password=b"wrong")
    with pytest.raises(InputError):
        load_signer(enc, pki.signer_cert)
    with pytest.raises(UsageError):
        read_password(env="RT_TEST_UNSET_VARIABLE")


def test_der_key_and_certificate(pki, tmp_path):
    key = serialization.load_pem_private_key(pki.signer_key.read_bytes(), None)
    from cryptography import x509
    cert = x509.load_pem_x509_certificate(pki.signer_cert.read_bytes())
    (tmp_path / "k.der").write_bytes(key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    (tmp_path / "c.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    sign_file(CT, tmp_path / "s.dcm", load_signer(tmp_path / "k.der", tmp_path / "c.der"))
    _ok(pki, tmp_path / "s.dcm")


def test_pkcs12_with_password(pki, tmp_path):
    s = load_signer(pki.signer_p12, password=b"s3cret")
    assert s.chain  # the intermediate travels in the PKCS#12
    sign_file(CT, tmp_path / "s.dcm", s, profile="creator")
    _ok(pki, tmp_path / "s.dcm")
    with pytest.raises(InputError, match="PKCS#12"):
        load_signer(pki.signer_p12, password=b"nope")


def test_key_certificate_mismatch(pki, tmp_path):
    other = tmp_path / "other.key"
    other.write_bytes(key_pem(new_key()))
    with pytest.raises(InputError, match="does not match"):
        load_signer(other, pki.signer_cert)


def test_pin_in_pkcs11_uri_refused():
    with pytest.raises(UsageError, match="pin-value"):
        load_signer(f"pkcs11:token=x;pin-value=1234?module-path={SOFTHSM}", None)




@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_pkcs11_token_signs_and_dcmsign_verifies(kind, softhsm, pki, pki_ec, tmp_path):
    pytest.importorskip("pkcs11")
    d, run = softhsm
    p = pki if kind == "rsa" else pki_ec
    key = serialization.load_pem_private_key(p.signer_key.read_bytes(), None)
    pem = d / f"{kind}.pem"
    pem.write_bytes(key_pem(key))
    run("--import", str(pem), "--token", "radtrust", "--label", f"signer-{kind}", "--id",
        "01" if kind == "rsa" else "02", "--pin", "1234")
    pin_file = tmp_path / "pin"
    pin_file.write_text("1234\n")
    uri = f"pkcs11:token=radtrust;object=signer-{kind}?module-path={SOFTHSM}"
    s = load_signer(uri, p.signer_cert, password=read_password(file=pin_file))
    try:
        for mac in ("sha256", "ripemd160"):
            out = tmp_path / f"{mac}.dcm"
            sign_file(CT, out, s, mac=mac, profile="creator" if kind == "rsa" else "none")
            _ok(p, out)
    finally:
        s.close()


def test_cli_signs_with_a_token_pin_from_file(softhsm, pki, tmp_path, capsys):
    pytest.importorskip("pkcs11")
    from radtrust.cli import main

    d, run = softhsm
    key = serialization.load_pem_private_key(pki.signer_key.read_bytes(), None)
    pem = d / "cli.pem"
    pem.write_bytes(key_pem(key))
    run("--import", str(pem), "--token", "radtrust", "--label", "signer-cli", "--id", "03", "--pin", "1234")
    (tmp_path / "pin").write_text("1234\n")
    uri = f"pkcs11:token=radtrust;object=signer-cli?module-path={SOFTHSM}"
    rc = main(["sign", str(CT), "--key", uri, "--cert", str(pki.signer_cert), "--password-file", str(tmp_path / "pin"),
               "--profile", "base", "--out", str(tmp_path / "out"), "--no-credential"])
    assert rc == 0, capsys.readouterr().err
    _ok(pki, tmp_path / "out" / CT.name)
