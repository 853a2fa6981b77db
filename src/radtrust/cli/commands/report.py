"""radtrust report: turn a scan result into DICOM objects a PACS can store (SR and SEG)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from radtrust.cli.output import Reporter, add_format_option
from radtrust.errors import InputError, UsageError

NAME = "report"
HELP = ("write a scan result (radtrust scan --format jsonl) as DICOM: Comprehensive SR and fractional SEG; "
        "or as an HTML report")
DESCRIPTION = HELP + """

  radtrust scan study/ --format jsonl --heatmaps heat/ --out scan.jsonl
  radtrust report scan.jsonl --dicom results/
  radtrust report archive.jsonl --html report.html   # e.g. the journal of scan --jsonl FILE --resume

One Comprehensive SR (TID 1500, private coding scheme 99RADTRUST) per study, referencing the source
instances, and one fractional Segmentation per series with heatmaps. The source files named in the
records must still be readable. Every object passes dciodvfy. --html writes the report scan --format html
would have written (flagged images first, thumbnails made again from the files and the heatmaps the scan
wrote), which a resumed scan cannot write itself."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", metavar="SCAN_JSONL", help="jsonl from radtrust scan ('-' = stdin)")
    parser.add_argument("--dicom", metavar="DIR", help="write the SR/SEG objects here")
    parser.add_argument("--html", metavar="FILE", help="write the HTML report of these records here")
    parser.add_argument("--no-seg", action="store_true", help="the SR only, no heatmap segmentation")
    add_format_option(parser)


def _resolve(value: str | None, base: Path) -> str | None:
    if not value:
        return value
    p = Path(value)
    if p.is_absolute() or p.exists():
        return str(p)
    return str(base / p) if (base / p).exists() else str(p)


def read_records(source: str) -> list[dict[str, Any]]:
    """Records of a scan jsonl; relative paths resolve against the cwd, else the file's folder."""
    if source == "-":
        lines, base = sys.stdin.read().splitlines(), Path.cwd()
    else:
        try:
            lines = Path(source).read_text().splitlines()
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", source) from None
        base = Path(source).resolve().parent
    records = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"line {n} is not JSON ({exc.msg})", source) from None
        if not isinstance(rec, dict):
            raise InputError(f"line {n} is not a JSON object", source)
        rec["path"] = _resolve(rec.get("path"), base)
        rec["heatmap"] = _resolve(rec.get("heatmap"), base)
        records.append(rec)
    if not any(r.get("kind") == "instance" for r in records):
        raise InputError("no instance records (is this radtrust scan --format jsonl output?)", source)
    return records


def run(args: argparse.Namespace) -> int:
    from radtrust.services.results_dicom import objects_from_records, write_objects

    if not args.dicom and not args.html:
        raise UsageError("nothing to write: give --dicom DIR, --html FILE or both")
    if args.dicom and Path(args.dicom).exists() and not Path(args.dicom).is_dir():
        raise UsageError(f"--dicom must be a directory: {args.dicom}")
    records = read_records(args.results)
    rep = Reporter(fmt=args.format, quiet=args.quiet)
    if args.html:
        from radtrust.forensics.report import render_html, report_items
        from radtrust.io.atomic import write_atomic

        write_atomic(args.html, render_html(report_items(records)))
        rep.record({"kind": "html-report", "path": str(args.html)}, f"{args.html}  HTML report")
    if not args.dicom:
        return rep.exit_code()
    objects = objects_from_records(records, seg=not args.no_seg)
    for ds, path in zip(objects, write_objects(objects, args.dicom)):
        rep.record({"kind": "dicom-result", "path": str(path), "modality": ds.Modality,
                    "sop_instance_uid": ds.SOPInstanceUID, "study_instance_uid": ds.StudyInstanceUID},
                   f"{path}  {ds.Modality}  study {ds.StudyInstanceUID}")
    return rep.exit_code()
