"""Atomic output: every file radtrust writes appears whole or not at all.

A temporary file in the destination folder (so the final rename stays on one file system) is written and then
moved over the destination with ``os.replace``; on any error the temporary file is removed and the destination
is left as it was. Temporary files are created 0600 (``tempfile.mkstemp``); ``chmod`` widens the result.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", *, chmod: int | None = None) -> Iterator[IO[Any]]:
    """A file object for ``path`` (``mode`` "wb" or "w"); it replaces ``path`` only when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
        if chmod is not None:
            os.chmod(tmp, chmod)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike[str], data: bytes | str, *, chmod: int | None = None) -> None:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w" if isinstance(data, str) else "wb", chmod=chmod) as fh:
        fh.write(data)
