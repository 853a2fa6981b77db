"""radtrust calibrate: thresholds set on a site's own authentic images (radtrust.forensics.site_thresholds), kept
weights, the share the shipped threshold flags said, and a file `scan --fusion` uses; too few scores, unreadable
files and an --out over an input are refused with nothing written."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from radtrust.cli import main
from radtrust.forensics.fusion import Fusion, shipped_fusion
from radtrust.forensics.site_thresholds import site_fusion
from tests.conftest import SAMPLES


def test_site_fusion_keeps_the_weights_and_sets_thresholds_on_the_site_scores():
    base = shipped_fusion()
    rng = np.random.default_rng(0)
    scores = rng.uniform(0.05, 0.6, 400)
    scores[:3] = [0.95, 0.93, 0.91]  # three site images the shipped threshold flags
    cal = site_fusion(base, scores, 0.01)
    f = cal.fusion
    assert np.array_equal(f.weights, base.weights) and f.bias == base.bias and f.names == base.names
    assert cal.base_flagged == 3 and cal.count == 400
    # 1% of 400: four may lie above; the three high ones do, the threshold is the fifth moved up by the margin
    assert np.mean(scores > f.threshold) <= 0.01 and 0.6 < f.threshold < 0.91
    assert f.tampered_threshold >= f.threshold
    assert f.info["site_calibration"]["scores"] == 400 and len(f.info["authentic_probabilities"]) == 400
    assert f.with_threshold_for(0.05).threshold < f.threshold  # --fpr on the site's own scores
    lower = site_fusion(base, rng.uniform(0.05, 0.3, 400), 0.01).fusion
    assert lower.threshold < base.threshold  # a quiet site gets a more sensitive threshold
    with pytest.raises(ValueError):
        site_fusion(base, [0.1, float("nan")], 0.01)


def test_calibrate_writes_a_fusion_scan_uses(tmp_path, capsys):
    site = tmp_path / "site"
    shutil.copytree(SAMPLES / "ct", site / "ct")
    shutil.copytree(SAMPLES / "cr", site / "cr")
    out = tmp_path / "site-fusion.json"
    assert main(["calibrate", "--authentic", str(site), "--out", str(out), "--fpr", "0.25"]) == 0
    said = capsys.readouterr().out
    assert "authentic scores (instances and series): the current threshold 0.8915 flags 0 (0.00%)" in said, said
    assert f"use it with: radtrust scan --fusion {out}" in said
    fusion = Fusion.load(out)
    assert fusion.info["site_calibration"]["fpr"] == 0.25 and fusion.threshold != shipped_fusion().threshold
    assert main(["scan", str(site), "--fusion", str(out), "--format", "jsonl"]) in (0, 1)
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    flagged = [r for r in recs if r["kind"] in ("instance", "series") and r["verdict"] != "authentic"]
    assert len(flagged) <= 0.25 * len([r for r in recs if r["kind"] in ("instance", "series")])


def _one_error(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("radtrust: error:")]
    assert len(err) == 1, err
    return err[0]


def test_calibrate_refuses_too_few_scores_unreadable_files_and_an_out_over_an_input(tmp_path, capsys):
    site = tmp_path / "site"
    shutil.copytree(SAMPLES / "ct", site)
    out = tmp_path / "f.json"
    assert main(["calibrate", "--authentic", str(site), "--out", str(out)]) == 2
    assert "at least 200 are needed to set a threshold for --fpr 0.01" in _one_error(capsys)
    (site / "broken.dcm").write_bytes(b"DICM" * 10)
    assert main(["calibrate", "--authentic", str(site), "--out", str(out), "--fpr", "0.25"]) == 2
    line = _one_error(capsys)
    assert "broken.dcm" in line and "(1 file(s) unreadable: nothing written)" in line
    (site / "broken.dcm").unlink()
    assert main(["calibrate", "--authentic", str(site), "--out", str(site / "ct_01.dcm"), "--fpr", "0.25"]) == 2
    assert "--out" in _one_error(capsys)
    for bad in (["--fpr", "0"], ["--fpr", "0.9"], ["--margin", "-1"], ["--jobs", "0"]):
        assert main(["calibrate", "--authentic", str(site), "--out", str(out), *bad]) == 2
        _one_error(capsys)
    assert not out.exists()
