"""Combs in a region's histogram: part of a CT image scaled by a gain (or any tone curve) and rounded again.

Integer data multiplied by a gain g and rounded back to integers leave a comb in their histogram: g > 1 leaves
single values empty (one in every g / (g - 1)), g < 1 puts two input values on one output value (one in every
g / (1 - g)); a curve (a gamma, a "levels" stretch) does the same wherever its slope is away from 1 (Popescu & Farid,
"Statistical tools for digital forensics", IH 2004; Stamm & Liu, "Forensic detection of image manipulation using
statistical intrinsic fingerprints", IEEE TIFS 5, 2010, for contrast changes). The physics detector reads such a comb
in the whole image's histogram; an editor who raises or lowers the contrast of one region (a nodule made fainter or
brighter, a margin sharpened, a brightness/contrast tool on a selection) leaves it only there, whatever made the
edit.

Test: CT reconstructions are rounded once to the stored integer grid, so a region's histogram is locally smooth at
the scale of one value, but for fine structure the whole image shares (a vendor's own rescaling leaves gaps or
steps everywhere). Per tile of 32 x 32 px x 8 slices (64 x 64 px on a single slice), stepped by half a tile, the
stored-value histogram over its central 99% is divided by the whole image's fine structure (its histogram over its
own Gaussian envelope; values where that ratio is under 0.5 or over 2, a vendor's gaps or the side of a padding
pile-up, are not judged). Each value is judged against its two neighbours: where the three hold ``n >= 16`` voxels
and the histogram is locally linear, its count is Binomial(n, 1/3). An *emptied* value (count 0, probability
(2/3)^n) or a *doubled* one (a share that improbable, P <= 0.001) is a hit; the tile's evidence is -log of the
Poisson tail of its number of hits given the sum of the judged values' own hit probabilities, for the better of the
two kinds (less log 2). No envelope is fitted per tile, so a steep flank or a trough between two tissues cannot pass
for a comb. The image's evidence is the best tile's less the log of the number of tiles judged (a Bonferroni bound),
and the score a logistic of it, 0.5 at 14. Authentic CT (``../shared/data/ct``, the samples, pydicom's and
pydicom-data's CT) reaches 7.9 at most (a Philips phantom slice judged alone; whole series under 7); the edits of
``scripts/region_comb_check.py`` mostly exceed 20.

Only CT applies (stored integer values; radiographs rendered in 8 bits and pictures carry combs of their own from
windowing and JPEG decoding, as ``physics`` notes). Tiles with fewer than 24 judged values or 2,000 voxels on them
are skipped, voxels under -1050 HU (padding, outside the reconstructed field: on a lossy-coded head CT they hold a
periodic pattern) are not read, nor a voxel that repeats the one in the slice before (a sliding MIP slab or slices
repeated by resampling: repeats make counts lumpier than binomial; session 21's `scripts/ct_benign_check.py`), and
images stored lossy-compressed are not judged (a codec flattens tissue into plateaus: the pydicom-data head CT
compressed irreversibly, and its decompressed copy, score 1.0 otherwise). A denoiser leaves plateaus too (non-local
means, total variation, a learned reconstruction): neighbouring voxels share values, and a value's count then moves
by more than a binomial allows. So each tile's counts are divided by its *clustering* (1 plus, over the 8 in-plane
neighbours, how much more often a voxel equals its neighbour than it differs from it by one value, half the rate of
+-1; rounded noise differs by 0 about as often as by 1, and values a gain doubled do too) over the image's typical
clustering (its median tile's, taken up to 1.5), less 0.25 (a comb and a tissue boundary move it by about a tenth),
at least 1. Authentic CT's typical clustering is 1.00-1.08, the Philips phantom's 1.47, a series median-filtered
throughout 1.9-3.8, the phantom after non-local means 3.4 (patients after it 1.1-1.4). Measured with
``scripts/ct_benign_check.py`` and ``scripts/region_comb_check.py`` (session 22): the same 93 of 120 tone edits found, no score moved by 0.05; a
total-variation denoised GE head 0.81 -> 0.04. Not enough for a whole series median-filtered over 5 x 5 px (still
1.0: its plateaus reach past the 8 neighbours) or the phantom denoised unblended. Blind to edits smaller than a tile
(about 24 mm on a 0.75 mm grid), to tissue too uniform for 16 voxels on three adjacent values (low-noise phantoms
and heads, partly), partly to gains near 1 (17 of 24 found at x0.88-0.95 and x1.05-1.15: fewer values emptied or
doubled per tile), and to an editor who adds noise after the gain but before the rounding: the rounding that makes
the comb then happens on noisy values.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from scipy import ndimage, special

from radtrust.errors import EvidenceLost, NotApplicable
from radtrust.forensics.detectors.base import Detector, Finding, Scope, sharing_ct_slices
from radtrust.forensics.detectors.physics import half_even_ratio, reformatted
from radtrust.forensics.projection import settled
from radtrust.forensics.residuals import block_sum, logistic
from radtrust.io.dicom import not_hounsfield
from radtrust.io.lossy import lossy_reason

_MIN_VALUES = 24              # values judged per tile
_MIN_VOXELS = 2000            # voxels on the judged values per tile
_MIN_TRIO = 16                # a value is judged where it and its two neighbours hold this many (empty: P 0.0015)
_HIT = 1e-3                   # a doubled value: its share of the three this improbable for a smooth histogram
_MAX_RANGE = 8192             # stored values read per image (the densest range beyond it)
_WINDOW = 512                 # values judged per tile (its central 99%)
_AIR = -1050.0                # HU: voxels below air's value (padding, outside the reconstructed field) are not read
# a tile's clustering over the image's typical one, less this, divides its counts (at least 1): a comb itself and a
# tissue boundary move a tile's clustering by up to about a tenth (a gain of 1.4 on real CT: 1.11 against 1.01)
_CLUSTER_SLACK = 0.25
# the image's typical clustering is taken up to this: authentic CT here 1.00-1.08, the Philips phantom (smooth at the
# scale of one value) 1.47; a whole series median-filtered 1.9-3.8 and the phantom after non-local means 3.4, which
# must not pass for typical (patients after non-local means 1.1-1.4: their plateaus are local)
_TYPICAL_MAX = 1.5
_OFFSETS = ((0, 1), (1, 0), (1, 1), (1, -1))  # in-plane neighbours (each pair once)
_CENTER, _WIDTH = 14.0, 1.5   # score link on the image's log-evidence: authentic CT reaches 7.9 (one slice alone)


def stored_values(pixels: np.ndarray, rescale: tuple[float, float] | None) -> np.ndarray:
    """The stored integers behind modality values (``(value - intercept) / slope``); NotApplicable when the
    values are not integers in stored units (resampled or float data: nothing was rounded to read)."""
    slope, intercept = rescale if rescale else (1.0, 0.0)
    if not slope:
        raise NotApplicable("rescale slope 0")
    pixels = np.asarray(pixels)
    out = np.empty(pixels.shape, np.int32)
    for frame, dst in zip(pixels.reshape(-1, *pixels.shape[-2:]), out.reshape(-1, *pixels.shape[-2:]), strict=True):
        x = (frame.astype(np.float64) - intercept) / slope  # a frame at a time: no float64 copy of a whole volume
        v = np.rint(x)
        if np.abs(x[::7, ::7] - v[::7, ::7]).max() > 1e-3:
            raise NotApplicable("pixel values are not integers in stored units (nothing rounded to read)")
        dst[...] = v
    return out


def fine_structure(v: np.ndarray) -> tuple[np.ndarray, int]:
    """The whole image's histogram over its envelope (1 where too sparse to tell; NaN where under half or over twice
    it: a vendor's own gaps, the side of a pile-up) over the values read (``v``), and the first of them."""
    if v.size == 0:
        raise NotApplicable("no voxel at or above the air's value")
    lo, hi = int(v.min()), int(v.max())
    if hi - lo >= _MAX_RANGE:  # keep the densest _MAX_RANGE values (CT: air to dense bone fits)
        q = np.quantile(v.ravel()[:: max(1, v.size // 200_000)], [0.005, 0.995])
        lo = max(lo, int((q[0] + q[1]) / 2) - _MAX_RANGE // 2)
        hi = lo + _MAX_RANGE - 1
    inside = (v >= lo) & (v <= hi)
    counts = np.bincount((v[inside] - lo).ravel(), minlength=hi - lo + 1).astype(float)
    env = ndimage.gaussian_filter1d(counts, 4.0, mode="constant")  # the envelope of the whole image
    fine = np.where(env >= 50.0, counts / np.maximum(env, 1e-9), 1.0)
    # not judged in any region: values the image never holds where its envelope expects them (a vendor's gaps),
    # and values whose share is far from the envelope's (beside a pile-up of padding or a floor, which the
    # envelope smears over its neighbours)
    fine[(fine < 0.5) | (fine > 2.0)] = np.nan
    return fine, lo


def _slabs(v: np.ndarray, valid: np.ndarray, lo: int, width: int, cell: int, depth: int):  # noqa: ANN202
    """Per slab of ``depth`` slices (stepped by half of it, the last one too): its first slice, its stored values
    less ``lo`` cut to whole cells, and the voxels read there."""
    z, h, w = v.shape
    ny, nx = h // cell, w // cell
    if ny < 2 or nx < 2:
        raise NotApplicable(f"image smaller than {2 * cell} px")
    for z0 in sorted({*range(0, z - depth + 1, max(1, depth // 2)), z - depth}) if z > depth else [0]:
        block = v[z0:z0 + depth, : ny * cell, : nx * cell] - lo
        yield z0, block, (block >= 0) & (block < width) & valid[z0:z0 + depth, : ny * cell, : nx * cell]


def tile_windows(v: np.ndarray, valid: np.ndarray, lo: int, width: int, cell: int,  # noqa: ANN201 - generator
                 depth: int):
    """Per slab of ``depth`` slices (stepped by half of it): the value histograms (tiles, width) of tiles of
    2 x 2 cells of ``cell`` px stepped by one cell, and each tile's (first slice, row, col)."""
    ny, nx = v.shape[1] // cell, v.shape[2] // cell
    cell_id = (np.arange(ny)[:, None] * nx + np.arange(nx)[None, :]).repeat(cell, 0).repeat(cell, 1)
    yy, xx = np.meshgrid(np.arange(ny - 1) * cell, np.arange(nx - 1) * cell, indexing="ij")
    for z0, block, ok in _slabs(v, valid, lo, width, cell, depth):
        ids = np.broadcast_to(cell_id, block.shape)[ok].astype(np.int64) * width + block[ok]
        cells = np.bincount(ids, minlength=ny * nx * width).reshape(ny, nx, width).astype(np.float32)
        tiles = cells[:-1, :-1] + cells[1:, :-1] + cells[:-1, 1:] + cells[1:, 1:]
        where = np.stack([np.full(yy.size, z0), yy.ravel(), xx.ravel()], axis=1)
        yield tiles.reshape(-1, width), where


def tile_clustering(v: np.ndarray, valid: np.ndarray, lo: int, width: int, cell: int,
                    depth: int) -> tuple[list[np.ndarray], float]:
    """Per slab (as :func:`tile_windows`), each tile's clustering (:func:`_clustering`), and the image's typical
    clustering: its median over tiles holding at least _MIN_VOXELS voxels read (all tiles if none does)."""
    per_slab, sizes = [], []
    for _, block, ok in _slabs(v, valid, lo, width, cell, depth):
        per_slab.append(_clustering(block, ok, cell))
        n = _quads(ok.sum(axis=0).reshape(ok.shape[1] // cell, cell, ok.shape[2] // cell, cell).sum(axis=(1, 3)))
        sizes.append(n)
    every, voxels = np.concatenate(per_slab), np.concatenate(sizes)
    full = voxels >= _MIN_VOXELS
    return per_slab, min(float(np.median(every[full] if full.any() else every)), _TYPICAL_MAX)


def _quads(cells: np.ndarray) -> np.ndarray:
    """Per tile of 2 x 2 cells stepped by one cell (the order of :func:`tile_windows`), the sum of its cells."""
    return (cells[:-1, :-1] + cells[1:, :-1] + cells[:-1, 1:] + cells[1:, 1:]).ravel()


def _clustering(block: np.ndarray, ok: np.ndarray, cell: int) -> np.ndarray:
    """Per tile, how far a value's count varies beyond binomial because neighbouring voxels share values: 1 plus,
    summed over the 8 in-plane neighbours, how much more often a voxel equals that neighbour than differs from it
    by one value (half the rate of a difference of +-1). Noise rounded to the grid differs by 0 about as often as by
    +-1, and so do values a gain doubled; a denoiser's plateaus make neighbours equal, and equal voxels move a
    count together."""
    _, h, w = block.shape
    # per pixel, summed over the offsets and the slab's slices (a pair belongs to the cell of its first voxel), then
    # per cell: multiples of 0.5 far below 2^23, exact in float32 in any order, so summed once rather than per offset
    excess = np.zeros((h, w), np.float32)
    pairs = np.zeros((h, w), np.float32)
    for dy, dx in _OFFSETS:
        here = (slice(None), slice(dy, None), slice(max(dx, 0), w + min(dx, 0)))
        there = (slice(None), slice(None, h - dy), slice(max(-dx, 0), w - max(dx, 0)))
        both = ok[here] & ok[there]
        d = np.abs(block[here] - block[there])
        excess[here[1:]] += (((d == 0) - np.float32(0.5) * (d == 1)) * both).sum(axis=0, dtype=np.float32)
        pairs[here[1:]] += both.sum(axis=0, dtype=np.float32)
    e, n = (_quads(block_sum(a, cell).astype(np.float64)) for a in (excess, pairs))
    return 1.0 + 2.0 * len(_OFFSETS) * np.clip(e / np.maximum(n, 1.0), 0.0, None)


# The three tails below are scipy.stats' (binom.sf, binom.isf, poisson.logsf) computed from the scipy.special
# functions those methods call, value for value (tests/forensics/pixel/test_region_comb.py compares them over every
# size a tile can hold): importing scipy.stats costs a third of a second in every process that scans, more than the
# analysis of a CT slice.
def binomial_sf(k: np.ndarray, n: np.ndarray, p: float) -> np.ndarray:
    """P(X > k) for X ~ Binomial(n, p), integer-valued float arrays with 0 <= k (the regularised incomplete beta
    function I_p(k + 1, n - k), as scipy.stats.binom.sf computes it; 0 where k >= n)."""
    k, n = np.broadcast_arrays(np.asarray(k, float), np.asarray(n, float))
    short = k < n
    out = np.zeros(k.shape)
    out[short] = special.betainc(k[short] + 1.0, n[short] - k[short], p)
    return out


def binomial_isf(q: float, n: np.ndarray, p: float) -> np.ndarray:
    """The least integer k with P(X > k) <= q for X ~ Binomial(n, p) (scipy.stats.binom.isf), 0 < q < 1: from the
    normal approximation's quantile, stepped up and down to the exact tail."""
    n = np.asarray(n, float)
    z = -special.ndtri(q)
    k = np.clip(np.floor(n * p + z * np.sqrt(n * p * (1.0 - p))), 0.0, n)
    while (up := (k < n) & (binomial_sf(k, n, p) > q)).any():
        k = k + up
    while (down := (k > 0) & (binomial_sf(np.maximum(k - 1.0, 0.0), n, p) <= q)).any():
        k = k - down
    return k


def poisson_logsf(k: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """log P(X > k) for X ~ Poisson(mu), 0 <= k, 0 < mu (scipy.stats.poisson.logsf: -inf where the tail underflows)."""
    with np.errstate(divide="ignore"):
        return np.log(special.pdtrc(np.floor(k), mu))


def comb_evidence(hists: np.ndarray, fine: np.ndarray, clustering: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per tile (row of ``hists``): -log p of its emptied or doubled values (NaN where not judged), and how many
    values were emptied or doubled.

    Each histogram is cut to its central 99% (at most _WINDOW values), divided by the image's fine structure,
    and every value is judged against its two neighbours (its share of the three, binomial where the histogram is
    locally linear): no envelope to fit, so a steep flank or a trough between two tissues cannot pass for a comb, and a curve whose
    slope varies (a gamma, a "levels" stretch) counts like a constant gain. All tiles are worked at once.
    ``clustering`` (per tile, at least 1) divides the counts judged: voxels that share values count as fewer
    independent ones (an emptied value is read from the counts as they are)."""
    n_tiles, n_values = hists.shape
    total = hists.sum(axis=1)
    first, last = _below(hists, (0.005 * total, 0.995 * total))
    stop = np.minimum(last + 1, first + _WINDOW)
    width = int(max(3, (stop - first).max()))
    idx = np.minimum(first[:, None] + np.arange(width)[None, :], n_values - 1)
    f = fine[idx]
    inside = (idx < stop[:, None]) & np.isfinite(f)
    c = np.where(inside, np.take_along_axis(hists, idx, axis=1) / np.where(inside, f, 1.0), 0.0)
    raw = np.rint(c)
    emptied_raw = raw == 0
    if clustering is not None:  # voxels that share values count as fewer independent ones
        c = c / np.maximum(clustering, 1.0)[:, None]
    c = np.rint(c)
    left = np.pad(c, ((0, 0), (1, 0)))[:, :-1]
    right = np.pad(c, ((0, 0), (0, 1)))[:, 1:]
    trio = left + c + right  # where the density is locally linear, c is Binomial(trio, 1/3)
    judged = inside & (trio >= _MIN_TRIO)
    judged &= np.pad(inside, ((0, 0), (1, 0)))[:, :-1] & np.pad(inside, ((0, 0), (0, 1)))[:, 1:]
    judged[:, 0] = False  # the extremes: whatever clipped or padded the data
    judged[np.arange(n_tiles), np.clip(stop - first - 1, 0, width - 1)] = False
    n = np.where(judged, trio, 0.0)
    # a gain or curve steeper than 1 empties single values; flatter than 1, it puts two inputs on one value.
    # A value is a hit when its share of the trio is that improbable (P <= _HIT); hits are counted against the
    # number a smooth histogram would give (each value's own hit probability, summed)
    emptied = judged & emptied_raw
    sizes, where = np.unique(n[judged], return_inverse=True)  # a few hundred trio sizes: binomial tails once each
    p_empty = np.zeros(n.shape)
    p_empty[judged] = ((2.0 / 3.0) ** sizes)[where]
    crit_of = binomial_isf(_HIT, sizes, 1.0 / 3.0) + 1.0
    crit = np.full(n.shape, np.inf)
    crit[judged] = crit_of[where]
    doubled = judged & (c >= crit) & (c <= 1.5 * (left + right))  # a gain >= 0.5 doubles; a plateau spikes higher
    p_doubled = np.zeros(n.shape)
    p_doubled[judged] = binomial_sf(crit_of - 1.0, sizes, 1.0 / 3.0)[where]
    evidence = np.full(n_tiles, np.nan)
    found = np.zeros(n_tiles, int)
    ok = (judged.sum(axis=1) >= _MIN_VALUES) & ((raw * judged).sum(axis=1) >= _MIN_VOXELS)
    for hits, p in ((emptied, p_empty), (doubled, p_doubled)):
        k, expected = hits.sum(axis=1), p.sum(axis=1)
        tail = np.where(k > 0, -poisson_logsf(np.maximum(k - 1, 0), np.maximum(expected, 1e-300)), 0.0)
        tail -= math.log(2.0)  # the better of two tests
        better = ok & ~(tail <= np.nan_to_num(evidence, nan=-np.inf))
        evidence = np.where(better, tail, evidence)
        found = np.where(better, k, found)
    return evidence, found


def _below(hists: np.ndarray, thresholds: tuple[np.ndarray, ...], chunk: int = 64) -> list[np.ndarray]:
    """Per row of integer counts (sums exact in float32) and per threshold (one per row), how many of the row's
    running sums lie below it: ``(np.cumsum(hists, axis=1, dtype=np.float32) < t[:, None]).sum(axis=1)``, the same
    counts, from running sums of chunks of ``chunk`` values and a running sum inside the one chunk where the
    threshold is crossed (a running sum along rows of thousands of values is not vectorised: 3.4 against 1.2 ms
    for the two thresholds of a sample CT slice's 225 tiles of 2,469 values)."""
    rows, n = hists.shape
    chunks = (np.pad(hists, ((0, 0), (0, -n % chunk))) if n % chunk else hists).reshape(rows, -1, chunk)
    coarse = np.cumsum(chunks.sum(axis=2, dtype=np.float32), axis=1, dtype=np.float32)
    out = []
    for threshold in thresholds:
        whole = (coarse < threshold[:, None]).sum(axis=1)  # chunks whose every running sum is below
        before = np.where(whole > 0, coarse[np.arange(rows), np.maximum(whole - 1, 0)], np.float32(0.0))
        inside = chunks[np.arange(rows), np.minimum(whole, coarse.shape[1] - 1)]
        partial = before[:, None] + np.cumsum(inside, axis=1, dtype=np.float32)
        counted = np.where(whole < coarse.shape[1], (partial < threshold[:, None]).sum(axis=1), 0)
        out.append(np.minimum(whole * chunk + counted, n))
    return out


class RegionCombDetector(Detector):
    """A comb in the histogram of one region of a CT image (see module docstring)."""

    name = "region-comb"
    version = "1"
    scope = Scope(modalities=frozenset({"CT"}))

    def run(self, image) -> Finding:  # noqa: ANN001 - radtrust.io.Image
        self._check(image)
        v = stored_values(image.pixels, image.rescale)
        hu = np.asarray(image.pixels)
        finding = self._analyse(v if v.ndim == 3 else v[None], (hu if hu.ndim == 3 else hu[None]) >= _AIR,
                                v.ndim == 3 and v.shape[0] > 1)
        return replace(finding, heatmap=finding.heatmap.reshape(image.pixels.shape))

    def run_series(self, series) -> Finding:  # noqa: ANN001 - radtrust.io.Series
        if not series.is_volume():
            raise NotApplicable("region-comb needs a stackable series for 3D analysis")
        for im in series.instances:
            self._check(im)
        v = np.stack([stored_values(im.pixels, im.rescale) for im in series.instances])
        # its 3D pass answers for the slices (base.sharing_ct_slices: it reads every slice's plane too; and
        # projection.settled: a sliding projection's slices repeat their neighbours' values, judged in 3D only)
        found = self._analyse(v, np.stack([np.asarray(im.pixels) >= _AIR for im in series.instances]), True)
        return sharing_ct_slices(settled(found, series), series)

    @staticmethod
    def _check(image) -> None:  # noqa: ANN001
        if image.dataset is not None and (reason := not_hounsfield(image.dataset, image.pixels)):
            raise NotApplicable(reason)
        if reason := lossy_reason(image):  # a lossy codec flattens tissue into plateaus: values a histogram spikes on
            raise EvidenceLost(f"{reason}: its plateaus and rounding leave the histogram uneven, so no comb is judged")
        if reason := reformatted(image):
            # interpolated with weights that change from row to row, then averaged and rounded: combs in some rows
            # and not others (a 3 mm sagittal slab of the Philips phantom: 0.62, `tampered`;
            # scripts/ct_reformat_check.py)
            raise EvidenceLost(f"{reason}; its values were interpolated, averaged or projected, which leaves combs "
                               "of their own")

    def _analyse(self, v: np.ndarray, valid: np.ndarray, volume: bool) -> Finding:
        values = v[valid]
        if (ratio := half_even_ratio(values, values.astype(np.int64))) is not None:  # integers: rounded already
            # every value of one parity is up to 3 times as frequent as its neighbours everywhere, which leaves the
            # test nothing to judge on most slices and one tile's chance comb on another (a Siemens slab of 2: 0.69)
            raise EvidenceLost(f"the values were averaged and rounded half to even (one parity {ratio:.1f} times as "
                               "frequent as the other throughout), a comb everywhere that hides a region's own")
        cell, depth = (16, 8) if volume and v.shape[0] >= 4 else (32, 1)
        if v.shape[0] > 1:
            # a voxel that repeats the one in the slice before is not counted: a sliding MIP or MinIP slab, slices
            # duplicated by nearest-neighbour resampling or copied along z repeat values, and repeated voxels make
            # counts lumpier than the binomial the test assumes (sliding MIPs of 3 slices of the chest volume, the
            # GE head and the Siemens abdomen: log-evidence 17-34, -0.6 to -2.8 after; a region's gain of 1.1 there
            # loses 1.5-4 of 150-242)
            valid = valid.copy()
            valid[1:] &= v[1:] != v[:-1]
            values = v[valid]
        fine, lo = fine_structure(values)
        # counts are judged against the image's own clustering: a tile whose neighbouring voxels share values more
        # than the image's typical tile counts as fewer independent voxels
        clustering, typical = tile_clustering(v, valid, lo, fine.size, cell, depth)
        parts = [(*comb_evidence(h, fine, np.maximum(m / typical - _CLUSTER_SLACK, 1.0)), w)
                 for (h, w), m in zip(tile_windows(v, valid, lo, fine.size, cell, depth), clustering, strict=True)]
        evidence, found, where = (np.concatenate(p) for p in zip(*parts, strict=True))
        judged = np.isfinite(evidence)
        if not judged.any():
            raise NotApplicable("no region with enough voxels spread over enough values to read a histogram comb")
        tiles = int(judged.sum())
        best = int(np.nanargmax(evidence))
        stat = float(evidence[best]) - math.log(tiles)
        score = logistic(stat, _CENTER, _WIDTH)
        heat = np.zeros(v.shape, np.float32)
        for i in np.flatnonzero(judged & (evidence - math.log(tiles) > 0)):
            z0, y0, x0 = where[i]
            region = heat[z0:z0 + depth, y0:y0 + 2 * cell, x0:x0 + 2 * cell]
            np.maximum(region, logistic(float(evidence[i]) - math.log(tiles), _CENTER, _WIDTH), out=region)
        z0, y0, x0 = (int(t) for t in where[best])
        place = (f"slices {z0}-{min(z0 + depth, v.shape[0]) - 1}, " if volume else "") + \
            f"rows {y0}-{y0 + 2 * cell - 1}, cols {x0}-{x0 + 2 * cell - 1}"
        if score >= 0.5:
            text = (f"the histogram of the region at {place} has {int(found[best])} values emptied or doubled "
                    f"between full neighbours (log-evidence {stat:.1f} over {tiles} regions), which the rest of the "
                    "image does not: its values were scaled (a contrast or tone change) and rounded again")
        else:
            text = (f"no region's histogram has a comb of its own (strongest at {place}, log-evidence "
                    f"{stat:.1f} over {tiles} regions)")
        return Finding(score, heat, (text,))
