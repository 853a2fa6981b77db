#!/usr/bin/env python3
"""The jpeg-grid detector alone: tampered pictures of a benchmark against every authentic picture, as stored losslessly.

    .venv/bin/python scripts/jpeg_grid_check.py bench/dev [--authentic ../shared/data/cxr] [--jobs 2]

Tampered rows: the benchmark's non-CT pixel edits (labels.csv format). Authentic rows: every picture under
--authentic, judged as its lossless copy (rounded luminance, what a DICOM or PNG copy of a JPEG picture reads).
Prints how many rows have a lattice at all, the AUC, the TPR at the authentic 1/2/5% quantiles and the AUC per method.
"""

from __future__ import annotations

import argparse
import csv
import math
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from radtrust.errors import NotApplicable
from radtrust.forensics.calibration import lossless_copy, roc_auc
from radtrust.forensics.detectors.jpeg_grid import JpegGridDetector
from radtrust.io import iter_files, load_image


def score(item: tuple[str, int, str]) -> tuple[int, str, float]:
    path, label, method = item
    image = load_image(path)
    if image.source_format in ("jpeg", "png"):
        image = lossless_copy(image)
    try:
        return label, method, JpegGridDetector().run(image).score
    except NotApplicable:
        return label, method, math.nan


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bench", type=Path)
    ap.add_argument("--authentic", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "cxr")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    with open(args.bench / "labels.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh)
                if r["modality"] != "CT" and r["variant"] != "metadata" and r["label"] == "1"]
    items = [(str(args.bench / r["file"]), 1, r["method"]) for r in rows]
    items += [(str(p), 0, "") for p in iter_files([args.authentic])]
    with ProcessPoolExecutor(args.jobs) as pool:
        res = list(pool.map(score, items, chunksize=4))
    y = np.array([r[0] for r in res])
    method = np.array([r[1] for r in res])
    s = np.array([r[2] for r in res])
    ok = np.isfinite(s)
    auth = np.sort(s[(y == 0) & ok])
    print(f"with a JPEG lattice: {auth.size} of {(y == 0).sum()} authentic, {((y == 1) & ok).sum()} of "
          f"{(y == 1).sum()} tampered; AUC {roc_auc(s[ok], y[ok]):.3f}")
    for q in (0.99, 0.98, 0.95):
        t = float(np.quantile(auth, q))
        print(f"  threshold at the authentic {q:.0%} quantile ({t:.3f}): TPR {np.mean(s[(y == 1) & ok] > t):.2f}")
    for m in sorted(set(method) - {""}):
        sel = (method == m) & ok
        auc = roc_auc(np.r_[auth, s[sel]], np.r_[np.zeros(auth.size), np.ones(sel.sum())])
        print(f"  {m:<26} AUC {auc:.3f}  n={sel.sum()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
