"""How often the same pixels under another name (radtrust.forensics.same_pixels) give away a benchmark edit that
was also given new UIDs, and how often a plain re-filing is told.

Each tampered item of a benchmark (``bench/dev``) is filed again with every UID generated anew (Study, Series,
SOP Instance and Frame of Reference UIDs: what an attacker who means the edit to last, or a workstation exporting
it as a new study, does) and scanned beside the authentic item made from the same source, with ``--copies flag``.
An item counts as found when an instance of the re-filed copy carries the note. Authentic items filed again the
same way (nothing else changed) are the false-alarm side. Only the header detector runs: the comparison does not
depend on the detectors.

    .venv/bin/python scripts/refiled_check.py bench/dev
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

from radtrust.benchmarking.format import Row, read_labels
from radtrust.forensics.scanner import Scanner

NOTES = ("holds exactly these pixels", "holds these pixels")


def refile(src: Path, dst: Path) -> None:
    """``src`` (a file or a series folder) under new Study, Series, SOP Instance and Frame of Reference UIDs."""
    files = sorted(p for p in src.rglob("*") if p.is_file()) if src.is_dir() else [src]
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    for f in files:
        ds = pydicom.dcmread(f)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        if "FrameOfReferenceUID" in ds:
            ds.FrameOfReferenceUID = frame
        out = dst / f.relative_to(src) if src.is_dir() else dst
        out.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(out, enforce_file_format=True)


def told(scanner: Scanner, original: Path, copy: Path) -> bool:
    for items in scanner.scan_groups([original, copy], jobs=1):
        for rec, _ in items:
            if (rec.get("kind") == "instance" and str(rec.get("path", "")).startswith(str(copy))
                    and any(n in e for n in NOTES for e in rec.get("evidence", []))):
                return True
    return False


def item(row: Row) -> str:
    """The source an item was made from: its file name without the variant."""
    return row.file.rsplit("_v", 1)[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench", type=Path)
    args = ap.parse_args()
    rows = read_labels(args.bench)
    authentic = {item(r): r for r in rows if r.label == 0}
    scanner = Scanner(["header"], copies="flag")
    found: dict[str, list[bool]] = defaultdict(list)
    work = Path(tempfile.mkdtemp(prefix="refiled-check-"))
    try:
        for r in rows:
            if item(r) not in authentic:
                continue
            original = args.bench / authentic[item(r)].file
            copy = work / ("refiled_" + Path(r.file).name)
            refile(args.bench / r.file, copy)
            found[r.method or "authentic (re-filed, nothing else changed)"].append(told(scanner, original, copy))
            shutil.rmtree(copy) if copy.is_dir() else copy.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for method in sorted(found):
        hits = found[method]
        print(f"{method:45s} {sum(hits):3d} / {len(hits):3d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
