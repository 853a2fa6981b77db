"""radtrust unsign: remove one or all digital signatures from DICOM files."""

from __future__ import annotations

import argparse

from radtrust.cli.output import Reporter, add_format_option
from radtrust.errors import Error
from radtrust.io.atomic import write_atomic
from radtrust.provenance.signatures import _rawdicom as raw
from radtrust.provenance.signatures.batch import plan_outputs
from radtrust.provenance.signatures.sign import unsign_bytes

NAME = "unsign"
HELP = "remove digital signatures (one by UID, or all) from DICOM files"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="DICOM files or folders")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--uid", help="Digital Signature UID to remove")
    which.add_argument("--all", action="store_true", help="remove every signature")
    out = parser.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", metavar="DIR", help="write copies here")
    out.add_argument("--in-place", action="store_true", help="replace the inputs (atomically)")
    add_format_option(parser)


def run(args: argparse.Namespace) -> int:
    rep = Reporter(fmt=args.format, quiet=args.quiet)
    for src, dst in plan_outputs(args.inputs, args.out, args.in_place):
        try:
            data, removed = unsign_bytes(raw.read_bytes(src), None if args.all else args.uid, path=src)
            write_atomic(dst, data)
        except Error as exc:
            rep.error(exc, str(src))
            continue
        rep.record({"kind": "unsigned", "path": str(src), "output": str(dst), "removed": removed},
                   f"{src} -> {dst}: removed {removed} signature(s)")
    return rep.exit_code()
