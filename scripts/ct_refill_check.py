#!/usr/bin/env python3
"""The CT detectors on a real series whose ball was in-painted and re-noised, at several noise levels and textures.

    .venv/bin/python scripts/ct_refill_check.py ../shared/data/ct/siemens_abdomen

A ball of RADIUS mm inside soft tissue (40-70 HU around it) is filled slice by slice by biharmonic in-painting
(scikit-image), then noise is added back as an editor would: white or lightly correlated Gaussian noise at K times
the local noise level (the simulator's estimate, the Immerkaer residual's robust sigma), K from 0 to 1. Prints each
CT detector's series score next to the untouched series'. This is the anti-forensic step CT-GAN's authors offer
besides copying noise; these are the numbers behind the README's "what CT does not catch".
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
from scipy import ndimage
from skimage.restoration import inpaint_biharmonic

from radtrust.forensics.registry import get_detector
from radtrust.io import load_series
from radtrust.simulation._ops import noise_sigma
from radtrust.simulation.antiforensics import synth_noise

DETECTORS = ("noise-free", "noise-residual", "duplicated-noise", "spectral")


def scores(series) -> dict[str, float]:  # noqa: ANN001 - radtrust.io.Series
    return {name: get_detector(name).run_series(series).score for name in DETECTORS}


def refill(volume: np.ndarray, ball: np.ndarray, k: float, corr: float, rng: np.random.Generator) -> np.ndarray:
    out = volume.copy()
    for z in np.flatnonzero(ball.any(axis=(1, 2))):
        ys, xs = np.nonzero(ball[z])
        box = volume[z, max(0, ys.min() - 40):ys.max() + 40, max(0, xs.min() - 40):xs.max() + 40]
        sigma = noise_sigma(box)
        fill = inpaint_biharmonic(volume[z].astype(np.float64), ball[z])
        fill += synth_noise(volume[z].shape, k * sigma, rng, corr)
        out[z] = np.where(ball[z], np.round(fill), volume[z])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("series")
    ap.add_argument("--radius", type=float, default=15.0, help="ball radius, mm (default 15)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    [series] = load_series(args.series)[:1]
    volume = np.stack([im.pixels for im in series.instances]).astype(np.float32)
    dy, dx = series.instances[0].geometry.pixel_spacing
    dz = float(np.median(np.diff(series.positions))) if len(series.positions) > 1 else 1.0
    z0 = volume.shape[0] // 2
    local = ndimage.uniform_filter(volume[z0], 41)
    candidates = np.argwhere((local > 40) & (local < 70))
    if not len(candidates):
        raise SystemExit(f"{args.series}: no soft tissue at 40-70 HU on slice {z0}")
    rng = np.random.default_rng(args.seed)
    cy, cx = candidates[rng.integers(len(candidates))]
    zz, yy, xx = np.ogrid[: volume.shape[0], : volume.shape[1], : volume.shape[2]]
    ball = ((zz - z0) * dz) ** 2 + ((yy - cy) * dy) ** 2 + ((xx - cx) * dx) ** 2 < args.radius**2

    def show(label: str, s: dict[str, float]) -> None:
        print(f"{label:32s}" + "  ".join(f"{n} {v:.3f}" for n, v in s.items()))

    print(f"ball of {args.radius:g} mm at slice {z0}, row {cy}, column {cx}: {int(ball.sum())} voxels")
    show("untouched", scores(series))
    for corr in (0.0, 0.6):
        for k in (0.0, 0.25, 0.5, 0.75, 1.0):
            edited = refill(volume, ball, k, corr, rng)
            images = tuple(dataclasses.replace(im, pixels=edited[i]) for i, im in enumerate(series.instances))
            show(f"noise x{k:g}, correlation {corr:g} px", scores(dataclasses.replace(series, instances=images)))


if __name__ == "__main__":
    main()
