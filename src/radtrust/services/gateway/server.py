"""The radtrust DICOM gateway: C-STORE SCP in front of the PACS (pynetdicom), durable spool, verify + scan,
policy, forwarding, and per-study SR/SEG results.

Threads: pynetdicom's association threads receive (durable write, then success); ``workers`` analysis
threads run :class:`~radtrust.services.analysis.Analyzer`; ``forward_associations`` forwarder threads send
to the PACS; one reporter builds the SR/SEG of each study once it has been quiet for ``stable_age`` seconds. A handler
never kills the server: any exception becomes a failure status and a log line (after pynetdicom's
``attempt``).
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from radtrust.services.analysis import Analyzer
from radtrust.forensics.pixel_store import PixelMemory
from radtrust.services.gateway.forwarder import Destination, Forwarder
from radtrust.services.gateway.policy import STATUS_CANNOT_UNDERSTAND, STATUS_OUT_OF_RESOURCES, STATUS_REFUSED, Policy
from radtrust.services.gateway.queue import Queue, Row
from radtrust.services.gateway.reporter import StudyReporter
from radtrust.services.gateway.resends import Earlier, compare_with_earlier
from radtrust.services.gateway.spool import Spool, sha256

log = logging.getLogger(__name__)


@dataclass
class GatewayConfig:
    ae_title: str
    port: int
    forward: Destination
    spool: Path
    host: str = "0.0.0.0"
    policy: Policy = Policy.QUARANTINE
    trust: list[str] = field(default_factory=list)
    model: str | None = None
    scan: bool = True
    remember_pixels: bool = True  # fingerprint every instance (same_pixels): costs a decode per instance
    pixel_index: Path | None = None  # where the fingerprints are kept (default: fingerprints.sqlite in the spool)
    pixel_memory_days: float | None = None  # forget fingerprints older than this (default: never)
    workers: int = 2
    forward_associations: int = 2
    stable_age: float = 30.0
    reports: bool = True
    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    tls_server: ssl.SSLContext | None = None
    tls_client: ssl.SSLContext | None = None


def _header(path: str | Path) -> Dataset:
    from pydicom import dcmread

    return dcmread(path, stop_before_pixels=True)


class Gateway:
    """Start with :meth:`start`, stop with :meth:`stop`; :meth:`serve_forever` for the command line."""

    def __init__(self, config: GatewayConfig, analyzer: Analyzer | None = None) -> None:
        self.config = config
        self.spool = Spool(config.spool).create()
        self.queue = Queue(str(self.spool.db_path))
        # the same pixels under other UIDs (an identity swap, an edit re-sent as a new instance): radtrust.forensics.
        # same_pixels against every instance analysed here before, or in the archive scan that seeded the file
        # verifying only, nothing else decodes the pixels: the memory decodes them in a process of its own
        self.pixels = (PixelMemory(config.pixel_index or self.spool.root / "fingerprints.sqlite",
                                   keep_days=config.pixel_memory_days, decode_apart=not config.scan)
                       if config.remember_pixels else None)
        self.analyzer = analyzer or Analyzer(config.trust, model=config.model, scan=config.scan)
        self.forwarder = Forwarder(self.queue, config.forward, calling_ae=config.ae_title, tls=config.tls_client,
                                   max_attempts=config.max_attempts, base_delay=config.base_delay,
                                   max_delay=config.max_delay)
        self.reporter = StudyReporter(self.queue, self.spool, stable_age=config.stable_age)
        self._stop = threading.Event()
        self._analyse_wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: Any = None
        self.port: int | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    def recover(self) -> None:
        """Resume after a restart (or a kill -9): partial files, orphans, in-flight sends."""
        dropped = self.spool.clean_incoming()
        for row in self.queue.rows("WHERE state IN ('received', 'analysing')", limit=10**9):
            moved = self.spool.quarantine / Path(row.path).name
            if not Path(row.path).exists() and moved.exists():  # crashed between the move and its commit
                self.queue.relocate(row.id, str(moved))
        known = self.queue.known_paths()
        orphans = 0
        for p in sorted(self.spool.objects.glob("*.dcm")):
            if str(p) in known:
                continue
            data = p.read_bytes()
            try:
                ds = _header(p)
            except Exception as exc:
                log.error("orphan spool file %s unreadable, left in place: %s", p, exc)
                continue
            self.queue.add(sop_uid=str(ds.SOPInstanceUID), sha256=sha256(data),
                           study_uid=str(ds.get("StudyInstanceUID", "")),
                           series_uid=str(ds.get("SeriesInstanceUID", "")), sop_class=str(ds.SOPClassUID),
                           transfer_syntax=str(ds.file_meta.TransferSyntaxUID), path=str(p))
            orphans += 1
        in_flight = self.queue.recover()
        self.forwarder.resolve_in_flight(in_flight)
        if dropped or orphans or in_flight:
            log.warning("recovered the spool: %d partial file(s) dropped, %d orphan(s) queued, "
                        "%d in flight to look up", dropped, orphans, len(in_flight))

    def start(self) -> int:
        """Recover, start the workers and the SCP; return the listening port."""
        from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
        from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
        from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

        self.recover()
        targets = [(self._analysis_loop, f"radtrust-analysis-{i}") for i in range(max(1, self.config.workers))]
        for i in range(max(1, self.config.forward_associations)):
            targets.append((lambda: self.forwarder.run(self._stop), f"radtrust-forwarder-{i}"))
        if self.config.reports:
            targets.append((lambda: self.reporter.run(self._stop), "radtrust-reporter"))
        for fn, name in targets:
            t = threading.Thread(target=fn, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        ae = AE(ae_title=self.config.ae_title)
        ae.maximum_associations = 16
        # Explicit VR first, Implicit VR last: in Implicit VR private elements arrive without their VR, and
        # a PS3.15 signature over them can no longer be checked (the MAC stream needs the VR).
        syntaxes = [ExplicitVRLittleEndian, *[t for t in ALL_TRANSFER_SYNTAXES if t not in (
            ExplicitVRLittleEndian, ImplicitVRLittleEndian)], ImplicitVRLittleEndian]
        for cx in AllStoragePresentationContexts:
            ae.add_supported_context(cx.abstract_syntax, syntaxes)
        ae.add_supported_context(Verification)
        handlers = [(evt.EVT_C_STORE, self._on_store)]
        self._server = ae.start_server((self.config.host, self.config.port), block=False, evt_handlers=handlers,
                                       ssl_context=self.config.tls_server)
        self.port = self._server.server_address[1]
        log.info("gateway %s listening on %s:%d, forwarding to %s, policy %s", self.config.ae_title,
                 self.config.host, self.port, self.config.forward, self.config.policy.value)
        return self.port

    def stop(self) -> None:
        self._stop.set()
        self._analyse_wake.set()
        self.forwarder.wake.set()
        if self._server is not None:
            self._server.shutdown()
        for t in self._threads:
            t.join(timeout=30)
        self.queue.close()
        if self.pixels is not None:
            self.pixels.close()

    def serve_forever(self, on_ready: Any = None) -> None:
        import signal

        port = self.start()
        if on_ready is not None:
            on_ready(port)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stop.set())
        try:
            while not self._stop.wait(1.0):
                pass
        finally:
            self.stop()

    # -- receiving --------------------------------------------------------------------------------------
    def _on_store(self, event: Any) -> Any:
        try:
            return self._store(event)
        except OSError as exc:
            log.error("could not spool an instance: %s", exc)
            return STATUS_OUT_OF_RESOURCES
        except Exception as exc:
            log.exception("C-STORE from %s failed: %s", event.assoc.requestor.ae_title, exc)
            return STATUS_CANNOT_UNDERSTAND

    def _store(self, event: Any) -> Any:
        req = event.request
        sop_uid, sop_class = str(req.AffectedSOPInstanceUID), str(req.AffectedSOPClassUID)
        data = event.encoded_dataset(include_meta=True)
        digest = sha256(data)
        for row in self.queue.find(sop_uid):
            if row.sha256 == digest:  # a re-send (the sender missed our answer): idempotent
                log.info("duplicate %s (%s) acknowledged, not forwarded again", sop_uid, row.state)
                self.queue.touch_study(row.study_uid)
                return self._refusal(row) if row.state == "rejected" else 0x0000
        ds = event.dataset
        target = self.spool.object_path(sop_uid, digest)
        self.spool.write(data, target)
        reject = self.config.policy is Policy.REJECT
        row_id = self.queue.add(
            sop_uid=sop_uid, sha256=digest, study_uid=str(ds.get("StudyInstanceUID", "")),
            series_uid=str(ds.get("SeriesInstanceUID", "")), sop_class=sop_class,
            transfer_syntax=str(event.context.transfer_syntax), path=str(target),
            calling_ae=str(event.assoc.requestor.ae_title),
            state="analysing" if reject else "received")  # reject: analysed here, workers keep off it
        if reject and row_id is not None:
            row = self.queue.find_id(row_id)
            if row is not None and self._analyse(row, synchronous=True) == "rejected":
                return self._refusal(self.queue.find_id(row_id))
        else:
            self._analyse_wake.set()
        return 0x0000

    @staticmethod
    def _refusal(row: Row | None) -> Dataset:
        status = Dataset()
        status.Status = STATUS_REFUSED
        verdict = row.verdict if row is not None else "flagged"
        status.ErrorComment = f"radtrust: {verdict}"[:64]
        return status

    # -- analysis ---------------------------------------------------------------------------------------
    def _analysis_loop(self) -> None:
        while not self._stop.is_set():
            try:
                row = self.queue.claim_for_analysis()
            except Exception:
                log.exception("queue error")
                self._stop.wait(1.0)
                continue
            if row is None:
                self._analyse_wake.wait(0.2)
                self._analyse_wake.clear()
                continue
            self._analyse(row, synchronous=False)

    def _analyse(self, row: Row, *, synchronous: bool) -> str:
        """Analyse one claimed row and apply the policy; returns the new state. Never raises."""
        try:
            record, pixels = self.analyzer.analyze_file(row.path, heatmaps_dir=self.spool.heatmaps)
        except Exception as exc:  # fail closed: an analysis error is flagged, logged, and the server goes on
            log.error("analysis of %s failed: %s", row.sop_uid, exc, exc_info=log.isEnabledFor(logging.DEBUG))
            pixels = None
            record = {"kind": "instance", "path": row.path, "sop_instance_uid": row.sop_uid,
                      "series_instance_uid": row.series_uid, "study_instance_uid": row.study_uid, "score": None,
                      "verdict": "error", "detectors": {}, "evidence": [f"analysis failed: {exc}"], "heatmap": None,
                      "signature": {"status": "error", "reasons": []}}
        # copies received before this one (a copy received after it is compared with this one in its own turn: with
        # later ones too, a re-encoding analysed after an edited copy arrived was quarantined for the edit)
        others = [r for r in self.queue.find(row.sop_uid) if r.sha256 != row.sha256 and r.id < row.id]
        if others:
            notes, altered = compare_with_earlier(row.path, [Earlier(r.path, self.queue.digest(r.id),
                                                                     r.record.get("header")) for r in others])
            record["evidence"] = notes + list(record.get("evidence") or [])
        else:
            altered = False
        if self.pixels is not None and record.get("verdict") != "error":
            name = f"the instance received from {row.calling_ae} at {_when(row.received_at)}"
            if self.pixels.check_file(record, row.path, name, pixels):
                # a valid, trusted signature says this copy is the original: the earlier one was altered
                altered = altered or record.get("verdict") != "signed-authentic"
        if altered and record.get("verdict") in ("authentic", "unverified", "signed-authentic"):
            record["verdict"] = "suspicious"
        try:
            record["header"] = _header(row.path).to_json_dict()  # the SR/SEG need it after the file is gone
        except Exception:
            record["header"] = None
        state, flagged = self.config.policy.state_for(str(record.get("verdict")))
        if state == "rejected" and not synchronous:
            state = "quarantined"  # already acknowledged (e.g. received before a restart): cannot refuse now
        path = None
        if state in ("quarantined", "rejected"):
            path = str(self.spool.move(Path(row.path), self.spool.quarantine))
            log.warning("%s %s: %s (score %s)", state, row.sop_uid, record.get("verdict"), record.get("score"))
        self.queue.set_analysis(row.id, state=state, verdict=str(record.get("verdict")), score=record.get("score"),
                                record=record, flagged=flagged, path=path)
        if state == "ready":
            self.forwarder.wake.set()
        return state


def _when(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def run_gateway(config: GatewayConfig, on_ready: Any = None) -> None:
    """Run until SIGTERM/SIGINT (the ``radtrust gateway`` command); ``on_ready(port)`` once listening."""
    Gateway(config).serve_forever(on_ready)


__all__ = ["Gateway", "GatewayConfig", "compare_with_earlier", "run_gateway"]
