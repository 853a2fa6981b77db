#!/usr/bin/env python3
"""Pixel AUC of the fused heatmap, at full resolution, over every tampered image with a mask in a benchmark split.

    .venv/bin/python scripts/pixel_auc.py bench/dev --split test        # the development test split
    .venv/bin/python scripts/pixel_auc.py bench/holdout --split all      # methods nothing was tuned on

Each image is scanned as ``radtrust scan`` scans it (the shipped fusion, or ``--fusion``) and its fused map compared
with its mask on every second pixel and row; the mean per image and per method is printed. ``radtrust bench``
measures localisation on maps reduced to 128 px; this is the map a user gets.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from radtrust.benchmarking.format import Row, mask_path, read_labels


@functools.cache
def _scanner(fusion: str | None) -> Any:
    """One scanner per worker process, not one per image."""
    from radtrust.forensics.fusion import Fusion
    from radtrust.forensics.scanner import Scanner

    return Scanner(fusion=Fusion.load(fusion) if fusion else None)


def _one(job: tuple[str, Row, str | None]) -> tuple[str, float]:
    from radtrust.benchmarking.collect import full_pixel_auc

    bench, row, fusion = job
    return row.method, full_pixel_auc(_scanner(fusion), Path(bench), row)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bench", type=Path)
    ap.add_argument("--split", choices=["test", "train", "all"], default="test")
    ap.add_argument("--fusion", help="fusion JSON (default: the shipped one)")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    rows = read_labels(args.bench)
    jobs = [(str(args.bench), r, args.fusion) for r in rows
            if r.label == 1 and args.split in ("all", r.split) and mask_path(args.bench, r).exists()
            and np.load(mask_path(args.bench, r)).any()]  # rows without a mask: image-level labels only
    per: dict[str, list[float]] = {}
    with ProcessPoolExecutor(max(1, args.jobs)) as pool:
        for method, auc in pool.map(_one, jobs):
            if math.isfinite(auc):
                per.setdefault(method, []).append(auc)
    values = [a for v in per.values() for a in v]
    if not values:
        print("no tampered image with a mask in that split", file=sys.stderr)
        return 2
    print(f"pixel AUC (mean per image): {np.mean(values):.3f} over {len(values)} images")
    for method in sorted(per, key=lambda m: np.mean(per[m])):
        print(f"  {method:<26} {np.mean(per[method]):.3f}  n={len(per[method])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
