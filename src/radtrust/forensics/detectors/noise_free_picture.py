"""Noise-free regions in 8-bit radiograph pictures: the `noise-free` detector's path for pictures.

A radiograph's noise depends on the grey level (Poisson-Gaussian before the display curve), so a picture is judged
against its own noise-level function: the median local RMS of the fine residual (the picture minus its 3x3 mean,
over 5x5 pixels) per band of 16 grey levels. A pixel is *quiet* where its RMS is under ``RATIO`` of that level.
Quiet regions occur in authentic pictures too: where JPEG smoothed a flat area, in dark air, along gradients, in
burned-in labels. What an in-painting, a healing brush's smooth fill or a clone of smooth content leaves differs
from them by its surroundings: the fill is quiet, and the pixels around it carry the picture's ordinary noise up
to its edge, because the editor stopped at the edit; an authentic smooth area fades into its surroundings over
tens of pixels. So a region counts when (``_surroundings``) three quarters of the pixels 3-6 px from its edge carry
at least ``NEAR_LOW`` of the expected noise and their median at most ``NEAR_HIGH`` (a label's box edge carries
more), at least ``MIN_SEEN`` of them are judged (not clipped, not the picture's border), the pixels 7-15 px out
carry the picture's noise (median within ``FAR``), and no one grey level fills more than half of it (labels,
padding and tone curves that merge levels make flat runs; a rounded smooth fill spreads over its range). The score
is a logistic of log2(size), 0.5 at the scale's ``centre`` (400 px at full resolution, :data:`FULL`).

Measured in session 18 (``scripts/picture_fill_check.py --bench bench/dev bench/holdout --authentic
../shared/data/cxr``; the bounds were set on these pictures, so these are development figures): the 240 authentic
pictures score at most 0.024 (a 110 px region); 10 of the 99 in-paintings, removals and retouches of both
benchmarks score over 0.5 (regions of 512-40,665 px: biharmonic and learned in-painting, lesion and fracture
removals), the rest had noise re-added, were too small, or sit in pictures whose noise is under the floor. Whole
pictures processed (``scripts/benign_processing_check.py``'s transforms on all 160 of ``../shared/data/cxr``, as PNG
and JPEG, this detector alone): at most 0.25. Each rule was added for a false alarm seen: the near ring's median for
a burned-in "L" box (11,590 px), its lower quartile and seen share for pictures sharpened with a threshold (PIL's
unsharp mask keeps quiet areas quiet and sharpens the noise around them: 12 of 320 sharpened pictures scored over
0.5 before), the one-level rule for equalised and gamma-curved pictures (9 of 240 such variants of 40 pictures).

A picture whose noise is under the scale's ``floor`` (0.8 grey levels at full resolution) at every grey level
(resized down, smoothed, or saved at a low JPEG quality) is not judged: rounding alone leaves 0.29 there, and a fill
cannot be told from the picture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from radtrust.errors import EvidenceLost
from radtrust.forensics.detectors.base import Finding
from radtrust.forensics.residuals import bin2d, box_mean, dilate, logistic, upsample_blocks

RATIO = 0.25  # quiet: local RMS under this share of the noise level at that grey level
# The noise starts at a fill's edge, all around it: three quarters of its near surroundings carry at least NEAR_LOW
# of the expected noise, their median at most NEAR_HIGH (an edge, a label's box, would carry more); at least
# MIN_SEEN of them are judged (a region against the picture's border or clipped areas cannot be told); the far
# surroundings carry the picture's ordinary noise (median within FAR).
NEAR_LOW, NEAR_HIGH, MIN_SEEN = 0.6, 1.6, 0.7
FAR = (0.9, 1.6)
MAX_MODE_SHARE = 0.5  # a region more than half one grey level is flat by construction (labels, padding, a tone
# curve merging levels), not a fill: a rounded smooth fill spreads over its range (its mode 2-30% of it)
WIDTH_LOG2 = 0.5  # the logistic of log2(size)
MAX_REGIONS = 64  # the largest quiet regions examined per picture
BAND = 16  # grey levels per band of the noise-level function
MIN_BAND = 500  # pixels (of the 2x2 subsample) a band needs for its level
SATURATED = (4, 251)  # grey levels at or beyond which a pixel is clipped, not judged
WINDOW = 5  # px: the local RMS window


@dataclass(frozen=True)
class Scale:
    """Where the picture is judged, in the pixels of that scale: the picture itself, or its 2 x 2 means."""

    floor: float  # grey levels: a band whose noise level is lower is not judged
    near_span: tuple[int, int]  # px from the region's edge: its near surroundings
    far_span: tuple[int, int]  # and its far ones
    centre: float  # px: the logistic of log2(size) is 0.5 there
    min_size: int  # px: smaller regions are not examined (they would score under 0.02)
    margin: int  # px at the picture's border not judged
    factor: int = 1  # picture pixels per pixel of this scale, along each axis
    min_seen: float = MIN_SEEN  # share of the near surroundings that must be judged


FULL = Scale(floor=0.8, near_span=(3, 6), far_span=(7, 15), centre=400.0, min_size=100, margin=12)
# The same rules on the picture's 2 x 2 means, the distances in their pixels (twice as far in the picture's): a fill
# whose residual at full resolution is a fine pattern of its own reads as quiet there. OpenCV's Telea in-painting
# propagates the boundary along its fronts and rounds each step, which leaves rings of +-1 grey level, 0.2-0.5 of the
# picture's noise (over RATIO at full resolution); 2 x 2 means cancel them, where a picture's noise only halves. The
# floor halves with the noise (a 2 x 2 mean of rounding is 0.14); the surroundings are read at the same distances in
# these pixels (6-12 and 14-30 picture px). PIL's unsharp mask with a threshold (scripts/benign_processing_check.py's)
# leaves quiet patches of 500-1,500 picture px between sharpened edges: with a centre of 100 px here (400 in the
# picture's) 6 of 320 sharpened pictures and one halved read as fills (0 at full resolution), so this scale wants a
# region of 512 px (2,048 in the picture) for 0.5 and its near surroundings judged all round (two of those had
# 0.72-0.73 of them). Session 31 (scripts/opencv_edits_bench.py on bench/dev's authentic items, seed 32, this detector
# alone): see docs/verdict.md.
HALF = Scale(floor=0.4, near_span=(3, 6), far_span=(7, 15), centre=512.0, min_size=128, margin=6, factor=2,
             min_seen=0.9)


def noise_level(mean3: np.ndarray, rms: np.ndarray, judged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per-pixel expected noise from the picture's noise-level function, the level per band of BAND grey levels),
    the band read from the 3x3 mean ``mean3``. A band with too few judged pixels has level 0 (not judged). Medians
    from a histogram of the RMS in 1/64 grey levels over every second row and column (linear time)."""
    n_bands, steps = 256 // BAND, 64
    bands = (mean3 * np.float32(1.0 / BAND)).astype(np.uint8)  # grey levels 0-255: bands 0-15
    sub = (slice(None, None, 2), slice(None, None, 2))
    seen = judged[sub]
    b, r = bands[sub][seen].astype(np.intp), rms[sub][seen]
    q = np.minimum((r * steps).astype(np.intp), steps * steps - 1)  # RMS over 64 grey levels: in the last bin
    hist = np.bincount(b * steps * steps + q, minlength=n_bands * steps * steps).reshape(n_bands, -1)
    counts = hist.sum(axis=1)
    middle = np.argmax(hist.cumsum(axis=1) >= (counts[:, None] + 1) // 2, axis=1)
    levels = np.where(counts >= MIN_BAND, (middle + 0.5) / steps, 0.0).astype(np.float32)
    return np.take(levels, bands), levels


def _surroundings(rms: np.ndarray, expected: np.ndarray, judged: np.ndarray, region: np.ndarray, scale: Scale
                  ) -> tuple[float, float, float, float]:
    """Around ``region``, the local RMS over the expected noise: its lower quartile and median 3-6 px from the
    edge, its median 7-15 px from it, and the share of the pixels 3-6 px from the edge that are judged. NaN where
    fewer than 20 pixels at that distance are judged."""
    dist = ndimage.distance_transform_edt(~region)
    rel = rms / np.maximum(expected, np.float32(1e-3))
    near_all = (dist >= scale.near_span[0]) & (dist <= scale.near_span[1])
    near, far = near_all & judged, (dist >= scale.far_span[0]) & (dist <= scale.far_span[1]) & judged
    if np.count_nonzero(near) < 20 or np.count_nonzero(far) < 20:
        return math.nan, math.nan, math.nan, 0.0
    q25, median = (float(v) for v in np.percentile(rel[near], [25, 50]))
    return q25, median, float(np.median(rel[far])), np.count_nonzero(near) / np.count_nonzero(near_all)


def picture_finding(levels8: np.ndarray) -> Finding:
    """The noise-free finding on an 8-bit picture (its grey levels 0-255, 2D): the stronger of the picture judged at
    full resolution and at its 2 x 2 means (:data:`HALF`)."""
    x = np.asarray(levels8, dtype=np.float32)
    full = _at_scale(x, FULL)
    try:
        half = _at_scale(bin2d(x, 2), HALF)  # the 2 x 2 means
    except EvidenceLost:
        return full
    if half.score <= full.score:
        return full
    heat = upsample_blocks(half.heatmap, 2, x.shape)  # each 2 x 2 mean's value on its pixels
    return Finding(half.score, np.maximum(heat, full.heatmap), half.evidence)


def _at_scale(x: np.ndarray, scale: Scale) -> Finding:
    """The finding on ``x`` (grey levels, 2D) with the distances and sizes of ``scale``; regions, heatmap and evidence
    in ``x``'s pixels, the evidence's coordinates in the picture's."""
    mean3 = box_mean(x, 3)
    r = x - mean3
    r *= r
    rms = box_mean(r, WINDOW)  # sqrt(max(mean of r^2, 0)), in place
    np.maximum(rms, 0.0, out=rms)
    np.sqrt(rms, out=rms)
    judged = ~dilate((x <= SATURATED[0]) | (x >= SATURATED[1]), WINDOW // 2)  # the whole 5x5 window unclipped
    m = scale.margin
    judged[:m] = judged[-m:] = False
    judged[:, :m] = judged[:, -m:] = False
    expected, levels = noise_level(mean3, rms, judged)
    judged &= expected >= scale.floor
    if not judged.any():
        raise EvidenceLost(f"the picture's noise is under {scale.floor * scale.factor:g} grey levels at every grey "
                           "level (smoothed, resized down or strongly compressed): a smooth fill cannot be told from "
                           "it")
    quiet = judged & (rms < RATIO * expected)
    labels, n = ndimage.label(quiet)
    best = (0.0, 0, None, 0.0)  # (score, size, slices, noise share in the far surroundings)
    heat = np.zeros(x.shape, np.float32)
    if n:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        boxes = ndimage.find_objects(labels)
        order = np.argsort(sizes)[::-1][:MAX_REGIONS]
        for k in order[sizes[order] >= scale.min_size]:
            sl = boxes[k - 1]
            pad = scale.far_span[1] + 2
            win = tuple(slice(max(s.start - pad, 0), s.stop + pad) for s in sl)
            region = labels[win] == k
            values = x[win][region].astype(np.intp)
            if np.bincount(values).max() > MAX_MODE_SHARE * values.size:
                continue
            q25, near, far, seen = _surroundings(rms[win], expected[win], judged[win], region, scale)
            if not (q25 >= NEAR_LOW and near <= NEAR_HIGH and FAR[0] <= far <= FAR[1] and seen >= scale.min_seen):
                continue  # (NaN compares False: too little judged around it to tell)
            score = logistic(math.log2(sizes[k]), math.log2(scale.centre), WIDTH_LOG2)
            if score > best[0]:
                best = (score, int(sizes[k]), sl, far)
            if score > 0.2:
                grown = ndimage.maximum_filter(region, size=WINDOW)
                heat[win] = np.maximum(heat[win], np.where(grown, np.float32(score), np.float32(0)))
    mid = float(np.median(levels[levels > 0]))
    score, size, sl, far = best
    f = scale.factor
    if score < 0.5:
        largest = f"largest {size * f * f} px; " if size else ""
        evidence = (f"no region without the picture's noise inside noisy surroundings ({largest}noise {mid:.1f} grey "
                    f"levels at the median band{' of its 2 x 2 means' if f > 1 else ''})")
    else:
        evidence = (f"a {size * f * f}-pixel region (rows {sl[0].start * f}-{sl[0].stop * f - 1}, columns "
                    f"{sl[1].start * f}-{sl[1].stop * f - 1}) has under {RATIO:g} of the noise this picture carries at "
                    f"its grey level{' once averaged over 2 x 2 pixels' if f > 1 else ''}, while the pixels around it "
                    f"carry {far:.2f} of it: in-painted, healed or smoothed content")
    return Finding(score, heat, (evidence,))
