"""Per-study results for the PACS: once a study has been quiet for ``stable_age`` seconds and every
instance is analysed, build its Comprehensive SR and fractional SEG (:mod:`radtrust.services.results_dicom`)
and queue them for forwarding like any instance.

The objects' UIDs derive from the study and the number of instances reported, so a crash between
building and queueing rebuilds the same objects and nothing is sent twice. When more instances
arrive later, a new version (new UIDs) is sent. After a report, the spool copies and heatmaps of the
study's forwarded instances are deleted, a few dozen at a time between polls so a stop is not held up (the queue keeps
their rows and results, and a digest of each instance's pixels, so a copy received later is still compared with it:
:mod:`radtrust.services.gateway.resends`; rows without a digest are the ones still to prune, after a restart too).
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from radtrust.services.gateway.queue import Queue
from radtrust.services.gateway.spool import Spool, sha256

log = logging.getLogger(__name__)


class StudyReporter:
    def __init__(self, queue: Queue, spool: Spool, *, stable_age: float = 30.0) -> None:
        self.queue, self.spool, self.stable_age = queue, spool, stable_age

    def report(self, study_uid: str, n: int) -> list[str]:
        """Build and queue the SR/SEG of one study; returns their SOP Instance UIDs."""
        from radtrust.services.results_dicom import objects_from_records, write_objects

        rows = self.queue.study_rows(study_uid)
        records, sources, heats = [], {}, {}
        for row in rows:
            rec = row.record
            if not rec:
                continue
            header = rec.pop("header", None)
            if header:
                sources[row.sop_uid] = Dataset.from_json(header)
            elif Path(row.path).exists():
                from pydicom import dcmread

                sources[row.sop_uid] = dcmread(row.path, stop_before_pixels=True)
            heat = rec.get("heatmap")
            if heat and Path(heat).exists():
                heats[row.sop_uid] = np.load(heat, allow_pickle=False)
            records.append(rec)
        if not sources:
            self.queue.reported(study_uid, n)
            return []
        objects = objects_from_records(records, sources=sources, heatmaps=heats, uid_seed=f"{study_uid}/{n}",
                                       now=_dt.datetime.now())
        uids = []
        for ds, path in zip(objects, write_objects(objects, self.spool.results)):
            uid = str(ds.SOPInstanceUID)
            uids.append(uid)
            if self.queue.find(uid):
                continue
            self.queue.add(sop_uid=uid, sha256=sha256(path.read_bytes()), study_uid=study_uid,
                           series_uid=str(ds.SeriesInstanceUID), sop_class=str(ds.SOPClassUID),
                           transfer_syntax=str(ds.file_meta.TransferSyntaxUID), path=str(path),
                           calling_ae="radtrust", origin="radtrust", state="ready")
        self.queue.reported(study_uid, n)
        log.info("study %s: %d instance(s) reported in %s", study_uid, n, ", ".join(o.Modality for o in objects))
        return uids

    def prune(self, stop: threading.Event | None = None, batch: int = 50) -> int:
        """Delete the spool files and heatmaps of forwarded instances a study report has covered, keeping a digest of
        each instance's pixels first; returns how many. Stops between files when ``stop`` is set: what is left is
        pruned on a later pass, after a restart too (the queue knows which rows have no digest yet)."""
        done = 0
        for row in self.queue.prunable(batch):
            if stop is not None and stop.is_set():
                break
            self._keep_digest(row)
            Path(row.path).unlink(missing_ok=True)
            heat = row.record.get("heatmap")
            if heat:
                Path(heat).unlink(missing_ok=True)
            done += 1
        return done

    def _keep_digest(self, row: Any) -> None:
        """A digest of the pixels before the file goes, so a later copy of the instance is still compared."""
        from radtrust.forensics.digest import pixel_digest
        from radtrust.io import load_image

        try:
            digest = pixel_digest(load_image(row.path))
        except Exception as exc:  # noqa: BLE001 - without a digest a later copy is flagged unseen (fails closed)
            log.warning("no digest kept of %s: %s", row.sop_uid, exc)
            digest = {"error": str(exc)[:200]}  # marks the row pruned; compared as if nothing were kept
        self.queue.set_digest(row.id, digest)

    def run(self, stop: threading.Event, poll: float = 0.5) -> None:
        # After a (re)start, senders may still be re-sending: give them one stable age before any report.
        if stop.wait(self.stable_age):
            return
        while not stop.wait(poll):
            try:
                for study_uid, n in self.queue.stable_studies(self.stable_age):
                    try:
                        self.report(study_uid, n)
                    except Exception as exc:  # a bad study must not stop the reports of the others
                        log.error("results for study %s failed: %s", study_uid, exc)
                        self.queue.reported(study_uid, n)
                self.prune(stop)
            except Exception:
                log.exception("reporter error")
