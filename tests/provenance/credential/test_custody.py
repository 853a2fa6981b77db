"""Chain of custody: derive operations issue credentials that reference their parent; tampering with the
history (entry removed, reordered, parent hash forged) is detected; lossy steps say who changed the pixels."""

from __future__ import annotations

import pytest

from radtrust.errors import VerificationError
from radtrust.provenance.credential import issue_dataset, make_action, store
from radtrust.provenance.credential.verify import CredentialError, verify_dataset, verify_file
from radtrust.provenance.derive import derive_file
from tests.provenance.credential.conftest import read


@pytest.fixture(scope="module")
def chain_files(tmp_path_factory, acquired, cred_signer):
    """acquired -> anonymized -> transcoded (RLE) -> lossy-compressed, one file per step."""
    d = tmp_path_factory.mktemp("chain")
    anon, rle, lossy = d / "anon.dcm", d / "rle.dcm", d / "lossy.dcm"
    derive_file(acquired, "anonymize", cred_signer, out=anon, secret=b"s" * 32, pseudonym="PSEUDO-1")
    derive_file(anon, "transcode", cred_signer, out=rle, target="rle")
    derive_file(rle, "compress", cred_signer, out=lossy, ratio=12)
    return {"acquired": acquired, "anon": anon, "rle": rle, "lossy": lossy}


def test_anonymized_keeps_pixels_and_names_metadata_changes(chain_files, cred_trust):
    result = verify_file(chain_files["anon"], trust=cred_trust, require_acquisition=True)
    steps = result.chain.steps
    assert [s.manifest.action.action for s in steps] == ["acquired", "anonymized"]
    assert not steps[1].pixels_changed
    assert {"PatientName", "PatientID", "StudyInstanceUID", "SOPInstanceUID"} <= set(steps[1].metadata_changed)
    assert result.summary.startswith("pixels unchanged since acquisition; bound metadata changed")
    ds = read(chain_files["anon"])
    assert ds.PatientIdentityRemoved == "YES" and ds.PatientID == "PSEUDO-1"
    assert not any(e.tag.is_private for e in ds if e.tag.group != store.PRIVATE_GROUP)
    assert "InstitutionName" not in ds and ds.StudyDate == ""


def test_lossless_transcode_changes_nothing_bound(chain_files, cred_trust):
    steps = verify_file(chain_files["rle"], trust=cred_trust).chain.steps
    assert steps[-1].manifest.action.action == "transcoded"
    assert not steps[-1].pixels_changed and steps[-1].metadata_changed == ()
    assert read(chain_files["rle"]).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5"


def test_lossy_step_says_who_changed_the_pixels(chain_files, cred_trust):
    result = verify_file(chain_files["lossy"], trust=cred_trust, require_acquisition=True)
    assert "pixels are NO LONGER those of acquisition: lossy-compressed by radtrust dev modality signer" \
        in result.summary
    assert "lossy JPEG 2000" in result.summary
    last = result.chain.steps[-1]
    assert last.pixels_changed and last.manifest.action.parameters["method"] == "ISO_15444_1"
    ds = read(chain_files["lossy"])
    assert ds.LossyImageCompression == "01" and ds.ImageType[0] == "DERIVED"


def test_lossy_file_fails_against_the_acquisition_binding(chain_files, cred_trust):
    """The acquisition credential alone (what a re-encoding PACS would keep) no longer matches the pixels."""
    ds = read(chain_files["lossy"])
    bundle = store.extract(ds)
    with pytest.raises(CredentialError) as info:
        verify_dataset(ds, None, trust=cred_trust, bundle=store.Bundle(bundle.ancestors[-1]))
    assert "frame 1 of 1 (pixel values changed)" in info.value.changed


def test_crop_moves_geometry(tmp_path, acquired, cred_signer, cred_trust):
    out = tmp_path / "crop.dcm"
    derive_file(acquired, "crop", cred_signer, out=out, box=(100, 50, 200, 300))
    ds, orig = read(out), read(acquired)
    assert (ds.Rows, ds.Columns) == (200, 300)
    assert (ds.pixel_array == orig.pixel_array[100:300, 50:350]).all()
    spacing = [float(v) for v in orig.PixelSpacing]
    assert float(ds.ImagePositionPatient[0]) == pytest.approx(float(orig.ImagePositionPatient[0]) + 50 * spacing[1],
                                                               abs=1e-3)
    result = verify_file(out, trust=cred_trust)
    assert result.chain.steps[-1].pixels_changed
    assert {"Rows", "Columns", "ImagePositionPatient", "SOPInstanceUID"} <= set(result.chain.steps[-1].metadata_changed)


def test_history_entry_removed(chain_files, cred_trust):
    ds = read(chain_files["lossy"])
    b = store.extract(ds)
    store.embed(ds, store.Bundle(b.credential, b.ancestors[1:]))  # drop the 'transcoded' parent
    with pytest.raises(CredentialError) as info:
        verify_dataset(ds, chain_files["lossy"], trust=cred_trust)
    assert info.value.status == "invalid"
    assert "history broken" in str(info.value)


def test_history_truncated(chain_files, cred_trust):
    ds = read(chain_files["lossy"])
    b = store.extract(ds)
    store.embed(ds, store.Bundle(b.credential, ()))
    with pytest.raises(CredentialError) as info:
        verify_dataset(ds, chain_files["lossy"], trust=cred_trust)
    assert "history incomplete" in str(info.value)


def test_history_reordered(chain_files, cred_trust):
    ds = read(chain_files["lossy"])
    b = store.extract(ds)
    store.embed(ds, store.Bundle(b.credential, (b.ancestors[1], b.ancestors[0], *b.ancestors[2:])))
    with pytest.raises(CredentialError) as info:
        verify_dataset(ds, chain_files["lossy"], trust=cred_trust)
    assert "history broken" in str(info.value)


def test_history_with_an_extra_credential(chain_files, acquired, cred_trust):
    ds = read(chain_files["rle"])
    b = store.extract(ds)
    foreign = store.extract(read(acquired)).credential
    store.embed(ds, store.Bundle(b.credential, (*b.ancestors, foreign)))
    with pytest.raises(CredentialError) as info:
        verify_dataset(ds, chain_files["rle"], trust=cred_trust)
    assert "not part of the history" in str(info.value)


def test_parent_hash_forged_by_a_trusted_signer(tmp_path, chain_files, acquired_pair, cred_signer, cred_trust):
    """A new credential whose parent hash points at another image's acquisition credential: the link breaks."""
    ds = read(chain_files["anon"])
    b = store.extract(ds)
    other = store.extract(read(acquired_pair[1]))
    store.embed(ds, other)  # pretend this image descends from ct_02's acquisition
    store.remove(ds)
    forged = issue_dataset(ds, cred_signer, make_action("annotated"), parent=other, embed=False)
    store.embed(ds, store.Bundle(forged.credential, b.ancestors))  # keep the real history beside it
    with pytest.raises(CredentialError) as info:
        verify_dataset(ds, chain_files["anon"], trust=cred_trust)
    assert "history broken" in str(info.value)


def test_chain_required_to_reach_acquisition(tmp_path, sample_ct_files, cred_signer, cred_trust):
    ds = read(sample_ct_files[0])
    issue_dataset(ds, cred_signer, make_action("annotated"))
    verify_dataset(ds, None, trust=cred_trust)
    with pytest.raises(CredentialError) as info:
        verify_dataset(ds, None, trust=cred_trust, require_acquisition=True)
    assert "does not reach an acquisition credential" in str(info.value)


def test_derive_refuses_a_tampered_parent(tmp_path, acquired, cred_signer):
    ds = read(acquired)
    ds.RescaleIntercept = -1000
    ds.save_as(tmp_path / "tampered.dcm")
    with pytest.raises(VerificationError, match="RescaleIntercept"):
        derive_file(tmp_path / "tampered.dcm", "transcode", cred_signer, out=tmp_path / "x.dcm", target="rle")
    assert not (tmp_path / "x.dcm").exists()


def test_anonymize_uids_consistent_with_one_secret(tmp_path, acquired_pair, cred_signer):
    outs = []
    for i, src in enumerate(acquired_pair):
        outs.append(tmp_path / f"{i}.dcm")
        derive_file(src, "anonymize", cred_signer, out=outs[-1], secret=b"k" * 32)
    a, b = (read(p) for p in outs)
    assert a.StudyInstanceUID == b.StudyInstanceUID and a.SeriesInstanceUID == b.SeriesInstanceUID
    assert a.SOPInstanceUID != b.SOPInstanceUID and a.StudyInstanceUID.startswith("2.25.")


def test_sign_refuses_to_extend_a_broken_credential(tmp_path, acquired, cred_signer):
    """Re-signing a tampered image must not launder the change into a valid-looking history."""
    from radtrust.provenance.credential.ps315 import sign_with_credential
    from tests.provenance.credential.conftest import to_bytes

    ds = read(acquired)
    ds.KVP = "80"
    with pytest.raises(VerificationError, match="KVP"):
        sign_with_credential(to_bytes(ds), cred_signer, path=tmp_path / "x.dcm")


def test_signing_a_credentialed_image_adds_a_signed_step(acquired, cred_signer, cred_trust, tmp_path):
    from radtrust.provenance.credential.ps315 import sign_with_credential

    signed, _ = sign_with_credential(acquired.read_bytes(), cred_signer, path=acquired)
    (tmp_path / "s.dcm").write_bytes(signed)
    steps = verify_file(tmp_path / "s.dcm", trust=cred_trust).chain.steps
    assert [s.manifest.action.action for s in steps] == ["acquired", "signed"]


def _dciodvfy_errors(path) -> set[str]:
    import subprocess

    from tests.conftest import require_tool

    proc = subprocess.run([require_tool("dciodvfy"), str(path)], capture_output=True, text=True, timeout=60)
    return {line.strip() for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("Error")}


@pytest.mark.parametrize("step", ["anon", "rle", "lossy"])
def test_derived_objects_add_no_iod_errors(chain_files, step):
    """dciodvfy finds no error in a derived object that its source did not already have."""
    assert _dciodvfy_errors(chain_files[step]) <= _dciodvfy_errors(chain_files["acquired"])
