#!/usr/bin/env python3
"""Does a site calibration hold its false-alarm rate on the site's images it did not see?

    radtrust scan AUTHENTIC... --copies off --format jsonl --out auth.jsonl
    .venv/bin/python scripts/site_calibration_check.py auth.jsonl [--fpr 0.02 0.05] [--splits 20]

The records' sources (a CT or CR series, or one picture) are dealt into two halves at random; thresholds are set on one
half as ``radtrust calibrate`` sets them (:func:`radtrust.forensics.site_thresholds.site_fusion`, the shipped weights
and margin) and the share of the other half's instance and series scores above them is counted, next to the shipped
threshold's share on the same half.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from radtrust.forensics.fusion import shipped_fusion
from radtrust.forensics.site_thresholds import site_fusion


def _scores(path: str) -> list[tuple[str, float]]:
    """(source, score) per instance and series record: a series' instances share their series' source."""
    fusion = shipped_fusion()
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["kind"] == "error":
                continue
            series = rec.get("series_instance_uid")
            picture = rec["kind"] == "instance" and (rec.get("modality") or "") not in ("CT", "CR", "DX", "MR")
            source = rec.get("path") if picture or not series else series
            out.append((str(source), fusion.score(rec["detectors"])))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("jsonl")
    ap.add_argument("--fpr", type=float, nargs="+", default=[0.02, 0.05])
    ap.add_argument("--splits", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    items = _scores(args.jsonl)
    sources = sorted({s for s, _ in items})
    shipped = shipped_fusion()
    rng = np.random.default_rng(args.seed)
    for fpr in args.fpr:
        rows = []
        tries = 0
        while len(rows) < args.splits:
            tries += 1
            if tries > 100 * args.splits:
                print(f"--fpr {fpr:g}: halves too small ({int(np.ceil(2 / fpr))} scores needed)", file=sys.stderr)
                return 2
            half = {sources[i] for i in rng.permutation(len(sources))[: len(sources) // 2]}
            fit = [p for s, p in items if s in half]
            held = np.array([p for s, p in items if s not in half])
            if len(fit) < 2 / fpr:  # as radtrust calibrate: too few scores for this rate; deal again
                continue
            t = site_fusion(shipped, fit, fpr).fusion.threshold
            rows.append((t, float(np.mean(held > t)), float(np.mean(held > shipped.threshold)), len(fit), held.size))
        t, fa, ship, nf, nh = (np.array(c) for c in zip(*rows))
        print(f"--fpr {fpr:g}: {args.splits} splits of {len(sources)} sources ({nf.mean():.0f} scores set the "
              f"threshold, {nh.mean():.0f} judged): threshold {t.mean():.3f} ({t.min():.3f}-{t.max():.3f}); "
              f"false alarms on the unseen half {100 * fa.mean():.2f}% (at most {100 * fa.max():.2f}%); the shipped "
              f"threshold {shipped.threshold:.3f} there {100 * ship.mean():.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
