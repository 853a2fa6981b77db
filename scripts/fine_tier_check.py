#!/usr/bin/env python3
"""The numbers behind noise-free's fine tier: dip density and the largest dense region, per CT series.

    .venv/bin/python scripts/fine_tier_check.py ../shared/data/ct/siemens_abdomen \\
        ../shared/data/ct/chest_volume/cxr.nii.gz --tv 1 2            # authentic, and total-variation denoised
    .venv/bin/python scripts/fine_tier_check.py --bench bench/dev --methods ct-inject-nodule,ct-remove-nodule

For each series (or each stretch of ``--stretch`` slices, 16 by default, as the benchmark's series are): whether the
finest band holds the scanner's noise (its median in soft tissue in stored-grid rounding units, judged from 4), the
share of judged voxels that are dips, the highest dip density over the scan's median (counted from 8), and the
largest connected region of dense dips (scored 0.5 at 48 voxels) with, for a benchmark item, the largest one that
touches its mask. ``--tv W`` adds each stretch denoised by total variation at weight W (scikit-image): what an
edge-preserving denoiser does, which the density condition is there to tell from an edit.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from scipy import ndimage

from radtrust.forensics.detectors import noise_free as nf
from radtrust.io import group_series, iter_images, load_series


def measure(vol: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float | int | None]:
    """The fine tier's quantities on a (slices, rows, cols) volume in HU, judged as one series."""
    maps = [nf._slice_maps(s) for s in vol.astype(np.float32)]
    judged = np.stack([m[1] for m in maps])
    fine = float(np.exp(np.median(np.concatenate([m[3][::2, ::2][m[2][::2, ::2]] for m in maps]))))
    dips = np.stack([nf._fine_dip(m[3], m[1]) for m in maps])
    b = nf.FINE_BIN
    h, w = (vol.shape[1] // b) * b, (vol.shape[2] // b) * b
    d = np.stack([nf._bin_sums(x[:h, :w], b) for x in dips])
    j = np.stack([nf._bin_sums(x[:h, :w], b) for x in judged])
    size = (min(nf.FINE_WINDOW_3D[0], len(vol)), *nf.FINE_WINDOW_3D[1:])
    nd, nj = ndimage.uniform_filter(d, size, mode="constant"), ndimage.uniform_filter(j, size, mode="constant")
    ok = nj >= 0.5 * b * b
    density = np.where(ok, nd / np.maximum(nj, 1e-3), 0.0)
    base = max(float(np.median(density[ok])), 1e-3) if ok.any() else 1e-3
    dense = nf._dense_dips(dips, judged, nf.FINE_WINDOW_3D)
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = ndimage.generate_binary_structure(2, 1)
    structure[0, 1, 1] = structure[2, 1, 1] = True
    labels, n = ndimage.label(dense, structure=structure)
    sizes = np.bincount(labels.ravel())[1:] if n else np.zeros(0, int)
    in_mask = None
    if mask is not None and mask.shape == dense.shape:
        touched = np.unique(labels[mask & (labels > 0)])
        in_mask = int(sizes[touched - 1].max()) if len(touched) else 0
    return {"fine_steps": round(fine / nf.FINE_QUANTUM, 1), "dip_share_pct": round(100 * dips.sum() / max(judged.sum(), 1), 2),
            "density_peak": round(float(density.max()) / base, 1), "largest": int(sizes.max()) if n else 0,
            "largest_in_mask": in_mask}


def _volumes(path: Path):
    images = [r.image for r in iter_images([path]) if r.error is None]
    for series in group_series(images):
        if len(series) == 1 and series.instances[0].pixels.ndim == 3:
            yield str(series.instances[0].path), series.instances[0].pixels
        elif series.is_volume():
            yield series.series_instance_uid or str(path), np.stack([im.pixels for im in series.instances])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*", type=Path, help="authentic CT series folders or volumes")
    ap.add_argument("--bench", type=Path, help="a benchmark folder (labels.csv, masks/): its CT items")
    ap.add_argument("--methods", default="", help="with --bench: comma list of methods ('' = authentic items)")
    ap.add_argument("--stretch", type=int, default=16, help="slices judged together (0: the whole series)")
    ap.add_argument("--tv", type=float, nargs="*", default=[], help="total-variation weights to denoise with too")
    args = ap.parse_args()
    print("item\tvariant\tfine_steps\tdip_share_pct\tdensity_peak\tlargest\tlargest_in_mask")
    for path in args.inputs:
        for name, vol in _volumes(path):
            step = args.stretch or len(vol)
            for a in range(0, len(vol), step):
                part = vol[a:a + step].astype(np.float32)
                variants = [("as stored", part)]
                if args.tv:
                    from skimage.restoration import denoise_tv_chambolle

                    variants += [(f"tv {w:g}", np.stack([np.round(denoise_tv_chambolle(s.astype(np.float64), weight=w))
                                                         for s in part])) for w in args.tv]
                for label, v in variants:
                    r = measure(v)
                    print(f"{Path(name).name}[{a}:{a + len(part)}]\t{label}\t" + "\t".join(str(x) for x in r.values()))
    if args.bench:
        wanted = {m.strip() for m in args.methods.split(",")}
        with open(args.bench / "labels.csv", newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r["file"].startswith("ct/") and r["method"] in wanted]
        for row in rows:
            [series] = load_series(args.bench / row["file"])
            mask_file = args.bench / "masks" / (Path(row["file"]).name + ".npy")
            mask = np.load(mask_file) if mask_file.exists() else None
            r = measure(np.stack([im.pixels for im in series.instances]), mask)
            print(f"{row['file']}\t{row['method'] or 'authentic'} {row['variant']}\t" + "\t".join(str(x) for x in r.values()))


if __name__ == "__main__":
    main()
