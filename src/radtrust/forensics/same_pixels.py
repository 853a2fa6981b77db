"""The same pixels under another name: an image filed again, whole or edited, whatever its UIDs became.

Two acquisitions never give the same pixels: the quantum noise differs in every pixel. An image whose decoded pixels
(in modality units) equal another's is a copy of it, however it is named, and two records of one acquisition must
agree on who was imaged, when and how (for a rendered image, which can be made twice, only who). An image that
equals another but for a few rows and columns of 16 x 16 blocks is a copy of it edited there. :mod:`.copies` pairs
copies that kept their SOPInstanceUID or their place (frame of reference, position, orientation); a copy re-filed
with every UID generated anew (an identity swap or an edit meant to last, an edited image exported as a new study)
keeps neither. Nothing in either file alone need contradict it; an archive that holds both can.

The workers return a fingerprint of each instance with a header: the SHA-256 of its pixels (float32 modality
values), 8 bytes of a SHA-256 of each attribute of :data:`COMPARED` (values are never kept or printed) and, for a
single frame of an acquired modality (:data:`ACQUIRED`: not secondary captures or rendered screens, whose template
repeats in most rows), 4-byte hashes of each row and column of its 16 x 16 block means. :class:`PixelIndex` sees
the instances in task order (serial and parallel scans agree) and tells a later instance, under another
SOPInstanceUID, whose pixels equal an earlier one's with any of those attributes different, or whose block means
equal an earlier one's in at least half (and :data:`MIN_LINES`) of the informative rows and columns but not all:
the changed rows and columns bound the edit. The note names the first earlier match and counts the others; the
earlier records are already written. Not told: an identical copy that agrees on every attribute (a copy, which
:mod:`.copies` reports where it can place it); the patient, the dates and the device serial number when either
file records a de-identification (a research export carries the pixels under another identity, without the serial
and with shifted dates by design); images with fewer than :data:`MIN_VALUES` distinct values in a sparse sample
(blank frames and masks repeat by construction); pairs the task's own comparison of copies already named; a copy
converted as a whole (a lossy codec moves every block mean). A row of block means that more than :data:`TEMPLATE`
images share (burned-in text on a constant band) is not looked up. A scan compares what it analyses, and with
``--pixel-index FILE`` also what earlier runs naming the file fingerprinted (:mod:`.pixel_store`; the gateway and
the Orthanc plugin keep one too). Memory: about 2 KB per instance (1.7 KB on disk).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from radtrust.forensics.copies import PATIENT, attribute_text, deidentified
from radtrust.io.compare import BLOCK, block_means

MIN_VALUES = 16
#: what two records of one acquisition must agree on: who, when it was acquired, and how. Not the UIDs, the series'
#: own date and time, the content date and time or the geometry, which a copy filed as a new series may change.
WHEN = ("StudyDate", "StudyTime", "AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime", "PatientAge")
COMPARED = (*PATIENT, *WHEN, "Modality", "Manufacturer", "ManufacturerModelName", "DeviceSerialNumber", "KVP",
            "XRayTubeCurrent", "ExposureTime", "Exposure", "ExposureInuAs", "ConvolutionKernel", "SliceThickness",
            "PixelSpacing", "ImagerPixelSpacing", "BodyPartExamined", "ViewPosition", "ImageLaterality",
            "ExposureIndex", "CTDIvol")
#: what a de-identification removes or shifts (PS3.15 Annex E basic profile) and is not compared when a file records one
DEIDENTIFIED = (*PATIENT, *WHEN, "DeviceSerialNumber")
_H = 8  # bytes of SHA-256 kept per attribute
MIN_LINES = 8  # informative rows (and columns) of 16 x 16 blocks an edited copy must share with its original ...
SHARED = 0.5  # ... and at least this share of them
INDEXED = 4  # rows of blocks per image looked up in the index (spread over the informative ones)
#: more images than this sharing one row of block means: a template (burned-in text on a constant band), not noise;
#: that row is no longer looked up (it would make every image a candidate of every other)
TEMPLATE = 8
#: modalities whose every image carries acquisition noise; rendered images (secondary captures, dose screens, the user
#: interface around an ultrasound sector) repeat a template in most rows and are compared only whole
ACQUIRED = frozenset({"CT", "MR", "CR", "DX", "MG", "XA", "RF", "PT", "NM", "IO", "PX", "RG"})


@dataclass(frozen=True)
class Lines:
    """4-byte hashes of each row and each column of an image's 16 x 16 block means, packed (a few hundred bytes), and
    which rows and columns are informative (not all one value: 1, else 0)."""

    rows: bytes
    cols: bytes
    informative_rows: bytes
    informative_cols: bytes

    @classmethod
    def of(cls, means: np.ndarray) -> Lines:
        return cls(b"".join(hashlib.sha256(r.tobytes()).digest()[:4] for r in means),
                   b"".join(hashlib.sha256(np.ascontiguousarray(c).tobytes()).digest()[:4] for c in means.T),
                   bytes(int(np.ptp(r) > 0) for r in means), bytes(int(np.ptp(c) > 0) for c in means.T))

    def row(self, i: int) -> bytes:
        return self.rows[4 * i:4 * i + 4]

    def col(self, j: int) -> bytes:
        return self.cols[4 * j:4 * j + 4]


def _agreement(a: bytes, b: bytes, informative: bytes) -> list[bool]:
    """Per informative line, whether the two images' hashes agree."""
    return [a[4 * i:4 * i + 4] == b[4 * i:4 * i + 4] for i, ok in enumerate(informative) if ok]


def fingerprint(image: Any) -> dict[str, Any] | None:
    """An instance's pixel hash and attribute hashes (picklable), or None when its pixels cannot tell it apart."""
    ds = getattr(image, "dataset", None)
    if ds is None:
        return None
    pixels = np.ascontiguousarray(image.pixels, dtype=np.float32)
    if np.unique(pixels[..., ::7, ::7]).size < MIN_VALUES:
        return None
    header = b"".join(hashlib.sha256(attribute_text(ds, k).encode("utf-8", "replace")).digest()[:_H] for k in COMPARED)
    acquired = _acquired(ds)
    out = {"sha256": hashlib.sha256(pixels.data).digest(), "shape": pixels.shape, "header": header,  # no copy
           "deidentified": deidentified(ds), "acquired": acquired, "lines": None}
    if pixels.ndim == 2 and min(pixels.shape) >= MIN_LINES * BLOCK and acquired:
        out["lines"] = Lines.of(block_means(pixels).astype(np.float32))
    return out


_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"  # and its multi-frame classes .7.1-.7.4


def _acquired(ds: Any) -> bool:
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    sop_class = str(ds.get("SOPClassUID", ""))
    secondary = sop_class == _SECONDARY_CAPTURE or sop_class.startswith(_SECONDARY_CAPTURE + ".")
    return str(ds.get("Modality", "") or "").upper() in ACQUIRED and "SECONDARY" not in image_type and not secondary


@dataclass
class Entry:
    """What the index keeps of one instance: a name to give it by, its UID and the fingerprint's hashes."""

    name: str
    sop: str | None
    header: bytes  # _H bytes of SHA-256 per attribute of COMPARED, in order
    deidentified: bool
    acquired: bool
    sha256: bytes
    shape: tuple[int, ...]
    lines: Lines | None = None

    @classmethod
    def of(cls, name: str, sop: str | None, fp: dict[str, Any]) -> Entry:
        return cls(name, sop, fp["header"], fp["deidentified"], fp["acquired"], fp["sha256"],
                   tuple(int(n) for n in fp["shape"]), fp.get("lines"))

    def indexed_rows(self) -> list[tuple[int, bytes]]:
        """The few rows of block means (number, hash) an edited copy is looked up by."""
        if self.lines is None:
            return []
        picked = [i for i, ok in enumerate(self.lines.informative_rows) if ok]
        return [(i, self.lines.row(i)) for i in picked[:: max(1, len(picked) // INDEXED)][:INDEXED]]


class Store(Protocol):
    """Where the index keeps its entries: in memory for one scan (:class:`MemoryStore`), in a SQLite file across runs
    and for the gateway and the Orthanc plugin (:class:`~radtrust.forensics.pixel_store.SqliteStore`)."""

    def exact(self, sha256: bytes, shape: tuple[int, ...]) -> list[Entry]:
        """The entries with exactly these pixels."""
        ...

    def by_row(self, shape: tuple[int, ...], row: int, digest: bytes) -> list[Entry]:
        """The entries indexed by this row of block means, none when more than :data:`TEMPLATE` share it."""
        ...

    def add(self, entry: Entry) -> None:
        """Keep ``entry``, indexed by its pixels and :meth:`Entry.indexed_rows`."""
        ...

    def seal(self, header: bytes) -> bytes:
        """The attribute hashes as the store keeps and compares them (keyed on disk, as they are in memory)."""
        ...


@dataclass
class MemoryStore:
    seen: dict[tuple[bytes, tuple[int, ...]], list[Entry]] = field(default_factory=dict)
    rows: dict[tuple[tuple[int, ...], int, bytes], list[Entry]] = field(default_factory=dict)  # a few rows per image

    def exact(self, sha256: bytes, shape: tuple[int, ...]) -> list[Entry]:
        return self.seen.get((sha256, shape), [])

    def by_row(self, shape: tuple[int, ...], row: int, digest: bytes) -> list[Entry]:
        found = self.rows.get((shape, row, digest), [])
        return [] if len(found) > TEMPLATE else found

    def add(self, entry: Entry) -> None:
        self.seen.setdefault((entry.sha256, entry.shape), []).append(entry)
        for i, h in entry.indexed_rows():
            found = self.rows.setdefault((entry.shape, i, h), [])
            if len(found) <= TEMPLATE:  # one past it marks the row a template; no need to keep more
                found.append(entry)

    def seal(self, header: bytes) -> bytes:
        return header  # never written


@dataclass
class PixelIndex:
    """Every fingerprinted instance seen so far, by pixel hash and by a few rows of block means."""

    store: Store = field(default_factory=MemoryStore)

    def check(self, rec: dict[str, Any], fp: dict[str, Any], name: str | None = None) -> bool:
        """Add a note to ``rec`` when its pixels, or all but a few rows and columns of 16 x 16 blocks of them, were seen
        under another SOPInstanceUID (with other attributes, when all are the same); True if so. Then remember it
        (as ``name``, by default the record's path)."""
        entry = Entry.of(rec.get("path", "") if name is None else name, rec.get("sop_instance_uid"), fp)
        entry.header = self.store.seal(entry.header)
        notes = []
        exact = self.store.exact(entry.sha256, entry.shape)
        for earlier in [*exact, *self._edited_candidates(entry)]:
            if earlier.sop == entry.sop or any(earlier.name in line for line in rec.get("evidence", [])):
                continue
            note = _note(earlier, entry)
            if note is not None:
                notes.append(note)
        if notes:
            more = f" (and {len(notes) - 1} other instance(s) seen earlier)" if len(notes) > 1 else ""
            rec["evidence"] = [notes[0] + more, *rec.get("evidence", [])]
        if not any(e.sop == entry.sop and e.name == entry.name for e in exact):  # a file scanned again adds nothing
            self.store.add(entry)
        return bool(notes)

    def _edited_candidates(self, entry: Entry) -> list[Entry]:
        """Earlier images sharing most informative rows and columns of block means with ``entry``, but not all."""
        if entry.lines is None:
            return []
        lines = entry.lines
        out: dict[tuple[str, str | None], Entry] = {}
        for i in range(len(lines.informative_rows)):
            for earlier in self.store.by_row(entry.shape, i, lines.row(i)):
                if (earlier.name, earlier.sop) in out or earlier.sha256 == entry.sha256 or earlier.lines is None:
                    continue
                same_r = _agreement(lines.rows, earlier.lines.rows, lines.informative_rows)
                same_c = _agreement(lines.cols, earlier.lines.cols, lines.informative_cols)
                if min(len(same_r), len(same_c)) < MIN_LINES or all(same_r) and all(same_c):
                    continue
                if min(np.mean(same_r), np.mean(same_c)) >= SHARED:
                    out[(earlier.name, earlier.sop)] = earlier
        return list(out.values())


def _note(earlier: Entry, entry: Entry) -> str | None:
    """What the index says of ``entry`` against an earlier instance with its pixels or most of its block means."""
    skip = DEIDENTIFIED if earlier.deidentified or entry.deidentified else ()
    if not (earlier.acquired and entry.acquired):  # a rendered image (a test pattern) may be made twice
        skip = (*skip, *(k for k in COMPARED if k not in PATIENT))
    differ = [k for i, k in enumerate(COMPARED)
              if k not in skip and earlier.header[_H * i:_H * (i + 1)] != entry.header[_H * i:_H * (i + 1)]]
    who = "under another patient, " if set(differ) & set(PATIENT) else ""
    other = f"with other {', '.join(differ)} " if differ else ""
    if earlier.sha256 == entry.sha256:
        if not differ:
            return None  # a copy, and the records agree
        return (f"copies: {earlier.name} holds exactly these pixels {who}{other}(SOPInstanceUID {earlier.sop}, seen "
                "earlier): two acquisitions never share their noise, so one of the two records was altered or filed "
                "again under another identity")
    rows, cols = _changed(earlier, entry)
    return (f"copies: {earlier.name} holds these pixels {who}{other}(SOPInstanceUID {earlier.sop}, seen earlier) but "
            f"for rows {rows[0] * BLOCK}-{(rows[1] + 1) * BLOCK - 1}, cols {cols[0] * BLOCK}-{(cols[1] + 1) * BLOCK - 1}: "
            "two acquisitions never share their noise, so one of the two was altered there")


def _changed(a: Entry, b: Entry) -> tuple[tuple[int, int], tuple[int, int]]:
    """The first and last rows and columns of blocks whose means differ between two images."""
    assert a.lines is not None and b.lines is not None
    ny, nx = len(a.lines.informative_rows), len(a.lines.informative_cols)
    rows = [i for i in range(ny) if a.lines.row(i) != b.lines.row(i)] or [0, ny - 1]  # none: the whole height
    cols = [j for j in range(nx) if a.lines.col(j) != b.lines.col(j)] or [0, nx - 1]
    return (min(rows), max(rows)), (min(cols), max(cols))
