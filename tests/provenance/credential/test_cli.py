"""The credential commands end to end, in-process: sign (credential by default), verify (both verdicts),
derive, verify --chain, credential show/verify/issue/export."""

from __future__ import annotations

import json
import subprocess

import pytest

from radtrust.cli import main
from tests.conftest import require_tool


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    assert main(["-q", "keys", "init", str(d / "pki"), "--algorithm", "ecdsa"]) == 0
    return d


def _key(dev):
    p = dev / "pki"
    return ["--key", str(p / "signer.key"), "--cert", str(p / "signer.pem"), "--chain", str(p / "chain.pem")]


def _trust(dev):
    return ["--trust", str(dev / "pki" / "root-ca.pem"), "--intermediate", str(dev / "pki" / "chain.pem")]


@pytest.fixture(scope="module")
def signed(dev, sample_ct_files):
    out = dev / "signed"
    assert main(["-q", "sign", str(sample_ct_files[0]), str(sample_ct_files[1]), *_key(dev), "--out", str(out),
                 "--jobs", "1"]) == 0
    return out


def test_sign_issues_credential_and_verify_reports_both(dev, signed, capsys):
    capsys.readouterr()
    assert main(["verify", str(signed), *_trust(dev), "--format", "jsonl", "--jobs", "1"]) == 0
    recs = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(recs) == 2
    for r in recs:
        assert r["status"] == "valid"
        assert set(r["credential"]) >= {"status", "changed", "reasons", "history"}
        assert r["credential"]["status"] == "valid" and r["credential"]["history"][0]["action"] == "acquired"


def test_reencoded_file_passes_on_the_credential(dev, signed, tmp_path, capsys):
    gdcm = require_tool("gdcmconv")
    out = tmp_path / "raw.dcm"
    subprocess.run([gdcm, "--raw", str(signed / "ct_01.dcm"), str(out)], check=True, capture_output=True)
    capsys.readouterr()
    assert main(["verify", str(out), *_trust(dev), "--jobs", "1"]) == 0
    text = capsys.readouterr().out
    assert ("PS3.15 signature broken by re-encoding, content credential valid: pixels and bound metadata "
            "unchanged since acquisition") in text


def test_reencoded_and_tampered_file_fails(dev, signed, tmp_path, capsys):
    import pydicom

    ds = pydicom.dcmread(signed / "ct_02.dcm")
    ds.decompress(generate_instance_uid=False)
    ds.RescaleIntercept = -1023
    ds.save_as(tmp_path / "hu.dcm")
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "hu.dcm"), *_trust(dev), "--format", "jsonl", "--jobs", "1"]) == 1
    rec = json.loads(capsys.readouterr().out)
    assert rec["credential"]["status"] == "invalid" and rec["credential"]["changed"] == ["RescaleIntercept"]


def test_sign_without_credential(dev, sample_ct_files, tmp_path, capsys):
    assert main(["-q", "sign", str(sample_ct_files[2]), *_key(dev), "--out", str(tmp_path), "--no-credential",
                 "--jobs", "1"]) == 0
    capsys.readouterr()
    assert main(["verify", str(tmp_path), *_trust(dev), "--format", "jsonl", "--jobs", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["credential"]["status"] == "absent"


def test_derive_and_verify_custody(dev, signed, tmp_path, capsys):
    anon, lossy = tmp_path / "anon", tmp_path / "lossy"
    assert main(["derive", "anonymize", str(signed), *_key(dev), "--out", str(anon)]) == 0
    assert main(["derive", "compress", str(anon / "ct_01.dcm"), *_key(dev), "--out", str(lossy),
                 "--ratio", "15"]) == 0
    capsys.readouterr()
    assert main(["verify", str(lossy), *_trust(dev), "--chain", "--jobs", "1"]) == 0
    text = capsys.readouterr().out
    assert "no PS3.15 signature, content credential valid: pixels are NO LONGER those of acquisition" in text
    assert "1. acquired" in text and "2. anonymized" in text and "3. lossy-compressed" in text
    assert "PIXELS CHANGED" in text


def test_credential_show_verify_and_export(dev, signed, tmp_path, capsys):
    pytest.importorskip("c2pa")
    f = signed / "ct_01.dcm"
    capsys.readouterr()
    assert main(["credential", "show", str(f), "--format", "jsonl"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["credential"]["status"] == "valid" and rec["credential"]["history"][0]["signer_name"]
    assert main(["credential", "verify", str(f), "--trust", str(dev / "pki" / "root-ca.pem"), "--chain"]) == 0
    assert "1. acquired" in capsys.readouterr().out
    assert main(["credential", "export", "--c2pa", str(f), *_key(dev), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "ct_01.dcm.c2pa").stat().st_size > 1000


def test_credential_issue_then_verify_untrusted(dev, sample_ct_files, tmp_path, capsys):
    assert main(["-q", "credential", "issue", str(sample_ct_files[3]), *_key(dev), "--out", str(tmp_path),
                 "--sidecar"]) == 0
    assert (tmp_path / (sample_ct_files[3].name + ".radcred")).exists()
    other = tmp_path / "other"
    assert main(["-q", "keys", "init", str(other)]) == 0
    capsys.readouterr()
    assert main(["credential", "verify", str(tmp_path), "--trust", str(other / "root-ca.pem")]) == 1
    assert "content credential untrusted" in capsys.readouterr().out


def test_bad_input_is_one_line_exit_2(tmp_path, capsys):
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all")
    assert main(["credential", "show", str(junk)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "junk.dcm" in err[0]


def test_derive_refuses_tampered_parent_exit_1(dev, signed, tmp_path, capsys):
    import pydicom

    ds = pydicom.dcmread(signed / "ct_02.dcm")
    ds.PatientID = "X"
    ds.save_as(tmp_path / "t.dcm")
    capsys.readouterr()
    assert main(["derive", "transcode", str(tmp_path / "t.dcm"), "--to", "rle", *_key(dev),
                 "--out", str(tmp_path / "o")]) == 1
    assert "refused" in capsys.readouterr().out and not (tmp_path / "o" / "t.dcm").exists()


# --- bad input found by the audit (REPORT_A) --------------------------------------------------------------------

def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("radtrust: error: "), err
    return err[0]


def test_credential_show_exits_1_on_an_invalid_credential(dev, signed, tmp_path, capsys):
    import pydicom

    from radtrust.provenance.credential.store import PRIVATE_GROUP

    ds = pydicom.dcmread(signed / "ct_01.dcm")
    elem = next(e for e in ds if e.tag.group == PRIVATE_GROUP and e.VR in ("OB", "UN"))
    value = bytearray(elem.value)
    value[len(value) // 2] ^= 0xFF
    elem.value = bytes(value)
    ds.save_as(tmp_path / "flipped.dcm")
    capsys.readouterr()
    assert main(["credential", "show", str(tmp_path / "flipped.dcm")]) == 1
    assert "content credential invalid" in capsys.readouterr().out
    assert main(["credential", "show", str(signed / "ct_02.dcm")]) == 0


def _rle(path, frames_claimed=1, rows=32, cols=32):
    """A one-frame RLE image whose header may claim more frames or a larger size than it holds."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.7", generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID, ds.Modality = "Test^RLE", "RLE1", "OT"
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 32, 32, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.arange(32 * 32, dtype=np.uint16).tobytes()
    ds.compress(RLELossless, generate_instance_uid=False)
    ds.NumberOfFrames, ds.Rows, ds.Columns = frames_claimed, rows, cols
    ds.save_as(path, enforce_file_format=True)
    return path


def _truncated(src, path):
    data = src.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _without_pixels(src, path):
    import pydicom

    ds = pydicom.dcmread(src)
    del ds.PixelData
    ds.save_as(path)
    return path


def _rows_as_text(src, path):
    import pydicom
    from pydicom.dataelem import DataElement

    ds = pydicom.dcmread(src)
    ds[0x00280010] = DataElement(0x00280010, "LO", "abc")
    ds.save_as(path)
    return path


BROKEN = {  # name -> (builder, what the one-line error may say)
    "truncated": (lambda src, p: _truncated(src, p), ("truncated", "no Pixel Data")),
    "no-pixel-data": (lambda src, p: _without_pixels(src, p), ("no Pixel Data",)),
    "rows-as-text": (lambda src, p: _rows_as_text(src, p), ("Rows is not an integer",)),
    "more-frames-than-held": (lambda src, p: _rle(p, frames_claimed=3), ("pixel data",)),
    "huge-header-over-tiny-rle": (lambda src, p: _rle(p, frames_claimed=4, rows=65535, cols=65535),
                                  ("RADTRUST_MAX_PIXEL_BYTES",)),
}


@pytest.mark.parametrize("operation", [["transcode", "--to", "explicit-le"], ["transcode", "--to", "j2k"],
                                       ["compress"], ["crop", "--box", "0,0,10,10"]])
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_derive_refuses_broken_pixel_data(dev, sample_ct_files, case, operation, tmp_path, capsys):
    build, expected = BROKEN[case]
    src = build(sample_ct_files[0], tmp_path / f"{case}.dcm")
    before = src.read_bytes()
    assert main(["derive", *operation, str(src), *_key(dev), "--out", str(tmp_path / "o")]) == 2
    line = _one_error_line(capsys)
    assert str(src) in line and any(e in line for e in expected), line
    assert not (tmp_path / "o").exists() and src.read_bytes() == before


@pytest.mark.parametrize("ratio", ["nan", "inf", "1e9", "1", "-3"])
def test_derive_compress_refuses_an_unusable_ratio(dev, sample_ct_files, ratio, tmp_path, capsys):
    assert main(["derive", "compress", str(sample_ct_files[0]), *_key(dev), "--ratio", ratio,
                 "--out", str(tmp_path / "o")]) == 2
    assert "compression ratio must be above 1 and at most 1000" in _one_error_line(capsys)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("secret, expected", [("missing", "cannot read the UID secret"),
                                              ("folder", "cannot read the UID secret"),
                                              ("empty", "the UID secret file is empty")])
def test_derive_anonymize_refuses_a_bad_uid_secret_file(dev, sample_ct_files, secret, expected, tmp_path, capsys):
    (tmp_path / "folder").mkdir()
    (tmp_path / "empty").write_bytes(b"")
    assert main(["derive", "anonymize", str(sample_ct_files[0]), *_key(dev), "--uid-secret-file",
                 str(tmp_path / secret), "--out", str(tmp_path / "o")]) == 2
    assert f"{tmp_path / secret}: {expected}" in _one_error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_derive_out_that_is_a_file_is_one_line(dev, sample_ct_files, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["derive", "anonymize", str(sample_ct_files[0]), *_key(dev), "--out", str(tmp_path / "afile")]) == 2
    assert "afile" in _one_error_line(capsys)
    assert (tmp_path / "afile").read_text() == "x"
