"""What the one-class site model adds over zero-shot detection, per tampering method (issue 7 evaluation).

    .venv/bin/python benchmarks/eval_site_model.py --bench bench/dev --out site-eval [--jobs 2] [--seed 0]

1. Train a site model on the benchmark's *authentic train-split rows only* (the benchmark is split by patient),
   exactly as `radtrust train --authentic <those rows> --out OUT/site.npz` would.
2. Run the bench harness once with the model (`radtrust bench BENCH --model OUT/site.npz --leave-one-method-out`,
   through :func:`radtrust.benchmarking.runner.run_benchmark`), so every detector sees every image once.
3. With ``--cross-fit K`` (default 5): the train-split rows are re-scored by site models that never saw them.
   The units (an authentic image and every tampered row made from it) are dealt into K folds; for each fold a
   model is trained on the other folds' authentic rows and scores that fold's rows. Without this the fusion is
   fitted, and its threshold set, on site-model scores of the very images the model was trained on, which are
   lower than any new image's: test images then cross the threshold too easily (false alarms).
4. Re-evaluate the same analysed items with the ``site-model`` column removed: the zero-shot baseline, with
   identical zero-shot scores. Report the leave-one-method-out AUC per method with and without the model, the
   gain, and the false-alarm rate on authentic test images at the fused threshold (in-distribution fusion).

Writes OUT/site.npz, OUT/site-fold<k>.npz (the cross-fitted models), OUT/report.json (both evaluations) and
OUT/report.html (the with-model bench report).
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


def _unit(row: Any) -> str:
    """The authentic image a row belongs to: its stem without the variant suffix (``chest_volume_z034_v2``
    and ``chest_volume_z034_v0`` are one slab)."""
    stem = row.stem
    return stem.rsplit("_v", 1)[0] if "_v" in stem else stem


def _cross_fit(bench: Path, out: Path, results: list[Any], folds: int, seed: int, jobs: int) -> list[Any]:
    """Train-split rows re-scored (site-model column only) by models trained without their unit."""
    import functools

    from radtrust.benchmarking.collect import analyze_all
    from radtrust.forensics.oneclass import TrainOptions, train
    from radtrust.forensics.scanner import Scanner

    train_items = [r for r in results if r.row.split == "train" and r.error is None]
    units = sorted({_unit(r.row) for r in train_items})
    order = np.random.default_rng(seed).permutation(len(units))
    fold_of = {units[j]: i % folds for i, j in enumerate(order)}
    rescored: dict[str, Any] = {}
    for k in range(folds):
        fit_on = [str(bench / r.row.file) for r in train_items if r.row.label == 0 and fold_of[_unit(r.row)] != k]
        judge = [r.row for r in train_items if fold_of[_unit(r.row)] == k]
        if not fit_on or not judge:
            continue
        path = out / f"site-fold{k}.npz"
        train(fit_on, options=TrainOptions(seed=seed)).save(path)
        factory = functools.partial(Scanner, [], model=str(path))  # the site model alone
        for item in analyze_all(bench, judge, factory, jobs=jobs):
            rescored[item.row.file] = item
        print(f"cross-fit: fold {k + 1}/{folds}: {len(fit_on)} authentic rows, {len(judge)} rows re-scored",
              file=sys.stderr, flush=True)

    def merged(r: Any) -> Any:
        new = rescored.get(r.row.file)
        if new is None or new.error is not None:
            return r
        scores = {k: v for k, v in r.scores.items() if k != SITE} | {k: v for k, v in new.scores.items() if k == SITE}
        inst = [{k: v for k, v in a.items() if k != SITE} | {k: v for k, v in b.items() if k == SITE}
                for a, b in zip(r.instance_scores, new.instance_scores)] if len(new.instance_scores) == len(
                    r.instance_scores) else r.instance_scores
        return dataclasses.replace(r, scores=scores, instance_scores=inst)

    return [merged(r) for r in results]


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
    ap.add_argument("--cross-fit", type=int, default=5, metavar="K",
                    help="re-score train rows with K fold models that never saw them (0: in-sample scores)")
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
    if args.cross_fit > 1:
        results = _cross_fit(args.bench, args.out, with_model.results, args.cross_fit, args.seed, args.jobs)
        model_rep, fusion, curves = evaluate(results, lomo=True)
        with_model = dataclasses.replace(with_model, report={**with_model.report, **model_rep}, results=results,
                                         fusion=fusion, curves=curves)
    write_report(with_model, args.bench, args.out)
    zero_rep, _, _ = evaluate(_without_model(with_model.results), lomo=True)
    model_rep = with_model.report
    z, w = _lomo(zero_rep), _lomo(model_rep)
    alone = _alone(with_model.results)
    in_group = sum(1 for r in with_model.results if r.error is None and SITE in r.scores)
    summary = {
        "bench": str(args.bench), "authentic_train_rows": len(authentic_train), "cross_fit_folds": args.cross_fit,
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
