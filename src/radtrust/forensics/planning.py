"""Planning a scan: files grouped into series-sized tasks by a cheap header read (no pixel decoding).

Each task holds whole series so a worker can analyse them in 3D; stand-alone rasters and volumes are tasks of their
own. Tasks that share a SOPInstanceUID, or a slice's place while they stay small, are one task, so that copies of an
image are compared (:mod:`radtrust.forensics.copies`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radtrust.errors import Error
from radtrust.forensics.results import error_record
from radtrust.forensics.slabs import LONG_SERIES
from radtrust.io import iter_files, read_dataset
from radtrust.io.load import is_headerless

Place = tuple[str, tuple[float, ...], tuple[float, ...], int, int]


def _group_key(path: Path) -> tuple[str, str | None, Place | None]:
    """(task key, SOPInstanceUID, place): the key is the SeriesInstanceUID, else Frame of Reference + series number +
    folder, else the file itself; the place is where a slice lies (frame of reference or study, position,
    orientation, matrix), None when the header does not say."""
    if is_headerless(path):
        return f"file:{path}", None, None
    ds = read_dataset(path, stop_before_pixels=True)
    sop = str(ds.get("SOPInstanceUID") or "") or None
    uid = ds.get("SeriesInstanceUID")
    if uid:
        key = f"series:{uid}"
    elif ds.get("FrameOfReferenceUID"):
        key = f"for:{ds.get('FrameOfReferenceUID')}|{ds.get('SeriesNumber')}|{path.parent}"
    else:
        return f"file:{path}", sop, None
    return key, sop, slice_place(ds)


def slice_place(ds: Any) -> Place | None:
    """Where a slice lies: (frame of reference, else study, position, orientation, rows, columns); None when the
    header does not say."""
    frame = str(ds.get("FrameOfReferenceUID") or "") or str(ds.get("StudyInstanceUID") or "")
    try:
        pos = tuple(round(float(v), 2) for v in ds.ImagePositionPatient)
        orientation = tuple(round(float(v), 3) for v in ds.ImageOrientationPatient)
        rows, cols = int(ds.Rows), int(ds.Columns)
    except (AttributeError, TypeError, ValueError):
        return None
    return (frame, pos, orientation, rows, cols) if frame and len(pos) == 3 else None


@dataclass
class Plan:
    """A scan's tasks (files, in order of first appearance), the error records of unreadable files, and per task
    the places it holds that another task holds too (tasks too large to be joined: their slices are compared
    across tasks, :mod:`radtrust.forensics.refiled`)."""

    tasks: list[list[Path]]
    errors: list[dict[str, Any]]
    shared: list[frozenset[Place]] = field(default_factory=list)


def plan_groups(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[list[Path]], list[dict[str, Any]]]:
    """:func:`plan`'s tasks and error records."""
    p = plan(paths)
    return p.tasks, p.errors


def plan(paths: Iterable[str | os.PathLike[str]]) -> Plan:
    """Files grouped into series-sized tasks, in order of first appearance, plus error records for unreadable files.

    Tasks that share a SOPInstanceUID are one task, so copies of an instance are compared
    (:mod:`radtrust.forensics.copies`) even when one of them was given another SeriesInstanceUID. So are two series
    with a slice at the same place (frame of reference, position, orientation, matrix) when together they hold at
    most :data:`~radtrust.forensics.slabs.LONG_SERIES` files: an edited slice saved as a new series is compared with
    the slice it came from, and a task stays small enough to analyse whole (two long series at the same places, a
    second reconstruction of one acquisition, are not joined: their slices differ throughout anyway)."""
    groups: dict[str, list[Path]] = {}
    errors: list[dict[str, Any]] = []
    parent: dict[str, str] = {}
    first_key: dict[str, str] = {}
    at_place: dict[Place, set[str]] = {}
    same_sop: list[tuple[str, str]] = []
    order: dict[str, int] = {}  # task key -> rank of its first file
    size: dict[str, int] = {}  # task root -> files (filled once every file is planned)

    def root(k: str) -> str:
        while parent.get(k, k) != k:
            parent[k] = parent.get(parent[k], parent[k])
            k = parent[k]
        return k

    def join(a: str, b: str) -> None:
        a, b = root(a), root(b)
        if a != b:  # the task seen first absorbs the other
            if order[b] < order[a]:
                a, b = b, a
            parent[b] = a
            size[a] += size.pop(b)

    for path in iter_files(paths):
        if not path.exists():
            errors.append(error_record(str(path), "no such file"))
            continue
        try:
            key, sop, place = _group_key(path)
        except Error as exc:
            errors.append(error_record(str(path), exc.message))
            continue
        order.setdefault(key, len(order))
        groups.setdefault(key, []).append(path)
        if place is not None:
            at_place.setdefault(place, set()).add(key)
        if sop is not None and (first := first_key.setdefault(sop, key)) != key:
            same_sop.append((first, key))
    size.update((k, len(v)) for k, v in groups.items())
    for a, b in same_sop:
        join(a, b)
    for keys in at_place.values():
        ordered = sorted(keys, key=order.__getitem__)
        for other in ordered[1:]:
            a, b = root(ordered[0]), root(other)
            if a != b and size[a] + size[b] <= LONG_SERIES:
                join(a, b)
    merged: dict[str, list[Path]] = {}
    for key in sorted(groups, key=order.__getitem__):
        merged.setdefault(root(key), []).extend(groups[key])
    shared: dict[str, set[Place]] = {}
    for place, keys in at_place.items():
        roots = {root(k) for k in keys}
        if len(roots) > 1:
            for r in roots:
                shared.setdefault(r, set()).add(place)
    return Plan(list(merged.values()), errors, [frozenset(shared.get(r, ())) for r in merged])
