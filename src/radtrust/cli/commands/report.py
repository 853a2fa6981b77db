"""radtrust report: turn a scan result into DICOM objects a PACS can store (SR and SEG)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from radtrust.cli.output import Reporter, add_format_option
from radtrust.errors import InputError, UsageError
from radtrust.io.files import read_side_file

NAME = "report"
HELP = ("write a scan result (radtrust scan --format jsonl) as DICOM: Comprehensive SR and fractional SEG; "
        "or as an HTML report")
DESCRIPTION = HELP + """

  radtrust scan study/ --format jsonl --heatmaps heat/ --out scan.jsonl
  radtrust report scan.jsonl --dicom results/
  radtrust report archive.jsonl --html report.html   # e.g. the journal of scan --jsonl FILE --resume

One Comprehensive SR (TID 1500, private coding scheme 99RADTRUST) per study, referencing the source
instances, and one fractional Segmentation per series with heatmaps. For --dicom the source files and
heatmaps named in the records must still be readable. Every object passes dciodvfy. --html writes the
report scan --format html would have written (flagged images first, thumbnails made again from the files
and the heatmaps the scan wrote), which a resumed scan cannot write itself; an image or heatmap gone since
the scan leaves its card without a thumbnail, one that is there but unreadable is an error. Every record
is checked and every output made before anything is written."""


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


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _text_or_none(rec: dict[str, Any], *keys: str) -> str | None:
    return next((f"'{k}' is not text" for k in keys if not isinstance(rec.get(k), (str, type(None)))), None)


def _problem(rec: dict[str, Any]) -> str | None:
    """What makes ``rec`` not a record of radtrust scan (the fields the report reads), or None."""
    from radtrust.forensics.results import VERDICTS

    kind = rec.get("kind")
    if kind not in ("instance", "series", "error"):
        return f"kind {kind!r} is not a scan record's (instance, series or error)"
    if kind == "error":
        return _text_or_none(rec, "path") or (None if isinstance(rec.get("message"), str) else "'message' is not text")
    if kind == "instance" and (not isinstance(rec.get("path"), str) or not rec["path"]):
        return "'path' is not a file name"
    if problem := _text_or_none(rec, "sop_instance_uid", "series_instance_uid", "modality", "heatmap"):
        return problem
    if rec.get("verdict") not in VERDICTS:
        return f"verdict {rec.get('verdict')!r} is not one of {', '.join(VERDICTS)}"
    if not _finite(rec.get("score")):
        return f"score {rec.get('score')!r} is not a finite number"
    detectors = rec.get("detectors")
    if not isinstance(detectors, dict) or not all(v is None or _finite(v) for v in detectors.values()):
        return "'detectors' is not an object of detector scores"
    evidence = rec.get("evidence")
    if not isinstance(evidence, list) or not all(isinstance(e, str) for e in evidence):
        return "'evidence' is not a list of sentences"
    for key in ("signature", "credential"):
        value = rec.get(key)
        if value is not None and (not isinstance(value, dict) or _text_or_none(value, "status")
                                  or not isinstance(value.get("reasons") or [], list)):
            return f"'{key}' is not an object with a text 'status' and a list of 'reasons'"
    if kind == "series":
        if not isinstance(rec.get("instances"), int) or isinstance(rec["instances"], bool):
            return "'instances' is not a number of instances"
        suspicious = rec.get("suspicious_instances")
        if not isinstance(suspicious, list) or not all(isinstance(u, str) for u in suspicious):
            return "'suspicious_instances' is not a list of UIDs"
    return None


def read_records(source: str) -> list[dict[str, Any]]:
    """Records of a scan jsonl; relative paths resolve against the cwd, else the file's folder.
    A line that is not a scan record is an :class:`InputError` naming the file and the line."""
    try:
        if source == "-":
            lines, base = sys.stdin.read().splitlines(), Path.cwd()
        else:
            lines = read_side_file(source, limit=None).decode("utf-8").splitlines()
            base = Path(source).resolve().parent
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", source) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text (is this radtrust scan --format jsonl output?)", source) from None
    records = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"line {n} is not JSON ({exc.msg})", source) from None
        except RecursionError:
            raise InputError(f"line {n} is nested too deeply to be a scan record", source) from None
        if not isinstance(rec, dict):
            raise InputError(f"line {n} is not a JSON object", source)
        if problem := _problem(rec):
            raise InputError(f"line {n} is not a scan record: {problem}", source)
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
    from radtrust.io.atomic import refuse_overwrite, write_atomic

    records = read_records(args.results)
    named = [p for r in records if r.get("kind") == "instance" for p in (r.get("path"), r.get("heatmap")) if p]
    refuse_overwrite([args.html], [*([] if args.results == "-" else [args.results]), *named], option="--html")
    rep = Reporter(fmt=args.format, quiet=args.quiet)
    page = objects = None
    if args.html:  # every output is made before any is written: a bad record leaves nothing half-written
        from radtrust.forensics.report import render_html, report_items

        page = render_html(report_items(records))
    if args.dicom:
        objects = objects_from_records(records, seg=not args.no_seg)
    if page is not None:
        write_atomic(args.html, page)
        rep.record({"kind": "html-report", "path": str(args.html)}, f"{args.html}  HTML report")
    if objects is None:
        return rep.exit_code()
    for ds, path in zip(objects, write_objects(objects, args.dicom)):
        rep.record({"kind": "dicom-result", "path": str(path), "modality": ds.Modality,
                    "sop_instance_uid": ds.SOPInstanceUID, "study_instance_uid": ds.StudyInstanceUID},
                   f"{path}  {ds.Modality}  study {ds.StudyInstanceUID}")
    return rep.exit_code()
