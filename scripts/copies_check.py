"""How often comparing copies (radtrust.forensics.copies) finds the benchmark's edits, and how often it errs.

Each tampered item of a benchmark (``bench/dev``) is compared with the authentic item made from the same source,
which keeps the same UIDs (the simulator keeps them unless told otherwise): as a tampered copy in a PACS would sit
beside the original in a backup. Then the same after the tampered copy, or the original, went through each
robustness variant (JPEG 2000 10:1, a JPEG resave, 75% resampling and back, two bits dropped, a lossless
re-encoding) with its UIDs kept. Reports, per method and variant, the fraction of tampered items found
(an alteration reported for at least one instance) and, for authentic items against their own transformed copy,
the fraction reported as altered (what a conversion under the same UID costs).

    .venv/bin/python scripts/copies_check.py bench/dev [--variants lossless,j2k-lossy,...] [--limit N]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from radtrust.benchmarking.format import read_labels
from radtrust.benchmarking.robustness import VARIANTS, transform
from radtrust.forensics.copies import compare_copies
from radtrust.io import iter_images


def _images(path: Path) -> list:
    return [loaded.image for loaded in iter_images([path]) if loaded.image is not None]


def _item(row) -> str:
    """What the copies of one image share: the file name without its variant (a CT slab of a volume, a picture)."""
    return row.file.rsplit("_v", 1)[0]


def altered(original: Path, copy: Path) -> bool:
    images = _images(original) + _images(copy)
    return any(f.altered for f in compare_copies(images).values())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench", type=Path)
    ap.add_argument("--variants", default=",".join(("none", *VARIANTS)))
    ap.add_argument("--limit", type=int, default=0, help="at most N tampered items per method (0: all; -1: none)")
    args = ap.parse_args()
    rows = read_labels(args.bench)
    authentic = {_item(r): r for r in rows if r.label == 0}
    variants = args.variants.split(",")
    found: dict[tuple[str, str], list[bool]] = defaultdict(list)
    false: dict[str, list[bool]] = defaultdict(list)
    per_method: dict[str, int] = defaultdict(int)
    work = Path(tempfile.mkdtemp(prefix="copies-check-"))
    try:
        for r in rows:
            if r.label != 1 or _item(r) not in authentic:
                continue
            if args.limit and per_method[r.method] >= max(args.limit, 0):
                continue
            per_method[r.method] += 1
            orig = args.bench / authentic[_item(r)].file
            tam = args.bench / r.file
            for v in variants:
                if v == "none":
                    found[(r.method, v)].append(altered(orig, tam))
                    continue
                try:
                    copy = transform(tam, work / v / r.file, v)
                except Exception as exc:
                    print(f"skip {r.file} {v}: {type(exc).__name__}", file=sys.stderr)
                    continue
                found[(r.method, v)].append(altered(orig, copy))
        for a in authentic.values():
            for v in variants:
                if v == "none":
                    continue
                src = args.bench / a.file
                try:
                    copy = transform(src, work / "auth" / v / a.file, v)
                except Exception:
                    continue
                false[v].append(altered(src, copy))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    methods = sorted({m for m, _ in found})
    print("| method | n | " + " | ".join(variants) + " |")
    print("|---|---|" + "---|" * len(variants))
    for m in methods:
        cells = []
        for v in variants:
            hits = found.get((m, v), [])
            cells.append(f"{sum(hits)}/{len(hits)}" if hits else "-")
        print(f"| {m} | {per_method[m]} | " + " | ".join(cells) + " |")
    print("| authentic vs its own copy (reported as altered) | " + str(len(authentic)) + " | - | "
          + " | ".join(f"{sum(false[v])}/{len(false[v])}" if false[v] else "-" for v in variants if v != "none") + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
