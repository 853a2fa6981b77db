"""Lung nodule injection into a CT volume, CT-GAN style (Mirsky et al., USENIX Security 2019).

A synthetic nodule replaces a sphere-like region inside the lungs, blended as CT-GAN blends its
generator output (keep the maximum of old and new, so vessels through the nodule survive). Types and
attenuation follow the Fleischner Society glossary and nodule-attenuation literature (e.g. Naidich et
al., Radiology 2013; Lee et al., "Solid and part-solid nodules", 2015):

==============  =========================================================================
solid           soft-tissue core, about 0..+80 HU, lobulated outline
part-solid      ground-glass halo (-750..-300 HU) around a solid core of 30-60 % diameter
ground-glass    hazy, -750..-300 HU, vessels remain visible through it
spiculated      solid core with 6-14 radial spicules reaching 30-80 % of the radius outward
==============  =========================================================================

Diameters are 4-30 mm (the Lung-RADS range). Anti-forensics (noise, histogram matching,
re-quantisation, isotropic resampling of the cube) come from :mod:`radtrust.simulation.antiforensics`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi

from radtrust.errors import NotApplicable
from radtrust.simulation import antiforensics as afm
from radtrust.simulation._ops import bbox_slices, grid_mm, smooth_field, smoothstep_edge
from radtrust.simulation.anatomy import choose_center, ct_lungs
from radtrust.simulation.target import Tampered, Target

KINDS = ("solid", "part-solid", "ground-glass", "spiculated")
HU = {"solid": (0.0, 80.0), "ground-glass": (-750.0, -300.0)}
MIN_MM, MAX_MM = 4.0, 30.0


def nodule_profile(shape: tuple[int, ...], center: tuple[float, ...], spacing: tuple[float, ...], kind: str,
                   diameter_mm: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The nodule's HU values and its blending weight (0..1) on a grid: (hu, weight, params)."""
    axes = grid_mm(shape, center, spacing)
    r = np.sqrt(np.broadcast_to(sum(a * a for a in axes), shape)).astype(np.float32)
    radius = diameter_mm / 2.0
    lob_amp = float(rng.uniform(0.03, 0.12))
    lobes = smooth_field(shape, tuple(max(radius * 0.5 / s, 1.0) for s in spacing), rng)
    reff = np.float32(radius) * (1.0 + np.float32(lob_amp) * np.clip(lobes, -2.5, 2.5))
    edge = float(rng.uniform(0.6, 1.2))
    weight = smoothstep_edge(r / reff * radius, radius, edge)
    params: dict[str, Any] = {"kind": kind, "diameter_mm": round(diameter_mm, 2), "lobulation": round(lob_amp, 3),
                              "edge_mm": round(edge, 2)}
    texture = smooth_field(shape, tuple(max(1.2 / s, 0.6) for s in spacing), rng)
    if kind in ("solid", "spiculated"):
        mean = float(rng.uniform(15.0, 60.0))
        hu = mean + texture * np.float32(rng.uniform(5.0, 15.0))
        params["mean_hu"] = round(mean, 1)
        if kind == "spiculated":
            n = int(rng.integers(6, 15))
            reach = radius * float(rng.uniform(0.3, 0.8))
            spikes = np.zeros(shape, dtype=np.float32)
            for _ in range(n):
                d = rng.standard_normal(len(shape))
                d /= np.linalg.norm(d)
                along = sum(a * np.float32(c) for a, c in zip(axes, d))
                perp = np.sqrt(np.maximum(r * r - along * along, 0.0))
                width = float(rng.uniform(0.5, 1.0))
                taper = np.clip(1.0 - (along - radius) / reach, 0.0, 1.0) * (along > radius * 0.5)
                spikes = np.maximum(spikes, taper * np.exp(-(perp / width) ** 2))
            weight = np.maximum(weight, spikes.astype(np.float32) * 0.9)
            params.update(spicules=n, spicule_reach_mm=round(reach, 2))
    elif kind == "ground-glass":
        mean = float(rng.uniform(-700.0, -400.0))
        hu = mean + texture * np.float32(rng.uniform(20.0, 45.0))
        params["mean_hu"] = round(mean, 1)
    elif kind == "part-solid":
        ggo = float(rng.uniform(-700.0, -400.0))
        solid = float(rng.uniform(15.0, 60.0))
        frac = float(rng.uniform(0.3, 0.6))
        core = smoothstep_edge(r, radius * frac, edge)
        hu = (ggo + texture * 30.0) * (1 - core) + (solid + texture * 10.0) * core
        params.update(ggo_hu=round(ggo, 1), solid_hu=round(solid, 1), solid_fraction=round(frac, 2))
    else:
        raise ValueError(f"unknown nodule kind {kind!r}; one of {', '.join(KINDS)}")
    return hu.astype(np.float32), weight.astype(np.float32), params


def inject_nodule(target: Target, rng: np.random.Generator, *, at: tuple[int, ...] | None = None,
                  size_mm: float | None = None, kind: str | None = None,
                  antiforensics: afm.AntiForensics | None = None) -> Tampered:
    """Inject one lung nodule into a CT volume (random type, size and place unless given)."""
    if not target.is_ct:
        raise NotApplicable("nodule injection needs a CT volume (a series of slices)")
    kind = kind or str(rng.choice(KINDS))
    diameter = float(size_mm) if size_mm is not None else float(np.exp(rng.uniform(np.log(6.0), np.log(25.0))))
    if not MIN_MM <= diameter <= MAX_MM:
        raise ValueError(f"nodule diameter must be {MIN_MM:g}-{MAX_MM:g} mm, got {diameter:g}")
    af = antiforensics if antiforensics is not None else afm.draw(rng)
    vol = target.pixels
    lungs = ct_lungs(target)
    if at is None:
        center = choose_center(lungs, target.spacing, diameter / 2.0 + 1.0, rng)
        if center is None:
            raise NotApplicable(f"no lung region deep enough for a {diameter:.0f} mm nodule")
    else:
        center = tuple(int(v) for v in at)
        if any(not 0 <= c < n for c, n in zip(center, vol.shape)):
            raise ValueError(f"--at {center} is outside the volume {vol.shape}")
    half = diameter / 2.0 * (1.9 if kind == "spiculated" else 1.4) + 3.0
    box = bbox_slices(center, half, target.spacing, vol.shape)
    cube = vol[box].astype(np.float32)
    local_center = tuple(float(c - s.start) for c, s in zip(center, box))
    params: dict[str, Any] = {}
    drawn: dict[str, np.ndarray] = {}

    def paint(arr: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
        """CT-GAN's blend: the nodule over the tissue, keeping the maximum of old and new."""
        scale = tuple(a / b for a, b in zip(arr.shape, cube.shape))
        c = tuple(lc * f for lc, f in zip(local_center, scale))
        hu, w, p = nodule_profile(arr.shape, c, spacing, kind, diameter, rng)
        params.update(p)
        drawn["weight"] = w
        return np.maximum(arr, arr + w * (hu - arr))

    if af.resample:
        new = afm.in_isotropic(cube, target.spacing, paint)
        w_iso = drawn["weight"]
        weight = _fit(ndi.zoom(w_iso, tuple(n / m for n, m in zip(cube.shape, w_iso.shape)), order=1), cube.shape)
        region = np.ones(cube.shape, dtype=bool)  # the whole resampled cube is pasted back
    else:
        new = paint(cube, target.spacing)
        weight = drawn["weight"]
        region = weight > 0.01
    new, noise_info = afm.add_noise(new, np.clip(weight, 0, 1), vol, box, af, rng, allowed=lungs)
    lo, hi = target.value_range
    if af.requantise:
        new = afm.requantise(new, 1.0, lo, hi)
    region = ndi.binary_dilation(region, iterations=1) if not af.resample else region
    region &= np.abs(new - cube) > 1e-3 if not af.resample else region
    out = vol.copy()
    out[box] = np.where(region, new, cube)
    mask = np.zeros(vol.shape, dtype=bool)
    mask[box] = region
    params.update({"center": list(center), "antiforensics": af.to_dict(), **noise_info})
    return Tampered(pixels=out, mask=mask, datasets=target.datasets, method="ct-inject-nodule", params=params)


def _fit(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=np.float32)
    sl = tuple(slice(0, min(a, b)) for a, b in zip(arr.shape, shape))
    out[sl] = arr[sl]
    return out
