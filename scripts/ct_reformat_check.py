#!/usr/bin/env python3
"""False alarms on coronal and sagittal reformats (MPR) of whole CT volumes, as consoles store them beside the axial
series: each written as a DICOM series and scanned with the shipped fusion, as ``radtrust scan`` judges a series.

    .venv/bin/python scripts/ct_reformat_check.py ../shared/data/ct/siemens_abdomen ../shared/data/ct/ge_head \\
        ../shared/data/ct/philips_phantom ../shared/data/ct/chest_volume/cxr.nii.gz [--jobs 2] [--json OUT]

Per volume and plane: the slices resampled along z to the in-plane pixel spacing (linear or cubic, as viewers
offer), then 16 planes 3 mm apart through the middle of the volume, each either one resampled plane or the mean of a
3 mm slab. The header is a console's: ImageOrientationPatient of the plane, PixelSpacing, SliceThickness of the
slab, ImageType DERIVED/SECONDARY/MPR with a DerivationDescription, UIDs under the source's root. No region is
edited, so each flag is a false alarm.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid
from scipy import ndimage

from radtrust.forensics.scanner import Scanner
from radtrust.io import load_series
from radtrust.simulation.target import Target, load_target
from radtrust.simulation.writer import write_dicom

PLANES = {"coronal": (1, [1, 0, 0, 0, 0, -1]), "sagittal": (2, [0, 1, 0, 0, 0, -1])}
VARIANTS = ((1, 3.0), (3, 3.0), (1, 0.0), (3, 0.0))  # (interpolation order, slab mm; 0: one plane)


def _uid_root(t: Target) -> str | None:
    root = ".".join(str(t.datasets[0].get("SOPInstanceUID", "")).split(".")[:6]) + "."
    try:
        generate_uid(prefix=root)
    except ValueError:
        return None
    return root


def reformat(t: Target, plane: str, order: int, slab_mm: float, count: int = 16, step_mm: float = 3.0
             ) -> tuple[np.ndarray, tuple, list[str]]:
    """(pixels, one header per plane, new UIDs: one per plane and the series') of a reformat of ``t``."""
    axis, orientation = PLANES[plane]
    dz, dy, dx = t.spacing
    inplane = dx if axis == 1 else dy  # the image's other axis
    across = dy if axis == 1 else dx  # the axis the planes step along
    v = ndimage.zoom(t.pixels.astype(np.float32), (dz / inplane, 1, 1), order=order, mode="nearest",
                     grid_mode=True)[::-1]  # superior first
    k, step = max(1, round(slab_mm / across)), max(1, round(step_mm / across))
    starts = [v.shape[axis] // 2 + (i - count // 2) * step for i in range(count)]
    pixels = np.stack([np.take(v, range(s, s + k), axis=axis).mean(axis=axis) for s in starts])
    root = _uid_root(t)
    headers = []
    for i, s in enumerate(starts):
        ds = copy.deepcopy(t.datasets[0])
        ds.ImageOrientationPatient = orientation
        ds.ImagePositionPatient = [0.0, s * across, 0.0] if axis == 1 else [s * across, 0.0, 0.0]
        ds.PixelSpacing = [round(inplane, 6), round(inplane, 6)]
        ds.SliceThickness = round(k * across, 3)
        ds.ImageType = ["DERIVED", "SECONDARY", "MPR"]
        ds.DerivationDescription = f"MPR {plane} {k * across:.1f} mm"
        ds.InstanceNumber = i + 1
        headers.append(ds)
    uids = [generate_uid(prefix=root) for _ in range(count + 1)]
    return pixels, tuple(headers), uids


def run(path: str) -> list[dict]:
    t = load_target(path)
    scanner = Scanner()
    rows = []
    for plane in PLANES:
        for order, slab in VARIANTS:
            pixels, headers, uids = reformat(t, plane, order, slab)
            with tempfile.TemporaryDirectory() as td:
                (series,) = load_series(write_dicom(headers, pixels, Path(td) / "mpr", syntax="explicit",
                                                    new_uids=uids))
                results, sres = scanner.scan_series(series)
            worst = max(results, key=lambda r: r.score)
            rows.append({"volume": Path(path).name, "plane": plane, "order": order, "slab_mm": slab,
                         "shape": list(pixels.shape), "score": round(max(sres.score, worst.score), 4),
                         "verdict": sres.verdict,
                         "instances_flagged": sum(r.verdict in ("suspicious", "tampered") for r in results),
                         "series_detectors": sres.detectors, "evidence": sres.evidence[:4] + worst.evidence[:4]})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", help="CT series folders or NIfTI volumes")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = [row for part in pool.map(run, args.inputs) for row in part]
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    flagged = [r for r in rows if r["verdict"] != "authentic" or r["instances_flagged"]]
    print(f"{len(rows)} reformats of {len(args.inputs)} volumes; flagged (series or any instance suspicious or "
          f"tampered): {len(flagged)}")
    for r in rows:
        mark = "FLAGGED" if r in flagged else ""
        top = {k: round(v, 3) for k, v in r["series_detectors"].items() if v >= 0.05}
        print(f"  {r['volume'][:20]:20} {r['plane']:8} order {r['order']} slab {r['slab_mm']:.0f} mm "
              f"{r['score']:.3f} {r['verdict']:10} {mark} {top}")
        if mark:
            print(f"      {r['evidence'][:3]}")


if __name__ == "__main__":
    main()
