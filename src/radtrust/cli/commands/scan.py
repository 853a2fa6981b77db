"""radtrust scan: forensic verdicts (signatures first), heatmaps and reports for files and folders."""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections import Counter
from pathlib import Path

from radtrust.cli.output import Reporter
from radtrust.errors import UsageError
from radtrust.forensics.journal import Resumed, resume
from radtrust.forensics.limits import PREFIX as LIMITS
from radtrust.forensics.pixel_store import SqliteStore
from radtrust.forensics.results import FLAGGED
from radtrust.io.atomic import refuse_overwrite

NAME = "scan"
HELP = "detect tampering: one calibrated verdict per image and series, with heatmaps and evidence"
DESCRIPTION = HELP + """

INPUT may be files or folders (searched recursively). Series are assembled and analysed in 3D where a
detector supports it. Signatures come first: with --trust, a valid trusted signature covering the pixels
gives 'signed-authentic' and a broken one 'tampered'; otherwise the forensic verdict applies
(authentic | suspicious | tampered).

--format jsonl writes one JSON object per line: {"kind": "instance", "path", "sop_instance_uid",
"series_instance_uid", "modality", "score", "verdict", "detectors", "evidence", "heatmap"}, then per
series {"kind": "series", ..., "suspicious_instances"}, and {"kind": "error", "path", "message"}.
--format html writes a report with thumbnails, heatmap overlays, verdicts, evidence and signature status.

Copies: files with the same SOPInstanceUID are one acquisition; when their pixels differ in a region, or their
patient, dates or acquisition parameters differ, one of them was altered. The evidence says so (--copies note,
the default); --copies flag (an archive audit) also flags both copies and marks the region in their heatmaps.

Whole archives: --jsonl FILE --resume writes each series' records to FILE as soon as it is done (one write and
an fsync per series). If the scan is interrupted (Ctrl-C, kill, power loss), run the same command again: the
series FILE records are kept and not analysed again, the last one is redone in case it was cut short, and the
scan goes on. The output on stdout covers the series scanned in this run; FILE holds them all, and the exit status
counts them all. A worker process that dies (out of memory) costs its series an error record, not the scan.

Exit status: 0 nothing found, 1 an image or series is suspicious or tampered, 2 bad input."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files or folders")
    parser.add_argument("--format", choices=("text", "jsonl", "html"), default="text", help="output format (default: text)")
    parser.add_argument("--out", metavar="FILE", help="write the output to FILE (atomically) instead of stdout")
    parser.add_argument("--heatmaps", metavar="DIR", help="write DIR/<SOPInstanceUID>.npy (float32, rows x columns)")
    parser.add_argument("--jsonl", metavar="FILE", help="also write the JSON-lines records to FILE (with any --format)")
    parser.add_argument("--copies", choices=("note", "flag", "off"), default="note",
                        help="copies of one instance that disagree (same SOPInstanceUID, different pixels or header): "
                             "note them in the evidence (default), flag both as suspicious with the region marked "
                             "(archive audits), or do not compare")
    parser.add_argument("--pixel-index", metavar="FILE",
                        help="keep the pixel fingerprints of every instance in FILE (SQLite, created if absent) and "
                             "compare with those of earlier runs that named it: an instance re-filed under new UIDs "
                             "for another patient, or edited, is found across runs (an archive audited in parts)")
    parser.add_argument("--resume", action="store_true",
                        help="with --jsonl: keep FILE as a journal, appended series by series, and on a new run skip "
                             "what it already records (for whole archives; see below)")
    parser.add_argument("--model", metavar="MODEL", help="a one-class site model (radtrust train) to add")
    parser.add_argument("--fpr", type=float, default=0.01, help="target false-alarm rate on authentic data (default 0.01)")
    parser.add_argument("--trust", metavar="CA_PEM", action="append", help="trusted CA certificate (repeatable)")
    parser.add_argument("--detectors", metavar="NAMES", help="comma-separated detectors (default: all registered)")
    parser.add_argument("--fusion", metavar="JSON", help="fusion parameters (default: the shipped calibrated ones)")
    parser.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: one per core, per series)")


def _text(rec: dict, verbose: int) -> str:
    if rec["kind"] == "series":
        head = (f"series {rec['series_instance_uid'] or '-'}: {rec['verdict']} (score {rec['score']:.3f}, "
                f"{rec['instances']} instances, {len(rec['suspicious_instances'])} flagged)")
    else:
        head = f"{rec['verdict']:<16} {rec['score']:.3f}  {rec['path']}"
    shown = (rec["evidence"] if verbose or rec["verdict"] in ("suspicious", "tampered")
             else [e for e in rec["evidence"] if e.startswith(LIMITS)])  # what an authentic verdict cannot vouch for
    limit = None if verbose else 6
    lines = [head] + [f"  - {e}" for e in shown[:limit]]
    if limit is not None and len(shown) > limit:
        lines.append(f"  ... {len(shown) - limit} more (use -v)")
    return "\n".join(lines)


def _tally(rec: dict, rep: Reporter, counts: Counter) -> None:
    counts[{"error": "unreadable", "series": "series"}.get(rec["kind"]) or rec["verdict"]] += 1
    if rec["kind"] == "error":
        rep.bad_inputs += 1
    elif rec["verdict"] in FLAGGED:
        rep.fail()


def summary(counts: Counter) -> str:
    """The last line of a text report: instances by verdict, series, unreadable files."""
    verdicts = ("authentic", "signed-authentic", "suspicious", "tampered", "error")
    n = sum(counts[v] for v in verdicts)
    parts = ", ".join(f"{counts[v]} {v}" for v in verdicts if counts[v])
    line = f"summary: {n} instance{'' if n == 1 else 's'} in {counts['series']} series" + (f": {parts}" if parts else "")
    return line + (f"; {counts['unreadable']} unreadable" if counts["unreadable"] else "")


def _report(rec: dict, rep: Reporter, args: argparse.Namespace, sink, counts: Counter) -> None:
    _tally(rec, rep, counts)
    if rec["kind"] == "error":
        print(f"radtrust: error: {rec['path']}: {rec['message']}", file=sys.stderr, flush=True)
        if args.format == "jsonl":
            rep.record(rec)
    elif args.format != "html":
        rep.record(rec, _text(rec, args.verbose))
        sink.flush()


def _resume(args: argparse.Namespace, planned: list, rep: Reporter, counts: Counter) -> Resumed:
    """Read the journal, count what it already records towards the exit status, and say what is kept."""
    done = resume(args.jsonl, planned)
    for rec in done.kept:
        _tally(rec, rep, counts)
    if done.kept and not args.quiet:
        todo = sum(1 for g in planned if not done.covers(g))
        print(f"radtrust: resuming {args.jsonl}: {len(done.kept)} records kept ({done.groups_kept} series or files), "
              f"{todo} to scan", file=sys.stderr, flush=True)
    return done


def run(args: argparse.Namespace) -> int:
    from radtrust.forensics.fusion import Fusion
    from radtrust.forensics.journal import Journal
    from radtrust.forensics.report import ReportItems, render_html
    from radtrust.forensics.scanner import Scanner
    from radtrust.io.atomic import write_atomic

    for pem in args.trust or []:
        if not Path(pem).is_file():
            raise UsageError("trust anchor not found", pem)
    if args.model and not Path(args.model).exists():
        raise UsageError("model not found", args.model)
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {args.jobs}")
    if args.resume and not args.jsonl:
        raise UsageError("--resume needs --jsonl FILE: the journal it resumes from")
    if args.resume and args.format == "html":
        raise UsageError("--resume cannot build an html report (it needs every image of one run); "
                         "use --format text or jsonl")
    if args.pixel_index and args.copies == "off":
        raise UsageError("--pixel-index compares copies: it cannot go with --copies off")
    for target in (args.out, args.jsonl, args.pixel_index):
        if target and not Path(target).resolve().parent.is_dir():
            raise UsageError("output folder does not exist", target)
    refuse_overwrite([args.out, args.jsonl, args.pixel_index], args.inputs)
    detectors = [d.strip() for d in args.detectors.split(",") if d.strip()] if args.detectors is not None else None
    if detectors == []:
        raise UsageError("--detectors names no detector (leave it out to run them all)")
    fusion = Fusion.load(args.fusion) if args.fusion else None
    scanner = Scanner(detectors, model=args.model, trust=args.trust, fpr=args.fpr, fusion=fusion, copies=args.copies)

    sink = io.StringIO() if args.out or args.format == "html" else sys.stdout
    rep = Reporter(fmt="jsonl" if args.format == "jsonl" else "text", quiet=args.quiet, out=sink)
    items = ReportItems()  # records for --jsonl and the HTML report (thumbnails of images not flagged capped)
    counts: Counter = Counter()
    journal: list[Journal] = []  # opened once the resume has rewritten the file (a rename would orphan the fd)

    def start(planned: list) -> Resumed:
        done = _resume(args, planned, rep, counts)
        journal.append(Journal(args.jsonl))
        return done

    store = SqliteStore(args.pixel_index) if args.pixel_index else None
    try:
        # thumbnails of images not flagged only while the report still keeps them
        want = items.keeps_others if args.format == "html" else False
        groups = scanner.scan_groups(args.inputs, args.heatmaps, jobs=args.jobs, thumbnails=want,
                                     resume=start if args.resume else None, pixel_store=store)
        for group in groups:
            for rec, extra in group:
                _report(rec, rep, args, sink, counts)
                if not args.resume:
                    items.add(rec, extra)
            if journal:
                journal[0].append([rec for rec, _ in group])
    finally:
        for j in journal:
            j.close()
        if store is not None:
            store.close()
    if args.format == "text" and not args.quiet:
        sink.write(summary(counts) + (f" (with the records kept in {args.jsonl})" if args.resume else "") + "\n")
    if args.jsonl and not args.resume:
        write_atomic(args.jsonl, "".join(json.dumps(rec) + "\n" for rec, _ in items))
    if args.format == "html":
        page = render_html(items)
        if args.out:
            write_atomic(args.out, page)
        else:
            sys.stdout.write(page)
    elif args.out:
        assert isinstance(sink, io.StringIO)
        write_atomic(args.out, sink.getvalue())
    return rep.exit_code()
