"""RFC 3161 timestamps on credentials, from a loopback TSA whose replies come from `openssl ts -reply`."""

from __future__ import annotations

import cbor2
import pytest

from radtrust.provenance.credential import issue_dataset, load_certificates, load_signer, make_action, store
from radtrust.provenance.credential.verify import CredentialError, verify_dataset
from radtrust.provenance.signatures.timestamp import TsaClient
from tests.provenance.credential.conftest import read
from tests.provenance.signatures.conftest import pki, tsa_url  # noqa: F401  (fixtures: dev PKI with TSA, TSA)


@pytest.fixture(scope="module")
def stamped(pki, tsa_url, sample_ct_files):  # noqa: F811
    signer = load_signer(pki.signer_key, pki.signer_cert, pki.chain)
    ds = read(sample_ct_files[0])
    issue_dataset(ds, signer, make_action("acquired"), timestamper=TsaClient(tsa_url))
    return ds


def test_timestamped_credential_verifies(stamped, pki):  # noqa: F811
    result = verify_dataset(stamped, None, trust=load_certificates(pki.root))
    step = result.chain.steps[0]
    assert step.opened.timestamp_token is not None and step.to_json()["timestamped"]


def test_token_from_another_signature_is_rejected(stamped, pki, sample_ct_files, tsa_url):  # noqa: F811
    """A token copied onto a different credential does not cover its signature."""
    signer = load_signer(pki.signer_key, pki.signer_cert, pki.chain)
    other = read(sample_ct_files[1])
    issue_dataset(other, signer, make_action("acquired"))
    token = bytes(cbor2.loads(store.extract(stamped).credential).value[1]["sigTst"]["tstTokens"][0]["val"])
    parts = list(cbor2.loads(store.extract(other).credential).value)
    parts[1] = {"sigTst": {"tstTokens": [{"val": token}]}}
    store.embed(other, store.Bundle(cbor2.dumps(cbor2.CBORTag(18, parts), canonical=True)))
    with pytest.raises(CredentialError) as info:
        verify_dataset(other, None, trust=load_certificates(pki.root))
    assert info.value.status == "untrusted"
    assert "timestamp" in str(info.value)
