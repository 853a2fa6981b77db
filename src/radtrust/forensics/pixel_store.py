"""Fingerprints kept on disk: the memory of :mod:`radtrust.forensics.same_pixels` across runs and restarts.

A :class:`SqliteStore` holds every fingerprinted instance (SHA-256 of its pixels, short hashes of the attributes two
records of one acquisition must agree on, hashes of the rows and columns of its 16 x 16 block means; no pixel or
header value) in one SQLite file, so an instance is compared with everything fingerprinted before it: by the gateway
since it was first started (``fingerprints.sqlite`` in its spool), and by ``radtrust scan --pixel-index FILE``
across the runs that name the same file (an archive audited in parts, or again as it grows). About 1.7 KB per
instance on disk. The file alone tells no identifier: its attribute hashes are keyed and the names instances are
remembered by encrypted, with a key of its own in ``FILE.key`` (:mod:`radtrust.forensics.index_key`); files written
before are keyed on opening (SQLite's secure delete overwrites what they held in the clear), and an index whose key
file is missing or another's is refused (its hashes could not be compared, and every copy would read as filed under
another patient). Writes are not fsynced: a power failure may lose the last fingerprints (those instances are then
not compared with later ones), never anything else. :class:`PixelMemory` is what the gateway (``fingerprints.sqlite``
in its spool, or the file its ``--pixel-index`` names) and the Orthanc plugin use; it can forget what it saw more than
a number of days ago (a retention period, which bounds the file and what a correction re-sent later is compared with;
forgotten rows are overwritten, not only unlinked).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from os import PathLike
from typing import Any

from radtrust.errors import InputError
from radtrust.forensics.index_key import IndexKey, key_file, missing_key
from radtrust.forensics.same_pixels import (
    TEMPLATE,
    Entry,
    Lines,
    PixelIndex,
    fingerprint,
)

SCHEMA = (
    ("CREATE TABLE IF NOT EXISTS fingerprints (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, sop_uid TEXT,"
     " sha256 BLOB NOT NULL, shape TEXT NOT NULL, header BLOB NOT NULL, deidentified INTEGER NOT NULL,"
     " acquired INTEGER NOT NULL, lines TEXT)"),
    "CREATE INDEX IF NOT EXISTS fingerprints_sha ON fingerprints (sha256, shape)",
    ("CREATE TABLE IF NOT EXISTS fingerprint_rows (shape TEXT NOT NULL, row INTEGER NOT NULL, digest BLOB NOT NULL,"
     " fingerprint INTEGER NOT NULL)"),
    "CREATE INDEX IF NOT EXISTS fingerprint_rows_key ON fingerprint_rows (shape, row, digest)",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
# Added after the first files were written: when each fingerprint was added (seconds since the epoch), its name and
# SOPInstanceUID encrypted (the plain columns are emptied), and the index that lets a fingerprint's rows be removed with
# it. Files made before get them on opening.
MIGRATIONS = (
    ("created", "ALTER TABLE fingerprints ADD COLUMN created REAL"),
    ("names", "ALTER TABLE fingerprints ADD COLUMN names BLOB"),  # name and SOPInstanceUID, encrypted (session 13)
)
INDEXES = (
    "CREATE INDEX IF NOT EXISTS fingerprints_created ON fingerprints (created)",
    "CREATE INDEX IF NOT EXISTS fingerprint_rows_owner ON fingerprint_rows (fingerprint)",
)
log = logging.getLogger(__name__)
_COLUMNS = "names, sha256, shape, header, deidentified, acquired, lines"


def _lines_json(lines: Lines | None) -> str | None:
    if lines is None:
        return None
    return json.dumps([lines.rows.hex(), lines.cols.hex(), lines.informative_rows.hex(), lines.informative_cols.hex()])


def _entry(row: tuple, key: IndexKey) -> Entry | None:
    """The index row as an :class:`Entry`; None for a row damaged since it was written (not what :meth:`add` wrote)."""
    names, sha, shape, header, deid, acquired, lines = row
    opened = key.decrypt_names(bytes(names)) if isinstance(names, bytes) else None
    if opened is None:
        return None
    name, sop = opened
    try:
        parsed = None
        if lines:
            hexes = json.loads(lines)
            if not isinstance(hexes, list) or len(hexes) != 4 or not all(isinstance(h, str) for h in hexes):
                return None
            parsed = Lines(*(bytes.fromhex(h) for h in hexes))
        dims = json.loads(shape)
        if not isinstance(dims, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in dims):
            return None
        return Entry(name, sop, bytes(header), bool(deid), bool(acquired), bytes(sha), tuple(dims), parsed)
    except (ValueError, TypeError, RecursionError):  # not JSON, not hex, not bytes
        return None


def check_index(path: str | PathLike[str]) -> None:
    """Raise :class:`~radtrust.errors.InputError` when an existing file at ``path`` is not a pixel index (read only:
    nothing is written, a file this user cannot read is left to its owner to open)."""
    if not os.path.isfile(path) or not os.path.getsize(path) or not os.access(path, os.R_OK):
        return
    try:
        with contextlib.closing(sqlite3.connect(f"file:{os.path.abspath(path)}?mode=ro", uri=True)) as conn:
            _refuse_foreign(conn)
            keyed = _key_check(conn) is not None
    except sqlite3.Error as exc:
        raise InputError(f"not a pixel index: {exc}", path) from exc
    if keyed and not os.path.lexists(key_file(path)):
        raise missing_key(path)


def _key_check(conn: sqlite3.Connection) -> str | None:
    """The key check value the index keeps (None: not keyed yet, as files written before session 13)."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "meta" not in tables:
        return None
    row = conn.execute("SELECT value FROM meta WHERE name = 'key_check'").fetchone()
    return None if row is None else str(row[0])


def _refuse_foreign(conn: sqlite3.Connection) -> None:
    """Raise when the database holds tables and no fingerprints: another program's, to be left as it is."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables - {"sqlite_sequence"} and "fingerprints" not in tables:
        raise sqlite3.DatabaseError(f"it holds other tables ({', '.join(sorted(tables)[:3])})")


class SqliteStore:
    """:class:`~radtrust.forensics.same_pixels.Store` in one SQLite file (WAL; one connection, one lock). A file that
    cannot be opened or is not such an index is an :class:`~radtrust.errors.InputError` naming it."""

    def __init__(self, path: str | PathLike[str]) -> None:
        # the attribute hashes derive from patient identifiers: owner-only, as SQLite gives its -wal and -shm files
        # the database file's mode
        try:
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise InputError(f"cannot open the pixel index: {getattr(exc, 'strerror', None) or exc}", path) from exc
        self._lock = threading.Lock()
        self._path, self._warned = os.fspath(path), False
        try:
            self._prepare()
        except sqlite3.Error as exc:
            self._conn.close()
            raise InputError(f"not a pixel index: {exc}", path) from exc
        except InputError:
            self._conn.close()
            raise

    def _prepare(self) -> None:
        with self._lock:
            _refuse_foreign(self._conn)  # before anything is written: not even switched to WAL
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            # what is deleted or replaced is overwritten: the plain names of files keyed on opening, forgotten rows
            self._conn.execute("PRAGMA secure_delete=ON")
            with self._transaction():  # two processes opening one new or old file: one migrates it
                for statement in SCHEMA:
                    self._conn.execute(statement)
                columns = {row[1] for row in self._conn.execute("PRAGMA table_info(fingerprints)")}
                for column, statement in MIGRATIONS:
                    if column not in columns:
                        self._conn.execute(statement)
                if "created" not in columns:  # fingerprints of unknown age count from now: kept one period more
                    self._conn.execute("UPDATE fingerprints SET created = ? WHERE created IS NULL", (time.time(),))
                for statement in INDEXES:
                    self._conn.execute(statement)
                self._key, rewritten = self._keyed()
            if rewritten:  # the old pages leave the write-ahead log for the overwritten database file
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _keyed(self) -> tuple[IndexKey, bool]:
        """The index's key, and whether rows were rewritten for it. An index without one (new, or written before
        session 13) gets one, its hashes sealed and its names encrypted."""
        check = _key_check(self._conn)
        key = IndexKey.for_index(self._path, create=check is None)
        if check is None:
            rows = self._conn.execute("SELECT id, header FROM fingerprints").fetchall()
            self._conn.executemany("UPDATE fingerprints SET header = ? WHERE id = ?",
                                   [(key.seal(bytes(h)), i) for i, h in rows])
            self._conn.execute("INSERT INTO meta (name, value) VALUES ('key_check', ?)", (key.check,))
        elif check != key.check:
            raise InputError(f"its key file {key_file(self._path)} does not belong to it (restore the right one, or "
                             "start a new index)", self._path)
        rows = self._conn.execute("SELECT id, name, sop_uid FROM fingerprints WHERE names IS NULL").fetchall()
        self._conn.executemany("UPDATE fingerprints SET names = ?, name = '', sop_uid = NULL WHERE id = ?",
                               [(key.encrypt_names(str(n), None if s is None else str(s)), i) for i, n, s in rows])
        return key, bool(rows) or check is None

    def seal(self, header: bytes) -> bytes:
        return self._key.seal(header)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """A write transaction on the connection (the caller holds the lock)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def exact(self, sha256: bytes, shape: tuple[int, ...]) -> list[Entry]:
        with self._lock:
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM fingerprints WHERE sha256 = ? AND shape = ?",
                                      (sha256, json.dumps(list(shape)))).fetchall()
        return self._entries(rows)

    def _entries(self, rows: list[tuple]) -> list[Entry]:
        """The rows' entries; a damaged row is left out (that copy is not compared) and named once in the log."""
        entries = [_entry(r, self._key) for r in rows]
        if None in entries and not self._warned:
            self._warned = True
            log.warning("%s: damaged fingerprint row(s) skipped (not what radtrust wrote)", self._path)
        return [e for e in entries if e is not None]

    def by_row(self, shape: tuple[int, ...], row: int, digest: bytes) -> list[Entry]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM fingerprints WHERE id IN (SELECT fingerprint FROM fingerprint_rows"
                " WHERE shape = ? AND row = ? AND digest = ? LIMIT ?)",
                (json.dumps(list(shape)), row, digest, TEMPLATE + 1)).fetchall()
        return [] if len(rows) > TEMPLATE else self._entries(rows)

    def add(self, entry: Entry) -> None:
        shape = json.dumps(list(entry.shape))
        with self._lock, self._transaction():
            cur = self._conn.execute(
                f"INSERT INTO fingerprints (name, {_COLUMNS}, created) VALUES ('',?,?,?,?,?,?,?,?)",
                (self._key.encrypt_names(entry.name, entry.sop), entry.sha256, shape, entry.header,
                 int(entry.deidentified), int(entry.acquired), _lines_json(entry.lines), time.time()))
            self._conn.executemany("INSERT INTO fingerprint_rows (shape, row, digest, fingerprint) VALUES (?,?,?,?)",
                                   [(shape, i, h, cur.lastrowid) for i, h in entry.indexed_rows()])

    def prune(self, before: float) -> int:
        """Forget the fingerprints added before ``before`` (seconds since the epoch) with their rows; how many."""
        with self._lock, self._transaction():
            self._conn.execute("DELETE FROM fingerprint_rows WHERE fingerprint IN"
                               " (SELECT id FROM fingerprints WHERE created < ?)", (before,))
            return self._conn.execute("DELETE FROM fingerprints WHERE created < ?", (before,)).rowcount

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM fingerprints").fetchone()[0])


class PixelMemory:
    """A :class:`~radtrust.forensics.same_pixels.PixelIndex` on a :class:`SqliteStore` for services that analyse one
    file at a time on several threads (the gateway, the Orthanc plugin): one check at a time, and a failure to
    fingerprint is named in the evidence, never raised."""

    PRUNE_EVERY = 3600.0  # seconds between two passes over the retention period

    def __init__(self, path: str | PathLike[str], keep_days: float | None = None, *, decode_apart: bool = False) -> None:
        if keep_days is not None and not keep_days > 0:
            raise ValueError("the retention period must be a positive number of days")
        self.store = SqliteStore(path)
        # decode_apart: files are decoded for their fingerprint in a process of their own. The JPEG 2000 decoders hold
        # the GIL, so on a threaded server (the gateway verifying only) the decode otherwise stops the network threads.
        self._decoder: Any = None
        if decode_apart:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._decoder = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_exit_with, initargs=(os.getpid(),))
        self._index = PixelIndex(self.store)
        self._lock = threading.Lock()
        self.keep_days = keep_days
        self._pruned_at = -math.inf
        self.prune()

    def prune(self, now: float | None = None) -> int:
        """Forget what was seen more than ``keep_days`` before ``now`` (nothing without a retention period)."""
        if self.keep_days is None:
            return 0
        now = time.time() if now is None else now
        with self._lock:
            self._pruned_at = time.monotonic()
            gone = self.store.prune(now - self.keep_days * 86400.0)
        if gone:
            log.info("pixel memory: forgot %d fingerprint(s) older than %g days", gone, self.keep_days)
        return gone

    def check_file(self, record: dict[str, Any], path: str | PathLike[str], name: str,
                   pixels: dict[str, Any] | None = None) -> bool:
        """Check the instance at ``path`` against those before it (remembered as ``name``); True when ``record`` got
        the note. ``pixels``: its fingerprint when the scan already made one, else the file is read for it. The
        record's verdict is the caller's to change."""
        try:
            if self.keep_days is not None and time.monotonic() - self._pruned_at > self.PRUNE_EVERY:
                self.prune()
            if pixels is not None:
                fp = pixels
            elif self._decoder is not None:
                fp = self._decoder.submit(_fingerprint_file, os.fspath(path)).result()
            else:
                fp = _fingerprint_file(os.fspath(path))
            if fp is None:
                return False
            with self._lock:
                return self._index.check(record, fp, name)
        except Exception as exc:  # noqa: BLE001 - the analysis stands; the comparison is named as not made
            record["evidence"] = [*(record.get("evidence") or []),
                                  f"copies: not compared with the pixels seen earlier ({exc})"]
            return False

    def close(self) -> None:
        if self._decoder is not None:
            self._decoder.shutdown(cancel_futures=True)
        self.store.close()


def _exit_with(parent: int) -> None:
    """In the decoding process: exit when the process that started it is gone (a gateway killed with -9 would
    otherwise leave it behind)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="radtrust-parent-watch", daemon=True).start()


def _fingerprint_file(path: str) -> dict[str, Any] | None:
    """The fingerprint of the file at ``path`` (in :class:`PixelMemory`'s decoding process when it has one)."""
    from radtrust.io import load_image

    return fingerprint(load_image(path))
