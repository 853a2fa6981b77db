"""radtrust keys init / sign / verify / unsign / info, in-process through radtrust.cli.main."""

from __future__ import annotations

import json
import os
import stat

import pytest

from radtrust.cli import main
from tests.provenance.signatures.conftest import dcmsign_verify


def test_keys_init_writes_private_files(tmp_path, capsys):
    assert main(["keys", "init", str(tmp_path / "pki"), "--algorithm", "ecdsa"]) == 0
    assert "NOT FOR PRODUCTION" in capsys.readouterr().out
    for f in (tmp_path / "pki").iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert main(["keys", "init", str(tmp_path / "pki")]) == 2  # refuses to overwrite


def test_sign_verify_tamper_unsign(pki, samples_dir, tmp_path, capsys):
    out = tmp_path / "signed"
    rc = main(["sign", str(samples_dir / "ct"), str(samples_dir / "cr"), "--key", str(pki.signer_key),
               "--cert", str(pki.signer_cert), "--profile", "creator", "--out", str(out), "--jobs", "2",
               "--format", "jsonl"])
    assert rc == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 7 and all(r["profile"] == "creator" for r in records)
    assert (out / "ct_01.dcm").exists() and (out / "RG1_crop.dcm").exists()
    assert dcmsign_verify(pki, out / "ct_03.dcm").returncode == 0

    common = ["--trust", str(pki.root), "--intermediate", str(pki.chain), "--crl", str(pki.crl)]
    assert main(["verify", str(out), *common, "--format", "jsonl"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert {r["status"] for r in lines} == {"valid"}
    sig = lines[0]["signatures"][0]
    assert {"uid", "signer", "algorithm", "profile", "time", "timestamp", "covered", "result"} <= set(sig)
    assert "PixelData" in sig["covered"]

    victim = out / "ct_02.dcm"
    data = bytearray(victim.read_bytes())
    data[-100] ^= 0xFF  # one pixel byte in the last JPEG 2000 fragment
    victim.write_bytes(bytes(data))
    assert main(["verify", str(victim), *common]) == 1
    assert "INVALID" in capsys.readouterr().out

    assert main(["unsign", str(out / "ct_01.dcm"), "--all", "--out", str(tmp_path / "u")]) == 0
    capsys.readouterr()
    # The content credential `sign` issued stays valid: the file passes on it, and says so (issue 4).
    assert main(["verify", str(tmp_path / "u"), *common, "--format", "jsonl"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["status"] == "unsigned" and rec["credential"]["status"] == "valid"


def test_verify_bad_input_and_usage(pki, tmp_path, capsys):
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\x04\x00")
    assert main(["verify", str(junk), "--trust", str(pki.root), "--format", "jsonl"]) == 2
    assert json.loads(capsys.readouterr().out)["status"] == "error"
    assert main(["verify", str(junk)]) == 2  # no --trust
    assert main(["verify", "--print-policy"]) == 0
    assert "coverage" in json.loads(capsys.readouterr().out)["all_of"][1]


def test_sign_with_p12_password_env_and_tsa(pki, samples_dir, tsa_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RT_P12", "s3cret")
    out = tmp_path / "ts"
    rc = main(["sign", str(samples_dir / "cr"), "--key", str(pki.signer_p12), "--password-env", "RT_P12",
               "--tsa", tsa_url, "--out", str(out), "--jobs", "1"])
    assert rc == 0, capsys.readouterr().err
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"require_timestamp": True, "coverage": ["PixelData"]}))
    capsys.readouterr()
    assert main(["verify", str(out), "--trust", str(pki.root), "--intermediate", str(pki.chain),
                 "--policy", str(policy), "--format", "jsonl"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["signatures"][0]["timestamp"]
    assert dcmsign_verify(pki, out / "RG1_crop.dcm", "+tr").returncode == 0


def test_sign_refuses_ecdsa_under_creator_profile(pki_ec, samples_dir, tmp_path, capsys):
    rc = main(["sign", str(samples_dir / "ct" / "ct_01.dcm"), "--key", str(pki_ec.signer_key),
               "--cert", str(pki_ec.signer_cert), "--profile", "creator", "--out", str(tmp_path)])
    assert rc == 2
    assert "ECDSA" in capsys.readouterr().err
    assert not os.listdir(tmp_path)  # nothing half-written


def test_info_lists_signatures(pki, signer, tmp_path, capsys):
    from radtrust.provenance.signatures import sign_file
    from tests.provenance.signatures.conftest import CT

    out = tmp_path / "s.dcm"
    created = sign_file(CT, out, signer, mac="sha512")
    assert main(["info", str(out), "--format", "jsonl", "--no-series"]) == 0
    rec = json.loads(capsys.readouterr().out.splitlines()[0])
    assert rec["signatures"] == 1
    assert rec["signature_list"][0]["uid"] == created.uid and rec["signature_list"][0]["mac"] == "SHA512"


def test_sign_in_place_with_tag_file_and_item(pki, tmp_path, capsys):
    import shutil

    from tests.provenance.signatures.conftest import CT

    target = tmp_path / "ct.dcm"
    shutil.copyfile(CT, target)
    tags = tmp_path / "tags.txt"
    tags.write_text("# what the modality vouches for\nPixelData\nSOPInstanceUID\n0010,0020\n")
    key = ["--key", str(pki.signer_key), "--cert", str(pki.signer_cert), "--no-credential"]
    assert main(["sign", str(target), *key, "--tags", str(tags), "--in-place", "--mac", "sha512"]) == 0
    assert main(["sign", str(target), *key, "--item", "ProcedureCodeSequence[0]", "--in-place"]) == 0
    assert dcmsign_verify(pki, target).stderr.count("Verification : OK") == 2
    capsys.readouterr()
    # Valid signatures, but the default coverage policy wants patient name, rescale, spacing... too.
    assert main(["verify", str(target), "--trust", str(pki.root), "--intermediate", str(pki.chain), "--format", "jsonl"]) == 1
    rec = json.loads(capsys.readouterr().out)
    assert rec["status"] == "policy-failed" and "RescaleIntercept" in rec["reasons"][0]
    assert [s["location"] for s in rec["signatures"]] == ["", "ProcedureCodeSequence[0]"]
    assert sorted(rec["signatures"][0]["covered"]) == ["PatientID", "PixelData", "SOPInstanceUID"]


def test_a_picture_is_named_as_such_not_as_malformed_dicom(pki, samples_dir, tmp_path, capsys):
    picture = samples_dir / "picture" / "4d98e1de.jpg"
    before = picture.read_bytes()
    rc = main(["sign", str(picture), "--key", str(pki.signer_key), "--cert", str(pki.signer_cert),
               "--out", str(tmp_path / "s")])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"radtrust: error: {picture}: not a DICOM file (a JPEG picture)"]
    assert main(["verify", str(picture), "--trust", str(pki.root)]) == 2
    assert "not a DICOM file (a JPEG picture)" in capsys.readouterr().err
    assert picture.read_bytes() == before and not (tmp_path / "s" / "4d98e1de.jpg").exists()


# --- bad input found by the audit (REPORT_A): one line on stderr, exit 2, nothing written, inputs untouched ---

def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("radtrust: error: "), err
    return err[0]


@pytest.mark.parametrize("content, expected", [
    (b"\xff\xfe\x00\x01", "not a text file"),
    (b"", "lists no attributes to sign"),
    (b"# only a comment\n\n", "lists no attributes to sign"),
    (b"PixelData\nNotAKeyword\n", "line 2: unknown attribute 'NotAKeyword'"),
])
def test_sign_refuses_a_bad_tags_file_naming_it(pki, content, expected, tmp_path, capsys):
    from tests.provenance.signatures.conftest import CT

    tags = tmp_path / "tags.txt"
    tags.write_bytes(content)
    rc = main(["sign", str(CT), "--key", str(pki.signer_key), "--cert", str(pki.signer_cert), "--tags", str(tags),
               "--out", str(tmp_path / "o")])
    assert rc == 2
    line = _one_error_line(capsys)
    assert str(tags) in line and expected in line
    assert not (tmp_path / "o").exists()


def test_password_files_that_are_not_text_or_empty(pki, tmp_path, capsys):
    from tests.provenance.signatures.conftest import CT

    binary, empty = tmp_path / "binary", tmp_path / "empty"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    empty.write_bytes(b"")
    assert main(["sign", str(CT), "--key", str(pki.signer_p12), "--password-file", str(binary),
                 "--out", str(tmp_path / "o")]) == 2
    assert f"{binary}: password file is not UTF-8 text" in _one_error_line(capsys)
    assert main(["keys", "init", str(tmp_path / "k"), "--p12-password-file", str(binary)]) == 2
    assert "not UTF-8 text" in _one_error_line(capsys)
    assert main(["keys", "init", str(tmp_path / "k"), "--p12-password-file", str(empty)]) == 2
    assert f"{empty}: empty password" in _one_error_line(capsys)
    assert not (tmp_path / "o").exists() and not (tmp_path / "k").exists()


def test_keys_init_refuses_an_empty_path(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["keys", "init", ""]) == 2
    assert "empty path" in _one_error_line(capsys)
    assert not os.listdir(tmp_path)  # no PKI in the current folder


def test_sign_refuses_a_tsa_that_is_no_http_url(pki, tmp_path, capsys):
    from tests.provenance.signatures.conftest import CT

    assert main(["sign", str(CT), "--key", str(pki.signer_key), "--cert", str(pki.signer_cert), "--tsa", "notaurl",
                 "--out", str(tmp_path / "o")]) == 2
    assert "TSA URL must be http:// or https://, not 'notaurl'" in _one_error_line(capsys)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("credential", [[], ["--no-credential"]])
def test_an_unknown_transfer_syntax_is_refused_out_and_in_place(pki, credential, tmp_path, capsys):
    import pydicom

    from tests.provenance.signatures.conftest import CR

    ds = pydicom.dcmread(CR)  # Explicit VR LE body under a file meta that names no transfer syntax
    ds.file_meta.TransferSyntaxUID = "1.2.3.4.5.6"
    src = tmp_path / "ts_unknown.dcm"
    ds.save_as(src)
    before = src.read_bytes()
    key = ["--key", str(pki.signer_key), "--cert", str(pki.signer_cert), *credential]
    assert main(["sign", str(src), *key, "--out", str(tmp_path / "o")]) == 2
    assert f"{src}: unknown transfer syntax UID 1.2.3.4.5.6" in _one_error_line(capsys)
    assert main(["sign", str(src), *key, "--in-place"]) == 2
    _one_error_line(capsys)
    assert src.read_bytes() == before and not (tmp_path / "o").exists()


def test_jobs_must_be_at_least_one(pki, tmp_path, capsys):
    from tests.provenance.signatures.conftest import CT

    assert main(["sign", str(CT), "--key", str(pki.signer_key), "--cert", str(pki.signer_cert), "--jobs", "0",
                 "--out", str(tmp_path / "o")]) == 2
    assert "--jobs must be at least 1" in _one_error_line(capsys)
    assert main(["verify", str(CT), "--trust", str(pki.root), "--jobs", "0"]) == 2
    assert "--jobs must be at least 1" in _one_error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_a_text_file_is_named_not_dicom(pki, tmp_path, capsys):
    text = tmp_path / "notes.dcm"
    text.write_text("hello world, this is not an image\n")
    assert main(["sign", str(text), "--key", str(pki.signer_key), "--cert", str(pki.signer_cert),
                 "--out", str(tmp_path / "o")]) == 2
    assert _one_error_line(capsys) == f"radtrust: error: {text}: not a DICOM file (no DICM preamble, no DICOM header)"
    assert main(["verify", str(text), "--trust", str(pki.root)]) == 2
    assert "not a DICOM file (no DICM preamble" in capsys.readouterr().err


@pytest.mark.parametrize("policy", [b'{"all_of": 5}', b'{"all_of": [{"coverage": [null, 5, {"a": 1}]}]}',
                                    b"\xff\xfe\x00\x01", b"[" * 100_000 + b"]" * 100_000])
def test_verify_refuses_a_malformed_policy_file(pki, policy, tmp_path, capsys):
    from tests.provenance.signatures.conftest import CT

    p = tmp_path / "policy.json"
    p.write_bytes(policy)
    assert main(["verify", str(CT), "--trust", str(pki.root), "--policy", str(p)]) == 2
    assert str(p) in _one_error_line(capsys)
