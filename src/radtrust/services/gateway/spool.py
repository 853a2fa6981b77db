"""The gateway's spool: received instances on disk, durable before the sender hears "success".

Layout under the spool directory::

    incoming/    temp files being written (deleted on restart: never acknowledged)
    objects/     <SOPInstanceUID>_<sha256[:16]>.dcm, fsynced and renamed into place
    quarantine/  instances the policy holds back
    heatmaps/    <SOPInstanceUID>.npy from the scan
    results/     SR and SEG objects built per study
    queue.sqlite the state of every instance (:mod:`.queue`)

Durability follows the usual recipe: write a temp file, ``fsync`` it, ``rename`` it into place,
``fsync`` the directory. Only then is the row committed and the success status returned.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """Paths and durable writes under one spool directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.incoming = self.root / "incoming"
        self.objects = self.root / "objects"
        self.quarantine = self.root / "quarantine"
        self.heatmaps = self.root / "heatmaps"
        self.results = self.root / "results"
        self.db_path = self.root / "queue.sqlite"

    def create(self) -> "Spool":
        try:  # it will hold images, results and the queue: owner-only (an existing folder keeps its mode)
            self.root.mkdir(parents=True, mode=0o700)
        except FileExistsError:
            pass
        for d in (self.incoming, self.objects, self.quarantine, self.heatmaps, self.results):
            d.mkdir(parents=True, exist_ok=True)
        return self

    def object_path(self, sop_uid: str, sha256: str) -> Path:
        return self.objects / f"{sop_uid}_{sha256[:16]}.dcm"

    def write(self, data: bytes, target: Path) -> None:
        """Write bytes durably at ``target`` (temp + fsync + rename + directory fsync)."""
        fd, tmp = tempfile.mkstemp(dir=self.incoming, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        fsync_dir(target.parent)

    def move(self, src: Path, dst_dir: Path) -> Path:
        """Move a spooled file durably into another spool folder."""
        dst = dst_dir / src.name
        os.replace(src, dst)
        fsync_dir(dst_dir)
        fsync_dir(src.parent)
        return dst

    def clean_incoming(self) -> int:
        """Drop partial writes left by a crash; they were never acknowledged."""
        n = 0
        for p in self.incoming.glob("*.part"):
            p.unlink(missing_ok=True)
            n += 1
        return n


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
