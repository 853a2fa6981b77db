"""Internal: planning a scan into series-sized tasks and running one task (in-process or in a worker).

Files are grouped by a cheap header read (no pixel decoding) so each worker gets whole series and can
analyse them in 3D; stand-alone rasters and volumes are tasks of their own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from radtrust.errors import Error
from radtrust.forensics.results import InstanceResult, error_record
from radtrust.io import group_series, iter_files, iter_images, read_dataset
from radtrust.io.atomic import atomic_open
from radtrust.io.nifti import is_nifti
from radtrust.io.raster import FORMATS

if TYPE_CHECKING:
    from radtrust.forensics.scanner import Scanner

_WORKER: Scanner | None = None


def _group_key(path: Path) -> str:
    """SeriesInstanceUID, else Frame of Reference + series number + folder, else the file itself."""
    if is_nifti(path) or path.suffix.lower() in FORMATS:
        return f"file:{path}"
    ds = read_dataset(path, stop_before_pixels=True)
    uid = ds.get("SeriesInstanceUID")
    if uid:
        return f"series:{uid}"
    if ds.get("FrameOfReferenceUID"):
        return f"for:{ds.get('FrameOfReferenceUID')}|{ds.get('SeriesNumber')}|{path.parent}"
    return f"file:{path}"


def plan_groups(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[list[Path]], list[dict[str, Any]]]:
    """Files grouped into series-sized tasks, in order of first appearance, plus error records for unreadable files."""
    groups: dict[str, list[Path]] = {}
    errors: list[dict[str, Any]] = []
    for path in iter_files(paths):
        if not path.exists():
            errors.append(error_record(str(path), "no such file"))
            continue
        try:
            key = _group_key(path)
        except Error as exc:
            errors.append(error_record(str(path), exc.message))
            continue
        groups.setdefault(key, []).append(path)
    return list(groups.values()), errors


def save_npy(path: Path, array: np.ndarray) -> None:
    """Write an .npy atomically (temp file in the same folder, then rename)."""
    with atomic_open(path, chmod=0o644) as fh:
        np.save(fh, np.ascontiguousarray(array, dtype=np.float32))


def _instance_item(res: InstanceResult, image: Any, hdir: str | None, thumbnails: bool) -> tuple[dict, Any]:
    hpath = None
    if hdir is not None and res.heatmap is not None:
        target = Path(hdir) / res.heatmap_name()
        save_npy(target, res.heatmap)
        hpath = str(target)
    extra = None
    if thumbnails:
        from radtrust.forensics.report import thumbnail_png

        extra = {"thumbnail": thumbnail_png(image, res.heatmap), "signature": res.signature.detail,
                 "signature_state": res.signature.state}
    return res.record(hpath), extra


def scan_group(scanner: Scanner, paths: list[Path], hdir: str | None, thumbnails: bool) -> list[tuple[dict, Any]]:
    """Load one task's files, assemble series, scan them; return (record, extra) pairs in output order."""
    out: list[tuple[dict, Any]] = []
    images = []
    for loaded in iter_images(paths):
        if loaded.error is not None:
            out.append((error_record(str(loaded.path), loaded.error.message), None))
        else:
            images.append(loaded.image)
    for series in group_series(images):
        alone = len(series) == 1 and (series.series_instance_uid is None or not series.instances[0].has_header)
        if alone:
            image = series.instances[0]
            out.append(_instance_item(scanner.scan_image(image), image, hdir, thumbnails))
            continue
        results, sres = scanner.scan_series(series)
        for res, image in zip(results, series.instances):
            out.append(_instance_item(res, image, hdir, thumbnails))
        out.append((sres.record(), None))
    return out


def init_worker(config: dict[str, Any]) -> None:
    global _WORKER
    from radtrust.forensics.scanner import Scanner

    _WORKER = Scanner(config["detectors"], model=config["model"], trust=config["trust"], fpr=config["fpr"],
                      fusion=config["fusion"])


def scan_group_in_worker(paths: list[Path], hdir: str | None, thumbnails: bool) -> list[tuple[dict, Any]]:
    assert _WORKER is not None, "worker not initialised"
    return scan_group(_WORKER, paths, hdir, thumbnails)
