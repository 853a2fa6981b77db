"""Command-line edges of the service commands: bad usage and bad input exit 2 with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from radtrust.cli import main


@pytest.mark.parametrize("argv", [
    ["gateway"],
    ["gateway", "--forward", "PACS@host", "--spool", "SPOOL"],
    ["gateway", "--forward", "A-VERY-LONG-AE-TITLE-X@host:104", "--spool", "SPOOL"],
    ["gateway", "--forward", "PACS@127.0.0.1:104", "--spool", "SPOOL", "--tls-cert", "x.pem"],
    ["gateway", "status"],
    ["gateway", "status", "--spool", "NOWHERE"],
    ["orthanc-config", "--trust", "NOWHERE/ca.pem"],
    ["orthanc-config", "--pixel-memory-days", "30"],
    ["orthanc-config", "--trust", "NOTDB"],  # not a certificate: said now, not when Orthanc loads the plugin
    ["orthanc-config", "--plugin", "NOWHERE/libOrthancPython.so"],
    ["orthanc-config", "--pixel-index", "NOTDB"],
    ["gateway", "--forward", "PACS@127.0.0.1:104", "--spool", "SPOOL", "--pixel-index", "NOTDB"],
    ["orthanc-config", "--pixel-index", "SPOOL.sqlite", "--pixel-memory-days", "0"],
    ["orthanc-config", "--pixel-index", "KEYLESS"],  # an index whose key file is lost cannot be compared with
    ["gateway", "--forward", "PACS@127.0.0.1:104", "--spool", "SPOOL", "--pixel-index", "KEYLESS"],
    ["gateway", "--forward", "PACS@127.0.0.1:104", "--spool", "SPOOL", "--no-pixel-memory", "--pixel-memory-days", "9"],
    ["gateway", "--forward", "PACS@127.0.0.1:104", "--spool", "SPOOL", "--pixel-memory-days", "-1"],
    ["gateway", "--forward", "PACS@127.0.0.1:104", "--spool", "SPOOL", "--port", "-1"],
    ["gateway", "--forward", "PACS@127.0.0.1:104", "--spool", "SPOOL", "--port", "70000"],
    ["gateway", "--forward", "PACS@127.0.0.1:99999", "--spool", "SPOOL"],
    ["gateway", "--forward", "PACS@127.0.0.1:104", "--spool", "SPOOL", "--workers", "0"],
    ["gateway", "--forward", "PACS@127.0.0.1:104", "--spool", "SPOOL", "--forward-associations", "0"],
    ["gateway", "--forward", "PACS@127.0.0.1:104", "--spool", "SPOOL", "--stable-age", "-5"],
    ["gateway", "--forward", "PACS@127.0.0.1:104", "--spool", "NOTDB"],  # a file, not a folder
    ["gateway", "status", "--spool", "SPOOL", "--recent", "-1"],
])
def test_bad_usage_exits_2_with_one_line(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from radtrust.forensics.pixel_store import SqliteStore

    (tmp_path / "garbage.sqlite").write_bytes(b"not a database" * 100)
    SqliteStore(tmp_path / "keyless.sqlite").close()
    (tmp_path / "keyless.sqlite.key").unlink()
    argv = [a.replace("SPOOL", str(tmp_path / "spool")).replace("NOWHERE", str(tmp_path / "none"))
            .replace("NOTDB", str(tmp_path / "garbage.sqlite")).replace("KEYLESS", str(tmp_path / "keyless.sqlite"))
            for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("radtrust: error:")
    assert not (tmp_path / "spool").exists()


def test_orthanc_config_is_generated_from_code(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from radtrust.services.orthanc.worker import USER_CONTENT_TYPES, USER_METADATA

    from radtrust.provenance.signatures.pki import init_dev_pki

    ca = init_dev_pki(tmp_path / "pki", "ecdsa").root
    assert main(["orthanc-config", "--trust", str(ca), "--filter-incoming"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert Path(cfg["PythonScript"]).is_file() and cfg["PythonScript"].endswith("services/orthanc/plugin.py")
    assert cfg["UserMetadata"] == USER_METADATA
    assert {k: v[0] for k, v in cfg["UserContentType"].items()} == USER_CONTENT_TYPES
    assert cfg["RadTrust"]["Trust"] == [str(ca.resolve())] and cfg["RadTrust"]["FilterIncoming"] is True
    assert any(Path(p, "pynetdicom").is_dir() or Path(p, "radtrust").is_dir() for p in cfg["RadTrust"]["PythonPath"])


@pytest.mark.parametrize("queue", ["garbage", "empty", "foreign", "folder"])
@pytest.mark.parametrize("command", [["status"], ["release", "1.2.3"]])
def test_gateway_status_and_release_refuse_a_queue_that_is_not_one_and_leave_it(
        queue: str, command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import sqlite3

    spool = tmp_path / "spool"
    spool.mkdir()
    db = spool / "queue.sqlite"
    if queue == "garbage":
        db.write_bytes(b"not a database" * 100)
    elif queue == "empty":
        db.write_bytes(b"")
    elif queue == "foreign":
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE foo (x)")
        conn.close()
    else:
        db.mkdir()
    before = {p.name: (p.read_bytes() if p.is_file() else None) for p in spool.iterdir()}
    if queue == "empty" and command[0] == "release":
        return  # an empty file is a new queue to the gateway and to release (which writes); status only reads
    assert main(["gateway", command[0], "--spool", str(spool), *command[1:]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"radtrust: error: {db}: ")
    assert {p.name: (p.read_bytes() if p.is_file() else None) for p in spool.iterdir()} == before


def test_gateway_status_reads_a_queue_without_writing_to_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from radtrust.services.gateway.queue import Queue

    spool = tmp_path / "spool"
    spool.mkdir()
    q = Queue(str(spool / "queue.sqlite"))
    q.add(sop_uid="1.2.3", sha256="00", study_uid="1.2", series_uid="1.2.4", sop_class="1.2.840", transfer_syntax="1.2",
          path=str(spool / "objects" / "x.dcm"), calling_ae="MOD")
    q.close()
    before = (spool / "queue.sqlite").read_bytes()
    assert main(["gateway", "status", "--spool", str(spool), "--format", "jsonl"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"] == {"received": 1}
    assert (spool / "queue.sqlite").read_bytes() == before  # (SQLite's own -wal/-shm of a WAL reader aside)
