"""radtrust simulate: make tampered images (CT-GAN style) for evaluating and training detectors only."""

from __future__ import annotations

import argparse
from pathlib import Path

from radtrust.cli.output import Reporter
from radtrust.errors import InputError, NotApplicable, UsageError

NAME = "simulate"
HELP = "make tampered images with ground-truth masks, for evaluating and training detectors only"
DESCRIPTION = HELP + """

  radtrust simulate METHOD INPUT --out DIR [--seed N] [--at z,y,x] [--size MM] [--antiforensics SPEC]
  radtrust simulate dataset --authentic PATH... --out BENCH [--methods all] [--per-image N] [--seed N]
  radtrust simulate train-inpainter --authentic PATH... --out WEIGHTS
  radtrust simulate list

INPUT is a DICOM file (2D), a folder holding one DICOM series (CT volume), a NIfTI volume or a picture.
Writes DIR/NAME.dcm (or the series folder DIR/NAME/), DIR/NAME.mask.npy (True where anything changed)
and DIR/NAME.json. Only the JSON sidecar says the image is synthetic; the DICOM keeps its headers (UIDs
too, unless --new-uids). The same --seed gives the same bytes."""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def configure(parser: argparse.ArgumentParser) -> None:
    from radtrust.simulation.methods import METHODS

    sub = parser.add_subparsers(dest="sim_command", metavar="METHOD|dataset|train-inpainter|list")
    for spec in METHODS.values():
        p = sub.add_parser(spec.name, help=spec.help, description=spec.help)
        p.add_argument("input", metavar="INPUT", help="DICOM file, series folder, NIfTI volume or picture")
        _common(p)
        p.add_argument("--at", help="where: z,y,x for a volume or y,x for an image (voxel indices)")
        p.add_argument("--size", type=float, metavar="MM", help="lesion/region size in mm (diameter)")
        p.add_argument("--antiforensics", default="random", metavar="SPEC",
                       help="none, all, random (default) or a comma list of copy|synth,histmatch,requantise,resample,"
                            "scan (CT: the whole scan rescaled to 1 mm and back, as CT-GAN's code does)")
        if spec.name == "ct-inject-nodule":
            p.add_argument("--kind", choices=("solid", "part-solid", "ground-glass", "spiculated"))
        p.add_argument("--donor", help="donor image for splice/identity swap (another patient)")
        p.add_argument("--name", help="output name (default: INPUT name + method)")
        p.add_argument("--new-uids", action="store_true", help="give the result new SOP Instance and Series Instance UIDs")
        p.add_argument("--syntax", choices=("keep", "explicit"), default="keep",
                       help="transfer syntax: keep the input's (default) or Explicit VR Little Endian")
        p.set_defaults(sim_method=spec.name)
    d = sub.add_parser("dataset", help="build a benchmark folder from authentic images")
    d.add_argument("--authentic", nargs="+", required=True, metavar="PATH", help="authentic files or folders")
    _common(d)
    d.add_argument("--methods", default="all", help="'all' or a comma list of methods and the groups 'pixels' (the "
                   "development pixel methods) and 'holdout' (the held-out ones, which 'all' never draws), e.g. "
                   "'pixels,holdout' (default all)")
    d.add_argument("--per-image", type=int, default=2, help="tampered copies per authentic item (default 2)")
    d.add_argument("--split-by", choices=("patient", "series"), default="patient")
    d.add_argument("--slab", type=int, default=16, help="slices per CT item (default 16)")
    d.add_argument("--max-2d", type=int, help="keep at most this many 2D items (one per patient first)")
    d.add_argument("--max-side", type=int, help="reduce PNG/JPEG pictures whose longer side exceeds this")
    d.add_argument("--test-fraction", type=float, default=0.5)
    d.add_argument("--syntax", choices=("keep", "explicit"), default="explicit",
                   help="transfer syntax of every written image (default explicit: uncompressed)")
    t = sub.add_parser("train-inpainter", help="train the learned in-painter (needs the torch extra)")
    t.add_argument("--authentic", nargs="+", metavar="PATH", help="authentic CT volumes and radiographs")
    t.add_argument("--out", type=Path, help="weights file (default: the shipped radtrust/data/inpainter.pt)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--steps", type=int, default=3000)
    t.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    t.add_argument("--ct-samples", type=int, default=600, help="CT training cubes (default 600)")
    t.add_argument("--xr-samples", type=int, default=1500, help="radiograph training patches (default 1500)")
    t.add_argument("--batch3d", type=int, default=32)
    t.add_argument("--batch2d", type=int, default=64)
    t.add_argument("--prepare-only", metavar="NPZ", help="only write the training patches to NPZ")
    t.add_argument("--from-data", metavar="NPZ", help="train from patches written by --prepare-only")
    sub.add_parser("list", help="list the methods")


def _coords(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--at must be comma-separated integers, got {text!r}") from None


def _methods(text: str) -> list[str] | None:
    """The methods ``--methods`` names: ``all`` (None: every method but the held-out ones), or a comma list of
    method names and the groups ``pixels`` (the development pixel methods) and ``holdout`` (the held-out pixel
    methods), in the order given, each once."""
    from radtrust.simulation.dataset import DEFAULT_EXCLUDED
    from radtrust.simulation.methods import METHODS

    if text.strip() == "all":
        return None
    groups = {"holdout": [m for m in DEFAULT_EXCLUDED if METHODS[m].kind == "pixels"],
              "pixels": [m for m, s in METHODS.items() if s.kind == "pixels" and m not in DEFAULT_EXCLUDED]}
    names = [m.strip() for m in text.split(",") if m.strip()]
    return list(dict.fromkeys(n for name in names for n in groups.get(name, [name])))


def _check_dataset(args: argparse.Namespace) -> None:
    """The dataset options that would make an empty or lopsided benchmark (or none at all)."""
    if args.per_image < 1:
        raise UsageError(f"--per-image must be at least 1, not {args.per_image}")
    if args.slab < 1:
        raise UsageError(f"--slab must be at least 1, not {args.slab}")
    if not 0.0 < args.test_fraction < 1.0:
        raise UsageError(f"--test-fraction must be between 0 and 1, not {args.test_fraction}")
    for option, value in (("--max-2d", args.max_2d), ("--max-side", args.max_side)):
        if value is not None and value < 1:
            raise UsageError(f"{option} must be at least 1, not {value}")
    if args.methods.strip() != "all" and not _methods(args.methods):
        raise UsageError(f"--methods names no method: {args.methods!r}")


def run(args: argparse.Namespace) -> int:
    rep = Reporter(quiet=args.quiet)
    cmd = getattr(args, "sim_command", None)
    if cmd is None:
        raise UsageError("say what to simulate: a METHOD, dataset, train-inpainter or list (radtrust simulate -h)")
    if cmd == "list":
        from radtrust.simulation.methods import METHODS

        for spec in METHODS.values():
            held = " (held out: never drawn by 'dataset --methods all')" if spec.held_out else ""
            rep.record({"method": spec.name, "applies": spec.applies, "kind": spec.kind, "held_out": spec.held_out},
                       f"{spec.name:26s} {spec.applies:4s} {spec.help}{held}")
        return 0
    if cmd == "dataset":
        from radtrust.simulation.dataset import build, iter_summary

        _check_dataset(args)
        rows = build(args.authentic, args.out, methods=_methods(args.methods), per_image=args.per_image,
                     seed=args.seed, split_by=args.split_by, slab=args.slab, max_2d=args.max_2d,
                     test_fraction=args.test_fraction, syntax=args.syntax, max_side=args.max_side)
        rep.record({}, f"wrote {args.out}/labels.csv: {len(rows)} images\n" + "\n".join(iter_summary(rows)))
        return 0
    if cmd == "train-inpainter":
        from radtrust.simulation.inpainter_train import train_cli

        return train_cli(args, rep)
    from radtrust.io.atomic import refuse_overwrite
    from radtrust.simulation import AntiForensics, load_target, simulate, write_result
    from radtrust.simulation.simulate import result_paths

    if args.name is not None and (not args.name.strip() or args.name in (".", "..")
                                  or any(c in args.name for c in "/\\\0")):
        raise UsageError(f"--name must be a plain file name (no folder, no '..'), not {args.name!r}")
    if args.size is not None and not args.size > 0:
        raise UsageError(f"--size must be a positive size in mm, not {args.size}")
    target = load_target(args.input)
    name = args.name or f"{target.name}_{args.sim_method}"
    inputs = [args.input, *([args.donor] if args.donor else [])]
    planned = result_paths(args.out, name, target.pixels.ndim)
    image = planned["image"]
    refuse_overwrite(planned.values(), inputs, option="--out/--name")
    if any(Path(p).resolve().is_relative_to(image.resolve()) for p in inputs):  # a series folder written over its input
        raise UsageError("--out/--name would replace an input file; write it elsewhere", image)
    donor = load_target(args.donor) if args.donor else None
    try:
        af = AntiForensics.parse(args.antiforensics)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    options = {"kind": args.kind} if getattr(args, "kind", None) else {}
    try:
        result = simulate(args.sim_method, target, args.seed, donor=donor, at=_coords(args.at), size_mm=args.size,
                          antiforensics=af, **options)
    except NotApplicable as exc:
        raise InputError(exc.message, args.input) from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    paths = write_result(result, target, args.out, name, seed=args.seed, syntax=args.syntax, new_uids=args.new_uids)
    rescaled = "; every voxel then rescaled with the whole scan" if "whole_scan_rescaled_mm" in result.params else ""
    rep.record({k: str(v) for k, v in paths.items()},
               f"{args.sim_method}: wrote {paths['image']} (mask {paths['mask'].name}, {int(result.mask.sum())} "
               f"voxels changed{rescaled}; sidecar {paths['sidecar'].name})")
    return 0
