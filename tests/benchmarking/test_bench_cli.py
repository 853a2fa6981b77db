"""radtrust bench end to end on a tiny benchmark made by radtrust simulate dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radtrust.benchmarking.format import mask_path, read_labels
from radtrust.cli import main
from tests.simulation.test_dataset import _pictures


def test_bench_cli_writes_report(tmp_path, sample_cr_file):
    pics = _pictures(tmp_path / "pics", n=4)
    bench = tmp_path / "bench"
    assert main(["simulate", "dataset", "--authentic", str(pics), str(sample_cr_file), "--out", str(bench),
                 "--per-image", "2", "--seed", "1", "--split-by", "series",
                 "--methods", "xr-inject-nodule,retouch,copy-move"]) == 0
    out = tmp_path / "report"
    assert main(["bench", str(bench), "--out", str(out), "--leave-one-method-out", "--robustness", "--jobs", "1",
                 "--detectors", "noise-residual,header"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["images"] == 15 and not rep["errors"]
    assert set(rep["leave_one_method_out"]["per_method"]) <= {"xr-inject-nodule", "retouch", "copy-move"}
    assert 0.0 <= rep["in_distribution"]["overall"]["auc"] <= 1.0
    assert rep["runtime"]["seconds_per_2d_image"] > 0
    rob = rep["robustness"]
    assert set(rob) == {"clean_auc", "lossless", "j2k-lossy", "resample", "requantise", "jpeg-resave"}
    assert rob["lossless"]["auc_change"] == 0.0  # same pixels, another encoding: same scores
    assert all(0.0 <= rob[v]["false_alarm_rate_at_threshold"] <= 1.0 and not rob[v]["errors"]
               for v in ("lossless", "j2k-lossy", "resample", "requantise", "jpeg-resave"))
    for v in ("lossless", "j2k-lossy", "jpeg-resave"):  # per method and class, the class as stored
        assert set(rob[v]["per_method"]) <= {"xr-inject-nodule", "retouch", "copy-move"}
        assert all(0.0 <= a <= 1.0 for a in rob[v]["per_method"].values() if a == a)
        assert set(rob[v]["per_evidence_class"]) <= set(rep["in_distribution"]["per_evidence_class"])
        assert rob[v]["within_class_auc"] != rob[v]["within_class_auc"] or 0.0 <= rob[v]["within_class_auc"] <= 1.0
    assert rob["lossless"]["within_class_auc"] == rep["in_distribution"]["within_class_auc"]
    # JPEG baseline holds the 8-bit pictures, not the 15-bit radiograph's test images
    assert 0 < rob["jpeg-resave"]["images_in_variant"] < rob["lossless"]["images_in_variant"]
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "data:image/png;base64," in html and "Leave-one-method-out" in html and "Robustness" in html
    assert "Robustness per method" in html
    # one record per image, every split: what a person looking for the misses behind a figure needs
    items = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    rows = {r.file: r for r in read_labels(bench)}
    assert sorted(i["file"] for i in items) == sorted(rows)
    for i in items:
        row = rows[i["file"]]
        assert (i["label"], i["method"], i["split"]) == (row.label, row.method, row.split)
        assert 0.0 <= i["score"] <= 1.0 and i["verdict"] in ("authentic", "suspicious", "tampered")
        assert set(i["detectors"]) <= {"noise-residual", "header"} and i["class"]
    assert {i["class"] for i in items} <= set(rep["in_distribution"]["per_evidence_class"]) | {"radiograph, 12-16 bit"}
    flagged = [i for i in items if i["split"] == "test" and i["label"] == 0 and i["verdict"] != "authentic"]
    test_authentic = [i for i in items if i["split"] == "test" and i["label"] == 0]
    assert len(flagged) / len(test_authentic) == pytest.approx(rep["shipped_fusion"]["false_alarm_rate_at_threshold"],
                                                               abs=1 / len(test_authentic))


def test_bench_bad_folder(tmp_path, capsys):
    assert main(["bench", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "labels.csv" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--fpr", "0"], ["--fpr", "5"], ["--jobs", "0"]])
def test_bench_rejects_what_scan_rejects(tmp_path, capsys, option):
    assert main(["bench", str(tmp_path), "--out", str(tmp_path / "r"), *option]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"radtrust: error: {option[0]} must be")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("variants, says", [("j2k-lossy:1", "compression ratio is above 1"),
                                            ("jpeg-resave:90.5", "whole number from 1 to 100"),
                                            ("resample:2", "takes no strength"), ("j2k", "unknown robustness variant"),
                                            (",", "names no variant")])
def test_bench_rejects_a_wrong_variant_before_analysing(tmp_path, capsys, variants, says):
    assert main(["bench", str(tmp_path), "--out", str(tmp_path / "r"), "--variants", variants]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("radtrust: error: --variants") and says in err[0], err
    assert not (tmp_path / "r").exists()


def test_bench_variants_measure_chosen_strengths(tmp_path):
    pics = _pictures(tmp_path / "pics", n=4)
    bench = tmp_path / "bench"
    assert main(["simulate", "dataset", "--authentic", str(pics), "--out", str(bench), "--per-image", "2",
                 "--seed", "1", "--split-by", "series", "--methods", "retouch,copy-move"]) == 0
    out = tmp_path / "r"
    assert main(["bench", str(bench), "--out", str(out), "--jobs", "1", "-q", "--detectors", "noise-residual,header",
                 "--variants", "j2k-lossy:4,jpeg-resave:95,j2k-lossy:4"]) == 0  # --robustness implied, each once
    rob = json.loads((out / "report.json").read_text())["robustness"]
    assert set(rob) == {"clean_auc", "j2k-lossy:4", "jpeg-resave:95"}
    assert all(not rob[v]["errors"] and rob[v]["images_in_variant"] > 0 for v in ("j2k-lossy:4", "jpeg-resave:95"))
    assert "j2k-lossy:4" in (out / "report.html").read_text()


def test_bench_names_each_item_it_could_not_read(tmp_path, capsys):
    pics = _pictures(tmp_path / "pics", n=4)
    bench = tmp_path / "bench"
    assert main(["simulate", "dataset", "--authentic", str(pics), "--out", str(bench), "--per-image", "2",
                 "--seed", "1", "--split-by", "series", "--methods", "retouch,copy-move"]) == 0
    rows = [r for r in read_labels(bench) if r.label == 1]
    (bench / rows[0].file).write_bytes(b"garbage")
    np.save(mask_path(bench, rows[1]), np.zeros((3, 3), bool))
    capsys.readouterr()
    assert main(["bench", str(bench), "--out", str(tmp_path / "r"), "--jobs", "1", "-q",
                 "--detectors", "noise-residual,header"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("radtrust: error: ") for line in err), err
    assert str(bench / rows[0].file) in err[0] and str(mask_path(bench, rows[1])) in err[1]
    items = {i["file"]: i for i in map(json.loads, (tmp_path / "r" / "items.jsonl").read_text().splitlines())}
    assert "error" in items[rows[0].file] and "score" not in items[rows[0].file]


def test_bench_on_ct_volumes_stored_as_nifti(tmp_path):
    """Single-file volumes (NIfTI here) are benchmark items like series folders: read as CT, mapped, drawn."""
    import nibabel as nib
    from scipy import ndimage as ndi

    bench = tmp_path / "bench"
    (bench / "ct").mkdir(parents=True)
    (bench / "masks").mkdir()
    rows = ["file,label,method,split,modality,patient"]
    z, y, x = np.indices((8, 128, 128))
    body = (y - 64) ** 2 + (x - 64) ** 2 < 50 ** 2
    ball = ((y - 60) ** 2 + (x - 70) ** 2 < 18 ** 2) & (z >= 2) & (z <= 5)
    for i in range(8):
        rng = np.random.default_rng(i)
        vol = np.where(body, 40.0, -1000.0) + rng.normal(0, 15, body.shape)
        tampered = i % 2 == 1
        if tampered:
            vol = np.where(ball, ndi.gaussian_filter(vol, 3.0), vol)
            np.save(bench / "masks" / f"v{i}.npy", ball)
        nib.save(nib.Nifti1Image(np.transpose(np.rint(vol), (2, 1, 0)).astype(np.int16), np.diag([0.7, 0.7, 2.5, 1])),
                 bench / "ct" / f"v{i}.nii.gz")
        rows.append(f"ct/v{i}.nii.gz,{int(tampered)},{'retouch' if tampered else ''},{'test' if i >= 4 else 'train'},"
                    f"CT,p{i // 2}")
    (bench / "labels.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "report"
    assert main(["bench", str(bench), "--out", str(out), "--jobs", "1", "--detectors", "noise-free,noise-residual"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["images"] == 8 and not rep["errors"]
    assert "noise-free" in rep["detectors"]  # a CT check: the volumes were read as CT
    assert rep["in_distribution"]["overall"]["auc"] == 1.0
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "retouch: ct/v" in html  # an overlay of a volume's edited slice


def test_bench_measures_tampered_images_without_masks_at_image_level(tmp_path, capsys):
    """Some tampered rows without a mask (image-level labels, as many public tampering datasets give): the benchmark
    runs, every row is scored, the localisation uses the rows that have a mask, and the report and stderr say how
    many had none. A mask of the wrong shape is bad input (exit 2, named), its image still measured."""
    pics = _pictures(tmp_path / "pics", n=4)
    bench = tmp_path / "bench"
    assert main(["simulate", "dataset", "--authentic", str(pics), "--out", str(bench), "--per-image", "2", "--seed",
                 "2", "--split-by", "series", "--methods", "retouch,copy-move"]) == 0
    tampered = [r for r in read_labels(bench) if r.label == 1]
    for r in tampered[::2]:
        mask_path(bench, r).unlink()
    wrong = tampered[1]  # a mask of another shape: that image too is measured at image level, and named
    np.save(mask_path(bench, wrong), np.ones((3, 3), bool))
    capsys.readouterr()
    out = tmp_path / "report"
    # the mask of another shape is bad input (exit 2, one line naming it); every image is still in the figures
    assert main(["bench", str(bench), "--out", str(out), "--jobs", "1", "--detectors", "noise-residual,header"]) == 2
    rep = json.loads((out / "report.json").read_text())
    assert not rep["errors"] and rep["images"] == len(read_labels(bench))
    assert rep["in_distribution"]["overall"]["n_tampered"] == sum(r.split == "test" for r in tampered)
    assert sorted(rep["tampered_without_mask"]) == sorted(r.file for r in tampered[::2])
    assert [m["file"] for m in rep["masks_not_used"]] == [wrong.file] and "shape" in rep["masks_not_used"][0]["problem"]
    test_masked = [r for r in tampered[1::2] if r.split == "test" and r != wrong]
    assert rep["in_distribution"]["localisation"]["n_images"] <= len(test_masked)
    captured = capsys.readouterr()
    err = captured.err
    assert "without a mask" in err and f"{mask_path(bench, wrong)}: mask shape" in err
    assert "shipped fusion (no refit): AUC" in captured.out  # what a deployment sees, beside the refit's figures
    assert "have no mask: measured at image level only" in (out / "report.html").read_text()


def test_bench_on_a_benchmark_made_for_evaluation_only(tmp_path, capsys):
    """Every row in the test split: nothing to refit on, so the shipped fusion's figures, said so on stdout, in the
    report and its HTML; no leave-one-method-out even when asked."""
    pics = _pictures(tmp_path / "pics", n=4)
    bench = tmp_path / "bench"
    assert main(["simulate", "dataset", "--authentic", str(pics), "--out", str(bench), "--per-image", "2", "--seed",
                 "3", "--split-by", "series", "--methods", "retouch,copy-move"]) == 0
    labels = bench / "labels.csv"
    full = read_labels(bench)
    labels.write_text(labels.read_text().replace(",train,", ",test,"))
    assert {r.split for r in read_labels(bench)} == {"test"}
    capsys.readouterr()
    out = tmp_path / "report"
    assert main(["bench", str(bench), "--out", str(out), "--jobs", "1", "--leave-one-method-out",
                 "--detectors", "noise-residual,header"]) == 0
    printed = capsys.readouterr().out
    assert "shipped fusion (no train split to refit on): AUC" in printed and "(no refit)" not in printed
    rep = json.loads((out / "report.json").read_text())
    assert "fitted_on" in rep["fusion"] and "leave_one_method_out" not in rep
    assert rep["in_distribution"]["overall"]["auc"] == rep["shipped_fusion"]["auc"]
    assert rep["in_distribution"]["overall"]["n_tampered"] == sum(r.label for r in read_labels(bench))
    assert "Evaluation only" in (out / "report.html").read_text()
    # the same folder with a labels.csv of file and label only: the same figures, one method "unnamed"
    labels.write_text("file,label\n" + "".join(f"{r.file},{r.label}\n" for r in full))
    out2 = tmp_path / "report2"
    assert main(["bench", str(bench), "--out", str(out2), "--jobs", "1", "--detectors", "noise-residual,header"]) == 0
    rep2 = json.loads((out2 / "report.json").read_text())
    assert rep2["shipped_fusion"]["auc"] == rep["shipped_fusion"]["auc"]
    assert set(rep2["shipped_fusion"]["per_method"]) == {"unnamed"}
    assert set(rep2["in_distribution"]["per_modality"]) == set(rep["in_distribution"]["per_modality"])


def test_bench_on_pairs_of_one_name_in_two_folders(tmp_path):
    """A dataset laid out as authentic/NAME and tampered/NAME, masks by path: measured whole, robustness variants
    included (their copies are named by path too, so the pairs do not overwrite each other)."""
    import shutil

    pics = _pictures(tmp_path / "pics", n=4)
    made = tmp_path / "made"
    assert main(["simulate", "dataset", "--authentic", str(pics), "--out", str(made), "--per-image", "1", "--seed",
                 "4", "--split-by", "series", "--methods", "retouch"]) == 0
    rows = read_labels(made)
    bench = tmp_path / "bench"
    lines = ["file,label,method,split"]
    for i, r in enumerate(rows):  # every file renamed img<i of its kind>.dcm under authentic/ or tampered/
        kind = "tampered" if r.label else "authentic"
        n = sum(x.label == r.label for x in rows[:i])
        dst = bench / kind / f"img{n}.dcm"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(made / r.file, dst)
        if r.label:
            (bench / "masks" / kind).mkdir(parents=True, exist_ok=True)
            shutil.copy(mask_path(made, r), bench / "masks" / kind / f"img{n}.npy")
        lines.append(f"{kind}/img{n}.dcm,{r.label},{r.method},{r.split}")
    (bench / "labels.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "report"
    assert main(["bench", str(bench), "--out", str(out), "--jobs", "1", "--robustness", "--detectors",
                 "noise-residual,header", "-q"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["images"] == len(rows) and not rep["errors"] and "tampered_without_mask" not in rep
    n_test = sum(r.split == "test" for r in rows)
    assert rep["robustness"]["lossless"]["images_in_variant"] == n_test
    assert rep["robustness"]["lossless"]["auc_change"] == 0.0

