"""Atomic output: every file radtrust writes appears whole or not at all.

A temporary file in the destination folder (so the final rename stays on one file system) is written and then
moved over the destination with ``os.replace``; on any error the temporary file is removed and the destination
is left as it was. Temporary files are created 0600 (``tempfile.mkstemp``); ``chmod`` widens the result.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from radtrust.errors import InputError, UsageError


@contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", *, chmod: int | None = None) -> Iterator[IO[Any]]:
    """A file object for ``path`` (``mode`` "wb" or "w"); it replaces ``path`` only when the block succeeds."""
    path = Path(path)
    if path.is_dir():
        raise InputError("is a folder, not a file to write", path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise InputError(f"cannot write here: {exc.strerror or exc}", path) from exc
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        if chmod is not None:
            os.chmod(tmp, chmod)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write: {exc.strerror or exc}", path) from exc


def write_atomic(path: str | os.PathLike[str], data: bytes | str, *, chmod: int | None = None) -> None:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w" if isinstance(data, str) else "wb", chmod=chmod) as fh:
        fh.write(data)


def refuse_overwrite(outputs: Iterable[str | os.PathLike[str] | None], inputs: Iterable[str | os.PathLike[str]],
                     option: str = "the output") -> None:
    """Raise :class:`~radtrust.errors.UsageError` when an output would replace an input file (inputs are never
    modified unless the user asks). ``inputs`` are files or folders: an existing output inside an input folder counts
    as an input unless the folder walk skips its kind (reports, JSON, masks)."""
    from radtrust.io.load import SKIPPED_SUFFIXES

    files, folders = set(), []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            folders.append(p.resolve())
        elif p.exists():
            files.add(p.resolve())
    for raw in outputs:
        if raw is None:
            continue
        out = Path(raw).resolve()
        inside = any(out.is_relative_to(f) for f in folders) and out.suffix.lower() not in SKIPPED_SUFFIXES
        if out in files or (inside and out.is_file()):
            raise UsageError(f"{option} would replace an input file; write it elsewhere", raw)
