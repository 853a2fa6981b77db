"""radtrust results as DICOM objects a PACS stores and a viewer shows next to the study.

:func:`objects_from_records` turns scan/analysis records (the ``radtrust scan --format jsonl``
contract, optionally with a ``signature`` field) into one Comprehensive SR per study (:mod:`.sr`,
TID 1500) and one fractional Segmentation per series that has heatmaps (:mod:`.seg`).
:func:`write_objects` saves them atomically. Both ``radtrust report --dicom`` and the gateway use them.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from radtrust.errors import InputError

log = logging.getLogger(__name__)


def _read_header(path: str) -> Dataset:
    from pydicom import dcmread

    if not Path(path).is_file():  # a folder, a FIFO (dcmread would wait on it forever), nothing at all
        raise InputError("source instance not readable: no such file" if not Path(path).exists()
                         else "source instance not readable: not a regular file", path)
    try:
        return dcmread(path, stop_before_pixels=True)
    except Exception as exc:
        raise InputError(f"source instance not readable: {exc}", path) from exc


def _load_heatmap(path: str) -> np.ndarray:
    from radtrust.forensics.report import load_heatmap

    return load_heatmap(path)


def objects_from_records(records: Iterable[Mapping[str, Any]], *, sources: Mapping[str, Dataset] | None = None,
                         heatmaps: Mapping[str, np.ndarray] | None = None, seg: bool = True,
                         now: _dt.datetime | None = None, uid_seed: str | None = None) -> list[Dataset]:
    """Build the SR (per study) and SEG (per series with heatmaps) for a set of records.

    Sources are read from each record's ``path`` and heatmaps from its ``heatmap`` (.npy) unless given.
    Records of kind ``error`` are skipped; series records join the SR of their study. With ``uid_seed``
    the new objects' UIDs are derived from it (rebuilding gives the same UIDs: the gateway relies on it).
    """
    from pydicom.uid import generate_uid

    from radtrust.services.results_dicom.seg import build_seg
    from radtrust.services.results_dicom.sr import build_sr

    records = [r for r in records if r.get("kind", "instance") in ("instance", "series")]
    srcs: dict[str, Dataset] = dict(sources or {})
    heats: dict[str, np.ndarray] = dict(heatmaps or {})
    for rec in records:
        uid = rec.get("sop_instance_uid")
        if rec.get("kind", "instance") != "instance" or not uid:
            continue
        if uid not in srcs and rec.get("path"):
            srcs[uid] = _read_header(rec["path"])
        if seg and uid not in heats and rec.get("heatmap"):
            heats[uid] = _load_heatmap(rec["heatmap"])
    by_study: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    series_study: dict[str, str] = {}
    for rec in records:
        src = srcs.get(rec.get("sop_instance_uid", ""))
        if rec.get("kind", "instance") == "instance" and src is not None:
            by_study[str(src.StudyInstanceUID)].append(rec)
            series_study[str(src.SeriesInstanceUID)] = str(src.StudyInstanceUID)
    for rec in records:
        if rec.get("kind") == "series" and rec.get("series_instance_uid") in series_study:
            by_study[series_study[rec["series_instance_uid"]]].append(rec)
    if not by_study:
        raise InputError("no instance result with a readable source; nothing to report")
    out: list[Dataset] = []
    def uid(*parts: str) -> str | None:
        return generate_uid(entropy_srcs=[uid_seed, *parts]) if uid_seed is not None else None

    for study_uid, study_records in by_study.items():
        out.append(build_sr(study_records, srcs, now=now, sop_instance_uid=uid("sr", study_uid),
                            series_instance_uid=uid("sr-series", study_uid)))
        if not seg:
            continue
        by_series: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for rec in study_records:
            if rec.get("kind", "instance") == "instance" and rec.get("sop_instance_uid") in heats:
                by_series[rec["series_instance_uid"]].append(rec)
        for series_uid, series_records in by_series.items():
            out.append(build_seg(series_records, srcs, heats, sop_instance_uid=uid("seg", series_uid),
                                 series_instance_uid=uid("seg-series", series_uid)))
    return out


def write_objects(objects: Sequence[Dataset], out_dir: str | Path) -> list[Path]:
    """Save each object as ``OUT/<Modality>_<SOPInstanceUID>.dcm``, atomically (temp file + rename)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for ds in objects:
        target = out_dir / f"{ds.Modality}_{ds.SOPInstanceUID}.dcm"
        fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".tmp-", suffix=".dcm")
        try:
            with os.fdopen(fd, "wb") as fh:
                ds.save_as(fh, enforce_file_format=True)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(target)
    return written
