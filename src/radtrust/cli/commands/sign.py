"""radtrust sign: add PS3.15 digital signatures to DICOM files (DCMTK-compatible)."""

from __future__ import annotations

import argparse

from radtrust.cli.commands._keyopts import add_key_options, signer_spec
from radtrust.cli.output import Reporter, add_format_option
from radtrust.errors import Error, InputError, UsageError
from radtrust.io.files import read_side_file
from radtrust.provenance.credential.ps315 import credential_sign_job
from radtrust.provenance.signatures._elements import parse_tag
from radtrust.provenance.signatures.batch import default_jobs, map_files, plan_outputs
from radtrust.provenance.signatures.mac_stream import MAC_ALGORITHMS
from radtrust.provenance.signatures.profiles import PROFILES
from radtrust.provenance.signatures.sign import describe_created, sign_job
from radtrust.provenance.signatures.timestamp import TsaClient

NAME = "sign"
HELP = "sign DICOM files with PS3.15 digital signatures (verifiable by DCMTK dcmsign)"
DESCRIPTION = HELP + """

INPUT may be files or folders (recursive); --out mirrors their relative paths. Existing signatures are kept.
Passwords and PINs come from --password-env, --password-file or a prompt, never from the command line.
Example:
  radtrust sign samples/ct --key pki/signer.key --cert pki/signer.pem --profile base --out signed/"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="DICOM files or folders")
    add_key_options(parser)
    parser.add_argument("--profile", choices=list(PROFILES), default="none",
                        help="PS3.15 signature profile (default: none; ECDSA keys need none)")
    parser.add_argument("--mac", choices=list(MAC_ALGORITHMS), default="sha256", help="MAC algorithm (default sha256)")
    parser.add_argument("--tags", metavar="FILE", help="sign only these attributes (one keyword or gggg,eeee a line)")
    parser.add_argument("--item", metavar="LOC", help='sign a sequence item, e.g. "ReferencedImageSequence[0]"')
    parser.add_argument("--tsa", metavar="URL", help="RFC 3161 Time-Stamp Authority to timestamp each signature")
    parser.add_argument("--purpose", type=int, metavar="1..18",
                        help="signature purpose code (ASTM E1762, as dcmsign +sp): 1 author, 5 verification, ...")
    parser.add_argument("--no-credential", action="store_true",
                        help="do not issue a content credential beside the signature (see radtrust credential)")
    out = parser.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", metavar="DIR", help="write signed copies here")
    out.add_argument("--in-place", action="store_true", help="replace the inputs (atomically)")
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="worker processes (default: all cores)")
    add_format_option(parser)


def _read_tags(path: str) -> list[int]:
    try:
        lines = read_side_file(path).decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputError("not a text file (one keyword or gggg,eeee a line)", path) from None
    tags = []
    for number, line in enumerate(lines, 1):
        text = line.split("#")[0]
        if text.strip():
            try:
                tags.append(parse_tag(text))
            except UsageError as exc:
                raise InputError(f"line {number}: {exc.message}", path) from None
    if not tags:
        raise InputError("lists no attributes to sign", path)
    return tags


def run(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {args.jobs}")
    rep = Reporter(fmt=args.format, quiet=args.quiet)
    spec = signer_spec(args)
    pairs = plan_outputs(args.inputs, args.out, args.in_place)
    options = {"mac": args.mac, "profile": args.profile, "item": args.item,
               "tags": _read_tags(args.tags) if args.tags else None,
               "timestamper": TsaClient(args.tsa) if args.tsa else None, "purpose": args.purpose}
    jobs = 1 if str(args.key).startswith("pkcs11:") else args.jobs
    job = sign_job if args.no_credential else credential_sign_job
    results = map_files(job, spec, [(src, dst, options) for src, dst in pairs], jobs)
    for (src, dst), res in zip(pairs, results):
        if isinstance(res, Error):
            rep.error(res, str(src))
            continue
        rep.record({"kind": "signed", "path": str(src), "output": str(dst), "uid": res.uid, "mac": res.mac,
                    "profile": res.profile, "location": res.location, "elements": len(res.signed_tags),
                    "timestamped": res.timestamped, "credential": not args.no_credential},
                   f"{src} -> {dst}: {describe_created(res)}" + ("" if args.no_credential else " + content credential"))
    return rep.exit_code()
