"""The gateway's durable queue: one SQLite row per received object (WAL, ``synchronous=FULL``).

A forwarded instance whose file was deleted after its study was reported keeps a digest of its pixels
(``digest``: :mod:`radtrust.forensics.digest`) and its header (in ``result``), so a copy received later is still
compared with it.

States of an instance::

    received -> analysing -> ready -> sending -> forwarded
                         \\-> quarantined          (policy: quarantine)
                         \\-> rejected             (policy: reject, refused with a DIMSE failure)
                                 ready -> failed   (the PACS refused it with a failure status, retries exhausted)

A row is committed (fsync of the WAL) right after its file is durable and before the sender gets its
success status. On restart, ``analysing`` goes back to ``received`` and ``sending`` rows are resolved
by asking the PACS whether it already holds the instance (C-FIND), so nothing is sent twice.
Rows with ``origin = 'radtrust'`` are the SR/SEG objects the gateway built itself.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sop_uid TEXT NOT NULL, sha256 TEXT NOT NULL,
    study_uid TEXT, series_uid TEXT, sop_class TEXT, transfer_syntax TEXT,
    path TEXT NOT NULL, calling_ae TEXT, origin TEXT NOT NULL DEFAULT 'modality',
    received_at REAL NOT NULL, state TEXT NOT NULL, flagged INTEGER NOT NULL DEFAULT 0,
    verdict TEXT, score REAL, result TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL DEFAULT 0, analysed_at REAL, forwarded_at REAL, error TEXT,
    UNIQUE (sop_uid, sha256)
);
CREATE INDEX IF NOT EXISTS instances_state ON instances (state, next_try);
CREATE INDEX IF NOT EXISTS instances_study ON instances (study_uid);
CREATE TABLE IF NOT EXISTS studies (
    study_uid TEXT PRIMARY KEY, last_received REAL NOT NULL, reported_n INTEGER NOT NULL DEFAULT 0,
    reported_at REAL
);
"""

PENDING = ("received", "analysing")
COLUMNS = ("id", "sop_uid", "sha256", "study_uid", "series_uid", "sop_class", "transfer_syntax", "path",
           "calling_ae", "origin", "received_at", "state", "flagged", "verdict", "score", "result", "attempts",
           "next_try", "analysed_at", "forwarded_at", "error")


@dataclass
class Row:
    id: int
    sop_uid: str
    sha256: str
    study_uid: str | None
    series_uid: str | None
    sop_class: str | None
    transfer_syntax: str | None
    path: str
    calling_ae: str | None
    origin: str
    received_at: float
    state: str
    flagged: int
    verdict: str | None
    score: float | None
    result: str | None
    attempts: int
    next_try: float
    analysed_at: float | None
    forwarded_at: float | None
    error: str | None

    @property
    def record(self) -> dict[str, Any]:
        return json.loads(self.result) if self.result else {}


def _check_queue(conn: sqlite3.Connection, *, existing: bool) -> None:
    """Raise ``sqlite3.DatabaseError`` unless the database is a gateway queue (or, unless ``existing``, empty):
    garbage, another program's tables and a table of that name with other columns are left as they are."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "instances" not in tables:
        if existing or tables - {"sqlite_sequence"}:
            raise sqlite3.DatabaseError(f"it holds other tables ({', '.join(sorted(tables)[:3])})" if tables
                                        else "it holds no queue")
        return
    missing = set(COLUMNS) - {r[1] for r in conn.execute("PRAGMA table_info(instances)")}
    if missing:
        raise sqlite3.DatabaseError(f"its instances table lacks {', '.join(sorted(missing)[:3])}")


class Queue:
    """Thread-safe access to the queue database (one connection, one lock). ``readonly`` (``gateway status``)
    opens an existing queue without writing anything to it; ``create=False`` refuses a file that holds no queue yet
    (an empty one) instead of making one. A file that cannot be opened or is not a gateway queue
    is an :class:`~radtrust.errors.InputError` naming it, and is left untouched."""

    def __init__(self, path: str, *, readonly: bool = False, create: bool = True) -> None:
        from radtrust.errors import InputError

        self._path = path
        self._readonly = readonly
        self._lock = threading.RLock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        if Path(path).is_dir():
            raise InputError("is a folder, not a gateway queue", path)
        try:
            self._conn = self._connect()
        except sqlite3.Error as exc:
            raise InputError(f"cannot open the gateway queue: {exc}", path) from None
        try:
            with self._lock:
                _check_queue(self._conn, existing=readonly or not create)  # before anything is written: not even WAL
                if readonly:
                    return
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
                self._conn.executescript(SCHEMA)
                have = {r[1] for r in self._conn.execute("PRAGMA table_info(instances)")}
                if "digest" not in have:  # queues made before digests were kept
                    self._conn.execute("ALTER TABLE instances ADD COLUMN digest TEXT")
        except sqlite3.Error as exc:
            self._conn.close()
            raise InputError(f"not a gateway queue: {exc}", path) from None

    def _connect(self) -> sqlite3.Connection:
        if self._readonly:
            return sqlite3.connect(f"{Path(self._path).resolve().as_uri()}?mode=ro", uri=True,
                                   check_same_thread=False, isolation_level=None, timeout=30)
        return sqlite3.connect(self._path, check_same_thread=False, isolation_level=None, timeout=30)

    def close(self) -> None:
        with self._lock:
            for reader in self._readers:
                reader.close()
            self._conn.close()

    def _reader(self) -> sqlite3.Connection:
        """A per-thread read connection: WAL readers see committed rows and never wait for a writer's fsync."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        return conn

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction; ``durable=False`` skips the fsync (still safe against a process crash).

        Non-durable commits are used only where a loss on power failure is repaired at restart: a received
        row is rebuilt from its fsynced spool file, a claim for analysis is redone, and a row that loses
        ``forwarded`` falls back to ``sending``, which is resolved by asking the PACS.
        """
        with self._lock:
            self._conn.execute("PRAGMA synchronous=" + ("FULL" if durable else "NORMAL"))
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _rows(self, sql: str, args: tuple = ()) -> list[Row]:
        cur = self._reader().execute(f"SELECT {', '.join(COLUMNS)} FROM instances {sql}", args)
        return [Row(*r) for r in cur.fetchall()]

    # -- receiving --------------------------------------------------------------------------------
    def find(self, sop_uid: str) -> list[Row]:
        return self._rows("WHERE sop_uid = ?", (sop_uid,))

    def add(self, *, sop_uid: str, sha256: str, study_uid: str, series_uid: str, sop_class: str,
            transfer_syntax: str, path: str, calling_ae: str = "", origin: str = "modality",
            state: str = "received", now: float | None = None) -> int | None:
        """Insert a row; ``None`` when the same object (UID and content) is already queued."""
        now = time.time() if now is None else now
        with self.transaction(durable=origin != "modality") as c:  # the fsynced spool file is the durable record
            cur = c.execute(
                "INSERT OR IGNORE INTO instances (sop_uid, sha256, study_uid, series_uid, sop_class, transfer_syntax,"
                " path, calling_ae, origin, received_at, state) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (sop_uid, sha256, study_uid, series_uid, sop_class, transfer_syntax, path, calling_ae, origin,
                 now, state))
            if origin == "modality" and study_uid:
                c.execute("INSERT INTO studies (study_uid, last_received) VALUES (?, ?) ON CONFLICT(study_uid)"
                          " DO UPDATE SET last_received = excluded.last_received", (study_uid, now))
            return cur.lastrowid if cur.rowcount else None

    def touch_study(self, study_uid: str | None, now: float | None = None) -> None:
        """A re-sent instance still means the study is arriving: postpone its report."""
        if study_uid:
            with self.transaction(durable=False) as c:
                c.execute("UPDATE studies SET last_received = MAX(last_received, ?) WHERE study_uid = ?",
                          (time.time() if now is None else now, study_uid))

    # -- analysis -----------------------------------------------------------------------------------
    def claim_for_analysis(self) -> Row | None:
        if self._reader().execute("SELECT 1 FROM instances WHERE state = 'received' LIMIT 1").fetchone() is None:
            return None
        with self.transaction(durable=False) as c:
            r = c.execute("SELECT id FROM instances WHERE state = 'received' ORDER BY id LIMIT 1").fetchone()
            if r is None:
                return None
            c.execute("UPDATE instances SET state = 'analysing' WHERE id = ?", r)
        return self._rows("WHERE id = ?", (r[0],))[0]

    def find_id(self, row_id: int) -> Row | None:
        rows = self._rows("WHERE id = ?", (row_id,))
        return rows[0] if rows else None

    def set_analysis(self, row_id: int, *, state: str, verdict: str, score: float | None, record: dict[str, Any],
                     flagged: bool, path: str | None = None, error: str | None = None) -> None:
        with self.transaction() as c:
            c.execute("UPDATE instances SET state = ?, verdict = ?, score = ?, result = ?, flagged = ?,"
                      " analysed_at = ?, path = COALESCE(?, path), error = ? WHERE id = ?",
                      (state, verdict, score, json.dumps(record, default=str), int(flagged), time.time(), path,
                       error, row_id))

    def set_state(self, row_id: int, state: str, *, path: str | None = None, error: str | None = None) -> None:
        with self.transaction() as c:
            c.execute("UPDATE instances SET state = ?, path = COALESCE(?, path), error = COALESCE(?, error)"
                      " WHERE id = ?", (state, path, error, row_id))

    # -- forwarding ---------------------------------------------------------------------------------
    def claim_for_sending(self, limit: int, now: float | None = None) -> list[Row]:
        now = time.time() if now is None else now
        if self._reader().execute("SELECT 1 FROM instances WHERE state = 'ready' AND next_try <= ? LIMIT 1",
                                  (now,)).fetchone() is None:
            return []
        with self.transaction() as c:
            ids = [r[0] for r in c.execute(
                "SELECT id FROM instances WHERE state = 'ready' AND next_try <= ? ORDER BY id LIMIT ?",
                (now, limit)).fetchall()]
            if ids:
                c.execute(f"UPDATE instances SET state = 'sending' WHERE id IN ({','.join('?' * len(ids))})", ids)
        return self._rows(f"WHERE id IN ({','.join('?' * len(ids))}) ORDER BY id", tuple(ids)) if ids else []

    def forwarded(self, row_id: int, now: float | None = None) -> None:
        with self.transaction() as c:
            c.execute("UPDATE instances SET state = 'forwarded', forwarded_at = ?, error = NULL WHERE id = ?",
                      (time.time() if now is None else now, row_id))

    def forwarded_many(self, row_ids: list[int], times: list[float]) -> None:
        """Mark several rows forwarded in one commit (a crash before it leaves them ``sending``, which the
        restart resolves by asking the PACS, so batching does not cost exactly-once)."""
        if row_ids:
            with self.transaction(durable=False) as c:
                c.executemany("UPDATE instances SET state = 'forwarded', forwarded_at = ?, error = NULL WHERE id = ?",
                              list(zip(times, row_ids)))

    def retry(self, row_id: int, error: str, *, delay: float, give_up: bool = False) -> None:
        with self.transaction() as c:
            c.execute("UPDATE instances SET state = ?, attempts = attempts + 1, next_try = ?, error = ? WHERE id = ?",
                      ("failed" if give_up else "ready", time.time() + delay, error, row_id))

    def release_sending(self, ids: list[int]) -> None:
        """Put rows claimed for a batch back (the batch never started)."""
        if ids:
            with self.transaction() as c:
                c.execute(f"UPDATE instances SET state = 'ready' WHERE state = 'sending' AND id IN "
                          f"({','.join('?' * len(ids))})", ids)

    # -- recovery and reporting ---------------------------------------------------------------------
    def recover(self) -> list[Row]:
        """After a restart: analysis restarts; return the rows whose forwarding was in flight."""
        with self.transaction() as c:
            c.execute("UPDATE instances SET state = 'received' WHERE state = 'analysing'")
        return self._rows("WHERE state = 'sending' ORDER BY id")

    def prunable(self, limit: int = 50) -> list[Row]:
        """Forwarded instances that a study report has covered and whose files are still kept (no digest yet)."""
        return self._rows("WHERE id IN (SELECT i.id FROM instances i JOIN studies s ON s.study_uid = i.study_uid"
                          " WHERE i.state = 'forwarded' AND i.origin = 'modality' AND i.digest IS NULL"
                          " AND s.reported_at IS NOT NULL AND i.forwarded_at <= s.reported_at ORDER BY i.id LIMIT ?)",
                          (int(limit),))

    def set_digest(self, row_id: int, digest: dict[str, Any]) -> None:
        """Keep what a later copy of this instance is compared with once its file is deleted
        (:mod:`radtrust.forensics.digest`)."""
        with self.transaction() as c:
            c.execute("UPDATE instances SET digest = ? WHERE id = ?", (json.dumps(digest), row_id))

    def digest(self, row_id: int) -> dict[str, Any] | None:
        got = self._reader().execute("SELECT digest FROM instances WHERE id = ?", (row_id,)).fetchone()
        return json.loads(got[0]) if got and got[0] else None

    def known_paths(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._conn.execute("SELECT path FROM instances")}

    def relocate(self, row_id: int, path: str) -> None:
        with self.transaction() as c:
            c.execute("UPDATE instances SET path = ? WHERE id = ?", (path, row_id))

    def stable_studies(self, stable_age: float, now: float | None = None) -> list[tuple[str, int]]:
        """Studies quiet for ``stable_age`` s, fully analysed, with more analysed instances than last reported."""
        now = time.time() if now is None else now
        with self._lock:
            return [(s, n) for s, n in self._conn.execute(
                "SELECT s.study_uid, COUNT(i.id) FROM studies s JOIN instances i ON i.study_uid = s.study_uid"
                " AND i.origin = 'modality' WHERE s.last_received <= ? GROUP BY s.study_uid"
                " HAVING SUM(i.state IN ('received', 'analysing')) = 0 AND COUNT(i.id) > MAX(s.reported_n)",
                (now - stable_age,)).fetchall()]

    def study_rows(self, study_uid: str) -> list[Row]:
        return self._rows("WHERE study_uid = ? AND origin = 'modality' ORDER BY id", (study_uid,))

    def reported(self, study_uid: str, n: int) -> None:
        with self.transaction() as c:
            c.execute("UPDATE studies SET reported_n = ?, reported_at = ? WHERE study_uid = ?",
                      (n, time.time(), study_uid))

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._conn.execute("SELECT state, COUNT(*) FROM instances GROUP BY state").fetchall())

    def rows(self, where: str = "", args: tuple = (), limit: int = 50) -> list[Row]:
        return self._rows(f"{where} ORDER BY id DESC LIMIT {int(limit)}", args)

    def lags(self) -> list[float]:
        with self._lock:
            return [r[0] for r in self._conn.execute(
                "SELECT forwarded_at - received_at FROM instances WHERE state = 'forwarded' AND origin = 'modality'")]
