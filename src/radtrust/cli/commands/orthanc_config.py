"""radtrust orthanc-config: print the Orthanc configuration snippet that installs the radtrust plugin."""

from __future__ import annotations

import argparse
import json

NAME = "orthanc-config"
HELP = "print the Orthanc configuration that loads the radtrust plugin (verdicts on stored instances)"
DESCRIPTION = HELP + """

Merge the printed JSON into Orthanc's configuration (Debian: a file in /etc/orthanc/) and restart
Orthanc. Needs Debian's orthanc-python. Verdicts then appear at /radtrust/instances/{id} and
/radtrust/studies/{id}, as metadata RadTrustVerdict/RadTrustScore and as attachment RadTrust."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trust", action="append", default=[], metavar="CA_PEM",
                        help="trust anchor for signature verification (repeatable)")
    parser.add_argument("--model", metavar="MODEL", help="one-class site model for the scan")
    parser.add_argument("--verify-only", action="store_true", help="verify signatures only, no forensic scan")
    parser.add_argument("--filter-incoming", action="store_true",
                        help="refuse incoming C-STOREs whose signature is broken")
    parser.add_argument("--no-results", action="store_true", help="do not store SR/SEG objects in Orthanc")
    parser.add_argument("--pixel-index", metavar="FILE",
                        help="keep a fingerprint of every analysed instance's pixels in FILE (SQLite, writable by "
                             "Orthanc) and compare each new instance with them: one stored again under new UIDs for "
                             "another patient, or edited, is flagged")
    parser.add_argument("--pixel-memory-days", type=float, metavar="DAYS",
                        help="forget fingerprints older than DAYS (with --pixel-index; default: keep them all)")
    parser.add_argument("--plugin", default=None, metavar="SO", help="path of libOrthancPython.so")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from radtrust.errors import InputError, UsageError
    from radtrust.services.orthanc import orthanc_config
    from radtrust.services.orthanc.config import PYTHON_PLUGIN

    for path in [*args.trust, *([args.model] if args.model else []), *([args.plugin] if args.plugin else [])]:
        if not Path(path).is_file():
            raise InputError("file not found", path)
    if args.trust:  # what the plugin would fail on at Orthanc's start, said now
        from radtrust.provenance.signatures import load_certificates

        for path in args.trust:
            load_certificates(path)
    if args.model:
        from radtrust.forensics.oneclass.model import SiteModel

        SiteModel.load(args.model)
    if args.pixel_index and not Path(args.pixel_index).resolve().parent.is_dir():
        raise InputError("folder not found", args.pixel_index)
    if args.pixel_index:
        from radtrust.forensics.pixel_store import check_index  # read only: Orthanc, not this user, writes it

        check_index(args.pixel_index)
    if args.pixel_memory_days is not None and (not args.pixel_index or not args.pixel_memory_days > 0):
        raise UsageError("--pixel-memory-days needs --pixel-index and a positive number of days")

    cfg = orthanc_config(trust=args.trust, model=args.model, scan=not args.verify_only,
                         filter_incoming=args.filter_incoming, store_results=not args.no_results,
                         pixel_index=args.pixel_index, pixel_memory_days=args.pixel_memory_days,
                         plugin=args.plugin or PYTHON_PLUGIN)
    print(json.dumps(cfg, indent=2))
    return 0
