#!/usr/bin/env python3
"""Fit the shipped fusion (src/radtrust/data/fusion.json) and measure it: leave-one-method-out on the
development benchmark, false alarms on all authentic data and on authentic sources held out of the fit
(which also picks the threshold margin), pixel AUC of the fused heatmaps.

    radtrust simulate dataset --authentic ../shared/data --out bench/dev      # issue 5's dev benchmark
    .venv/bin/python scripts/calibrate_fusion.py --bench bench/dev --authentic ../shared/data \\
        --out src/radtrust/data/fusion.json --cache calibration-out/vectors.json --report calibration-out/report.json

Detector scores are computed once (as `radtrust scan` computes them) and cached with --cache; a second run
with the same cache only refits. The report holds every number quoted in the README.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np

from radtrust.forensics import calibration as cal


def pixel_auc(bench: Path, fusion_path: Path, detectors: list[str] | None, limit: int, seed: int = 0) -> dict:
    """Mean per-image pixel AUC of the fused heatmap against the ground-truth mask (tampered test rows; the same
    ``limit`` images every run, for history: ``scripts/pixel_auc.py`` measures a whole split)."""
    from radtrust.benchmarking.collect import full_pixel_auc
    from radtrust.benchmarking.format import mask_path, read_labels
    from radtrust.forensics.fusion import Fusion
    from radtrust.forensics.scanner import Scanner

    scanner = Scanner(detectors, fusion=Fusion.load(fusion_path))
    rows = [r for r in read_labels(bench) if r.label == 1 and r.split == "test"]
    rng = np.random.default_rng(seed)
    rng.shuffle(rows)
    per_method: dict[str, list[float]] = {}
    for r in rows:
        if not mask_path(bench, r).exists() or not np.load(mask_path(bench, r)).any() \
                or sum(len(v) for v in per_method.values()) >= limit:
            continue
        auc = full_pixel_auc(scanner, bench, r)
        if math.isfinite(auc):
            per_method.setdefault(r.method, []).append(auc)
    allv = [a for v in per_method.values() for a in v]
    return {"mean_pixel_auc": float(np.mean(allv)) if allv else math.nan, "images": len(allv),
            "per_method": {m: float(np.mean(v)) for m, v in per_method.items()}}


def shipped_figures(bench: list, authentic: list, shipped=None) -> dict:  # noqa: ANN001 - Fusion
    """The fusion radtrust ships (or ``shipped``), on the same vectors, as it is (no refit): false alarms on the
    authentic images and the benchmark's tampered rows over its threshold (each row by its scan score, series or
    most suspicious image)."""
    from radtrust.forensics.fusion import Fusion

    shipped = shipped or Fusion.load()
    tampered = [v for v in bench if v.label == 1]
    flagged = sum(cal.scan_score(shipped, v) > shipped.threshold for v in tampered)
    return {"false_alarms": cal.false_alarms(shipped, authentic), "tampered": len(tampered), "flagged": int(flagged),
            "threshold": shipped.threshold}


def joined_fusion(names: list[str], bench: list, authentic: list):  # noqa: ANN201 - Fusion
    """The shipped fusion with ``names`` appended, each set from its scores on every authentic row (the authentic
    inputs and the benchmark's authentic rows, series and instances)."""
    from radtrust.forensics.fusion import Fusion

    fusion = Fusion.load()
    rows = [d for v in [*authentic, *(b for b in bench if b.label == 0)] for d in cal.scan_rows(v)]
    for name in names:
        if name in fusion.names:  # joined before: join again with these scores
            fusion = fusion.without(name)
        fusion = fusion.joined(name, np.array([d.get(name, math.nan) for d in rows], dtype=float))
    fusion.info["command_joined"] = "scripts/calibrate_fusion.py " + " ".join(sys.argv[1:])
    return fusion


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True, type=Path, help="benchmark folder (labels.csv format)")
    ap.add_argument("--authentic", nargs="+", default=[], help="authentic files/folders (thresholds, false alarms)")
    ap.add_argument("--out", type=Path, help="write the fitted fusion here (e.g. src/radtrust/data/fusion.json)")
    ap.add_argument("--cache", type=Path, help="JSON cache of detector scores (reused when present)")
    ap.add_argument("--report", type=Path, help="write the measurements as JSON")
    ap.add_argument("--detectors", help="comma-separated detectors (default: all registered but the site model)")
    ap.add_argument("--fpr", type=float, default=0.01)
    ap.add_argument("--join", help="comma-separated detectors to append to the shipped fusion (Fusion.joined) "
                                   "instead of refitting it; --out receives the shipped fusion with them")
    ap.add_argument("--margins", default="1.0,1.25,1.5,2.0,3.0",
                    help="threshold margins (log-odds) to try, smallest first: the first whose false-alarm rate on "
                         "authentic sources held out of the fit is <= --fpr is used")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--pixel-images", type=int, default=40, help="tampered test images for the pixel AUC (0: skip)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="calibrate: %(message)s")
    detectors = args.detectors.split(",") if args.detectors else None
    t0 = time.time()
    if args.cache and args.cache.exists():
        cached = json.loads(args.cache.read_text())
        bench_v = [cal.Vectors.from_json(d) for d in cached["bench"]]
        auth_v = [cal.Vectors.from_json(d) for d in cached["authentic"]]
        logging.info("loaded %d bench and %d authentic vectors from %s", len(bench_v), len(auth_v), args.cache)
    else:
        bench_v = cal.bench_vectors(args.bench, detectors, args.jobs)
        logging.info("bench: %d rows scored in %.0f s", len(bench_v), time.time() - t0)
        auth_v = cal.authentic_vectors(args.authentic, detectors, args.jobs) if args.authentic else []
        logging.info("authentic: %d groups scored (%.0f s in all)", len(auth_v), time.time() - t0)
        if args.cache:
            args.cache.parent.mkdir(parents=True, exist_ok=True)
            args.cache.write_text(json.dumps({"bench": [v.to_json() for v in bench_v],
                                              "authentic": [v.to_json() for v in auth_v]}))
    bench_v = cal.attach_sources(args.bench, bench_v)
    names = cal.names_of(bench_v + auth_v)
    report: dict = {"detectors": names, "bench": str(args.bench), "authentic": args.authentic,
                    "rows": len(bench_v), "tampered": sum(v.label for v in bench_v)}
    margins = [float(m) for m in args.margins.split(",")]
    margin, tried = cal.choose_margin(bench_v, auth_v, names, args.fpr, margins) if auth_v else (margins[0], [])
    report["margin"] = margin
    report["false_alarms_heldout_sources"] = tried
    report["lomo"] = cal.lomo(bench_v, auth_v, names, args.fpr, margin=margin)
    train = [v for v in bench_v if v.label == 0 and v.split == "train"] + [v for v in bench_v if v.label == 1]
    fusion = cal.fit(train, auth_v, names, args.fpr, margin=margin)
    test_auth = [v for v in bench_v if v.label == 0 and v.split == "test"]
    report["false_alarms_all_authentic"] = cal.false_alarms(fusion, auth_v)
    report["false_alarms_bench_test_authentic"] = cal.false_alarms(fusion, test_auth)
    fusion.info["command"] = "scripts/calibrate_fusion.py " + " ".join(argv if argv is not None else sys.argv[1:])
    fusion.info["lomo_overall_auc"] = report["lomo"]["overall_auc"]
    if tried:
        fusion.info["heldout_false_alarm_rate"] = tried[-1]["rate"]
    report["fusion"] = {"names": list(fusion.names), "weights": fusion.weights.tolist(), "bias": fusion.bias,
                        "threshold": fusion.threshold, "tampered_threshold": fusion.tampered_threshold}
    if args.join:
        fusion = joined_fusion(args.join.split(","), bench_v, auth_v)
        report["joined"] = fusion.info["joined"]
    if args.out:
        fusion.save(args.out)
        if args.pixel_images:
            report["pixel"] = pixel_auc(args.bench, args.out, detectors, args.pixel_images)
    report["shipped"] = shipped_figures(bench_v, auth_v, fusion if args.join else None)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=1))
    lomo = report["lomo"]
    print(f"LOMO overall AUC {lomo['overall_auc']:.3f}, min per-method AUC {lomo['min_method_auc']:.3f}, "
          f"TPR@1%FPR {lomo['overall_tpr_at_1pct_fpr']:.3f}")
    rest = lomo["without_unseeable"]
    print(f"  without {', '.join(rest['methods_left_out']) or 'nothing'} (nothing in one file to find): "
          f"AUC {rest['overall_auc']:.3f}, TPR@1%FPR {rest['overall_tpr_at_1pct_fpr']:.3f}")
    for m, r in lomo["methods"].items():
        print(f"  {m:<28} AUC {r['auc']:.3f}  TPR@1%FPR {r['tpr_at_1pct_fpr']:.3f}  "
              f"TPR@thr {r['tpr_at_threshold']:.3f}  FPR@thr {r['fpr_at_threshold']:.3f}  n={r['n_tampered']}")
    fa = report["false_alarms_all_authentic"]
    print(f"false alarms on all authentic data: {fa['false_alarms']}/{fa['images']} ({100 * fa['rate']:.2f}%)")
    for h in tried:
        print(f"margin {h['margin']:g}: false alarms on held-out authentic sources {h['false_alarms']}/{h['images']} "
              f"({100 * h['rate']:.2f}%) {', '.join(h['flagged_groups'])}")
    if "pixel" in report:
        print(f"pixel AUC (mean per image): {report['pixel']['mean_pixel_auc']:.3f} over {report['pixel']['images']}")
    shipped = report["shipped"]
    print(f"shipped fusion{' with ' + args.join + ' joined' if args.join else ''} (not refitted): false alarms {shipped['false_alarms']['false_alarms']}/"
          f"{shipped['false_alarms']['images']} authentic images, {shipped['flagged']}/{shipped['tampered']} "
          f"benchmark edits flagged at its threshold {shipped['threshold']:.4f}")
    print(f"fusion: {dict(zip(fusion.names, np.round(fusion.weights, 3)))} bias {fusion.bias:.3f} "
          f"threshold {fusion.threshold:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
