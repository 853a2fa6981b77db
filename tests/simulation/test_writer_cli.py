"""Writing results: headers kept, the answer only in the sidecar, same seed -> same bytes; the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from radtrust.cli import main
from radtrust.io import load_image, load_series, read_dataset
from radtrust.simulation import AntiForensics, load_target, simulate, write_result


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes(tmp_path, sample_cr_file, samples_dir):
    for run in ("a", "b"):
        t = load_target(sample_cr_file)
        write_result(simulate("xr-remove-lesion", t, 11), t, tmp_path / run, "cr", seed=11)
        c = load_target(samples_dir / "ct")
        write_result(simulate("ct-remove-nodule", c, 11), c, tmp_path / run, "ct", seed=11)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a.keys() == b.keys() and len(a) == 3 + 2 + 6
    assert a == b
    t = load_target(sample_cr_file)
    other = simulate("xr-remove-lesion", t, 12)
    assert not np.array_equal(other.pixels, simulate("xr-remove-lesion", t, 11).pixels)


def test_headers_kept_and_answer_only_in_sidecar(tmp_path, sample_cr_file):
    t = load_target(sample_cr_file)
    r = simulate("xr-inject-nodule", t, 4)
    paths = write_result(r, t, tmp_path, "out", seed=4)
    before, after = read_dataset(sample_cr_file), read_dataset(paths["image"])
    assert after.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID  # re-encoded in its own syntax
    for elem in before:
        if elem.keyword != "PixelData":
            assert after[elem.tag].value == elem.value, elem.keyword
    assert len(after) == len(before)
    raw = paths["image"].read_bytes().lower()
    assert b"synthetic" not in raw and b"radtrust.simulation" not in raw and b"xr-inject" not in raw
    side = json.loads(paths["sidecar"].read_text())
    assert side["synthetic"] is True and side["method"] == "xr-inject-nodule" and "evaluation" in side["purpose"]
    mask = np.load(paths["mask"])
    img = load_image(paths["image"])
    assert mask.shape == img.shape and mask.dtype == bool
    changed = img.pixels != load_image(sample_cr_file).pixels
    assert changed.any() and not (changed & ~mask).any()


def test_metadata_edit_keeps_pixel_bytes(tmp_path, sample_cr_file):
    t = load_target(sample_cr_file)
    paths = write_result(simulate("meta-kvp-change", t, 1), t, tmp_path, "kvp", seed=1)
    before, after = read_dataset(sample_cr_file), read_dataset(paths["image"])
    assert float(after.KVP) != float(before.KVP)
    assert np.array_equal(load_image(paths["image"]).pixels, load_image(sample_cr_file).pixels)
    assert not np.load(paths["mask"]).any()


def test_new_uids_option(tmp_path, samples_dir):
    c = load_target(samples_dir / "ct")
    r = simulate("copy-move", c, 2)
    write_result(r, c, tmp_path, "kept", seed=2)
    write_result(r, c, tmp_path, "new", seed=2, new_uids=True)
    kept = {im.sop_instance_uid for im in load_series(tmp_path / "kept")[0].instances}
    new = {im.sop_instance_uid for im in load_series(tmp_path / "new")[0].instances}
    assert kept == {im.sop_instance_uid for im in load_series(samples_dir / "ct")[0].instances}
    assert not kept & new
    assert load_series(tmp_path / "new")[0].series_instance_uid != load_series(samples_dir / "ct")[0].series_instance_uid


def test_cli_simulate(tmp_path, sample_cr_file, samples_dir, capsys):
    assert main(["simulate", "xr-inject-nodule", str(sample_cr_file), "--out", str(tmp_path), "--seed", "3",
                 "--size", "20", "--antiforensics", "none"]) == 0
    side = json.loads((tmp_path / "RG1_crop_xr-inject-nodule.json").read_text())
    assert side["params"]["diameter_mm"] == 20.0
    assert main(["simulate", "ct-remove-nodule", str(samples_dir / "ct"), "--out", str(tmp_path),
                 "--antiforensics", "copy,histmatch", "--name", "removed"]) == 0
    assert len(list((tmp_path / "removed").glob("*.dcm"))) == 6
    assert np.load(tmp_path / "removed.mask.npy").shape == (6, 512, 512)
    # wrong kind of input, bad option values: exit 2 with one line naming the file
    assert main(["simulate", "ct-inject-nodule", str(sample_cr_file), "--out", str(tmp_path)]) == 2
    assert "RG1_crop.dcm" in capsys.readouterr().err
    assert main(["simulate", "xr-inject-nodule", str(sample_cr_file), "--out", str(tmp_path),
                 "--antiforensics", "bogus"]) == 2
    assert main(["simulate", "xr-inject-nodule", str(tmp_path / "missing.dcm"), "--out", str(tmp_path)]) == 2
    capsys.readouterr()
    # a method whose anti-forensic steps are fixed says so instead of ignoring the option
    assert main(["simulate", "ho-noise-region", str(sample_cr_file), "--out", str(tmp_path),
                 "--antiforensics", "copy"]) == 2
    assert "leave --antiforensics out" in capsys.readouterr().err
    assert main(["simulate", "list"]) == 0


def test_antiforensics_parse():
    assert AntiForensics.parse("none") == AntiForensics()
    assert AntiForensics.parse("random") is None
    assert AntiForensics.parse("synth,resample") == AntiForensics(noise="synth", resample=True)
    with pytest.raises(ValueError):
        AntiForensics.parse("magic")
