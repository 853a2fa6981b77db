#!/usr/bin/env python3
"""Whole-image display curves on a real 16-bit radiograph: what `radtrust scan` says, by how the file declares it.

    .venv/bin/python scripts/display_curve_check.py ../shared/data/cr/RG1_UNCR.dcm

A DX "for presentation" has been through the modality's display processing (a tone curve, a window), which leaves
histogram gaps wherever the curve is steeper than 1 and flattens the noise where it saturates. Each curve (a
sigmoid of slope 4 or 8 over the 1-99% range, a 1-99% window, a x2 stretch, a gamma of 0.8) is applied to the
whole plate, stored again in 15 bits, and filed three ways: as the CR it was, as a DX declared FOR PROCESSING
(nothing should have touched it), and as a DX FOR PRESENTATION (Presentation Intent Type and SOP class). Prints the
fused score, the verdict and the physics and noise-residual scores of each file. Nothing is written outside a
temporary folder.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid

from radtrust.forensics.scanner import Scanner
from radtrust.io import load_image

DX_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
DX_PROCESSING = "1.2.840.10008.5.1.4.1.1.1.1.1"


def curves(a: np.ndarray) -> dict[str, np.ndarray]:
    lo, hi = np.percentile(a, [1, 99])
    top = 2 ** 15 - 1

    def sigmoid(k: float) -> np.ndarray:
        y = 1 / (1 + np.exp(-k * ((a - lo) / (hi - lo) - 0.5)))
        y0, y1 = 1 / (1 + np.exp(k / 2)), 1 / (1 + np.exp(-k / 2))
        return (y - y0) / (y1 - y0) * top

    out = {"sigmoid 4": sigmoid(4), "sigmoid 8": sigmoid(8), "window 1-99%": (a - lo) / (hi - lo) * top,
           "stretch x2": a * 2, "gamma 0.8": np.clip(a / a.max(), 0, 1) ** 0.8 * a.max()}
    return {k: np.clip(np.rint(v), 0, top).astype(np.uint16) for k, v in out.items()}


def filed(src: pydicom.Dataset, pixels: np.ndarray, kind: str, path: Path) -> Path:
    ds = copy.deepcopy(src)
    ds.PixelData = pixels.tobytes()
    ds.BitsStored, ds.HighBit = 15, 14
    if kind != "CR":
        ds.Modality = "DX"
        presentation = kind.endswith("PRESENTATION")
        ds.PresentationIntentType = "FOR PRESENTATION" if presentation else "FOR PROCESSING"
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = DX_PRESENTATION if presentation else DX_PROCESSING
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.save_as(path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("radiograph", type=Path, help="a DICOM radiograph of more than 8 bits")
    args = ap.parse_args()
    src = pydicom.dcmread(args.radiograph)
    scanner = Scanner()
    kinds = ("CR", "DX FOR PROCESSING", "DX FOR PRESENTATION")
    print(f"{'curve':14s}" + "".join(f"  {k:<43s}" for k in kinds))
    with tempfile.TemporaryDirectory(prefix="radtrust-curves-") as tmp:
        for name, pixels in curves(src.pixel_array.astype(np.float64)).items():
            cells = []
            for i, kind in enumerate(kinds):
                path = filed(src, pixels, kind, Path(tmp) / f"{abs(hash(name))}_{i}.dcm")
                r = scanner.scan_image(load_image(path))
                cells.append(f"{r.score:.3f} {r.verdict:9s} physics {r.detectors.get('physics', float('nan')):.2f}"
                             f" noise {r.detectors.get('noise-residual', float('nan')):.2f}")
            print(f"{name:14s}" + "".join(f"  {c:<43s}" for c in cells))


if __name__ == "__main__":
    main()
