#!/usr/bin/env python3
"""False alarms after benign processing of a whole CT series: what scanners, consoles and archives do to a scan
with nobody tampering (another kernel, thick slabs, MIPs and MinIPs, another field of view, denoising, a lower dose), written
as DICOM and scanned with the shipped fusion, as ``radtrust scan`` judges a series.

    .venv/bin/python scripts/ct_benign_check.py ../shared/data/ct/siemens_abdomen ../shared/data/ct/ge_head \\
        ../shared/data/ct/philips_phantom ../shared/data/ct/chest_volume/cxr.nii.gz [--jobs 2] [--json OUT]

A volume longer than ``--stretch`` slices (16, as the benchmark's CT items) is judged as stretches at its quarter
points. Every transform applies to the whole series, so none is an edit of a region: each flag is a false alarm.
The header follows the processing where a real console would write it (SliceThickness of a slab, PixelSpacing of a
new field of view, ImageType DERIVED and a DerivationDescription for a MIP).
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from scipy import ndimage

from radtrust.forensics.scanner import Scanner
from radtrust.io import load_series
from radtrust.simulation._ops import noise_sigma
from radtrust.simulation.anatomy import body_mask
from radtrust.simulation.target import Target, load_target
from radtrust.simulation.writer import write_dicom

AIR = -1024.0


def _headers(t: Target, **changes: object) -> tuple:
    out = []
    for ds in t.datasets:
        ds = copy.deepcopy(ds)
        for k, v in changes.items():
            setattr(ds, k, v)
        out.append(ds)
    return tuple(out)


def _inplane(f: Callable[[np.ndarray], np.ndarray]) -> Callable[[Target], Target]:
    return lambda t: t.with_pixels(np.stack([f(s) for s in t.pixels.astype(np.float32)]))


def _unsharp(s: np.ndarray) -> np.ndarray:
    return s + 0.6 * (s - ndimage.gaussian_filter(s, 1.0))


def _slab(kind: str, n: int = 3) -> Callable[[Target], Target]:
    def run(t: Target) -> Target:
        v = t.pixels.astype(np.float32)
        if kind == "mean":  # the writer rounds half to even (np.rint), as numpy and C's rint do
            out = ndimage.uniform_filter1d(v, n, axis=0, mode="nearest")
            thick = float(t.datasets[0].get("SliceThickness", t.spacing[0]) or t.spacing[0]) * n
            return t.with_pixels(out, datasets=_headers(t, SliceThickness=round(thick, 3)))
        project = ndimage.maximum_filter1d if kind == "max" else ndimage.minimum_filter1d
        out = project(v, n, axis=0, mode="nearest")
        image_type = ["DERIVED", "SECONDARY", *list(t.datasets[0].get("ImageType", ["", "", "AXIAL"]))[2:]]
        name = "MIP" if kind == "max" else "MinIP"
        return t.with_pixels(out, datasets=_headers(t, ImageType=image_type,
                                                       DerivationDescription=f"{name} of {n} slices"))
    return run


def _field(zoom: float) -> Callable[[Target], Target]:
    """Another reconstructed field of view on the same matrix: ``zoom`` > 1 a smaller field (the centre enlarged),
    < 1 a larger one (the scan shrunk, air around it)."""
    def run(t: Target) -> Target:
        v = t.pixels.astype(np.float32)
        h, w = v.shape[1:]
        out = np.full_like(v, AIR)
        pad = float(v.min()) if v.min() < -1500 else None  # outside the reconstruction circle: padding stays padding
        for z, s in enumerate(v):
            r = ndimage.zoom(np.maximum(s, AIR), zoom, order=3, mode="nearest", grid_mode=True)
            if pad is not None:
                r[ndimage.zoom(s < -1500, zoom, order=0, mode="nearest", grid_mode=True)] = pad
            rh, rw = r.shape
            if zoom >= 1:
                y0, x0 = (rh - h) // 2, (rw - w) // 2
                out[z] = r[y0:y0 + h, x0:x0 + w]
            else:
                y0, x0 = (h - rh) // 2, (w - rw) // 2
                out[z] = pad if pad is not None else AIR
                out[z, y0:y0 + rh, x0:x0 + rw] = r
        ds = t.datasets[0]
        sp = [float(x) for x in ds.get("PixelSpacing", [1.0, 1.0])]
        changes: dict[str, object] = {"PixelSpacing": [round(sp[0] / zoom, 6), round(sp[1] / zoom, 6)]}
        if ds.get("ReconstructionDiameter"):
            changes["ReconstructionDiameter"] = round(float(ds.ReconstructionDiameter) / zoom, 3)
        return t.with_pixels(out, datasets=_headers(t, **changes))
    return run


def _tissue_sigma(v: np.ndarray) -> float:
    """The scan's noise in soft tissue (-150..150 HU)."""
    tissue = (v > -150) & (v < 150)
    return noise_sigma(v, tissue if tissue.any() else None)


def _nlm(share: float) -> Callable[[Target], Target]:
    """Non-local means denoising, blended with the original as iterative reconstructions are offered (ASiR 40%,
    iDose level, ...): ``share`` of the denoised image."""
    def run(t: Target) -> Target:
        from skimage.restoration import denoise_nl_means

        v = t.pixels.astype(np.float32)
        sigma = _tissue_sigma(v) * 1.5
        d = np.stack([denoise_nl_means(s, patch_size=5, patch_distance=6, h=0.8 * sigma, sigma=sigma, fast_mode=True)
                      for s in v])
        return t.with_pixels(share * d + (1.0 - share) * v)
    return run


def _low_dose(t: Target) -> Target:
    """Half the dose: the noise variance doubled, with noise shaped as the scan's own (a copy of its fine residual
    texture is not available, so white noise low-passed to a correlation length of about a pixel)."""
    v = t.pixels.astype(np.float32)
    rng = np.random.default_rng(0)
    extra = ndimage.gaussian_filter(rng.standard_normal(v.shape).astype(np.float32), (0, 0.7, 0.7))
    extra *= _tissue_sigma(v) / max(noise_sigma(extra), 1e-6)
    body = body_mask(v)
    return t.with_pixels(np.where(body, v + extra, v))


TRANSFORMS: dict[str, Callable[[Target], Target]] = {
    "none": lambda t: t,
    "softer kernel (blur 0.7 px)": _inplane(lambda s: ndimage.gaussian_filter(s, 0.7)),
    "sharper kernel (unsharp)": _inplane(_unsharp),
    "thick slab (mean of 3)": _slab("mean"),
    "thick slab (mean of 2)": _slab("mean", 2),
    "MIP of 3 slices": _slab("max"),
    "MinIP of 3 slices": _slab("min"),
    "smaller field (x1.25)": _field(1.25),
    "larger field (x0.8)": _field(0.8),
    "denoised, blended 50%": _nlm(0.5),
    "denoised (non-local means)": _nlm(1.0),
    "half dose (more noise)": _low_dose,
    "HU offset +12": lambda t: t.with_pixels(t.pixels.astype(np.float32) + 12.0),
}


def stretches(path: str, stretch: int) -> list[tuple[str, Target]]:
    t = load_target(path)
    n = t.pixels.shape[0]
    if n <= stretch:
        return [(Path(path).name, t)]
    starts = sorted({min(max(0, round(n * q) - stretch // 2), n - stretch) for q in (0.25, 0.5, 0.75)})
    return [(f"{Path(path).name}[{z}:{z + stretch}]", t.slab(z, z + stretch, f"{t.name}_{z}")) for z in starts]


def run(task: tuple[str, int, int, tuple[str, ...]]) -> list[dict]:
    """Every named transform of one stretch (the volume decoded once)."""
    path, stretch, index, names = task
    label, target = stretches(path, stretch)[index]
    return [_scan(label, name, TRANSFORMS[name](target)) for name in names]


def _scan(label: str, name: str, out: Target) -> dict:
    with tempfile.TemporaryDirectory() as td:
        dest = write_dicom(out.datasets, out.pixels, Path(td) / "series", syntax="explicit")
        (series,) = load_series(dest)
        results, sres = Scanner().scan_series(series)
    worst = max(results, key=lambda r: r.score)
    flagged = [r for r in results if r.verdict in ("suspicious", "tampered")]
    return {"series": label, "transform": name, "score": round(max(sres.score, worst.score), 4),
            "verdict": sres.verdict, "series_detectors": sres.detectors, "instances_flagged": len(flagged),
            "worst_instance": worst.detectors, "evidence": sres.evidence[:4] + worst.evidence[:4]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", help="CT series folders or NIfTI volumes")
    ap.add_argument("--stretch", type=int, default=16)
    ap.add_argument("--transforms", help="comma-separated subset of: " + ", ".join(TRANSFORMS))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    names = args.transforms.split(",") if args.transforms else list(TRANSFORMS)
    tasks = [(p, args.stretch, i, tuple(names)) for p in args.inputs for i in range(len(stretches(p, args.stretch)))]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = [row for part in pool.map(run, tasks) for row in part]
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    table = collections.defaultdict(list)
    for r in rows:
        table[r["transform"]].append(r)
    print(f"{len({r['series'] for r in rows})} CT series or stretches; flagged (series or any instance suspicious or "
          "tampered) per transform, and by which detector")
    for name, rs in table.items():
        flagged = [r for r in rs if r["verdict"] in ("suspicious", "tampered") or r["instances_flagged"]]
        by = collections.Counter(max({**r["series_detectors"], **r["worst_instance"]}.items(),
                                     key=lambda kv: kv[1] if kv[1] == kv[1] else -1)[0] for r in flagged)
        print(f"  {name:28} {len(flagged):3d} / {len(rs)}  {dict(by) if by else ''}")
        for r in flagged:
            print(f"      {r['series']}: {r['score']:.3f} {r['evidence'][:2]}")


if __name__ == "__main__":
    main()
