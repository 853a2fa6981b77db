"""Detection and localisation metrics, in NumPy (checked against scikit-learn in the tests).

- :func:`roc_curve` / :func:`roc_auc`: the ROC with ties handled as scikit-learn does (the AUC is the
  Mann-Whitney probability that a tampered image outscores an authentic one, ties counting half);
- :func:`within_class_auc`: the AUC over same-class pairs only (CT with CT, pictures with pictures), beside the
  pooled one;
- :func:`tpr_at_fpr`: the true-positive rate at the largest threshold whose false-positive rate does not
  exceed the target (the operating point a site would pick from its authentic images);
- :func:`pixel_auc`: ROC AUC over all pixels of the given maps against their masks;
- :func:`f1_iou`: F1 and intersection-over-union of a binarised map against a mask.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _check(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).ravel().astype(bool)
    s = np.asarray(s, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels {y.shape} and scores {s.shape} differ in length")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    return y, s


def roc_curve(y_true: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) at every distinct score, highest first, starting at (0, 0) with threshold +inf."""
    y, s = _check(np.asarray(y_true), np.asarray(scores))
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.flatnonzero(np.diff(s)) if s.size > 1 else np.array([], dtype=int)
    ends = np.r_[distinct, s.size - 1] if s.size else np.array([], dtype=int)
    tps = np.cumsum(y)[ends]
    fps = (ends + 1) - tps
    P, N = int(y.sum()), int((~y).sum())
    tpr = np.r_[0.0, tps / P] if P else np.r_[0.0, np.full(tps.shape, np.nan)]
    fpr = np.r_[0.0, fps / N] if N else np.r_[0.0, np.full(fps.shape, np.nan)]
    thr = np.r_[np.inf, s[ends]]
    return fpr, tpr, thr


def roc_auc(y_true: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC (trapezoids; ties count half). NaN when one class is absent."""
    y, s = _check(np.asarray(y_true), np.asarray(scores))
    if y.all() or (~y).all():
        return float("nan")
    fpr, tpr, _ = roc_curve(y, s)
    return float(np.trapezoid(tpr, fpr))


def within_class_auc(y_true: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray,
                     classes: Sequence[str] | np.ndarray) -> float:
    """AUC over the (tampered, authentic) pairs of the same class only: the pooled AUC with the ranking between
    classes left out. Each class's AUC weighted by its number of pairs; NaN when no class holds both labels.

    A pooled AUC also asks whether a tampered CT slice outranks an authentic picture; when the evidence of one class
    is gone (a codec erased it), its tampered images fall below the other classes' authentic ones and the pooled
    AUC drops under 0.5 although, within the class, nothing ranks worse than chance. Both figures together say
    which happened."""
    y, s = _check(np.asarray(y_true), np.asarray(scores))
    c = np.asarray(classes)
    if c.shape != y.shape:
        raise ValueError("classes must hold one label per score")
    total = pairs = 0.0
    for k in np.unique(c):
        sel = c == k
        n1, n0 = int(y[sel].sum()), int((~y[sel]).sum())
        if n1 and n0:
            total += roc_auc(y[sel], s[sel]) * n1 * n0
            pairs += n1 * n0
    return total / pairs if pairs else float("nan")


def tpr_at_fpr(y_true: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, fpr: float) -> float:
    """True-positive rate at the operating point with false-positive rate <= ``fpr`` (NaN if a class is absent)."""
    y, s = _check(np.asarray(y_true), np.asarray(scores))
    if y.all() or (~y).all():
        return float("nan")
    f, t, _ = roc_curve(y, s)
    ok = f <= fpr + 1e-12
    return float(t[ok].max())


def pixel_auc(masks: Sequence[np.ndarray], maps: Sequence[np.ndarray]) -> float:
    """ROC AUC over the pixels of all given maps (higher = more suspicious) against the boolean masks."""
    if not masks:
        return float("nan")
    y = np.concatenate([np.asarray(m, dtype=bool).ravel() for m in masks])
    s = np.concatenate([np.nan_to_num(np.asarray(h, dtype=np.float64), nan=0.0).ravel() for h in maps])
    return roc_auc(y, s)


def f1_iou(mask: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    """F1 and IoU of a boolean prediction against a boolean mask (both 1.0 when both are empty)."""
    m = np.asarray(mask, dtype=bool)
    p = np.asarray(predicted, dtype=bool)
    if m.shape != p.shape:
        raise ValueError(f"mask {m.shape} and prediction {p.shape} differ in shape")
    tp = int(np.sum(m & p))
    fp = int(np.sum(~m & p))
    fn = int(np.sum(m & ~p))
    if tp + fp + fn == 0:
        return 1.0, 1.0
    return 2 * tp / (2 * tp + fp + fn), tp / (tp + fp + fn)


def summary(y_true: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> dict[str, float | int]:
    """AUC, TPR at 1 % and 5 % FPR and the counts, rounded for reports."""
    y = np.asarray(y_true).astype(bool)
    out: dict[str, float | int] = {"n_tampered": int(y.sum()), "n_authentic": int((~y).sum())}
    for key, val in (("auc", roc_auc(y, scores)), ("tpr_at_1pct_fpr", tpr_at_fpr(y, scores, 0.01)),
                     ("tpr_at_5pct_fpr", tpr_at_fpr(y, scores, 0.05))):
        out[key] = round(val, 4) if np.isfinite(val) else float("nan")
    return out
