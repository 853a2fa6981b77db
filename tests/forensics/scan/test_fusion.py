"""Fusion: calibrated logistic over detector log-odds, NaN-tolerant, thresholds from a false-alarm rate."""

from __future__ import annotations

import numpy as np
import pytest

from radtrust.forensics.detectors.base import Finding
from radtrust.forensics import calibration as cal
from radtrust.forensics.fusion import Fusion, fuse_heatmaps, smoothed, threshold_at_fpr


def _data(seed: int = 0, n: int = 600):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(float)
    a = np.clip(rng.normal(0.3 + 0.4 * y, 0.12), 0, 1)          # informative
    b = np.clip(rng.normal(0.5, 0.2, n), 0, 1)                   # noise
    c = np.where(rng.random(n) < 0.4, np.nan, np.clip(rng.normal(0.2 + 0.3 * y, 0.15), 0, 1))  # often missing
    return np.c_[a, b, c], y


def test_fit_separates_and_holds_the_false_alarm_rate():
    X, y = _data()
    f = Fusion.fit(X, y, ["a", "b", "c"], fpr=0.01)
    p = f.probability(X)
    assert ((p > f.threshold) & (y == 0)).sum() / (y == 0).sum() <= 0.01
    assert ((p > f.threshold) & (y == 1)).sum() / (y == 1).sum() > 0.6
    assert f.weights[0] > f.weights[1] >= 0  # informative detector dominates; weights never negative
    assert f.tampered_threshold >= f.threshold


def test_missing_detectors_are_neutral_and_unknown_ones_join():
    X, y = _data()
    f = Fusion.fit(X, y, ["a", "b", "c"])
    assert np.isfinite(f.probability(np.array([[np.nan, np.nan, np.nan]]))).all()
    f.solo[:] = np.nan  # the weighted sum alone (solo levels are tested below)
    base = f.score({"a": 0.3})
    assert f.score({"a": 0.3, "other": 0.99}) == base  # uncalibrated detectors are reported, not fused
    assert f.score({"a": 0.3, "other": 0.99}, extra=["other"]) > base > f.score({"a": 0.3, "other": 0.01}, ["other"])


def test_negative_weights_are_dropped():
    rng = np.random.default_rng(1)
    y = (rng.random(400) < 0.5).astype(float)
    good = np.clip(rng.normal(0.3 + 0.4 * y, 0.1), 0, 1)
    inverted = np.clip(rng.normal(0.7 - 0.4 * y, 0.1), 0, 1)  # lower when tampered: must not be used
    f = Fusion.fit(np.c_[good, inverted], y, ["good", "inverted"])
    assert f.weights[1] == 0.0 and f.weights[0] > 0


def test_json_round_trip_and_threshold_change():
    X, y = _data()
    f = Fusion.fit(X, y, ["a", "b", "c"])
    g = Fusion.from_json(f.to_json())
    assert np.allclose(g.probability(X), f.probability(X))
    assert g.with_threshold_for(0.05).threshold <= g.threshold


@pytest.mark.parametrize("scores, fpr, expected", [
    ([0.1, 0.2, 0.3, 0.4], 0.0, 0.4),
    ([0.1, 0.2, 0.3, 0.4], 0.25, 0.3),
    (list(np.linspace(0, 1, 101)), 0.01, 0.99),
])
def test_threshold_at_fpr(scores, fpr, expected):
    assert threshold_at_fpr(np.array(scores), fpr) == pytest.approx(expected)


def test_fused_heatmap_follows_the_detector_that_fires():
    f = Fusion.default(["x", "y"])
    hx = np.zeros((8, 8), np.float32)
    hx[2, 2] = 1
    hy = np.zeros((8, 8), np.float32)
    hy[6, 6] = 1
    heat = fuse_heatmaps({"x": Finding(0.95, hx), "y": Finding(0.5, hy)}, f, shape=(8, 8))
    assert heat is not None and heat.dtype == np.float32 and heat[2, 2] > heat[6, 6] > 0
    assert fuse_heatmaps({"x": Finding(0.9)}, f) is None


def test_fused_heatmap_cleans_maps_but_never_writes_into_them():
    """NaN counts as 0, +inf as the top, maps above 1 are scaled and below 0 clipped; the detectors' own maps
    (passed through untouched when already in [0, 1]) are not modified."""
    f = Fusion.default(["x", "y"])
    hx = np.array([[np.nan, np.inf], [0.5, 4.0]], np.float32)
    hy = np.array([[0.25, 0.5], [-1.0, 1.0]], np.float32)
    keep_x, keep_y = hx.copy(), hy.copy()
    heat = fuse_heatmaps({"x": Finding(0.5, hx), "y": Finding(0.5, hy)}, f, shape=(2, 2))
    np.testing.assert_allclose(heat, [[0.125, 0.375], [0.0625, 1.0]], atol=1e-6)  # equal weights: the mean
    np.testing.assert_array_equal(hx, keep_x)
    np.testing.assert_array_equal(hy, keep_y)


def test_fused_heatmap_is_smoothed_in_plane_at_the_images_scale():
    """Block-wise scatter inside an edited square averages out (its pixel AUC rises); odd sizes keep their shape,
    a constant map stays constant, and frames of a volume are not blurred into each other."""
    rng = np.random.default_rng(5)
    mask = np.zeros((300, 517), bool)
    mask[100:160, 200:270] = True
    blocks = rng.random((300 // 4 + 1, 517 // 4 + 1)).repeat(4, 0).repeat(4, 1)[:300, :517]
    raw = np.where(mask, 0.3 + 0.7 * blocks, 0.8 * blocks).astype(np.float32)  # inside only a little higher
    out = smoothed(raw)
    assert out.shape == raw.shape and out.dtype == np.float32
    before, after = cal.roc_auc(raw.ravel(), mask.ravel().astype(int)), cal.roc_auc(out.ravel(), mask.ravel().astype(int))
    assert after > before + 0.05 and after > 0.95
    assert np.unravel_index(np.argmax(out), out.shape) in {(r, c) for r in range(100, 160) for c in range(200, 270)}
    np.testing.assert_allclose(smoothed(np.full((64, 700), 0.25, np.float32)), 0.25, atol=1e-6)
    vol = np.zeros((3, 256, 256), np.float32)
    vol[1, 100:140, 100:140] = 1.0
    out = smoothed(vol)
    assert out.shape == vol.shape and not out[0].any() and not out[2].any() and out[1, 120, 120] > 0.9
    assert 0 < out[1, 98, 120] < 1  # blurred across the square's edge within the frame
    heat = fuse_heatmaps({"x": Finding(0.9, raw)}, Fusion.default(["x"]), shape=raw.shape)
    np.testing.assert_allclose(heat, smoothed(raw), atol=1e-6)


def test_a_detector_alone_beyond_anything_authentic_decides():
    X, y = _data()
    f = Fusion.fit(X, y, ["a", "b", "c"])
    auth_max = np.nanmax(X[y == 0], axis=0)
    assert np.all(f.solo[np.isfinite(f.solo)] > auth_max[np.isfinite(f.solo)])
    assert np.isnan(f.solo[1])  # 'b' reached 0.97 on authentic rows: no room left for a solo level
    assert f.score({"c": 0.999}) > f.threshold  # 'c' alone, beyond anything authentic
    at_max = np.array([[np.nan, np.nan, auth_max[2]]])
    assert f._solo_probability(at_max)[0] <= f.threshold
    assert Fusion.from_json(f.to_json()).score({"c": 0.999}) > f.threshold


def test_one_odd_authentic_image_does_not_silence_a_detector():
    """The solo level is a quantile: an annotated picture at 0.9999 must not lift it above every tampering."""
    rng = np.random.default_rng(3)
    n_auth, n_tamp = 400, 40
    quiet = np.clip(rng.normal(0.02, 0.01, n_auth), 0, 1)
    quiet[0] = 0.9999  # the odd authentic image
    other = np.clip(rng.normal(0.3, 0.1, n_auth + n_tamp), 0, 1)  # a detector blind to this method
    X = np.c_[np.r_[quiet, np.full(n_tamp, 0.99)], other]
    y = np.r_[np.zeros(n_auth), np.ones(n_tamp)]
    f = Fusion.fit(X, y, ["grid", "other"], fpr=0.01)
    assert 0.5 <= f.solo[0] < 0.99
    p = f.probability(X)
    assert (p[y == 1] > f.threshold).all()
    assert ((p > f.threshold) & (y == 0)).sum() <= 0.01 * n_auth


@pytest.mark.parametrize("text", ["[1,2,3]", "null", "[" * 100000 + "]" * 100000, '"x"', "{}",
                                  '{"format": "%s", "names": 5}'])
def test_a_damaged_fusion_file_is_a_one_line_input_error(tmp_path, text):
    from radtrust.errors import InputError
    from radtrust.forensics.fusion import FORMAT

    path = tmp_path / "f.json"
    path.write_text(text.replace("%s", FORMAT))
    with pytest.raises(InputError) as exc:
        Fusion.load(path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_a_detector_joined_later_keeps_every_other_probability_and_can_decide_alone():
    """Fusion.joined: at the weight floor, neutral at its authentic median, the bias taking back its fill, so rows it
    says nothing about (missing, or at the authentic level) keep their probability; strong evidence alone is over the
    threshold; joined twice is refused, and `without` undoes it exactly."""
    X, y = _data()
    f = Fusion.fit(X, y, ["a", "b", "c"])
    authentic = np.r_[np.zeros(300), np.full(100, np.nan), np.full(5, 0.004)]
    g = f.joined("d", authentic)
    assert g.names == ("a", "b", "c", "d") and g.threshold == f.threshold
    assert g.weights[-1] == pytest.approx(0.25 * f.weights.max())
    quiet = np.c_[X, np.zeros(len(X))]
    assert np.allclose(g.probability(np.c_[X, np.full(len(X), np.nan)]), f.probability(X))
    assert np.allclose(g.probability(quiet), f.probability(X))
    unremarkable = np.array([[np.nan, np.nan, np.nan, 0.99]])
    assert g.probability(unremarkable)[0] > g.threshold > f.probability(unremarkable[:, :3])[0]
    assert g.info["joined"][0]["name"] == "d"
    with pytest.raises(ValueError, match="already"):
        g.joined("d", authentic)
    back = g.without("d")
    assert back.names == f.names and back.bias == pytest.approx(f.bias) and np.allclose(back.weights, f.weights)
    with pytest.raises(ValueError, match="not joined"):
        f.without("a")


def test_only_the_detectors_that_spend_the_budget_give_up_their_solo_level():
    """Two detectors each have an odd authentic row over their solo level, more than half the budget together: the one
    whose level catches fewer edits falls back (to no level), the other keeps it, and a third detector that spends
    nothing keeps its quantile level (it used to fall back with them)."""
    rng = np.random.default_rng(5)
    n_auth, n_tamp = 300, 60
    auth = np.clip(rng.normal(0.05, 0.02, (n_auth, 3)), 0, 1)
    auth[0, 0] = 0.9999  # an odd authentic row for 'wide'
    auth[1, 1] = 0.9999  # one for 'narrow': two rows over, half the budget is 1.5
    tamp = np.clip(rng.normal(0.05, 0.02, (n_tamp, 3)), 0, 1)
    tamp[:40, 0] = 0.97  # 'wide' alone catches 40 edits
    tamp[40:45, 1] = 0.97  # 'narrow' alone 5
    tamp[45:, 2] = 0.97  # 'quiet' alone the rest
    X, y = np.vstack([auth, tamp]), np.r_[np.zeros(n_auth), np.ones(n_tamp)]
    f = Fusion.fit(X, y, ["wide", "narrow", "quiet"], fpr=0.01)
    assert 0.5 <= f.solo[0] < 0.97 and np.isnan(f.solo[1])
    assert f.solo[2] == pytest.approx(max(0.5, f.solo[2])) and f.solo[2] < 0.2 + 0.5  # its quantile level, not its max
    p = f.probability(X)
    assert (p[n_auth:n_auth + 40] > f.threshold).all()
    assert ((p > f.threshold) & (y == 0)).sum() <= 0.01 * n_auth
