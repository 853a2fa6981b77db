#!/usr/bin/env python3
"""duplicated-noise on copies after a lossy codec: each scale alone and both, on a benchmark's authentic images and
its copies (copy-move, healing brush), as stored and after JPEG 2000 10:1 and a JPEG resave at quality 90
(radtrust.benchmarking.robustness, the variants of `radtrust bench --robustness`).

    .venv/bin/python scripts/copies_after_lossy_check.py bench/dev bench/holdout [--split test] [--jobs 2]

Prints, per image kind (CT, 2D) and variant, how many images each scale flags (score >= 0.5) and the authentic
images' highest score; --json writes every row.
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from radtrust.benchmarking.collect import _load
from radtrust.benchmarking.format import read_labels
from radtrust.benchmarking.robustness import NotApplicableVariant, transform
from radtrust.forensics.detectors import duplicated_noise as dn
from radtrust.forensics.residuals import shared_intermediates

COPIES = ("copy-move", "ho-healing-brush")
VARIANTS = ("clean", "j2k-lossy", "jpeg-resave")


def _score(obj: object, scales: tuple) -> float:
    detector = dn.DuplicatedNoiseDetector(scales=scales)
    with shared_intermediates():  # the band and residuals once per plane for all three runs, as a scan does
        finding = detector.run_series(obj) if hasattr(obj, "instances") else detector.run(obj)
    return float(finding.score)


def run(task: tuple[str, str, str, str]) -> dict | None:
    bench, file, method, variant = task
    src = Path(bench) / file
    with tempfile.TemporaryDirectory() as td:
        try:
            path = src if variant == "clean" else transform(src, Path(td) / src.name, variant)
        except NotApplicableVariant:
            return None
        obj = _load(path)
        scores = {name: _score(obj, scales) for name, scales in
                  (("fine", (dn.FINE,)), ("coarse", (dn.COARSE,)), ("both", (dn.FINE, dn.COARSE)))}
    kind = "CT" if hasattr(obj, "instances") else "2D"
    return {"bench": bench, "file": file, "method": method or "authentic", "variant": variant, "kind": kind, **scores}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench", nargs="+")
    ap.add_argument("--split", choices=("train", "test", "all"), default="all")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    tasks = [(b, r.file, r.method, v) for b in args.bench for r in read_labels(Path(b))
             if (args.split == "all" or r.split == args.split) and (r.label == 0 or r.method in COPIES)
             for v in VARIANTS]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = [r for r in pool.map(run, tasks, chunksize=2) if r is not None]
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    groups = collections.defaultdict(list)
    for r in rows:
        groups[(r["kind"], r["method"], r["variant"])].append(r)
    print(f"{'kind':4} {'method':18} {'variant':12} {'n':>4}  flagged fine / coarse / both   highest (both)")
    for (kind, method, variant), rs in sorted(groups.items()):
        flags = " / ".join(f"{sum(r[s] >= 0.5 for r in rs):3d}" for s in ("fine", "coarse", "both"))
        print(f"{kind:4} {method:18} {variant:12} {len(rs):4d}  {flags}              {max(r['both'] for r in rs):.3f}")


if __name__ == "__main__":
    main()
