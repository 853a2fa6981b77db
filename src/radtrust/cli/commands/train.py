"""radtrust train: learn a one-class site model from authentic images only (issue 7)."""

from __future__ import annotations

import argparse
import os
import sys

NAME = "train"
HELP = "learn a one-class site model (noise texture, CT noise model, detector fingerprints) from authentic images"
DESCRIPTION = HELP + """

INPUT may be files or folders (searched recursively); every image must be authentic. Images are grouped by
modality plus --group-by fields (default manufacturer,model,kernel); each group gets PaDiM-style Gaussians over
noise-residual and spectral patch features (2D, plus 3D with the residual along z for CT series). CT slices with
kVp, mAs, kernel and thickness fit the site's acquisition-to-noise model; radiographs with a detector serial and at
least 8 images of one size give that detector's fixed-pattern fingerprint.

The model file holds statistics only (no pixels, no identifiers; detector serials are stored as SHA-256), is
versioned, and loads without executing anything from the file. Use it with: radtrust scan --model MODEL.

Exit status: 0 trained, 2 usage error or bad input (nothing is written)."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--authentic", nargs="+", required=True, metavar="INPUT", help="authentic files or folders")
    parser.add_argument("--out", required=True, metavar="MODEL", help="model file to write (.npz archive)")
    parser.add_argument("--group-by", metavar="FIELDS", default="manufacturer,model,kernel",
                        help="comma-separated acquisition fields that define a group (default: manufacturer,model,"
                             "kernel; '' = modality only)")
    parser.add_argument("--epochs", type=int, default=1, metavar="N",
                        help="passes over the data; each extra pass adds windows on a randomly shifted grid "
                             "(default 1)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (window sampling, grid shifts); default 0")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), metavar="N",
                        help="worker processes for reading and featurising radiographs (default: 2 or the core "
                             "count); the model does not depend on it")
    parser.add_argument("--max-windows", type=int, default=2048, metavar="N",
                        help="windows sampled per image and pass for fitting (default 2048)")


def run(args: argparse.Namespace) -> int:
    from radtrust.errors import UsageError
    from radtrust.forensics.oneclass import TrainOptions, train
    from radtrust.forensics.oneclass.groups import parse_group_by
    from radtrust.io.atomic import refuse_overwrite

    if args.epochs < 1:
        raise UsageError("--epochs must be at least 1")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.max_windows < 16:
        raise UsageError("--max-windows must be at least 16")
    refuse_overwrite([args.out], args.authentic, option="--out")  # the model never replaces a training image
    opts = TrainOptions(group_by=parse_group_by(args.group_by), epochs=args.epochs, seed=args.seed,
                        max_windows=args.max_windows, jobs=args.jobs)
    progress = None if args.quiet else (lambda msg: print(f"radtrust train: {msg}", file=sys.stderr, flush=True))
    model = train(args.authentic, options=opts, progress=progress)
    path = model.save(args.out)
    if not args.quiet:
        for g in model.describe()["groups"]:
            print(f"group {g['key']}: {g['images']} image(s), {g['series']} series, {'+'.join(g['dims'])}")
        print(f"wrote {path}")
    return 0
