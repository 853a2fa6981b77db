"""The benchmark runner: scanner once per image, then fusion per fold, metrics, robustness.

Folds (the fusion is always fitted on the ``train`` split and measured on ``test``):

- ``in_distribution``: fitted on every method; the overall, per-method, per-modality and per-variant
  (anti-forensics) figures, and localisation (pixel AUC; F1/IoU at a map threshold calibrated on train);
- ``leave_one_method_out``: for each method M, fitted on train without M, tested on test authentic + M.
  This is the number that matters: detectors must catch generators they were not tuned on;
- ``shipped``: the scanner's own fusion (``radtrust/data/fusion.json``) on the test split, no refit;
- ``robustness``: every test image (authentic and tampered) rewritten by each variant of
  :mod:`radtrust.benchmarking.robustness`, scored with the in-distribution fusion.

A benchmark made to evaluate only (no ``train`` split holding both classes, e.g. a labels.csv without a split
column) has nothing to fit on: ``in_distribution`` and ``robustness`` are then the shipped fusion's, and no method
is held out. Tampered rows without a mask count at image level only.

An image's probability is what ``radtrust scan`` reports: its fused vector, and for a series the
maximum of the series vector and each slice's vector.
"""

from __future__ import annotations

import functools
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radtrust.benchmarking import metrics
from radtrust.benchmarking.collect import ItemResult, analyze_all, iter_errors
from radtrust.benchmarking.format import read_labels, unmasked
from radtrust.benchmarking.robustness import VARIANTS, transformer
from radtrust.errors import InputError

log = logging.getLogger(__name__)
RADIOGRAPH = ("CR", "DX", "DR", "RG", "MG", "OT", "")


@dataclass
class BenchResult:
    """Everything the report shows."""

    report: dict[str, Any]
    results: list[ItemResult]
    fusion: Any = None  # in-distribution fusion
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    robust: dict[str, list[ItemResult]] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)  # one record per image: items.jsonl


def item_records(results: Sequence[ItemResult], shipped: Any) -> list[dict[str, Any]]:
    """One record per analysed image, every split: its row, its evidence class, the shipped fusion's probability and
    verdict, and each detector's score (the series vector for CT) -- what a person looking for the misses and the
    false alarms behind a figure needs. An image that could not be analysed has its error instead."""
    ok = [r for r in results if r.error is None]
    probs = dict(zip(map(id, ok), probabilities(shipped, ok))) if ok and shipped is not None else {}
    out = []
    for r in results:
        rec: dict[str, Any] = {"file": r.row.file, "label": r.row.label, "method": r.row.method, "split": r.row.split,
                               "modality": modality_of(r), "patient": r.row.patient}
        if r.error is not None:
            rec["error"] = r.error
        else:
            rec["class"] = evidence_class(r)
            if id(r) in probs:
                p = float(probs[id(r)])
                rec["score"], rec["verdict"] = round(p, 4), shipped.verdict(p)
            rec["detectors"] = {k: round(float(v), 4) for k, v in sorted(r.scores.items()) if v == v}
        out.append(rec)
    return out


def _names(results: Sequence[ItemResult]) -> list[str]:
    return sorted({n for r in results for n in r.scores} | {n for r in results for d in r.instance_scores for n in d})


def matrix(results: Sequence[ItemResult], names: Sequence[str]) -> np.ndarray:
    return np.array([[r.scores.get(n, np.nan) for n in names] for r in results], dtype=float).reshape(-1, len(names))


def probabilities(fusion: Any, results: Sequence[ItemResult]) -> np.ndarray:
    names = list(fusion.names)
    p = fusion.probability(matrix(results, names)) if results else np.zeros(0)
    out = np.array(p, dtype=float)
    for i, r in enumerate(results):
        if r.instance_scores:
            inst = np.array([[d.get(n, np.nan) for n in names] for d in r.instance_scores], dtype=float)
            out[i] = max(out[i], float(np.max(fusion.probability(inst))))
    return out


def fit(results: Sequence[ItemResult], names: Sequence[str], fpr: float) -> Any:
    from radtrust.forensics.fusion import Fusion

    y = np.array([r.row.label for r in results])
    return Fusion.fit(matrix(results, names), y, names, fpr=fpr)


def fused_map(fusion: Any, r: ItemResult) -> np.ndarray | None:
    from radtrust.forensics.detectors.base import Finding
    from radtrust.forensics.fusion import fuse_heatmaps

    if not r.maps:
        return None
    shape = next(iter(r.maps.values())).shape
    findings = {n: Finding(float(r.scores.get(n, 0.0)), m.astype(np.float32)) for n, m in r.maps.items()
                if m.shape == shape}
    return fuse_heatmaps(findings, fusion, shape)


def localisation(fusion: Any, train: Sequence[ItemResult], test: Sequence[ItemResult]) -> dict[str, Any]:
    """Pixel AUC over test tampered images with a pixel mask; F1/IoU at a threshold chosen on train."""
    def pairs(items: Sequence[ItemResult]) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for r in items:
            if r.row.label == 1 and r.mask is not None:
                m = fused_map(fusion, r)
                if m is not None and m.shape == r.mask.shape:
                    out.append((r.mask, m))
        return out

    tr, te = pairs(train), pairs(test)
    if not te:
        return {"pixel_auc": float("nan"), "n_images": 0}
    grid = np.linspace(0.05, 0.95, 19)
    thr = 0.5
    if tr:
        f1s = [np.mean([metrics.f1_iou(mk, mp >= t)[0] for mk, mp in tr]) for t in grid]
        thr = float(grid[int(np.argmax(f1s))])
    f1, iou = zip(*(metrics.f1_iou(mk, mp >= thr) for mk, mp in te))
    auc = metrics.pixel_auc([mk for mk, _ in te], [mp for _, mp in te])
    return {"pixel_auc": round(auc, 4), "f1": round(float(np.mean(f1)), 4), "iou": round(float(np.mean(iou)), 4),
            "map_threshold": round(thr, 3), "n_images": len(te)}


def modality_of(r: ItemResult) -> str:
    """The row's modality from labels.csv, else the image's own (the column is optional)."""
    return (r.row.modality or r.modality).upper()


def evidence_class(r: ItemResult) -> str:
    """``CT``, ``picture, JPEG lattice read``, ``picture, no JPEG lattice`` (8-bit radiographs, by whether jpeg-grid
    judged them) or another modality: the classes whose figures differ most (docs/verdict.md, session 13)."""
    mod = modality_of(r)
    if mod not in RADIOGRAPH:
        return mod
    if "jpeg-grid" in r.scores:
        return "picture, JPEG lattice read"
    return "picture, no JPEG lattice" if r.eight_bit else "radiograph, 12-16 bit"


def _subset_summary(y: np.ndarray, p: np.ndarray, keep: np.ndarray) -> dict[str, Any]:
    return metrics.summary(y[keep], p[keep])


def _of_method(test: Sequence[ItemResult], method: str) -> np.ndarray:
    return np.array([r.row.method == method for r in test])


def _rate_at(p: np.ndarray, rows: np.ndarray, threshold: float) -> float | None:
    """The share of the selected rows at or above ``threshold`` (flagged), or None when none is selected."""
    return round(float(np.mean(p[rows] >= threshold)), 4) if rows.any() else None


def evaluate(results: Sequence[ItemResult], *, fpr: float = 0.01, lomo: bool = True,
             shipped: Any = None) -> tuple[dict[str, Any], Any, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The in-distribution, leave-one-method-out and shipped-fusion figures from analysed items; a benchmark whose
    train split does not hold both classes is measured with ``shipped`` alone (``fusion.fitted_on`` says so)."""
    ok = [r for r in results if r.error is None]
    names = _names(ok)
    train = [r for r in ok if r.row.split == "train"]
    test = [r for r in ok if r.row.split == "test"]
    if not test:
        raise InputError("the benchmark needs a test split (images that could be read)")
    refit = {r.row.label for r in train} == {0, 1}
    if not refit and shipped is None:
        raise InputError("the benchmark's train split needs both authentic (label 0) and tampered (label 1) "
                         "images that could be read")
    # a benchmark made for evaluation only (every row in test, or a train split of one class) is measured with the
    # shipped fusion: nothing to refit on, so no leave-one-method-out either
    fusion = fit(train, names, fpr) if refit else shipped
    lomo = lomo and refit
    y = np.array([r.row.label for r in test])
    p = probabilities(fusion, test)
    auth = y == 0
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    fpr_c, tpr_c, _ = metrics.roc_curve(y, p)
    curves["in-distribution (all methods)"] = (fpr_c, tpr_c)
    methods = sorted({r.row.method for r in test if r.row.label == 1})
    rep: dict[str, Any] = {"detectors": names, "fusion": {"names": list(fusion.names),
                                                          "weights": [round(float(w), 4) for w in fusion.weights],
                                                          "threshold": round(float(fusion.threshold), 4)}}
    if not refit:
        rep["fusion"]["fitted_on"] = ("the shipped fusion: the train split does not hold both authentic and tampered "
                                      "images, so nothing was refitted and no method was held out")
    modality = np.array(["radiograph" if modality_of(r) in RADIOGRAPH else modality_of(r) for r in test])
    kind = np.array([evidence_class(r) for r in test])
    rep["in_distribution"] = {
        "overall": metrics.summary(y, p),
        "per_method": {m: _subset_summary(y, p, auth | _of_method(test, m)) for m in methods},
        "per_modality": {mod: _subset_summary(y, p, modality == mod) for mod in sorted(set(modality))},
        # what most picture edits are found by is there or not (radtrust.forensics.limits): the figures apart
        "per_evidence_class": {k: _subset_summary(y, p, kind == k) for k in sorted(set(kind))},
        "within_class_auc": round(metrics.within_class_auc(y, p, kind), 4),
        "per_variant": {v: _subset_summary(y, p, auth | np.array([r.row.variant == v for r in test]))
                        for v in sorted({r.row.variant for r in test if r.row.label == 1})},
        "false_alarm_rate_at_threshold": _rate_at(p, auth, fusion.threshold),
        # which authentic test rows fire, with the detector scores behind them: the first thing to read when the
        # rate rises (a new detector, a site model)
        "false_alarms": [{"file": r.row.file, "probability": round(float(pr), 4),
                          "scores": {k: round(float(v), 4) for k, v in r.scores.items()}}
                         for r, pr in zip(test, p) if r.row.label == 0 and pr >= fusion.threshold],
        "localisation": localisation(fusion, train, test),
    }
    if lomo:
        folds: dict[str, Any] = {}
        pooled_y, pooled_p = [], []
        for m in methods:
            tr = [r for r in train if r.row.method != m]
            te = [r for r in test if r.row.label == 0 or r.row.method == m]
            try:
                f = fit(tr, names, fpr)
            except ValueError as exc:
                folds[m] = {"error": str(exc)}
                continue
            yt = np.array([r.row.label for r in te])
            pt = probabilities(f, te)
            folds[m] = {**metrics.summary(yt, pt), "localisation": localisation(f, tr, te)}
            fc, tc, _ = metrics.roc_curve(yt, pt)
            curves[f"held out: {m}"] = (fc, tc)
            pooled_y.extend(yt[yt == 1])
            pooled_p.extend(pt[yt == 1])
        # Pooled: every tampered test image scored by the fold that never saw its method, against the
        # authentic test images scored by the all-methods fusion.
        yy = np.r_[np.array(pooled_y, dtype=int), np.zeros(int(auth.sum()), dtype=int)]
        pp = np.r_[np.array(pooled_p, dtype=float), p[auth]]
        aucs = [v["auc"] for v in folds.values() if isinstance(v.get("auc"), float) and np.isfinite(v["auc"])]
        rep["leave_one_method_out"] = {"per_method": folds, "pooled": metrics.summary(yy, pp),
                                       "worst_method_auc": min(aucs) if aucs else None}
    if shipped is not None:
        ps = probabilities(shipped, test)
        rep["shipped_fusion"] = {**metrics.summary(y, ps),
                                 "false_alarm_rate_at_threshold": _rate_at(ps, auth, shipped.threshold),
                                 "per_evidence_class": {k: {**_subset_summary(y, ps, kind == k),
                                                            "tpr_at_threshold": _rate_at(ps, ~auth & (kind == k),
                                                                                         shipped.threshold),
                                                            "false_alarm_rate_at_threshold": _rate_at(
                                                                ps, auth & (kind == k), shipped.threshold)}
                                                        for k in sorted(set(kind))},
                                 # per method with no refit: what a deployment sees of a method (held-out methods
                                 # above all, `radtrust simulate dataset --methods holdout`)
                                 "per_method": {m: {**_subset_summary(y, ps, auth | _of_method(test, m)),
                                                    "tpr_at_threshold": _rate_at(ps, ~auth & _of_method(test, m),
                                                                                 shipped.threshold)}
                                                for m in methods}}
    return rep, fusion, curves


def _variant_breakdown(items: Sequence[ItemResult], y: np.ndarray, p: np.ndarray,
                       clean_class: dict[str, str]) -> dict[str, Any]:
    """Per method and per evidence class (the class the image had as stored: a codec takes jpeg-grid's lattice
    away), and the AUC within classes, for one robustness variant."""
    auth = y == 0
    kind = np.array([clean_class.get(r.row.key, evidence_class(r)) for r in items])
    methods = sorted({r.row.method for r in items if r.row.label == 1})
    return {"within_class_auc": round(metrics.within_class_auc(y, p, kind), 4),
            "per_method": {m: round(metrics.roc_auc(y[sel], p[sel]), 4)
                           for m in methods for sel in [auth | _of_method(items, m)]},
            "per_evidence_class": {k: _subset_summary(y, p, kind == k) for k in sorted(set(kind))}}


def _runtime(results: Sequence[ItemResult]) -> dict[str, Any]:
    ok = [r for r in results if r.error is None]
    ct = [r for r in ok if r.slices > 1]
    two = [r for r in ok if r.slices == 1]
    return {"images": len(ok),
            "seconds_per_2d_image": round(float(np.mean([r.seconds for r in two])), 4) if two else None,
            "seconds_per_ct_slice": round(float(sum(r.seconds for r in ct) / sum(r.slices for r in ct)), 4) if ct else None,
            "seconds_per_ct_series": round(float(np.mean([r.seconds for r in ct])), 3) if ct else None}


def _auc_of(fusion: Any, items: list[ItemResult]) -> float:
    return metrics.roc_auc(np.array([r.row.label for r in items]), probabilities(fusion, items))


def run_benchmark(bench: str | Path, *, detectors: Sequence[str] | None = None, model: str | None = None,
                  lomo: bool = True, robustness: bool = False, variants: Sequence[str] = VARIANTS, fpr: float = 0.01,
                  jobs: int = 1, progress: Callable[[str, int, int], None] | None = None) -> BenchResult:
    """Analyse a benchmark folder and compute every figure of the report."""
    from radtrust.forensics.scanner import Scanner

    bench = Path(bench)
    rows = read_labels(bench)
    factory = functools.partial(Scanner, list(detectors) if detectors else None, model=model)
    t0 = time.perf_counter()
    results = analyze_all(bench, rows, factory, jobs=jobs,
                          progress=(lambda i, n: progress("analyse", i, n)) if progress else None)
    errors = list(iter_errors(results))
    shipped = factory().fusion
    rep, fusion, curves = evaluate(results, fpr=fpr, lomo=lomo, shipped=shipped)
    rep = {"benchmark": str(bench), "images": len(rows), "errors": errors, **rep, "runtime": _runtime(results)}
    if no_mask := unmasked(bench, rows):  # image-level labels only: out of the localisation figures, said so
        rep["tampered_without_mask"] = no_mask
        log.warning("%s: %d tampered row(s) without a mask (masks/<stem>.npy): measured at image level only",
                    bench, len(no_mask))
    if bad := [{"file": r.row.file, "problem": r.mask_problem} for r in results if r.mask_problem]:
        rep["masks_not_used"] = bad  # bad input (the command says so and exits 2), the images measured at image level
    out = BenchResult(rep, results, fusion, curves, items=item_records(results, shipped))
    if robustness:
        test_rows = [r for r in rows if r.split == "test"]
        rob: dict[str, Any] = {}
        clean = [r for r in results if r.row.split == "test" and r.error is None]
        base_auc = _auc_of(fusion, clean)
        with tempfile.TemporaryDirectory(prefix="radtrust-bench-") as tmp:
            for v in variants:
                apply = transformer(Path(tmp), v)
                applied = [(r, p) for r in test_rows if (p := apply(bench / r.file, r.key)) is not None]
                rows_v = [r for r, _ in applied]
                res = analyze_all(bench, rows_v, factory, jobs=jobs, paths=[p for _, p in applied],
                                  progress=(lambda i, n, v=v: progress(v, i, n)) if progress else None)
                ok = [r for r in res if r.error is None]
                yv = np.array([r.row.label for r in ok])
                pv = probabilities(fusion, ok)
                s = metrics.summary(yv, pv)
                # against the clean AUC of the same images (a variant may apply to some images only)
                keys = {r.row.key for r in ok}
                ref = _auc_of(fusion, [r for r in clean if r.row.key in keys])
                s["images_in_variant"] = len(rows_v)
                s["auc_change"] = round(s["auc"] - ref, 4) if np.isfinite(s["auc"]) and np.isfinite(ref) else None
                s.update(_variant_breakdown(ok, yv, pv, {r.row.key: evidence_class(r) for r in clean}))
                # processed authentic images are where a deployment would see new false alarms
                s["false_alarm_rate_at_threshold"] = _rate_at(pv, yv == 0, fusion.threshold)
                s["errors"] = list(iter_errors(res))
                rob[v] = s
                out.robust[v] = res
        rep["robustness"] = {"clean_auc": round(base_auc, 4), **rob}
    rep["wall_seconds"] = round(time.perf_counter() - t0, 1)
    return out
