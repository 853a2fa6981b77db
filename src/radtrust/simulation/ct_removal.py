"""Lesion/nodule removal from a CT volume by 3D in-painting from the surrounding tissue (CT-GAN's
"remove" model, Mirsky et al., USENIX Security 2019, made without a network).

The region to remove is a sphere around a bright blob: the given ``at`` or, by default, the strongest
nodule-scale blob (Laplacian-of-Gaussian) inside the lungs. Its content is replaced by a smooth fill
from the surrounding *healthy* tissue (bright structures in the surrounding shell are first replaced by
the shell's median, so a vessel crossing the shell is not smeared into the hole), then CT-GAN's
anti-forensic steps optionally put noise and texture back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi

from radtrust.errors import NotApplicable
from radtrust.simulation import antiforensics as afm
from radtrust.simulation._ops import bbox_slices, fill_from_boundary, radius_mm
from radtrust.simulation.anatomy import body_mask, ct_lungs
from radtrust.simulation.target import Tampered, Target


def find_blob(volume: np.ndarray, allowed: np.ndarray, spacing: tuple[float, ...], diameter_mm: float,
              rng: np.random.Generator, margin_mm: float = 4.0) -> tuple[int, ...] | None:
    """A random one of the strongest bright blobs of about ``diameter_mm`` inside ``allowed``."""
    sigma = tuple(max(diameter_mm / 2.8 / s, 0.7) for s in spacing)
    step = tuple(max(1, int(round(2.0 / s))) for s in spacing)  # analyse at about 2 mm for speed
    small = volume[tuple(slice(None, None, k) for k in step)]
    allow_small = allowed[tuple(slice(None, None, k) for k in step)]
    sig_small = tuple(s / k for s, k in zip(sigma, step))
    response = -ndi.gaussian_laplace(small.astype(np.float32), sig_small)
    depth = ndi.distance_transform_edt(allow_small, sampling=tuple(s * k for s, k in zip(spacing, step)))
    deep = depth >= margin_mm + diameter_mm / 2 if (depth >= margin_mm + diameter_mm / 2).any() else allow_small
    response = np.where(deep, response, -np.inf)
    peaks = (response == ndi.maximum_filter(response, size=5)) & np.isfinite(response)
    idx = np.argwhere(peaks)
    if idx.size == 0:
        return None
    vals = response[peaks]
    top = idx[np.argsort(vals)[::-1][:10]]
    pick = top[int(rng.integers(0, len(top)))]
    return tuple(int(p * k) for p, k in zip(pick, step))


def inpaint_region(vol: np.ndarray, box: tuple[slice, ...], hole: np.ndarray, spacing: tuple[float, ...],
                   healthy_max: float | None) -> np.ndarray:
    """Smooth fill of ``hole`` (a boolean array over ``box``) from a cleaned surrounding shell."""
    cube = vol[box].astype(np.float32)
    shell = ndi.binary_dilation(hole, iterations=3) & ~hole
    src = cube.copy()
    if healthy_max is not None and shell.any():
        level = float(np.median(cube[shell]))
        bright = ~hole & (cube > min(healthy_max, level + 150.0))
        src[bright] = level
    return fill_from_boundary(src, hole, spacing)


def remove_nodule(target: Target, rng: np.random.Generator, *, at: tuple[int, ...] | None = None,
                  size_mm: float | None = None, antiforensics: afm.AntiForensics | None = None) -> Tampered:
    """Remove a blob (a nodule, or a vessel knot when there is no nodule) by 3D in-painting."""
    if not target.is_ct:
        raise NotApplicable("CT removal needs a CT volume (a series of slices)")
    af = antiforensics if antiforensics is not None else afm.draw(rng)
    vol = target.pixels
    lungs = ct_lungs(target)
    in_lungs = bool(lungs.sum() * np.prod(target.spacing) > 20_000)  # > 20 mL of lung
    allowed = lungs if in_lungs else body_mask(vol)
    diameter = float(size_mm) if size_mm is not None else float(rng.uniform(5.0, 14.0))
    if at is None:
        center = find_blob(vol, allowed, target.spacing, diameter, rng, margin_mm=3.0 if in_lungs else 15.0)
        if center is None:
            raise NotApplicable("no lesion-like blob found to remove")
    else:
        center = tuple(int(v) for v in at)
    radius = diameter / 2.0 + float(rng.uniform(1.0, 2.5))
    box = bbox_slices(center, radius + 8.0, target.spacing, vol.shape)
    local = tuple(float(c - s.start) for c, s in zip(center, box))
    cube = vol[box].astype(np.float32)
    hole = radius_mm(cube.shape, local, target.spacing) <= radius
    healthy = -500.0 if in_lungs else None
    params: dict[str, Any] = {"center": list(center), "radius_mm": round(radius, 2), "in_lungs": in_lungs}

    if af.resample:
        def fill(arr: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
            scale = tuple(a / b for a, b in zip(arr.shape, cube.shape))
            h = radius_mm(arr.shape, tuple(c * f for c, f in zip(local, scale)), spacing) <= radius
            full = tuple(slice(0, n) for n in arr.shape)
            return inpaint_region(arr, full, h, spacing, healthy)
        new = afm.in_isotropic(cube, target.spacing, fill)
        region = np.ones(cube.shape, dtype=bool)
    else:
        new = inpaint_region(vol, box, hole, target.spacing, healthy)
        region = hole
    weight = hole.astype(np.float32)
    new, noise_info = afm.add_noise(new, weight, vol, box, af, rng, allowed=allowed)
    if af.requantise:
        new = afm.requantise(new, 1.0, *target.value_range)
    out = vol.copy()
    out[box] = np.where(region, new, cube)
    mask = np.zeros(vol.shape, dtype=bool)
    mask[box] = region
    params.update({"antiforensics": af.to_dict(), **noise_info})
    return Tampered(pixels=out, mask=mask, datasets=target.datasets, method="ct-remove-nodule", params=params)
