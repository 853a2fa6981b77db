"""Exemplar-based in-painting: a region filled patch by patch from the image's own pixels, as "content-aware fill"
and the clone-and-fill removal tools of image editors do.

After Criminisi, Pérez and Toyama, "Region filling and object removal by exemplar-based image inpainting" (IEEE TIP
13(9), 2004): the hole is filled from its boundary inwards; at each step the front pixel whose 9 x 9 patch holds the
most trusted known pixels and the strongest isophote is filled first, from the fully known patch nearby (within
``_SEARCH`` pixels of the hole) that best matches the patch's known pixels (sum of squared differences), and its
unknown pixels take that patch's values, exact copies. Each step copies from its own place, so the fill is a
mosaic of small exact copies at many displacements, unlike a copy-move's one.

A held-out method (never drawn for the development benchmark, never used to tune a detector); CT volumes are filled
slice by slice inside a ball, as the 2D tools do. Written here because scikit-image and SciPy have no exemplar-based
in-painting (``skimage.restoration.inpaint_biharmonic`` is the smooth kind) and OpenCV's ``inpaint`` is diffusion too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage as ndi

from radtrust.simulation import antiforensics as afm
from radtrust.simulation.regions import draw_region, paste
from radtrust.simulation.target import Tampered, Target

_HALF = 4        # patches of 9 x 9 pixels, Criminisi's size
_SEARCH = 40     # pixels around the hole where source patches are looked for


def fill_plane(image: np.ndarray, hole: np.ndarray, half: int = _HALF) -> np.ndarray:
    """``image`` with the pixels under ``hole`` filled by exemplar-based in-painting (2D), from patches of
    ``2 * half + 1`` pixels a side."""
    img = np.asarray(image, dtype=np.float32).copy()
    hole = np.asarray(hole, dtype=bool)
    if not hole.any():
        return img
    rows, cols = np.nonzero(hole)
    pad = _SEARCH + half
    r0, r1 = max(rows.min() - pad, 0), min(rows.max() + pad + 1, img.shape[0])
    c0, c1 = max(cols.min() - pad, 0), min(cols.max() + pad + 1, img.shape[1])
    sub, unknown = img[r0:r1, c0:c1], hole[r0:r1, c0:c1].copy()
    h = half
    work = np.pad(sub, h, mode="reflect")
    todo = np.pad(unknown, h, mode="constant", constant_values=False)
    outside = np.pad(np.zeros_like(unknown), h, mode="constant", constant_values=True)  # the padding is no source
    windows = sliding_window_view(work, (2 * h + 1, 2 * h + 1))
    source = ~ndi.binary_dilation(todo | outside, np.ones((2 * h + 1, 2 * h + 1), bool))[h:-h, h:-h]
    src_rc = np.argwhere(source)
    if src_rc.size == 0:
        raise ValueError("no fully known patch near the hole to fill it from")
    src_patches = windows[src_rc[:, 0], src_rc[:, 1]].reshape(len(src_rc), -1).astype(np.float32)
    confidence = (~todo).astype(np.float32)
    while todo.any():
        front = todo & ndi.binary_dilation(~todo)
        fr = np.argwhere(front)
        conf = ndi.uniform_filter(confidence, 2 * h + 1)[front]
        gy, gx = np.gradient(np.where(todo, np.nan, work))
        grad = np.nan_to_num(np.hypot(gy, gx))
        data = ndi.maximum_filter(grad, 2 * h + 1)[front]
        r, c = fr[int(np.argmax(conf * (data / (data.max() + 1e-6) + 0.05)))]
        patch = work[r - h:r + h + 1, c - h:c + h + 1]
        need = todo[r - h:r + h + 1, c - h:c + h + 1]
        known = (~need).ravel()
        diff = src_patches[:, known] - patch.ravel()[known]
        best = src_patches[int(np.argmin(np.einsum("ij,ij->i", diff, diff)))].reshape(patch.shape)
        patch[need] = best[need]
        confidence[r - h:r + h + 1, c - h:c + h + 1][need] = float(conf.max())
        need[:] = False
    img[r0:r1, c0:c1] = work[h:-h, h:-h]
    return img


def inpaint_exemplar(target: Target, rng: np.random.Generator, *, at: tuple[int, ...] | None = None,
                     size_mm: float | None = None, **_: Any) -> Tampered:
    """Fill a disc/ball by exemplar-based in-painting (per slice on CT), re-quantised to the stored grid."""
    radius, center, edge, box, weight = draw_region(target, rng, at, size_mm)
    hole = weight > 0.02
    out = target.pixels.astype(np.float32)  # a copy: the planes are filled in place, with their whole context
    if out.ndim == 2:
        out = fill_plane(out, _embed(hole, box, out.shape))
    else:
        plane_hole = np.zeros(out.shape[1:], dtype=bool)
        for z, h2 in zip(range(box[0].start, box[0].stop), hole):
            plane_hole[:] = False
            plane_hole[box[1:]] = h2
            out[z] = fill_plane(out[z], plane_hole)
    params = {"center": list(center), "radius_mm": round(radius, 2), "edge_mm": round(edge, 2), "patch_px": 2 * _HALF + 1}
    return paste(target, box, out[box], weight, "ho-inpaint-exemplar", params, afm.AntiForensics(requantise=True))


def _embed(mask: np.ndarray, box: tuple[slice, ...], shape: tuple[int, ...]) -> np.ndarray:
    full = np.zeros(shape, dtype=bool)
    full[box] = mask
    return full
