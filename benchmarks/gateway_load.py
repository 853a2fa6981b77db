"""Benchmark: a burst of CT slices through the radtrust gateway into a real Orthanc (issue 8).

Run from the repository root:

    .venv/bin/python benchmarks/gateway_load.py [--instances 2000] [--associations 4] [--mode scan|verify-only]

``--instances`` copies of the sample CT slices (512 x 512, JPEG 2000 lossless, fresh UIDs; one study per
association) are sent by ``--associations`` concurrent DCMTK ``storescu`` processes to ``radtrust gateway``
(a subprocess; 2 analysis threads, 4 associations to the PACS by default), which forwards to an Orthanc started here with a plugin that counts every
incoming C-STORE. Reported:

- accepted instances per second (first byte to the last storescu's exit: every instance is fsynced first);
- forwarding lag per instance (received -> accepted by the PACS), p50 / p95 / max, and the drain time;
- zero loss: every instance in Orthanc exactly once;
- the PACS's own ingest rate for the same burst sent straight to it (a second Orthanc): the ceiling;
- analysis time per instance (from the gateway's results) against the gateway's own wall time per instance,
  so the gateway's overhead beyond analysis can be read off.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.services.servers import PYTHON_PLUGIN, GatewayProcess, Orthanc  # noqa: E402

COUNTER = ROOT / "tests" / "services" / "orthanc_counter.py"


def make_studies(out: Path, n: int, studies: int) -> list[list[Path]]:
    """n copies of the sample slices (pixel data untouched), split into ``studies`` studies."""
    samples = [pydicom.dcmread(p) for p in sorted((ROOT / "samples" / "ct").glob("ct_0*.dcm"))]
    groups: list[list[Path]] = [[] for _ in range(studies)]
    for s in range(studies):
        study, series = generate_uid(), generate_uid()
        for i in range(s, n, studies):
            ds = samples[i % len(samples)]
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.InstanceNumber = len(groups[s]) + 1
            path = out / f"st{s}_{len(groups[s]):05d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            groups[s].append(path)
    return groups


def queue_figures(spool: Path) -> dict:
    with sqlite3.connect(spool / "queue.sqlite") as c:
        rows = c.execute("SELECT received_at, forwarded_at, result FROM instances WHERE origin = 'modality'").fetchall()
    lags = np.array([f - r for r, f, _ in rows if f is not None])
    analysis = np.array([json.loads(res).get("elapsed_s", np.nan) for _, _, res in rows if res])
    received = np.array([r for r, _, _ in rows])
    forwarded = np.array([f for _, f, _ in rows if f is not None])
    return {"rows": len(rows), "forwarded": int(lags.size),
            "lag_p50_s": float(np.percentile(lags, 50)), "lag_p95_s": float(np.percentile(lags, 95)),
            "lag_max_s": float(lags.max()), "analysis_mean_s": float(np.nanmean(analysis)),
            "analysis_total_s": float(np.nansum(analysis)),
            "first_received": float(received.min()), "last_forwarded": float(forwarded.max())}


def send_all(port: int, called: str, groups: list[list[Path]]) -> list[str]:
    """One storescu per group, all at once; the stderr of those that failed."""
    senders = [subprocess.Popen(["storescu", "-aet", f"MOD{i}", "-aec", called, "--propose-j2k-lossless",
                                 "--required", "127.0.0.1", str(port), *map(str, g)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for i, g in enumerate(groups)]
    return [s.communicate()[1] for s in senders if s.wait() != 0]


def pacs_alone(groups: list[list[Path]], workdir: Path) -> float:
    """The PACS's own ingest rate for the same burst (storescu straight into Orthanc): the ceiling."""
    n = sum(len(g) for g in groups)
    extra = {"Plugins": [PYTHON_PLUGIN], "PythonScript": str(COUNTER)}
    with Orthanc(workdir / "orthanc-alone", extra) as pacs:
        t0 = time.time()
        failures = send_all(pacs.dicom_port, "ORTHANC", groups)
        rate = n / (time.time() - t0)
        assert not failures and len(pacs.get("/counts")) == n
    shutil.rmtree(workdir / "orthanc-alone", ignore_errors=True)
    return rate


def run(n: int, associations: int, mode: str, workdir: Path, workers: int = 2, baseline: bool = True,
        forward_associations: int = 4, pixel_memory: bool = True) -> dict:
    groups = make_studies(workdir, n, associations)
    ceiling = pacs_alone(groups, workdir) if baseline else None
    uids = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for g in groups for p in g}
    extra = {"Plugins": [PYTHON_PLUGIN], "PythonScript": str(COUNTER)}
    args = ["--workers", str(workers), "--forward-associations", str(forward_associations), "--stable-age", "5",
            *(["--verify-only"] if mode == "verify-only" else []), *([] if pixel_memory else ["--no-pixel-memory"])]
    with Orthanc(workdir / "orthanc", extra) as pacs:
        gw = GatewayProcess(workdir / "spool", f"ORTHANC@127.0.0.1:{pacs.dicom_port}", *args).start()
        try:
            t0 = time.time()
            failures = send_all(gw.port, "RADTRUST", groups)
            t_accept = time.time() - t0
            deadline = time.time() + 3600
            counts: dict = {}
            while time.time() < deadline:
                counts = pacs.get("/counts")
                if uids <= set(counts):
                    break
                time.sleep(0.5)
            t_drain = time.time() - t0
            time.sleep(2)
            counts = pacs.get("/counts")
        finally:
            gw.stop()
    q = queue_figures(workdir / "spool")
    missing = len(uids - set(counts))
    duplicates = sum(1 for u in uids if counts.get(u, 0) > 1)
    return {
        "mode": mode, "pixel_memory": pixel_memory, "instances": n, "associations": associations, "analysis_workers": workers,
        "forward_associations": forward_associations,
        "sender_failures": len(failures), "lost": missing, "forwarded_twice": duplicates,
        "accept_s": round(t_accept, 2), "accepted_per_s": round(n / t_accept, 1),
        "drain_s": round(t_drain, 2), "forwarded_per_s": round(n / t_drain, 1),
        "pacs_alone_per_s": round(ceiling, 1) if ceiling else None,
        "lag_p50_s": round(q["lag_p50_s"], 2), "lag_p95_s": round(q["lag_p95_s"], 2),
        "lag_max_s": round(q["lag_max_s"], 2),
        "analysis_mean_ms": round(1000 * q["analysis_mean_s"], 1),
        "wall_per_instance_ms": round(1000 * t_drain / n, 1),
        "analysis_share_of_wall": round(q["analysis_total_s"] / (workers * t_drain), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=2000)
    ap.add_argument("--associations", type=int, default=4)
    ap.add_argument("--mode", choices=["scan", "verify-only"], default="scan")
    ap.add_argument("--workers", type=int, default=2, help="gateway analysis threads")
    ap.add_argument("--forward-associations", type=int, default=4, help="gateway associations to the PACS")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--no-baseline", action="store_true", help="skip the PACS-alone run")
    ap.add_argument("--no-pixel-memory", action="store_true", help="run the gateway with --no-pixel-memory")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="radtrust-gwbench-"))
    try:
        print(json.dumps(run(args.instances, args.associations, args.mode, work, args.workers,
                                   baseline=not args.no_baseline, forward_associations=args.forward_associations,
                                   pixel_memory=not args.no_pixel_memory)), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
