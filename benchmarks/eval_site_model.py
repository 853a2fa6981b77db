"""What the one-class site model adds over zero-shot detection, per tampering method (issue 7 evaluation).

    .venv/bin/python benchmarks/eval_site_model.py --bench bench/dev --out site-eval [--jobs 2] [--seed 0]

1. Train a site model on the benchmark's *authentic train-split rows only* (the benchmark is split by patient).
2. Score every row as `radtrust scan` scores it (radtrust.forensics.calibration: series vectors for CT folders,
   image vectors otherwise), once with the zero-shot detectors and once with the site model alone; merge.
3. Leave-one-method-out (calibration.lomo): fuse on all methods but one (train split), test on the held-out method
   plus the test-split authentic rows; with and without the site-model column. Report per-method AUC, the gain,
   and the false-alarm rate on test authentic rows at the fused threshold.

Writes OUT/site.npz, OUT/vectors.json (cache; reused when present) and OUT/report.json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

_SCANNER: Any = None


def _init(model: str) -> None:
    global _SCANNER
    from radtrust.forensics.fusion import Fusion
    from radtrust.forensics.scanner import Scanner

    _SCANNER = Scanner([], model=model, fusion=Fusion.default([]))


def _site_vector(path: str) -> tuple[str, dict[str, float], list[dict[str, float]]]:
    """The site-model scores of one benchmark row, in the same layout as calibration's vectors."""
    from radtrust.io import group_series, iter_images

    p = Path(path)
    files = sorted(str(f) for f in p.iterdir() if f.is_file()) if p.is_dir() else [path]
    images = [ld.image for ld in iter_images(files) if ld.image is not None]
    series_v: dict[str, float] = {}
    inst: list[dict[str, float]] = []
    for series in group_series(images):
        if len(series) == 1:
            v = {k: float(f.score) for k, f in _SCANNER.analyze(series.instances[0]).items()}
            series_v = series_v or v
            inst.append(v)
        else:
            found = _SCANNER.series_findings(series)
            series_v = series_v or dict(found.series_scores)
            inst.extend({k: float(f.score) for k, f in d.items()} for d in found.instances)
    return path, series_v, inst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from radtrust.benchmarking.format import read_labels
    from radtrust.forensics import calibration as cal
    from radtrust.forensics.oneclass import TrainOptions, train

    args.out.mkdir(parents=True, exist_ok=True)
    rows = read_labels(args.bench)
    authentic_train = [str(args.bench / r.file) for r in rows if r.label == 0 and r.split == "train"]
    model_path = args.out / "site.npz"
    model = train(authentic_train, options=TrainOptions(seed=args.seed),
                  progress=lambda m: print(f"train: {m}", file=sys.stderr))
    model.save(model_path)

    cache = args.out / "vectors.json"
    if cache.exists():
        zero = cal.load_vectors(cache)
    else:
        zero = cal.bench_vectors(args.bench, None, args.jobs)
        cal.save_vectors(cache, zero)
    with ProcessPoolExecutor(args.jobs, initializer=_init, initargs=(str(model_path),)) as pool:
        site = {p: (s, i) for p, s, i in pool.map(_site_vector, [v.key for v in zero], chunksize=1)}
    vectors = []
    covered = {"rows": 0, "in_group": 0}
    for v in zero:
        s, inst = site[v.key]
        covered["rows"] += 1
        covered["in_group"] += int("site-model" in s)
        series = {**v.series, **s}
        instances = [{**a, **b} for a, b in zip(v.instances, inst)] if len(inst) == len(v.instances) else v.instances
        vectors.append(cal.Vectors(v.key, v.label, v.method, v.split, series, instances, v.modality))
    names0 = [n for n in cal.names_of(zero) if n != "site-model"]
    runs = {"zero-shot": cal.lomo(vectors, [], names0), "zero-shot + site model": cal.lomo(vectors, [], names0 + ["site-model"]),
            "site model alone": cal.lomo(vectors, [], ["site-model"])}
    base, withm = runs["zero-shot"], runs["zero-shot + site model"]
    per = {m: {"auc_zero_shot": base["methods"][m]["auc"], "auc_with_model": withm["methods"][m]["auc"],
               "gain": withm["methods"][m]["auc"] - base["methods"][m]["auc"],
               "auc_model_alone": runs["site model alone"]["methods"][m]["auc"],
               "fpr_at_threshold_zero_shot": base["methods"][m]["fpr_at_threshold"],
               "fpr_at_threshold_with_model": withm["methods"][m]["fpr_at_threshold"]}
           for m in base["methods"]}
    report = {"bench": str(args.bench), "authentic_train_rows": len(authentic_train), "model": model.describe(),
              "rows_in_a_trained_group": covered, "detectors": names0, "lomo": runs, "per_method": per}
    (args.out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"{'method':28s} {'zero-shot':>9s} {'+model':>8s} {'gain':>7s} {'model':>7s}")
    for m, p in sorted(per.items(), key=lambda kv: kv[1]["auc_zero_shot"]):
        print(f"{m:28s} {p['auc_zero_shot']:9.3f} {p['auc_with_model']:8.3f} {p['gain']:+7.3f} {p['auc_model_alone']:7.3f}")
    print(f"overall LOMO AUC: zero-shot {base['overall_auc']:.3f}, with model {withm['overall_auc']:.3f}; "
          f"rows in a trained group: {covered['in_group']}/{covered['rows']}")
    fa0 = [p["fpr_at_threshold_zero_shot"] for p in per.values()]
    fa1 = [p["fpr_at_threshold_with_model"] for p in per.values()]
    print(f"false alarms on test authentic rows at the fused threshold (mean over folds): zero-shot "
          f"{sum(fa0) / len(fa0):.3f}, with model {sum(fa1) / len(fa1):.3f}" if fa0 else "")
    return 0 if not math.isnan(base["overall_auc"]) else 1


if __name__ == "__main__":
    sys.exit(main())
