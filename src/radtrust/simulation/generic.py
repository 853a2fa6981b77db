"""Generic image forgeries, for any modality, 2D or 3D (a CT volume is edited in 3D):

- **copy-move**: a region of the image pasted elsewhere in the same image (feathered edge, small
  intensity offset), the classic forgery of the image-forensics literature (Fridrich et al., 2003);
- **splice**: a region taken from another patient's image of the same modality, mean-matched;
- **resample-region**: a region enlarged or shrunk in place (the resampling traces of Popescu & Farid, 2005);
- **retouch**: local smoothing (Gaussian or median) that erases detail and noise.

Regions are discs (2D) or balls (3D) of 5-25 mm radius placed inside the body.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from radtrust.errors import NotApplicable, UsageError
from radtrust.simulation import antiforensics as afm
from radtrust.simulation._ops import bbox_slices, in_plane_sigma
from radtrust.simulation.anatomy import choose_center
from radtrust.simulation.regions import ball, draw_radius, paste, placeable
from radtrust.simulation.target import Tampered, Target


def _fit_box(box: tuple[slice, ...], corner: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(c, c + (s.stop - s.start)) for c, s in zip(corner, box))


def copy_move(target: Target, rng: np.random.Generator, *, at: tuple[int, ...] | None = None,
              size_mm: float | None = None, antiforensics: afm.AntiForensics | None = None) -> Tampered:
    """Copy a disc/ball of the image onto another place of the same image."""
    radius = draw_radius(rng, size_mm)
    allowed = placeable(target)
    edge = float(rng.uniform(0.5, 3.0))
    for _ in range(20):
        dst = tuple(int(v) for v in at) if at is not None else choose_center(allowed, target.spacing, radius, rng)
        src = choose_center(allowed, target.spacing, radius, rng)
        if dst is None or src is None:
            raise NotApplicable("no room for a copy-move region")
        box, weight = ball(target, dst, radius, edge)
        sbox = bbox_slices(src, radius + 1.0, target.spacing, target.pixels.shape)
        size = tuple(s.stop - s.start for s in box)
        if tuple(s.stop - s.start for s in sbox) != size:
            continue
        dist = np.sqrt(sum(((a - b) * s) ** 2 for a, b, s in zip(src, dst, target.spacing)))
        if dist > 2.2 * radius:
            break
    else:
        raise NotApplicable("could not place a copy-move region")
    offset = float(rng.normal(0.0, 0.01)) * float(np.ptp(target.pixels[box]) or 1.0)
    new = target.pixels[sbox] + np.float32(offset)
    params = {"source": list(src), "center": list(dst), "radius_mm": round(radius, 2), "edge_mm": round(edge, 2),
              "offset": round(offset, 2)}
    return paste(target, box, new, weight, "copy-move", params, antiforensics)


def splice(target: Target, rng: np.random.Generator, *, donor: Target | None = None, at: tuple[int, ...] | None = None,
           size_mm: float | None = None, antiforensics: afm.AntiForensics | None = None) -> Tampered:
    """Paste a region of another patient's image (same modality and dimensionality), mean-matched."""
    if donor is None:
        raise UsageError("splice needs a donor image (--donor FILE)")
    if donor.pixels.ndim != target.pixels.ndim:
        raise NotApplicable("the donor must have the same dimensionality as the target")
    radius = draw_radius(rng, size_mm)
    edge = float(rng.uniform(0.5, 3.0))
    dst = tuple(int(v) for v in at) if at is not None else choose_center(placeable(target), target.spacing, radius, rng)
    if dst is None:
        raise NotApplicable("no room for a spliced region")
    box, weight = ball(target, dst, radius, edge)
    size = tuple(s.stop - s.start for s in box)
    dallowed = placeable(donor)
    for _ in range(20):
        src = choose_center(dallowed, donor.spacing, radius, rng)
        if src is None:
            raise NotApplicable("donor has no room for the region")
        corner = tuple(min(max(0, c - k // 2), n - k) for c, k, n in zip(src, size, donor.pixels.shape))
        if all(c >= 0 for c in corner):
            break
    else:
        raise NotApplicable("donor image too small for the region")
    patch = donor.pixels[_fit_box(box, corner)].astype(np.float32)
    if patch.shape != size:
        raise NotApplicable("donor image too small for the region")
    inside = weight > 0.5
    shift = float(np.mean(target.pixels[box][inside]) - np.mean(patch[inside])) if inside.any() else 0.0
    params = {"donor": donor.source, "donor_corner": list(corner), "center": list(dst), "radius_mm": round(radius, 2),
              "edge_mm": round(edge, 2), "mean_shift": round(shift, 2)}
    return paste(target, box, patch + np.float32(shift), weight, "splice", params, antiforensics)


def resample_region(target: Target, rng: np.random.Generator, *, at: tuple[int, ...] | None = None,
                    size_mm: float | None = None, antiforensics: afm.AntiForensics | None = None) -> Tampered:
    """Enlarge (x1.1-1.35) or shrink (x0.7-0.9) a region in place with a cubic spline."""
    radius = draw_radius(rng, size_mm)
    center = tuple(int(v) for v in at) if at is not None else choose_center(placeable(target), target.spacing, radius * 1.5, rng)
    if center is None:
        raise NotApplicable("no room for a resampled region")
    factor = float(rng.uniform(1.1, 1.35)) if rng.random() < 0.5 else float(rng.uniform(0.7, 0.9))
    edge = float(rng.uniform(0.5, 3.0))
    box, weight = ball(target, center, radius, edge)
    big = bbox_slices(center, (radius + 1.0) * 1.6, target.spacing, target.pixels.shape)
    window = target.pixels[big].astype(np.float32)
    zoom = tuple(1.0 if (target.is_ct and ax == 0) else factor for ax in range(window.ndim))
    zoomed = ndi.zoom(window, zoom, order=3, mode="nearest")
    # the zoomed window's centre onto the box
    out = np.empty(tuple(s.stop - s.start for s in box), dtype=np.float32)
    starts = []
    for ax, (b, w) in enumerate(zip(box, big)):
        c_in_window = (center[ax] - w.start) * zoom[ax]
        starts.append(int(round(c_in_window - (center[ax] - b.start))))
    sl = tuple(slice(max(0, s), max(0, s) + n) for s, n in zip(starts, out.shape))
    piece = zoomed[sl]
    if piece.shape != out.shape:
        raise NotApplicable("region too close to the image edge to resample")
    params = {"center": list(center), "radius_mm": round(radius, 2), "factor": round(factor, 3), "edge_mm": round(edge, 2)}
    return paste(target, box, piece, weight, "resample-region", params, antiforensics)


def retouch(target: Target, rng: np.random.Generator, *, at: tuple[int, ...] | None = None,
            size_mm: float | None = None, antiforensics: afm.AntiForensics | None = None) -> Tampered:
    """Smooth a region (Gaussian 0.7-2.5 mm or a 5-pixel median), as a retouching brush does."""
    radius = draw_radius(rng, size_mm)
    center = tuple(int(v) for v in at) if at is not None else choose_center(placeable(target), target.spacing, radius, rng)
    if center is None:
        raise NotApplicable("no room for a retouched region")
    edge = float(rng.uniform(0.5, 3.0))
    box, weight = ball(target, center, radius, edge)
    big = bbox_slices(center, radius + 8.0, target.spacing, target.pixels.shape)
    window = target.pixels[big].astype(np.float32)
    kind = "gaussian" if rng.random() < 0.6 else "median"
    if kind == "gaussian":
        mm = float(rng.uniform(0.7, 2.5))
        sig = in_plane_sigma(mm, target.spacing, target.is_ct)
        sm = ndi.gaussian_filter(window, sig)
        detail = {"sigma_mm": round(mm, 2)}
    else:
        size = (1, 5, 5) if target.is_ct else (5, 5)
        sm = ndi.median_filter(window, size=size)
        detail = {"median_px": 5}
    inner = tuple(slice(b.start - w.start, b.stop - w.start) for b, w in zip(box, big))
    params = {"center": list(center), "radius_mm": round(radius, 2), "filter": kind, **detail, "edge_mm": round(edge, 2)}
    return paste(target, box, sm[inner], weight, "retouch", params, antiforensics)
