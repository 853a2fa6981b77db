"""Running the scanner once per benchmark image and keeping what the evaluation needs.

A 2D item goes through :meth:`Scanner.analyze`; a CT item (a series folder) through
:meth:`Scanner.series_findings`, which gives the series' score vector, each slice's vector and the maps.
Maps are kept per detector on a reduced grid (block means, at most ``MAP_SIDE`` pixels a side in-plane,
float16) so that fusion can be refitted per fold and localisation measured without re-running anything.
Images are analysed in worker processes (``jobs``), each with its own scanner.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radtrust import allocator
from radtrust.benchmarking.format import Row, load_mask
from radtrust.errors import Error

log = logging.getLogger(__name__)
MAP_SIDE = 128


@dataclass(eq=False)
class ItemResult:
    """One benchmark image's raw detector output."""

    row: Row
    scores: dict[str, float] = field(default_factory=dict)  # the item's vector (series vector for CT)
    instance_scores: list[dict[str, float]] = field(default_factory=list)  # per slice, CT only
    maps: dict[str, np.ndarray] = field(default_factory=dict)  # reduced, float16
    mask: np.ndarray | None = None  # reduced boolean mask (tampered rows with a pixel mask)
    seconds: float = 0.0
    slices: int = 1
    error: str | None = None
    eight_bit: bool = False  # a 2D picture of at most 256 grey levels (radtrust.forensics.limits)
    modality: str = ""  # as the image says (what labels.csv leaves out of its optional column)
    mask_problem: str | None = None  # a mask that could not be used (its shape, its type): image level only


def reduce_factor(shape: tuple[int, ...]) -> int:
    return max(1, int(np.ceil(max(shape[-2:]) / MAP_SIDE)))


def reduce_map(arr: np.ndarray, k: int, how: str = "mean") -> np.ndarray:
    """Block-reduce the last two axes by ``k`` (mean for maps, any-majority for masks)."""
    h, w = arr.shape[-2:]
    H, W = h // k * k, w // k * k
    a = arr[..., :H, :W].astype(np.float32)
    a = a.reshape(*arr.shape[:-2], H // k, k, W // k, k).mean(axis=(-3, -1))
    return a >= 0.5 if how == "mask" else a


def full_pixel_auc(scanner: Any, bench: Path, row: Row) -> float:
    """Pixel AUC of the scanner's fused heatmap, at full resolution (every second pixel and row), against the
    item's mask: what ``radtrust scan --heatmaps`` writes, where :class:`ItemResult` keeps reduced maps. NaN
    without a mask, a changed pixel or a map of the mask's shape."""
    from radtrust.benchmarking.format import mask_path
    from radtrust.benchmarking.metrics import roc_auc
    from radtrust.forensics.fusion import fuse_heatmaps

    path = Path(bench) / row.file
    if not mask_path(bench, row).is_file():
        return float("nan")
    mask = np.load(mask_path(bench, row)).astype(bool)
    if not mask.any() or mask.all():
        return float("nan")
    item = _load(path)
    if path.is_dir():
        found = scanner.series_findings(item)
        maps = [fuse_heatmaps(f, scanner.fusion, shape=im.shape, extra=scanner.extra)
                for f, im in zip(found.instances, item.instances)]
        heat = np.stack([m if m is not None else np.zeros(im.shape, np.float32) for m, im in zip(maps, item.instances)])
    else:
        res = scanner.scan_image(item)
        heat = res.heatmap if res.heatmap is not None else np.zeros(mask.shape, np.float32)
    if heat.shape != mask.shape:
        return float("nan")
    return roc_auc(mask[..., ::2, ::2].ravel().astype(int), heat[..., ::2, ::2].ravel())


def _load(path: Path) -> Any:
    from radtrust.io import load_image, load_series

    if path.is_dir():
        series = [s for s in load_series(path)]
        if len(series) != 1:
            raise Error(f"expected one series, found {len(series)}", path)
        return series[0]
    return load_image(path)


def analyze_item(scanner: Any, bench: Path, row: Row, path: Path | None = None) -> ItemResult:
    """Analyse one row's image (``path`` overrides where it is read from, e.g. a transformed copy)."""
    res = ItemResult(row)
    path = path or bench / row.file
    try:
        obj = _load(path)
        res.modality = str(getattr(obj, "modality", "") or "")
        t0 = time.perf_counter()
        if hasattr(obj, "instances"):
            found = scanner.series_findings(obj)
            res.seconds = time.perf_counter() - t0
            res.slices = len(obj)
            res.scores = {k: float(v) for k, v in found.series_scores.items()}
            res.instance_scores = [{k: float(f.score) for k, f in d.items()} for d in found.instances]
            shape = (len(obj), *obj.instances[0].shape)
            k = reduce_factor(shape)
            names = {n for d in found.instances for n in d}
            for name in sorted(names):
                per = [d.get(name) for d in found.instances]
                if all(f is not None and f.heatmap is not None and f.heatmap.shape == shape[1:] for f in per):
                    res.maps[name] = reduce_map(np.stack([f.heatmap for f in per]), k).astype(np.float16)
        else:
            from radtrust.forensics.limits import eight_bit_picture

            res.eight_bit = eight_bit_picture(obj)
            findings = scanner.analyze(obj)
            res.seconds = time.perf_counter() - t0
            shape = obj.shape
            k = reduce_factor(shape)
            res.scores = {n: float(f.score) for n, f in findings.items()}
            for n, f in findings.items():
                if f.heatmap is not None and f.heatmap.shape == shape:
                    res.maps[n] = reduce_map(f.heatmap, k).astype(np.float16)
        if row.label == 1:
            try:
                mask = load_mask(bench, row, shape)
            except Error as exc:  # the image is still measured, at image level: the report names the mask
                res.mask_problem, mask = str(exc), None
            if mask is not None and mask.any():
                res.mask = reduce_map(mask, k, "mask")
    except Error as exc:
        res.error = str(exc) if exc.path else f"{path}: {exc}"  # "PATH: problem", as the CLI prints it
    return res


_WORKER: dict[str, Any] = {}


def _init(factory: Callable[[], Any]) -> None:
    allocator.tune()
    _WORKER["scanner"] = factory()


def _work(args: tuple[Path, Row, Path | None]) -> ItemResult:
    bench, row, path = args
    return analyze_item(_WORKER["scanner"], bench, row, path)


def analyze_all(bench: Path, rows: Sequence[Row], factory: Callable[[], Any], *, jobs: int = 1,
                paths: Sequence[Path | None] | None = None, progress: Callable[[int, int], None] | None = None
                ) -> list[ItemResult]:
    """Analyse every row, in ``jobs`` processes; results in row order."""
    paths = list(paths) if paths is not None else [None] * len(rows)
    tasks = [(bench, r, p) for r, p in zip(rows, paths)]
    out: list[ItemResult] = []
    if jobs <= 1 or len(tasks) <= 1:
        scanner = factory()
        for i, t in enumerate(tasks):
            out.append(analyze_item(scanner, *t))
            if progress:
                progress(i + 1, len(tasks))
        return out
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init, initargs=(factory,)) as pool:
        for i, r in enumerate(pool.map(_work, tasks, chunksize=1)):
            out.append(r)
            if progress:
                progress(i + 1, len(tasks))
    return out


def iter_errors(results: Sequence[ItemResult]) -> Iterator[str]:
    return (f"{r.row.file}: {r.error}" for r in results if r.error)
