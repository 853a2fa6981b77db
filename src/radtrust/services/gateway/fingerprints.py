"""The gateway's memory of pixels: every instance it analysed, kept as a fingerprint in its queue database.

An identity swap or an edit re-sent under new UIDs is a new instance to the gateway: nothing ties it to the earlier
one by UID (:mod:`.resends` covers a SOPInstanceUID received again). Its pixels do
(:mod:`radtrust.forensics.same_pixels`): the gateway keeps each instance's fingerprint (SHA-256 of its pixels,
short hashes of the attributes two records of one acquisition must agree on, hashes of the rows and columns of its
16 x 16 block means; no pixel or header value) in two tables of the queue's SQLite file, so it survives restarts and
the pruning of forwarded files. About a kilobyte per instance; kept as long as the queue.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from radtrust.forensics.same_pixels import Entry, PixelIndex

SCHEMA = """
CREATE TABLE IF NOT EXISTS fingerprints (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, sop_uid TEXT, sha256 BLOB NOT NULL, shape TEXT NOT NULL,
    header BLOB NOT NULL, deidentified INTEGER NOT NULL, acquired INTEGER NOT NULL, lines TEXT
);
CREATE INDEX IF NOT EXISTS fingerprints_sha ON fingerprints (sha256, shape);
CREATE TABLE IF NOT EXISTS fingerprint_rows (shape TEXT NOT NULL, row INTEGER NOT NULL, digest BLOB NOT NULL,
                                             fingerprint INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS fingerprint_rows_key ON fingerprint_rows (shape, row, digest);
"""
_COLUMNS = "name, sop_uid, sha256, shape, header, deidentified, acquired, lines"


def _lines_json(lines: Any) -> str | None:
    if lines is None:
        return None
    rows, cols, rinf, cinf = lines
    return json.dumps([[r.hex() for r in rows], [c.hex() for c in cols], rinf, cinf])


def _entry(row: tuple) -> Entry:
    name, sop, sha, shape, header, deid, acquired, lines = row
    parsed = None
    if lines:
        rows, cols, rinf, cinf = json.loads(lines)
        parsed = ([bytes.fromhex(r) for r in rows], [bytes.fromhex(c) for c in cols], list(rinf), list(cinf))
    return Entry(name, sop, bytes(header), bool(deid), bool(acquired), bytes(sha), tuple(json.loads(shape)), parsed)


class QueueStore:
    """:class:`~radtrust.forensics.same_pixels.Store` on the gateway queue (:class:`.queue.Queue`)."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue
        with queue.transaction() as c:  # statement by statement: executescript would commit the transaction
            for statement in filter(str.strip, SCHEMA.split(";")):
                c.execute(statement)

    def exact(self, sha256: bytes, shape: tuple[int, ...]) -> list[Entry]:
        cur = self.queue._reader().execute(f"SELECT {_COLUMNS} FROM fingerprints WHERE sha256 = ? AND shape = ?",
                                           (sha256, json.dumps(list(shape))))
        return [_entry(r) for r in cur.fetchall()]

    def by_row(self, shape: tuple[int, ...], row: int, digest: bytes) -> list[Entry]:
        cur = self.queue._reader().execute(
            f"SELECT {_COLUMNS} FROM fingerprints WHERE id IN (SELECT fingerprint FROM fingerprint_rows"
            " WHERE shape = ? AND row = ? AND digest = ?)", (json.dumps(list(shape)), row, digest))
        return [_entry(r) for r in cur.fetchall()]

    def add(self, entry: Entry) -> None:
        shape = json.dumps(list(entry.shape))
        # not fsynced: a power failure may lose the last fingerprints (those instances are then not compared with
        # later ones), never the instances, whose rows are committed durably on their own
        with self.queue.transaction(durable=False) as c:
            cur = c.execute(f"INSERT INTO fingerprints ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
                            (entry.name, entry.sop, entry.sha256, shape, entry.header, int(entry.deidentified),
                             int(entry.acquired), _lines_json(entry.lines)))
            c.executemany("INSERT INTO fingerprint_rows (shape, row, digest, fingerprint) VALUES (?,?,?,?)",
                          [(shape, i, h, cur.lastrowid) for i, h in entry.indexed_rows()])


class GatewayIndex:
    """The gateway's :class:`~radtrust.forensics.same_pixels.PixelIndex`: one check at a time (the receiving and
    analysing threads both analyse)."""

    def __init__(self, queue: Any) -> None:
        self._index = PixelIndex(QueueStore(queue), seen_as="received earlier")
        self._lock = threading.Lock()

    def check(self, record: dict[str, Any], path: str, name: str) -> bool:
        """Fingerprint the instance at ``path`` and check it; True when the note was added to ``record``."""
        from radtrust.forensics.same_pixels import fingerprint
        from radtrust.io import load_image

        fp = fingerprint(load_image(path))
        if fp is None:
            return False
        with self._lock:
            return self._index.check(record, fp, name)
