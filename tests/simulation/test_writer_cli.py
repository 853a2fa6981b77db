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
    # CT-GAN's whole-scan rescale: CT only; the sidecar and the message say every voxel was rescaled
    assert main(["simulate", "ct-remove-nodule", str(samples_dir / "ct"), "--out", str(tmp_path),
                 "--antiforensics", "copy,scan", "--name", "rescaled"]) == 0
    assert json.loads((tmp_path / "rescaled.json").read_text())["params"]["whole_scan_rescaled_mm"] == 1.0
    assert "every voxel then rescaled with the whole scan" in capsys.readouterr().out
    assert main(["simulate", "xr-inject-nodule", str(sample_cr_file), "--out", str(tmp_path),
                 "--antiforensics", "scan"]) == 2
    assert "CT volumes only" in capsys.readouterr().err
    assert main(["simulate", "list"]) == 0


def test_antiforensics_parse():
    assert AntiForensics.parse("none") == AntiForensics()
    assert AntiForensics.parse("random") is None
    assert AntiForensics.parse("synth,resample") == AntiForensics(noise="synth", resample=True)
    assert AntiForensics.parse("copy,scan") == AntiForensics(noise="copy", scan=True)
    assert "scan" not in AntiForensics(noise="copy").to_dict()  # sidecars without it stay as they were
    with pytest.raises(ValueError):
        AntiForensics.parse("magic")


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("radtrust: error: ") and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize("option", [["--per-image", "-1"], ["--per-image", "0"], ["--test-fraction", "2"],
                                    ["--test-fraction", "-1"], ["--slab", "0"], ["--methods", ""],
                                    ["--methods", ","], ["--max-2d", "0"]])
def test_cli_dataset_rejects_option_values_that_make_no_benchmark(tmp_path, sample_cr_file, capsys, option):
    assert main(["simulate", "dataset", "--authentic", str(sample_cr_file), "--out", str(tmp_path / "b"),
                 *option]) == 2
    assert option[0] in _one_line(capsys)
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("option", [["--size", "-3"], ["--size", "0"], ["--name", "../../escape"],
                                    ["--name", "sub/x"], ["--name", ".."]])
def test_cli_method_rejects_a_bad_size_or_a_name_outside_out(tmp_path, sample_cr_file, capsys, option):
    out = tmp_path / "a" / "b"
    assert main(["simulate", "copy-move", str(sample_cr_file), "--out", str(out), *option]) == 2
    assert option[0] in _one_line(capsys)
    assert not (tmp_path / "a").exists()


def test_cli_method_never_replaces_its_input(tmp_path, sample_cr_file, samples_dir, capsys):
    src = tmp_path / "RG1_crop.dcm"
    src.write_bytes(sample_cr_file.read_bytes())
    assert main(["simulate", "meta-kvp-change", str(src), "--out", str(tmp_path), "--name", "RG1_crop"]) == 2
    assert str(src) in _one_line(capsys)
    assert src.read_bytes() == sample_cr_file.read_bytes() and sorted(p.name for p in tmp_path.iterdir()) == [src.name]
    series = tmp_path / "ct"  # a series folder written over the input series folder
    series.mkdir()
    for f in sorted((samples_dir / "ct").glob("*.dcm")):
        (series / f.name).write_bytes(f.read_bytes())
    before = {p.name: p.read_bytes() for p in series.iterdir()}
    assert main(["simulate", "meta-kvp-change", str(series), "--out", str(tmp_path), "--name", "ct"]) == 2
    _one_line(capsys)
    assert {p.name: p.read_bytes() for p in series.iterdir()} == before


def test_cli_method_rejects_a_non_numeric_rescale_slope(tmp_path, sample_cr_file, capsys):
    import pydicom
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    ds = pydicom.dcmread(sample_cr_file)
    ds._dict[Tag(0x00281053)] = RawDataElement(Tag(0x00281053), "DS", 4, b"abc ", 0, False, True)  # as found
    ds.save_as(tmp_path / "bad.dcm")
    assert main(["simulate", "copy-move", str(tmp_path / "bad.dcm"), "--out", str(tmp_path / "o")]) == 2
    assert "bad.dcm" in _one_line(capsys) and not (tmp_path / "o").exists()


@pytest.mark.parametrize("content", [b"garbage", b"", None, "object", "wrong"])
def test_train_inpainter_from_data_that_is_not_patches(tmp_path, capsys, content):
    data = tmp_path / "d.npz"
    if content == "object":
        np.savez(data, ct=np.array([{"a": 1}], dtype=object), xr=np.zeros((1, 64, 64), np.float16))
    elif content == "wrong":
        np.savez(data, mean=np.zeros(3))
    elif content is not None:
        data.write_bytes(content)
    assert main(["simulate", "train-inpainter", "--out", str(tmp_path / "w.pt"), "--steps", "1",
                 "--from-data", str(data)]) == 2
    assert str(data) in _one_line(capsys) and not (tmp_path / "w.pt").exists()
