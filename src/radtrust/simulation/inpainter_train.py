"""Training data and the ``radtrust simulate train-inpainter`` recipe for :mod:`radtrust.simulation.inpainter`.

CT: 32 mm cubes resampled to 32^3 at 1 mm, centred in the lungs (60 %, where there are lungs) or elsewhere
in the body, normalised as ``(HU + 1000) / 1000``. Radiographs: 64^2 patches at 1x, 2x, 4x and 8x
reduction, each normalised by its own mean and standard deviation. Everything is drawn from one seed.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from radtrust.errors import Error, InputError
from radtrust.io import group_series, iter_files, load_image
from radtrust.io.atomic import write_atomic
from radtrust.io.metaimage import is_metaimage
from radtrust.io.nifti import is_nifti
from radtrust.io.raster import FORMATS
from radtrust.simulation.anatomy import body_mask, ct_lungs
from radtrust.simulation.inpainter import CUBE, PATCH, _cube, ct_norm
from radtrust.simulation.target import Target, from_image, from_volume, from_raster, from_series


def sources(paths: Iterable[str | Path]) -> tuple[list[Target], list[Target]]:
    """(CT volumes, 2D images) under ``paths``."""
    ct: list[Target] = []
    two_d: list[Target] = []
    dicoms = []
    for f in iter_files([Path(p) for p in paths]):
        if is_nifti(f) or is_metaimage(f):
            if not f.name.lower().startswith("mask."):
                ct.append(from_volume(f))
        elif f.suffix.lower() in FORMATS:
            two_d.append(from_raster(f))
        else:
            try:
                dicoms.append(load_image(f))
            except Error:
                continue
    for s in group_series(dicoms):
        if len(s) >= 8 and s.is_volume():
            ct.append(from_series(s))
        else:
            two_d.extend(from_image(im) for im in s.instances if im.pixels.ndim == 2)
    return ct, two_d


def ct_cubes(targets: list[Target], n: int, rng: np.random.Generator) -> np.ndarray:
    out = []
    weights = np.array([t.pixels.size for t in targets], dtype=float)
    counts = rng.multinomial(n, weights / weights.sum()) if targets else []
    for t, k in zip(targets, counts):
        lungs = ct_lungs(t)
        body = body_mask(t.pixels)
        half = [int(np.ceil(CUBE / 2 / s)) for s in t.spacing]
        inner = np.zeros(t.pixels.shape, dtype=bool)
        inner[tuple(slice(h, n - h) for h, n in zip(half, t.pixels.shape))] = True
        pools = [np.argwhere(lungs & inner), np.argwhere(body & inner)]
        for _ in range(int(k)):
            pool = pools[0] if len(pools[0]) and rng.random() < 0.6 else pools[1]
            if not len(pool):
                continue
            c = tuple(int(v) for v in pool[int(rng.integers(0, len(pool)))])
            _, iso = _cube(t.pixels, c, t.spacing)
            if iso.shape == (CUBE,) * 3:
                out.append(ct_norm(iso).astype(np.float16))
    return np.stack(out) if out else np.zeros((0, CUBE, CUBE, CUBE), np.float16)


def xr_patches(targets: list[Target], n: int, rng: np.random.Generator) -> np.ndarray:
    out = []
    for i in range(n if targets else 0):
        t = targets[int(rng.integers(0, len(targets)))]
        k = int(rng.choice([1, 2, 4, 8]))
        img = t.pixels
        h, w = img.shape[0] // k, img.shape[1] // k
        if h < PATCH + 2 or w < PATCH + 2:
            continue
        img = img[: h * k, : w * k].reshape(h, k, w, k).mean(axis=(1, 3))
        y = int(rng.integers(int(h * 0.1), max(int(h * 0.1) + 1, int(h * 0.9) - PATCH)))
        x = int(rng.integers(int(w * 0.1), max(int(w * 0.1) + 1, int(w * 0.9) - PATCH)))
        p = img[y:y + PATCH, x:x + PATCH].astype(np.float32)
        if p.shape != (PATCH, PATCH):
            continue
        out.append(((p - p.mean()) / (p.std() + 1e-3)).astype(np.float16))
    return np.stack(out) if out else np.zeros((0, PATCH, PATCH), np.float16)


def prepare(paths: Iterable[str | Path], *, seed: int = 0, n_ct: int = 600, n_xr: int = 1500) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ct, two_d = sources(paths)
    if not ct and not two_d:
        raise InputError("no authentic CT volumes or radiographs found", ", ".join(map(str, paths)))
    return {"ct": ct_cubes(ct, n_ct, rng), "xr": xr_patches(two_d, n_xr, rng)}


def read_patches(path: str | Path) -> dict[str, np.ndarray]:
    """The training patches ``--prepare-only`` wrote (an NPZ with ``ct`` cubes and ``xr`` patches); anything else is
    an :class:`InputError` naming the file."""
    shapes = {"ct": (CUBE,) * 3, "xr": (PATCH, PATCH)}
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in shapes if k in z.files}
    except Exception as exc:  # noqa: BLE001 - missing, a folder, not an NPZ, object arrays, a damaged member
        problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise InputError(f"not training patches written by --prepare-only: {problem}", path) from None
    for key, shape in shapes.items():
        arr = data.get(key)
        if arr is None or arr.ndim != len(shape) + 1 or arr.shape[1:] != shape or not np.issubdtype(arr.dtype, np.floating):
            found = "missing" if arr is None else f"{arr.dtype} {arr.shape}"
            raise InputError(f"not training patches written by --prepare-only: '{key}' should be floats of shape "
                             f"(N, {', '.join(map(str, shape))}), found {found}", path)
        if not np.all(np.isfinite(arr)):
            raise InputError(f"training patches '{key}' hold NaN or infinite values", path)
    if not len(data["ct"]) and not len(data["xr"]):
        raise InputError("no training patches in this file", path)
    return data


def train_cli(args: argparse.Namespace, rep: Any) -> int:
    from radtrust.io.atomic import refuse_overwrite
    from radtrust.simulation.inpainter import _torch_net

    refuse_overwrite([args.out, getattr(args, "prepare_only", None)],
                     [*(args.authentic or []), *([args.from_data] if getattr(args, "from_data", None) else [])])
    if getattr(args, "from_data", None):
        data = read_patches(args.from_data)
    else:
        if not args.authentic:
            raise InputError("give --authentic PATH... (or --from-data NPZ)")
        data = prepare(args.authentic, seed=args.seed, n_ct=args.ct_samples, n_xr=args.xr_samples)
    if getattr(args, "prepare_only", None):
        import io

        buf = io.BytesIO()
        np.savez_compressed(buf, **data)
        write_atomic(Path(args.prepare_only), buf.getvalue())
        rep.record({}, f"wrote {args.prepare_only}: {len(data['ct'])} CT cubes, {len(data['xr'])} radiograph patches")
        return 0
    net = _torch_net()
    out = Path(args.out) if args.out else Path(__file__).resolve().parent.parent / "data" / "inpainter.pt"
    blob, meta = net.train_all({k: v.astype(np.float32) for k, v in data.items()}, steps=args.steps, seed=args.seed,
                               device=args.device, batch3d=args.batch3d, batch2d=args.batch2d)
    write_atomic(out, blob)
    rep.record(meta, f"wrote {out} ({len(blob) / 1e6:.1f} MB): {meta['train']}")
    return 0
