"""Long series scanned in slabs, so a scan's memory does not grow with the series.

Analysing a series at once holds every slice's pixels and every detector's map of it, 2D and 3D: about 13.6 MB per
512² slice (`benchmarks/long_series_memory.py`), so a 1,000-slice thin-section CT would need some 14 GB in one
worker. A series longer than :data:`LONG_SERIES` slices is planned from its headers alone (no pixel decoding):
sorted along the slice normal and cut into slabs of at most :data:`SLAB` consecutive slices, each read, analysed in
3D and reported with :data:`CONTEXT` slices of its neighbours on either side (analysed, not reported: every
reported slice has neighbours for the 3D detectors, and every pair of adjacent slices lies inside one slab), then
released before the next slab is read. The series record combines the slabs: each detector's strongest score,
every slab's 3D evidence, the slice-position problems of the whole series (from the headers), and the counts
over all of its instances.

Only a plain series is planned this way: one SeriesInstanceUID, single-frame DICOM slices that all have a
position, one orientation, matrix and pixel spacing, no SOPInstanceUID or position twice. Anything else (copies of
an instance to compare, mixed geometry, files whose header cannot be read) is analysed whole, as before.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radtrust.errors import Error
from radtrust.io import read_dataset
from radtrust.io.dicom import geometry_of
from radtrust.io.series import geometry_tuple, position_problems

LONG_SERIES = 128  # slices: a series this long or shorter is analysed whole
SLAB = 96  # slices reported per slab at most
CONTEXT = 8  # slices of the neighbouring slabs analysed with a slab on each side, not reported
_SLICE_INDEX = re.compile(r"\b(slices?) (\d+)(?:-(\d+))?\b")  # "slice 5", "slices 5-6", as the detectors write


@dataclass(frozen=True)
class Slab:
    paths: tuple[Path, ...]  # in slice order, context included
    report: frozenset[Path]  # the slices this slab reports
    start: int  # index of paths[0] in the whole series (sorted along the normal)

    def renumber(self, line: str) -> str:
        """An evidence line with the slice indices the detectors wrote (0-based within this slab) made indices in
        the whole series, as a scan of the whole series would have written them."""
        return _SLICE_INDEX.sub(lambda m: m.group(1) + " " + "-".join(str(int(v) + self.start) for v in m.groups()[1:]
                                                                       if v is not None), line)


@dataclass(frozen=True)
class SlabPlan:
    series_instance_uid: str
    modality: str | None
    slabs: tuple[Slab, ...]
    problems: tuple[str, ...]  # slice-position problems of the whole series

    @property
    def instances(self) -> int:
        return sum(len(s.report) for s in self.slabs)


def plan_slabs(paths: list[Path]) -> SlabPlan | None:
    """Slabs for a long plain series (see the module docstring), None to analyse the task whole."""
    slab, context = SLAB, CONTEXT
    if len(paths) <= LONG_SERIES:
        return None
    rows: list[tuple[float, Path]] = []
    uids: set[str] = set()
    sops: set[str] = set()
    keys: set[tuple[object, ...]] = set()
    modality = None
    normal = None
    for path in paths:
        try:
            ds = read_dataset(path, stop_before_pixels=True)
        except Error:
            return None
        sop = str(ds.get("SOPInstanceUID") or "")
        frames = ds.get("NumberOfFrames")
        geom = geometry_of(ds)
        if not sop or sop in sops or (frames is not None and str(frames).strip() not in ("", "1")):
            return None
        if geom.position is None or geom.normal is None or "Rows" not in ds or "Columns" not in ds:
            return None
        sops.add(sop)
        uids.add(str(ds.get("SeriesInstanceUID") or ""))
        keys.add(geometry_tuple((int(ds.Rows), int(ds.Columns)), geom))
        modality = modality or (str(ds.get("Modality") or "") or None)
        normal = geom.normal if normal is None else normal
        rows.append((float(np.dot(normal, np.asarray(geom.position, dtype=float))), path))
    if len(uids) != 1 or "" in uids or len(keys) != 1:
        return None
    rows.sort(key=lambda r: (r[0], str(r[1])))
    positions = [r[0] for r in rows]
    if np.any(np.abs(np.diff(positions)) < 1e-3):
        return None  # two slices at one position: a copy under a new UID is told apart by its pixels, whole
    order = [r[1] for r in rows]
    count = math.ceil(len(order) / slab)
    size = math.ceil(len(order) / count)  # slabs of even size: no short last slab
    slabs = tuple(Slab(tuple(order[max(0, s - context): s + size + context]), frozenset(order[s: s + size]),
                       max(0, s - context)) for s in range(0, len(order), size))
    return SlabPlan(uids.pop(), modality, slabs, tuple(position_problems(positions)))
