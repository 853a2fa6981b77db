"""Comparing two pixel arrays of one instance: the same, converted as a whole, or changed in a region.

Used to tell a copy of an image from an edited one: by series assembly (a file at the same position and
InstanceNumber as another, under a new UID, is that one again when the two are the same or converted as a whole)
and by the comparison of copies in a scan (:mod:`radtrust.forensics.copies`).
"""

from __future__ import annotations

import numpy as np

WHOLE_FRACTION = 0.2  # more 16 x 16 blocks than this touched: a change made to the whole image (codec, conversion)
BLOCK = 16  # px: block means survive a conversion of the whole image; an edit moves them
APART_SPREAD = 20.0  # a block departs from the conversion by more robust deviations than this ...
APART_RANGE = 0.08  # ... and by more than this fraction of the image's value range (p1-p99)


def block_means(p: np.ndarray) -> np.ndarray:
    """Means of the whole 16 x 16 blocks of the last two axes (float64)."""
    ny, nx = (p.shape[-2] // BLOCK) * BLOCK, (p.shape[-1] // BLOCK) * BLOCK
    cut = p[..., :ny, :nx].astype(np.float64)
    return cut.reshape(*p.shape[:-2], ny // BLOCK, BLOCK, nx // BLOCK, BLOCK).mean(axis=(-3, -1))


def pixel_relation(pa: np.ndarray, pb: np.ndarray) -> tuple[str, np.ndarray | None]:
    """How two same-shape pixel arrays of one instance relate: ``same``; ``throughout`` (the differences reach
    more than :data:`WHOLE_FRACTION` of the 16 x 16 blocks, as after a lossy codec, another bit depth or a
    resampling of the whole image, and none stands apart); or ``local`` with the mask of what differs (an edit,
    alone or under such a conversion).

    Under a conversion the 16 x 16 block means still agree up to one linear map of the values (robustly fitted)
    and a small error; a block whose mean departs from that map by more than :data:`APART_SPREAD` robust
    deviations and :data:`APART_RANGE` of the image's value range was changed before or after the conversion.
    Chosen on the development benchmark: none of its 51 authentic items is reported as altered against its own
    converted copy (JPEG 2000 10:1, a JPEG resave, 75% resampling and back, two bits dropped;
    ``scripts/copies_check.py``). Over the pairs where most pixels differ, block means departed by at most 0.042 of
    the range (resampling at a sharp edge) and the edits by 0.002-0.87, so the subtle ones are lost under a
    conversion."""
    diff = pa != pb
    if not diff.any():
        return "same", None
    kind, blocks = means_relation(block_means(pa), block_means(pb), block_means(diff) > 0)
    if kind == "throughout":
        return kind, None
    if blocks is None:
        return "local", diff
    mask = np.zeros(pa.shape, bool)
    up = np.repeat(np.repeat(blocks, BLOCK, axis=-2), BLOCK, axis=-1)
    mask[..., : up.shape[-2], : up.shape[-1]] = up
    return "local", mask & diff


def means_relation(a: np.ndarray, b: np.ndarray, touched: np.ndarray) -> tuple[str, np.ndarray | None]:
    """:func:`pixel_relation` on 16 x 16 block means alone (``touched``: the blocks where any pixel differs).

    Returns ``throughout`` (a conversion of the whole image, no block apart) or ``local`` with the blocks that stand
    apart from the conversion, None when few enough blocks are touched to be an edit as they are."""
    if a.size < 4 or touched.mean() <= WHOLE_FRACTION:
        return "local", None
    x, y = a.ravel(), b.ravel()
    design = np.stack([x, np.ones_like(x)], axis=1)
    inliers = np.ones(x.size, bool)
    for _ in range(3):  # least squares, then again without what it leaves far off (an edit must not bend the map)
        coef, *_ = np.linalg.lstsq(design[inliers], y[inliers], rcond=None)
        resid = y - design @ coef
        resid = resid - np.median(resid)
        spread = 1.4826 * float(np.median(np.abs(resid)))
        inliers = np.abs(resid) <= max(6.0 * spread, 1e-9)
    value_range = float(np.percentile(y, 99) - np.percentile(y, 1)) or 1.0
    apart = (np.abs(resid) > APART_SPREAD * spread) & (np.abs(resid) > APART_RANGE * value_range)
    if not apart.any():
        return "throughout", None
    return "local", apart.reshape(a.shape)
