"""C2PA export: the sidecar manifest store validates with c2pa-python's Reader against the dev trust anchor,
and fails after a one-byte change to the file."""

from __future__ import annotations

import pytest

pytest.importorskip("c2pa", reason="c2pa-python not installed (pip install 'radtrust[c2pa]')")

from radtrust.errors import VerificationError  # noqa: E402
from radtrust.provenance.credential.c2pa_export import BINDING_LABEL, export_c2pa, read_c2pa  # noqa: E402
from radtrust.provenance.derive import derive_file  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory, acquired, cred_signer):
    d = tmp_path_factory.mktemp("c2pa")
    derived = d / "anon.dcm"
    derive_file(acquired, "anonymize", cred_signer, out=derived, secret=b"x" * 32)
    export_c2pa(derived, d / "anon.dcm.c2pa", cred_signer)
    return derived, d / "anon.dcm.c2pa"


def test_reader_trusts_the_manifest_with_the_dev_anchor(exported, cred_pki):
    dicom, store = exported
    result = read_c2pa(dicom, store, anchors_pem=cred_pki.root.read_text())
    assert result["state"] == "Trusted", result["results"]
    manifest = result["manifest"]["manifests"][result["manifest"]["active_manifest"]]
    labels = {a["label"] for a in manifest["assertions"]}
    assert BINDING_LABEL in labels
    actions = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    assert [a["action"] for a in actions] == ["c2pa.created", "c2pa.edited.metadata"]
    assert actions[1]["parameters"]["org.radtrust.action"] == "anonymized"


def test_without_anchor_the_manifest_is_not_trusted(exported):
    dicom, store = exported
    assert read_c2pa(dicom, store)["state"] == "Valid"


def test_one_byte_change_invalidates_the_c2pa_hard_binding(exported, cred_pki, tmp_path):
    dicom, store = exported
    data = bytearray(dicom.read_bytes())
    data[len(data) // 2] ^= 0x01
    changed = tmp_path / "changed.dcm"
    changed.write_bytes(bytes(data))
    result = read_c2pa(changed, store, anchors_pem=cred_pki.root.read_text())
    assert result["state"] == "Invalid"
    failures = result["results"]["activeManifest"]["failure"]
    assert any(f["code"] == "assertion.dataHash.mismatch" for f in failures)


def test_tampered_manifest_store_is_invalid(exported, cred_pki, tmp_path):
    dicom, store = exported
    data = bytearray(store.read_bytes())
    i = data.find(b"anonymized")
    data[i] ^= 0x01
    bad = tmp_path / "bad.c2pa"
    bad.write_bytes(bytes(data))
    assert read_c2pa(dicom, bad, anchors_pem=cred_pki.root.read_text())["state"] == "Invalid"


def test_broken_credential_is_not_exported(tmp_path, acquired, cred_signer):
    from tests.provenance.credential.conftest import read

    ds = read(acquired)
    ds.KVP = "150"
    ds.save_as(tmp_path / "t.dcm")
    with pytest.raises(VerificationError, match="KVP"):
        export_c2pa(tmp_path / "t.dcm", tmp_path / "t.c2pa", cred_signer)
    assert not (tmp_path / "t.c2pa").exists()
