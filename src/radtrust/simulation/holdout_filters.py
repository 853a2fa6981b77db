"""Held-out edits made with a plain filter or an addition, as any image editor or a few lines of NumPy make them.

Never drawn for the development benchmark (like :mod:`radtrust.simulation.holdout`), and written after the
detectors, to measure what they do not see:

- **sharpen-region**: an unsharp mask (amount 0.6-1.5, radius 1-2 mm) over a region: its edges and its noise
  raised by up to 2.5 times;
- **median-region**: a median filter of 3 or 5 px over a region, which removes noise and keeps edges;
- **offset-region**: a region made brighter or darker by a constant (CT 20-60 HU; radiographs 3-8% of the stored
  range), feathered at its edge;
- **lesion-add**: a smooth, slightly elongated bump added to the pixels (CT +80 to +300 HU, denser on radiographs
  by 5-15% of the range), so the region keeps its own noise and texture: a lesion drawn onto the image rather than
  pasted into it.

CT volumes are edited slice by slice inside a ball (the filters are 2D), in regions placed as the other held-out
methods place them; every result is rounded to the stored grid.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi

from radtrust.simulation import antiforensics as afm
from radtrust.simulation._ops import grid_mm, in_plane_sigma
from radtrust.simulation.regions import draw_region, paste
from radtrust.simulation.target import Tampered, Target

ROUNDED = afm.AntiForensics(requantise=True)


def _span(target: Target) -> float:
    lo, hi = target.value_range
    return float(hi - lo)


def sharpen_region(target: Target, rng: np.random.Generator, *, at: tuple[int, ...] | None = None,
                   size_mm: float | None = None, **_: Any) -> Tampered:
    """An unsharp mask over a disc/ball: x + amount * (x - blur(x))."""
    radius, center, edge, box, weight = draw_region(target, rng, at, size_mm)
    amount, mm = float(rng.uniform(0.6, 1.5)), float(rng.uniform(1.0, 2.0))
    cur = target.pixels[box].astype(np.float32)
    new = cur + np.float32(amount) * (cur - ndi.gaussian_filter(cur, in_plane_sigma(mm, target.spacing, target.is_ct)))
    params = {"center": list(center), "radius_mm": round(radius, 2), "amount": round(amount, 3),
              "radius_blur_mm": round(mm, 2), "edge_mm": round(edge, 2)}
    return paste(target, box, new, weight, "ho-sharpen-region", params, ROUNDED)


def median_region(target: Target, rng: np.random.Generator, *, at: tuple[int, ...] | None = None,
                  size_mm: float | None = None, **_: Any) -> Tampered:
    """A median filter of 3 or 5 px (in-plane) over a disc/ball."""
    radius, center, edge, box, weight = draw_region(target, rng, at, size_mm)
    k = int(rng.choice([3, 5]))
    cur = target.pixels[box].astype(np.float32)
    new = ndi.median_filter(cur, size=(1, k, k) if cur.ndim == 3 else (k, k))
    params = {"center": list(center), "radius_mm": round(radius, 2), "size_px": k, "edge_mm": round(edge, 2)}
    return paste(target, box, new, weight, "ho-median-region", params, ROUNDED)


def offset_region(target: Target, rng: np.random.Generator, *, at: tuple[int, ...] | None = None,
                  size_mm: float | None = None, **_: Any) -> Tampered:
    """A constant added to a disc/ball (either sign)."""
    radius, center, edge, box, weight = draw_region(target, rng, at, size_mm)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    offset = sign * (float(rng.uniform(20.0, 60.0)) if target.is_ct else float(rng.uniform(0.03, 0.08)) * _span(target))
    cur = target.pixels[box].astype(np.float32)
    params = {"center": list(center), "radius_mm": round(radius, 2), "offset": round(offset, 2),
              "edge_mm": round(edge, 2)}
    return paste(target, box, cur + np.float32(offset), weight, "ho-offset-region", params, ROUNDED)


def lesion_add(target: Target, rng: np.random.Generator, *, at: tuple[int, ...] | None = None,
               size_mm: float | None = None, **_: Any) -> Tampered:
    """A smooth bump (a Gaussian of half the region's radius, elongated up to 1.5 times along a random in-plane
    direction) added to the pixels of a disc/ball, denser than what was there; the pixels keep their noise. The
    region's feathered edge cuts the bump where it has fallen to about a seventh of its height."""
    radius, center, edge, box, weight = draw_region(target, rng, at, size_mm)
    amp = float(rng.uniform(80.0, 300.0)) if target.is_ct else float(rng.uniform(0.05, 0.15)) * _span(target)
    shape = tuple(s.stop - s.start for s in box)
    local = tuple(float(c - s.start) for c, s in zip(center, box))
    axes = grid_mm(shape, local, target.spacing)  # mm from the centre, per axis
    stretch, angle = float(rng.uniform(1.0, 1.5)), float(rng.uniform(0.0, np.pi))
    u = axes[-1] * np.cos(angle) + axes[-2] * np.sin(angle)
    v = -axes[-1] * np.sin(angle) + axes[-2] * np.cos(angle)
    r2 = (u / stretch) ** 2 + v ** 2 + (axes[0] ** 2 if len(axes) == 3 else 0.0)
    bump = np.exp(-r2 / (2.0 * (radius / 2.0) ** 2)).astype(np.float32)
    cur = target.pixels[box].astype(np.float32)
    new = cur + np.float32(target.brighter * amp) * bump
    params = {"center": list(center), "radius_mm": round(radius, 2), "amplitude": round(amp, 2),
              "elongation": round(stretch, 3), "edge_mm": round(edge, 2)}
    return paste(target, box, new, weight, "ho-lesion-add", params, ROUNDED)
