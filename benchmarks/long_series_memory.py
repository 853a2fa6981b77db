"""Benchmark: peak memory and time of `radtrust scan` on one long CT series, against its length.

Run from the repository root:

    .venv/bin/python benchmarks/long_series_memory.py [--slices 100 400 1200] [--data ../shared/data/ct/siemens_abdomen]
    .venv/bin/python benchmarks/long_series_memory.py --enhanced --slices 60 240 480   # one Enhanced CT file instead

Builds, for each length, a series of that many 512² slices from the Siemens abdomen series (its slices cycled,
each given its own position, SOPInstanceUID and fresh Gaussian noise of 12 HU so no two slices share a residual), stored uncompressed in a temporary folder; then runs ``radtrust scan DIR --jobs 1 --format jsonl`` in a
child process and reads its peak resident memory (its own ``ru_maxrss``, written at exit) and wall time. The first length
is the reference: memory per slice beyond it tells whether a scan's memory grows with the series. With
``--enhanced`` the slices are converted into one Enhanced CT file (highdicom's legacy converter), a frame per slice.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ROOT = Path(__file__).resolve().parent.parent
NOISE_HU = 12.0  # fresh noise per slice: a cycled slice's residual must not match its earlier copy (duplicated noise)


def enhanced(folder: Path, out: Path) -> Path:
    """The slices of ``folder`` as one Enhanced CT file (a frame per slice)."""
    import highdicom as hd
    from highdicom.legacy import LegacyConvertedEnhancedCTImage

    datasets = [pydicom.dcmread(p) for p in sorted(folder.iterdir())]
    LegacyConvertedEnhancedCTImage(datasets, series_instance_uid=hd.UID(), series_number=900,
                                   sop_instance_uid=hd.UID(), instance_number=1).save_as(out)
    return out


def build(src: list[pydicom.Dataset], n: int, out: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    series = generate_uid()
    z0 = float(src[0].ImagePositionPatient[2])
    step = 1.0
    for i in range(n):
        ds = src[i % len(src)].copy()
        arr = ds.pixel_array.astype(np.int32) + np.rint(rng.normal(0.0, NOISE_HU, ds.pixel_array.shape)).astype(np.int32)
        info = np.iinfo(np.int16 if ds.PixelRepresentation else np.uint16)
        ds.PixelData = np.clip(arr, info.min, info.max).astype(info.dtype).tobytes()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [ds.ImagePositionPatient[0], ds.ImagePositionPatient[1], z0 - i * step]
        ds.SliceLocation = z0 - i * step
        ds.SliceThickness = step
        ds.save_as(out / f"s{i:05d}.dcm", enforce_file_format=True)


_CHILD = ("import atexit, resource, runpy, sys\n"
          "atexit.register(lambda: sys.stderr.write(f'\\nmaxrss_kb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n'))\n"
          "sys.argv = ['radtrust'] + sys.argv[1:]\n"
          "runpy.run_module('radtrust', run_name='__main__')\n")


def measure(folder: Path) -> tuple[float, float, int]:
    """(peak RSS in MB, wall seconds, records) of one `radtrust scan --jobs 1` in a child process of its own."""
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, "scan", str(folder), "--jobs", "1", "--format", "jsonl"],
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if proc.returncode not in (0, 1):
        raise SystemExit(f"scan failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    peak = [line for line in proc.stderr.splitlines() if line.startswith("maxrss_kb=")]
    return int(peak[-1].split("=")[1]) / 1024.0, wall, len(proc.stdout.splitlines())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, nargs="+", default=[100, 400, 1200])
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/ct/siemens_abdomen"))
    ap.add_argument("--enhanced", action="store_true", help="one Enhanced CT file of that many frames")
    args = ap.parse_args()
    src = [pydicom.dcmread(p) for p in sorted(Path(args.data).iterdir())]
    src.sort(key=lambda d: -float(d.ImagePositionPatient[2]))
    for ds in src:
        ds.decompress()
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID  # blanked in the shared data; the converter checks it
    rows = []
    for n in sorted(args.slices):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "series"
            folder.mkdir()
            build(src, n, folder)
            target = enhanced(folder, Path(tmp) / "enhanced.dcm") if args.enhanced else folder
            if args.enhanced:
                shutil.rmtree(folder)
            peak, wall, records = measure(target)
        rows.append({"slices": n, "peak_mb": round(peak, 1), "wall_s": round(wall, 1), "records": records,
                     "ms_per_slice": round(1000 * wall / n, 1)})
        print(json.dumps(rows[-1]), flush=True)
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        print(json.dumps({"mb_per_extra_slice": round((b["peak_mb"] - a["peak_mb"]) / (b["slices"] - a["slices"]), 3)}))


if __name__ == "__main__":
    main()
