"""radtrust calibrate: the verdict thresholds for a site's own false-alarm rate, from its own authentic images."""

from __future__ import annotations

import argparse
import math
import sys

NAME = "calibrate"
HELP = "set the verdict thresholds from a site's own authentic images (a fusion file for scan --fusion)"
DESCRIPTION = HELP + """

The shipped thresholds hold a 1% false-alarm rate on the development images; a site's scanners, protocols and
post-processing are not those. This scans INPUT (files or folders, recursively; every image must be authentic, as
for `radtrust train`) with the shipped fusion (or --fusion), says how many the shipped threshold flags there, and
writes a fusion with the same weights and thresholds set so that at most --fpr of these images' instance and series
scores exceed the `suspicious` threshold (--fpr / 10 for `tampered`), each moved up by --margin log-odds as the
shipped ones are. With --model, the site model is part of the score: scan with the same --model.

At least 2 / --fpr scores are needed (200 for 1%), and every file must be readable: an unreadable one is named and
nothing is written. Use the result with: radtrust scan --fusion FUSION.

Exit status: 0 written, 2 usage error or bad input (nothing is written)."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--authentic", nargs="+", required=True, metavar="INPUT", help="authentic files or folders")
    parser.add_argument("--out", required=True, metavar="FUSION", help="fusion file to write (JSON)")
    parser.add_argument("--fpr", type=float, default=0.01, help="false-alarm rate of the suspicious threshold "
                                                                "(default 0.01)")
    parser.add_argument("--margin", type=float, metavar="LOGODDS",
                        help="log-odds added to each threshold (default: the base fusion's, 1.0 as shipped)")
    parser.add_argument("--fusion", metavar="JSON", help="the fusion whose weights are kept (default: the shipped one)")
    parser.add_argument("--model", metavar="MODEL", help="a one-class site model (radtrust train) in the score")
    parser.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: one per core)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from radtrust.errors import InputError, UsageError
    from radtrust.forensics.fusion import Fusion
    from radtrust.forensics.scanner import Scanner
    from radtrust.forensics.site_thresholds import site_fusion
    from radtrust.io.atomic import refuse_overwrite

    if not 0.0 < args.fpr <= 0.5:
        raise UsageError(f"--fpr must be above 0 and at most 0.5, not {args.fpr}")
    if args.margin is not None and not 0.0 <= args.margin <= 5.0:
        raise UsageError(f"--margin must be 0-5 log-odds, not {args.margin}")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {args.jobs}")
    if args.model and not Path(args.model).exists():
        raise UsageError("model not found", args.model)
    if not Path(args.out).resolve().parent.is_dir():
        raise UsageError("output folder does not exist", args.out)
    refuse_overwrite([args.out], args.authentic, option="--out")
    base = Fusion.load(args.fusion) if args.fusion else None
    # copies off: which of a site's own files repeat each other is not what the thresholds are for
    scanner = Scanner(model=args.model, fusion=base, copies="off")
    scores: list[float] = []
    bad: list[dict] = []
    for rec in scanner.scan_paths(args.authentic, jobs=args.jobs):
        if rec["kind"] == "error":
            bad.append(rec)
            continue
        scores.append(scanner.fusion.score(rec["detectors"], scanner.extra))  # the forensic score, signatures aside
    for rec in bad[:-1]:
        print(f"radtrust: error: {rec['path']}: {rec['message']}", file=sys.stderr, flush=True)
    if bad:  # a threshold from part of the images is not the one asked for
        raise InputError(f"{bad[-1]['message']} ({len(bad)} file(s) unreadable: nothing written)", bad[-1]["path"])
    need = math.ceil(2.0 / args.fpr)
    if len(scores) < need:
        raise UsageError(f"{len(scores)} instance and series scores from --authentic: at least {need} are needed to "
                         f"set a threshold for --fpr {args.fpr:g}")
    result = site_fusion(scanner.fusion, scores, args.fpr, args.margin, model=args.model)
    result.fusion.save(args.out)
    if not args.quiet:
        print(result.describe())
        print(f"wrote {args.out}; use it with: radtrust scan --fusion {args.out}"
              + (f" --model {args.model}" if args.model else ""))
    return 0
