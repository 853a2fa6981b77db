"""Credentials signed by a key that never leaves a PKCS#11 token (SoftHSM2): RSA as RS256, ECDSA as ES256."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from radtrust.provenance.credential import issue_dataset, load_certificates, load_signer, make_action
from radtrust.provenance.credential.verify import verify_dataset
from radtrust.provenance.signatures.pki import key_pem
from tests.provenance.credential.conftest import read
from tests.provenance.signatures.conftest import pki, pki_ec  # noqa: F401  (fixtures: RSA and ECDSA dev PKIs)
from tests.provenance.conftest import SOFTHSM


@pytest.mark.parametrize("kind,alg", [("rsa", "RS256"), ("ecdsa", "ES256")])
def test_token_key_issues_a_verifiable_credential(kind, alg, softhsm, pki, pki_ec, sample_ct_files):  # noqa: F811
    pytest.importorskip("pkcs11")
    d, run = softhsm
    p = pki if kind == "rsa" else pki_ec
    pem = d / f"cred-{kind}.pem"
    pem.write_bytes(key_pem(serialization.load_pem_private_key(p.signer_key.read_bytes(), None)))
    run("--import", str(pem), "--token", "radtrust", "--label", f"cred-{kind}", "--id",
        "11" if kind == "rsa" else "12", "--pin", "1234")
    signer = load_signer(f"pkcs11:token=radtrust;object=cred-{kind}?module-path={SOFTHSM}", p.signer_cert, p.chain,
                         password=b"1234")
    try:
        ds = read(sample_ct_files[0])
        issue_dataset(ds, signer, make_action("acquired"))
    finally:
        signer.close()
    result = verify_dataset(ds, None, trust=load_certificates(p.root))
    assert result.chain.current.opened.algorithm == alg
