"""Resumable scans of whole archives: the JSON-lines records kept as an append-only journal.

``radtrust scan ARCHIVE --jsonl scan.jsonl --resume`` writes each series' records to ``scan.jsonl`` as soon as
the series is done: one ``write`` of all its lines, then ``fsync``, so after a crash, ``kill -9`` or power loss
the file holds every series finished before it, and at most the last one cut short. Run the same command
again and the scan continues: the records already there are kept, their files are not analysed again.

What a resume keeps and redoes, so the journal ends exactly as one uninterrupted run would have left it:

- a series whose files all have a record, except the last one in the file, is kept;
- the last series in the file is always scanned again, because a cut-off write leaves no mark once it ends
  on a line boundary; so is any series with a file lacking a record (files added since);
- a trailing line without its newline is the torn end of a write and is dropped;
- records of files that are not among today's inputs are kept as they are.

When anything is dropped the journal is rewritten atomically before the scan appends to it. A journal line
that is not a scan record (another file given by mistake) stops the resume with exit status 2, and the file
is left untouched. Files are matched by their resolved path, so resume from the same folder with the same inputs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from radtrust.errors import UsageError
from radtrust.io.atomic import write_atomic
from radtrust.io.files import read_side_file

KINDS = ("instance", "series", "error")


def _key(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(path)


def _lines(records: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(rec) + "\n" for rec in records)


def read_records(path: Path) -> list[dict[str, Any]]:
    """The journal's complete records (a torn last line dropped); UsageError for anything not a scan record."""
    text = read_side_file(path, limit=None).decode("utf-8", errors="replace")
    lines = text.split("\n")
    lines.pop()  # "" after the last newline, or a torn last line
    records = []
    for n, line in enumerate(lines, 1):
        try:
            rec = json.loads(line)
        except ValueError:
            rec = None
        if not isinstance(rec, dict) or rec.get("kind") not in KINDS:
            raise UsageError(f"line {n} is not a radtrust scan record; not resuming over this file", path)
        records.append(rec)
    return records


@dataclass
class Resumed:
    """What a resume found: the records kept, the files they cover, and whether the journal was rewritten."""

    kept: list[dict[str, Any]] = field(default_factory=list)
    done: set[str] = field(default_factory=set)
    dropped: int = 0
    groups_kept: int = 0

    def covers(self, paths: Sequence[str | os.PathLike[str]]) -> bool:
        return all(_key(p) in self.done for p in paths)


def resume(path: str | os.PathLike[str], groups: Sequence[Sequence[Path]]) -> Resumed:
    """Read the journal at ``path`` (absent: a fresh scan), keep the finished series and rewrite it if needed."""
    path = Path(path)
    if not path.exists():
        return Resumed()
    raw_size = path.stat().st_size
    records = read_records(path)
    owner = {_key(p): i for i, group in enumerate(groups) for p in group}
    # each record's group: files by path, a series record with the instances before it
    assigned: list[int | None] = []
    current: int | None = None
    for rec in records:
        if rec["kind"] == "series":
            assigned.append(current)
            continue
        current = owner.get(_key(rec["path"])) if rec.get("path") else None
        assigned.append(current)
    recorded: dict[int, set[str]] = {}
    for rec, g in zip(records, assigned):
        if g is not None and rec["kind"] != "series":
            recorded.setdefault(g, set()).add(_key(rec["path"]))
    last = next((g for g in reversed(assigned) if g is not None), None)
    finished = {g for g, seen in recorded.items()
                if g != last and all(_key(p) in seen for p in groups[g])}
    out = Resumed()
    for rec, g in zip(records, assigned):
        if g is None or g in finished:
            out.kept.append(rec)
            if rec.get("path") and rec["kind"] != "series":
                out.done.add(_key(rec["path"]))
    out.dropped = len(records) - len(out.kept)
    out.groups_kept = len(finished)
    text = _lines(out.kept)
    if out.dropped or len(text.encode("utf-8")) != raw_size:
        write_atomic(path, text, chmod=0o600)
    return out


class Journal:
    """Append-only JSON-lines output: each call to :meth:`append` is one write followed by fsync."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def append(self, records: Sequence[dict[str, Any]]) -> None:
        if not records:
            return
        data = _lines(records).encode("utf-8")
        view = memoryview(data)
        while view:  # one write for a regular file; the loop only guards against a short write
            view = view[os.write(self._fd, view):]
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
