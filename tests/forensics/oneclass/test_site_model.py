"""Training, the site-model detector, out-of-group handling, determinism and the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from radtrust.cli import main
from radtrust.errors import NotApplicable, UsageError
from radtrust.forensics.oneclass import SiteModel, TrainOptions, train
from radtrust.forensics.registry import get_detector
from radtrust.io import load_image, load_series

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def ct_model(tmp_path_factory: pytest.TempPathFactory, sample_ct_files: list[Path]) -> Path:
    """Trained on five of the six sample slices; the sixth stays unseen."""
    path = tmp_path_factory.mktemp("model") / "site.npz"
    train(sample_ct_files[:5], now=NOW).save(path)
    return path


def test_model_covers_the_training_group_with_counts(ct_model: Path) -> None:
    d = SiteModel.load(ct_model).describe()
    [g] = d["groups"]
    assert g["fields"]["modality"] == "CT" and g["fields"]["manufacturer"] == "SIEMENS"
    assert g["images"] == 5 and g["series"] == 1 and g["dims"] == ["2d", "3d"]
    assert d["noise_model"]["slices"] == 5 and d["training"]["created"] == "2026-01-02T03:04:05+00:00"


def test_model_file_holds_no_identifiers(ct_model: Path, sample_ct_files: list[Path]) -> None:
    blob = ct_model.read_bytes()
    im = load_image(sample_ct_files[0])
    import zipfile
    with zipfile.ZipFile(ct_model) as zf:
        text = b"".join(zf.read(n) for n in zf.namelist())
    for ident in (im.sop_instance_uid, im.series_instance_uid, im.study_instance_uid, im.patient_id):
        if ident:
            assert ident.encode() not in text and ident.encode() not in blob


def test_other_scanner_group_is_out_of_group_not_tampered(ct_model: Path, sample_cr_file: Path) -> None:
    det = get_detector("site-model", model_path=str(ct_model))
    with pytest.raises(NotApplicable, match="out of group"):
        det.run(load_image(sample_cr_file))


def test_other_ct_scanner_is_out_of_group(ct_model: Path, shared_data: Path) -> None:
    ge = sorted((shared_data / "ct" / "ge_head").iterdir())[0]
    det = get_detector("site-model", model_path=str(ct_model))
    with pytest.raises(NotApplicable, match="GE MEDICAL SYSTEMS.*zero-shot detectors only"):
        det.run(load_image(ge))


def test_scanner_leaves_out_of_group_images_to_the_zero_shot_detectors(ct_model: Path, sample_cr_file: Path) -> None:
    scanner_mod = pytest.importorskip("radtrust.forensics.scanner")
    scanner = scanner_mod.Scanner(model=ct_model)
    res = scanner.scan_image(load_image(sample_cr_file))
    assert "site-model" not in res.detectors
    assert any("out of group" in line for line in res.evidence)


def test_unseen_authentic_slice_is_unremarkable_and_smoothing_is_flagged_in_place(
        ct_model: Path, sample_ct_files: list[Path]) -> None:
    det = get_detector("site-model", model_path=str(ct_model))
    im = load_image(sample_ct_files[5])
    authentic = det.run(im)
    x = im.pixels.copy()
    region = (slice(220, 300), slice(200, 280))
    x[region] = ndimage.gaussian_filter(x, 2.0)[region]  # local retouch: the noise is gone there
    tampered = det.run(replace(im, pixels=x))
    assert tampered.score > max(authentic.score, 0.8)
    assert tampered.heatmap is not None and tampered.heatmap.shape == x.shape
    r, c = np.unravel_index(int(np.argmax(tampered.heatmap)), x.shape)
    assert 220 - 32 <= r < 300 + 32 and 200 - 32 <= c < 280 + 32
    assert any("noise texture" in e for e in tampered.evidence)


def test_series_analysis_is_3d(ct_model: Path, samples_dir: Path) -> None:
    [series] = load_series(samples_dir / "ct")
    f = get_detector("site-model", model_path=str(ct_model)).run_series(series)
    assert f.heatmap is not None and f.heatmap.shape == (6, 512, 512) and 0.5 <= f.score <= 1.0


def test_training_is_deterministic_for_a_seed(tmp_path: Path, sample_ct_files: list[Path]) -> None:
    opts = TrainOptions(seed=5, epochs=2, max_windows=300)
    a = train(sample_ct_files[:3], options=opts, now=NOW).save(tmp_path / "a.npz").read_bytes()
    b = train(sample_ct_files[:3], options=opts, now=NOW).save(tmp_path / "b.npz").read_bytes()
    c = train(sample_ct_files[:3], options=replace(opts, seed=6), now=NOW).save(tmp_path / "c.npz").read_bytes()
    assert a == b
    assert a != c


def test_worker_count_does_not_change_the_model(tmp_path: Path, sample_ct_files: list[Path],
                                                sample_cr_file: Path) -> None:
    inputs = [*sample_ct_files[:3], sample_cr_file]
    one = train(inputs, options=TrainOptions(seed=3, jobs=1), now=NOW).save(tmp_path / "one.npz").read_bytes()
    two = train(inputs, options=TrainOptions(seed=3, jobs=2), now=NOW).save(tmp_path / "two.npz").read_bytes()
    assert one == two


def test_detector_needs_a_model() -> None:
    with pytest.raises(UsageError, match="needs a model"):
        get_detector("site-model")


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_train_and_info(tmp_path: Path, samples_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.npz"
    assert main(["train", "--authentic", str(samples_dir / "ct"), "--out", str(out), "--seed", "1"]) == 0
    cap = capsys.readouterr()
    assert "radtrust train: [6/6]" in cap.err and "wrote" in cap.out
    assert main(["model", "info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "CT|SIEMENS|" in info and "6 image(s), 1 series, 2d+3d" in info and "CT noise model: 6 slices" in info
    assert main(["model", "info", str(out), "--format", "json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["format_version"] == 1 and described["groups"][0]["images"] == 6
    assert described["training"]["seed"] == 1


def test_cli_bad_input_writes_nothing(tmp_path: Path, samples_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all")
    out = tmp_path / "m.npz"
    assert main(["train", "--authentic", str(samples_dir / "ct"), str(junk), "--out", str(out)]) == 2
    assert "junk.dcm" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".m.npz*"))
    assert main(["train", "--authentic", str(samples_dir / "ct"), "--out", str(out), "--group-by", "colour"]) == 2


def test_cli_refuses_a_newer_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from radtrust.forensics.oneclass import model_file

    path = tmp_path / "future.npz"
    model_file.save(path, {}, {})
    import json
    import zipfile
    with zipfile.ZipFile(path) as zf:
        raw = np.load(zf.open("__meta__.npy"))
    meta = json.loads(raw.tobytes())
    meta["format_version"] = 99
    import io
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("__meta__.npy", buf.getvalue())
    assert main(["model", "info", str(path)]) == 2
    assert "format version 99 is newer" in capsys.readouterr().err


def _rewritten(src: Path, dst: Path, edit) -> Path:
    """A copy of the model file with its metadata and arrays changed by ``edit(meta, arrays)``."""
    from radtrust.forensics.oneclass import model_file

    meta, arrays = model_file.load(src)
    edit(meta, arrays)
    model_file.save(dst, {k: v for k, v in meta.items() if k not in ("format", "format_version")}, arrays)
    return dst


@pytest.mark.parametrize("edit", [
    lambda m, a: a["groups/0/2d/means"].fill(np.nan),                        # all-NaN means
    lambda m, a: m.update(features_2d=m["features_2d"][:-1]),                # a feature list the arrays do not match
    lambda m, a: m["groups"][0].update(dims=["2d", "3d", "4d"]),             # dims that do not exist
    lambda m, a: m["groups"][0].update(dims=["3d"]),                         # 3d without 2d
    lambda m, a: a.update({"groups/0/2d/center": np.zeros(3)}),              # arrays of another feature count
], ids=["nan-means", "feature-list", "dims-4d", "dims-3d-only", "center-size"])
def test_a_damaged_model_is_a_one_line_error_in_model_info_and_scan(
        edit, ct_model: Path, tmp_path: Path, sample_ct_files: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    bad = _rewritten(ct_model, tmp_path / "bad.npz", edit)
    for argv in (["model", "info", str(bad)], ["scan", str(sample_ct_files[5]), "--model", str(bad)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"radtrust: error: {bad}: "), err


def test_cli_train_never_replaces_an_input(tmp_path: Path, sample_ct_files: list[Path],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.dcm"
    src.write_bytes(sample_ct_files[0].read_bytes())
    assert main(["train", "--authentic", str(src), "--out", str(src)]) == 2
    assert "--out would replace an input" in capsys.readouterr().err
    assert src.read_bytes() == sample_ct_files[0].read_bytes()
