"""The benchmark format round trip, and the runner's folds on hand-made detector scores."""

from __future__ import annotations

import numpy as np
import pytest

from radtrust.benchmarking.collect import ItemResult, reduce_map
from radtrust.benchmarking.format import Row, load_mask, mask_path, read_labels, unmasked, write_labels
from radtrust.benchmarking.runner import evaluate
from radtrust.errors import InputError


def _bench(tmp_path):
    rows = [Row("xr/a_v0.dcm", 0, "", "train", "DX", "p1", "src/a.png", ""),
            Row("xr/a_v1.dcm", 1, "copy-move", "train", "DX", "p1", "src/a.png", "plain"),
            Row("ct/b_v1", 1, "ct-inject-nodule", "test", "CT", "p2", "src/b", "copy-noise")]
    for r in rows:
        p = tmp_path / r.file
        if r.is_series:
            p.mkdir(parents=True)
            (p / "IMG0000.dcm").write_bytes(b"x")
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"x")
    (tmp_path / "masks").mkdir()
    np.save(mask_path(tmp_path, rows[1]), np.eye(4, dtype=bool))
    np.save(mask_path(tmp_path, rows[2]), np.zeros((2, 4, 4), dtype=bool))
    return rows


def test_round_trip(tmp_path):
    rows = _bench(tmp_path)
    write_labels(tmp_path, rows)
    back = read_labels(tmp_path)
    assert back == sorted(rows, key=lambda r: r.file)
    assert load_mask(tmp_path, back[-1], (4, 4)).sum() == 4
    assert load_mask(tmp_path, [r for r in back if r.label == 0][0], (4, 4)).sum() == 0
    with pytest.raises(InputError):
        load_mask(tmp_path, back[-1], (5, 5))
    # a minimal labels.csv with only the required columns is read too
    (tmp_path / "labels.csv").write_text("file,label,method,split\nxr/a_v0.dcm,0,,test\n")
    assert read_labels(tmp_path) == [Row("xr/a_v0.dcm", 0, "", "test")]


def test_only_file_and_label_are_required(tmp_path):
    """A labels.csv with file and label only (a dataset labelled per image): every row in test, tampered rows of one
    method called "unnamed"."""
    rows = _bench(tmp_path)
    (tmp_path / "labels.csv").write_text("file,label\n" + "".join(f"{r.file},{r.label}\n" for r in rows))
    back = read_labels(tmp_path)
    (tmp_path / "labels.csv").write_text("file,label\n" + "".join(f"{r.file},{('False', 'True')[r.label]}\n"
                                                                for r in rows))
    assert [r.label for r in read_labels(tmp_path)] == [r.label for r in back]  # pandas writes booleans so
    assert [(r.file, r.label, r.method, r.split) for r in back] == [
        ("xr/a_v0.dcm", 0, "", "test"), ("xr/a_v1.dcm", 1, "unnamed", "test"), ("ct/b_v1", 1, "unnamed", "test")]


def test_files_of_one_name_in_several_folders_take_their_masks_by_path(tmp_path):
    """authentic/0001.png beside tampered/0001.png (a common layout of paired datasets): read, each tampered row's
    mask at masks/<path>.npy; a mask at masks/<stem>.npy that any of them could own is an error, and so is a file
    listed twice."""
    for folder in ("authentic", "tampered"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "0001.png").write_bytes(b"x")
    (tmp_path / "labels.csv").write_text("file,label\nauthentic/0001.png,0\ntampered/0001.png,1\n")
    (tmp_path / "masks" / "tampered").mkdir(parents=True)
    np.save(tmp_path / "masks" / "tampered" / "0001.npy", np.eye(4, dtype=bool))
    rows = read_labels(tmp_path)
    assert [r.key for r in rows] == ["authentic/0001", "tampered/0001"]
    assert load_mask(tmp_path, rows[1], (4, 4)).sum() == 4 and not unmasked(tmp_path, rows)
    np.save(tmp_path / "masks" / "0001.npy", np.eye(4, dtype=bool))  # fine: the tampered row has its own by path
    read_labels(tmp_path)
    (tmp_path / "masks" / "tampered" / "0001.npy").unlink()  # now masks/0001.npy could be either's
    with pytest.raises(InputError, match="name each by its path"):
        read_labels(tmp_path)
    (tmp_path / "labels.csv").write_text("file,label\ntampered/0001.png,1\ntampered/0001.png,1\n")
    with pytest.raises(InputError, match="listed twice"):
        read_labels(tmp_path)


def test_a_tampered_row_without_a_mask_is_read_at_image_level(tmp_path):
    """A dataset labelled per image only (no masks) is a benchmark too: its rows are read, the mask is None and the
    row is named as unmasked; a mask that exists is still checked."""
    rows = _bench(tmp_path)
    mask_path(tmp_path, rows[1]).unlink()
    write_labels(tmp_path, rows)
    back = read_labels(tmp_path)
    by = {r.file: r for r in back}
    assert load_mask(tmp_path, by["xr/a_v1.dcm"], (4, 4)) is None
    assert unmasked(tmp_path, back) == ["xr/a_v1.dcm"]
    assert load_mask(tmp_path, by["ct/b_v1"], (2, 4, 4)) is not None
    with pytest.raises(InputError):
        load_mask(tmp_path, by["ct/b_v1"], (3, 4, 4))


@pytest.mark.parametrize("bad", [
    "file,label,method,split\nxr/a_v0.dcm,2,,train\n",             # label not 0/1
    "file,label,method,split\nxr/a_v0.dcm,0,copy-move,train\n",    # authentic with a method
    "file,label,method,split\nxr/a_v1.dcm,1,,train\n",             # tampered without a method
    "file,label,method,split\nxr/a_v0.dcm,0,,validate\n",          # unknown split
    "file,label,method,split\n../x.dcm,0,,train\n",                # escapes the folder
    "file,method,split\nxr/a_v0.dcm,,train\n",                     # missing column: label
    "file,label,method,split\nxr/missing.dcm,0,,train\n",          # missing file
])
def test_invalid_labels_rejected(tmp_path, bad):
    _bench(tmp_path)
    (tmp_path / "labels.csv").write_text(bad)
    with pytest.raises(InputError):
        read_labels(tmp_path)


def _results():
    """Detector 'a' sees method X only, detector 'b' sees method Y only; 'c' is noise."""
    rng = np.random.default_rng(0)
    out = []
    for split in ("train", "test"):
        for i in range(30):
            kind = ("", "X", "Y")[i % 3]
            label = int(bool(kind))
            a = 0.9 if kind == "X" else 0.1
            b = 0.9 if kind == "Y" else 0.1
            row = Row(f"xr/{split}{i}.dcm", label, kind, split, "DX")
            r = ItemResult(row, {"a": a + rng.normal(0, 0.02), "b": b + rng.normal(0, 0.02), "c": float(rng.random())})
            mask = np.zeros((4, 4), bool)
            if label:
                mask[:2, :2] = True
                r.mask = mask
            r.maps = {"a": (mask * 0.9 + 0.05).astype(np.float16), "b": (mask * 0.9 + 0.05).astype(np.float16)}
            out.append(r)
    return out


def test_evaluate_folds(monkeypatch):
    from radtrust.benchmarking import runner

    seen: list[set[str]] = []
    real_fit = runner.fit

    def spy(results, names, fpr):
        seen.append({r.row.method for r in results})
        assert all(r.row.split == "train" for r in results)
        return real_fit(results, names, fpr)

    monkeypatch.setattr(runner, "fit", spy)
    rep, fusion, curves = evaluate(_results(), fpr=0.05)
    ind = rep["in_distribution"]
    assert ind["overall"]["auc"] == 1.0 and ind["overall"]["n_tampered"] == 20
    assert set(ind["per_method"]) == {"X", "Y"}
    assert ind["localisation"]["pixel_auc"] == 1.0 and ind["localisation"]["iou"] == 1.0
    assert ind["false_alarms"] == [] and ind["false_alarm_rate_at_threshold"] == 0.0
    lomo = rep["leave_one_method_out"]
    # one fit on every train method, then one per held-out method without it
    assert seen == [{"", "X", "Y"}, {"", "Y"}, {"", "X"}]
    assert lomo["per_method"]["X"]["n_tampered"] == 10 and lomo["pooled"]["n_tampered"] == 20
    assert "held out: X" in curves


def test_stems():
    from radtrust.benchmarking.format import stem_of

    assert stem_of("xr/a_v1.dcm") == "a_v1" and stem_of("ct/b_v1") == "b_v1"
    assert stem_of("pics/x.PNG") == "x" and stem_of("vol/y.nii.gz") == "y"
    assert Row("ct/b_v1", 0).is_series and not Row("xr/a.png", 0).is_series


def test_reduce_map():
    m = np.zeros((8, 8), bool)
    m[:4, :4] = True
    assert reduce_map(m, 4, "mask").tolist() == [[True, False], [False, False]]
    assert reduce_map(np.ones((2, 9, 9)), 4).shape == (2, 2, 2)


def test_false_alarms_are_named():
    """An authentic test image that looks tampered is listed with its scores, so a rising rate can be read."""
    results = _results()
    odd = next(r for r in results if r.row.split == "test" and r.row.label == 0)
    odd.scores = {"a": 0.95, "b": 0.95, "c": 0.5}
    rep, fusion, _ = evaluate(results, fpr=0.05, lomo=False)
    ind = rep["in_distribution"]
    assert [fa["file"] for fa in ind["false_alarms"]] == [odd.row.file]
    assert ind["false_alarms"][0]["scores"] == {"a": 0.95, "b": 0.95, "c": 0.5}
    assert ind["false_alarms"][0]["probability"] >= fusion.threshold
    assert ind["false_alarm_rate_at_threshold"] == round(1 / 10, 4)


def test_shipped_fusion_is_reported_per_method():
    """A fusion that never saw method Y (detector 'a' only) flags X and not Y: what a deployment sees of Y."""
    from radtrust.benchmarking import runner

    results = _results()
    shipped = runner.fit([r for r in results if r.row.split == "train" and r.row.method != "Y"], ["a"], 0.05)
    rep, _, _ = evaluate(results, fpr=0.05, lomo=False, shipped=shipped)
    per = rep["shipped_fusion"]["per_method"]
    assert per["X"]["auc"] == 1.0 and per["X"]["tpr_at_threshold"] == 1.0
    assert per["Y"]["tpr_at_threshold"] == 0.0 and per["Y"]["n_tampered"] == 10
    assert rep["shipped_fusion"]["false_alarm_rate_at_threshold"] == 0.0


def test_a_train_split_without_both_classes_is_an_input_error():
    only_authentic = [r for r in _results() if r.row.label == 0]
    with pytest.raises(InputError, match="both authentic"):
        evaluate(only_authentic, fpr=0.05)


def test_a_benchmark_for_evaluation_only_is_measured_with_the_shipped_fusion():
    """Every row in the test split (a dataset made to evaluate, not to fit): the figures are the shipped fusion's,
    the report says so, and no method is held out; without a shipped fusion it is still an error."""
    from radtrust.benchmarking import runner

    results = _results()
    shipped = runner.fit([r for r in results if r.row.split == "train"], ["a", "b"], 0.05)
    test_only = [r for r in results if r.row.split == "test"]
    rep, fusion, _ = evaluate(test_only, fpr=0.05, lomo=True, shipped=shipped)
    assert fusion is shipped and "shipped fusion" in rep["fusion"]["fitted_on"]
    assert "leave_one_method_out" not in rep
    assert rep["in_distribution"]["overall"]["auc"] == rep["shipped_fusion"]["auc"] == 1.0
    with pytest.raises(InputError, match="test split"):
        evaluate([r for r in results if r.row.split == "train"], fpr=0.05, shipped=shipped)


@pytest.mark.parametrize("content", [b"\xff\xfe\x00garbage", b"file,label,method,split\n\"xr/a_v0.dcm,0,,train\n"])
def test_labels_that_are_not_utf8_csv_are_an_input_error(tmp_path, content):
    _bench(tmp_path)
    (tmp_path / "labels.csv").write_bytes(content)
    with pytest.raises(InputError) as exc:
        read_labels(tmp_path)
    assert exc.value.path == str(tmp_path / "labels.csv")


def test_figures_per_evidence_class():
    """Pictures whose JPEG lattice jpeg-grid read, pictures without one and CT are summed apart (the classes whose
    figures differ most), for the refitted and the shipped fusion."""
    from radtrust.benchmarking import runner

    results = _results()
    for i, r in enumerate(results):
        r.eight_bit = True
        if i % 2:  # half the pictures: jpeg-grid judged them
            r.scores["jpeg-grid"] = 0.01
    shipped = runner.fit([r for r in results if r.row.split == "train"], ["a", "b"], 0.05)
    rep, _, _ = evaluate(results, fpr=0.05, lomo=False, shipped=shipped)
    per = rep["in_distribution"]["per_evidence_class"]
    assert set(per) == {"picture, JPEG lattice read", "picture, no JPEG lattice"}
    assert sum(v["n_tampered"] + v["n_authentic"] for v in per.values()) == 30
    ship = rep["shipped_fusion"]["per_evidence_class"]["picture, no JPEG lattice"]
    assert ship["tpr_at_threshold"] == 1.0 and ship["false_alarm_rate_at_threshold"] == 0.0
    assert runner.evidence_class(ItemResult(Row("ct/s_v0", 0, "", "test", "CT"))) == "CT"
    assert runner.evidence_class(ItemResult(Row("xr/p.dcm", 0, "", "test", "CR"))) == "radiograph, 12-16 bit"


def test_the_modality_comes_from_the_image_when_labels_csv_leaves_it_out():
    from radtrust.benchmarking.runner import evidence_class, modality_of

    ct = ItemResult(Row("ct/b_v1", 1, "X", "test"), {"a": 0.5}, slices=16, modality="CT")
    assert modality_of(ct) == "CT" and evidence_class(ct) == "CT"
    labelled = ItemResult(Row("xr/a.dcm", 0, "", "test", "DX"), {"a": 0.1}, modality="CT")
    assert modality_of(labelled) == "DX"  # labels.csv, when it says, wins

