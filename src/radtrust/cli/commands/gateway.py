"""radtrust gateway: the DICOM gateway in front of the PACS, and `radtrust gateway status`."""

from __future__ import annotations

import argparse
import sys

from radtrust.cli.output import Reporter, add_format_option
from radtrust.errors import UsageError

NAME = "gateway"
HELP = "run the DICOM gateway (C-STORE SCP) that verifies and scans instances before the PACS"
DESCRIPTION = HELP + """

  radtrust gateway --ae-title RADTRUST --port 11112 --forward PACS@pacs.example:104 --spool /var/spool/radtrust
  radtrust gateway status --spool /var/spool/radtrust
  radtrust gateway release --spool /var/spool/radtrust SOP_INSTANCE_UID...

Every received instance is written durably to the spool before success is returned, then verified
(--trust) and scanned, then forwarded with C-STORE (retries with backoff while the PACS is down).
Flagged instances (suspicious, tampered, analysis error) follow --on-suspicious. Per study, a
Comprehensive SR and a fractional SEG with the heatmap are sent to the PACS once the study is quiet.
A restart resumes the queue; nothing is lost or forwarded twice."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ae-title", default="RADTRUST", help="the gateway's AE title (default RADTRUST)")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default all)")
    parser.add_argument("--port", type=int, default=11112, help="port to listen on (0 = any free port)")
    parser.add_argument("--forward", metavar="AET@HOST:PORT", help="the PACS to forward to")
    parser.add_argument("--spool", metavar="DIR", help="spool directory (queue, quarantine, results)")
    parser.add_argument("--trust", action="append", default=[], metavar="CA_PEM",
                        help="trust anchor for signature verification (repeatable)")
    parser.add_argument("--model", metavar="MODEL", help="one-class site model for the scan")
    parser.add_argument("--on-suspicious", choices=["quarantine", "forward-flagged", "reject"], default="quarantine",
                        help="policy for flagged instances (default quarantine)")
    parser.add_argument("--verify-only", action="store_true", help="verify signatures, do not run the forensic scan")
    parser.add_argument("--no-pixel-memory", action="store_true",
                        help="do not keep a fingerprint of every instance's pixels (it finds an instance re-sent under "
                             "new UIDs for another patient, or edited; it costs one decode per instance)")
    parser.add_argument("--pixel-index", metavar="FILE",
                        help="keep the fingerprints in FILE instead of the spool: one seeded by `radtrust scan "
                             "ARCHIVE --pixel-index FILE`, so instances are compared with the archive too")
    parser.add_argument("--pixel-memory-days", type=float, metavar="DAYS",
                        help="forget fingerprints older than DAYS (checked hourly; default: keep them all, about "
                             "1.7 KB per instance)")
    parser.add_argument("--workers", type=int, default=2, help="analysis threads (default 2)")
    parser.add_argument("--forward-associations", type=int, default=2, metavar="N",
                        help="concurrent associations to the PACS (default 2)")
    parser.add_argument("--stable-age", type=float, default=30.0, metavar="S",
                        help="a study is reported after S seconds without new instances (default 30)")
    parser.add_argument("--no-reports", action="store_true", help="do not send SR/SEG results to the PACS")
    parser.add_argument("--tls-cert", metavar="PEM", help="the gateway's TLS certificate (DICOM TLS)")
    parser.add_argument("--tls-key", metavar="PEM", help="its private key")
    parser.add_argument("--tls-ca", metavar="PEM", help="CA that modality (and PACS) certificates must chain to")
    parser.add_argument("--forward-tls", action="store_true", help="use TLS to the PACS too (verified with --tls-ca)")
    sub = parser.add_subparsers(dest="gateway_command", metavar="status|release")
    st = sub.add_parser("status", help="show the queue, the quarantine and recent verdicts")
    st.add_argument("--spool", dest="status_spool", metavar="DIR", help="spool directory")
    st.add_argument("--recent", type=int, default=20, help="how many recent verdicts (default 20)")
    add_format_option(st)
    rel = sub.add_parser("release", help="send quarantined instances on to the PACS after review")
    rel.add_argument("uids", nargs="+", metavar="SOP_INSTANCE_UID")
    rel.add_argument("--spool", dest="status_spool", metavar="DIR", help="spool directory")
    add_format_option(rel)


def _status(args: argparse.Namespace) -> int:
    from radtrust.services.gateway import format_status, gateway_status

    spool = args.status_spool or args.spool
    if not spool:
        raise UsageError("gateway status needs --spool DIR")
    if args.recent < 0:
        raise UsageError(f"--recent must be 0 or more, not {args.recent}")
    s = gateway_status(spool, recent=args.recent)
    Reporter(fmt=args.format, quiet=args.quiet).record(s, format_status(s))
    return 0


def _release(args: argparse.Namespace) -> int:
    from radtrust.services.gateway.quarantine import release

    spool = args.status_spool or args.spool
    if not spool:
        raise UsageError("gateway release needs --spool DIR")
    rep = Reporter(fmt=args.format, quiet=args.quiet)
    for r in release(spool, args.uids):
        rep.record(r, f"{r['sop_instance_uid']}: " + ("released" if r["released"] else r["reason"]))
        if not r["released"]:
            rep.fail()
    return rep.exit_code()


def run(args: argparse.Namespace) -> int:
    if args.gateway_command == "status":
        return _status(args)
    if args.gateway_command == "release":
        return _release(args)
    from pathlib import Path

    from radtrust.services.gateway import Destination, GatewayConfig, Policy, run_gateway
    from radtrust.services.gateway.tls import client_context, server_context

    if not args.forward or not args.spool:
        raise UsageError("the gateway needs --forward AET@HOST:PORT and --spool DIR")
    if len(args.ae_title) > 16 or not args.ae_title.strip():
        raise UsageError(f"--ae-title must be 1 to 16 characters, not {args.ae_title!r}")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0 to 65535, not {args.port}")
    forward = Destination.parse(args.forward)
    if not 1 <= forward.port <= 65535:
        raise UsageError(f"--forward port must be 1 to 65535, not {forward.port}")
    for option, value in (("--workers", args.workers), ("--forward-associations", args.forward_associations)):
        if value < 1:
            raise UsageError(f"{option} must be at least 1, not {value}")
    if not 0 <= args.stable_age < float("inf"):
        raise UsageError(f"--stable-age must be a number of seconds, 0 or more, not {args.stable_age}")
    if Path(args.spool).exists() and not Path(args.spool).is_dir():
        raise UsageError("--spool must be a folder (the gateway's queue, quarantine and results go there)", args.spool)
    if args.pixel_index and args.no_pixel_memory:
        raise UsageError("--pixel-index and --no-pixel-memory contradict each other")
    if args.pixel_index and not Path(args.pixel_index).resolve().parent.is_dir():
        raise UsageError("folder not found", args.pixel_index)
    if args.pixel_index:  # a file that is not a pixel index is refused before the spool is made
        from radtrust.forensics.pixel_store import SqliteStore

        SqliteStore(args.pixel_index).close()
    if args.pixel_memory_days is not None and (args.no_pixel_memory or not args.pixel_memory_days > 0):
        raise UsageError("--pixel-memory-days needs a positive number of days and the pixel memory on")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    if args.forward_tls and not args.tls_ca:
        raise UsageError("--forward-tls needs --tls-ca to verify the PACS")
    config = GatewayConfig(
        ae_title=args.ae_title, host=args.host, port=args.port, forward=forward,
        spool=Path(args.spool), policy=Policy(args.on_suspicious), trust=list(args.trust), model=args.model,
        scan=not args.verify_only, remember_pixels=not args.no_pixel_memory,
        pixel_index=Path(args.pixel_index) if args.pixel_index else None, pixel_memory_days=args.pixel_memory_days,
        workers=args.workers,
        forward_associations=args.forward_associations, stable_age=args.stable_age, reports=not args.no_reports,
        tls_server=server_context(args.tls_cert, args.tls_key, args.tls_ca) if args.tls_cert else None,
        tls_client=client_context(args.tls_ca, args.tls_cert, args.tls_key) if args.forward_tls else None)

    def ready(port: int) -> None:
        print(f"radtrust gateway {args.ae_title} listening on {args.host}:{port}, forwarding to {config.forward}",
              flush=True)

    run_gateway(config, on_ready=ready)
    print("radtrust gateway stopped", file=sys.stderr, flush=True)
    return 0
