#!/usr/bin/env python3
"""The region-comb detector alone on tone edits made here, on the authentic CT of ../shared/data.

    .venv/bin/python scripts/region_comb_check.py ../shared/data/ct --per-kind 8

None of these edits is the benchmark's: each authentic series (the chest NIfTI cut into 32-slice slabs) gets, in
turn, a gain about the region's mean (x0.6-0.85 or x1.2-1.5; and near 1, x0.88-0.95 or x1.05-1.15), a gamma curve over the region's own range (0.6-0.85 or
1.2-1.6), a "levels" stretch of the soft-tissue window only (-100..200 HU by 0.7 or 1.3), a gain in a box rather than a
ball, and two edits no comb should reveal: an offset by a fraction (x + 7.3) and a gain with 3 HU of noise added
before the rounding. Regions are balls of 10-30 mm radius (boxes of 31-61 px over 5-13 slices) inside the body, with a hard
or a 2 mm soft edge. Prints, per kind, how many were flagged (score over 0.5) and how many of those were placed
inside the edit, and the authentic series' scores.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import ndimage

from radtrust.errors import NotApplicable
from radtrust.forensics.detectors.region_comb import RegionCombDetector
from radtrust.io import Series, load_image, load_series

KINDS = ("gain", "gain near 1", "gamma", "levels", "gain-box", "offset (no comb expected)",
         "gain+noise (no comb expected)")


def volumes(root: Path) -> list[tuple[str, Series]]:
    """The authentic CT series under root; a NIfTI volume (no modality) as CT slabs of 32 slices."""
    out = []
    for s in load_series([root]):
        if (s.modality or "").upper() == "CT" and s.is_volume():
            out.append((str(Path(s.instances[0].path).parent.name), s))
    for nii in sorted(p for p in root.rglob("*.nii.gz") if p.name != "mask.nii.gz"):  # not the label map
        im = load_image(nii)
        for z0 in range(0, im.pixels.shape[0] - 31, 32):
            slices = tuple(dataclasses.replace(im, pixels=im.pixels[z], modality="CT") for z in range(z0, z0 + 32))
            out.append((f"{nii.parent.name}_z{z0:03d}", Series(None, slices, tuple(float(z) for z in range(32)))))
    return out


def region(shape: tuple[int, int, int], body: np.ndarray, rng: np.random.Generator, spacing: float,
           box: bool) -> np.ndarray:
    """A weight in [0, 1]: a ball (or box) inside the body, hard or with a 2 mm soft edge."""
    zz, yy, xx = np.indices(shape)
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[1] = ndimage.generate_binary_structure(2, 1)
    inner = ndimage.binary_erosion(body, in_plane, iterations=12)
    inner[:3] = inner[-3:] = False
    centres = np.argwhere(inner)
    cz, cy, cx = centres[rng.integers(len(centres))]
    if box:
        hy, hx, hz = (int(rng.integers(15, 31)), int(rng.integers(15, 31)), int(rng.integers(2, 7)))
        inside = (abs(zz - cz) <= hz) & (abs(yy - cy) <= hy) & (abs(xx - cx) <= hx)
        return inside.astype(np.float32)
    radius = rng.uniform(10, 30) / spacing
    dist = np.sqrt((zz - cz) ** 2 * 4 + (yy - cy) ** 2 + (xx - cx) ** 2)  # slices about 2 px apart
    edge = 0.0 if rng.random() < 0.5 else 2.0 / spacing
    return np.clip((radius - dist) / max(edge, 1e-6) + 0.5, 0, 1).astype(np.float32) if edge else (dist <= radius).astype(np.float32)


def edited(v: np.ndarray, w: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """The volume (modality values) with the tone edit applied where w > 0, rounded to integers."""
    x = v.astype(np.float64)
    inside = w > 0.5
    mean = float(x[inside].mean())
    if kind == "gain near 1":
        new = mean + (rng.uniform(0.88, 0.95) if rng.random() < 0.5 else rng.uniform(1.05, 1.15)) * (x - mean)
    elif kind in ("gain", "gain-box", "gain+noise (no comb expected)"):
        g = rng.uniform(0.6, 0.85) if rng.random() < 0.5 else rng.uniform(1.2, 1.5)
        new = mean + g * (x - mean)
        if kind.startswith("gain+noise"):
            new += rng.normal(0.0, 3.0, x.shape)  # 3 HU of noise before the rounding
    elif kind == "gamma":
        lo, hi = np.percentile(x[inside], [1, 99])
        gamma = rng.uniform(0.6, 0.85) if rng.random() < 0.5 else rng.uniform(1.2, 1.6)
        t = np.clip((x - lo) / max(hi - lo, 1.0), 0, 1)
        new = np.where((x >= lo) & (x <= hi), lo + (hi - lo) * t ** gamma, x)
    elif kind == "levels":
        k = 0.7 if rng.random() < 0.5 else 1.3
        new = np.where((x >= -100) & (x <= 200), 50 + k * (x - 50), x)
    else:  # offset
        new = x + 7.3  # not 7.5: round-half-even would then map two values onto one, every other value
    return np.rint(x + w * (new - x))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ct", type=Path)
    ap.add_argument("--per-kind", type=int, default=8)
    ap.add_argument("--seed", type=int, default=14)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    det = RegionCombDetector()
    series = volumes(args.ct)
    judged = []
    for name, s in series:
        try:
            f = det.run_series(s)
        except NotApplicable as exc:
            print(f"authentic {name:28s} {len(s.instances):3d} slices  not judged: {exc}")
            continue
        judged.append((name, s))
        print(f"authentic {name:28s} {len(s.instances):3d} slices  score {f.score:.3f}")
    series = judged
    found: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for i in range(args.per_kind * len(KINDS)):
        kind = KINDS[i % len(KINDS)]
        name, s = series[(i // len(KINDS)) % len(series)]
        v = s.volume()
        body = v > -300
        spacing = float((s.instances[0].geometry.pixel_spacing or (0.75, 0.75))[0])
        w = region(v.shape, body, rng, spacing, kind == "gain-box")
        new = edited(v, w, kind, rng)
        f = det.run_series(dataclasses.replace(
            s, instances=tuple(dataclasses.replace(im, pixels=new[k].astype(np.float32)) for k, im in enumerate(s.instances))))
        placed = f.score > 0.5 and float((f.heatmap * (w > 0.5)).max()) >= 0.5
        found[kind].append((f.score > 0.5, placed))
        print(f"{kind:30s} {name:28s} score {f.score:.3f}  placed in the edit: {placed}")
    print()
    for kind in KINDS:
        r = found[kind]
        print(f"{kind:30s} flagged {sum(a for a, _ in r):2d} of {len(r):2d}, placed in the edit {sum(b for _, b in r):2d}")


if __name__ == "__main__":
    main()
