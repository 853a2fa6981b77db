"""radtrust bench: measure the detectors on a benchmark folder (leave-one-method-out, robustness)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from radtrust.cli.output import Reporter
from radtrust.errors import UsageError

NAME = "bench"
HELP = "measure the detectors on a benchmark folder: AUC, TPR at FPR, localisation, leave-one-method-out"
DESCRIPTION = HELP + """

BENCH is a folder in the benchmark format (labels.csv, masks/), e.g. made by `radtrust simulate dataset`
or `make bench-data`. The scanner runs once per image; the fusion is fitted on the train split (per fold
for --leave-one-method-out) and every figure is measured on the test split. Writes REPORT_DIR/report.json,
REPORT_DIR/report.html (ROC curves, heatmap overlays) and REPORT_DIR/items.jsonl (one line per image: its label,
method and evidence class, the shipped fusion's score and verdict, every detector's score)."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bench", metavar="BENCH", type=Path, help="benchmark folder")
    parser.add_argument("--out", required=True, type=Path, metavar="REPORT_DIR")
    parser.add_argument("--detectors", help="comma list of detector names (default: all registered)")
    parser.add_argument("--model", help="one-class site model to add as a detector")
    parser.add_argument("--leave-one-method-out", dest="lomo", action="store_true",
                        help="also fit one fusion per held-out method (recommended)")
    parser.add_argument("--robustness", action="store_true",
                        help="also score the test split after lossless re-encoding, JPEG 2000 10:1, resampling, "
                             "re-quantisation and a JPEG resave at quality 90")
    parser.add_argument("--variants", metavar="LIST",
                        help="robustness variants to run, comma-separated (implies --robustness; default all: "
                             "lossless,j2k-lossy,resample,requantise,jpeg-resave); the lossy ones take a strength, "
                             "e.g. j2k-lossy:4 (compression ratio), jpeg-resave:95 (quality)")
    parser.add_argument("--fpr", type=float, default=0.01, help="false-alarm rate for the fusion threshold (default 0.01)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")


def run(args: argparse.Namespace) -> int:
    from radtrust.benchmarking.report import write_report
    from radtrust.benchmarking.robustness import VARIANTS
    from radtrust.benchmarking.runner import run_benchmark

    if not 0.0 < args.fpr < 1.0:
        raise UsageError(f"--fpr must be between 0 and 1, not {args.fpr}")
    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {args.jobs}")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError("--out must be a folder (the report's report.json, report.html and items.jsonl go there)",
                         args.out)
    rep = Reporter(quiet=args.quiet)

    def progress(stage: str, i: int, n: int) -> None:
        if not args.quiet and (i == n or i % 10 == 0):
            print(f"\r{stage}: {i}/{n}", end="\n" if i == n else "", file=sys.stderr, flush=True)

    detectors = [d.strip() for d in args.detectors.split(",") if d.strip()] if args.detectors else None
    variants = _variants(args.variants) if args.variants is not None else VARIANTS
    result = run_benchmark(args.bench, detectors=detectors, model=args.model, lomo=args.lomo,
                           robustness=args.robustness or args.variants is not None, variants=variants,
                           fpr=args.fpr, jobs=args.jobs, progress=progress)
    paths = write_report(result, args.bench, args.out)
    r = result.report
    lines = [f"wrote {paths['json']}, {paths['html']} and {paths['items']}",
             f"{'in-distribution' if 'fitted_on' not in r['fusion'] else 'shipped fusion (no train split to refit on)'}"
             f": {_s(r['in_distribution']['overall'])}; pixel AUC "
             f"{r['in_distribution']['localisation'].get('pixel_auc')}"]
    if "shipped_fusion" in r and "fitted_on" not in r["fusion"]:  # what a deployment sees: no refit
        lines.append(f"shipped fusion (no refit): {_s(r['shipped_fusion'])}; false alarms at its threshold "
                     f"{r['shipped_fusion'].get('false_alarm_rate_at_threshold')}")
    if "leave_one_method_out" in r:
        lines.append(f"leave-one-method-out pooled: {_s(r['leave_one_method_out']['pooled'])}; "
                     f"worst method AUC {r['leave_one_method_out']['worst_method_auc']}")
    if "robustness" in r:
        lines += [f"robustness {k}: AUC {v['auc']} ({v['auc_change']:+}), within classes {v.get('within_class_auc')}"
                  for k, v in r["robustness"].items() if isinstance(v, dict) and v.get("auc_change") is not None]
    rep.record(r, "\n".join(lines))
    for item in result.results:  # bad input, one line each as scan reports a bad file: an item left out of the
        if item.error:  # figures, or a mask that cannot be used (its image is in the figures)
            print(f"radtrust: error: {item.error}", file=sys.stderr, flush=True)
        elif item.mask_problem:
            print(f"radtrust: error: {item.mask_problem} (the image is measured at image level only)", file=sys.stderr,
                  flush=True)
    return 2 if r["errors"] or r.get("masks_not_used") else 0


def _variants(text: str) -> list[str]:
    """``--variants``' comma list, each checked (a usage error names the first that is wrong), each once."""
    from radtrust.benchmarking.robustness import parse_variant

    names = list(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
    if not names:
        raise UsageError("--variants names no variant")
    for v in names:
        try:
            parse_variant(v)
        except ValueError as e:
            raise UsageError(f"--variants: {e}") from None
    return names


def _s(m: dict) -> str:
    return f"AUC {m['auc']}, TPR@1%FPR {m['tpr_at_1pct_fpr']}, TPR@5%FPR {m['tpr_at_5pct_fpr']}"
