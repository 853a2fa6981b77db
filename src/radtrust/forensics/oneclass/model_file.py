"""The site-model file: a versioned ``.npz`` archive of numeric arrays plus one JSON metadata record.

Loading never executes code from the file. The archive is inspected with :mod:`zipfile` first (only ``.npy``
members, bounded uncompressed size), arrays are read with ``numpy.load(allow_pickle=False)`` (object arrays are
refused) and the metadata is plain JSON. A file written by a newer format version is refused with a message that
says so. Members are written with a fixed timestamp, so the same model gives the same bytes.

The file holds statistics only (means, covariances, bin edges, noise-model coefficients, detector fixed-pattern
estimates), never patient pixels or identifiers.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from radtrust.errors import InputError
from radtrust.io.atomic import atomic_open

FORMAT = "radtrust-site-model"
FORMAT_VERSION = 1
META_MEMBER = "__meta__.npy"
MAX_TOTAL_BYTES = 2 * 2**30  # refuse archives that would expand beyond 2 GiB
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


class ModelFileError(InputError):
    """A model file that cannot be used: not a model, damaged, or from a newer format version."""


def save(path: str | os.PathLike[str], meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write the archive atomically (temp file in the same folder, then ``os.replace``)."""
    path = Path(path)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta}
    blob = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode("utf-8")
    members = {META_MEMBER: np.frombuffer(blob, dtype=np.uint8)}
    for name, arr in sorted(arrays.items()):
        arr = np.ascontiguousarray(arr)
        if arr.dtype == object:
            raise ValueError(f"array {name} has dtype object; the model file holds numeric arrays only")
        members[name + ".npy"] = arr
    with atomic_open(path) as fh, zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in members.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arr, allow_pickle=False)
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())
    return path


def load(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and check an archive: ``(metadata, arrays)``. Raises :class:`ModelFileError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError("no such model file", path)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            total = sum(i.file_size for i in infos)
            if total > MAX_TOTAL_BYTES:
                raise ModelFileError(f"model archive would expand to {total / 2**30:.1f} GiB; refused", path)
            bad = [i.filename for i in infos if not i.filename.endswith(".npy") or i.filename.startswith(("/", ".."))
                   or "/../" in i.filename]
            if bad:
                raise ModelFileError(f"not a radtrust model: unexpected member {bad[0]!r}", path)
            names = {i.filename for i in infos}
            if META_MEMBER not in names:
                raise ModelFileError("not a radtrust model: no metadata record", path)
            arrays: dict[str, np.ndarray] = {}
            for name in sorted(names):
                with zf.open(name) as fh:
                    arrays[name[:-4]] = np.load(io.BytesIO(fh.read()), allow_pickle=False)
    except ModelFileError:
        raise
    except zipfile.BadZipFile:
        raise ModelFileError("not a radtrust model (not an .npz archive)", path) from None
    except ValueError as exc:  # numpy refuses object arrays without allow_pickle
        raise ModelFileError(f"not a radtrust model: {' '.join(str(exc).split())[:160]}", path) from None
    except (OSError, EOFError) as exc:
        raise ModelFileError(f"damaged model file: {' '.join(str(exc).split())[:160]}", path) from None
    raw = arrays.pop(META_MEMBER[:-4])
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError("not a radtrust model: bad metadata record", path)
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelFileError("not a radtrust model: metadata is not JSON", path) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"not a radtrust model (format {meta.get('format') if isinstance(meta, dict) else None!r})",
                             path)
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelFileError(f"not a radtrust model: bad format version {version!r}", path)
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"model file format version {version} is newer than this radtrust reads (up to {FORMAT_VERSION}); "
            "upgrade radtrust or retrain the model with this version", path)
    _check_content(meta, arrays, path)
    return meta, arrays


def _check_content(meta: dict[str, Any], arrays: dict[str, np.ndarray], path: Path) -> None:
    """What a model's statistics must be before a scan relies on them: numbers, never NaN (infinite bin edges are
    fine), and per group the dimensions ("2d", or "2d" and "3d") with as many features as the feature list names."""
    for name, arr in sorted(arrays.items()):
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise ModelFileError(f"damaged model file: array {name} holds {arr.dtype}, not numbers", path)
        if np.issubdtype(arr.dtype, np.inexact) and np.isnan(arr).any():
            raise ModelFileError(f"damaged model file: array {name} holds NaN", path)
    if "groups" not in meta:
        return
    from radtrust.forensics.oneclass.features import FEATURES_2D, FEATURES_Z

    if meta.get("features_2d") != list(FEATURES_2D) or meta.get("features_z") != list(FEATURES_Z):
        raise ModelFileError("model's feature list is not the one this radtrust computes; retrain the model", path)
    sizes = {"2d": len(FEATURES_2D), "3d": len(FEATURES_2D) + len(FEATURES_Z)}
    groups = meta["groups"]
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise ModelFileError("damaged model file: 'groups' is not a list of groups", path)
    for i, g in enumerate(groups):
        dims = g.get("dims")
        if not isinstance(dims, list) or "2d" not in dims or not set(dims) <= set(sizes) or len(set(dims)) != len(dims):
            raise ModelFileError(f"damaged model file: group {i} has dims {dims!r} (2d, or 2d and 3d)", path)
        for dim in dims:
            center = arrays.get(f"groups/{i}/{dim}/center")
            if center is None or center.shape != (sizes[dim],):
                found = "none" if center is None else center.shape
                raise ModelFileError(f"damaged model file: group {i} {dim} has arrays for {found} features, its "
                                     f"feature list {sizes[dim]}", path)
