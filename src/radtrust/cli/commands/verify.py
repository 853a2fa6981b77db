"""radtrust verify: check every PS3.15 digital signature, its certificate path, signing time and the coverage policy."""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import sys
from typing import Any

from radtrust.cli.output import Reporter, add_format_option
from radtrust.errors import Error, UsageError
from radtrust.provenance.signatures.batch import TrustSpec, default_jobs, map_files
from radtrust.provenance.signatures.policy import default_policy
from radtrust.provenance.signatures.verify import VerificationResult, examine_file
from radtrust.provenance.credential.ps315 import credential_text, credential_verify_job, overall_ok

NAME = "verify"
HELP = "verify DICOM digital signatures: MAC, certificate chain, signing time, revocation, coverage policy"
DESCRIPTION = HELP + """

Fails closed: exit 0 only when every file is valid (1: a file is invalid, untrusted, unsigned or fails the policy;
2: bad input). Status per file: valid | invalid | untrusted | unsigned | policy-failed | error.
The default policy forbids MD5/SHA-1 MACs and requires Pixel Data, patient identity, UIDs, rescale, spacing and
acquisition parameters (when present) to be covered; print it with --print-policy, edit, pass with --policy.
Content credentials are checked too (jsonl key "credential"): a file whose signature is absent or was broken only
by re-encoding passes when its credential is valid and trusted; --chain walks its chain of custody back to
acquisition and prints the history."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="DICOM files or folders")
    parser.add_argument("--trust", action="append", default=[], metavar="CA_PEM", help="trust anchor certificates")
    parser.add_argument("--intermediate", action="append", default=[], metavar="PEM",
                        help="untrusted intermediate CA certificates (signer and TSA paths)")
    parser.add_argument("--crl", action="append", default=[], metavar="FILE", help="CRLs (PEM or DER)")
    parser.add_argument("--policy", metavar="FILE", help="JSON verification policy")
    parser.add_argument("--at", metavar="ISO_TIME", help="verify as of this time (default: now)")
    parser.add_argument("--print-policy", action="store_true", help="print the default policy as JSON and exit")
    parser.add_argument("--chain", action="store_true",
                        help="content credential: walk the chain of custody back to acquisition and print it")
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="worker processes (default: all cores)")
    add_format_option(parser)


def verify_job(cfg: Any, path: Any) -> VerificationResult:
    return examine_file(path, cfg)


def _text(r: VerificationResult) -> str:
    lines = [f"{r.path}: {r.status.upper()}"]
    for s in r.signatures:
        when = f"timestamp {s.timestamp}" if s.timestamp else f"claimed {s.time}"
        lines.append(f"  {s.result}: {s.algorithm or '?'}/{s.mac or '?'} by {s.signer or '?'} ({when})"
                     f"{' in ' + s.location if s.location else ''}, {len(s.covered)} elements"
                     f"{', profiles ' + ','.join(s.profiles) if s.profiles else ''}; uid {s.uid}")
    lines += [f"  reason: {why}" for why in r.reasons]
    return "\n".join(lines)


def _at(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    if not text.strip():  # not "now": a script whose time variable came out empty
        raise UsageError("--at is empty: give an ISO time, or leave it out to verify as of now")
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--at: not an ISO time: {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def run(args: argparse.Namespace) -> int:
    if args.print_policy:
        print(json.dumps(default_policy().to_dict(), indent=2))
        return 0
    if not args.inputs:
        raise UsageError("give at least one INPUT")
    if not args.trust:
        raise UsageError("give at least one --trust CA certificate")
    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {args.jobs}")
    from radtrust.io import iter_files

    rep = Reporter(fmt=args.format, quiet=args.quiet)
    spec = TrustSpec(tuple(args.trust), tuple(args.intermediate), tuple(args.crl), args.policy, _at(args.at))
    spec.load()  # bad trust/policy files fail once, up front
    paths = list(iter_files(args.inputs))
    job = functools.partial(credential_verify_job, custody=args.chain)
    for path, res in zip(paths, map_files(job, spec, paths, args.jobs)):
        if isinstance(res, Error):
            rep.bad_inputs += 1
            rep.record({"path": str(path), "sop_instance_uid": None, "status": "error", "signatures": [],
                        "reasons": [res.message]})
            print(f"radtrust: error: {res}", file=sys.stderr)
            continue
        if not overall_ok(res):
            rep.fail()
        rep.record(res.to_dict(), _text(res) + credential_text(res, history=args.chain))
    return rep.exit_code()
