"""Internal: running a scan's series-sized tasks (:mod:`radtrust.forensics.planning`), in-process or in worker
processes.

Each worker gets whole series and can analyse them in 3D. In a pool at most
:data:`IN_FLIGHT` tasks per worker are submitted ahead of the one being reported, so the results of an
archive do not pile up in memory behind a slow series; and a worker that dies (killed, out of memory) costs
its own task, not the scan.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from radtrust import allocator
from radtrust.forensics.copies import CopyFinding, compare_copies
from radtrust.forensics.planning import Place, slice_place
from radtrust.forensics.results import (
    FLAGGED,
    InstanceResult,
    SeriesTally,
    error_record,
)
from radtrust.forensics.same_pixels import fingerprint
from radtrust.forensics.slabs import Evidence, Slab, SlabPlan, plan_slabs
from radtrust.forensics.trust import signature_status
from radtrust.io import group_series, iter_images
from radtrust.io.atomic import atomic_open

if TYPE_CHECKING:
    from radtrust.forensics.scanner import Scanner

_WORKER: Scanner | None = None
IN_FLIGHT = 4  # tasks per worker submitted ahead
NONE: frozenset[Place] = frozenset()  # no place of the task is held by another task
DIED = "the analysis process died on this file's series (killed, or out of memory); nothing was recorded for it"


def save_npy(path: Path, array: np.ndarray) -> None:
    """Write an .npy atomically (temp file in the same folder, then rename)."""
    with atomic_open(path, chmod=0o644) as fh:
        np.save(fh, np.ascontiguousarray(array, dtype=np.float32))


Thumbnails = Literal["all", "flagged"] | None
"""Which images of a task get a report thumbnail: every one, the flagged ones only (the report already holds as many
of the others as it keeps), or none."""


def thumbnail_mode(want: bool | Callable[[], bool]) -> Thumbnails:
    """The mode for the next task: ``want`` is False (no report), True (every image), or asked now whether images
    that are not flagged still need thumbnails (the report's cap: :class:`~radtrust.forensics.report.ReportItems`)."""
    if not want:
        return None
    return "all" if want is True or want() else "flagged"


def _instance_item(res: InstanceResult, image: Any, hdir: str | None, thumbnails: Thumbnails,
                   names: dict[str, int], places: frozenset[Place] = NONE, index: bool = False) -> tuple[dict, Any]:
    hpath = None
    if hdir is not None and res.heatmap is not None:
        name = res.heatmap_name()
        names[name] = names.get(name, 0) + 1
        if names[name] > 1:  # a second copy of one instance in this task: its own file, not the first one's
            name = f"{name[: -len('.npy')]}_copy{names[name]}.npy"
        target = Path(hdir) / name
        save_npy(target, res.heatmap)
        hpath = str(target)
    extra = None
    if thumbnails is not None:
        from radtrust.forensics.report import thumbnail_png

        made = thumbnails == "all" or res.verdict in FLAGGED
        extra = {"thumbnail": thumbnail_png(image, res.heatmap) if made else None, "signature": res.signature.detail,
                 "signature_state": res.signature.state}
    if places and image.dataset is not None and (place := slice_place(image.dataset)) in places:
        from radtrust.forensics.digest import pixel_digest

        extra = {**(extra or {}), "place": place, "digest": pixel_digest(image)}  # for refiled.CrossTask
    if index and (fp := fingerprint(image)) is not None:
        extra = {**(extra or {}), "pixels": fp}  # for same_pixels.PixelIndex
    return res.record(hpath), extra


def scan_group(scanner: Scanner, paths: list[Path], hdir: str | None, thumbnails: Thumbnails,
               places: frozenset[Place] = NONE) -> list[tuple[dict, Any]]:
    """Load one task's files, assemble series, scan them; return (record, extra) pairs in output order.

    A long plain series is read and analysed slab by slab (:mod:`radtrust.forensics.slabs`)."""
    plan = plan_slabs(paths)
    if plan is not None:
        return _scan_slabs(scanner, plan, hdir, thumbnails, places)
    out: list[tuple[dict, Any]] = []
    images = []
    for loaded in iter_images(paths):
        if loaded.error is not None:
            out.append((error_record(str(loaded.path), loaded.error.message), None))
        else:
            images.append(loaded.image)
    copies = _copy_findings(scanner, images)
    names: dict[str, int] = {}
    for series in group_series(images):
        alone = len(series) == 1 and (series.series_instance_uid is None or not series.instances[0].has_header)
        if alone:
            image = series.instances[0]
            out.append(_instance_item(scanner.scan_image(image, copies.get(id(image))), image, hdir, thumbnails, names,
                                      places, scanner.copies != "off"))
            continue
        results, sres = scanner.scan_series(series, copies)
        for res, image in zip(results, series.instances):
            out.append(_instance_item(res, image, hdir, thumbnails, names, places, scanner.copies != "off"))
        out.append((sres.record(), None))
    return out


@dataclass
class _SlabbedSeries:
    """What a series scanned in slabs has gathered so far: output items and what its series record needs."""

    out: list[tuple[dict, Any]] = field(default_factory=list)
    names: dict[str, int] = field(default_factory=dict)  # heatmap file names given
    tally: SeriesTally = field(default_factory=SeriesTally)
    scores: dict[str, float] = field(default_factory=dict)
    evidence_3d: Evidence = field(default_factory=Evidence)
    notes: list[str] = field(default_factory=list)


def _scan_slabs(scanner: Scanner, plan: SlabPlan, hdir: str | None, thumbnails: Thumbnails,
                places: frozenset[Place]) -> list[tuple[dict, Any]]:
    """A long series slab by slab: each slab's reported slices, then one series record over all of them."""
    acc = _SlabbedSeries(notes=[f"series: {p}" for p in plan.problems])
    for slab in plan.slabs:  # one at a time: a slab's pixels and maps are released when _scan_slab returns
        _scan_slab(scanner, slab, hdir, thumbnails, acc, places)
    sres = scanner.series_result(plan.series_instance_uid, plan.modality, acc.scores, acc.evidence_3d.lines(),
                                 list(dict.fromkeys(acc.notes)), acc.tally)
    return [*acc.out, (sres.record(), None)]


def _scan_slab(scanner: Scanner, slab: Slab, hdir: str | None, thumbnails: Thumbnails, acc: _SlabbedSeries,
               places: frozenset[Place]) -> None:
    """Scan one slab: its reported instances go to ``acc.out``, what the series record needs to the rest of ``acc``."""
    images = []
    for loaded in iter_images(slab.paths):
        if loaded.error is None:
            images.append(loaded.image)
        elif loaded.path in slab.report:
            acc.out.append((error_record(str(loaded.path), loaded.error.message), None))
    for series in group_series(images):  # one SeriesInstanceUID, no instance twice: one series
        found = scanner.series_findings(series)
        keep = [i for i, im in enumerate(series.instances) if im.path in slab.report]
        for i, res in zip(keep, scanner.instance_results(series, found, keep=keep)):
            res.evidence = [slab.renumber(line) for line in res.evidence]
            acc.out.append(_instance_item(res, series.instances[i], hdir, thumbnails, acc.names, places,
                                          scanner.copies != "off"))
            acc.tally.add(res)
        carried, lines = found.carried_by(keep)  # what lies in the context slices is its own slab's to report
        for name, value in carried.items():
            acc.scores[name] = max(acc.scores.get(name, 0.0), value)
        for name, found_lines in lines.items():
            acc.evidence_3d.add(name, carried[name], [slab.renumber(line) for line in found_lines])
        own = {f"series: {p}" for p in series.problems}  # the slab's view of the positions; the plan has the series'
        acc.notes.extend(n for n in found.notes if n not in own)


def _copy_findings(scanner: Scanner, images: list[Any]) -> dict[int, CopyFinding]:
    """Copies of one instance that disagree (:mod:`radtrust.forensics.copies`), keyed by ``id()`` of the image."""
    if scanner.copies == "off":
        return {}
    found = compare_copies(images)
    signed: dict[int, bool] = {}
    for f in found.values():
        for j in f.others:
            if j not in signed:
                signed[j] = signature_status(images[j], scanner.trust).state == "valid"
        f.other_signed = any(signed[j] for j in f.others)
    return {id(images[i]): f for i, f in found.items()}


def init_worker(config: dict[str, Any]) -> None:
    global _WORKER
    from radtrust.forensics.scanner import Scanner

    allocator.tune()  # a worker of ours, however it was started (fork, spawn, forkserver)

    _WORKER = Scanner(config["detectors"], model=config["model"], trust=config["trust"], fpr=config["fpr"],
                      fusion=config["fusion"], copies=config["copies"])


def scan_group_in_worker(paths: list[Path], hdir: str | None, thumbnails: Thumbnails,
                         places: frozenset[Place] = NONE) -> list[tuple[dict, Any]]:
    assert _WORKER is not None, "worker not initialised"
    return scan_group(_WORKER, paths, hdir, thumbnails, places)


Items = list[tuple[dict[str, Any], Any]]


def run_pool(config: dict[str, Any], groups: list[list[Path]], hdir: str | None, thumbnails: bool | Callable[[], bool],
             workers: int, shared: dict[tuple[Path, ...], frozenset[Place]] | None = None) -> Iterable[Items]:
    """Each task's (record, extra) pairs, in task order, from ``workers`` processes.

    When a worker dies the pool breaks and every task in it fails. The first failed task (in order) is run
    again alone in a fresh process, which either completes it or, if that process dies too, gives its
    files error records; the other tasks go on in a new pool. Every round finishes at least one task.
    """
    todo = deque(groups)
    while todo:
        failed = yield from _pool_round(config, todo, hdir, thumbnails, workers, shared or {})
        if failed is None:
            return
        yield _alone(config, failed, hdir, thumbnail_mode(thumbnails), (shared or {}).get(tuple(failed), NONE))


def _pool_round(config: dict[str, Any], todo: deque[list[Path]], hdir: str | None,
                thumbnails: bool | Callable[[], bool], workers: int,
                shared: dict[tuple[Path, ...], frozenset[Place]]) -> Generator[Items, None, list[Path] | None]:
    """Run tasks from ``todo`` until it is empty (None) or the pool breaks (the first failed task; the rest requeued)."""
    pool = ProcessPoolExecutor(max_workers=workers, initializer=init_worker, initargs=(config,))
    try:
        inflight: deque = deque()
        while todo or inflight:
            while todo and len(inflight) < workers * IN_FLIGHT:
                g = todo.popleft()
                inflight.append((g, pool.submit(scan_group_in_worker, g, hdir, thumbnail_mode(thumbnails),
                                                shared.get(tuple(g), NONE))))
            g, fut = inflight.popleft()
            try:
                items = fut.result()
            except BrokenProcessPool:
                todo.extendleft(reversed([h for h, _ in inflight]))
                return g
            yield items
        return None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _alone(config: dict[str, Any], group: list[Path], hdir: str | None, thumbnails: Thumbnails,
           places: frozenset[Place]) -> Items:
    with ProcessPoolExecutor(max_workers=1, initializer=init_worker, initargs=(config,)) as pool:
        try:
            return pool.submit(scan_group_in_worker, group, hdir, thumbnails, places).result()
        except BrokenProcessPool:
            return [(error_record(str(p), DIED), None) for p in group]
