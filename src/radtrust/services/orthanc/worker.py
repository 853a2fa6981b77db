"""The work of the Orthanc plugin, off Orthanc's callback threads.

Orthanc calls :meth:`PluginWorker.on_change` on its own threads; the method only queues. One worker
thread takes each stored instance, fetches its bytes (``/instances/{id}/file``), runs the shared
:class:`~radtrust.services.analysis.Analyzer` and stores the result on the instance as metadata
(``RadTrustVerdict``, ``RadTrustScore``) and attachments (``RadTrust``: the JSON record;
``RadTrustHeatmap``: the .npy heatmap). When Orthanc reports a study stable (``STABLE_STUDY``), the
worker summarises it into study metadata and a study attachment and, if asked, stores the study's
Comprehensive SR and fractional SEG in Orthanc. Orthanc 1.10 has no labels, hence metadata.

``api`` is the ``orthanc`` module inside Orthanc; tests of this logic need a real Orthanc.
"""

from __future__ import annotations

import io
import json
import logging
import queue
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from radtrust.services.analysis import FLAGGED_VERDICTS, Analyzer

log = logging.getLogger(__name__)

META_VERDICT, META_SCORE = "RadTrustVerdict", "RadTrustScore"
ATTACHMENT, HEATMAP = "RadTrust", "RadTrustHeatmap"
#: Numbers Orthanc's configuration must declare for the names above (user range starts at 1024).
USER_METADATA = {META_VERDICT: 1024, META_SCORE: 1025}
USER_CONTENT_TYPES = {ATTACHMENT: 1024, HEATMAP: 1025}
SEVERITY = ("signed-authentic", "authentic", "unverified", "suspicious", "error", "tampered")
STOP = object()


def worst_verdict(verdicts: list[str]) -> str:
    known = [v for v in verdicts if v in SEVERITY]
    return max(known, key=SEVERITY.index) if known else "unverified"


class PluginWorker:
    """Queue + worker thread + REST answers, given the ``orthanc`` module as ``api``."""

    def __init__(self, api: Any, analyzer: Analyzer, *, store_results: bool = True,
                 retry_delay: float = 2.0, pixel_index: str | None = None,
                 pixel_memory_days: float | None = None) -> None:
        self.api, self.analyzer, self.store_results, self.retry_delay = api, analyzer, store_results, retry_delay
        self.pixels = None  # radtrust.forensics.same_pixels against every instance analysed since the index began
        if pixel_index:
            from radtrust.forensics.pixel_store import PixelMemory

            self.pixels = PixelMemory(pixel_index, keep_days=pixel_memory_days)
        self.jobs: queue.Queue[Any] = queue.Queue()
        self.tmp = Path(tempfile.mkdtemp(prefix="radtrust-orthanc-"))
        self.thread = threading.Thread(target=self._loop, name="radtrust-orthanc", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        import shutil

        self.jobs.put(STOP)
        self.thread.join(timeout=30)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- Orthanc's threads: only queue ------------------------------------------------------------
    def on_change(self, change_type: Any, level: Any, resource_id: str) -> None:
        ct = self.api.ChangeType
        if change_type == ct.NEW_INSTANCE:
            self.jobs.put(("instance", resource_id, 0))
        elif change_type == ct.STABLE_STUDY:
            self.jobs.put(("study", resource_id, 0))
        elif change_type == ct.ORTHANC_STOPPED:
            self.stop()

    # -- the worker thread ------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            job = self.jobs.get()
            if job is STOP:
                return
            kind, rid, tries = job
            try:
                if kind == "instance":
                    self.analyse_instance(rid)
                elif not self.summarise_study(rid) and tries < 30:
                    threading.Timer(self.retry_delay, self.jobs.put, args=(("study", rid, tries + 1),)).start()
            except Exception as exc:  # never let the worker die: log and go on with the next job
                log.error("radtrust: %s %s failed: %s", kind, rid, exc)
                self.api.LogError(f"radtrust: {kind} {rid} failed: {exc}")

    def _get_json(self, uri: str) -> Any:
        return json.loads(self.api.RestApiGet(uri))

    def _is_ours(self, instance_id: str) -> bool:
        tags = self._get_json(f"/instances/{instance_id}/simplified-tags")
        return tags.get("Manufacturer") == "radtrust" and tags.get("Modality") in ("SR", "SEG")

    def analyse_instance(self, instance_id: str) -> dict[str, Any] | None:
        if self._is_ours(instance_id):
            return None
        path = self.tmp / f"{instance_id}.dcm"
        path.write_bytes(self.api.RestApiGet(f"/instances/{instance_id}/file"))
        heat_dir = self.tmp / "heatmaps"
        try:
            try:
                record, pixels = self.analyzer.analyze_file(path, heatmaps_dir=heat_dir)
            except Exception as exc:  # fail closed: an analysis error is a flagged result, not a crash
                pixels = None
                record = {"kind": "instance", "verdict": "error", "score": None, "detectors": {},
                          "evidence": [f"analysis failed: {exc}"], "heatmap": None,
                          "signature": {"status": "error", "reasons": []}}
            record["orthanc_id"] = instance_id
            if (self.pixels is not None and record.get("verdict") != "error"
                    and self.pixels.check_file(record, path, f"Orthanc instance {instance_id}", pixels)
                    and record.get("verdict") in ("authentic", "unverified")):  # a valid signature: the original
                record["verdict"] = "suspicious"
            heat = record.get("heatmap")
            record["heatmap"] = None
            if heat and Path(heat).exists():
                self.api.RestApiPut(f"/instances/{instance_id}/attachments/{HEATMAP}", Path(heat).read_bytes())
                Path(heat).unlink()
                record["heatmap"] = f"/instances/{instance_id}/attachments/{HEATMAP}/data"
            record["path"] = None
            self.api.RestApiPut(f"/instances/{instance_id}/attachments/{ATTACHMENT}",
                                json.dumps(record, default=str).encode())
            self.api.RestApiPut(f"/instances/{instance_id}/metadata/{META_SCORE}",
                                "" if record.get("score") is None else f"{record['score']:.6f}")
            # The verdict last: its presence means the result is complete.
            self.api.RestApiPut(f"/instances/{instance_id}/metadata/{META_VERDICT}", str(record["verdict"]))
        finally:
            path.unlink(missing_ok=True)
        return record

    def instance_result(self, instance_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.api.RestApiGet(f"/instances/{instance_id}/attachments/{ATTACHMENT}/data"))
        except Exception:  # orthanc.OrthancException: not analysed (yet)
            return None

    def summarise_study(self, study_id: str) -> bool:
        """Study metadata + attachment (and SR/SEG); False when some instance is not analysed yet."""
        instances = [i["ID"] for i in self._get_json(f"/studies/{study_id}/instances")]
        results = {}
        for iid in instances:
            if self._is_ours(iid):
                continue
            rec = self.instance_result(iid)
            if rec is None:
                return False
            results[iid] = rec
        previous = self.study_result(study_id)
        if previous is not None and sorted(previous.get("instances", {})) == sorted(results):
            return True  # nothing new (e.g. the study became stable again after we stored its SR)
        verdicts = [r.get("verdict", "error") for r in results.values()]
        summary = {
            "kind": "study", "orthanc_id": study_id, "verdict": worst_verdict(verdicts),
            "analysed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "counts": {v: verdicts.count(v) for v in sorted(set(verdicts))},
            "flagged": sorted(r.get("sop_instance_uid", iid) for iid, r in results.items()
                              if r.get("verdict") in FLAGGED_VERDICTS),
            "instances": {iid: {k: r.get(k) for k in ("sop_instance_uid", "verdict", "score")}
                          for iid, r in results.items()},
        }
        if self.store_results and results:
            summary["results"] = self._store_results(list(results.items()))
        self.api.RestApiPut(f"/studies/{study_id}/attachments/{ATTACHMENT}", json.dumps(summary).encode())
        self.api.RestApiPut(f"/studies/{study_id}/metadata/{META_VERDICT}", summary["verdict"])
        return True

    def study_result(self, study_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.api.RestApiGet(f"/studies/{study_id}/attachments/{ATTACHMENT}/data"))
        except Exception:
            return None

    def _store_results(self, results: list[tuple[str, dict[str, Any]]]) -> list[str]:
        """Build the SR and SEG from the stored results and store them in Orthanc; their Orthanc IDs."""
        import numpy as np
        from pydicom import dcmread
        from pydicom.filebase import DicomBytesIO

        from radtrust.services.results_dicom import objects_from_records

        sources, heats, records = {}, {}, []
        for iid, rec in results:
            raw = self.api.RestApiGet(f"/instances/{iid}/file")
            ds = dcmread(DicomBytesIO(raw), stop_before_pixels=True)
            uid = str(ds.SOPInstanceUID)
            sources[uid] = ds
            if rec.get("heatmap"):
                data = self.api.RestApiGet(f"/instances/{iid}/attachments/{HEATMAP}/data")
                heats[uid] = np.load(io.BytesIO(data), allow_pickle=False)
            records.append({**rec, "sop_instance_uid": uid, "series_instance_uid": str(ds.SeriesInstanceUID),
                            "path": None, "heatmap": None})
        ids = []
        for ds in objects_from_records(records, sources=sources, heatmaps=heats):
            buf = DicomBytesIO()
            ds.save_as(buf, enforce_file_format=True)
            answer = json.loads(self.api.RestApiPost("/instances", buf.getvalue()))
            ids.append(answer.get("ID"))
        return ids

    # -- REST --------------------------------------------------------------------------------------------
    def rest_instance(self, output: Any, uri: str, **request: Any) -> None:
        def result(instance_id: str) -> dict[str, Any] | None:
            if self._is_ours(instance_id):
                return {"orthanc_id": instance_id, "verdict": None, "status": "radtrust result object"}
            return self.instance_result(instance_id)

        self._answer(output, request, result, "instances")

    def rest_study(self, output: Any, uri: str, **request: Any) -> None:
        self._answer(output, request, self.study_result, "studies")

    def _answer(self, output: Any, request: dict[str, Any], getter: Any, level: str) -> None:
        if request.get("method") != "GET":
            output.SendMethodNotAllowed("GET")
            return
        rid = request["groups"][0]
        try:
            self.api.RestApiGet(f"/{level}/{rid}")
        except Exception:
            output.SendHttpStatusCode(404)
            return
        result = getter(rid)
        body = result if result is not None else {"orthanc_id": rid, "verdict": None, "status": "pending"}
        output.AnswerBuffer(json.dumps(body, default=str), "application/json")

    # -- incoming C-STORE filter ---------------------------------------------------------------------------
    def incoming_filter(self, received: Any) -> int:
        """Refuse (DIMSE 0xC001) an incoming instance whose PS3.15 signature is broken; accept the rest."""
        from pydicom import dcmread
        from pydicom.filebase import DicomBytesIO

        try:
            data = received.GetInstanceData()
            with tempfile.NamedTemporaryFile(dir=self.tmp, suffix=".dcm", delete=False) as fh:
                fh.write(data)
            path = Path(fh.name)
            try:
                header = dcmread(DicomBytesIO(data), defer_size=4096)
                status = self.analyzer.verify(path, header)["status"]
            finally:
                path.unlink(missing_ok=True)
        except Exception as exc:
            self.api.LogError(f"radtrust: incoming filter failed, refusing: {exc}")
            return 0xC001
        if status == "invalid":
            self.api.LogWarning("radtrust: refused an incoming instance with a broken signature")
            return 0xC001
        return 0
