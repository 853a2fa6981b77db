"""The radtrust plugin loaded in a real Orthanc (Debian orthanc + orthanc-python), configured by
`radtrust orthanc-config` (issue 8): signed, tampered and unsigned instances, verdicts from the routes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.services.data import SAMPLE_CT, signed_set
from tests.services.servers import Orthanc, require_orthanc


def plugin_config(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "radtrust", "orthanc-config", *args], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


@pytest.fixture()
def signed(tmp_path: Path) -> dict[str, Path]:
    return signed_set(tmp_path)


def test_plugin_verdicts_from_rest_routes(tmp_path: Path, signed: dict[str, Path]) -> None:
    require_orthanc(python=True)
    cfg = plugin_config("--trust", str(signed["root"]), "--trust", str(signed["chain"]))
    with Orthanc(tmp_path / "orthanc", cfg) as pacs:
        ids = {name: pacs.post("/instances", signed[name].read_bytes())["ID"] for name in ("signed", "tampered")}
        ids["unsigned"] = pacs.post("/instances", SAMPLE_CT[0].read_bytes())["ID"]

        def verdicts() -> dict | None:
            got = {n: pacs.get(f"/radtrust/instances/{i}") for n, i in ids.items()}
            return got if all(g.get("verdict") for g in got.values()) else None

        got = pacs.wait_for(verdicts, timeout=60)
        assert got, {n: pacs.get(f"/radtrust/instances/{i}") for n, i in ids.items()}
        assert got["signed"]["verdict"] == "signed-authentic" and got["signed"]["signature"]["status"] == "valid"
        assert got["tampered"]["verdict"] == "tampered" and got["tampered"]["signature"]["status"] == "invalid"
        assert got["unsigned"]["signature"]["status"] == "unsigned"
        assert got["unsigned"]["verdict"] in ("authentic", "suspicious") and got["unsigned"]["detectors"]
        # Metadata and attachment, as Orthanc 1.10 stores them.
        assert pacs.get(f"/instances/{ids['tampered']}/metadata/RadTrustVerdict") == b"tampered"
        assert pacs.get(f"/instances/{ids['signed']}/attachments/RadTrust/data")["verdict"] == \
            "signed-authentic"
        # The study, once stable: worst verdict, the flagged instance, and the SR/SEG stored beside it.
        study = pacs.get(f"/instances/{ids['signed']}/study")["ID"]
        summary = pacs.wait_for(lambda: pacs.get(f"/radtrust/studies/{study}").get("verdict"), timeout=60)
        summary = pacs.get(f"/radtrust/studies/{study}")
        assert summary["verdict"] == "tampered", summary
        assert got["tampered"]["sop_instance_uid"] in summary["flagged"]
        assert pacs.get(f"/studies/{study}/metadata/RadTrustVerdict") == b"tampered"
        modalities = {pacs.get(f"/instances/{i}/simplified-tags")["Modality"] for i in summary["results"]}
        assert modalities == {"SR", "SEG"}
        assert pacs.get(f"/radtrust/instances/{summary['results'][0]}")["status"] == "radtrust result object"
        with pytest.raises(Exception):
            pacs.get("/radtrust/instances/no-such-instance")


def test_plugin_incoming_filter_refuses_broken_signature(tmp_path: Path, signed: dict[str, Path]) -> None:
    require_orthanc(python=True)
    require_tool("storescu")
    cfg = plugin_config("--trust", str(signed["root"]), "--trust", str(signed["chain"]), "--filter-incoming",
                        "--verify-only")
    with Orthanc(tmp_path / "orthanc", cfg) as pacs:
        def send(path: Path) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["storescu", "-aec", "ORTHANC", "127.0.0.1", str(pacs.dicom_port), str(path)],
                                  capture_output=True, text=True, timeout=60)

        assert send(signed["signed"]).returncode == 0
        refused = send(signed["tampered"])
        assert "0xc001" in (refused.stdout + refused.stderr).lower() or refused.returncode != 0
        stored = pacs.sop_uids()
        assert len(stored) == 1


def test_plugin_pixel_index_flags_an_instance_stored_again_for_another_patient(tmp_path: Path) -> None:
    """With --pixel-index, an instance stored again under new UIDs for another patient is flagged with the Orthanc
    instance it repeats named; another slice is not."""
    import pydicom
    from pydicom.uid import generate_uid

    from tests.services.data import uncompressed_copy

    require_orthanc(python=True)
    swapped = uncompressed_copy(SAMPLE_CT[0], tmp_path / "swapped.dcm", study_uid=generate_uid(),
                                series_uid=generate_uid())
    ds = pydicom.dcmread(swapped)
    ds.PatientName, ds.PatientID, ds.FrameOfReferenceUID = "HOLM^ANNA", "HOLM", generate_uid()
    ds.save_as(swapped, enforce_file_format=True)
    cfg = plugin_config("--verify-only", "--pixel-index", str(tmp_path / "pixels.sqlite"), "--pixel-memory-days", "30")
    assert cfg["RadTrust"]["PixelIndexDays"] == 30
    with Orthanc(tmp_path / "orthanc", cfg) as pacs:
        first = pacs.post("/instances", SAMPLE_CT[0].read_bytes())["ID"]
        pacs.wait_for(lambda: pacs.get(f"/radtrust/instances/{first}").get("verdict"), timeout=60)
        ids = {"swapped": pacs.post("/instances", swapped.read_bytes())["ID"],
               "other": pacs.post("/instances", SAMPLE_CT[1].read_bytes())["ID"]}

        def results() -> dict | None:
            got = {n: pacs.get(f"/radtrust/instances/{i}") for n, i in ids.items()}
            return got if all(g.get("verdict") for g in got.values()) else None

        got = pacs.wait_for(results, timeout=60)
    assert got, "no verdicts"
    assert got["swapped"]["verdict"] == "suspicious", got["swapped"]
    note = got["swapped"]["evidence"][0]
    assert note.startswith(f"copies: Orthanc instance {first} holds exactly these pixels under another patient"), note
    assert "seen earlier" in note and "HOLM" not in note
    assert got["other"]["verdict"] != "suspicious" and not any("holds" in e for e in got["other"]["evidence"])
    import sqlite3

    with sqlite3.connect(tmp_path / "pixels.sqlite") as conn:  # dated, for the 30 days it keeps them
        dated = conn.execute("SELECT COUNT(*) FROM fingerprints WHERE created > strftime('%s','now') - 3600").fetchone()
    assert dated[0] == 3
