#!/usr/bin/env python3
"""The patch-fill detector alone on exemplar fills made here with other patch sizes than the simulator's, on the
authentic images of ../shared/data.

    .venv/bin/python scripts/patch_fill_check.py ../shared/data --pictures 60 --seed 5

The benchmark's `ho-inpaint-exemplar` (9 x 9 px patches) tuned the detector's rules; these fills use 7 x 7, 11 x 11
and 13 x 13 px patches, discs of 15-60 px radius (CT: 8-25 px on three slices of each series or chest slab) at a
random place inside the body or picture, so they are an independent check. Prints, per image class and patch
size, how many fills score over 0.5 and over the fused solo level, where the heatmap peaks (inside the disc grown
by one window, or not), and the authentic images' scores. Pictures are read as the benchmark writer stores them
(8-bit DICOM); nothing is written outside a temporary folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from radtrust.errors import NotApplicable
from radtrust.forensics.detectors.patch_fill import _CELL, PatchFillDetector
from radtrust.forensics.detectors.physics import body_mask
from radtrust.forensics.fusion import Fusion
from radtrust.io import load_image, load_series
from radtrust.simulation.exemplar import fill_plane
from radtrust.simulation.target import from_raster
from radtrust.simulation.writer import write_dicom

HALVES = (3, 5, 6)  # patches of 7, 11 and 13 px


def planes(root: Path, pictures: int, tmp: Path, rng: np.random.Generator):
    """(class, name, image, plane index or None) for every authentic image used."""
    for folder in sorted((root / "ct").iterdir()):
        if folder.is_dir() and folder.name != "chest_volume":
            series = load_series([folder])[0]
            for k in (len(series.instances) // 4, len(series.instances) // 2, 3 * len(series.instances) // 4):
                yield "CT", f"{folder.name}#{k}", series.instances[k], None
    chest = load_image(root / "ct" / "chest_volume" / "cxr.nii.gz")
    for k in (30, 60, 90):
        yield "CT", f"chest_volume#{k}", chest, k
    yield "radiograph", "RG1_UNCR", load_image(root / "cr" / "RG1_UNCR.dcm"), None
    files = sorted(p for p in (root / "cxr").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    for i in rng.choice(len(files), size=min(pictures, len(files)), replace=False):
        t = from_raster(files[int(i)], patient="p")
        path = write_dicom(t.datasets, t.pixels, tmp / f"{int(i)}.dcm", syntax="explicit")
        yield "picture", files[int(i)].name, load_image(path), None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="../shared/data")
    ap.add_argument("--pictures", type=int, default=60)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    det = PatchFillDetector()
    fusion = Fusion.load()
    solo = float(fusion.solo[list(fusion.names).index(det.name)]) if det.name in fusion.names else 0.5
    found: dict[tuple[str, int], list[tuple[float, bool]]] = defaultdict(list)
    authentic: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="radtrust-patchfill-") as tmp:
        for klass, name, image, k in planes(args.data, args.pictures, Path(tmp), rng):
            plane = np.asarray(image.pixels if k is None else image.pixels[k], dtype=np.float32)
            one = dataclasses.replace(image, pixels=plane)
            try:
                authentic[klass].append(det.run(one).score)
            except NotApplicable as exc:
                print(f"{name}: not judged ({exc})")
                continue
            inside = body_mask(plane)[0] if klass == "CT" else np.ones(plane.shape, bool)
            for half in HALVES:
                radius = int(rng.integers(8, 26) if klass == "CT" else rng.integers(15, 61))
                margin = radius + 4 * _CELL
                cand = np.argwhere(inside[margin:-margin, margin:-margin]) + margin
                if not len(cand):
                    continue
                cy, cx = cand[int(rng.integers(len(cand)))]
                yy, xx = np.ogrid[: plane.shape[0], : plane.shape[1]]
                hole = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2
                filled = np.rint(fill_plane(plane, hole, half))
                f = det.run(dataclasses.replace(image, pixels=filled.astype(np.float32)))
                py, px = np.unravel_index(int(np.argmax(f.heatmap)), f.heatmap.shape)
                placed = abs(py - cy) <= radius + 3 * _CELL and abs(px - cx) <= radius + 3 * _CELL
                found[(klass, 2 * half + 1)].append((f.score, placed))
    print(f"patch-fill solo level in the shipped fusion: {solo:.3f}")
    for (klass, size), rows in sorted(found.items()):
        s = np.array([r[0] for r in rows])
        print(f"{klass:10s} patches {size:2d} px: {int((s > 0.5).sum())}/{len(s)} over 0.5, {int((s > solo).sum())} over "
              f"the solo level, {sum(1 for sc, p in rows if sc > 0.5 and p)} of those placed at the fill")
    for klass, s in sorted(authentic.items()):
        print(f"{klass:10s} authentic: {len(s)} images, max {max(s):.3f}, over 0.5: {sum(v > 0.5 for v in s)}")


if __name__ == "__main__":
    main()
