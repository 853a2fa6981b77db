#!/usr/bin/env python3
"""False alarms when authentic DICOM images are stored lossy, as a PACS or gateway stores them on ingest: JPEG 2000
(irreversible 9-7) at several compression ratios, 12-bit JPEG extended at several qualities (DCMTK's dcmcjpeg) and
JPEG-LS near-lossless (dcmcjpls), each scanned with the shipped fusion.

    .venv/bin/python scripts/lossy_storage_check.py ../shared/data/ct/siemens_abdomen ../shared/data/cr \\
        [--ratios 2,3,4,5,6,8,12,20] [--jpeg 75,90] [--near 2,4,8] [--jobs 2]

Each INPUT is a DICOM file or folder; a folder's files are grouped into series as `radtrust scan` groups them and a
series is judged as one (its score the series score). Every image is authentic, so each flag is a false alarm. A
codec that cannot hold an image (JPEG-LS near-lossless and signed pixels in DCMTK) is counted apart.
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pydicom
from pydicom.uid import JPEG2000

from radtrust.forensics.planning import plan_groups
from radtrust.io import load_image, load_series


@functools.cache
def _scanner():  # noqa: ANN202 - one per worker process
    from radtrust.forensics.scanner import Scanner

    return Scanner()


def _store(src: Path, dst: Path, variant: str) -> None:
    """Write ``src`` stored as ``variant`` (``j2k:R``, ``jpeg:Q`` or ``jls:N``) to ``dst``."""
    kind, _, value = variant.partition(":")
    ds = pydicom.dcmread(src)
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        ds.decompress(generate_instance_uid=False)
    if kind == "j2k":
        ds.compress(JPEG2000, j2k_cr=[float(value)], generate_instance_uid=False)
        ds.LossyImageCompression = "01"
        ds.save_as(dst, enforce_file_format=True)
        return
    raw = dst.with_suffix(".raw.dcm")
    ds.save_as(raw, enforce_file_format=True)
    args = ["dcmcjpeg", "+ee", "+q", value] if kind == "jpeg" else ["dcmcjpls", "+en", "--max-deviation", value]
    subprocess.run([*args, str(raw), str(dst)], check=True, capture_output=True)
    raw.unlink()


def run(task: tuple[str, tuple[str, ...], str]) -> tuple[str, str, float | None, str]:
    """(item, variant, score or None when the codec cannot hold it, verdict or the reason)."""
    name, files, variant = task
    with tempfile.TemporaryDirectory() as td:
        stored = []
        for k, f in enumerate(files):
            dst = Path(td) / f"{k:05d}.dcm"
            try:
                _store(Path(f), dst, variant)
            except subprocess.CalledProcessError as exc:
                return name, variant, None, exc.stderr.decode(errors="replace").strip().splitlines()[-1]
            stored.append(dst)
        scanner = _scanner()
        if len(stored) == 1:
            result = scanner.scan_image(load_image(stored[0]))
            return name, variant, result.score, result.verdict
        (series,) = load_series(stored)
        found = scanner.series_findings(series)
        score = scanner.series_score(found)
        return name, variant, score, scanner.fusion.verdict(score)


def _items(inputs: list[Path]) -> list[tuple[str, tuple[str, ...]]]:
    """(name, files) per series-sized task of each input, grouped as `radtrust scan` plans them (header reads only)."""
    out = []
    for path in inputs:
        tasks, errors = plan_groups([path])
        for err in errors:
            print(f"  skipped: {err['path']}: {err['message']}")
        for k, files in enumerate(tasks):
            out.append((path.name + (f"#{k}" if len(tasks) > 1 else ""), tuple(str(f) for f in files)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", type=Path)
    ap.add_argument("--ratios", default="2,3,4,5,6,8,12,20", help="JPEG 2000 compression ratios")
    ap.add_argument("--jpeg", default="75,90", help="JPEG extended qualities")
    ap.add_argument("--near", default="2,4,8", help="JPEG-LS near-lossless maximum deviations")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    variants = [f"j2k:{r}" for r in args.ratios.split(",") if r] + [f"jpeg:{q}" for q in args.jpeg.split(",") if q] \
        + [f"jls:{n}" for n in args.near.split(",") if n]
    items = _items(args.inputs)
    tasks = [(name, files, v) for v in variants for name, files in items]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(run, tasks))
    print(f"{len(items)} authentic items; flagged (suspicious or tampered) per storage, the highest score and its item")
    for v in variants:
        rs = [r for r in rows if r[1] == v]
        held = [r for r in rs if r[2] is not None]
        flagged = [r for r in held if r[3] in ("suspicious", "tampered")]
        top = max(held, key=lambda r: r[2], default=None)
        apart = f", {len(rs) - len(held)} the codec cannot hold" if len(held) < len(rs) else ""
        best = f"{top[2]:.3f} ({top[0]})" if top else "-"
        print(f"  {v:9} {len(flagged):3d} / {len(held)}  max {best}{apart}"
              + (f"  flagged: {', '.join(r[0] for r in flagged)}" if flagged else ""))


if __name__ == "__main__":
    main()
