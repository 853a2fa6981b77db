"""Bench metrics against scikit-learn on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, jaccard_score, roc_auc_score, roc_curve

from radtrust.benchmarking import metrics

CASES = {
    "ties": ([0, 0, 1, 1, 0, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.4, 0.4, 0.2, 0.9]),
    "perfect": ([0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.7, 0.9]),
    "inverted": ([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]),
    "all_equal": ([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_auc_and_roc_match_sklearn(name):
    y, s = CASES[name]
    assert metrics.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))
    f, t, thr = metrics.roc_curve(y, s)
    f2, t2, thr2 = roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(f, f2)
    np.testing.assert_allclose(t, t2)
    np.testing.assert_allclose(thr[1:], thr2[1:])


def test_random_scores_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.random(500) + 0.4 * y, 2)
    assert metrics.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))


def test_tpr_at_fpr_hand_made():
    # 10 authentic scores 0..0.9, 4 tampered; at FPR 0 only scores above 0.9 count
    y = [0] * 10 + [1] * 4
    s = [i / 10 for i in range(10)] + [0.95, 0.85, 0.05, 0.99]
    assert metrics.tpr_at_fpr(y, s, 0.0) == 0.5
    assert metrics.tpr_at_fpr(y, s, 0.01) == 0.5  # 1 % of 10 authentic images is still none
    assert metrics.tpr_at_fpr(y, s, 0.1) == 0.75
    f, t, _ = roc_curve(y, s)
    assert metrics.tpr_at_fpr(y, s, 0.2) == t[f <= 0.2].max()
    assert np.isnan(metrics.tpr_at_fpr([1, 1], [0.2, 0.3], 0.05))


def test_pixel_auc_and_f1_iou_match_sklearn():
    rng = np.random.default_rng(1)
    masks = [rng.random((8, 9)) > 0.7, rng.random((5, 4, 4)) > 0.5]
    maps = [m * 0.5 + rng.random(m.shape) * 0.7 for m in masks]
    y = np.concatenate([m.ravel() for m in masks])
    s = np.concatenate([h.ravel() for h in maps])
    assert metrics.pixel_auc(masks, maps) == pytest.approx(roc_auc_score(y, s))
    pred = maps[0] > 0.6
    f1, iou = metrics.f1_iou(masks[0], pred)
    assert f1 == pytest.approx(f1_score(masks[0].ravel(), pred.ravel()))
    assert iou == pytest.approx(jaccard_score(masks[0].ravel(), pred.ravel()))
    assert metrics.f1_iou(np.zeros(3, bool), np.zeros(3, bool)) == (1.0, 1.0)
    assert metrics.f1_iou(np.ones(3, bool), np.zeros(3, bool)) == (0.0, 0.0)


def test_auc_one_class_is_nan_and_bad_input_rejected():
    assert np.isnan(metrics.roc_auc([1, 1], [0.1, 0.2]))
    with pytest.raises(ValueError):
        metrics.roc_auc([0, 1], [0.1])
    with pytest.raises(ValueError):
        metrics.roc_auc([0, 1], [0.1, float("nan")])


def test_within_class_auc_leaves_out_the_ranking_between_classes():
    """Class A separates perfectly; class B's evidence is gone (every score tied) and sits above all of class A:
    pooled, B's tampered images lose to A's authentic ones; within classes, A counts 1.0 and B 0.5."""
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0, 0])
    s = np.array([0.4, 0.3, 0.1, 0.2, 0.6, 0.6, 0.6, 0.6, 0.6])
    c = np.array(["A", "A", "A", "A", "B", "B", "B", "B", "B"])
    pairs_a, pairs_b = 2 * 2, 2 * 3
    expected = (1.0 * pairs_a + 0.5 * pairs_b) / (pairs_a + pairs_b)
    assert metrics.within_class_auc(y, s, c) == pytest.approx(expected)
    # the same figure as scikit-learn per class, weighted by pairs
    auc_a = roc_auc_score(y[c == "A"], s[c == "A"])
    auc_b = roc_auc_score(y[c == "B"], s[c == "B"])
    assert metrics.within_class_auc(y, s, c) == pytest.approx((auc_a * pairs_a + auc_b * pairs_b) / (pairs_a + pairs_b))
    assert metrics.roc_auc(y, s) != pytest.approx(expected)
    # a class with one label only adds no pairs; none at all is NaN
    assert metrics.within_class_auc(y[:5], s[:5], np.array(["A", "A", "A", "A", "C"])) == pytest.approx(1.0)
    assert np.isnan(metrics.within_class_auc([1, 0], [0.2, 0.1], ["A", "B"]))
    with pytest.raises(ValueError):
        metrics.within_class_auc(y, s, c[:3])
