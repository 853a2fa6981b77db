"""Regions the forgeries edit: where a region may go, its size, its feathered disc or ball, and pasting the
edited box back. Shared by the generic, held-out and exemplar methods."""

from __future__ import annotations

from typing import Any

import numpy as np

from radtrust.errors import NotApplicable
from radtrust.simulation import antiforensics as afm
from radtrust.simulation._ops import bbox_slices, feather, radius_mm
from radtrust.simulation.anatomy import body_mask, choose_center
from radtrust.simulation.target import Tampered, Target


def placeable(target: Target) -> np.ndarray:
    """Where a region may be placed: inside the body on CT, the central 80% of a radiograph or picture."""
    if target.modality == "CT":
        return body_mask(target.pixels)
    h, w = target.pixels.shape[-2:]
    m = np.zeros(target.pixels.shape, dtype=bool)
    m[..., int(h * 0.1):int(h * 0.9), int(w * 0.1):int(w * 0.9)] = True
    return m


def draw_radius(rng: np.random.Generator, size_mm: float | None) -> float:
    """A region's radius in mm: half the size asked for, or 5-25 mm at random."""
    return float(size_mm) / 2.0 if size_mm is not None else float(rng.uniform(5.0, 25.0))


def ball(target: Target, center: tuple[int, ...], radius: float,
         edge_mm: float) -> tuple[tuple[slice, ...], np.ndarray]:
    """The bounding box of a disc (2D) or ball (3D) and its blending weight, feathered over ``edge_mm``."""
    box = bbox_slices(center, radius + 1.0, target.spacing, target.pixels.shape)
    local = tuple(float(c - s.start) for c, s in zip(center, box))
    inside = radius_mm(tuple(s.stop - s.start for s in box), local, target.spacing) <= radius
    return box, feather(inside, target.spacing, edge_mm)


def draw_region(target: Target, rng: np.random.Generator, at: tuple[int, ...] | None,
                size_mm: float | None) -> tuple[float, tuple[int, ...], float, tuple[slice, ...], np.ndarray]:
    """(radius, center, edge, box, weight) of a region at ``at`` or at a random allowed place."""
    radius = draw_radius(rng, size_mm)
    center = tuple(int(v) for v in at) if at is not None else choose_center(placeable(target), target.spacing,
                                                                             radius, rng)
    if center is None:
        raise NotApplicable("no room for the region")
    edge = float(rng.uniform(0.5, 2.0))
    box, weight = ball(target, center, radius, edge)
    return radius, center, edge, box, weight


def paste(target: Target, box: tuple[slice, ...], new_box: np.ndarray, weight: np.ndarray, method: str,
          params: dict[str, Any], af: afm.AntiForensics | None) -> Tampered:
    """The target with ``new_box`` blended into ``box`` by ``weight`` (clipped to the value range, rounded when the
    anti-forensics say so), and the mask of what changed."""
    out = target.pixels.copy()
    cur = out[box]
    blended = cur + weight * (new_box - cur)
    lo, hi = target.value_range
    blended = np.clip(blended, lo, hi)
    if af is not None and af.requantise:
        blended = np.rint(blended)
    region = weight > 0
    out[box] = np.where(region, blended, cur)
    mask = np.zeros(out.shape, dtype=bool)
    mask[box] = region
    if af is not None:
        params["antiforensics"] = af.to_dict()
    return Tampered(pixels=out, mask=mask, datasets=target.datasets, method=method, params=params)
