"""radtrust derive: make a derived image (anonymised, transcoded, cropped, lossy-compressed) with a new credential."""

from __future__ import annotations

import argparse
import os

from radtrust.cli.commands._credential_args import add_signer_options, load_signer, timestamper
from radtrust.cli.output import Reporter, add_format_option
from radtrust.errors import Error, InputError, VerificationError
from radtrust.io.files import read_side_file

NAME = "derive"
HELP = "derive an image (anonymize, transcode, crop, compress) and issue a credential that references its parent"
DESCRIPTION = HELP + """

The input's content credential is checked first (a tampered parent is refused, exit 1); the new
credential records the action, the tool, the time and the parent credential's hash, and keeps the
parent chain, so `radtrust verify --chain` can walk back to acquisition. PS3.15 signatures, which the
operation invalidates, are removed. Inputs are never modified; --out mirrors folder structure."""


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="operation", metavar="OPERATION", required=True)
    ops = {
        "anonymize": "de-identify (PS3.15 Annex E Basic Application Level Confidentiality Profile)",
        "transcode": "re-encode losslessly (pixels unchanged)",
        "crop": "crop every frame to a rectangle (geometry kept consistent)",
        "compress": "lossy JPEG 2000 compression (pixels change; the credential says so)",
    }
    for name, text in ops.items():
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("inputs", nargs="+", metavar="INPUT", help="DICOM files or folders")
        p.add_argument("--out", required=True, metavar="DIR", help="output folder (mirrors input paths)")
        p.add_argument("--sidecar", action="store_true", help="also write the credential bundle as FILE.radcred")
        add_signer_options(p)
        add_format_option(p)
        if name == "anonymize":
            p.add_argument("--pseudonym", help="PatientID and PatientName to set instead of empty values")
            p.add_argument("--uid-secret-file", metavar="FILE",
                           help="secret for consistent UID replacement across runs (default: random per run)")
        elif name == "transcode":
            from radtrust.provenance.derive.transcode import TARGETS

            p.add_argument("--to", required=True, choices=sorted(TARGETS), help="target transfer syntax")
        elif name == "crop":
            p.add_argument("--box", required=True, metavar="ROW,COL,HEIGHT,WIDTH", help="rectangle in pixels")
        elif name == "compress":
            p.add_argument("--ratio", type=float, default=10.0, help="target compression ratio (default 10)")


def _secret(path: str) -> bytes:
    secret = read_side_file(path, what="the UID secret")
    if not secret.strip():
        raise InputError("the UID secret file is empty", path)
    return secret


def _options(args: argparse.Namespace) -> dict[str, object]:
    if args.operation == "anonymize":
        secret = _secret(args.uid_secret_file) if args.uid_secret_file else os.urandom(32)
        return {"secret": secret, "pseudonym": args.pseudonym}
    if args.operation == "transcode":
        return {"target": args.to}
    if args.operation == "crop":
        from radtrust.provenance.derive.crop import parse_box

        return {"box": parse_box(args.box)}
    from radtrust.provenance.derive.compress import check_ratio

    return {"ratio": check_ratio(args.ratio)}


def run(args: argparse.Namespace) -> int:
    from radtrust.provenance.derive import OPERATIONS, derive_file
    from radtrust.provenance.signatures.batch import plan_outputs

    rep = Reporter(fmt=args.format, quiet=args.quiet)
    pairs = plan_outputs(args.inputs, args.out, in_place=False)
    signer, options, tsa = load_signer(args), _options(args), timestamper(args)
    for src, dst in pairs:
        try:  # the output folder is made by the atomic write, so a refused input leaves nothing behind
            bundle = derive_file(src, args.operation, signer, out=dst, sidecar=args.sidecar, timestamper=tsa,
                                 **options)
        except VerificationError as exc:
            rep.fail()
            rep.record({"kind": "derive", "path": str(src), "status": "refused", "reasons": exc.reasons},
                       f"{src}: refused: {exc.message}")
            continue
        except Error as exc:
            rep.error(exc, str(src))
            continue
        action = OPERATIONS[args.operation].action
        rep.record({"kind": "derive", "path": str(src), "out": str(dst), "status": "derived", "action": action,
                    "history_length": 1 + len(bundle.ancestors)},
                   f"{src} -> {dst}: {action}, credential issued (history of {1 + len(bundle.ancestors)} step(s))")
    return rep.exit_code()
