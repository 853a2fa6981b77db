"""kill -9 in the middle of a burst: after a restart every instance reaches Orthanc exactly once (issue 8).

Orthanc runs a tiny counting plugin (orthanc_counter.py) that sees every incoming C-STORE, so a
duplicate forward would be counted even though Orthanc itself ignores a second copy.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

import pydicom
import pytest

from tests.conftest import require_tool
from tests.services.data import synthetic_series
from tests.services.servers import PYTHON_PLUGIN, GatewayProcess, Orthanc, require_orthanc

COUNTER = Path(__file__).with_name("orthanc_counter.py")


def received(spool: Path) -> int:
    db = spool / "queue.sqlite"
    if not db.exists():
        return 0
    with sqlite3.connect(db, timeout=5) as c:
        return c.execute("SELECT COUNT(*) FROM instances").fetchone()[0]


def storescu_cmd(port: int, files: list[Path]) -> list[str]:
    return ["storescu", "-aet", "MODALITY", "-aec", "RADTRUST", "127.0.0.1", str(port), *map(str, files)]


def kill_and_resume(tmp_path: Path, n: int) -> None:
    require_orthanc(python=True)
    require_tool("storescu")
    files = synthetic_series(tmp_path / "study", n)
    uids = {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in files}
    spool = tmp_path / "spool"
    extra = {"Plugins": [PYTHON_PLUGIN], "PythonScript": str(COUNTER)}
    with Orthanc(tmp_path / "orthanc", extra) as pacs:
        args = ("--verify-only", "--stable-age", "2", "--workers", "1")
        gw = GatewayProcess(spool, f"ORTHANC@127.0.0.1:{pacs.dicom_port}", *args).start()
        burst = subprocess.Popen(storescu_cmd(gw.port, files), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while received(spool) < n // 3 and time.time() < deadline and burst.poll() is None:
            time.sleep(0.02)
        killed_at = received(spool)
        gw.kill9()
        burst.wait(60)
        assert 0 < killed_at < n, f"the kill came at {killed_at} of {n}: not in the middle of the burst"
        # Restart on the same spool; the modality sends the whole study again (it cannot know what got through).
        gw = GatewayProcess(spool, f"ORTHANC@127.0.0.1:{pacs.dicom_port}", *args).start()
        try:
            resend = subprocess.run(storescu_cmd(gw.port, files), capture_output=True, text=True, timeout=600)
            assert resend.returncode == 0, resend.stderr[-2000:]

            def complete() -> dict | None:
                counts = pacs.get("/counts")
                modalities = set(pacs.sop_uids().values()) if uids <= set(counts) else set()
                return counts if "SR" in modalities else None

            counts = pacs.wait_for(complete, timeout=300, poll=1.0)
            assert counts, f"Orthanc got {len(pacs.get('/counts'))} of {n}"
            time.sleep(3)  # anything still in flight would show up as a duplicate now
            counts = pacs.get("/counts")
        finally:
            gw.stop()
    missing = uids - set(counts)
    twice = {u: c for u, c in counts.items() if u in uids and c != 1}
    assert not missing, f"{len(missing)} instance(s) lost"
    assert not twice, f"{len(twice)} instance(s) forwarded more than once: {list(twice.items())[:5]}"
    assert len([u for u in counts if u not in uids]) >= 1  # the study's SR


def test_kill9_mid_burst_exactly_once(tmp_path: Path) -> None:
    kill_and_resume(tmp_path, 80)


@pytest.mark.slow
def test_kill9_mid_burst_500_exactly_once(tmp_path: Path) -> None:
    kill_and_resume(tmp_path, 500)


def test_a_queue_made_before_digests_gains_the_column_and_keeps_its_rows(tmp_path: Path) -> None:
    from radtrust.services.gateway.queue import SCHEMA, Queue

    path = tmp_path / "queue.sqlite"
    old = sqlite3.connect(path)
    old.executescript(SCHEMA)
    old.execute("INSERT INTO instances (sop_uid, sha256, path, received_at, state) VALUES ('1.2.3', 'ab', '/x', 0, "
                "'forwarded')")
    old.commit()
    old.close()
    queue = Queue(str(path))
    try:
        (row,) = queue.find("1.2.3")
        assert queue.digest(row.id) is None
        queue.set_digest(row.id, {"version": 1, "shape": [4, 4]})
        assert queue.digest(row.id) == {"version": 1, "shape": [4, 4]}
    finally:
        queue.close()
    assert Queue(str(path)).digest(row.id)["shape"] == [4, 4]  # opened again: no second ALTER, digest kept


def test_pruning_keeps_digests_stops_when_asked_and_resumes(tmp_path: Path) -> None:
    """Forwarded instances a report covered lose their spool files, each after its digest is kept; a stop between
    files leaves the rest to a later pass (a new process, as after a restart); an instance forwarded after the
    report keeps its file until a report covers it."""
    import shutil
    import threading

    from radtrust.services.gateway.queue import Queue
    from radtrust.services.gateway.reporter import StudyReporter
    from radtrust.services.gateway.spool import Spool
    from tests.services.data import SAMPLE_CT

    def queued(queue: Queue, n: int, at: float) -> list[int]:
        ids = []
        for i in range(n):
            path = tmp_path / f"f{at}_{i}.dcm"
            shutil.copy(SAMPLE_CT[i % len(SAMPLE_CT)], path)
            row = queue.add(sop_uid=f"1.2.{at}.{i}", sha256=f"{at}{i}", study_uid="1.2.9", series_uid="1.2.9.1",
                            sop_class="", transfer_syntax="", path=str(path), now=at)
            queue.set_analysis(row, state="ready", verdict="authentic", score=0.0, record={}, flagged=False)
            queue.forwarded(row, now=at + 1)
            ids.append(row)
        return ids

    queue = Queue(str(tmp_path / "queue.sqlite"))
    reporter = StudyReporter(queue, Spool(tmp_path / "spool"))
    first = queued(queue, 4, 100.0)
    queue.reported("1.2.9", 4)  # reported_at: now, after those were forwarded
    late = queued(queue, 1, 4e9)  # forwarded after the report (a clock far ahead): not covered by it
    stop = threading.Event()
    original = reporter._keep_digest
    calls = []

    def keep_then_stop(row) -> None:  # row: a queue row
        original(row)
        calls.append(row.id)
        if len(calls) == 2:
            stop.set()

    reporter._keep_digest = keep_then_stop
    assert reporter.prune(stop) == 2
    assert [queue.digest(i) is not None for i in first] == [True, True, False, False]
    queue.close()
    queue = Queue(str(tmp_path / "queue.sqlite"))  # a restart
    assert StudyReporter(queue, Spool(tmp_path / "spool")).prune() == 2
    rows = {r.id: r for r in queue.rows(limit=10)}
    assert all(queue.digest(i)["shape"] == [512, 512] and not Path(rows[i].path).exists() for i in first)
    assert queue.digest(late[0]) is None and Path(rows[late[0]].path).exists()
    queue.close()
