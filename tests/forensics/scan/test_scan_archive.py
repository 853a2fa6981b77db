"""Scanning whole archives: `scan --jsonl FILE --resume` survives kill -9 and ends as one uninterrupted run would;
a torn or foreign journal is handled; a worker process that dies costs its own series only."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radtrust.cli import main
from radtrust.errors import UsageError
from radtrust.forensics import _scanwork, journal
from radtrust.forensics.scanner import Scanner


def _pictures(folder: Path, n: int, size: int = 384) -> list[Path]:
    rng = np.random.default_rng(5)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    ramp = np.linspace(40, 200, size)[None, :]
    for i in range(n):
        pixels = np.clip(ramp + rng.normal(0, 6, (size, size)), 0, 255).astype(np.uint8)
        path = folder / f"p{i:03d}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _key(line: str) -> str:
    rec = json.loads(line)
    return json.dumps(rec, sort_keys=True)


def test_resume_after_kill_9_ends_as_one_uninterrupted_run(tmp_path, sample_ct_files):
    archive = tmp_path / "archive"
    _pictures(archive / "pictures", 24)
    shutil.copytree(sample_ct_files[0].parent, archive / "ct")
    reference = tmp_path / "reference.jsonl"
    assert main(["scan", str(archive), "--jsonl", str(reference), "--jobs", "1", "-q"]) in (0, 1)

    journal_path = tmp_path / "scan.jsonl"
    cmd = [sys.executable, "-m", "radtrust", "scan", str(archive), "--jsonl", str(journal_path), "--resume",
           "--jobs", "2", "-q"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if journal_path.exists() and len(_lines(journal_path)) >= 10:  # the CT series (7 lines) and 3 pictures
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the scan finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    cut = _lines(journal_path)
    assert 10 <= len(cut) < len(_lines(reference))

    done = subprocess.run(cmd[:-1], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode in (0, 1), done.stderr
    assert "radtrust: resuming" in done.stderr
    resumed = _lines(journal_path)
    assert sorted(map(_key, resumed)) == sorted(map(_key, _lines(reference)))
    paths = [json.loads(line).get("path") for line in resumed if json.loads(line)["kind"] != "series"]
    assert len(paths) == len(set(paths))  # nothing scanned twice
    assert oct(journal_path.stat().st_mode & 0o777) == "0o600"

    again = subprocess.run(cmd[:-1], capture_output=True, text=True, timeout=300, check=False)  # complete: only the last redone
    assert again.returncode == done.returncode
    assert sorted(map(_key, _lines(journal_path))) == sorted(map(_key, resumed))


def test_resume_drops_a_torn_line_and_the_last_series_keeps_the_rest(tmp_path):
    files = [tmp_path / f"{n}.png" for n in "abcd"]
    groups = [[files[0]], [files[1], files[2]], [files[3]]]
    recs = [{"kind": "instance", "path": str(files[0]), "verdict": "authentic"},
            {"kind": "error", "path": str(tmp_path / "other.dcm"), "message": "not DICOM"},  # not among the inputs
            {"kind": "instance", "path": str(files[1]), "verdict": "authentic"},
            {"kind": "instance", "path": str(files[2]), "verdict": "authentic"},
            {"kind": "series", "series_instance_uid": "1.2", "verdict": "authentic"}]
    path = tmp_path / "scan.jsonl"
    text = "".join(json.dumps(r) + "\n" for r in recs)
    path.write_text(text + '{"kind": "instance", "pa')  # torn mid-write
    done = journal.resume(path, groups)
    assert done.kept == recs[:2] and done.groups_kept == 1  # the last series in the file is redone
    assert done.covers([files[0]]) and not done.covers(groups[1]) and not done.covers([files[3]])
    assert done.covers([tmp_path / "other.dcm"])
    assert path.read_text() == "".join(json.dumps(r) + "\n" for r in recs[:2])

    whole = tmp_path / "whole.jsonl"
    whole.write_text(text)
    one_file_missing = journal.resume(whole, [[files[0], files[3]], groups[1]])  # a file added since
    assert one_file_missing.groups_kept == 0 and not one_file_missing.covers([files[0]])


def test_a_journal_that_is_not_a_scan_is_refused_and_left_alone(tmp_path, capsys, samples_dir):
    path = tmp_path / "notes.jsonl"
    path.write_text('{"kind": "instance", "path": "x"}\nmy notes\n')
    with pytest.raises(UsageError, match="line 2 is not a radtrust scan record"):
        journal.resume(path, [])
    rc = main(["scan", str(samples_dir / "cr"), "--jsonl", str(path), "--resume"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "notes.jsonl: line 2" in err
    assert path.read_text() == '{"kind": "instance", "path": "x"}\nmy notes\n'


def test_resume_options_and_the_exit_status_counts_kept_records(tmp_path, capsys):
    pics = _pictures(tmp_path / "pics", 3, size=128)
    assert main(["scan", str(pics[0]), "--resume"]) == 2
    assert "--resume needs --jsonl" in capsys.readouterr().err
    assert main(["scan", str(pics[0]), "--resume", "--jsonl", str(tmp_path / "j"), "--format", "html"]) == 2
    assert "html" in capsys.readouterr().err

    path = tmp_path / "scan.jsonl"
    assert main(["scan", str(tmp_path / "pics"), "--jsonl", str(path), "--resume", "-q"]) == 0
    lines = _lines(path)
    first = json.loads(lines[0])
    assert first["path"] == str(pics[0]) and first["verdict"] == "authentic"
    first["verdict"] = "tampered"  # as an earlier run had found it
    path.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    assert main(["scan", str(tmp_path / "pics"), "--jsonl", str(path), "--resume", "--format", "jsonl"]) == 1
    out = capsys.readouterr()
    assert [json.loads(line)["path"] for line in out.out.splitlines()] == [str(pics[2])]  # only the redone last one
    assert "3 records kept" not in out.err and "2 records kept (2 series or files), 1 to scan" in out.err


def test_a_worker_that_dies_costs_its_series_only(tmp_path, monkeypatch):
    pics = _pictures(tmp_path / "pics", 5, size=128)
    doomed = pics[2].with_name("die.png")
    pics[2].rename(doomed)
    real = _scanwork.scan_group

    def scan_or_die(scanner, paths, *args):
        if any(p.name == "die.png" for p in paths):
            os._exit(9)  # as the kernel's OOM killer would
        return real(scanner, paths, *args)

    monkeypatch.setattr(_scanwork, "scan_group", scan_or_die)  # workers are forked: they inherit it
    records = list(Scanner().scan_paths([tmp_path / "pics"], jobs=2))
    errors = [r for r in records if r["kind"] == "error"]
    assert [r["path"] for r in errors] == [str(doomed)] and "process died" in errors[0]["message"]
    assert sorted(r["path"] for r in records if r["kind"] == "instance") == sorted(str(p) for p in pics if p.exists())
