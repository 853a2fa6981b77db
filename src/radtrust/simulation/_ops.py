"""Primitives shared by the tamper methods: shapes, feathering, noise estimation, in-painting.

Everything works on 2D (rows, cols) or 3D (slices, rows, cols) float arrays with a per-axis
spacing in millimetres, so one implementation serves radiographs and CT volumes.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def grid_mm(shape: tuple[int, ...], center: tuple[float, ...], spacing: tuple[float, ...]) -> list[np.ndarray]:
    """Per-axis distances (mm) from ``center`` (voxel coordinates), broadcastable over ``shape``."""
    axes = []
    for ax, (n, c, s) in enumerate(zip(shape, center, spacing)):
        v = (np.arange(n, dtype=np.float32) - np.float32(c)) * np.float32(s)
        view = [1] * len(shape)
        view[ax] = n
        axes.append(v.reshape(view))
    return axes


def radius_mm(shape: tuple[int, ...], center: tuple[float, ...], spacing: tuple[float, ...]) -> np.ndarray:
    """Euclidean distance in mm of every voxel from ``center``."""
    axes = grid_mm(shape, center, spacing)
    r2 = sum(a * a for a in axes)
    return np.sqrt(np.broadcast_to(r2, shape)).astype(np.float32)


def bbox_slices(center: tuple[float, ...], half_mm: float, spacing: tuple[float, ...],
                shape: tuple[int, ...]) -> tuple[slice, ...]:
    """The box of half-width ``half_mm`` around ``center``, clipped to the array."""
    out = []
    for c, s, n in zip(center, spacing, shape):
        h = int(np.ceil(half_mm / s)) + 1
        lo, hi = max(0, int(round(c)) - h), min(n, int(round(c)) + h + 1)
        out.append(slice(lo, hi))
    return tuple(out)


def smoothstep_edge(r: np.ndarray, radius: float, width: float) -> np.ndarray:
    """1 inside ``radius``, 0 outside, a logistic edge of ``width`` mm (the partial-volume blur)."""
    width = max(width, 1e-3)
    z = np.clip((r - radius) / (width / 4.0), -60.0, 60.0)
    return (1.0 / (1.0 + np.exp(z))).astype(np.float32)


def in_plane_sigma(mm: float, spacing: tuple[float, ...], volume: bool) -> tuple[float, ...]:
    """A Gaussian's sigma per axis (pixels) for ``mm`` in-plane, none along a volume's slices (axis 0)."""
    return tuple(0.0 if (volume and axis == 0) else mm / s for axis, s in enumerate(spacing))


def smooth_field(shape: tuple[int, ...], sigma_px: float | tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    """Low-frequency random field, zero mean and unit standard deviation."""
    f = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma_px)
    sd = float(f.std())
    return (f - f.mean()) / (sd if sd > 0 else 1.0)


def highpass(x: np.ndarray, sigma_px: float | tuple[float, ...] = 1.0) -> np.ndarray:
    """Noise residual: the array minus its Gaussian-smoothed self."""
    x = x.astype(np.float32, copy=False)
    return x - ndi.gaussian_filter(x, sigma_px)


def noise_sigma(x: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Robust noise standard deviation from the median absolute deviation of a 2D Laplacian residual.

    Computed slice by slice for 3D input (CT noise is mostly in-plane), restricted to ``mask`` if given.
    """
    x = x.astype(np.float32, copy=False)
    k = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
    if x.ndim == 3:
        res = np.stack([ndi.convolve(s, k, mode="reflect") for s in x])
    else:
        res = ndi.convolve(x, k, mode="reflect")
    vals = res[mask] if mask is not None else res.ravel()
    if vals.size == 0:
        return 0.0
    # This 3x3 kernel has an L2 norm of 6 for white noise; MAD -> sigma with 1.4826.
    return float(1.4826 * np.median(np.abs(vals - np.median(vals))) / 6.0)


def fill_from_boundary(x: np.ndarray, hole: np.ndarray, spacing: tuple[float, ...],
                       scales_mm: tuple[float, ...] = (2.0, 4.0, 8.0, 16.0)) -> np.ndarray:
    """Smooth in-fill of ``hole`` from the surrounding values by multi-scale normalised convolution.

    The finest scale fills what its neighbourhood supports; coarser scales fill the rest. The
    result is a smooth (noise-free) interpolant of the surroundings: the low-frequency part of an
    in-painting. Values outside ``hole`` are returned unchanged.
    """
    x = x.astype(np.float32, copy=False)
    known = (~hole).astype(np.float32)
    data = np.where(hole, 0.0, x).astype(np.float32)
    remaining = hole.astype(np.float32)
    acc = np.zeros(hole.shape, dtype=np.float32)
    fallback = float(np.mean(x[~hole])) if (~hole).any() else 0.0
    for i, mm in enumerate(scales_mm):
        sig = tuple(max(mm / s, 0.5) for s in spacing)
        num = ndi.gaussian_filter(data, sig)
        den = ndi.gaussian_filter(known, sig)
        est = np.where(den > 1e-6, num / np.maximum(den, 1e-6), fallback)
        support = np.ones_like(den) if i == len(scales_mm) - 1 else np.clip(den * 4.0, 0.0, 1.0)
        w = remaining * support
        acc += w * est
        remaining -= w
    out = x.copy()
    out[hole] = acc[hole]
    return out


def feather(mask: np.ndarray, spacing: tuple[float, ...], width_mm: float) -> np.ndarray:
    """A soft version of a boolean mask: 1 deep inside, falling to 0 at the mask's edge over ``width_mm``."""
    if width_mm <= 0:
        return mask.astype(np.float32)
    dist = ndi.distance_transform_edt(mask, sampling=spacing)
    return np.clip(dist / width_mm, 0.0, 1.0).astype(np.float32)

