"""Calibration helpers: LOMO folds, the fit on series/instance vectors, false alarms, AUC against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

from radtrust.forensics import calibration as cal


def _rows(seed: int = 0) -> list[cal.Vectors]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(300):
        label = int(i % 2)
        method = "" if not label else ("m1", "m2", "m3")[i % 3]
        a = float(np.clip(rng.normal(0.2 + 0.6 * label * (method != "m3"), 0.1), 0, 1))
        b = float(np.clip(rng.normal(0.2 + 0.6 * label * (method == "m3"), 0.1), 0, 1))
        v = {"a": a, "b": b}
        inst = [v, {"a": a * 0.9, "b": b}] if i % 4 == 0 else [v]
        rows.append(cal.Vectors(f"r{i}", label, method, ("train", "test")[i % 5 == 0], v, inst))
    return rows


def test_lomo_reports_every_method_and_generalises():
    rows = _rows()
    out = cal.lomo(rows, [], ["a", "b"])
    assert set(out["methods"]) == {"m1", "m2", "m3"}
    # m3 only shows on 'b', which no other method exercises: the weight floor keeps it above chance.
    assert out["methods"]["m1"]["auc"] > 0.95 and out["min_method_auc"] > 0.55 and out["overall_auc"] > 0.7


def test_lomo_reports_the_pooled_figures_without_identity_swaps_apart():
    rows = _rows()
    rng = np.random.default_rng(3)
    for i in range(40):  # edits nothing scores: authentic-looking vectors under the identity-swap method
        v = {"a": float(np.clip(rng.normal(0.2, 0.1), 0, 1)), "b": float(np.clip(rng.normal(0.2, 0.1), 0, 1))}
        rows.append(cal.Vectors(f"id{i}", 1, "meta-identity-swap", ("train", "test")[i % 5 == 0], v, [v]))
    out = cal.lomo(rows, [], ["a", "b"])
    rest = out["without_unseeable"]
    assert rest["methods_left_out"] == ["meta-identity-swap"]
    assert out["methods"]["meta-identity-swap"]["auc"] < 0.7
    assert rest["overall_auc"] > out["overall_auc"] + 0.03  # the full figure stays the headline; this one is apart
    plain = cal.lomo(_rows(), [], ["a", "b"])["without_unseeable"]
    assert plain["methods_left_out"] == [] and plain["overall_auc"] == cal.lomo(_rows(), [], ["a", "b"])["overall_auc"]


def test_fit_thresholds_cover_instances_and_false_alarms():
    rows = _rows()
    f = cal.fit(rows, [], ["a", "b"], fpr=0.05)
    fa = cal.false_alarms(f, [r for r in rows if r.label == 0])
    assert fa["rate"] <= 0.05 and fa["images"] > 60


def test_roc_auc_matches_sklearn():
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.random(300) + 0.3 * y, 2)  # ties included
    assert cal.roc_auc(s, y) == pytest.approx(sklearn.roc_auc_score(y, s))


def test_authentic_pictures_are_also_judged_as_their_lossless_copies(samples_dir):
    """A JPEG picture is judged as the file and as the losslessly stored copy tampered versions arrive as."""
    from radtrust.forensics.calibration import authentic_vectors

    picture = samples_dir / "picture" / "4d98e1de.jpg"
    vectors = authentic_vectors([picture], ["jpeg-grid", "header"], jobs=1)
    assert [v.key for v in vectors] == [str(picture), f"{picture}#lossless"]
    assert "jpeg-grid" not in vectors[0].series  # a JPEG file is its own last compression
    assert 0.0 <= vectors[1].series["jpeg-grid"] < 0.5  # the untouched copy sits on its lattice
    assert [v.key for v in authentic_vectors([picture], ["jpeg-grid"], jobs=1, lossless_copies=False)] == [str(picture)]


def _site_rows(shift: float) -> tuple[list[cal.Vectors], list[cal.Vectors]]:
    """Benchmark rows made from sources s0..s39 and authentic images of the same sources, each also as a
    '#lossless' copy; the sources s0..s3 read ``shift`` higher on detector 'a' than every other source."""
    rng = np.random.default_rng(5)
    bench, auth = [], []
    for i in range(40):
        base = 0.1 + (shift if i < 4 else 0.0)
        for j in range(3):
            v = {"a": float(np.clip(base + rng.normal(0, 0.03), 0, 1)), "b": float(rng.uniform(0.05, 0.15))}
            auth.append(cal.Vectors(f"s{i}" + ("#lossless" if j else ""), 0, "", "authentic", v, [v]))
        t = {"a": float(np.clip(0.85 + rng.normal(0, 0.05), 0, 1)), "b": 0.1}
        bench.append(cal.Vectors(f"row{i}", 1, "m1", "train", t, [t], source=f"s{i}"))
        bench.append(cal.Vectors(f"auth{i}", 0, "", ("train", "test")[i % 5 == 0], auth[-3].series,
                                 [auth[-3].series], source=f"s{i}"))
    return bench, auth


def test_heldout_false_alarms_hold_each_source_out_of_its_own_fit():
    bench, auth = _site_rows(shift=0.4)
    inside = cal.false_alarms(cal.fit([v for v in bench if v.split == "train"], auth, ["a", "b"]), auth)
    held = cal.heldout_false_alarms(bench, auth, ["a", "b"], margin=0.0)
    assert inside["false_alarms"] == 0  # the odd sources set the threshold when they are in the fit ...
    assert held["false_alarms"] > 0  # ... and are false alarms when they are not
    assert held["images"] == sum(len(v.instances) for v in auth)
    assert all(cal.Vectors(g, 0, "", "", {}, []).origin in {f"s{i}" for i in range(4)} for g in held["flagged_groups"])
    assert cal.Vectors("x.jpg#lossless", 0, "", "", {}, []).origin == "x.jpg"


def test_choose_margin_takes_the_smallest_that_holds_on_heldout_sources():
    bench, auth = _site_rows(shift=0.4)
    margin, tried = cal.choose_margin(bench, auth, ["a", "b"], fpr=0.01, candidates=(0.0, 1.0, 3.0, 6.0))
    rates = [t["rate"] for t in tried]
    assert tried[0]["margin"] == 0.0 and rates[0] > 0.01
    assert rates[-1] <= 0.01 and margin == tried[-1]["margin"] and all(r > 0.01 for r in rates[:-1])
    calm, _ = cal.choose_margin(*_site_rows(shift=0.0), ["a", "b"], fpr=0.05, candidates=(0.0, 1.0))
    assert calm == 0.0


def test_a_single_image_counts_once_among_the_authentic_rows():
    """A single image's instance vector is its series vector. Counted twice (three times for a training row), one
    odd authentic picture among CT series filled the detector's upper quantile and left it no solo level."""
    rng = np.random.default_rng(2)

    def quiet() -> dict[str, float]:
        return {"grid": float(np.clip(rng.normal(0.05, 0.02), 0, 1)), "other": 0.1}

    authentic = []
    for i in range(20):  # CT series: a series vector and ten images each
        authentic.append(cal.Vectors(f"s{i}", 0, "", "", quiet(), [quiet() for _ in range(10)]))
    odd = {"grid": 0.99999, "other": 0.1}
    train = [cal.Vectors("odd", 0, "", "train", odd, [odd])]
    for i in range(19):
        v = quiet()
        train.append(cal.Vectors(f"b{i}", 0, "", "train", v, [v]))
    for i in range(40):
        v = {"grid": 0.98, "other": 0.1}
        train.append(cal.Vectors(f"t{i}", 1, "m", "train", v, [v]))
    f = cal.fit(train, authentic, ["grid", "other"])
    assert 0.5 <= f.solo[0] < 0.98
    assert len(cal.scan_rows(train[0])) == 1 and len(cal.scan_rows(authentic[0])) == 11
