#!/usr/bin/env python3
"""CT edits scanned as the simulator made them and after CT-GAN's whole-scan rescale, with the shipped scanner.

    .venv/bin/radtrust simulate dataset --authentic ../shared/data/ct/chest_volume/cxr.nii.gz \\
        --methods ct-inject-nodule --per-image 3 --seed 26 --out /tmp/inj26      # and seeds 27, 28, 29
    .venv/bin/python scripts/ct_gan_scan_check.py /tmp/inj26 /tmp/inj27 [--jobs 2]

CT-GAN's public code zooms the whole scan to 1 mm voxels and back around its edit and writes the result into every
slice (``radtrust.simulation.antiforensics.rescale_scan``; ``radtrust simulate ... --antiforensics ...,scan`` does
the same). Every tampered CT item of the benchmarks given is scanned as made and with its whole stretch so
rescaled; the authentic items as made (a scanner does not rescale its own slices). Prints the AUC and how many edits
the shipped fusion flags, for both, and which detector decided.
"""

from __future__ import annotations

import argparse
import collections
import functools
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from radtrust.benchmarking.format import read_labels
from radtrust.benchmarking.metrics import roc_auc
from radtrust.io import load_series
from radtrust.simulation.antiforensics import rescale_scan
from radtrust.simulation.target import load_target
from radtrust.simulation.writer import write_dicom


@functools.cache
def _scanner():  # noqa: ANN202 - one per worker process
    from radtrust.forensics.scanner import Scanner

    return Scanner()


def _scan(target) -> tuple[float, str, str]:  # noqa: ANN001 - a simulation Target
    """(score, verdict, the detector with the highest score) of a CT stretch written as DICOM and scanned."""
    with tempfile.TemporaryDirectory() as td:
        dest = write_dicom(target.datasets, target.pixels, Path(td) / "series", syntax="explicit")
        (series,) = load_series(dest)
        results, sres = _scanner().scan_series(series)
    worst = max(results, key=lambda r: r.score)
    detectors = {k: v for k, v in {**worst.detectors, **sres.detectors}.items() if v == v}
    top = max(detectors, key=detectors.get) if detectors else "-"
    return max(sres.score, worst.score), sres.verdict, top


def run(task: tuple[str, int]) -> tuple[tuple[float, str, str], tuple[float, str, str] | None]:
    path, label = task
    t = load_target(path)
    made = _scan(t)
    if label == 0:
        return made, None
    return made, _scan(t.with_pixels(rescale_scan(t.pixels, t.spacing, t.datasets, t.value_range)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("benches", nargs="+", type=Path)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    rows = [(b, r) for b in args.benches for r in read_labels(b) if r.modality == "CT"]
    with ProcessPoolExecutor(args.jobs) as pool:
        res = list(pool.map(run, [(str(b / r.file), r.label) for b, r in rows]))
    y = np.array([r.label for _, r in rows])
    authentic = [m for m, _ in np.array(res, dtype=object)[y == 0]]
    print(f"{int((y == 0).sum())} authentic CT items (highest score {max(a[0] for a in authentic):.3f}), "
          f"{int(y.sum())} edits")
    for k, name in ((0, "as made"), (1, "whole scan rescaled")):
        s = np.array([m[0] if lab == 0 else (m, r)[k][0] for (m, r), lab in zip(res, y)])
        flagged = [(m, r)[k] for (m, r), lab in zip(res, y) if lab == 1 and (m, r)[k][1] != "authentic"]
        by = collections.Counter(f[2] for f in flagged)
        print(f"  {name:20} AUC {roc_auc(y, s):.3f}; edits flagged {len(flagged)} of {int(y.sum())} {dict(by)}")


if __name__ == "__main__":
    main()
