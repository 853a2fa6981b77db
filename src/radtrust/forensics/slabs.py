"""Long series scanned in slabs, so a scan's memory does not grow with the series.

Analysing a series at once holds every slice's pixels and every detector's map of it, 2D and 3D: 1.17 GB for 100
slices of 512² (`benchmarks/long_series_memory.py`; 13.6 MB per slice before the 3D detectors were run first), so a
1,000-slice thin-section CT would need over 10 GB in one worker. A series longer than :data:`LONG_SERIES` slices is planned from its headers alone (no pixel decoding):
sorted along the slice normal and cut into slabs of at most :data:`SLAB` consecutive slices, each read, analysed in
3D and reported with :data:`CONTEXT` slices of its neighbours on either side (analysed, not reported: every
reported slice has neighbours for the 3D detectors, and every pair of adjacent slices lies inside one slab), then
released before the next slab is read. The series record combines the slabs: each detector's strongest score over
the slices a slab reports (what lies in its context slices is the neighbouring slab's), the 3D evidence of the slab
where a detector scored highest and of any other that found something, the slice-position problems of the whole
series (from the headers), and the counts over all of its instances.

Only a plain series is planned this way: one SeriesInstanceUID, single-frame DICOM slices that all have a
position, one orientation, matrix and pixel spacing, no SOPInstanceUID or position twice. Anything else (copies of
an instance to compare, mixed geometry, files whose header cannot be read) is analysed whole, as before.

One image of more than :data:`LONG_SERIES` frames (an Enhanced CT holding a whole series, a NIfTI volume, a cine)
is analysed the same way, frames for slices (:meth:`radtrust.forensics.scanner.Scanner.scan_image`): its pixels are
read at once, but the detectors' maps are made slab by slab and only the fused map of the whole image is kept.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radtrust.errors import Error
from radtrust.io import read_dataset
from radtrust.io.dicom import geometry_of, modality_of
from radtrust.io.series import geometry_tuple, position_problems

LONG_SERIES = 128  # slices: a series this long or shorter is analysed whole
SLAB = 96  # slices reported per slab at most
CONTEXT = 8  # slices of the neighbouring slabs analysed with a slab on each side, not reported
_SLICE_INDEX = re.compile(r"\b(slices?) (\d+)(?:-(\d+))?\b")  # "slice 5", "slices 5-6", as the detectors write
_FRAME_INDEX = re.compile(r"\bframe (\d+) of \d+\b")  # physics on a multi-frame image: "frame 3 of 20"


def ranges(n: int) -> list[tuple[int, int, int, int]]:
    """(start, stop) of each slab of ``n`` slices or frames, context included, and (start, stop) of what it reports:
    at most :data:`SLAB` reported each, all of even size, :data:`CONTEXT` more on either side where there are some."""
    count = math.ceil(n / SLAB)
    size = math.ceil(n / count)  # slabs of even size: no short last slab
    return [(max(0, s - CONTEXT), min(n, s + size + CONTEXT), s, min(n, s + size)) for s in range(0, n, size)]


def renumber(line: str, offset: int, total: int | None = None) -> str:
    """An evidence line with the slice and frame indices a detector wrote for a slab starting at ``offset`` made
    indices in the whole series or image ("slice 5", "slices 5-6"; "frame 3 of 20", 1-based, of ``total``)."""
    line = _SLICE_INDEX.sub(lambda m: m.group(1) + " " + "-".join(str(int(v) + offset) for v in m.groups()[1:]
                                                                    if v is not None), line)
    if total is not None:
        line = _FRAME_INDEX.sub(lambda m: f"frame {int(m.group(1)) + offset} of {total}", line)
    return line


class Evidence:
    """Each detector's evidence over the slabs: the lines of the slab where it scored highest, then those of any other
    slab where it found something (a score of at least a half), without repeats; "nothing found here" from every
    slab would say the same thing once per slab."""

    def __init__(self) -> None:
        self._found: dict[str, list[tuple[float, tuple[str, ...]]]] = {}

    def add(self, name: str, score: float, lines: tuple[str, ...] | list[str]) -> None:
        self._found.setdefault(name, []).append((score, tuple(lines)))

    def lines(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, found in self._found.items():
            ranked = sorted(found, key=lambda sl: -sl[0])
            kept = [ranked[0][1]] + [lines for score, lines in ranked[1:] if score >= 0.5]
            out[name] = list(dict.fromkeys(line for lines in kept for line in lines))
        return out


@dataclass(frozen=True)
class Slab:
    paths: tuple[Path, ...]  # in slice order, context included
    report: frozenset[Path]  # the slices this slab reports
    start: int  # index of paths[0] in the whole series (sorted along the normal)

    def renumber(self, line: str) -> str:
        """An evidence line with the slice indices the detectors wrote (0-based within this slab) made indices in
        the whole series, as a scan of the whole series would have written them."""
        return renumber(line, self.start)


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
        modality = modality or modality_of(ds)[0]
        normal = geom.normal if normal is None else normal
        rows.append((float(np.dot(normal, np.asarray(geom.position, dtype=float))), path))
    if len(uids) != 1 or "" in uids or len(keys) != 1:
        return None
    rows.sort(key=lambda r: (r[0], str(r[1])))
    positions = [r[0] for r in rows]
    if np.any(np.abs(np.diff(positions)) < 1e-3):
        return None  # two slices at one position: a copy under a new UID is told apart by its pixels, whole
    order = [r[1] for r in rows]
    slabs = tuple(Slab(tuple(order[lo:hi]), frozenset(order[a:b]), lo) for lo, hi, a, b in ranges(len(order)))
    return SlabPlan(uids.pop(), modality, slabs, tuple(position_problems(positions)))
