"""Benchmark: `radtrust scan` analysis cost per 512² CT slice and per 2k x 2k radiograph, on one core.

Run from the repository root:

    .venv/bin/python benchmarks/scan_speed.py [--repeat 3]

Measures CPU time (``time.process_time``, one process, so one core) of :meth:`Scanner.scan_image` with every
registered detector and the shipped fusion, per detector too, with malloc tuned as the ``radtrust`` command tunes
it (:mod:`radtrust.allocator`; set ``MALLOC_TRIM_THRESHOLD_`` to measure glibc's defaults), on: the sample CT
slices (512 x 512), a 2048 x 2048 radiograph (the sample CR upsampled, with its header), the same as an 8-bit
JPEG-decoded picture (where the jpeg-grid detector runs) and a series of 6 vs 12 slices (series cost must grow
linearly). A fixed reference workload (a 512² float32 FFT and SciPy's Gaussian and box filters over 1024²,
:func:`reference`) is timed in the same run, so results on a loaded or slower machine can be read as ratios.
Targets (issue 6): <= 100 ms per CT slice, <= 1 s per 2k radiograph.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from radtrust import allocator
from radtrust.forensics.same_pixels import fingerprint
from radtrust.forensics.scanner import Scanner
from radtrust.io import assemble, load_image

ROOT = Path(__file__).resolve().parent.parent


def cpu(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


_RNG = np.random.default_rng(0)
_SLICE = _RNG.standard_normal((512, 512)).astype(np.float32)
_PLANE = _RNG.standard_normal((1024, 1024)).astype(np.float32)


def reference() -> None:
    """Work that NumPy does not dispatch by CPU feature: a 512² float32 FFT (pocketfft) and SciPy's Gaussian and
    box filters over 1024² (its own C loops). Until session 33 it was the FFT and a sort of 2^20 floats, which NumPy
    sorts by SIMD (x86-simd-sort) on CPUs with AVX2 or AVX-512: that reference took 70 ms in sessions 22-26 and
    31-45 ms in sessions 32-33, on a machine where the scan ran slower, so ratios to it did not compare machines."""
    np.fft.rfft2(_SLICE)
    ndi.gaussian_filter(_PLANE, 2.0)
    ndi.uniform_filter(_PLANE, 5)


def jpeg_picture(pixels: np.ndarray, quality: int = 85) -> np.ndarray:
    """The radiograph as an 8-bit picture that went through JPEG once (what most shared radiographs are)."""
    import io

    from PIL import Image as PILImage

    lo, hi = np.percentile(pixels, [0.5, 99.5])
    eight = np.clip(np.rint((pixels - lo) / max(hi - lo, 1e-6) * 255), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(eight).save(buf, "JPEG", quality=quality)
    with PILImage.open(io.BytesIO(buf.getvalue())) as im:
        return np.asarray(im, dtype=np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    allocator.tune()  # as the radtrust command and its workers do
    scanner = Scanner()
    cts = [load_image(p) for p in sorted((ROOT / "samples" / "ct").glob("*.dcm"))]
    cr = load_image(ROOT / "samples" / "cr" / "RG1_crop.dcm")
    zoom = (2048 / cr.pixels.shape[0], 2048 / cr.pixels.shape[1])
    big = np.rint(ndi.zoom(cr.pixels, zoom, order=1)).astype(np.float32)
    ds = cr.dataset.copy()
    ds.Rows, ds.Columns = big.shape
    cr2k = dataclasses.replace(cr, pixels=big, dataset=ds)
    pic2k = dataclasses.replace(cr2k, pixels=jpeg_picture(big), bits_stored=8, modality="DX")
    ref = cpu(reference, args.repeat)
    ct_total = np.mean([cpu(lambda im=im: scanner.scan_image(im), args.repeat) for im in cts])
    per_det = {}
    for det in scanner.detectors:
        def run_all(det=det):
            for im in cts:
                if det.applies_to(im):
                    try:
                        det.run(im)
                    except Exception:
                        pass
        per_det[det.name] = cpu(run_all, args.repeat) / len(cts)
    fingerprints = np.mean([cpu(lambda im=im: fingerprint(im), args.repeat) for im in cts])  # scan's copies check
    xr_total = cpu(lambda: scanner.scan_image(cr2k), args.repeat)
    pic_total = cpu(lambda: scanner.scan_image(pic2k), args.repeat)
    pic_det = {}
    for det in scanner.detectors:
        if det.applies_to(pic2k):
            def run_one(det=det):
                try:
                    det.run(pic2k)
                except Exception:
                    pass
            pic_det[det.name] = cpu(run_one, args.repeat)
    moved = [dataclasses.replace(im, geometry=dataclasses.replace(
        im.geometry, position=(im.geometry.position[0], im.geometry.position[1], im.geometry.position[2] - 100.0)),
        sop_instance_uid=(im.sop_instance_uid or "") + ".2") for im in cts]
    # each run on a series assembled afresh: what a series caches (its volume, its projection test) is not reused
    s6 = cpu(lambda: scanner.scan_series(assemble(cts)), args.repeat)
    s12 = cpu(lambda: scanner.scan_series(assemble(cts + moved)), args.repeat)
    result = {"reference_s": round(ref, 4), "ct_slice_ms": round(1000 * ct_total, 1),
              "ct_slice_per_detector_ms": {k: round(1000 * v, 1) for k, v in per_det.items()},
              "ct_slice_fingerprint_ms": round(1000 * fingerprints, 2),
              "radiograph_2k_s": round(xr_total, 3), "picture_2k_s": round(pic_total, 3),
              "picture_2k_per_detector_s": {k: round(v, 3) for k, v in pic_det.items()},
              "series_6_s": round(s6, 3), "series_12_s": round(s12, 3),
              "ct_slice_in_reference_units": round(ct_total / ref, 2),
              "radiograph_2k_in_reference_units": round(xr_total / ref, 2)}
    print(f"reference workload: {1000 * ref:.1f} ms CPU")
    print(f"CT slice 512x512:   {1000 * ct_total:.1f} ms CPU (target <= 100 ms) = {ct_total / ref:.2f} x reference")
    for k, v in per_det.items():
        print(f"  {k:<18} {1000 * v:.1f} ms")
    print(f"  pixel fingerprint  {1000 * fingerprints:.1f} ms (scan --copies note|flag, outside the analysis)")
    print(f"radiograph 2048^2:  {xr_total:.3f} s CPU (target <= 1 s) = {xr_total / ref:.2f} x reference")
    print(f"8-bit picture 2048^2 (JPEG-decoded): {pic_total:.3f} s CPU (target <= 1 s) = "
          f"{pic_total / ref:.2f} x reference")
    for k, v in pic_det.items():
        print(f"  {k:<18} {v:.3f} s")
    print(f"series 6 / 12 slices: {s6:.2f} s / {s12:.2f} s (ratio {s12 / max(s6, 1e-9):.2f}, linear = 2)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
