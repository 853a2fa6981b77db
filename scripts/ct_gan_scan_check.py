#!/usr/bin/env python3
"""CT edits scanned as the simulator made them and after CT-GAN's whole-scan rescale, with the shipped scanner.

    .venv/bin/radtrust simulate dataset --authentic ../shared/data/ct/chest_volume/cxr.nii.gz \\
        --methods ct-inject-nodule --per-image 3 --seed 26 --out /tmp/inj26      # and seeds 27, 28, 29
    .venv/bin/python scripts/ct_gan_scan_check.py /tmp/inj26 /tmp/inj27 [--jobs 2]

CT-GAN's public code zooms the whole scan to 1 mm voxels and back around its edit, blends the original scan back into
a box of 64 voxels around the edit (its noise touch-up) and writes the result into every slice
(``radtrust.simulation.antiforensics``; ``radtrust simulate ... --antiforensics ...,scan`` does the same). Every
tampered CT item of the benchmarks given is scanned three ways: as made; with its whole stretch rescaled
(``rescale_scan``); and as CT-GAN writes it (rescaled, then the touch-up with the authentic item cut from the same
place as the original, when the benchmark holds it). The authentic items as made (a scanner does not rescale its own
slices). Prints, for each way, the AUC, how many edits the shipped fusion flags and which detector decided, and the
fused heatmap's pixel AUC against each edit's mask.
"""

from __future__ import annotations

import argparse
import collections
import functools
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from radtrust.benchmarking.format import mask_path, read_labels
from radtrust.benchmarking.metrics import roc_auc
from radtrust.io import load_series
from radtrust.simulation.antiforensics import as_ct_gan_writes, rescale_scan
from radtrust.simulation.target import load_target
from radtrust.simulation.writer import write_dicom


@functools.cache
def _scanner():  # noqa: ANN202 - one per worker process
    from radtrust.forensics.scanner import Scanner

    return Scanner()


Scanned = tuple[float, str, str, np.ndarray | None]


def _scan(target) -> Scanned:  # noqa: ANN001 - a simulation Target
    """(score, verdict, the detector with the highest score, the fused heatmap) of a CT stretch written as DICOM and
    scanned."""
    with tempfile.TemporaryDirectory() as td:
        dest = write_dicom(target.datasets, target.pixels, Path(td) / "series", syntax="explicit")
        (series,) = load_series(dest)
        results, sres = _scanner().scan_series(series)
    worst = max(results, key=lambda r: r.score)
    detectors = {k: v for k, v in {**worst.detectors, **sres.detectors}.items() if v == v}
    top = max(detectors, key=detectors.get) if detectors else "-"
    return max(sres.score, worst.score), sres.verdict, top, sres.heatmap


def _pixel_auc(scanned: Scanned, mask: np.ndarray) -> float:
    """The heatmap's AUC against the edit's mask (NaN without a map or a mask)."""
    heat = scanned[3]
    if heat is None or heat.shape != mask.shape or not mask.any():
        return float("nan")
    return roc_auc(mask.ravel().astype(int), heat.ravel())


Row = tuple[float, str, str, float]  # score, verdict, the deciding detector, the heatmap's pixel AUC


def run(task: tuple[str, int, str, str | None, str]) -> tuple[Row, Row | None, Row | None]:
    path, label, method, twin, mask_file = task
    t = load_target(path)
    mask = np.load(mask_file) if label else np.zeros(t.pixels.shape, bool)
    row = lambda s: (*s[:3], _pixel_auc(s, mask))  # noqa: E731
    made = row(_scan(t))
    if label == 0:
        return made, None, None
    rescaled = row(_scan(t.with_pixels(rescale_scan(t.pixels, t.spacing, t.datasets, t.value_range))))
    if twin is None:
        return made, rescaled, None
    written, _ = as_ct_gan_writes(t.pixels, load_target(twin).pixels, mask, t.spacing, t.datasets, t.value_range,
                                  "inject" in method)
    return made, rescaled, row(_scan(t.with_pixels(written)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("benches", nargs="+", type=Path)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    rows = [(b, r) for b in args.benches for r in read_labels(b) if r.modality == "CT"]
    authentic = {(b, r.file.rsplit("_v", 1)[0]): b / r.file for b, r in rows if r.label == 0}
    tasks = []
    for b, r in rows:  # an edit's original: the authentic item cut from the same place
        twin = authentic.get((b, r.file.rsplit("_v", 1)[0])) if r.label else None
        tasks.append((str(b / r.file), r.label, r.method, str(twin) if twin else None, str(mask_path(b, r))))
    with ProcessPoolExecutor(args.jobs) as pool:
        res = list(pool.map(run, tasks))
    y = np.array([r.label for _, r in rows])
    auth = [m for (m, _, _), lab in zip(res, y) if lab == 0]
    print(f"{len(auth)} authentic CT items (highest score {max(a[0] for a in auth):.3f}), "
          f"{int(y.sum())} edits")
    for k, name in ((0, "as made"), (1, "whole scan rescaled"), (2, "as CT-GAN writes")):
        keep = [i for i, lab in enumerate(y) if lab == 0 or res[i][k] is not None]
        s = np.array([res[i][0][0] if y[i] == 0 else res[i][k][0] for i in keep])
        flagged = [res[i][k] for i in keep if y[i] == 1 and res[i][k][1] != "authentic"]
        by = collections.Counter(f[2] for f in flagged)
        pix = np.array([res[i][k][3] for i in keep if y[i] == 1])
        print(f"  {name:20} AUC {roc_auc(y[keep], s):.3f}; edits flagged {len(flagged)} of {int(y[keep].sum())} "
              f"{dict(by)}; heatmap pixel AUC median {np.nanmedian(pix):.3f}, lowest {np.nanmin(pix):.3f} "
              f"({int(np.isnan(pix).sum())} without a map)")

if __name__ == "__main__":
    main()
