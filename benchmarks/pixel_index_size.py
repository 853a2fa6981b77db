"""Benchmark: what the pixel memory (radtrust.forensics.same_pixels) costs per instance as it grows.

Run from the repository root:

    .venv/bin/python benchmarks/pixel_index_size.py [--instances 20000]

Fingerprints of a sample CT slice (512 x 512), each given its own pixel hash and random row and column hashes (as
distinct acquisitions have), are checked and added one by one, in memory (a scan) and in a SQLite file (``scan
--pixel-index``, the gateway, the Orthanc plugin). Reported: bytes per instance in memory (tracemalloc) and on disk,
and the time of one check-and-add at the start and at the end, against a fixed reference workload timed in the same
run (a 512² float32 FFT and a 2^20-element sort), so the growth can be read off on a loaded machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from radtrust.forensics.pixel_store import SqliteStore
from radtrust.forensics.same_pixels import Lines, MemoryStore, PixelIndex, fingerprint
from radtrust.io import load_image

ROOT = Path(__file__).resolve().parent.parent


def reference() -> float:
    t = time.perf_counter()
    rng = np.random.default_rng(0)
    np.fft.fft2(rng.standard_normal((512, 512)).astype(np.float32))
    np.sort(rng.standard_normal(1 << 20))
    return time.perf_counter() - t


def fill(index: PixelIndex, base: dict, n: int) -> tuple[float, float]:
    """Check-and-add ``n`` distinct fingerprints; mean seconds per instance over the first and the last 500."""
    times = []
    for k in range(n):
        fp = dict(base)
        fp["sha256"] = hashlib.sha256(str(k).encode()).digest()
        lines = base["lines"]
        fp["lines"] = Lines(os.urandom(len(lines.rows)), os.urandom(len(lines.cols)), lines.informative_rows,
                            lines.informative_cols)
        rec = {"path": f"/archive/study{k // 100:06d}/series1/IM{k:06d}.dcm",
               "sop_instance_uid": f"1.2.826.0.1.3680043.8.498.{k:030d}", "evidence": []}
        t = time.perf_counter()
        index.check(rec, fp)
        times.append(time.perf_counter() - t)
    m = min(500, n)
    return float(np.mean(times[:m])), float(np.mean(times[-m:]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=20000)
    args = ap.parse_args()
    base = fingerprint(load_image(ROOT / "samples" / "ct" / "ct_01.dcm"))
    ref = min(reference() for _ in range(3))
    tracemalloc.start()
    in_memory = PixelIndex(MemoryStore())
    mem_first, mem_last = fill(in_memory, base, args.instances)
    memory = tracemalloc.get_traced_memory()[0] / args.instances  # while the index is alive
    tracemalloc.stop()
    del in_memory
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pixels.sqlite"
        store = SqliteStore(path)
        disk_first, disk_last = fill(PixelIndex(store), base, args.instances)
        store.close()  # the last connection to close checkpoints the WAL into the file
        disk = path.stat().st_size / args.instances
    result = {"instances": args.instances, "reference_ms": round(1000 * ref, 1),
              "memory_bytes_per_instance": round(memory), "disk_bytes_per_instance": round(disk),
              "memory_check_ms_first_last": [round(1000 * mem_first, 3), round(1000 * mem_last, 3)],
              "sqlite_check_ms_first_last": [round(1000 * disk_first, 3), round(1000 * disk_last, 3)]}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
