"""radtrust credential: issue, verify, show and export content credentials (binding + chain of custody)."""

from __future__ import annotations

import argparse
from typing import Any

from radtrust.cli.commands._credential_args import (add_signer_options, add_trust_options, load_signer, load_trust,
                                                    timestamper)
from radtrust.cli.output import Reporter, add_format_option
from radtrust.provenance.credential.custody import history_lines
from radtrust.errors import Error, VerificationError

NAME = "credential"
HELP = "content credentials that survive lossless re-encoding: issue, verify, show, export to C2PA"
DESCRIPTION = HELP + """

A content credential binds the decoded pixel values (a hash per frame) and the critical metadata
(identity, UIDs, geometry, rescale, acquisition parameters and time) in a COSE_Sign1 signed manifest,
with the history of every step the image went through. It is stored in a private block inside the
DICOM file and travels through any lossless transcoding. See docs/credential-format.md."""


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser("show", help="print the credential history of files (verified when --trust is given; "
                                    "exit 1 if a credential is invalid or untrusted)")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    add_trust_options(p, required=False)
    add_format_option(p)

    p = sub.add_parser("verify", help="verify content credentials (exit 1 unless every file is valid and trusted)")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("--chain", action="store_true", help="walk the chain of custody back to acquisition and print it")
    add_trust_options(p)
    add_format_option(p)

    p = sub.add_parser("issue", help="issue a credential (default action: acquired) without a PS3.15 signature")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (mirrors input paths)")
    from radtrust.provenance.credential.manifest import ACTIONS

    p.add_argument("--action", default="acquired", choices=list(ACTIONS), help="the action to record (default: acquired)")
    p.add_argument("--sidecar", action="store_true", help="also write FILE.radcred")
    add_signer_options(p)
    add_format_option(p)

    p = sub.add_parser("export", help="export the credential of a file as a C2PA manifest store (sidecar)")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("--c2pa", action="store_true", required=True, help="write FILE.c2pa (C2PA manifest store)")
    p.add_argument("--out", metavar="DIR", help="folder for the .c2pa files (default: beside each input)")
    add_signer_options(p)
    add_format_option(p)


def _report_text(path: str, report: dict[str, Any], *, history: bool, trusted: bool) -> str:
    status = report["status"]
    if status == "valid":
        head = "content credential valid" + ("" if trusted else " (integrity only: no --trust, signers not checked)")
        lines = [f"{path}: {head}: {report['summary']}"]
    else:
        lines = [f"{path}: content credential {status}"] + [f"  - {r}" for r in report["reasons"]]
    if history and report["history"]:
        lines.append("  history:")
        lines += history_lines(report["history"])
    return "\n".join(lines)


def _check(args: argparse.Namespace, *, require: bool) -> int:
    from radtrust.io import iter_files, read_dataset
    from radtrust.provenance.credential.verify import CredentialError, cross_reference, verify_dataset

    rep = Reporter(fmt=args.format, quiet=args.quiet)
    kwargs = load_trust(args)
    walk_chain = args.subcommand == "verify" and args.chain
    outcomes: list[tuple[str, Any]] = []
    for path in iter_files(args.inputs):
        try:
            ds = read_dataset(path)
            outcomes.append((str(path), verify_dataset(ds, path, require_acquisition=walk_chain,
                                                       **kwargs)))
        except CredentialError as exc:
            outcomes.append((str(path), exc))
        except Error as exc:
            rep.error(exc, str(path))
    notes = cross_reference(outcomes)  # slices swapped between the files checked together
    for path, outcome in outcomes:
        report = outcome.to_json()
        report["reasons"] = report["reasons"] + notes.get(path, [])
        if report["status"] != "valid" and (require or report["status"] != "absent"):
            rep.fail()  # show: an invalid or untrusted credential fails too; only verify requires one
        show_history = args.subcommand == "show" or walk_chain or report["status"] != "valid"
        rep.record({"kind": "credential", "path": path, "credential": report},
                   _report_text(path, report, history=show_history, trusted=kwargs["trust"] is not None))
    return rep.exit_code()


def _issue(args: argparse.Namespace) -> int:
    from radtrust.provenance.credential.issue import issue_file
    from radtrust.provenance.signatures.batch import plan_outputs

    rep = Reporter(fmt=args.format, quiet=args.quiet)
    signer, tsa = load_signer(args), timestamper(args)
    for src, dst in plan_outputs(args.inputs, args.out, in_place=False):
        try:  # the output folder is made by the atomic write
            bundle = issue_file(src, signer, out=dst, action=args.action, sidecar=args.sidecar, timestamper=tsa)
        except (Error, ValueError) as exc:
            rep.error(exc if isinstance(exc, Error) else Error(str(exc), src), str(src))
            continue
        rep.record({"kind": "credential-issued", "path": str(src), "out": str(dst), "action": args.action,
                    "history_length": 1 + len(bundle.ancestors)}, f"{src} -> {dst}: credential issued ({args.action})")
    return rep.exit_code()


def _export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from radtrust.io import iter_files
    from radtrust.provenance.credential.c2pa_export import export_c2pa

    rep = Reporter(fmt=args.format, quiet=args.quiet)
    signer = load_signer(args)
    timestamper(args)  # a --tsa that is no http(s) URL is refused before any file is read
    for path in iter_files(args.inputs):
        target = (Path(args.out) / (path.name + ".c2pa")) if args.out else Path(str(path) + ".c2pa")
        try:
            export_c2pa(path, target, signer, tsa_url=args.tsa)
        except VerificationError as exc:
            rep.fail()
            rep.record({"kind": "c2pa-export", "path": str(path), "status": "refused", "reasons": exc.reasons},
                       f"{path}: {exc.message}")
            continue
        except Error as exc:
            rep.error(exc, str(path))
            continue
        rep.record({"kind": "c2pa-export", "path": str(path), "out": str(target)},
                   f"{path} -> {target}: C2PA manifest store written")
    return rep.exit_code()


def run(args: argparse.Namespace) -> int:
    if args.subcommand == "show":
        return _check(args, require=False)
    if args.subcommand == "verify":
        return _check(args, require=True)
    if args.subcommand == "issue":
        return _issue(args)
    return _export(args)
