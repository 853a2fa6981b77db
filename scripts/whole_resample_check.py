#!/usr/bin/env python3
"""The whole-resample detector's statistic on authentic CT, on benign processing and on CT re-gridded as a whole.

    .venv/bin/python scripts/whole_resample_check.py ../shared/data/ct/siemens_abdomen ../shared/data/ct/ge_head \\
        ../shared/data/ct/philips_phantom ../shared/data/ct/chest_volume/cxr.nii.gz [--jobs 2]

Each input is cut into 16-slice stretches as ``scripts/ct_benign_check.py`` cuts them. Per stretch: the line strength of
the stretch and of its middle slice alone, authentic, after each of ct_benign_check's transforms, and re-gridded as a
whole: zoomed to 1 mm voxels and back as CT-GAN's ``scale_scan`` does (the simulator's ``rescale_scan``, z included),
and in-plane only to 1 mm (linear), to 0.8 mm and to 1.25 mm. Prints per variant the largest and smallest strength and
score over the stretches. ct_benign_check's "smaller field" and "larger field" transforms re-grid the image too (x1.25,
x0.8), so they count with the re-gridded ones.
"""

from __future__ import annotations

import argparse
import collections
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from radtrust.forensics.detectors.whole_resample import _CENTER, _WIDTH, line_strength
from radtrust.forensics.residuals import logistic
from radtrust.simulation.antiforensics import rescale_scan

sys.path.insert(0, str(Path(__file__).parent))
import ct_benign_check as benign  # noqa: E402 - a sibling script: its stretches and transforms

REGRIDDING = ("smaller field (x1.25)", "larger field (x0.8)")


def regrid(t, target_mm: float, order: int = 3) -> np.ndarray:  # noqa: ANN001 - a simulation Target
    """Every slice of ``t`` zoomed in-plane to ``target_mm`` pixels and back, stored as CT-GAN stores it."""
    px = float(t.spacing[-1])
    return rescale_scan(t.pixels, (target_mm, px, px), t.datasets, t.value_range, iso_mm=target_mm, order=order)


def run(task: tuple[str, int]) -> list[tuple[str, str, float, float]]:
    path, index = task
    label, t = benign.stretches(path, 16)[index]
    v = t.pixels.astype(np.float64)
    variants = [("authentic", v)]
    variants += [(name, fn(t).pixels.astype(np.float64)) for name, fn in benign.TRANSFORMS.items() if name != "none"]
    variants += [("CT-GAN 1 mm and back", rescale_scan(t.pixels, t.spacing, t.datasets, t.value_range)),
                 ("1 mm and back, linear", regrid(t, 1.0, 1)), ("0.8 mm and back", regrid(t, 0.8)),
                 ("1.25 mm and back", regrid(t, 1.25))]
    out = []
    for name, x in variants:
        series, _ = line_strength(list(x))
        single, _ = line_strength([x[x.shape[0] // 2]])
        out.append((label, name, series, single))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", help="CT series folders or NIfTI volumes")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    tasks = [(p, i) for p in args.inputs for i in range(len(benign.stretches(p, 16)))]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = [r for part in pool.map(run, tasks) for r in part]
    table = collections.defaultdict(list)
    for label, name, series, single in rows:
        table[name].append((series, single, label))
    print(f"{len(tasks)} stretches; line strength (score) as series and as one slice, largest and smallest")
    for name, vals in table.items():
        s = np.array([v[0] for v in vals])
        one = np.array([v[1] for v in vals])
        kind = "re-grids" if name in REGRIDDING or "and back" in name else "authentic or benign"
        worst = vals[int(np.argmax(s))][2] if kind != "re-grids" else vals[int(np.argmin(s))][2]
        print(f"  {name:28} {kind:19} series {s.max():5.1f} ({logistic(s.max(), _CENTER, _WIDTH):.2f}) .. "
              f"{s.min():5.1f} ({logistic(s.min(), _CENTER, _WIDTH):.2f}); slice {one.max():5.1f} .. {one.min():5.1f}"
              f"  [{'most' if kind != 're-grids' else 'least'}: {worst}]")
    print("zoomed to 1 mm and back (CT-GAN), per stretch: series, one slice")
    for series, single, label in table["CT-GAN 1 mm and back"]:
        print(f"  {label:28} {series:5.1f} ({logistic(series, _CENTER, _WIDTH):.2f})  {single:5.1f}")


if __name__ == "__main__":
    main()
