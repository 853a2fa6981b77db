"""The gateway remembers pixels (radtrust.forensics.pixel_store.PixelMemory): an instance re-sent under new UIDs for another
patient, or edited, is quarantined with the earlier one named, also after a restart; another slice is not.

The gateway runs in-process; the modality is a pynetdicom SCU, the PACS a real Orthanc."""

from __future__ import annotations

import time
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

from radtrust.services.analysis import Analyzer
from radtrust.services.gateway import Destination, Gateway, GatewayConfig, Policy
from tests.services.data import SAMPLE_CT, uncompressed_copy
from tests.services.servers import Orthanc, require_orthanc, send

pytestmark = pytest.mark.filterwarnings("ignore")


def _refiled(src: Path, dst: Path, *, patient: str | None = None, edit: bool = False) -> Path:
    """``src`` under a new study, series, frame of reference and instance UID; another patient; a region edited."""
    uncompressed_copy(src, dst, study_uid=generate_uid(), series_uid=generate_uid())
    ds = pydicom.dcmread(dst)
    ds.FrameOfReferenceUID = generate_uid()
    if patient:
        ds.PatientName, ds.PatientID = patient, patient.split("^")[0]
    if edit:
        arr = ds.pixel_array.copy()
        arr[200:232, 240:280] += 150
        ds.PixelData = arr.tobytes()
    ds.save_as(dst, enforce_file_format=True)
    return dst


def _settled(gw: Gateway, n: int) -> list:
    deadline = time.time() + 90
    while time.time() < deadline:
        rows = sorted(gw.queue.rows(), key=lambda r: r.id)
        if len(rows) >= n and all(r.state not in ("received", "analysing") for r in rows):
            return rows
        time.sleep(0.2)
    raise AssertionError(f"gateway did not settle: {[(r.id, r.state) for r in gw.queue.rows()]}")


def test_an_instance_re_sent_under_new_uids_is_compared_by_its_pixels(tmp_path: Path) -> None:
    require_orthanc()
    swapped = _refiled(SAMPLE_CT[0], tmp_path / "swapped.dcm", patient="HOLM^ANNA")
    edited = _refiled(SAMPLE_CT[0], tmp_path / "edited.dcm", edit=True)
    with Orthanc(tmp_path / "orthanc") as pacs:
        cfg = GatewayConfig(ae_title="RADTRUST", host="127.0.0.1", port=0, spool=tmp_path / "spool",
                            forward=Destination("ORTHANC", "127.0.0.1", pacs.dicom_port), policy=Policy.QUARANTINE,
                            workers=1, stable_age=60.0, scan=False)  # verifying only: decoded in a process apart
        gw = Gateway(cfg, Analyzer([], scan=False))
        assert gw.pixels is not None and gw.pixels._decoder is not None
        port = gw.start()
        try:
            assert send(port, [SAMPLE_CT[0], swapped, SAMPLE_CT[1]]) == [(0x0000, "")] * 3
            first, second, other = _settled(gw, 3)
        finally:
            gw.stop()
        gw = Gateway(cfg, Analyzer([], scan=False))  # a restart: the fingerprints are in the queue's database
        port = gw.start()
        try:
            assert send(port, [edited]) == [(0x0000, "")]
            third = _settled(gw, 4)[-1]
        finally:
            gw.stop()
    assert first.state != "quarantined" and other.state != "quarantined" and not other.flagged
    assert not any("holds" in e for e in first.record["evidence"] + other.record["evidence"])
    assert second.state == "quarantined" and second.verdict == "suspicious"
    note = second.record["evidence"][0]
    assert note.startswith("copies: the instance received from MODALITY at ") and "HOLM" not in note, note
    assert "holds exactly these pixels under another patient, with other PatientName, PatientID (SOPInstanceUID " \
           f"{first.sop_uid}, seen earlier)" in note
    assert third.state == "quarantined" and third.verdict == "suspicious"
    note = third.record["evidence"][0]
    assert "holds these pixels (SOPInstanceUID" in note and "but for rows 192-239, cols 240-287" in note, note


def test_without_pixel_memory_no_fingerprint_is_kept(tmp_path: Path) -> None:
    cfg = GatewayConfig(ae_title="RADTRUST", host="127.0.0.1", port=0, spool=tmp_path / "spool",
                        forward=Destination("ORTHANC", "127.0.0.1", 1), remember_pixels=False)
    gw = Gateway(cfg, Analyzer([], scan=False))
    try:
        assert gw.pixels is None and not (tmp_path / "spool" / "fingerprints.sqlite").exists()
        assert (tmp_path / "spool").stat().st_mode & 0o077 == 0  # images, results, the queue: owner-only
    finally:
        gw.queue.close()


def test_a_signed_original_is_not_flagged_for_an_unsigned_copy_received_before_it(tmp_path: Path) -> None:
    """An identity-swapped copy arrives first, the signed original after it: the note is on the original, its
    verdict stays signed-authentic (the signature says which of the two is the original)."""
    from tests.services.data import signed_set

    require_orthanc()
    s = signed_set(tmp_path / "pki")
    swapped = _refiled(s["unsigned"], tmp_path / "swapped.dcm", patient="HOLM^ANNA")  # the signed one's pixels
    with Orthanc(tmp_path / "orthanc") as pacs:
        cfg = GatewayConfig(ae_title="RADTRUST", host="127.0.0.1", port=0, spool=tmp_path / "spool",
                            forward=Destination("ORTHANC", "127.0.0.1", pacs.dicom_port), policy=Policy.QUARANTINE,
                            workers=1, stable_age=60.0)
        gw = Gateway(cfg, Analyzer([str(s["root"]), str(s["chain"])], scan=False))
        port = gw.start()
        try:
            assert send(port, [swapped, s["signed"]]) == [(0x0000, "")] * 2
            _, original = _settled(gw, 2)
        finally:
            gw.stop()
    assert original.verdict == "signed-authentic" and original.state != "quarantined", original.record["evidence"]
    assert "holds exactly these pixels under another patient" in original.record["evidence"][0]


@pytest.mark.parametrize("aged", [False, True])
def test_a_gateway_seeded_with_an_archive_scan_compares_with_the_archive(tmp_path: Path, aged: bool) -> None:
    """`radtrust scan ARCHIVE --pixel-index F`, then the gateway with --pixel-index F: a slice of the archive
    re-sent for another patient under new UIDs is quarantined with the archive's file named; with a retention
    period of 30 days and the archive scanned 40 days ago, the gateway has forgotten it and forwards the copy."""
    import shutil
    import sqlite3

    from radtrust.cli import main

    require_orthanc()
    (tmp_path / "archive").mkdir()
    shutil.copy(SAMPLE_CT[2], tmp_path / "archive" / "slice.dcm")
    index = tmp_path / "archive.sqlite"
    assert main(["scan", str(tmp_path / "archive"), "--detectors", "header", "--pixel-index", str(index), "-q"]) == 0
    if aged:
        with sqlite3.connect(index) as conn:
            conn.execute("UPDATE fingerprints SET created = created - 40 * 86400")
    swapped = _refiled(SAMPLE_CT[2], tmp_path / "swapped.dcm", patient="HOLM^ANNA")
    with Orthanc(tmp_path / "orthanc") as pacs:
        cfg = GatewayConfig(ae_title="RADTRUST", host="127.0.0.1", port=0, spool=tmp_path / "spool",
                            forward=Destination("ORTHANC", "127.0.0.1", pacs.dicom_port), policy=Policy.QUARANTINE,
                            workers=1, stable_age=60.0, pixel_index=index, pixel_memory_days=30)
        gw = Gateway(cfg, Analyzer([], scan=False))
        port = gw.start()
        try:
            assert send(port, [swapped]) == [(0x0000, "")]
            (row,) = _settled(gw, 1)
        finally:
            gw.stop()
    if aged:
        assert row.state != "quarantined" and not any("holds" in e for e in row.record["evidence"]), row.record
        return
    assert row.state == "quarantined", row.record["evidence"]
    assert row.record["evidence"][0].startswith(f"copies: {tmp_path / 'archive' / 'slice.dcm'} holds exactly these "
                                                "pixels under another patient")
