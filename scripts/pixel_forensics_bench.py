"""Per-detector numbers of the pixel detectors on a benchmark in the simulator's format (BENCH/labels.csv).

For every row: 2D items run ``Detector.run``, CT series folders run ``Detector.run_series``. Prints per
detector the image AUC of each method against all authentic rows, the false-alarm rate at score 0.5 on
the authentic rows, the pixel AUC (heatmap vs BENCH/masks/<stem>.npy) and the median time per item.

    .venv/bin/python scripts/pixel_forensics_bench.py bench/dev [--detectors spectral,noise-residual,duplicated-noise]
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from radtrust.errors import NotApplicable
from radtrust.forensics.registry import get_detector
from radtrust.io import load_image, load_series


def auc(pos: list[float], neg: list[float]) -> float:
    if not pos or not neg:
        return float("nan")
    r = rankdata(np.concatenate([pos, neg]))
    return float((r[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bench")
    ap.add_argument("--detectors", default="spectral,noise-residual,duplicated-noise")
    args = ap.parse_args()
    root = Path(args.bench)
    rows = list(csv.DictReader(open(root / "labels.csv")))
    rows = [r for r in rows if not r["method"].startswith("meta-")]  # pixels unchanged: not ours
    items = []
    for r in rows:
        path = root / r["file"]
        if path.is_dir():
            [series] = load_series(path)
            items.append((r, series, None))
        else:
            cand = [p for p in path.parent.glob(path.name + "*") if p.suffix in (".dcm", ".png", ".jpg", "")]
            items.append((r, None, load_image(cand[0] if cand else path)))
    for name in args.detectors.split(","):
        det = get_detector(name)
        scores: dict[str, list[float]] = defaultdict(list)
        pix: dict[str, list[float]] = defaultdict(list)
        times = []
        for r, series, image in items:
            t = time.perf_counter()
            try:
                f = det.run_series(series) if series is not None else det.run(image)
            except NotApplicable:
                continue
            times.append((time.perf_counter() - t) / (len(series) if series is not None else 1))
            key = r["method"] or "authentic"
            scores[key].append(f.score)
            mpath = root / "masks" / (Path(r["file"]).stem + ".npy")
            if r["label"] == "1" and mpath.exists() and f.heatmap is not None:
                m = np.load(mpath).astype(bool)
                if m.shape == f.heatmap.shape and m.any() and not m.all():
                    h = f.heatmap.ravel()[::7]
                    pix[key].append(auc(list(h[m.ravel()[::7]]), list(h[~m.ravel()[::7]])))
        neg = scores.pop("authentic", [])
        fa = np.mean(np.asarray(neg) >= 0.5) if neg else float("nan")
        allpos = [s for v in scores.values() for s in v]
        print(f"== {name}: authentic n={len(neg)} false alarms@0.5 {fa:.3f}; all methods AUC {auc(allpos, neg):.3f}; "
              f"median {np.median(times) * 1e3:.0f} ms per slice/image")
        for m in sorted(scores):
            pa = np.nanmean(pix[m]) if pix[m] else float("nan")
            print(f"   {m:24s} n={len(scores[m]):3d} AUC {auc(scores[m], neg):.3f} "
                  f"TPR@0.5 {np.mean(np.asarray(scores[m]) >= 0.5):.2f} pixel AUC {pa:.3f}")


if __name__ == "__main__":
    main()
