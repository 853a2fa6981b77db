"""The same pixels under another name (radtrust.forensics.same_pixels): a slice filed again for someone else, or with
another KVP, or edited, with every UID generated anew is told in the later record, in serial and parallel scans
alike, the edit bounded; a copy that agrees, a de-identified copy, a blank frame, a secondary capture's partial
match and a scan with --copies off are not."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import pydicom
from pydicom.uid import generate_uid

from radtrust.cli import main
from radtrust.forensics.same_pixels import PixelIndex, fingerprint
from radtrust.io import load_image


def _refiled(src: Path, dst: Path, *, name: str = "HOLM^ANNA", pid: str = "P7730001", deidentified: bool = False,
             **attrs: str) -> Path:
    ds = pydicom.dcmread(src)
    ds.decompress(generate_instance_uid=False)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = generate_uid(), generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID = name, pid
    if deidentified:
        ds.PatientIdentityRemoved = "YES"
    for k, v in attrs.items():
        setattr(ds, k, v)
    dst.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(dst, enforce_file_format=True)
    return dst


def _scan(capsys, root: Path, *extra: str) -> list[dict]:
    main(["scan", str(root), "--format", "jsonl", "--detectors", "header", *extra])
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _notes(rec: dict) -> list[str]:
    return [e for e in rec["evidence"] if "holds exactly these pixels" in e]


def test_a_slice_filed_again_under_another_patient_with_new_uids_is_told(tmp_path, capsys, sample_ct_files):
    (tmp_path / "a_study").mkdir()
    for f in sample_ct_files:
        shutil.copy(f, tmp_path / "a_study" / f.name)
    _refiled(sample_ct_files[2], tmp_path / "b_other" / "IM1.dcm")

    serial = _scan(capsys, tmp_path, "--copies", "flag", "--jobs", "1")
    assert serial == _scan(capsys, tmp_path, "--copies", "flag", "--jobs", "2")
    inst = {Path(r["path"]).parent.name + "/" + Path(r["path"]).name: r for r in serial if r["kind"] == "instance"}
    later = inst["b_other/IM1.dcm"]
    note = " ".join(_notes(later))
    assert f"a_study/{sample_ct_files[2].name} holds exactly these pixels under another patient" in note, later
    assert "with other PatientName, PatientID (" in note and "HOLM" not in note and "P7730001" not in note
    assert later["verdict"] == "suspicious"
    series = next(r for r in serial if r["kind"] == "series" and r["series_instance_uid"] == later["series_instance_uid"])
    assert series["verdict"] == "suspicious" and series["suspicious_instances"] == [later["sop_instance_uid"]]
    assert not any(_notes(r) for k, r in inst.items() if k.startswith("a_study/"))

    noted = {r["path"]: r for r in _scan(capsys, tmp_path) if r["kind"] == "instance"}  # default: --copies note
    assert _notes(noted[later["path"]]) and noted[later["path"]]["verdict"] == "authentic"
    assert not any(_notes(r) for r in _scan(capsys, tmp_path, "--copies", "off") if r["kind"] == "instance")


def test_same_patient_de_identified_copies_and_blank_frames_are_not_told(tmp_path, capsys, sample_ct_files):
    src = sample_ct_files[0]
    shutil.copy(src, tmp_path / "a.dcm")
    ds = pydicom.dcmread(src)
    _refiled(src, tmp_path / "b" / "same_patient.dcm", name=str(ds.PatientName), pid=str(ds.PatientID))
    _refiled(src, tmp_path / "c" / "research.dcm", deidentified=True, DeviceSerialNumber="", StudyDate="20200101")
    recs = _scan(capsys, tmp_path, "--copies", "flag")
    assert not any(_notes(r) for r in recs if r["kind"] == "instance")

    _refiled(src, tmp_path / "d" / "kvp.dcm", name=str(ds.PatientName), pid=str(ds.PatientID), KVP="80")
    recs = {Path(r["path"]).name: r for r in _scan(capsys, tmp_path, "--copies", "flag") if r["kind"] == "instance"}
    assert [n for n, r in recs.items() if _notes(r)] == ["kvp.dcm"]
    note = _notes(recs["kvp.dcm"])[0]
    assert "holds exactly these pixels with other KVP (" in note and "under another patient" not in note

    image = load_image(src)
    assert fingerprint(image) is not None
    blank = dataclasses.replace(image, pixels=np.zeros_like(image.pixels))  # blank frames repeat by construction
    assert fingerprint(blank) is None


def test_the_index_compares_pixels_not_names():
    class _Image:
        def __init__(self, pixels, patient):
            self.pixels, self.dataset = pixels, pydicom.Dataset()
            self.dataset.PatientName, self.dataset.PatientID = patient, patient

    rng = np.random.default_rng(0)
    px = rng.integers(0, 4000, (64, 64)).astype(np.float32)
    index = PixelIndex()
    first = {"path": "a", "sop_instance_uid": "1", "evidence": []}
    assert not index.check(first, fingerprint(_Image(px, "A")))
    other = {"path": "b", "sop_instance_uid": "2", "evidence": []}
    assert not index.check(other, fingerprint(_Image(px + 1, "B")))  # one count everywhere: other pixels
    same = {"path": "c", "sop_instance_uid": "3", "evidence": []}
    assert index.check(same, fingerprint(_Image(px.copy(), "C")))
    assert "a holds exactly these pixels under another patient, with other PatientName, PatientID" in same["evidence"][0]


def test_an_edited_slice_filed_again_under_new_uids_is_told_with_the_edit_bounded(tmp_path, capsys, sample_ct_files):
    src = sample_ct_files[1]
    shutil.copy(src, tmp_path / "a.dcm")
    edited = _refiled(src, tmp_path / "b" / "edited.dcm")
    ds = pydicom.dcmread(edited)
    arr = ds.pixel_array.copy()
    arr[200:232, 240:280] += 150
    ds.PixelData = arr.tobytes()
    ds.save_as(edited)
    recs = {Path(r["path"]).name: r for r in _scan(capsys, tmp_path, "--copies", "flag") if r["kind"] == "instance"}
    note = " ".join(e for e in recs["edited.dcm"]["evidence"] if "holds these pixels" in e)
    assert "a.dcm holds these pixels under another patient" in note, recs["edited.dcm"]["evidence"]
    assert "but for rows 192-239, cols 240-287" in note and "altered there" in note  # the 16 x 16 blocks touched
    assert recs["edited.dcm"]["verdict"] == "suspicious"

    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # a secondary capture
    ds.save_as(edited)
    recs = {Path(r["path"]).name: r for r in _scan(capsys, tmp_path, "--copies", "flag") if r["kind"] == "instance"}
    assert not any("holds these pixels" in e for e in recs["edited.dcm"]["evidence"])


def test_a_pixel_index_compares_across_runs(tmp_path, capsys, sample_ct_files):
    """An archive audited in parts: the second run finds the copy re-filed for another patient in the first run's
    folder through the index file; without the file it cannot."""
    (tmp_path / "part1").mkdir()
    shutil.copy(sample_ct_files[3], tmp_path / "part1" / "a.dcm")
    _refiled(sample_ct_files[3], tmp_path / "part2" / "b.dcm")
    index = tmp_path / "pixels.sqlite"
    _scan(capsys, tmp_path / "part1", "--copies", "flag", "--pixel-index", str(index))
    (later,) = [r for r in _scan(capsys, tmp_path / "part2", "--copies", "flag", "--pixel-index", str(index))
                if r["kind"] == "instance"]
    note = " ".join(_notes(later))
    assert f"copies: {tmp_path / 'part1' / 'a.dcm'} holds exactly these pixels under another patient" in note, note
    assert later["verdict"] == "suspicious"
    assert not any(_notes(r) for r in _scan(capsys, tmp_path / "part2", "--copies", "flag") if r["kind"] == "instance")
    _scan(capsys, tmp_path / "part1", "--pixel-index", str(index))  # scanned again: nothing new to keep
    assert sqlite3.connect(index).execute("SELECT COUNT(*) FROM fingerprints").fetchone()[0] == 2
    _refiled(sample_ct_files[3], tmp_path / "part3" / "c.dcm", name="OKAFOR^MEI", pid="P555")
    (third,) = [r for r in _scan(capsys, tmp_path / "part3", "--pixel-index", str(index)) if r["kind"] == "instance"]
    assert "(and 1 other instance(s) seen earlier)" in _notes(third)[0], third["evidence"]

    for f in tmp_path.glob("pixels.sqlite*"):  # the file and its -wal: hashes of patient identifiers, owner-only
        assert f.stat().st_mode & 0o077 == 0, oct(f.stat().st_mode)

    (tmp_path / "bad.sqlite").write_bytes(b"not a database" * 100)
    assert main(["scan", str(tmp_path / "part2"), "--pixel-index", str(tmp_path / "bad.sqlite")]) == 2
    assert "bad.sqlite: not a pixel index: file is not a database" in capsys.readouterr().err
    other = tmp_path / "queue.sqlite"  # another program's database is refused, not given our tables
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE queue (id INTEGER)")
    before = other.read_bytes()
    assert main(["scan", str(tmp_path / "part2"), "--pixel-index", str(other)]) == 2
    assert "not a pixel index: it holds other tables (queue)" in capsys.readouterr().err
    assert other.read_bytes() == before
    assert main(["scan", str(tmp_path / "part2"), "--pixel-index", str(index), "--copies", "off"]) == 2


def test_a_row_shared_by_many_images_is_a_template_not_a_lookup(tmp_path):
    """Burned-in text on a constant band repeats one row of block means in every image of a site: past TEMPLATE
    images that row is no longer looked up (in memory and in SQLite), while a true edited copy is still found."""
    from radtrust.forensics.pixel_store import SqliteStore
    from radtrust.forensics.same_pixels import (
        COMPARED,
        TEMPLATE,
        Entry,
        Lines,
        MemoryStore,
    )

    rng = np.random.default_rng(1)
    shared = bytes(4)

    def entry(k: int, rows: bytes) -> Entry:
        lines = Lines(rows, rng.bytes(64), bytes([1] * 16), bytes([1] * 16))
        return Entry(f"im{k}", str(k), bytes(8 * len(COMPARED)), False, True, rng.bytes(32), (256, 256), lines)

    for store in (MemoryStore(), SqliteStore(tmp_path / "p.sqlite")):
        for k in range(TEMPLATE + 3):  # every image's first informative row is the shared one
            store.add(entry(k, shared + rng.bytes(60)))
        assert store.by_row((256, 256), 0, shared) == []
        rows = rng.bytes(64)
        original = entry(100, rows)
        store.add(original)
        index = PixelIndex(store)
        edited = {"sha256": rng.bytes(32), "shape": (256, 256), "header": bytes(8 * len(COMPARED)), "deidentified": False,
                  "acquired": True, "lines": Lines(rows[:4] + bytes(4) + rows[8:], original.lines.cols, bytes([1] * 16),
                                                   bytes([1] * 16))}
        rec = {"path": "b", "sop_instance_uid": "200", "evidence": []}
        assert index.check(rec, edited) and "im100 holds these pixels" in rec["evidence"][0]
        assert "but for rows 16-31, cols 0-255" in rec["evidence"][0]  # no column hash changed: the whole width


def test_a_long_series_filed_again_for_another_patient_at_its_places_is_not_called_a_copy(tmp_path, capsys):
    """Two 100-slice series at the same places, too long for one task: the digests across tasks find the same pixels,
    and the pixel index finds the other patient. The record must say the latter, not 'a copy, not an alteration'."""
    from pydicom.uid import generate_uid

    from tests.forensics.scan.test_copies import _ct_series

    rng = np.random.default_rng(7)
    frame = generate_uid()
    slices = [rng.integers(900, 1200, (64, 64)) for _ in range(100)]
    _ct_series(tmp_path / "a_original", frame, slices)
    _ct_series(tmp_path / "b_swapped", frame, slices)
    for f in (tmp_path / "b_swapped").glob("*.dcm"):
        ds = pydicom.dcmread(f)
        ds.PatientName, ds.PatientID = "HOLM^ANNA", "P7730001"
        ds.save_as(f, enforce_file_format=True)
    recs = [r for r in _scan(capsys, tmp_path, "--copies", "flag") if r["kind"] == "instance"]
    swapped = [r for r in recs if "b_swapped" in r["path"]]
    assert len(swapped) == 100
    for r in swapped:
        copies = [e for e in r["evidence"] if e.startswith("copies:")]
        assert len(copies) == 1 and "holds exactly these pixels under another patient" in copies[0], copies
        assert r["verdict"] == "suspicious"


def test_a_retention_period_forgets_old_fingerprints_and_old_files_are_migrated(tmp_path):
    """A pixel memory with a retention period forgets what it saw before it (its block rows too, so the row lookup
    cannot name a forgotten instance), keeps what is newer, and an index file written before fingerprints were dated
    gets the column on opening, its fingerprints counted from then."""
    import time

    from radtrust.forensics.pixel_store import PixelMemory, SqliteStore

    class _Image:
        def __init__(self, pixels, patient):
            self.pixels, self.dataset = pixels, pydicom.Dataset()
            self.dataset.PatientName, self.dataset.PatientID, self.dataset.Modality = patient, patient, "CT"

    rng = np.random.default_rng(2)
    old_px, new_px = (rng.integers(0, 4000, (256, 256)).astype(np.float32) for _ in range(2))
    path = tmp_path / "memory.sqlite"
    memory = PixelMemory(path, keep_days=30)
    for sop, px in (("1", old_px), ("2", new_px)):
        assert not memory.check_file({"sop_instance_uid": sop, "evidence": []}, "unused", f"first {sop}",
                                     fingerprint(_Image(px, "A")))
    with sqlite3.connect(path) as conn:  # the first one was seen 40 days ago
        conn.execute("UPDATE fingerprints SET created = created - 40 * 86400 WHERE id = (SELECT MIN(id) FROM fingerprints)")
    assert memory.prune() == 1 and len(memory.store) == 1
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(DISTINCT fingerprint) FROM fingerprint_rows").fetchone()[0] == 1
    edited = old_px.copy()
    edited[100:120, 100:120] += 50
    for sop, px, told in (("3", edited, False), ("4", new_px, True)):  # an edit of the forgotten one; the kept one
        rec = {"sop_instance_uid": sop, "evidence": []}
        assert memory.check_file(rec, "unused", f"again {sop}", fingerprint(_Image(px, "B"))) is told, rec
    memory.close()
    with pytest.raises(ValueError):
        PixelMemory(tmp_path / "other.sqlite", keep_days=0)

    legacy = tmp_path / "legacy.sqlite"
    with sqlite3.connect(legacy) as conn:  # the schema as session 11 wrote it, one fingerprint in it
        conn.execute("CREATE TABLE fingerprints (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, sop_uid TEXT,"
                     " sha256 BLOB NOT NULL, shape TEXT NOT NULL, header BLOB NOT NULL, deidentified INTEGER NOT NULL,"
                     " acquired INTEGER NOT NULL, lines TEXT)")
        conn.execute("INSERT INTO fingerprints (name, sop_uid, sha256, shape, header, deidentified, acquired)"
                     " VALUES ('x', '9', x'00', '[2, 2]', x'00', 0, 1)")
    before = time.time()
    store = SqliteStore(legacy)
    assert len(store) == 1 and store.prune(before - 1) == 0 and store.prune(time.time() + 1) == 1
    store.close()


@pytest.mark.parametrize("damage", ["lines = '{{{'", "lines = '[1, 2]'", "lines = '[\"zz\", \"\", \"\", \"\"]'",
                                    "shape = 'zz'", "shape = '[\"a\"]'", "names = x'00'", "names = 'text'"])
def test_a_damaged_index_row_is_skipped_not_a_traceback(tmp_path, capsys, sample_ct_files, damage):
    """A row changed by hand (or by a disk) since radtrust wrote it: that copy is not compared, the scan goes on."""
    (tmp_path / "part1").mkdir()
    shutil.copy(sample_ct_files[3], tmp_path / "part1" / "a.dcm")
    _refiled(sample_ct_files[3], tmp_path / "part2" / "b.dcm")
    index = tmp_path / "pixels.sqlite"
    _scan(capsys, tmp_path / "part1", "--copies", "flag", "--pixel-index", str(index))
    with sqlite3.connect(index) as conn:
        conn.execute(f"UPDATE fingerprints SET {damage}")
    conn.close()
    assert main(["scan", str(tmp_path / "part2"), "--copies", "flag", "--pixel-index", str(index),
                 "--format", "jsonl", "--detectors", "header"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "damaged fingerprint row" in err


def test_an_index_file_keeps_its_attribute_hashes_keyed_and_its_key_apart(tmp_path, capsys, sample_ct_files):
    """A birth date or a patient ID is found again from a plain 8-byte hash by trying them all, and a path often holds
    the patient's name: the index file keeps the attribute hashes keyed and the names (path, SOPInstanceUID) encrypted
    with a key of its own in FILE.key (owner-only), so the file alone holds neither; without its key file, or with
    another's, it is refused in one line; a file written before keys is keyed on opening and still finds its copies."""
    import hashlib

    from radtrust.forensics.copies import attribute_text
    from radtrust.forensics.pixel_store import SqliteStore

    (tmp_path / "part1").mkdir()
    shutil.copy(sample_ct_files[3], tmp_path / "part1" / "a.dcm")
    _refiled(sample_ct_files[3], tmp_path / "part2" / "b.dcm")
    index, key = tmp_path / "pixels.sqlite", tmp_path / "pixels.sqlite.key"
    _scan(capsys, tmp_path / "part1", "--copies", "flag", "--pixel-index", str(index))
    assert key.is_file() and key.stat().st_mode & 0o077 == 0, oct(key.stat().st_mode)
    ds = pydicom.dcmread(sample_ct_files[3])
    plain = hashlib.sha256(attribute_text(ds, "PatientID").encode()).digest()[:8]
    with sqlite3.connect(index) as conn:
        (header,) = conn.execute("SELECT header FROM fingerprints").fetchone()
    assert plain not in bytes(header) and plain not in index.read_bytes()
    sop = str(ds.SOPInstanceUID).encode()
    for f in tmp_path.glob("pixels.sqlite*"):  # the database, its -wal: no path, no UID in the clear
        assert b"part1" not in f.read_bytes() and sop not in f.read_bytes(), f

    def later_notes(*extra: str) -> list[str]:
        recs = _scan(capsys, tmp_path / "part2", "--copies", "flag", "--pixel-index", str(index), *extra)
        return [n for r in recs if r["kind"] == "instance" for n in _notes(r)]

    saved = key.read_bytes()
    key.unlink()
    assert main(["scan", str(tmp_path / "part2"), "--pixel-index", str(index)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"radtrust: error: {index}: its key file {key} is missing: the index cannot be read without it "
                   "(restore it, or start a new index)"), err
    assert not key.exists()  # not made anew over an index keyed with the lost one
    key.write_text("ab" * 32 + "\n")
    assert main(["scan", str(tmp_path / "part2"), "--pixel-index", str(index)]) == 2
    assert "does not belong to it" in capsys.readouterr().err
    key.write_text("not a key")
    assert main(["scan", str(tmp_path / "part2"), "--pixel-index", str(index)]) == 2
    assert "is not a radtrust key file (64 hex digits)" in capsys.readouterr().err
    key.write_bytes(saved)
    assert any("under another patient" in n for n in later_notes())

    legacy = tmp_path / "legacy.sqlite"  # as session 12 wrote it: plain hashes, no key file
    _scan(capsys, tmp_path / "part1", "--copies", "flag", "--pixel-index", str(legacy))
    legacy_key = tmp_path / "legacy.sqlite.key"
    plain_header = fingerprint(load_image(sample_ct_files[3]))["header"]
    with sqlite3.connect(legacy) as conn:  # session 12's rows: plain hashes, the path and UID in the clear
        conn.execute("UPDATE fingerprints SET header = ?, names = NULL, name = ?, sop_uid = ?",
                     (plain_header, str(tmp_path / "part1" / "a.dcm"), str(ds.SOPInstanceUID)))
        conn.execute("DROP TABLE meta")
    legacy_key.unlink()
    store = SqliteStore(legacy)
    sealed = store.seal(plain_header)
    store.close()
    with sqlite3.connect(legacy) as conn:
        header_now, name_now, sop_now = conn.execute("SELECT header, name, sop_uid FROM fingerprints").fetchone()
    assert bytes(header_now) == sealed != plain_header and name_now == "" and sop_now is None
    assert legacy_key.stat().st_mode & 0o077 == 0
    # the migrated file compares as before: a copy whose records agree is no note, one for another patient is
    _refiled(sample_ct_files[3], tmp_path / "part3" / "c.dcm", name=str(ds.PatientName), pid=str(ds.PatientID))
    recs = _scan(capsys, tmp_path / "part3", "--copies", "flag", "--pixel-index", str(legacy))
    assert not [n for r in recs if r["kind"] == "instance" for n in _notes(r)], recs
    index, key = legacy, legacy_key
    assert any(f"{tmp_path / 'part1' / 'a.dcm'} holds exactly these pixels under another patient" in n
               for n in later_notes())


def test_an_index_written_before_keys_is_keyed_on_opening_and_keeps_no_name_in_the_clear(tmp_path):
    """A session-12 index (no key, no created or names columns, paths and UIDs in the clear): on opening, every row
    still reads with its name, and no name is left in the file or its log (SQLite's secure delete; without it some
    old records stay in freed space)."""
    import os

    from radtrust.forensics.pixel_store import SqliteStore

    legacy = tmp_path / "legacy.sqlite"
    shas = [os.urandom(32) for _ in range(50)]
    with sqlite3.connect(legacy) as conn:
        conn.execute("CREATE TABLE fingerprints (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, sop_uid TEXT,"
                     " sha256 BLOB NOT NULL, shape TEXT NOT NULL, header BLOB NOT NULL, deidentified INTEGER NOT NULL,"
                     " acquired INTEGER NOT NULL, lines TEXT)")
        conn.executemany("INSERT INTO fingerprints (name, sop_uid, sha256, shape, header, deidentified, acquired)"
                         " VALUES (?, ?, ?, '[512, 512]', ?, 0, 1)",
                         [(f"/archive/DOE^JOHN_{i:03d}/slice.dcm", f"1.2.3.{i}", sha, os.urandom(8 * 24))
                          for i, sha in enumerate(shas)])
    conn.close()
    store = SqliteStore(legacy)
    assert [(e.name, e.sop) for sha in shas for e in store.exact(sha, (512, 512))] == \
        [(f"/archive/DOE^JOHN_{i:03d}/slice.dcm", f"1.2.3.{i}") for i in range(50)]
    store.close()
    for f in tmp_path.glob("legacy.sqlite*"):
        assert b"DOE^JOHN" not in f.read_bytes() and b"1.2.3.7" not in f.read_bytes(), f
