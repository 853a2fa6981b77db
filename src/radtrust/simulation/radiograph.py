"""Tampering with projection radiographs (2D): nodule/mass and consolidation injection, lesion
removal by in-painting, fracture-line insertion and removal.

A lesion in a projection image adds attenuation along the ray, so it is *added* to the log-exposure
signal: a sphere of radius R projects as a chord-length profile ``2*sqrt(R^2 - r^2)``; consolidation is a
patchy, soft-edged opacity inside a lung field; a fracture is a thin lucent line across bone, often with
a small step. Directions follow the photometric interpretation (MONOCHROME1 stores dense as low values).
Being additive, injections keep the image's own noise; in-painting (removal) must put noise back,
which CT-GAN-style anti-forensics do (:mod:`radtrust.simulation.antiforensics`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi

from radtrust.errors import NotApplicable
from radtrust.simulation import antiforensics as afm
from radtrust.simulation._ops import bbox_slices, fill_from_boundary, noise_sigma, radius_mm, smooth_field
from radtrust.simulation.anatomy import choose_center, radiograph_fields
from radtrust.simulation.target import Tampered, Target


def _require_2d(target: Target) -> None:
    if not target.is_2d:
        raise NotApplicable("radiograph methods need a 2D image")


def _contrast(target: Target, where: np.ndarray) -> float:
    vals = target.pixels[where] if where.any() else target.pixels.ravel()
    lo, hi = np.percentile(vals, [5, 95])
    return float(max(hi - lo, 1.0))


def _finish(target: Target, new: np.ndarray, region: np.ndarray, method: str, params: dict[str, Any],
            af: afm.AntiForensics | None = None) -> Tampered:
    lo, hi = target.value_range
    new = np.clip(new, lo, hi)
    if af is not None and af.requantise:
        new = np.rint(new)
    out = np.where(region, new, target.pixels).astype(np.float32)
    if af is not None:
        params["antiforensics"] = af.to_dict()
    return Tampered(pixels=out, mask=region.copy(), datasets=target.datasets, method=method, params=params)


def inject_nodule(target: Target, rng: np.random.Generator, *, at: tuple[int, ...] | None = None,
                  size_mm: float | None = None, antiforensics: afm.AntiForensics | None = None) -> Tampered:
    """Add a nodule (8-30 mm) or mass (30-60 mm) opacity inside a lung field."""
    _require_2d(target)
    fields = radiograph_fields(target)
    diameter = float(size_mm) if size_mm is not None else float(np.exp(rng.uniform(np.log(8.0), np.log(60.0))))
    radius = diameter / 2.0
    center = tuple(int(v) for v in at) if at is not None else None
    for depth in (radius, radius / 2, 2.0):  # a projected opacity may overlap a field's edge
        center = center or choose_center(fields, target.spacing, depth, rng)
    if center is None:
        raise NotApplicable(f"no lung field large enough for a {diameter:.0f} mm opacity")
    win = bbox_slices(center, radius * 1.3 + 5.0, target.spacing, target.pixels.shape)
    shape = tuple(w.stop - w.start for w in win)
    r = radius_mm(shape, tuple(c - w.start for c, w in zip(center, win)), target.spacing)
    lob = 1.0 + 0.08 * np.clip(smooth_field(shape, radius / 2 / target.spacing[0], rng), -2, 2)
    rr = r / lob
    chord = np.sqrt(np.clip(1.0 - (rr / radius) ** 2, 0.0, 1.0))
    edge_px = float(rng.uniform(0.5, 1.5)) / target.spacing[0]
    chord = ndi.gaussian_filter(chord.astype(np.float32), edge_px)
    amp = float(rng.uniform(0.06, 0.22)) * _contrast(target, fields)
    texture = 1.0 + 0.1 * smooth_field(shape, max(1.5 / target.spacing[0], 1.0), rng)
    add = np.zeros(target.pixels.shape, dtype=np.float32)
    add[win] = target.brighter * amp * chord * texture
    region = np.zeros(target.pixels.shape, dtype=bool)
    region[win] = chord > 0.01
    new = target.pixels + add
    params = {"center": list(center), "diameter_mm": round(diameter, 2), "amplitude": round(amp, 3)}
    return _finish(target, new, region, "xr-inject-nodule", params, antiforensics)


def inject_consolidation(target: Target, rng: np.random.Generator, *, at: tuple[int, ...] | None = None,
                         size_mm: float | None = None, antiforensics: afm.AntiForensics | None = None) -> Tampered:
    """Add a patchy airspace opacity (40-120 mm) confined to a lung field."""
    _require_2d(target)
    fields = radiograph_fields(target)
    size = float(size_mm) if size_mm is not None else float(rng.uniform(40.0, 120.0))
    center = tuple(int(v) for v in at) if at is not None else None
    for depth in (size / 4, size / 8, 2.0):
        center = center or choose_center(fields, target.spacing, depth, rng)
    if center is None:
        raise NotApplicable("no lung field for a consolidation")
    win = bbox_slices(center, size * 0.9, target.spacing, target.pixels.shape)
    shape = tuple(w.stop - w.start for w in win)
    r = radius_mm(shape, tuple(c - w.start for c, w in zip(center, win)), target.spacing)
    blob = np.exp(-(r / (size / 2.5)) ** 2)
    patch = smooth_field(shape, max(size / 12 / target.spacing[0], 1.0), rng)
    density = np.clip(blob * (0.6 + 0.5 * patch), 0, None)
    density = ndi.gaussian_filter(density * ndi.gaussian_filter(fields[win].astype(np.float32), 3.0), 2.0)
    density = density / max(float(density.max()), 1e-6)
    density[density < 0.02] = 0.0
    amp = float(rng.uniform(0.1, 0.3)) * _contrast(target, fields)
    region = np.zeros(target.pixels.shape, dtype=bool)
    region[win] = density > 0
    new = target.pixels.copy()
    new[win] += target.brighter * amp * density
    params = {"center": list(center), "size_mm": round(size, 1), "amplitude": round(amp, 3)}
    return _finish(target, new, region, "xr-inject-consolidation", params, antiforensics)


def _window(hole: np.ndarray, margin_px: int) -> tuple[slice, slice]:
    ys, xs = np.nonzero(hole)
    h, w = hole.shape
    return (slice(max(0, ys.min() - margin_px), min(h, ys.max() + margin_px + 1)),
            slice(max(0, xs.min() - margin_px), min(w, xs.max() + margin_px + 1)))


def _inpaint_2d(target: Target, hole: np.ndarray, rng: np.random.Generator, af: afm.AntiForensics) -> tuple[np.ndarray, dict]:
    win = _window(hole, int(np.ceil(40.0 / target.spacing[0])))
    filled = target.pixels.copy()
    filled[win] = fill_from_boundary(target.pixels[win], hole[win], target.spacing, scales_mm=(1.0, 2.0, 4.0, 8.0, 16.0))
    info: dict[str, Any] = {}
    if af.noise != "none":
        ring = ndi.binary_dilation(hole[win], iterations=6) & ~hole[win]
        sigma = noise_sigma(target.pixels[win], ring)
        if af.noise == "copy":
            ys, xs = np.nonzero(hole)
            box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
            res, corner = afm.copy_noise(target.pixels, box, rng)
            noise = np.zeros_like(filled)
            noise[box] = res * np.float32(min(max(sigma / max(noise_sigma(res), 1e-3), 0.5), 2.0))
            info["noise_from"] = list(corner)
        else:
            noise = np.zeros_like(filled)
            noise[win] = afm.synth_noise(filled[win].shape, sigma, rng, corr_px=0.0)
        filled = np.where(hole, filled + noise, filled)
        info["noise_sigma"] = round(sigma, 3)
    return filled, info


def remove_lesion(target: Target, rng: np.random.Generator, *, at: tuple[int, ...] | None = None,
                  size_mm: float | None = None, antiforensics: afm.AntiForensics | None = None) -> Tampered:
    """In-paint a disk around the strongest opacity-like blob of a lung field (or ``at``)."""
    _require_2d(target)
    af = antiforensics if antiforensics is not None else afm.draw(rng, allow_resample=False)
    diameter = float(size_mm) if size_mm is not None else float(rng.uniform(8.0, 25.0))
    if at is None:
        fields = radiograph_fields(target)
        sig = diameter / 2.8 / target.spacing[0]
        step = max(1, int(sig / 2))
        small = target.pixels[::step, ::step] * target.brighter
        resp = -ndi.gaussian_laplace(small.astype(np.float32), sig / step)
        resp = np.where(fields[::step, ::step], resp, -np.inf)
        flat = np.argsort(resp.ravel())[::-1][:20]
        pick = flat[int(rng.integers(0, len(flat)))]
        center = tuple(int(v) * step for v in np.unravel_index(pick, resp.shape))
    else:
        center = tuple(int(v) for v in at)
    hole = radius_mm(target.pixels.shape, center, target.spacing) <= diameter / 2.0 + 1.0
    new, info = _inpaint_2d(target, hole, rng, af)
    params = {"center": list(center), "diameter_mm": round(diameter, 2), **info}
    return _finish(target, new, hole, "xr-remove-lesion", params, af)


def _line(target: Target, rng: np.random.Generator, length_mm: float,
          at: tuple[int, ...] | None) -> tuple[np.ndarray, np.ndarray, tuple[int, int], float]:
    """Signed distance (mm) across and position (mm) along a random segment on bright (bony) pixels."""
    img = target.pixels * target.brighter
    h, w = img.shape
    if at is None:
        central = np.zeros(img.shape, dtype=bool)
        central[int(h * 0.1):int(h * 0.9), int(w * 0.1):int(w * 0.9)] = True
        bright = central & (ndi.gaussian_filter(img, 2.0) > np.percentile(img[central], 85))
        center = choose_center(bright, target.spacing, 2.0, rng) or (h // 2, w // 2)
    else:
        center = (int(at[0]), int(at[1]))
    ang = float(rng.uniform(0, np.pi))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dy, dx = (yy - center[0]) * target.spacing[0], (xx - center[1]) * target.spacing[1]
    along = dx * np.cos(ang) + dy * np.sin(ang)
    across = -dx * np.sin(ang) + dy * np.cos(ang)
    return across, along, center, ang


def insert_fracture(target: Target, rng: np.random.Generator, *, at: tuple[int, ...] | None = None,
                    size_mm: float | None = None, antiforensics: afm.AntiForensics | None = None) -> Tampered:
    """Draw a thin lucent fracture line (10-30 mm, 0.4-1.2 mm wide) across bone, with an optional small step."""
    _require_2d(target)
    length = float(size_mm) if size_mm is not None else float(rng.uniform(10.0, 30.0))
    across, along, center, ang = _line(target, rng, length, at)
    width = float(rng.uniform(0.4, 1.2))
    wave = 0.4 * np.sin(along / float(rng.uniform(2.0, 5.0)))
    profile = np.exp(-((across - wave) / width) ** 2) * np.clip(1.0 - np.abs(along) / (length / 2), 0, 1) ** 0.3
    profile = np.where(np.abs(along) <= length / 2, profile, 0.0).astype(np.float32)
    amp = float(rng.uniform(0.08, 0.25)) * _contrast(target, np.ones(target.pixels.shape, bool))
    new = target.pixels - target.brighter * amp * profile
    region = profile > 0.02
    step_px = int(rng.integers(0, 3))
    if step_px:
        side = (across > 0) & (np.abs(along) <= length / 2) & (np.abs(across) < 4 * width)
        shifted = np.roll(new, step_px, axis=int(rng.integers(0, 2)))
        new = np.where(side, shifted, new)
        region |= side
    params = {"center": list(center), "length_mm": round(length, 2), "width_mm": round(width, 2),
              "angle_deg": round(float(np.degrees(ang)), 1), "amplitude": round(amp, 3), "step_px": step_px}
    return _finish(target, new, region, "xr-insert-fracture", params, antiforensics)


def remove_fracture(target: Target, rng: np.random.Generator, *, at: tuple[int, ...] | None = None,
                    size_mm: float | None = None, antiforensics: afm.AntiForensics | None = None) -> Tampered:
    """Erase a thin band (a fracture line, or whatever edge crosses it) across bone by in-painting."""
    _require_2d(target)
    af = antiforensics if antiforensics is not None else afm.draw(rng, allow_resample=False)
    length = float(size_mm) if size_mm is not None else float(rng.uniform(10.0, 30.0))
    across, along, center, ang = _line(target, rng, length, at)
    half_width = float(rng.uniform(1.0, 2.0))
    hole = (np.abs(across) <= half_width) & (np.abs(along) <= length / 2)
    new, info = _inpaint_2d(target, hole, rng, af)
    params = {"center": list(center), "length_mm": round(length, 2), "band_mm": round(2 * half_width, 2),
              "angle_deg": round(float(np.degrees(ang)), 1), **info}
    return _finish(target, new, hole, "xr-remove-fracture", params, af)
