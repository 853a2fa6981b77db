"""Copies that disagree (radtrust.forensics.copies): one instance found twice in a scan. Real re-encodings,
conversions and frame extracts are not alterations; an edited region, an edit under a lossy re-encoding, a
changed patient or KVP are, both copies are flagged and the region is marked; a signed original makes the
other copy 'tampered'."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEG2000, ExplicitVRLittleEndian, JPEG2000Lossless

from radtrust.cli import main
from radtrust.io.compare import pixel_relation as relation

EDIT = (slice(200, 232), slice(240, 280))  # rows, cols of the edited block in a 512 x 512 slice


def _save(ds: pydicom.Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def _raw(src: Path) -> pydicom.Dataset:
    ds = pydicom.dcmread(src)
    ds.decompress(generate_instance_uid=False)  # the same instance, re-encoded
    return ds


def _edited(src: Path, delta: int = 150) -> pydicom.Dataset:
    ds = _raw(src)
    arr = ds.pixel_array.copy()
    arr[EDIT] = arr[EDIT] + delta
    ds.PixelData = arr.tobytes()
    return ds


def _scan(capsys, *paths, extra=()):
    rc = main(["scan", *map(str, paths), "--format", "jsonl", *map(str, extra)])
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return rc, {Path(r["path"]).parent.name + "/" + Path(r["path"]).name: r for r in records if r["kind"] == "instance"}


def _copies(rec):
    return [e for e in rec["evidence"] if e.startswith("copies:")]


def test_relation_known_answers():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4096, (256, 256)).astype(np.float32)
    assert relation(a, a.copy())[0] == "same"
    b = a.copy()
    b[10:20, 10:20] += 100
    kind, mask = relation(a, b)
    assert kind == "local" and mask.sum() == 100 and mask[10:20, 10:20].all()
    assert relation(a, a * 16 + 3)[0] == "throughout"  # another bit depth
    noisy = a + rng.normal(0, 2, a.shape).round()  # a codec's error
    assert relation(a, noisy)[0] == "throughout"
    noisy[32:64, 32:64] += 800  # and an edit under it
    kind, mask = relation(a, noisy)
    assert kind == "local" and mask[32:64, 32:64].mean() > 0.9 and mask.sum() <= 32 * 32


def test_re_encoded_and_converted_copies_are_not_alterations(tmp_path, capsys, sample_ct_files):
    src = sample_ct_files[0]
    (tmp_path / "pacs").mkdir()
    shutil.copy(src, tmp_path / "pacs" / src.name)
    raw = _save(_raw(src), tmp_path / "raw" / src.name)
    lossless = _raw(src)
    lossless.compress(JPEG2000Lossless, generate_instance_uid=False)
    _save(lossless, tmp_path / "j2k" / src.name)
    lossy = _raw(src)
    lossy.compress(JPEG2000, j2k_cr=[20], generate_instance_uid=False)  # as archives that keep the UID do
    _save(lossy, tmp_path / "lossy" / src.name)
    rc, recs = _scan(capsys, tmp_path)
    assert rc == 0 and len(recs) == 4
    assert all(r["verdict"] == "authentic" for r in recs.values())
    uid = recs[f"lossy/{src.name}"]["sop_instance_uid"]
    summed_up = (f"copies: 3 other files are the same instance (SOPInstanceUID {uid}), "
                 "re-encoded, converted as a whole or holding some of its frames: not an alteration")
    assert _copies(recs[f"lossy/{src.name}"]) == [summed_up]  # the three lossless copies
    for name in ("pacs", "raw", "j2k"):  # identical pixels among themselves; the lossy copy differs as a codec does
        [line] = _copies(recs[f"{name}/{src.name}"])
        assert "lossy/" in line and "differ throughout, as a conversion of the whole image" in line and line.endswith("not an alteration")
    assert raw.exists()


def test_an_edited_copy_and_its_original_are_both_flagged_with_the_region(tmp_path, capsys, sample_ct_files):
    src = sample_ct_files[0]
    (tmp_path / "pacs").mkdir()
    shutil.copy(src, tmp_path / "pacs" / src.name)
    _save(_edited(src), tmp_path / "vna" / src.name)
    lossy_edit = _edited(src)
    lossy_edit.compress(JPEG2000, j2k_cr=[20], generate_instance_uid=False)  # edited, then stored lossy
    _save(lossy_edit, tmp_path / "export" / src.name)
    heat = tmp_path / "heat"
    rc, recs = _scan(capsys, tmp_path / "pacs", tmp_path / "vna", tmp_path / "export",
                     extra=("--heatmaps", heat, "--copies", "flag"))
    assert rc == 1
    assert {k: r["verdict"] for k, r in recs.items()} == {f"{d}/{src.name}": "suspicious" for d in ("pacs", "vna", "export")}
    vna = _copies(recs[f"vna/{src.name}"])
    assert any("pacs" in e and "1280 pixels differ" in e and "rows 200-231, cols 240-279" in e and "largest difference 150"
               in e and "one of the two was altered" in e for e in vna)
    export = " ".join(_copies(recs[f"export/{src.name}"]))
    assert "on top of a change throughout" in export  # the edit stands apart from the codec's error
    m = np.load(recs[f"vna/{src.name}"]["heatmap"])
    assert m[EDIT].min() == pytest.approx(1.0) and m[:150].max() < 1.0
    maps = sorted(Path(r["heatmap"]).name for r in recs.values())  # one file per copy, none overwritten
    uid = recs[f"vna/{src.name}"]["sop_instance_uid"]
    assert maps == [f"{uid}.npy", f"{uid}_copy2.npy", f"{uid}_copy3.npy"]


def test_header_edits_of_a_copy_name_the_attributes_not_the_patient(tmp_path, capsys, sample_ct_files):
    src = sample_ct_files[0]
    (tmp_path / "a").mkdir()
    shutil.copy(src, tmp_path / "a" / src.name)
    swapped = _raw(src)
    swapped.PatientName, swapped.PatientID = "HOLM^ANNA", "P1234567"
    swapped.KVP = "80"
    study_date = str(swapped.StudyDate)
    swapped.StudyDate = study_date[:-1] + str((int(study_date[-1]) + 1) % 10)  # one day off (or nine)
    _save(swapped, tmp_path / "b" / src.name)
    anonymised = _raw(src)
    anonymised.PatientName, anonymised.PatientID = "ANON", "0001"
    anonymised.PatientIdentityRemoved = "YES"
    _save(anonymised, tmp_path / "c" / src.name)
    rc, recs = _scan(capsys, tmp_path / "a", tmp_path / "c", extra=("--copies", "flag"))
    assert rc == 0 and all(r["verdict"] == "authentic" for r in recs.values())  # a recorded de-identification
    rc, recs = _scan(capsys, tmp_path / "a", tmp_path / "b", extra=("--copies", "flag"))
    assert rc == 1
    text = " ".join(_copies(recs[f"b/{src.name}"]))
    assert "PatientName, PatientID, StudyDate " in text and "KVP 120 vs 80" in text
    assert f"StudyDate {study_date} vs {study_date[:-1]}" in text
    assert "HOLM" not in text and "P1234567" not in text
    assert recs[f"a/{src.name}"]["verdict"] == "suspicious"


def test_a_signed_original_makes_the_differing_copy_tampered(tmp_path, capsys, sample_ct_files):
    from radtrust.provenance.signatures import load_signer, sign_file
    from radtrust.provenance.signatures.pki import init_dev_pki

    pki = init_dev_pki(tmp_path / "pki")
    src = sample_ct_files[0]
    signed = tmp_path / "signed" / src.name
    signed.parent.mkdir()
    sign_file(src, signed, load_signer(pki.signer_key, pki.signer_cert))
    edited = pydicom.dcmread(signed)
    del edited[0xFFFAFFFA]  # the editor drops the signature it cannot redo
    arr = edited.pixel_array.copy()
    arr[EDIT] += 150
    edited.PixelData = arr.tobytes()
    edited.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    _save(edited, tmp_path / "edited" / src.name)
    rc, recs = _scan(capsys, tmp_path / "signed", tmp_path / "edited",
                     extra=("--trust", pki.root, "--trust", pki.chain, "--copies", "flag"))
    assert rc == 1
    assert recs[f"signed/{src.name}"]["verdict"] == "signed-authentic"
    assert recs[f"edited/{src.name}"]["verdict"] == "tampered" and recs[f"edited/{src.name}"]["score"] == 1.0


def test_by_default_copies_are_noted_and_verdicts_left_to_the_detectors(tmp_path, capsys, sample_ct_files):
    """A folder holding images and their tampered copies under the same UIDs (a benchmark, an evaluation) is judged
    image by image unless --copies flag asks for the archive audit; --copies off does not compare."""
    src = sample_ct_files[0]
    (tmp_path / "pacs").mkdir()
    shutil.copy(src, tmp_path / "pacs" / src.name)
    _save(_edited(src), tmp_path / "vna" / src.name)
    heat = tmp_path / "heat"
    rc, recs = _scan(capsys, tmp_path, extra=("--heatmaps", heat))
    assert rc == 0 and {r["verdict"] for r in recs.values()} == {"authentic"}
    assert all(any("one of the two was altered" in e for e in _copies(r)) for r in recs.values())
    assert all(np.load(r["heatmap"])[EDIT].max() < 1.0 for r in recs.values())  # maps are the detectors' alone
    rc, recs = _scan(capsys, tmp_path, extra=("--copies", "off"))
    assert rc == 0 and not any(_copies(r) for r in recs.values())


def test_a_copy_given_another_series_uid_is_still_compared(tmp_path, capsys, sample_ct_files):
    src = sample_ct_files[0]
    (tmp_path / "pacs").mkdir()
    shutil.copy(src, tmp_path / "pacs" / src.name)
    moved = _edited(src)
    moved.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.1"  # filed into another series on the way
    _save(moved, tmp_path / "other" / src.name)
    rc, recs = _scan(capsys, tmp_path, extra=("--copies", "flag"))
    assert rc == 1 and {r["verdict"] for r in recs.values()} == {"suspicious"}
    assert all("1280 pixels differ" in " ".join(_copies(r)) and "SeriesInstanceUID" in " ".join(_copies(r))
               for r in recs.values())


def test_an_edited_copy_under_a_new_sop_uid_at_the_same_place_is_compared(tmp_path, capsys, sample_ct_files):
    from pydicom.uid import generate_uid

    src = sample_ct_files[0]
    _save(_raw(src), tmp_path / "a" / "original.dcm")
    renamed = _edited(src)
    renamed.SOPInstanceUID = renamed.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    _save(renamed, tmp_path / "a" / "edited_new_uid.dcm")
    same = _raw(src)
    same.SOPInstanceUID = same.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    _save(same, tmp_path / "b" / "same_new_uid.dcm")
    other = _raw(src)  # another acquisition at the same place: its noise differs in every block
    arr = other.pixel_array.astype(np.int32) + np.random.default_rng(1).integers(-3, 4, other.pixel_array.shape)
    other.PixelData = arr.astype(other.pixel_array.dtype).tobytes()
    other.SOPInstanceUID = other.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    _save(other, tmp_path / "c" / "other_acquisition.dcm")

    rc, recs = _scan(capsys, tmp_path / "a", extra=("--copies", "flag"))
    assert rc == 1 and recs["a/original.dcm"]["verdict"] in ("suspicious", "tampered")  # header sees the new UID too
    note = " ".join(_copies(recs["a/original.dcm"]))
    assert "edited_new_uid.dcm is this image under another SOPInstanceUID" in note
    assert "1280 pixels differ" in note and "rows 200-231, cols 240-279" in note and "one of the two was altered" in note
    rc, recs = _scan(capsys, tmp_path / "a" / "original.dcm", tmp_path / "b", tmp_path / "c", extra=("--copies", "flag"))
    assert "holds the same pixels and header under another SOPInstanceUID" in " ".join(_copies(recs["a/original.dcm"]))
    assert not _copies(recs["c/other_acquisition.dcm"])  # never paired with a different acquisition


def test_an_edited_slice_saved_as_a_new_series_is_compared_with_its_original(tmp_path, capsys, sample_ct_files):
    """A workstation's "save as new series": new SeriesInstanceUID, SOPInstanceUID, InstanceNumber, series date and
    time, in a folder of its own. The scan plans it into the original series' task (same frame of reference and
    position) and names the edited region; the same slice re-filed unchanged is a copy, not an alteration."""
    from pydicom.uid import generate_uid

    (tmp_path / "study").mkdir()
    for f in sample_ct_files:
        shutil.copy(f, tmp_path / "study" / f.name)

    def refiled(ds: pydicom.Dataset, series: str) -> pydicom.Dataset:
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.SeriesInstanceUID, ds.InstanceNumber, ds.SeriesNumber = series, 1, 901
        ds.SeriesDate, ds.SeriesTime = "20261129", "101500"
        return ds

    src = sample_ct_files[2]
    _save(refiled(_edited(src), generate_uid()), tmp_path / "new_series" / "IM1.dcm")
    rc, recs = _scan(capsys, tmp_path / "study", tmp_path / "new_series", extra=("--copies", "flag"))
    assert rc == 1
    original = f"study/{src.name}"
    assert original in recs
    for key, other in ((original, "new_series/IM1.dcm"), ("new_series/IM1.dcm", original)):
        note = " ".join(_copies(recs[key]))
        assert f"{other.split('/')[1]} is this image under another SOPInstanceUID" in note, note
        assert "same frame of reference, position and orientation" in note
        assert "rows 200-231, cols 240-279" in note and "one of the two was altered" in note
        assert "SeriesInstanceUID" not in note and "SeriesTime" not in note  # a new series changes those
        assert recs[key]["verdict"] in ("suspicious", "tampered")
    untouched = [k for k in recs if k.startswith("study/") and k != original]
    assert untouched and not any(_copies(recs[k]) for k in untouched)

    shutil.rmtree(tmp_path / "new_series")
    _save(refiled(_raw(src), generate_uid()), tmp_path / "new_series" / "IM1.dcm")
    rc, recs = _scan(capsys, tmp_path / "study", tmp_path / "new_series", extra=("--copies", "flag"))
    note = " ".join(_copies(recs["new_series/IM1.dcm"]))
    assert "holds the same pixels and header under another SOPInstanceUID" in note and "in series" in note
    assert not any("altered" in e for r in recs.values() for e in _copies(r))


def _ct_series(folder: Path, frame: str, pixels: list[np.ndarray], *, series: str | None = None) -> list[str]:
    """A CT series of the given slices (uint16), 2.5 mm apart, in ``folder``; its SOPInstanceUIDs."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, generate_uid

    uid, sops = series or generate_uid(), []
    for k, px in enumerate(pixels):
        ds = pydicom.Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.TransferSyntaxUID = CTImageStorage, ExplicitVRLittleEndian
        ds.SOPClassUID, ds.Modality = CTImageStorage, "CT"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.SeriesInstanceUID, ds.FrameOfReferenceUID, ds.InstanceNumber = uid, frame, k + 1
        ds.ImagePositionPatient, ds.ImageOrientationPatient = [0, 0, -2.5 * k], [1, 0, 0, 0, 1, 0]
        ds.Rows, ds.Columns = px.shape
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = px.astype(np.uint16).tobytes()
        _save(ds, folder / f"{k:03d}.dcm")
        sops.append(ds.SOPInstanceUID)
    return sops


def test_series_at_the_same_places_share_a_task_only_while_it_stays_small(tmp_path):
    """plan_groups joins a series with another that has a slice at one of its places (frame of reference, position,
    orientation, matrix) only when the two together can be analysed whole; two long series stay apart, and the plan
    says which places they share."""
    from pydicom.uid import generate_uid

    from radtrust.forensics.planning import plan

    frame = generate_uid()
    flat = [np.zeros((4, 4))]
    _ct_series(tmp_path / "long", frame, flat * 100)
    _ct_series(tmp_path / "recon", frame, flat * 40)  # a second reconstruction at the same places: 140 files together
    _ct_series(tmp_path / "edited", frame, flat * 3)  # a few slices saved as a new series: 103 files with "long"
    _ct_series(tmp_path / "other_matrix", frame, [np.zeros((8, 8))] * 2)  # same positions, another matrix
    planned = plan([tmp_path])
    assert not planned.errors
    folders = [sorted({p.parent.name for p in task}) for task in planned.tasks]
    assert sorted(folders) == [["edited", "long"], ["other_matrix"], ["recon"]]
    shared = {tuple(f): len(s) for f, s in zip(folders, planned.shared)}
    assert shared == {("edited", "long"): 40, ("recon",): 40, ("other_matrix",): 0}


def test_an_edited_long_series_filed_again_is_compared_across_tasks(tmp_path, capsys):
    """A 100-slice series and the same series exported again under new UIDs (60 slices, one of them edited): 160
    files, too many for one task. The planner marks their shared places, the workers digest those slices, and the
    later copy is compared with the earlier one in task order: the edited slice is named with its block, the others
    are copies, the later series is flagged; the same records serially and with two processes; nothing with
    ``--copies off``; another acquisition at the same places is never paired."""
    from pydicom.uid import generate_uid

    rng = np.random.default_rng(5)
    frame = generate_uid()
    slices = [rng.integers(900, 1200, (64, 64)) for _ in range(100)]
    _ct_series(tmp_path / "a_original", frame, slices)
    again = [s.copy() for s in slices[:60]]
    again[10][16:32, 32:48] += 100
    refiled = _ct_series(tmp_path / "b_exported", frame, again)
    _ct_series(tmp_path / "c_other", frame, [rng.integers(900, 1200, (64, 64)) for _ in range(30)])

    def scan(*extra):
        main(["scan", str(tmp_path), "--format", "jsonl", "--detectors", "header", *extra])
        return [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    serial = scan("--copies", "flag", "--jobs", "1")
    assert serial == scan("--copies", "flag", "--jobs", "2")
    by_sop = {r.get("sop_instance_uid"): r for r in serial if r["kind"] == "instance"}
    edited = by_sop[refiled[10]]
    note = " ".join(_copies(edited))
    assert "a_original/010.dcm is this image under another SOPInstanceUID" in note, edited["evidence"]
    assert "1 of 16 16 x 16 blocks changed (at rows 16-31, cols 32-47" in note and "one of the two was altered" in note
    assert edited["verdict"] == "suspicious"
    copy = by_sop[refiled[11]]
    assert "a copy, not an alteration" in " ".join(_copies(copy)) and copy["verdict"] == "authentic"
    series = {r["series_instance_uid"]: r for r in serial if r["kind"] == "series"}
    exported = series[edited["series_instance_uid"]]
    assert exported["verdict"] == "suspicious" and exported["suspicious_instances"] == [refiled[10]]
    assert any("differ from a copy of themselves scanned earlier" in e for e in exported["evidence"])
    assert not any(_copies(r) for r in serial if r["kind"] == "instance" and "c_other" in r["path"])
    assert not any(_copies(r) for r in serial if r["kind"] == "instance" and "a_original" in r["path"])
    assert not any(_copies(r) for r in scan("--copies", "off") if r["kind"] == "instance")
