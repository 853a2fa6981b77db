#!/usr/bin/env python3
"""The numbers behind noise-free's quiet tier: how many quiet regions a CT series holds, and how large.

    .venv/bin/python scripts/quiet_tier_check.py --bench bench/dev bench/holdout        # every CT item
    .venv/bin/python scripts/quiet_tier_check.py ../shared/data/ct/chest_volume/cxr.nii.gz --nlm 0.5 1.0

Per series (for a volume, each of the 16-slice stretches that ``scripts/ct_benign_check.py`` judges; ``--nlm S``
adds each stretch denoised by its non-local means, blended S with the original), the reference noise, the share of
the body under 0.3 of it (the "denoised throughout" guard, from 4%), and per tier (0.15 and 0.25 of the reference)
the largest regions and how many hold ``QUIET_REGION`` voxels or more, also per million judged voxels: what tells
a denoiser's quiet spots, everywhere in uniform tissue, from an edit's one quiet place.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

from radtrust.forensics.detectors import noise_free as nf
from radtrust.io import load_series

sys.path.insert(0, str(Path(__file__).parent))
import ct_benign_check as benign  # noqa: E402 - a sibling script: its stretches and denoiser


def regions(slices: list[np.ndarray]) -> dict:
    """The quiet tiers' regions of a series judged in 3D."""
    maps = [nf._slice_maps(s) for s in slices]
    rms, judged, soft = (np.stack([m[i] for m in maps]) for i in range(3))
    ref = float(np.median(rms[soft]))
    n_judged = int(np.count_nonzero(judged))
    out = {"ref": round(ref, 2), "low %": round(100 * np.count_nonzero(judged & (rms < nf.LOW * ref)) / n_judged, 2)}
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = ndimage.generate_binary_structure(2, 1)
    structure[0, 1, 1] = structure[2, 1, 1] = True
    for ratio, _ in nf.TIERS:
        labels, n = ndimage.label(judged & (rms < ratio * ref), structure=structure)
        sizes = np.sort(np.bincount(labels.ravel())[1:])[::-1] if n else np.zeros(1, int)
        many = int(np.count_nonzero(sizes >= nf.QUIET_REGION))
        out[f"{ratio:g}"] = {"largest": sizes[:5].tolist(), "many": many,
                             "per million": round(many / n_judged * 1e6, 1)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="*", help="CT series folders or NIfTI volumes")
    ap.add_argument("--bench", nargs="*", type=Path, default=[], help="benchmark folders: every CT item")
    ap.add_argument("--nlm", nargs="*", type=float, default=[], help="also denoised, blended this share")
    args = ap.parse_args()
    for bench in args.bench:
        with (bench / "labels.csv").open() as fh:
            for row in csv.DictReader(fh):
                if row["modality"] != "CT":
                    continue
                for s in load_series([bench / row["file"]]):
                    if s.is_volume():
                        print(bench.name, row["file"], row["method"] or "authentic",
                              json.dumps(regions([im.pixels for im in s.instances])), flush=True)
    for path in args.inputs:
        for label, target in benign.stretches(path, 16):
            for share in [0.0, *args.nlm]:
                t = benign._nlm(share)(target) if share else target
                v = np.rint(t.pixels.astype(np.float64)).astype(np.float32)  # as the DICOM writer stores it
                print(label, f"denoised {share:g}" if share else "untouched", json.dumps(regions(list(v))), flush=True)


if __name__ == "__main__":
    main()
