#!/usr/bin/env python3
"""`noise-free` on 8-bit radiograph pictures: the largest region quiet inside noisy surroundings, per method.

    .venv/bin/python scripts/picture_fill_check.py --bench bench/dev bench/holdout --authentic ../shared/data/cxr   # ~1 min

Runs the detector alone (no fusion) on every 8-bit picture of the benchmarks (labels.csv) and on each authentic
folder, and prints: the authentic scores' largest values and where they are, then per method how many items score
over the largest authentic score and over 0.5. Pictures the detector does not judge (noise under its floor, 16-bit
radiographs) count as score 0.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from radtrust.errors import NotApplicable
from radtrust.forensics.detectors.noise_free import NoiseFreeRegionDetector
from radtrust.io import load_image
from radtrust.io.load import iter_files


def score(path: str) -> tuple[str, float, str]:
    image = load_image(path)
    if (image.modality or "").upper() == "CT":
        return path, 0.0, "CT"
    try:
        finding = NoiseFreeRegionDetector().run(image)
    except NotApplicable as exc:
        return path, 0.0, f"not judged: {exc.message}"
    return path, finding.score, finding.evidence[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", nargs="*", default=[], help="benchmark folders (labels.csv)")
    ap.add_argument("--authentic", nargs="*", default=[], help="folders of authentic pictures")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    items: dict[str, str] = {}
    for bench in args.bench:
        with open(Path(bench) / "labels.csv", newline="") as f:
            for row in csv.DictReader(f):
                if row["modality"].upper() != "CT":
                    items[str(Path(bench) / row["file"])] = row["method"] or "authentic"
    for folder in args.authentic:
        items.update({str(p): "authentic" for p in iter_files([folder])})
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(score, list(items), chunksize=4))
    by_method: dict[str, list[tuple[float, str, str]]] = defaultdict(list)
    for path, s, evidence in results:
        by_method[items[path]].append((s, path, evidence))
    authentic = sorted(by_method.pop("authentic", []))
    if not authentic:
        print("no authentic pictures", file=sys.stderr)
        return 2
    top = authentic[-1][0]
    print(f"authentic: {len(authentic)} pictures, largest scores:")
    for s, path, evidence in authentic[-3:]:
        print(f"  {s:.3f} {path}: {evidence}")
    print(f"{'method':26} {'n':>4} {'> authentic max':>16} {'>= 0.5':>7}")
    for method, rows in sorted(by_method.items()):
        over = sum(s > top for s, _, _ in rows)
        print(f"{method:26} {len(rows):4} {over:16} {sum(s >= 0.5 for s, _, _ in rows):7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
