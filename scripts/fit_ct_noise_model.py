#!/usr/bin/env python3
"""Fit the CT noise model (radtrust.forensics.ct_noise) on authentic CT and write it as shipped data.

    .venv/bin/python scripts/fit_ct_noise_model.py ../shared/data/ct --out src/radtrust/data/ct_noise_model.json

Every authentic DICOM CT slice with kVp, mAs (or mA x time) and slice thickness contributes its measured
noise sigma in uniform tissue; the model keeps the physics exponents fixed and fits one intercept per kernel
class plus a tolerance from the largest residual.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from radtrust.forensics.ct_noise import NoiseModel, uniform_noise_sigma
from radtrust.io import iter_images


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    rows = []
    sources = set()
    for loaded in iter_images(args.inputs):
        im = loaded.image
        if im is None or (im.modality or "").upper() != "CT" or im.dataset is None or im.pixels.ndim != 2:
            continue
        f = NoiseModel.features(im.acquisition, im.geometry.slice_thickness)
        if f is None:
            continue
        sigma, _ = uniform_noise_sigma(im.pixels)
        if math.isfinite(sigma) and sigma > 0:
            rows.append((sigma, f[0], f[1]))
            sources.add(str(Path(loaded.path).parent))
    model = NoiseModel.fit(rows)
    model.info["sources"] = sorted(sources)
    model.info["command"] = "scripts/fit_ct_noise_model.py " + " ".join(args.inputs)
    Path(args.out).write_text(model.to_json() + "\n")
    print(f"fitted on {len(rows)} slices from {len(sources)} series: intercepts {model.intercepts}, "
          f"tolerance {model.tolerance:.3f} (log)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
