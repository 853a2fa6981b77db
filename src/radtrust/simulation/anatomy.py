"""Where lesions can go: lungs and body masks for CT volumes and radiographs.

For CT, the lung labels of the source are used when present (``../shared/data/ct/chest_volume`` has
TotalSegmentator lobes); otherwise the lungs are thresholded (air-like voxels, -950..-400 HU, inside
the body outline, components of at least 5 mL). Radiograph lung fields are approximated by the
darker (more transmissive) half of the central part of the image.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from radtrust.simulation.target import Target


def body_mask(volume: np.ndarray) -> np.ndarray:
    """The patient's body: voxels above -500 HU, holes filled slice by slice, largest component."""
    body = volume > -500
    if volume.ndim == 3:
        body = np.stack([ndi.binary_fill_holes(s) for s in body])
    else:
        body = ndi.binary_fill_holes(body)
    lab, n = ndi.label(body)
    if n == 0:
        return body
    sizes = ndi.sum(body, lab, index=np.arange(1, n + 1))
    return lab == (int(np.argmax(sizes)) + 1)


def ct_lungs(target: Target) -> np.ndarray:
    """Boolean lung mask for a CT volume (labels when the source has them, else a threshold)."""
    if target.lungs is not None and target.lungs.any():
        return target.lungs
    vol = target.pixels
    body = body_mask(vol)
    lungs = (vol > -950) & (vol < -400) & body
    lungs = ndi.binary_opening(lungs, iterations=1)
    lab, n = ndi.label(lungs)
    if n == 0:
        return lungs
    voxel_ml = float(np.prod(target.spacing)) / 1000.0
    sizes = ndi.sum(lungs, lab, index=np.arange(1, n + 1)) * voxel_ml
    keep = np.flatnonzero(sizes >= 5.0) + 1
    return np.isin(lab, keep)


def radiograph_fields(target: Target) -> np.ndarray:
    """Approximate lung fields of a chest radiograph: the darker half of the central region."""
    img = target.pixels * target.brighter
    h, w = img.shape
    central = np.zeros(img.shape, dtype=bool)
    central[int(h * 0.15):int(h * 0.85), int(w * 0.12):int(w * 0.88)] = True
    smooth = ndi.gaussian_filter(img, max(h, w) / 100.0)
    thr = np.median(smooth[central])
    return central & (smooth < thr)


_DEPTH_CACHE: list[tuple[np.ndarray, tuple[float, ...], tuple[int, ...], np.ndarray]] = []


def _depth(allowed: np.ndarray, spacing: tuple[float, ...]) -> tuple[tuple[int, ...], np.ndarray]:
    """Distance (mm) to the outside of ``allowed`` on a grid of about 2 mm (cached for the last masks)."""
    for arr, sp, step, depth in _DEPTH_CACHE:
        if arr is allowed and sp == tuple(spacing):
            return step, depth
    step = tuple(max(1, int(round(2.0 / s))) for s in spacing)
    small = allowed[tuple(slice(None, None, k) for k in step)]
    depth = ndi.distance_transform_edt(small, sampling=tuple(s * k for s, k in zip(spacing, step)))
    _DEPTH_CACHE.insert(0, (allowed, tuple(spacing), step, depth))
    del _DEPTH_CACHE[4:]
    return step, depth


def choose_center(allowed: np.ndarray, spacing: tuple[float, ...], radius_mm: float,
                  rng: np.random.Generator) -> tuple[int, ...] | None:
    """A random voxel at least ``radius_mm`` inside ``allowed`` (None when there is no such voxel).

    Depth is measured on a ~2 mm grid, so it is exact to about one grid step.
    """
    if not allowed.any():
        return None
    step, depth = _depth(allowed, spacing)
    cand = np.argwhere(depth >= radius_mm + max(s * (k - 1) for s, k in zip(spacing, step)))
    if cand.size == 0:
        return None
    pick = cand[int(rng.integers(0, len(cand)))]
    return tuple(int(v) * k for v, k in zip(pick, step))
