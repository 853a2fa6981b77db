#!/usr/bin/env python3
"""False alarms on coronal and sagittal reformats (MPR) of whole CT volumes, and on localizers, as consoles store them
beside the axial series: each written as DICOM and scanned with the shipped fusion, as ``radtrust scan`` judges it.

    .venv/bin/python scripts/ct_reformat_check.py ../shared/data/ct/siemens_abdomen ../shared/data/ct/ge_head \\
        ../shared/data/ct/philips_phantom ../shared/data/ct/chest_volume/cxr.nii.gz [--jobs 2] [--json OUT]

Per volume and plane: the slices resampled along z to the in-plane pixel spacing (linear or cubic, as viewers
offer), then 16 planes 3 mm apart through the middle of the volume, each either one resampled plane or the mean of a
3 mm slab. The header is a console's: ImageOrientationPatient of the plane, PixelSpacing, SliceThickness of the
slab, ImageType DERIVED/SECONDARY/MPR with a DerivationDescription, UIDs under the source's root. And an AP localizer
simulated from the volume (:func:`localizer`; how real topograms scale their values was not available to check). No
region is edited, so each flag is a false alarm.
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
from radtrust.io import load_image, load_series
from radtrust.simulation.target import Target, load_target
from radtrust.simulation.writer import write_dicom

PLANES = {"coronal": (1, [1, 0, 0, 0, 0, -1]), "sagittal": (2, [0, 1, 0, 0, 0, -1])}
VARIANTS = ((1, 3.0), (3, 3.0), (1, 0.0), (3, 0.0))  # (interpolation order, slab mm; 0: one plane)
LOCALIZERS = ((600.0, 8.0), (400.0, 3.0))  # (stored steps per unit of line integral, noise in stored steps)


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


def localizer(t: Target, gain: float, noise: float, seed: int = 0) -> tuple[np.ndarray, tuple, list[str]]:
    """An AP localizer (topogram) simulated from the volume: line integrals of attenuation through it (water 0.02 per
    mm), brighter where more, ``gain`` stored steps per unit and white noise, 12 bits from -1024; the header says
    ORIGINAL/PRIMARY/LOCALIZER in the coronal plane."""
    dz, dy, dx = t.spacing
    mu = np.clip((t.pixels.astype(np.float32) + 1000.0) / 1000.0, 0.0, None) * 0.02
    projection = ndimage.zoom(mu.sum(axis=1) * dy, (dz / dx, 1), order=1)[::-1]
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.rint(projection * gain + rng.normal(0.0, noise, projection.shape)) - 1024.0, -1024, 3071)
    ds = copy.deepcopy(t.datasets[0])
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    ds.ImageOrientationPatient = PLANES["coronal"][1]
    ds.PixelSpacing = [dx, dx]
    root = _uid_root(t)
    return pixels.astype(np.float32)[None], (ds,), [generate_uid(prefix=root) for _ in range(2)]


def run(path: str) -> list[dict]:
    t = load_target(path)
    scanner = Scanner()
    rows = []
    made = [(f"{plane} order {order} slab {slab:.0f} mm", reformat(t, plane, order, slab))
            for plane in PLANES for order, slab in VARIANTS]
    made += [(f"localizer gain {gain:.0f} noise {noise:.0f}", localizer(t, gain, noise)) for gain, noise in LOCALIZERS]
    for name, (pixels, headers, uids) in made:
        with tempfile.TemporaryDirectory() as td:
            if len(pixels) == 1:  # a localizer: one image
                one = write_dicom(headers, pixels[0], Path(td) / "one.dcm", syntax="explicit", new_uids=uids)
                results, sres = [scanner.scan_image(load_image(one))], None
            else:
                (series,) = load_series(write_dicom(headers, pixels, Path(td) / "mpr", syntax="explicit",
                                                    new_uids=uids))
                results, sres = scanner.scan_series(series)
        worst = max(results, key=lambda r: r.score)
        top = sres or worst
        rows.append({"volume": Path(path).name, "image": name, "shape": list(pixels.shape),
                     "score": round(max(top.score, worst.score), 4), "verdict": top.verdict,
                     "instances_flagged": sum(r.verdict in ("suspicious", "tampered") for r in results),
                     "detectors": top.detectors, "evidence": (sres.evidence[:4] if sres else []) + worst.evidence[:4]})
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
    print(f"{len(rows)} reformats and localizers of {len(args.inputs)} volumes; flagged (series or any instance "
          f"suspicious or tampered): {len(flagged)}")
    for r in rows:
        mark = "FLAGGED" if r in flagged else ""
        top = {k: round(v, 3) for k, v in r["detectors"].items() if v >= 0.05}
        print(f"  {r['volume'][:20]:20} {r['image']:32} {r['score']:.3f} {r['verdict']:10} {mark} {top}")
        if mark:
            print(f"      {r['evidence'][:3]}")


if __name__ == "__main__":
    main()
