"""simulate dataset: the benchmark format, splits, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from radtrust.benchmarking.format import load_mask, read_labels
from radtrust.cli import main
from radtrust.io import load_image, load_series
from tests.simulation.phantoms import radiograph_phantom


def _pictures(folder: Path, n: int = 4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        px = radiograph_phantom(seed=i, shape=(192, 160)).pixels / 16.0
        PILImage.fromarray(np.clip(px, 0, 255).astype(np.uint8)).save(folder / f"pic{i}.png")
    return folder


def test_dataset_format_and_determinism(tmp_path, samples_dir):
    pics = _pictures(tmp_path / "pics")
    args = ["simulate", "dataset", "--authentic", str(samples_dir / "ct"), str(pics), "--per-image", "2",
            "--slab", "6", "--seed", "9", "--split-by", "series"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    files_a = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in sorted((tmp_path / "a").rglob("*")) if p.is_file()}
    files_b = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in sorted((tmp_path / "b").rglob("*")) if p.is_file()}
    assert files_a == files_b

    bench = tmp_path / "a"
    rows = read_labels(bench)
    assert len(rows) == 5 * 3  # 1 CT slab + 4 pictures, each authentic + 2 tampered
    assert {r.split for r in rows} == {"train", "test"}
    by_item: dict[str, set[str]] = {}
    for r in rows:
        by_item.setdefault(r.source, set()).add(r.split)
        assert "authentic" not in r.file and (not r.method or r.method not in r.file)  # names do not give the answer away
        if r.label == 0:
            assert r.method == "" and r.variant == ""
        else:
            path = bench / r.file
            shape = (len(load_series(path)[0]), 512, 512) if path.is_dir() else load_image(path).shape
            mask = load_mask(bench, r, shape)
            assert mask.dtype == bool
    assert all(len(s) == 1 for s in by_item.values()), "a tampered copy left its authentic item's split"
    # authentic items went through the same writer: same transfer syntax as the tampered ones
    syntaxes = {load_image(next((bench / r.file).glob("*.dcm")) if (bench / r.file).is_dir() else bench / r.file
                           ).transfer_syntax for r in rows}
    assert len(syntaxes) == 1


def test_dataset_from_metaimage_volumes_in_one_folder(tmp_path):
    """LUNA16's layout: many MetaImage volumes in one folder, each named by its series UID; each gives slabs of its
    own name (NIfTI volumes, one per folder, are named by their folder)."""
    sitk = __import__("pytest").importorskip("SimpleITK")
    folder = tmp_path / "subset0"
    folder.mkdir()
    z, y, x = np.indices((12, 96, 96))
    for i, uid in enumerate(("1.3.6.1.4.1.9328.1", "1.3.6.1.4.1.9328.2")):
        rng = np.random.default_rng(i)
        body = (y - 48) ** 2 + (x - 48) ** 2 < 36 ** 2
        vol = np.rint(np.where(body, 40.0, -1000.0) + rng.normal(0, 12, body.shape)).astype(np.int16)
        img = sitk.GetImageFromArray(vol)
        img.SetSpacing((0.7, 0.7, 2.5))
        sitk.WriteImage(img, str(folder / f"{uid}.mhd"))
    out = tmp_path / "bench"
    assert main(["simulate", "dataset", "--authentic", str(folder), "--per-image", "1", "--slab", "6",
                 "--seed", "3", "--methods", "copy-move", "--out", str(out)]) == 0
    rows = read_labels(out)
    authentic = sorted(r.file for r in rows if r.label == 0)
    assert len(authentic) == 4 and all("9328" in f for f in authentic)  # 2 volumes x 2 slabs, named by file
    assert all(r.modality == "CT" for r in rows)
