"""The gateway between DCMTK storescu and a real Orthanc, on loopback ports started here (issue 8)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from tests.conftest import require_tool
from tests.services.data import SAMPLE_CT, signed_set
from tests.services.servers import GatewayProcess, Orthanc, require_orthanc, storescu

pytestmark = pytest.mark.filterwarnings("ignore")


def dciodvfy_errors(path: Path) -> list[str]:
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]


def status(spool: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "radtrust", "gateway", "status", "--spool", str(spool),
                          "--format", "jsonl"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_study_through_gateway_to_orthanc(tmp_path: Path) -> None:
    """Authentic and signed instances arrive with the SR and SEG; the tampered one lands in quarantine."""
    require_orthanc()
    require_tool("storescu")
    dciodvfy = require_tool("dciodvfy")
    s = signed_set(tmp_path)
    with Orthanc(tmp_path / "orthanc") as pacs:
        gw = GatewayProcess(tmp_path / "spool", f"ORTHANC@127.0.0.1:{pacs.dicom_port}", "--trust", str(s["root"]),
                            "--trust", str(s["chain"]), "--stable-age", "1", "--workers", "1").start()
        try:
            files = [*SAMPLE_CT, s["signed"], s["tampered"]]
            sent = storescu(gw.port, files)
            assert sent.returncode == 0, sent.stderr
            expected = {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in [*SAMPLE_CT, s["signed"]]}
            tampered = pydicom.dcmread(s["tampered"], stop_before_pixels=True).SOPInstanceUID

            def arrived() -> dict[str, str] | None:
                uids = pacs.sop_uids()
                done = expected <= set(uids) and {"SR", "SEG"} <= set(uids.values())
                return uids if done else None

            uids = pacs.wait_for(arrived, timeout=60)
            held = [(q["verdict"], q["evidence"]) for q in status(tmp_path / "spool")["quarantine"]] if not uids else []
            assert uids, f"Orthanc holds {sorted(pacs.sop_uids().values())}; quarantined: {held}"
            assert tampered not in uids
            st = status(tmp_path / "spool")
        finally:
            gw.stop()
        assert st["counts"].get("quarantined") == 1
        q = st["quarantine"][0]
        assert q["sop_instance_uid"] == tampered and q["verdict"] == "tampered" and q["signature"] == "invalid"
        assert list((tmp_path / "spool" / "quarantine").glob(f"{tampered}_*.dcm"))
        verdicts = {r["sop_instance_uid"]: r["verdict"] for r in st["recent"]}
        assert verdicts[pydicom.dcmread(s["signed"], stop_before_pixels=True).SOPInstanceUID] == "signed-authentic"
        # The SR and SEG as Orthanc stored them: valid objects that reference the study's instances.
        for iid in pacs.get("/instances"):
            tags = pacs.get(f"/instances/{iid}/simplified-tags")
            if tags["Modality"] not in ("SR", "SEG"):
                continue
            path = tmp_path / f"{tags['Modality']}.dcm"
            path.write_bytes(pacs.get(f"/instances/{iid}/file"))
            assert dciodvfy and not dciodvfy_errors(path), dciodvfy_errors(path)
            ds = pydicom.dcmread(path)
            if ds.Modality == "SR":
                refs = {i.ReferencedSOPInstanceUID for s_ in ds.CurrentRequestedProcedureEvidenceSequence
                        for se in s_.ReferencedSeriesSequence for i in se.ReferencedSOPSequence}
                assert expected | {tampered} <= refs
                text = str(ds)
                assert "Tamper verdict" in text and "Tampered" in text and "Valid trusted signature" in text
