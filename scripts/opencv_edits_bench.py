#!/usr/bin/env python3
"""A benchmark of edits made with OpenCV, the library most people would reach for, which no detector was designed on.

    make bench-opencv                    # all of it: the `probe` extra, bench/opencv, bench/report-opencv
    .venv/bin/pip install -e '.[probe]'  # or by hand: OpenCV (opencv-python-headless), not needed by radtrust itself
    .venv/bin/python scripts/opencv_edits_bench.py bench/holdout /tmp/cvbench [--seed 31]
    .venv/bin/radtrust bench /tmp/cvbench --out /tmp/cvbench-report --jobs 2

Every authentic item of the given benchmark is written again (unchanged, label 0) and edited once per method that
applies to it (label 1), each edit in a disc (a ball in CT, slice by slice) placed as the simulator places regions:

- ``cv-telea``, ``cv-ns``: ``cv2.inpaint`` (Telea's fast marching, Navier-Stokes; radius 3) fills the disc from its
  edge, as a lesion is removed; CT slices in-painted in HU (float), every result rounded to the stored grid;
- ``cv-clone``, ``cv-clone-mixed`` (8-bit pictures): ``cv2.seamlessClone`` (Poisson image editing, normal and mixed
  gradients) of a disc from elsewhere in the same picture;
- ``cv-splice`` (8-bit pictures): the same from another picture of the benchmark.

The masks mark the changed pixels (the disc for in-painting; for cloning every pixel the solver moved). Items are
written as explicit VR little endian DICOM from the benchmark's own datasets.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

from radtrust.benchmarking.format import mask_path, read_labels, sidecar_path, write_labels
from radtrust.simulation.regions import choose_center, draw_radius, placeable
from radtrust.simulation.target import Target, load_target
from radtrust.simulation.writer import write_dicom

INPAINT = ("cv-telea", "cv-ns")
CLONE = ("cv-clone", "cv-clone-mixed", "cv-splice")


def _disc(shape: tuple[int, int], centre: tuple[int, int], radius: float) -> np.ndarray:
    yy, xx = np.ogrid[:shape[0], :shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius * radius


def _inpaint(cv2, target: Target, method: str, centre: tuple[int, ...], r_mm: float  # noqa: ANN001
             ) -> tuple[np.ndarray, np.ndarray]:
    flag = cv2.INPAINT_TELEA if method == "cv-telea" else cv2.INPAINT_NS
    x, mask = target.pixels.astype(np.float32).copy(), np.zeros(target.pixels.shape, bool)
    planes = [(z, r_mm * np.sqrt(max(0.0, 1 - ((z - centre[0]) * target.spacing[0] / r_mm) ** 2)))
              for z in range(x.shape[0])] if x.ndim == 3 else [(None, r_mm)]
    for z, rad_mm in planes:
        rad = rad_mm / target.spacing[-1]
        if rad < 2:
            continue
        plane = x[z] if z is not None else x
        hole = _disc(plane.shape, centre[-2:], rad)
        filled = np.rint(cv2.inpaint(plane, hole.astype(np.uint8), 3, flag))
        if z is not None:
            x[z], mask[z] = filled, hole
        else:
            x, mask = filled, hole
    return x, mask


def _clone(cv2, target: Target, method: str, centre: tuple[int, ...], r_mm: float,  # noqa: ANN001
           donors: list[Target], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
    r = r_mm / target.spacing[-1]
    if not (r + 2 < centre[0] < target.pixels.shape[0] - r - 2 and r + 2 < centre[1] < target.pixels.shape[1] - r - 2):
        return None
    dst8 = np.clip(target.pixels, 0, 255).astype(np.uint8)
    if method == "cv-splice":
        donor = donors[int(rng.integers(len(donors)))]
        src8 = np.clip(donor.pixels, 0, 255).astype(np.uint8)
        where = placeable(donor)
    else:
        src8, where = dst8, placeable(target)
    at = choose_center(where, target.spacing, r_mm, rng)
    if at is None or not (r + 2 < at[0] < src8.shape[0] - r - 2 and r + 2 < at[1] < src8.shape[1] - r - 2):
        return None
    if method != "cv-splice" and np.hypot(at[0] - centre[0], at[1] - centre[1]) < 2.5 * r:
        return None  # a copy onto itself
    mask = np.zeros(src8.shape, np.uint8)
    mask[_disc(src8.shape, at, r)] = 255
    flag = cv2.MIXED_CLONE if method == "cv-clone-mixed" else cv2.NORMAL_CLONE
    out = cv2.seamlessClone(np.dstack([src8] * 3), np.dstack([dst8] * 3), mask, (int(centre[1]), int(centre[0])),
                            flag)[..., 0]
    changed = ndimage.binary_closing(out != dst8, iterations=2) | _disc(dst8.shape, centre[:2], r)
    return out.astype(np.float32), changed


def _fail(message: str) -> None:
    print(f"opencv_edits_bench.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench", type=Path, help="a benchmark folder: its authentic items are edited")
    ap.add_argument("out", type=Path, help="the new benchmark folder (must not exist)")
    ap.add_argument("--seed", type=int, default=31)
    args = ap.parse_args()
    try:
        import cv2  # the `probe` extra
    except ImportError:
        _fail("OpenCV is not installed: pip install -e '.[probe]'")
    if args.out.exists():
        _fail(f"{args.out}: already exists (a new folder is written)")
    rng = np.random.default_rng(args.seed)
    rows = [r for r in read_labels(args.bench) if r.label == 0]
    args.out.mkdir(parents=True)
    for sub in ("ct", "xr", "masks", "sidecars"):
        (args.out / sub).mkdir()
    targets = [(r, load_target(args.bench / r.file)) for r in rows]
    donors = [t for _, t in targets if not t.is_ct and t.value_range[1] - t.value_range[0] <= 255]
    out_rows = []

    def put(row, target: Target, name: str, pixels: np.ndarray, mask: np.ndarray, method: str) -> None:  # noqa: ANN001
        rel = f"ct/{name}" if pixels.ndim == 3 else f"xr/{name}.dcm"
        new = dataclasses.replace(row, file=rel, label=int(bool(method)), method=method, split="test",
                                  variant="plain" if method else "")
        write_dicom(target.datasets, pixels.astype(np.float32), args.out / rel, syntax="explicit")
        np.save(mask_path(args.out, new), mask)
        sidecar_path(args.out, new).write_text(json.dumps({"method": method or None, "seed": args.seed,
                                                           "source": row.file}))
        out_rows.append(new)

    for row, t in targets:
        base = Path(row.file).stem
        put(row, t, f"{base}_a", t.pixels, np.zeros(t.pixels.shape, bool), "")
        eight_bit = not t.is_ct and t.value_range[1] - t.value_range[0] <= 255
        for method in INPAINT + (CLONE if eight_bit else ()):
            r_mm = draw_radius(rng, None)
            centre = choose_center(placeable(t), t.spacing, r_mm, rng)
            if centre is None:
                continue
            made = _inpaint(cv2, t, method, centre, r_mm) if method in INPAINT else \
                _clone(cv2, t, method, centre, r_mm, donors, rng)
            if made is not None and made[1].any():
                put(row, t, f"{base}_{method}", *made, method)
    write_labels(args.out, out_rows)
    counts = {m: sum(r.method == m for r in out_rows) for m in INPAINT + CLONE}
    print(f"{sum(r.label == 0 for r in out_rows)} authentic items, edits {counts}: {args.out}")


if __name__ == "__main__":
    main()
