"""Held-out forgeries: never drawn for the development benchmark, never used to fit or tune a detector.

They measure what the issue asks about, detection of methods the detectors were not tuned on, with
other tools than the development methods use:

- **inpaint-biharmonic**: a lesion-sized region filled by biharmonic in-painting (scikit-image), the
  classic smooth fill of image editors, with white noise re-added at the local level half the time;
- **copy-move-affine**: copy-move whose copy is rotated (15-90 degrees) and scaled (0.85-1.15) on the way;
- **healing-brush**: the detail (noise and fine texture) of another place of the same image laid over the
  target region's own low frequencies, as an editor's healing brush does;
- **contrast-region**: a region's contrast about its mean raised or lowered (x0.6-0.85 or x1.2-1.5), as a
  local density edit does, re-quantised to the stored grid;
- **noise-region**: white Gaussian noise (0.7-1.5 of the local noise level) added to a region, as a
  forger masks an edit.

CT volumes are edited slice by slice inside a ball (the tools are 2D). Regions are discs or balls of
5-25 mm radius inside the body, like the development methods' regions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage.restoration import inpaint_biharmonic

from radtrust.errors import NotApplicable
from radtrust.simulation import antiforensics as afm
from radtrust.simulation._ops import bbox_slices, in_plane_sigma, noise_sigma
from radtrust.simulation.anatomy import choose_center
from radtrust.simulation.regions import draw_region, paste, placeable
from radtrust.simulation.target import Tampered, Target


def _far_source(target: Target, rng: np.random.Generator, dst: tuple[int, ...], radius: float, room: float,
                size: tuple[int, ...] | None = None) -> tuple[tuple[int, ...], tuple[slice, ...]]:
    """A source centre more than 2.2 radii from ``dst`` (and its box, of ``size`` when given)."""
    allowed = placeable(target)
    for _ in range(60):
        src = choose_center(allowed, target.spacing, room, rng)
        if src is None:
            raise NotApplicable("no room for a source region")
        sbox = bbox_slices(src, radius + 1.0, target.spacing, target.pixels.shape)
        far = np.sqrt(sum(((a - b) * s) ** 2 for a, b, s in zip(src, dst, target.spacing))) > 2.2 * radius
        if far and (size is None or tuple(s.stop - s.start for s in sbox) == size):
            return src, sbox
    raise NotApplicable("could not place a source region far enough from the target")


def _planes(arr: np.ndarray) -> list[np.ndarray]:
    """The 2D planes of a box (one for 2D, one per slice for CT)."""
    return [arr] if arr.ndim == 2 else list(arr)


def inpaint_biharmonic_region(target: Target, rng: np.random.Generator, *, at: tuple[int, ...] | None = None,
                              size_mm: float | None = None, **_: Any) -> Tampered:
    """Fill a disc/ball by biharmonic in-painting (per slice on CT); half the time re-add white noise."""
    radius, center, edge, box, weight = draw_region(target, rng, at, size_mm)
    cur = target.pixels[box].astype(np.float32)
    hole = weight > 0.02
    filled = np.stack([inpaint_biharmonic(c, h) if h.any() else c for c, h in zip(_planes(cur), _planes(hole))])
    filled = filled.reshape(cur.shape).astype(np.float32)
    noisy = bool(rng.random() < 0.5)
    if noisy:
        sigma = noise_sigma(cur, ~hole if (~hole).sum() > 64 else None)
        filled = filled + rng.standard_normal(cur.shape).astype(np.float32) * np.float32(sigma)
    params = {"center": list(center), "radius_mm": round(radius, 2), "edge_mm": round(edge, 2), "noise_readded": noisy}
    return paste(target, box, filled, weight, "ho-inpaint-biharmonic", params, afm.AntiForensics(requantise=True))


def copy_move_affine(target: Target, rng: np.random.Generator, *, at: tuple[int, ...] | None = None,
                     size_mm: float | None = None, **_: Any) -> Tampered:
    """Copy a disc/ball elsewhere in the image, rotated and scaled in-plane (cubic spline)."""
    radius, dst, edge, box, weight = draw_region(target, rng, at, size_mm)
    src, _ = _far_source(target, rng, dst, radius, radius * 1.5)
    angle = float(rng.uniform(15.0, 90.0)) * (1 if rng.random() < 0.5 else -1)
    scale = float(rng.uniform(0.85, 1.15))
    size = tuple(s.stop - s.start for s in box)
    big = bbox_slices(src, (radius + 1.0) * 2.0, target.spacing, target.pixels.shape)
    window = target.pixels[big].astype(np.float32)
    th = np.deg2rad(angle)
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]) / scale
    out_c = np.array([(n - 1) / 2.0 for n in size[-2:]])
    in_c = np.array([c - w.start for c, w in zip(src[-2:], big[-2:])], dtype=float)
    offset = in_c - rot @ out_c
    planes = []
    for plane_z in range(size[0] if len(size) == 3 else 1):
        if len(size) == 3:
            z = min(max(src[0] - (dst[0] - box[0].start) + plane_z - big[0].start, 0), window.shape[0] - 1)
            w2 = window[z]
        else:
            w2 = window
        planes.append(ndi.affine_transform(w2, rot, offset=offset, output_shape=size[-2:], order=3, mode="nearest"))
    new = np.stack(planes).reshape(size).astype(np.float32)
    params = {"source": list(src), "center": list(dst), "radius_mm": round(radius, 2), "angle_deg": round(angle, 1),
              "scale": round(scale, 3), "edge_mm": round(edge, 2)}
    return paste(target, box, new, weight, "ho-copy-move-affine", params, afm.AntiForensics(requantise=True))


def healing_brush(target: Target, rng: np.random.Generator, *, at: tuple[int, ...] | None = None,
                  size_mm: float | None = None, **_: Any) -> Tampered:
    """Replace a region's detail by the detail of another place: target low-pass + source high-pass."""
    radius, dst, edge, box, weight = draw_region(target, rng, at, size_mm)
    src, sbox = _far_source(target, rng, dst, radius, radius, size=tuple(s.stop - s.start for s in box))
    mm = float(rng.uniform(1.5, 4.0))
    sig = in_plane_sigma(mm, target.spacing, target.is_ct)
    cur = target.pixels[box].astype(np.float32)
    source = target.pixels[sbox].astype(np.float32)
    new = ndi.gaussian_filter(cur, sig) + (source - ndi.gaussian_filter(source, sig))
    params = {"source": list(src), "center": list(dst), "radius_mm": round(radius, 2), "lowpass_mm": round(mm, 2),
              "edge_mm": round(edge, 2)}
    return paste(target, box, new, weight, "ho-healing-brush", params, afm.AntiForensics(requantise=True))


def contrast_region(target: Target, rng: np.random.Generator, *, at: tuple[int, ...] | None = None,
                    size_mm: float | None = None, **_: Any) -> Tampered:
    """Scale a region's contrast about its mean (x0.6-0.85 or x1.2-1.5), then round to the stored grid."""
    radius, center, edge, box, weight = draw_region(target, rng, at, size_mm)
    gain = float(rng.uniform(0.6, 0.85)) if rng.random() < 0.5 else float(rng.uniform(1.2, 1.5))
    cur = target.pixels[box].astype(np.float32)
    mean = float(cur[weight > 0.5].mean()) if (weight > 0.5).any() else float(cur.mean())
    new = np.float32(mean) + np.float32(gain) * (cur - np.float32(mean))
    params = {"center": list(center), "radius_mm": round(radius, 2), "gain": round(gain, 3), "edge_mm": round(edge, 2)}
    return paste(target, box, new, weight, "ho-contrast-region", params, afm.AntiForensics(requantise=True))


def noise_region(target: Target, rng: np.random.Generator, *, at: tuple[int, ...] | None = None,
                 size_mm: float | None = None, **_: Any) -> Tampered:
    """Add white Gaussian noise of 0.7-1.5 times the local noise level to a region, then round."""
    radius, center, edge, box, weight = draw_region(target, rng, at, size_mm)
    cur = target.pixels[box].astype(np.float32)
    level = float(rng.uniform(0.7, 1.5))
    sigma = max(noise_sigma(cur), 0.5) * level
    new = cur + rng.standard_normal(cur.shape).astype(np.float32) * np.float32(sigma)
    params = {"center": list(center), "radius_mm": round(radius, 2), "relative_sigma": round(level, 3),
              "sigma": round(sigma, 3), "edge_mm": round(edge, 2)}
    return paste(target, box, new, weight, "ho-noise-region", params, afm.AntiForensics(requantise=True))
