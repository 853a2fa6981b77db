"""CPU time of the pixel detectors on one core: a 512^2 CT slice and a ~2k x 2k radiograph (min of 5 runs).

    .venv/bin/python scripts/pixel_forensics_timing.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from radtrust.forensics.registry import get_detector
from radtrust.io import Image, load_image

ROOT = Path(__file__).resolve().parents[1]


def cpu_ms(det, image: Image, repeat: int = 5) -> float:  # noqa: ANN001
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        det.run(image)
        best = min(best, time.process_time() - t)
    return best * 1e3


def main() -> None:
    ct = load_image(ROOT / "samples" / "ct" / "ct_01.dcm")
    cr = load_image(ROOT / "samples" / "cr" / "RG1_crop.dcm")
    rng = np.random.default_rng(0)
    big = np.kron(cr.pixels, np.ones((2, 2), np.float32))[:2048, :2048]  # ~2k x 2k from the sample CR
    big = big + rng.normal(0, 20, big.shape)
    big = Image(path=None, pixels=np.round(big).astype(np.float32), source_format="dicom", modality="CR",
                bits_stored=15)
    total_ct = total_big = 0.0
    for name in ("spectral", "noise-residual", "duplicated-noise"):
        det = get_detector(name)
        a, b = cpu_ms(det, ct), cpu_ms(det, big, repeat=2)
        total_ct += a
        total_big += b
        print(f"{name:18s} {a:7.1f} ms per 512x512 CT slice   {b:7.0f} ms per {big.shape[0]}x{big.shape[1]} radiograph")
    print(f"{'all three':18s} {total_ct:7.1f} ms per 512x512 CT slice   {total_big:7.0f} ms per radiograph")


if __name__ == "__main__":
    main()
