"""Series: the instances of one SeriesInstanceUID, sorted along the slice normal.

Problems a forensic analyst needs to know about are reported, not hidden: gaps in the slice
positions, duplicated positions, and mixed geometry (orientation, matrix, pixel spacing).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from radtrust.io.compare import pixel_relation
from radtrust.io.image import Geometry, Image
from radtrust.io.lossy import lossy_reason


@dataclass(frozen=True, eq=False)
class Series:
    """Sorted instances of one series, with the irregularities found while sorting."""

    series_instance_uid: str | None
    instances: tuple[Image, ...]
    positions: tuple[float | None, ...]
    problems: tuple[str, ...] = field(default=())

    @property
    def modality(self) -> str | None:
        return self.instances[0].modality if self.instances else None

    def __len__(self) -> int:
        return len(self.instances)

    @property
    def slice_spacing(self) -> float | None:
        pos = [p for p in self.positions if p is not None]
        if len(pos) < 2:
            return None
        return float(np.median(np.abs(np.diff(pos))))

    def is_volume(self) -> bool:
        """True when the instances are single 2D slices of one matrix size (stackable)."""
        shapes = {im.shape for im in self.instances}
        return len(shapes) == 1 and all(im.pixels.ndim == 2 for im in self.instances) and len(self.instances) > 1

    def volume(self) -> np.ndarray:
        """The slices stacked as (slices, rows, columns) in sorted order."""
        if not self.is_volume():
            raise ValueError("series instances do not form a stackable volume")
        return np.stack([im.pixels for im in self.instances])

    def summary(self) -> dict[str, object]:
        first = self.instances[0]
        return {
            "kind": "series",
            "series_instance_uid": self.series_instance_uid,
            "modality": self.modality,
            "instances": len(self.instances),
            "size": list(first.shape),
            "slice_spacing": self.slice_spacing,
            "span_mm": (max(p for p in self.positions if p is not None) - min(p for p in self.positions if p is not None))
            if sum(p is not None for p in self.positions) > 1 else None,
            "manufacturer": first.acquisition.manufacturer,
            "problems": list(self.problems),
        }


def geometry_key(im: Image) -> tuple[object, ...]:
    """(matrix, orientation, pixel spacing): what the slices of one stackable series share."""
    return geometry_tuple(im.shape, im.geometry)


def geometry_tuple(shape: tuple[int, ...], g: Geometry) -> tuple[object, ...]:
    orient = tuple(round(v, 3) for v in g.orientation) if g.orientation else None
    spacing = tuple(round(v, 4) for v in g.pixel_spacing) if g.pixel_spacing else None
    return (tuple(shape), orient, spacing)


def assemble(images: Iterable[Image]) -> Series:
    """Sort images of one series along the slice normal and report irregularities.

    Ties and missing positions fall back to InstanceNumber, then to the path, so the order
    never depends on the order files were listed in.
    """
    items = list(images)
    problems: list[str] = []
    uids = {im.series_instance_uid for im in items}
    if len(uids) > 1:
        problems.append(f"{len(uids)} SeriesInstanceUIDs mixed in one series")

    keys = {geometry_key(im) for im in items}
    if len(keys) > 1:
        problems.append(f"mixed geometry: {len(keys)} different matrix/orientation/spacing combinations")

    def instance_number(im: Image) -> int:
        ds = im.dataset
        try:
            return int(ds.get("InstanceNumber")) if ds is not None and ds.get("InstanceNumber") is not None else 0
        except (TypeError, ValueError):
            return 0

    # Project every slice on the normal of the first slice that has one.
    normal = next((im.geometry.normal for im in items if im.geometry.normal is not None), None)
    positions: list[float | None] = []
    for im in items:
        pos = im.geometry.position
        positions.append(float(np.dot(normal, pos)) if normal is not None and pos is not None else None)

    order = sorted(
        range(len(items)),
        key=lambda i: (positions[i] is None, positions[i] if positions[i] is not None else 0.0,
                       instance_number(items[i]), str(items[i].path)),
    )
    items = [items[i] for i in order]
    positions = [positions[i] for i in order]

    known = [p for p in positions if p is not None]
    if len(known) < len(positions) and len(items) > 1:
        problems.append(f"{len(positions) - len(known)} instance(s) without a position; sorted by InstanceNumber")
    thickness = [im.geometry.slice_thickness for im, p in zip(items, positions, strict=True) if p is not None]
    problems.extend(position_problems(known, thickness))
    return Series(
        series_instance_uid=items[0].series_instance_uid if items else None,
        instances=tuple(items),
        positions=tuple(positions),
        problems=tuple(problems),
    )


def position_problems(known: list[float], thickness: Sequence[float | None] | None = None) -> list[str]:
    """Duplicated positions, gaps and irregular steps among the sorted slice positions (mm along the normal);
    ``thickness``: each slice's SliceThickness where known (see :func:`_step_problems`)."""
    problems: list[str] = []
    if len(known) < 2:
        return problems
    diffs = np.diff(np.asarray(known))
    dup = int(np.sum(np.abs(diffs) < 1e-3))
    if dup:
        problems.append(f"{dup} duplicated slice position(s)")
    kept = np.abs(diffs) >= 1e-3
    steps = np.abs(diffs[kept])
    if steps.size:
        step = float(np.median(steps))
        new_part = _new_part(steps, kept, thickness) if thickness is not None else None
        gaps, irregular = _step_problems(steps, new_part=new_part)
        if gaps:
            problems.append(f"{gaps} gap(s) in slice positions (expected step {step:.3g} mm)")
        if irregular:
            problems.append(f"{irregular} irregular slice step(s) around {step:.3g} mm")
    return problems


def _new_part(steps: np.ndarray, kept: np.ndarray, thickness: Sequence[float | None]) -> np.ndarray:
    """Per step: whether it lies inside the first or last part of the series, of a thickness of its own: its two
    slices in the run of slices as thick as the series' first (or last) one, the step as long as they are thick,
    and other slices of the series of another thickness. An island of two thick slabs amid thinner ones (what
    rewriting SliceThickness around a removed slice would make) is no part. Every slice's thickness must be known."""
    out = np.zeros(steps.size, bool)
    t = np.array([math.nan if x is None else float(x) for x in thickness], dtype=float)
    if t.size != kept.size + 1 or not (np.isfinite(t) & (t > 0)).all():
        return out
    i = np.flatnonzero(kept)  # the step between slices i and i + 1
    for x, inside in ((t[0], i + 1 < _run(t)), (t[-1], i >= t.size - _run(t[::-1]))):
        if (np.abs(t - x) > 0.1 * x).any():
            out |= inside & (np.abs(steps - x) <= 0.1 * x)
    return out


def _run(t: np.ndarray) -> int:
    """How many slices from the first are as thick as it (within 1%)."""
    off = np.abs(t - t[0]) > 0.01 * t[0]
    return int(np.argmax(off)) if off.any() else t.size


def _step_problems(steps: np.ndarray, run: int = 3, new_part: np.ndarray | None = None) -> tuple[int, int]:
    """(gaps, irregular steps) among the slice steps of a sorted series, each step judged against the regular
    spacing on either side of it (the median of up to ``run`` steps before, and after).

    A protocol may change its spacing part-way (the GE head here: 14 slices every 4 mm, then 14 every 7 mm, with one
    overlapping step of 1.1 mm between): each part is regular, so a 7 mm step after the 4 mm part is no gap. A step
    is a gap when it exceeds 1.5 times the larger of the two spacings (a slice missing from a regular run doubles
    its step), irregular when it differs from both by more than 5%. Where a series (or a stretch cut from one) ends a
    few steps into a new part, those steps are judged against the old part's spacing; a step is neither gap nor
    irregular when ``new_part`` says it joins two slabs as thick as the step in a first or last part of their own
    thickness (contiguous slabs: the GE head's first 16 slices end 4 mm slabs, the overlap, then one 7 mm step). A
    slice missing from an overlapping reconstruction (5 mm slabs every 2.5 mm: a 5 mm step), from a series of one
    thickness, or amid slices of another thickness stays a gap.
    """
    gaps = irregular = 0
    overall = float(np.median(steps))
    for i, s in enumerate(steps):
        sides = [float(np.median(part)) for part in (steps[max(0, i - run):i], steps[i + 1:i + 1 + run]) if part.size]
        sides = sides or [overall]
        if new_part is not None and new_part[i]:
            continue
        if s > 1.5 * max(sides):
            gaps += 1
        elif all(abs(s - ref) > max(0.05 * ref, 0.01) for ref in sides):
            irregular += 1
    return gaps, irregular


def _fallback_key(im: Image) -> str | None:
    """For headers whose SeriesInstanceUID was blanked: Frame of Reference, series number, folder."""
    ds = im.dataset
    if ds is None or not ds.get("FrameOfReferenceUID"):
        return None
    return f"{ds.get('FrameOfReferenceUID')}|{ds.get('SeriesNumber')}|{im.path.parent if im.path else ''}"


def _split_copies(members: list[Image]) -> list[list[Image]]:
    """Copies of one series stay apart: a signed copy beside the original in another folder, or the same
    instance saved twice in one folder (re-encoded, renamed).

    A series whose SOPInstanceUIDs repeat is split by folder; within a folder, files are dealt in path order
    into the first part that does not yet hold their SOPInstanceUID, so no part holds one instance twice (which
    would read as two slices at one position). One series spread over several folders without repeats stays
    whole.
    """
    ids = _instance_ids(members)
    uids = [i for i in ids if i]
    if len(uids) == len(set(uids)):
        return [members]
    folders: dict[str, list[tuple[Image, str | None]]] = defaultdict(list)
    for im, uid in zip(members, ids):
        folders[str(im.path.parent) if im.path else ""].append((im, uid))
    out: list[list[Image]] = []
    for key in sorted(folders):
        parts: list[tuple[set[str], list[Image]]] = []
        for im, uid in sorted(folders[key], key=lambda pair: str(pair[0].path or "")):
            part = next((p for p in parts if uid is None or uid not in p[0]), None)
            if part is None:
                part = (set(), [])
                parts.append(part)
            if uid is not None:
                part[0].add(uid)
            part[1].append(im)
        out.extend(p[1] for p in parts)
    return out


def _instance_ids(members: list[Image]) -> list[str | None]:
    """Per member, what identifies its instance: the SOPInstanceUID, except that a file with the same position,
    InstanceNumber and matrix as an earlier one is that one again under a new UID when it is a copy: identical
    pixels (re-written by a toolkit that minted UIDs), or a lossy copy (one of the two records lossy compression
    and their pixels differ throughout, as a codec's error does: :func:`radtrust.io.compare.pixel_relation`).
    Pixels that differ in one region (an edited copy) keep their own UID: a second slice at that position, which
    the series reports."""
    ids = [m.sop_instance_uid for m in members]
    seen: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for j, m in enumerate(members):
        pos = m.geometry.position
        if pos is None:
            continue
        ds = m.dataset
        key = (tuple(round(v, 3) for v in pos), str(ds.get("InstanceNumber")) if ds is not None else None, m.shape)
        for i in seen[key]:
            if _same_slice(members[i], m):
                ids[j] = ids[i]
                break
        seen[key].append(j)
    return ids


def _same_slice(a: Image, b: Image) -> bool:
    if np.array_equal(a.pixels, b.pixels):
        return True
    if not (lossy_reason(a) or lossy_reason(b)) or a.pixels.shape != b.pixels.shape:
        return False
    # a codec's error reaches the whole image (flat air may stay untouched); an edit is local
    return pixel_relation(a.pixels, b.pixels)[0] == "throughout"


def group_series(images: Iterable[Image]) -> list[Series]:
    """Group images by SeriesInstanceUID, then sort each. Copies of a series in other folders stay apart.

    Images without a SeriesInstanceUID are grouped by Frame of Reference UID, series number and
    folder (and the series says so); with none of those, each stands alone.
    """
    groups: dict[str, list[Image]] = defaultdict(list)
    fallback: dict[str, list[Image]] = defaultdict(list)
    loose: list[Image] = []
    for im in images:
        key = _fallback_key(im)
        if im.series_instance_uid:
            groups[im.series_instance_uid].append(im)
        elif key is not None:
            fallback[key].append(im)
        else:
            loose.append(im)
    out = [assemble(part) for _, members in sorted(groups.items()) for part in _split_copies(members)]
    for _, members in sorted(fallback.items()):
        series = assemble(members)
        note = "no SeriesInstanceUID: grouped by Frame of Reference UID, series number and folder"
        out.append(Series(None, series.instances, series.positions, (note, *series.problems)))
    out.extend(assemble([im]) for im in loose)
    return out
