"""Forwarding to the PACS: C-STORE SCU with retries and exponential backoff (pynetdicom).

Instances are sent from their spool files as stored (no re-encoding, so signatures stay intact), in
batches over one association. A refused or dropped association puts the batch back with a delay that
doubles per attempt up to ``max_delay``; a DIMSE failure status from the PACS is retried
``max_attempts`` times, then the row is marked ``failed``. A send of unknown outcome (no response, a
dropped connection mid-send, a crash) is resolved with a C-FIND at IMAGE level before anything is sent
again: what the PACS already holds is not sent twice.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from radtrust.errors import UsageError
from radtrust.services.gateway.queue import Queue, Row

log = logging.getLogger(__name__)
SUCCESS_OR_WARNING = {0x0000, 0xB000, 0xB006, 0xB007}
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"


@dataclass(frozen=True)
class Destination:
    """The PACS: ``AET@HOST:PORT``."""

    ae_title: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> "Destination":
        aet, sep, rest = text.partition("@")
        host, sep2, port = rest.rpartition(":")
        if not sep or not sep2 or not aet or not host or not (port.isascii() and port.isdigit()) or len(aet) > 16:
            raise UsageError(f"--forward must look like AET@HOST:PORT, not {text!r}")
        return cls(aet, host, int(port))

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


class Forwarder:
    """Sends ``ready`` rows to the destination until stopped."""

    def __init__(self, queue: Queue, dest: Destination, *, calling_ae: str, tls: ssl.SSLContext | None = None,
                 batch: int = 64, max_attempts: int = 5, base_delay: float = 1.0, max_delay: float = 60.0,
                 timeout: float = 120.0, commit_every: int = 16) -> None:
        self.queue, self.dest, self.calling_ae, self.tls = queue, dest, calling_ae, tls
        self.batch, self.max_attempts = batch, max_attempts
        self.base_delay, self.max_delay, self.timeout = base_delay, max_delay, timeout
        self.commit_every = commit_every
        self.wake = threading.Event()
        self._unresolved: list[Row] = []
        self._unresolved_lock = threading.Lock()
        self._resolve_after = 0.0
        self._resolve_failures = 0

    def _ae(self) -> object:
        from pynetdicom import AE

        ae = AE(ae_title=self.calling_ae)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout
        return ae

    def _associate(self, ae: object) -> object:
        tls_args = (self.tls, self.dest.host) if self.tls is not None else None
        return ae.associate(self.dest.host, self.dest.port, ae_title=self.dest.ae_title,  # type: ignore[attr-defined]
                            tls_args=tls_args)

    def delay(self, attempts: int) -> float:
        return min(self.max_delay, self.base_delay * (2 ** max(0, attempts)))

    # -- unknown outcomes (a crash, a timeout, a dropped association mid-send) ----------------------
    def resolve_in_flight(self, rows: list[Row]) -> None:
        """Rows whose send may or may not have reached the PACS: resolved by C-FIND before any re-send.

        They stay ``sending`` until the PACS answers the query (so a PACS that is down only delays them);
        a PACS that accepts the association but cannot answer the query gets them again (at-least-once).
        """
        with self._unresolved_lock:
            known = {r.id for r in self._unresolved}
            self._unresolved.extend(r for r in rows if r.id not in known)
        self._resolve_after = 0.0

    def _resolve_pending(self) -> None:
        with self._unresolved_lock:
            rows, self._unresolved = self._unresolved, []
        if not rows:
            return
        held = self._lookup(rows)
        if held is None:  # no association: try again later
            with self._unresolved_lock:
                self._unresolved.extend(rows)
            self._resolve_after = time.time() + self.delay(self._resolve_failures)
            self._resolve_failures += 1
            return
        self._resolve_failures = 0
        for row in rows:
            if row.sop_uid in held:
                self.queue.forwarded(row.id)
            else:
                self.queue.set_state(row.id, "ready")
        log.warning("resolved %d instance(s) of unknown outcome: %d already in the PACS, %d to send again",
                    len(rows), len(held), len(rows) - len(held))

    def _lookup(self, rows: list[Row]) -> set[str] | None:
        """SOP Instance UIDs among ``rows`` that the PACS holds; None when no association was possible."""
        try:
            ae = self._ae()
            ae.add_requested_context(STUDY_ROOT_FIND)  # type: ignore[attr-defined]
            assoc = self._associate(ae)
        except Exception as exc:
            log.warning("C-FIND association with %s failed: %s", self.dest, exc)
            return None
        if not assoc.is_established:
            return None
        held: set[str] = set()
        try:
            for row in rows:
                if self._pacs_has(assoc, row):
                    held.add(row.sop_uid)
        except Exception as exc:  # the PACS cannot answer the query: fall back to sending again
            log.warning("C-FIND at %s failed (%s): instances of unknown outcome will be sent again", self.dest, exc)
        finally:
            if assoc.is_established:
                assoc.release()
        return held

    @staticmethod
    def _pacs_has(assoc: object, row: Row) -> bool:
        q = Dataset()
        q.QueryRetrieveLevel = "IMAGE"
        q.StudyInstanceUID = row.study_uid or ""
        q.SeriesInstanceUID = row.series_uid or ""
        q.SOPInstanceUID = row.sop_uid
        found = False
        answered = False
        for status, identifier in assoc.send_c_find(q, STUDY_ROOT_FIND):  # type: ignore[attr-defined]
            if not status:
                raise RuntimeError("no C-FIND response")
            answered = answered or status.Status in (0x0000, 0xFF00, 0xFF01)
            if status.Status in (0xFF00, 0xFF01) and identifier is not None:
                found = found or str(identifier.get("SOPInstanceUID", "")) == row.sop_uid
        if not answered:
            raise RuntimeError("C-FIND refused")
        return found

    # -- sending ----------------------------------------------------------------------------------
    def send_batch(self, rows: list[Row]) -> int:
        """Send claimed rows over one association; every row ends forwarded, ready (retry) or failed."""
        ae = self._ae()
        contexts = sorted({(r.sop_class or "", r.transfer_syntax or str(ExplicitVRLittleEndian)) for r in rows})
        for sop_class, ts in contexts[:126]:
            extra = [ExplicitVRLittleEndian, ImplicitVRLittleEndian] if ts in (ExplicitVRLittleEndian,
                                                                              ImplicitVRLittleEndian) else []
            ae.add_requested_context(sop_class, [ts, *[t for t in extra if t != ts]])  # type: ignore[attr-defined]
        try:
            assoc = self._associate(ae)
        except Exception as exc:
            assoc, reason = None, f"association failed: {exc}"
        else:
            reason = f"association with {self.dest} refused or failed"
        if assoc is None or not assoc.is_established:
            for r in rows:
                self.queue.retry(r.id, reason, delay=self.delay(r.attempts))
            log.warning("%s; %d instance(s) will be retried", reason, len(rows))
            return 0
        sent = 0
        done: list[int] = []
        done_at: list[float] = []
        unknown: list[Row] = []
        try:
            for i, row in enumerate(rows):
                if not assoc.is_established:
                    for r in rows[i:]:
                        self.queue.retry(r.id, "association dropped", delay=self.delay(r.attempts))
                    break
                try:
                    status = assoc.send_c_store(Path(row.path))
                except (ValueError, RuntimeError) as exc:  # raised before anything was sent (no context, no assoc)
                    log.warning("cannot send %s: %s", row.sop_uid, exc)
                    self.queue.retry(row.id, f"send failed: {exc}", delay=self.delay(row.attempts),
                                     give_up=row.attempts + 1 >= self.max_attempts and isinstance(exc, ValueError))
                    continue
                except Exception as exc:  # mid-send: the PACS may have it
                    log.warning("sending %s failed mid-way: %s", row.sop_uid, exc)
                    unknown.append(row)
                    continue
                code = getattr(status, "Status", None) if status else None
                if code in SUCCESS_OR_WARNING:
                    done.append(row.id)
                    done_at.append(time.time())
                    sent += 1
                    if len(done) >= self.commit_every:
                        self.queue.forwarded_many(done, done_at)
                        done, done_at = [], []
                elif code is None:  # no response (timeout, abort): the PACS may have stored it
                    unknown.append(row)
                else:
                    give_up = row.attempts + 1 >= self.max_attempts
                    self.queue.retry(row.id, f"PACS status 0x{code:04X}", delay=self.delay(row.attempts),
                                     give_up=give_up)
                    log.warning("PACS refused %s with 0x%04X%s", row.sop_uid, code, " (giving up)" if give_up else "")
        finally:
            self.queue.forwarded_many(done, done_at)
            if assoc.is_established:
                assoc.release()
            if unknown:
                self.resolve_in_flight(unknown)
        return sent

    def run(self, stop: threading.Event, poll: float = 0.2) -> None:
        """Forward until ``stop``; several forwarders may run on one queue (claims are atomic)."""
        while not stop.is_set():
            if self._unresolved and time.time() >= self._resolve_after:
                try:
                    self._resolve_pending()
                except Exception:
                    log.exception("resolving instances of unknown outcome failed")
            rows = self.queue.claim_for_sending(self.batch)
            if not rows:
                self.wake.wait(poll)
                self.wake.clear()
                continue
            try:
                self.send_batch(rows)
            except Exception:  # never let the forwarder die; what may have been sent is looked up first
                log.exception("forwarding batch failed")
                still = {r.id for r in self.queue.rows("WHERE state = 'sending'", limit=10**9)}
                self.resolve_in_flight([r for r in rows if r.id in still])
                stop.wait(1.0)
