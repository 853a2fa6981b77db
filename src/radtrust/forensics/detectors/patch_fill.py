"""Patch fill: a region made of small exact copies from many places of the same image (exemplar-based in-painting).

"Content-aware fill", the clone-and-fill removal tools and exemplar-based in-painting (Criminisi, Pérez and Toyama,
IEEE TIP 13(9), 2004) fill a hole patch by patch, each patch copied from wherever the image matches it best. What
is left is a mosaic: fragments of a few to a few hundred pixels, each an exact copy of pixels elsewhere, each at
its own displacement. duplicated-noise votes by displacement and needs one copy large enough to collect about a
hundred votes (a copy-move); a mosaic spreads its votes over many displacements and stays under that.

Noise model assumed: in an authentic image a block of stored values never repeats exactly elsewhere as part of a
larger coherent stretch. Chance repeats of a 4 x 4 block do occur in smooth 8-bit pictures (hundreds of thousands
in a 2000 px picture whose noise is below a grey level), but each at its own displacement; repeats of a JPEG block
sit at multiples of 8 px; glyphs and test-pattern bars repeat by design.

Steps: every position whose 4 x 4 block spans at least ``_MIN_RANGE`` stored steps, has fewer than ``_MAX_EXTREME``
of its 16 pixels at its own minimum or maximum (bars, gratings, strokes), touches no clipped value, lies ``_BORDER``
px or more inside the edges and inside the patient on CT, and in an 8-bit picture spans at most 100 grey levels and
has a mean residual of ``_MIN_ROUGH_8BIT`` grey levels (texture, not a rounded ramp), gets a hash of its stored
values; equal hashes are found by one grouping of the keys (:mod:`radtrust.forensics.keysort`, a sort in effect). A
pair of equal blocks counts when it lies ``_MIN_SHIFT`` px apart or more (in a picture, not at a multiple of 8 px on
both axes: the JPEG grid) and at least two of its 8 neighbours repeat at the same displacement: a fragment, not a
chance repeat. The statistic is the largest number of different displacements whose fragments have an end in one
window of ``3 * _CELL`` px (1 for a copy-move, many for a fill), less twice the plane's 95th-percentile window and
its square over 80 (a whole picture tone-curved, equalised or resized repeats near-identical blocks everywhere, and
the more it does, the longer its tail). On CT each slice is judged in-plane, as the 2D tools edit them, and the
series takes its worst slice. Posterised pictures (under ``_MIN_LEVELS`` grey levels), pictures whose histogram
shows a tone curve applied as a whole (:func:`~radtrust.forensics.detectors.jpeg_grid.tone_curve_since_compression`:
where its slope is under 1 it merges near-identical blocks) and images known to have been lossy-compressed are not
judged: the codec's plateaus repeat by themselves, and a codec applied after a fill leaves no exact copy.

Written here: scikit-image, SciPy and OpenCV have no detector of this kind; the exact-match block search is
Fridrich, Soukal and Lukáš's (DFRWS 2003) without their single-displacement vote.
"""

from __future__ import annotations

import numpy as np

from radtrust.errors import EvidenceLost, NotApplicable
from radtrust.forensics.detectors.base import Detector, Finding, Scope, sharing_ct_slices
from radtrust.forensics.detectors.jpeg_grid import (
    grey_levels,
    tone_curve_since_compression,
)
from radtrust.forensics.detectors.physics import RADIOGRAPHY, body_mask
from radtrust.forensics.keysort import group_keys
from radtrust.forensics.residuals import (
    block_reduce,
    frames,
    highpass,
    image_class,
    logistic,
    upsample_blocks,
    valid_mask,
)
from radtrust.io.lossy import lossy_reason

BLOCK = 4
_MIN_RANGE = 3         # stored steps a block must span (a flat patch or a one-step ramp repeats by itself)
_MAX_RANGE_8BIT = 100  # grey levels above which an 8-bit block is a glyph or a hard edge (lettering repeats)
_MAX_EXTREME = 12      # of a block's 16 pixels at its minimum or maximum: two-level graphics, not texture
_MIN_SHIFT = 8         # px: closer repeats are the image's own short-range correlation
_MIN_ROUGH_8BIT = 0.35 # mean |residual| (grey levels) of an 8-bit block: noise or texture, not a rounded ramp
_MIN_SAME = 2          # of a pair's 8 neighbours, repeating at the same displacement: a fragment
_BORDER = 16           # px along the edges left out
_MIN_LEVELS = 64       # grey levels below which a picture is posterised (two development pictures hold 13 and 15)
_CELL = 16             # px: the window of the statistic is 3 x 3 cells
_SUBSAMPLE_ABOVE = 2_000_000  # block positions: larger planes start blocks on every second row (half the fragments)
_SPARSE = 4  # blocks are hashed one by one where fewer than one position in this many is usable
_BACKGROUND = 2.0      # times the plane's 95th-percentile window count, taken off its largest
# ... plus its square over this: a picture that repeats everywhere has a longer tail of chance windows (a posterised
# figure of 13 grey levels enlarged by 1.5 reached 111 against a 95th percentile of 44; session 19)
_BACKGROUND_SQUARE = 80.0
# score link on that excess: resized whole pictures (the tone-curved ones are not judged) reached 7 (2 of 40), the
# exemplar set's authentic images score 0.014 at most, all authentic data 0.054 (docs/detectors.md)
_CENTER, _WIDTH = 8.0, 0.7


class PatchFillDetector(Detector):
    """Exemplar-based fills: many small exact copies at many displacements in one region (see module docstring)."""

    name = "patch-fill"
    version = "1"
    # CT, radiographs and pictures, whose noise or texture never repeats by itself; ultrasound, MR and nuclear
    # medicine images carry graphics and smoothed counts this was not measured on
    scope = Scope(modalities=frozenset({"CT", "", "OT", "SC", "XC"}) | RADIOGRAPHY)

    def run(self, image) -> Finding:
        planes = list(frames(np.asarray(image.pixels)))
        return self._judge(planes, image, image.pixels.shape)

    def run_series(self, series) -> Finding:
        if not series.is_volume():
            raise NotApplicable("patch-fill needs a stackable series for its per-slice analysis")
        vol = series.volume()
        lossy = next((r for r in map(lossy_reason, series.instances) if r), "")
        # in CT its 3D pass answers for the slices (base.sharing_ct_slices): it judges every slice's plane
        return sharing_ct_slices(self._judge(list(vol), series.instances[0], vol.shape, lossy), series)

    def _judge(self, planes: list[np.ndarray], image, shape: tuple[int, ...],
               lossy: str | None = None) -> Finding:
        if min(planes[0].shape) < 8 * _CELL:
            raise NotApplicable(f"patch-fill needs at least {8 * _CELL} px per side, got {planes[0].shape}")
        reason = lossy_reason(image) if lossy is None else lossy
        if reason:
            # a codec applied after a fill rounds its copies apart, and the plateaus it leaves in smooth tissue
            # repeat by themselves (pydicom's 693_J2KI, a head CT at a high JPEG 2000 ratio, scored 0.99)
            raise EvidenceLost(f"{reason}: the codec's plateaus repeat by themselves and a fill's copies are no "
                               "longer exact, so exact repeats are not judged")
        picture = image_class(image.modality, image.source_format, image.bits_stored) == "picture"
        ct = (image.modality or "").upper() == "CT"
        levels = grey_levels(planes[0]) if picture else None
        if levels is not None and (used := int(np.count_nonzero(levels))) < _MIN_LEVELS:
            raise NotApplicable(f"a picture of {used} grey levels (posterised): its blocks repeat by construction")
        if levels is not None and (curve := tone_curve_since_compression(planes[0], levels)):
            # where the curve's slope is under 1 it merges near-identical blocks into exact repeats, all over the
            # picture (3 of 40 development pictures given a gamma of 0.8 reached 8 displacements in one window)
            raise EvidenceLost(f"{curve.split(':')[0]}: a tone curve applied to the whole picture merges "
                               "near-identical blocks into exact repeats, so exact repeats are not judged")
        best, where, maps, count, usual = 0.0, -1, [], 0, 0.0
        for i, plane in enumerate(planes):
            n, cells = displacement_counts(plane, picture=picture, ct=ct)
            # against the plane's own typical window: a tone curve or a resize applied to the whole picture merges
            # near-identical blocks everywhere (equalised pictures reach 34 in a window, 17 in their 95th percentile)
            background = float(np.percentile(cells, 95))
            floor = _BACKGROUND * background + background * background / _BACKGROUND_SQUARE
            excess = max(0.0, n - floor)
            maps.append(upsample_blocks(np.clip((cells - floor) / (2 * _CENTER), 0.0, 1.0)
                                        .astype(np.float32), _CELL, plane.shape))
            if excess > best or where < 0:
                best, where, count, usual = excess, i, n, background
        heat = np.stack(maps) if len(shape) == 3 else maps[0]
        score = logistic(best, _CENTER, _WIDTH)
        typical = f" ({usual:g} in the image's 95th-percentile window)" if usual else ""
        if score >= 0.5:
            cy, cx = np.unravel_index(int(np.argmax(maps[where])), maps[where].shape)
            on = f" of slice {where + 1}" if len(planes) > 1 else ""
            text = (f"exact copies of pixels from {count} different places meet around row {cy}, column {cx}{on}"
                    f"{typical}: a region filled patch by patch from the image's own pixels (exemplar-based "
                    "in-painting), or one whose values were flattened until its patterns repeat")
        elif count >= 2:
            text = f"at most {count} different displacements of exact repeats in one place{typical} (a fill shows many)"
        else:
            text = f"no region made of exact copies from elsewhere (at most {count} displacement in one place)"
        return Finding(score, heat, (text,))


def displacement_counts(plane: np.ndarray, *, picture: bool, ct: bool = False,
                        jpeg_grid: bool | None = None) -> tuple[int, np.ndarray]:
    """(the largest number of displacements of coherent exact repeats in one 3 x 3-cell window, that number per
    cell) for one 2D plane of stored values (integers; modality values are rounded)."""
    x32 = np.asarray(plane, dtype=np.float32)
    xf = np.rint(x32)
    if np.array_equal(xf, x32):  # integers already (CT in HU): the masks the scan computed of the plane apply
        xf = x32
    x = xf.astype(np.int64)
    ny, nx = x.shape[0] - BLOCK + 1, x.shape[1] - BLOCK + 1
    step = 2 if ny * nx > _SUBSAMPLE_ABOVE else 1  # blocks start on every row, or every second one
    rows = slice(0, ny, step)

    def over_block(a: np.ndarray, op) -> np.ndarray:  # noqa: ANN001 - a NumPy binary ufunc
        return block_reduce(a, BLOCK, op)[rows, :nx]

    # the narrowest type that holds the values: the 16 comparisons below take 16 ms in 8 bits, 38 in 32 (2k picture)
    # (CT in HU: offset by its minimum into 16 bits, which keeps every equality and spread: 1.8 against 3.0 ms)
    lo_x, hi_x = int(x.min()), int(x.max())
    offset = lo_x if lo_x < 0 and hi_x - lo_x <= 65535 else 0
    small = (x - offset if offset else x).astype(np.uint8 if picture and lo_x >= 0 and hi_x <= 255 else
                                                 np.uint16 if 0 <= lo_x - offset and hi_x - offset <= 65535 else
                                                 np.int32)
    hi = over_block(small, np.maximum)
    lo = over_block(small, np.minimum)
    spread = (hi - lo).astype(np.int32)  # hi >= lo: no wrap-around in an unsigned type
    usable = spread >= _MIN_RANGE
    # bars, gratings and strokes of a test pattern or a glyph: nearly every pixel at the block's darkest or brightest
    extreme = np.zeros(hi.shape, np.uint8)
    at_hi, at_lo = np.empty(hi.shape, bool), np.empty(hi.shape, bool)  # reused: a third faster than new arrays
    for i in range(BLOCK):
        for j in range(BLOCK):
            v = small[i:i + ny:step, j:j + nx]
            np.equal(v, hi, out=at_hi)
            np.equal(v, lo, out=at_lo)
            at_hi |= at_lo
            extreme += at_hi.view(np.uint8)
    usable &= extreme < _MAX_EXTREME
    if picture:
        usable &= spread <= _MAX_RANGE_8BIT
        # a smooth ramp rounded to 8 bits repeats along its isolines: only blocks with a residual of their own
        rough = over_block(np.abs(highpass(xf)), np.add)
        usable &= rough >= _MIN_ROUGH_8BIT * BLOCK * BLOCK
    if _BORDER:  # frames, rulers and padding along the picture's edge
        edge = -(-_BORDER // step)
        usable[:edge] = usable[-edge:] = False
        usable[:, :_BORDER] = usable[:, -_BORDER:] = False
    usable &= over_block(valid_mask(xf, margin=0), np.logical_and)
    if ct:
        usable &= body_mask(xf)[0][:ny, :nx][rows]
    cells = np.zeros((x.shape[0] // _CELL, x.shape[1] // _CELL), np.int32)
    pos = np.flatnonzero(usable.ravel())
    if pos.size < 2:
        return 0, cells
    # (hash, position) keys grouped by hash (radtrust.forensics.keysort): the hash's high bits above the grid index,
    # so equal blocks come out together in raster order and neighbouring positions of a fragment pair with their
    # neighbours' twins (a few chance collisions of the shortened hash pair at random displacements, which coherence
    # drops)
    gy, gx = usable.shape
    shift = np.uint64(max(24, (gy * gx).bit_length()))
    if pos.size * _SPARSE < usable.size:  # few blocks to hash (pictures): each from its own 16 values
        keys = _hashes_at(x if offset else small, pos // gx * step, pos % gx)  # the values, not their offsets
    else:
        keys = _block_hashes(x, ny, nx, step).ravel()[pos]
    keys >>= shift
    keys <<= shift
    keys |= pos.view(np.uint64)
    keys = group_keys(keys, int(shift), overwrite=True)
    same_block = np.flatnonzero((keys[1:] >> shift) == (keys[:-1] >> shift))
    low = (np.uint64(1) << shift) - np.uint64(1)
    first, second = (keys[same_block] & low).astype(np.int64), (keys[same_block + 1] & low).astype(np.int64)
    g1, x1, g2, x2 = first // gx, first % gx, second // gx, second % gx  # g: rows of the block grid
    dy, dx = (g2 - g1) * step, x2 - x1
    flip = (dy < 0) | ((dy == 0) & (dx < 0))
    g1, x1, g2, x2 = np.where(flip, g2, g1), np.where(flip, x2, x1), np.where(flip, g1, g2), np.where(flip, x1, x2)
    dy, dx = np.abs(dy), np.where(flip, -dx, dx)
    keep = np.maximum(dy, np.abs(dx)) >= _MIN_SHIFT
    if jpeg_grid if jpeg_grid is not None else picture:
        keep &= ~((dy % 8 == 0) & (dx % 8 == 0))
    g1, x1, g2, x2, dy, dx = (a[keep] for a in (g1, x1, g2, x2, dy, dx))
    if g1.size == 0:
        return 0, cells
    key = (dy.astype(np.int64) << 20) + (dx.astype(np.int64) + (1 << 19))
    _, kid = np.unique(key, return_inverse=True)
    kid = kid.astype(np.int32) + 1
    lab = np.zeros((gy, gx), np.int32)
    lab[g1, x1] = kid
    same = np.zeros(g1.size, np.int8)
    for sy in (-1, 0, 1):  # neighbours on the block grid
        for sx in (-1, 0, 1):
            if sy or sx:
                same += lab[np.clip(g1 + sy, 0, gy - 1), np.clip(x1 + sx, 0, gx - 1)] == kid
    coherent = same >= _MIN_SAME
    if not coherent.any():
        return 0, cells
    ends = np.r_[np.c_[g1[coherent] * step, x1[coherent]], np.c_[g2[coherent] * step, x2[coherent]]] + BLOCK // 2
    ids = np.r_[kid[coherent], kid[coherent]]
    cy = np.minimum(ends[:, 0] // _CELL, cells.shape[0] - 1)
    cx = np.minimum(ends[:, 1] // _CELL, cells.shape[1] - 1)
    # distinct displacements per 3 x 3-cell window: each (cell, displacement) spread to its 9 neighbours, deduplicated
    wy = np.clip(cy[:, None] + np.repeat([-1, 0, 1], 3)[None, :], 0, cells.shape[0] - 1).ravel()
    wx = np.clip(cx[:, None] + np.tile([-1, 0, 1], 3)[None, :], 0, cells.shape[1] - 1).ravel()
    pair = np.unique((wy.astype(np.int64) * cells.shape[1] + wx) * (int(ids.max()) + 1) + np.repeat(ids, 9))
    per_cell = np.bincount(pair // (int(ids.max()) + 1), minlength=cells.size).reshape(cells.shape)
    return int(per_cell.max()), per_cell.astype(np.int32)


def _hashes_at(x: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """:func:`_block_hashes` of the blocks starting at (``ys``, ``xs``) only, the same values (the same terms in the
    same order, each value taken to 64 bits as there, wrapping alike): 16 gathers of as many values as blocks, where
    the full map costs ten passes over the whole plane in 64 bits. Fastest from the narrowest integer type (uint8 for
    a picture: 18 against 44 ms for 16% of a 2k picture's blocks)."""
    flat = np.ravel(x)
    corner = ys * x.shape[1] + xs
    out = None
    for i in range(BLOCK):
        start = corner + i * x.shape[1]
        row = flat[start].astype(np.uint64)
        for j in range(1, BLOCK):
            row *= np.uint64(1_000_003)
            row += flat[start + j].astype(np.uint64)
        if out is None:
            out = row
        else:
            out *= np.uint64(0x9E3779B97F4A7C15)
            out += row
    return out


def _block_hashes(x: np.ndarray, ny: int, nx: int, step: int = 1) -> np.ndarray:
    """A 64-bit polynomial hash of the 4 x 4 block of stored values starting at each position (every ``step``-th
    row; arithmetic wraps)."""
    v = x.astype(np.uint64)
    rows = v[:, :nx].copy()  # in place from here: no new 64-bit array per term (60 -> 43 ms on a 2k picture)
    for j in range(1, BLOCK):
        rows *= np.uint64(1_000_003)
        rows += v[:, j:j + nx]
    out = rows[:ny:step].copy()
    for i in range(1, BLOCK):
        out *= np.uint64(0x9E3779B97F4A7C15)
        out += rows[i:i + ny:step]
    return out
