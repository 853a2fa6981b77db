"""The benchmark format every radtrust tool reads (a folder ``BENCH``):

- ``BENCH/labels.csv``: one row per image with the columns ``file`` (path relative to BENCH: a DICOM
  file, or a folder holding one DICOM series for a CT volume), ``label`` (0 authentic, 1 tampered),
  ``method`` (empty for authentic), ``split`` (``train``/``test``), ``modality``, ``patient``, ``source``
  and ``variant`` (the anti-forensic steps applied, ``plain`` if none, empty for authentic). Only ``file``
  and ``label`` are required: without ``split`` every row is ``test`` (a folder to evaluate, not to fit on),
  without ``method`` the tampered rows are of one method called ``unnamed``;
- ``BENCH/masks/<stem>.npy``: a boolean mask, the shape of the image (rows, cols) or volume (slices,
  rows, cols), for every tampered row whose changed pixels are known (all False for metadata-only edits;
  the simulator writes one for every row). A tampered row without one, as in a dataset labelled per image
  only, is measured at image level and left out of the localisation figures; the report counts such rows.
  ``<stem>`` is the file's name without its image suffix (``.dcm``, ``.png``, ...); the simulator keeps stems
  unique. Files of one name in several folders (``authentic/0001.png``, ``tampered/0001.png``) take their masks
  by path instead: ``masks/tampered/0001.npy``.
- ``BENCH/sidecars/<stem>.json``: how each tampered image was made (never read by detectors).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from radtrust.errors import InputError
from radtrust.io.atomic import write_atomic

REQUIRED = ("file", "label")
#: a labels.csv without a ``split`` column is for evaluation only (every row ``test``); without a ``method`` column
#: its tampered rows are of one unnamed method
NO_SPLIT, NO_METHOD = "test", "unnamed"
COLUMNS = ("file", "label", "method", "split", "modality", "patient", "source", "variant")
SPLITS = ("train", "test")


@dataclass(frozen=True)
class Row:
    file: str
    label: int
    method: str = ""
    split: str = "train"
    modality: str = ""
    patient: str = ""
    source: str = ""
    variant: str = ""

    @property
    def stem(self) -> str:
        return stem_of(self.file)

    @property
    def key(self) -> str:
        """The file's path without its image suffix: unique within a benchmark where stems need not be."""
        return (Path(self.file).parent / self.stem).as_posix()

    @property
    def is_series(self) -> bool:
        """A folder holding one DICOM series (no image-file suffix)."""
        return stem_of(self.file) == Path(self.file).name


IMAGE_SUFFIXES = (".dcm", ".dicom", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".nii.gz", ".nii", ".mhd", ".mha")


def stem_of(file: str) -> str:
    """The file's name without its image suffix (a series folder's name as it is)."""
    name = Path(file).name
    for suffix in IMAGE_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def mask_path(bench: str | os.PathLike[str], row: Row) -> Path:
    """``masks/<path without suffix>.npy`` where it exists (files of one name in several folders), else
    ``masks/<stem>.npy`` (what the simulator writes)."""
    nested = Path(bench) / "masks" / f"{row.key}.npy"
    return nested if nested.is_file() else Path(bench) / "masks" / f"{row.stem}.npy"


def sidecar_path(bench: str | os.PathLike[str], row: Row) -> Path:
    return Path(bench) / "sidecars" / f"{row.stem}.json"


def _check(rows: list[Row], where: Path, *, unique_stems: bool = True) -> None:
    """Validate rows; ``unique_stems``: as the simulator writes them (a folder read from elsewhere may hold files of
    one name in several folders; only their files must differ, and :func:`read_labels` checks their masks)."""
    stems: set[str] = set()
    files: set[str] = set()
    for i, r in enumerate(rows, start=2):
        if r.label not in (0, 1):
            raise InputError(f"line {i}: label must be 0 or 1, got {r.label!r}", where)
        if r.split not in SPLITS:
            raise InputError(f"line {i}: split must be train or test, got {r.split!r}", where)
        if (r.label == 1) != bool(r.method):
            raise InputError(f"line {i}: method must be empty exactly for authentic rows", where)
        if not r.file or Path(r.file).is_absolute() or ".." in Path(r.file).parts:
            raise InputError(f"line {i}: file must be a relative path inside the benchmark, got {r.file!r}", where)
        if r.key in files:  # masks and robustness copies are named by it
            raise InputError(f"line {i}: {r.file!r} is listed twice (or beside a file of the same path but its "
                             "suffix)", where)
        files.add(r.key)
        if unique_stems and r.stem in stems:
            raise InputError(f"line {i}: duplicate file stem {r.stem!r}", where)
        stems.add(r.stem)


def read_labels(bench: str | os.PathLike[str], *, check_files: bool = True) -> list[Row]:
    """Rows of ``BENCH/labels.csv``, validated (the listed files exist when ``check_files``; masks may not:
    :func:`load_mask`)."""
    bench = Path(bench)
    path = bench / "labels.csv"
    if not path.is_file():
        raise InputError("not a benchmark folder: labels.csv is missing", bench)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from None
    except UnicodeDecodeError:
        raise InputError("labels.csv is not UTF-8 text", path) from None
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"labels.csv lacks column(s) {', '.join(missing)}", path)
        has_method, has_split = ("method" in reader.fieldnames), ("split" in reader.fieldnames)
        rows = []
        for i, rec in enumerate(reader, start=2):
            label = _label(rec["label"])
            if label is None:
                raise InputError(f"line {i}: label must be 0 or 1, got {rec['label']!r}", path)
            method = (rec.get("method") or "") if has_method else (NO_METHOD if label == 1 else "")
            rows.append(Row(file=rec["file"], label=label, method=method,
                            split=(rec.get("split") or "") if has_split else NO_SPLIT,
                            modality=rec.get("modality") or "", patient=rec.get("patient") or "",
                            source=rec.get("source") or "", variant=rec.get("variant") or ""))
    except csv.Error as exc:
        raise InputError(f"labels.csv is not CSV: {exc}", path) from None
    _check(rows, path, unique_stems=False)
    _check_shared_stems(bench, rows, path)
    if check_files:
        for r in rows:
            if not (bench / r.file).exists():
                raise InputError(f"listed in labels.csv but missing: {r.file}", bench)
    return rows


_LABELS = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "false": 0, "true": 1}  # as spreadsheets and pandas write them too


def _label(text: str | None) -> int | None:
    return _LABELS.get((text or "").strip().lower())


def _check_shared_stems(bench: Path, rows: list[Row], where: Path) -> None:
    """Files of one name in several folders cannot share ``masks/<stem>.npy``: each tampered one needs its own
    ``masks/<path>.npy`` wherever a mask of that stem exists."""
    by_stem: dict[str, list[Row]] = {}
    for r in rows:
        by_stem.setdefault(r.stem, []).append(r)
    for stem, shared in by_stem.items():
        if len(shared) < 2 or not (bench / "masks" / f"{stem}.npy").is_file():
            continue
        if any(r.label == 1 and not (bench / "masks" / f"{r.key}.npy").is_file() for r in shared):
            raise InputError(f"masks/{stem}.npy could be the mask of any of {len(shared)} files named {stem!r} in "
                             f"different folders: name each by its path (masks/{shared[0].key}.npy, ...)", where)


def write_labels(bench: str | os.PathLike[str], rows: Iterable[Row]) -> Path:
    """Write ``labels.csv`` atomically, rows sorted by file."""
    bench = Path(bench)
    rows = sorted(rows, key=lambda r: r.file)
    _check(rows, bench / "labels.csv")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=[f.name for f in fields(Row)], lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(asdict(r))
    write_atomic(bench / "labels.csv", buf.getvalue(), chmod=0o644)
    return bench / "labels.csv"


def load_mask(bench: str | os.PathLike[str], row: Row, shape: tuple[int, ...] | None = None) -> np.ndarray | None:
    """The row's boolean mask, checked against ``shape`` when given; for an authentic row None (all False with a
    ``shape``), for a tampered row without a mask file None (its changed pixels are not known)."""
    if row.label == 0:
        return None if shape is None else np.zeros(shape, dtype=bool)
    path = mask_path(bench, row)
    if not path.exists():
        return None
    try:
        mask = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read mask: {exc}", path) from None
    if mask.dtype != bool:
        raise InputError(f"mask must be boolean, found {mask.dtype}", path)
    if shape is not None and tuple(mask.shape) != tuple(shape):
        raise InputError(f"mask shape {mask.shape} differs from the image's {shape}", path)
    return mask


def unmasked(bench: str | os.PathLike[str], rows: Iterable[Row]) -> list[str]:
    """The files of the tampered rows that have no mask (measured at image level only)."""
    return [r.file for r in rows if r.label == 1 and not mask_path(bench, r).exists()]


def split_rows(rows: Iterable[Row], split: str) -> Iterator[Row]:
    return (r for r in rows if r.split == split)
