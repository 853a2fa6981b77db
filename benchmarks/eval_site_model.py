"""What the one-class site model adds over zero-shot detection, per tampering method (issue 7 evaluation).

    .venv/bin/python benchmarks/eval_site_model.py --bench bench/dev --out site-eval [--jobs 2] [--seed 0]

1. Train a site model on the benchmark's *authentic train-split rows only* (the benchmark is split by patient),
   exactly as `radtrust train --authentic <those rows> --out OUT/site.npz` would.
2. Run the bench harness once with the model (`radtrust bench BENCH --model OUT/site.npz --leave-one-method-out`,
   through :func:`radtrust.benchmarking.runner.run_benchmark`), so every detector sees every image once.
3. Re-evaluate the same analysed items with the ``site-model`` column removed: the zero-shot baseline, with
   identical zero-shot scores. Report the leave-one-method-out AUC per method with and without the model, the
   gain, and the false-alarm rate on authentic test images at the fused threshold (in-distribution fusion).

Writes OUT/site.npz, OUT/report.json (both evaluations) and OUT/report.html (the with-model bench report).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

SITE = "site-model"


def _without_model(results: list[Any]) -> list[Any]:
    return [dataclasses.replace(r, scores={k: v for k, v in r.scores.items() if k != SITE},
                                instance_scores=[{k: v for k, v in d.items() if k != SITE} for d in r.instance_scores],
                                maps={k: v for k, v in r.maps.items() if k != SITE}) for r in results]


def _lomo(rep: dict[str, Any]) -> dict[str, float]:
    return {m: v.get("auc", float("nan")) for m, v in rep["leave_one_method_out"]["per_method"].items()}


def _alone(results: list[Any]) -> dict[str, float]:
    """LOMO-free AUC of the site-model score alone per method (test split, authentic test rows as negatives;
    a series counts by the larger of its series score and its slices'); out-of-group rows are left out."""
    from radtrust.benchmarking import metrics

    def score(r: Any) -> float:
        vals = [d[SITE] for d in [r.scores, *r.instance_scores] if SITE in d]
        return max(vals) if vals else float("nan")

    test = [(r.row, score(r)) for r in results if r.error is None and r.row.split == "test"]
    test = [(row, s) for row, s in test if s == s]
    out = {}
    for m in sorted({row.method for row, _ in test if row.label == 1}):
        sel = [(row.label, s) for row, s in test if row.label == 0 or row.method == m]
        out[m] = round(float(metrics.roc_auc(np.array([a for a, _ in sel]), np.array([b for _, b in sel]))), 4)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from radtrust.benchmarking.format import read_labels
    from radtrust.benchmarking.report import write_report
    from radtrust.benchmarking.runner import evaluate, run_benchmark
    from radtrust.forensics.oneclass import TrainOptions, train

    args.out.mkdir(parents=True, exist_ok=True)
    rows = read_labels(args.bench)
    authentic_train = [str(args.bench / r.file) for r in rows if r.label == 0 and r.split == "train"]
    model_path = args.out / "site.npz"
    model = train(authentic_train, options=TrainOptions(seed=args.seed),
                  progress=lambda m: print(f"train: {m}", file=sys.stderr, flush=True))
    model.save(model_path)

    def progress(stage: str, i: int, n: int) -> None:
        if i == n or i % 20 == 0:
            print(f"{stage}: {i}/{n}", file=sys.stderr, flush=True)

    with_model = run_benchmark(args.bench, model=str(model_path), lomo=True, jobs=args.jobs, progress=progress)
    write_report(with_model, args.bench, args.out)
    zero_rep, _, _ = evaluate(_without_model(with_model.results), lomo=True)
    model_rep = with_model.report
    z, w = _lomo(zero_rep), _lomo(model_rep)
    alone = _alone(with_model.results)
    in_group = sum(1 for r in with_model.results if r.error is None and SITE in r.scores)
    summary = {
        "bench": str(args.bench), "authentic_train_rows": len(authentic_train),
        "rows_scored_by_the_site_model": in_group, "rows": len(with_model.results),
        "per_method_lomo_auc": {m: {"zero_shot": z[m], "with_model": w.get(m), "gain": round(w.get(m, float("nan")) - z[m], 4),
                                    "site_model_alone": alone.get(m)} for m in z},
        "pooled_lomo": {"zero_shot": zero_rep["leave_one_method_out"]["pooled"],
                        "with_model": model_rep["leave_one_method_out"]["pooled"]},
        "false_alarm_rate_at_threshold": {
            "zero_shot": zero_rep["in_distribution"]["false_alarm_rate_at_threshold"],
            "with_model": model_rep["in_distribution"]["false_alarm_rate_at_threshold"]},
        "fusion_with_model": model_rep["fusion"],
    }
    (args.out / "gain.json").write_text(json.dumps({"summary": summary, "model": model.describe(),
                                                    "zero_shot_report": zero_rep}, indent=2, default=str))
    print(f"{'held-out method':28s} {'zero-shot':>9s} {'+ model':>8s} {'gain':>7s} {'model alone':>11s}")
    for m in sorted(z, key=lambda k: z[k]):
        print(f"{m:28s} {z[m]:9.3f} {w.get(m, float('nan')):8.3f} {w.get(m, float('nan')) - z[m]:+7.3f} "
              f"{alone.get(m, float('nan')):11.3f}")
    pz, pw = summary["pooled_lomo"]["zero_shot"], summary["pooled_lomo"]["with_model"]
    fa = summary["false_alarm_rate_at_threshold"]
    print(f"pooled LOMO AUC {pz['auc']:.3f} -> {pw['auc']:.3f}; TPR@1%FPR {pz['tpr_at_1pct_fpr']:.3f} -> "
          f"{pw['tpr_at_1pct_fpr']:.3f}; false alarms at threshold {fa['zero_shot']} -> {fa['with_model']}; "
          f"rows scored by the site model {in_group}/{len(with_model.results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
