#!/usr/bin/env python3
"""Each detector alone, and the shipped fusion, on a benchmark's single-image rows of one modality.

    .venv/bin/python scripts/per_detector_auc.py bench/dev-1024 --modality DX

All splits, tampered against authentic; identity swaps left out (nothing in the pixels or a single header can show
them). For each detector: how many images it judged, its AUC on those, and its AUC with "not judged" read as 0.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from radtrust.benchmarking.format import read_labels
from radtrust.benchmarking.metrics import roc_auc
from radtrust.forensics.scanner import Scanner
from radtrust.io import load_image


def scores(path: Path) -> tuple[float, dict[str, float | None]]:
    result = Scanner().scan_image(load_image(path))
    return result.score, dict(result.detectors)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench", type=Path)
    ap.add_argument("--modality", default="DX")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    rows = [r for r in read_labels(args.bench) if r.modality == args.modality and r.method != "meta-identity-swap"
            and not (args.bench / r.file).is_dir()]
    with ProcessPoolExecutor(args.jobs) as ex:
        results = list(ex.map(scores, [args.bench / r.file for r in rows], chunksize=4))
    y = np.array([r.label for r in rows])
    names = sorted({k for _, d in results for k in d})
    for name in [*names, "fused"]:
        v = np.array([s if name == "fused" else (d.get(name) if d.get(name) is not None else np.nan)
                      for s, d in results], float)
        ok = np.isfinite(v)
        print(f"{name:18s} judged {ok.sum():4d} of {len(v)}   AUC judged {roc_auc(y[ok], v[ok]):.3f}   "
              f"AUC not-judged-as-0 {roc_auc(y, np.nan_to_num(v)):.3f}")


if __name__ == "__main__":
    main()
