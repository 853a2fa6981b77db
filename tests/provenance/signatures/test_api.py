"""Library API: sign_dataset/verify_dataset, verification time, unsign by UID, hostile input never crashes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pydicom
import pytest
from cryptography.hazmat.primitives import serialization

from radtrust.errors import Error, InvalidDicom, VerificationError
from radtrust.provenance.signatures import (
    load_certificates, sign_dataset, sign_file, verify_dataset, verify_file,
)
from radtrust.provenance.signatures import _rawdicom as raw
from radtrust.provenance.signatures.keys import SoftwareSigner
from radtrust.provenance.signatures.pki import issue, new_key
from radtrust.provenance.signatures.sign import sign_bytes, unsign_bytes
from radtrust.provenance.signatures.verify import examine
from tests.provenance.signatures.conftest import CR, CT, dcmsign_verify, trust_for


def test_sign_and_verify_pydicom_datasets(pki, signer):
    ds = pydicom.dcmread(CT)
    signed = sign_dataset(ds, signer, mac="sha384")
    assert "DigitalSignaturesSequence" in signed and "DigitalSignaturesSequence" not in ds
    cfg = trust_for(pki)
    result = verify_dataset(signed, trust=cfg.trust, chain=cfg.chain)
    assert result.ok and result.signatures[0].mac == "SHA384"
    signed.PatientID = "SOMEONE-ELSE"
    with pytest.raises(VerificationError) as err:
        verify_dataset(signed, trust=cfg.trust, chain=cfg.chain)
    assert err.value.result.status == "invalid" and err.value.exit_code == 1


def test_verification_time_decides_expiry(pki, tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    inter = load_certificates(pki.intermediate)[0]
    ikey = serialization.load_pem_private_key(pki.intermediate_key.read_bytes(), None)
    k = new_key()
    s = SoftwareSigner(k, issue("short-lived", k, (inter, ikey), not_after=now + dt.timedelta(days=2)))
    out = tmp_path / "s.dcm"
    sign_file(CT, out, s)
    cfg = trust_for(pki)
    assert verify_file(out, trust=cfg.trust, chain=cfg.chain, at=now).ok
    with pytest.raises(VerificationError, match="expired"):
        verify_file(out, trust=cfg.trust, chain=cfg.chain, at=now + dt.timedelta(days=3))


def test_unsign_one_by_uid_keeps_the_other(pki, signer, signer_ec, tmp_path):
    a, _ = sign_bytes(CT.read_bytes(), signer)
    b, second = sign_bytes(a, signer_ec)
    c, removed = unsign_bytes(b, second.uid)
    assert removed == 1
    r = examine(raw.parse(c), trust_for(pki))
    assert r.status == "valid" and len(r.signatures) == 1
    out = tmp_path / "c.dcm"
    out.write_bytes(c)
    assert dcmsign_verify(pki, out, "+rg").returncode == 0
    assert unsign_bytes(c)[1] == 1
    with pytest.raises(Error):
        unsign_bytes(c, "1.2.3.4")


def test_ecdsa_p384_signer(pki_ec, tmp_path):
    inter = load_certificates(pki_ec.intermediate)[0]
    ikey = serialization.load_pem_private_key(pki_ec.intermediate_key.read_bytes(), None)
    k = new_key("ecdsa", 384)
    s = SoftwareSigner(k, issue("P-384 modality", k, (inter, ikey)))
    out = tmp_path / "p384.dcm"
    sign_file(CR, out, s, mac="sha384")
    assert dcmsign_verify(pki_ec, out, "+rg").returncode == 0
    assert verify_file(out, trust=trust_for(pki_ec).trust, chain=trust_for(pki_ec).chain).ok


def test_hostile_input_fails_cleanly(signer, trust):
    """Truncations and random byte changes give a status or one radtrust error, never a crash."""
    data = sign_bytes(CT.read_bytes(), signer)[0]
    rng = np.random.default_rng(1234)
    cuts = list(rng.integers(0, len(data), 40)) + [0, 10, 131, 132, 140, len(data) - 1]
    outcomes = set()
    for cut in cuts:
        try:
            outcomes.add(examine(raw.parse(data[:cut]), trust).status)
        except InvalidDicom:
            outcomes.add("error")
    header_region = 132 + 4096
    for _ in range(150):
        mutated = bytearray(data)
        for pos in rng.integers(132, header_region, 3):
            mutated[pos] = int(rng.integers(0, 256))
        try:
            outcomes.add(examine(raw.parse(bytes(mutated)), trust).status)
        except Error:
            outcomes.add("error")
    assert outcomes <= {"error", "invalid", "unsigned", "valid"}  # "valid": only unsigned bytes (meta, group lengths) hit
    assert "error" in outcomes and "invalid" in outcomes
