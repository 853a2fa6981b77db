"""Development check of the pixel detectors (spectral, noise-residual, duplicated-noise).

Loads the authentic images of ../shared/data (CT of three vendors + the NIfTI chest volume, CR, the 8-bit
chest pictures), plants seeded tamperings of several kinds in copies of them, runs each detector and prints
per detector and per method: image AUC (tampered vs all authentic), pixel AUC (heatmap vs mask), the false
alarm rate at score 0.5 on the authentic images, and per-image timings. Development numbers only: the
tamperings are made here, not by an unseen method.

    .venv/bin/python scripts/pixel_forensics_check.py [--data ../shared/data] [--detectors a,b] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.stats import rankdata

from radtrust.forensics.registry import get_detector
from radtrust.io import load_image

DETECTORS = ("spectral", "noise-residual", "duplicated-noise")


def authentic(data: Path, rng: np.random.Generator, n_cxr: int) -> list[tuple[str, np.ndarray, str | None, str]]:
    out = []
    for d in sorted((data / "ct").iterdir()):
        if d.name == "chest_volume":
            vol = load_image(d / "cxr.nii.gz").pixels
            for k in range(5, vol.shape[0] - 5, 12):
                out.append((f"{d.name}[{k}]", vol[k], "CT", "nifti"))
            continue
        for f in sorted(d.glob("*.dcm"))[::2]:
            im = load_image(f)
            out.append((f"{d.name}/{f.name}", im.pixels, im.modality, "dicom"))
    for f in sorted((data / "cr").glob("*.dcm")):
        im = load_image(f)
        out.append((f"cr/{f.name}", im.pixels, im.modality, "dicom"))
    pics = sorted((data / "cxr").glob("*"))
    pics = [p for p in pics if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    for i in rng.choice(len(pics), size=min(n_cxr, len(pics)), replace=False):
        im = load_image(pics[i])
        out.append((f"cxr/{pics[i].name}", im.pixels, None, im.source_format))
    return out


def _region(x: np.ndarray, rng: np.random.Generator, size: int) -> tuple[int, int]:
    """A region inside the object (not in padding/air outside), chosen at random."""
    lo = np.percentile(x, 30)
    for _ in range(200):
        y0 = int(rng.integers(0, x.shape[0] - size))
        x0 = int(rng.integers(0, x.shape[1] - size))
        patch = x[y0 : y0 + size, x0 : x0 + size]
        if np.median(patch) > lo and patch.std() > 0:
            return y0, x0
    return (x.shape[0] - size) // 2, (x.shape[1] - size) // 2


def tamper(x: np.ndarray, method: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = x.astype(np.float32).copy()
    size = int(max(40, min(x.shape) // 9))
    y0, x0 = _region(x, rng, size)
    mask = np.zeros(x.shape, bool)
    sl = (slice(y0, y0 + size), slice(x0, x0 + size))
    patch = x[sl]
    sigma = float(np.std(ndimage.laplace(x)) / 4.5 + 1e-3)
    if method == "copy-move":
        for _ in range(100):
            sy, sx = _region(x, rng, size)
            if abs(sy - y0) > size or abs(sx - x0) > size:
                break
        x[sl] = x[sy : sy + size, sx : sx + size] + float(rng.normal(0, 5))
        mask[sl] = True
        mask[sy : sy + size, sx : sx + size] = True
    elif method == "smooth":  # inpainting / generated content without noise
        x[sl] = ndimage.gaussian_filter(patch, 2.0)
        mask[sl] = True
    elif method == "resample":  # region enlarged by 1.5 with cubic interpolation
        z = ndimage.zoom(patch, 1.5, order=3)
        x[sl] = z[:size, :size]
        mask[sl] = True
    elif method == "noise-swap":  # smooth content + white Gaussian noise of the same level
        x[sl] = ndimage.gaussian_filter(patch, 2.0) + rng.normal(0, 1.0, patch.shape).astype(np.float32) * sigma
        mask[sl] = True
    elif method == "lesion":  # a smooth blob with up-sampled noise (CT-GAN without copy-noise)
        yy, xx = np.mgrid[:size, :size] - size / 2
        blob = np.exp(-(yy**2 + xx**2) / (2 * (size / 5) ** 2)).astype(np.float32)
        noise = ndimage.zoom(rng.normal(0, sigma, ((size + 1) // 2,) * 2), 2, order=1)[:size, :size]
        amp = 0.3 * float(np.ptp(np.percentile(x, [5, 95])))
        x[sl] = ndimage.gaussian_filter(patch, 1.5) * (1 - blob) + (patch.mean() + amp) * blob + noise * blob
        mask[sl] = blob > 0.1
    else:
        raise ValueError(method)
    return x, mask


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    ranks = rankdata(np.concatenate([pos, neg]))  # average ranks for ties
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--detectors", default=",".join(DETECTORS))
    ap.add_argument("--methods", default="copy-move,smooth,resample,noise-swap,lesion")
    ap.add_argument("--cxr", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    auth = authentic(Path(args.data), rng, args.cxr)
    methods = args.methods.split(",")
    from radtrust.io import Image

    for name in args.detectors.split(","):
        det = get_detector(name)
        neg, times, worst = [], [], []
        for label, px, mod, src in auth:
            t = time.perf_counter()
            f = det.run(Image(path=None, pixels=px, source_format=src, modality=mod))
            times.append((time.perf_counter() - t, px.size))
            neg.append(f.score)
            worst.append((f.score, label))
        neg = np.asarray(neg)
        worst.sort(reverse=True)
        print(f"== {name}: authentic n={len(neg)} false alarms(score>=0.5)={np.mean(neg >= 0.5):.3f} "
              f"median score {np.median(neg):.3f}; top: {[(round(s, 2), lab) for s, lab in worst[:4]]}")
        for m in methods:
            pos, pix = [], []
            for i, (label, px, mod, src) in enumerate(auth):
                x, mask = tamper(px, m, np.random.default_rng(args.seed * 1000 + i))
                f = det.run(Image(path=None, pixels=x, source_format=src, modality=mod))
                pos.append(f.score)
                if f.heatmap is not None and mask.any():
                    h = f.heatmap[::4, ::4].ravel()
                    pix.append(auc(h[mask[::4, ::4].ravel()], h[~mask[::4, ::4].ravel()]))
            pos = np.asarray(pos)
            print(f"   {m:11s} image AUC {auc(pos, neg):.3f}  TPR@score0.5 {np.mean(pos >= 0.5):.2f}  "
                  f"pixel AUC {np.nanmean(pix) if pix else float('nan'):.3f}")
        ms = [t * 1e3 for t, n in times if n <= 600 * 600]
        big = [t * 1e3 for t, n in times if n > 1500 * 1500]
        print(f"   time: {np.median(ms):.1f} ms median per <=512^2 image; " + (
            f"{np.median(big):.0f} ms per large radiograph" if big else ""))


if __name__ == "__main__":
    main()
