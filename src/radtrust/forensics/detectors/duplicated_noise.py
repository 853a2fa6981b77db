"""Duplicated noise: regions whose fine noise residual repeats elsewhere in the image or series.

Exact-match block matching in the spirit of Fridrich, Soukal & Lukáš, "Detection of copy-move forgery in
digital images" (DFRWS 2003), applied to the noise residual and made robust with sign hashing. Noise model
assumed: the acquisition noise of an authentic image (quantum noise of CT and radiographs, electronic noise)
is a random field whose fine residual never repeats at a different position. CT-GAN's "copy noise from
another location" anti-forensic step and every copy-move leave two regions whose residuals agree at one
displacement.

The residual (:func:`~radtrust.forensics.residuals.highpass`) cancels intensity offsets and ramps, and the sign of
the residual is unchanged by a gain, so a copy pasted with a small offset or a contrast change still matches. Every
position gets a 36-bit hash of the residual signs in its 6x6 block; equal hashes are found by one grouping of the
keys (:mod:`radtrust.forensics.keysort`, a sort in effect) and voted by displacement (in 3D over the whole series,
so noise copied from another slice is found too). Random collisions of 36-bit patterns are rare and scattered over
displacements; a copied region of A pixels gives about A votes at one displacement, and still a fraction of them
when a few signs are perturbed (added content, re-quantisation). Displacements whose neighbours also collect votes
are structures elongated along a line (edges, the CT table), not copied noise, and are discarded. At the fine scale
so are pairs whose sign pattern the image's shape sets (few sign changes between neighbours: a smooth ramp's
curvature), which repeat between similar slices of a smooth phantom (:func:`sign_changes`). In a plane, a
displacement on a lattice (both components multiples of 4 or more: a JPEG grid of 8 px, or 4-12 px once the picture
was resized) loses what the best other displacement with the same common factor gets over the best of as many
displacements on no lattice: blocky content (smooth stretches of a JPEG, a straight edge crossing its grid) repeats
at many grid displacements by chance, up to 83 votes in an authentic picture enlarged by 1.5 (session 19), while a
picture without blocks loses nothing. In 8-bit pictures the fine scale leaves out lettering as the coarse one does
(:func:`~radtrust.forensics.band_signs.picture_positions`): repeated letters of a burned-in label matched 56-77
times once a picture was resized or blurred and saved again. At the winning displacement the heatmap marks both the
source and the target over their whole extent: where the residual correlates with the residual one displacement
away (normalised over 7x7 pixels), grown from the matching blocks, so the parts of a copy whose signs were
perturbed (a feathered edge, re-quantisation, added content, flat 8-bit stretches) are marked too, not only the
blocks that matched exactly. On CT only positions inside the patient
(:func:`~radtrust.forensics.detectors.physics.body_mask`, grown by two hash blocks) are hashed: the table's
honeycomb and rails repeat by construction, and in a resampled series their residual matched at displacements just
beyond the exclusion radius (an authentic abdomen slice reached 0.66 with 29 matches).

A second, coarse scale (:mod:`radtrust.forensics.band_signs`, since version 2) hashes a band-passed image the
same way, for copies whose finest noise a lossy codec removed after the paste (JPEG, irreversible JPEG 2000):
the fine scale found 1 of 7 development copy-moves after JPEG 2000 10:1 and none after a JPEG resave, the coarse
one most of them (figures in docs/detectors.md). Each scale has its own link; the score is the larger, and a
displacement the fine scale reported is not reported again.

Limitation: a copy that was resampled or rotated on the way no longer matches sign for sign at either scale;
the spectral, noise-free and noise-residual detectors cover those traces.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from radtrust.errors import NotApplicable
from radtrust.forensics.band_signs import SIGMAS, band, band_signs, picture_positions
from radtrust.forensics.band_signs import STEP as COARSE_STEP
from radtrust.forensics.detectors.base import Detector, Finding, Scope, sharing_ct_slices
from radtrust.forensics.detectors.physics import near_body
from radtrust.forensics.keysort import group_keys
from radtrust.forensics.residuals import (
    block_reduce,
    frames,
    highpass,
    image_class,
    logistic,
    valid_mask,
)

HASH_BLOCK = 6
EXTENT_WINDOW = 7  # pixels: the residual correlation that marks a copy's extent
EXTENT_CORR = 0.6  # normalised correlation at the displacement above which a pixel belongs to the copy (0.5 is a
# window half inside it: 0.6 keeps the marked edge about a pixel inside the copy, where chance cannot push it out)
SLAB = 24  # slices voted together in a series
_EXCLUDE_RADIUS = 8  # in-plane displacements this close are the residual's own (kernel, streak) autocorrelation
_MIN_PERIOD = 4  # a 2D displacement whose components share a factor this large or larger lies on a lattice


def residual_signs(x: np.ndarray, picture: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Sign hashes of a 2D plane's residual and where they are usable (not clipped, not flat; in 8-bit pictures
    not on glyphs either). Only the usable hashes are read: in pictures, where few are, the others may be 0."""
    # near clipped pixels (air at the -1024 floor, saturation) the few unclipped samples are not noise
    r = np.where(valid_mask(x, margin=HASH_BLOCK + 1), highpass(x), np.float32(0.0))
    if not picture:
        return sign_hashes(r)
    # glyphs repeat by design: a picture's burned-in letters matched 56-77 times once it was resized
    usable = picture_positions(np.asarray(x, dtype=np.float32), r, noise_positions(r), HASH_BLOCK)
    return _packed(r, where=usable), usable


def sign_hashes(r: np.ndarray, block: int = HASH_BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """36-bit hash of the residual's sign pattern in the 6x6 block at every position of a 2D array.

    Returns (hashes, usable): usable is False where the block holds more than two flat (zero-residual)
    pixels, whose sign carries no noise, and near the bottom/right edge (partial blocks) (:func:`noise_positions`).
    """
    if block != 6:
        raise ValueError("sign_hashes packs 6x6 blocks")
    return _packed(r), noise_positions(r, block)


def _packed(r: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """The hashes of :func:`sign_hashes`. With ``where`` (a mask), only the hashes there are wanted: where it holds
    few positions (an 8-bit picture's grain between glyphs and flat stretches, a few percent of its positions),
    they are gathered one by one (:func:`_gathered`) and the others are 0."""
    ny, nx = r.shape
    bits = np.zeros((ny, nx + 5), np.uint8)  # sign bits, 5 zero columns past the right edge
    np.greater(r, 0, out=bits[:, :nx].view(np.bool_))
    padded = np.zeros((ny + 5, nx), np.uint8)  # 5 zero rows past the bottom edge, as the packing below leaves them
    row = padded[:ny]
    row[:] = bits[:, 5:]  # 6 horizontal bits per position: bit j from column +j, by Horner's rule
    for j in range(4, -1, -1):  # (additions: uint8 shifts are not vectorised and take 5x longer)
        row += row
        row += bits[:, j : j + nx]
    if where is not None and np.count_nonzero(where) * _SPARSE < where.size:
        return _gathered(padded, where)
    r16 = row.astype(np.uint16)
    pair = r16.copy()  # two rows: 12 bits
    pair[: ny - 1] |= r16[1:] << np.uint16(6)
    h = pair.astype(np.uint64)
    h[: ny - 2] |= pair[2:].astype(np.uint64) << np.uint64(12)
    h[: ny - 4] |= pair[4:].astype(np.uint64) << np.uint64(24)
    return h


_SPARSE = 8  # hashes are gathered one by one where fewer than one position in this many is wanted


def _gathered(row: np.ndarray, where: np.ndarray) -> np.ndarray:
    """:func:`sign_hashes`' packing at the positions of ``where`` only (0 elsewhere), from the 6-bit row patterns
    (``row``: the plane's rows and 5 zero rows after them)."""
    nx = row.shape[1]
    pos = np.flatnonzero(where)
    flat = row.ravel()
    h = flat[pos].astype(np.uint64)
    for i in range(1, HASH_BLOCK):  # row i of the block at bits 6i..6i+5
        h |= flat[pos + i * nx].astype(np.uint64) << np.uint64(6 * i)
    out = np.zeros(where.shape, np.uint64)
    out.ravel()[pos] = h
    return out


def noise_positions(r: np.ndarray, block: int = HASH_BLOCK) -> np.ndarray:
    """Where a hash of the residual ``r`` carries noise: at most two flat (zero-residual) pixels in the block, and
    not near the bottom/right edge (partial blocks)."""
    ny, nx = r.shape
    flat = block_reduce((np.abs(r) < 1e-4).view(np.uint8), block, np.add)
    usable = flat <= 2
    usable[ny - block + 1 :, :] = False
    usable[:, nx - block + 1 :] = False
    return usable


_ROW_PAIRS = np.uint64(sum(0b11111 << (6 * r) for r in range(6)))  # bit pairs (j, j + 1) within each hash row
_COL_PAIRS = np.uint64((1 << 30) - 1)  # bit pairs (j, j + 6): each of the first five rows with the next


def sign_changes(hashes: np.ndarray) -> np.ndarray:
    """Per 36-bit hash (:func:`sign_hashes`' packing), how many of the block's 60 pairs of horizontally or vertically
    adjacent pixels differ in sign: 30 on average for independent signs (medians of 26-42 over the CT slices and
    radiographs here, whose residuals' neighbours correlate a little either way), few for a ramp or an edge, whose
    signs its shape sets."""
    h = np.asarray(hashes, dtype=np.uint64)
    return (np.bitwise_count((h ^ (h >> np.uint64(1))) & _ROW_PAIRS)
            + np.bitwise_count((h ^ (h >> np.uint64(6))) & _COL_PAIRS)).astype(np.int64)


def vote_displacements(
    hashes: np.ndarray, usable: np.ndarray, *, min_votes: int = 6, max_peaks: int = 3, min_changes: int = 0
) -> list[tuple[int, tuple[int, ...]]]:
    """Pairs of positions with equal hashes, voted by displacement: [(votes, displacement), ...] best first.

    Works for any dimensionality (2D image, 3D volume). A displacement wins only if it is isolated: copied
    noise matches at one exact displacement, while a structure elongated along a line matches along a
    run of neighbouring displacements and is discarded. With ``min_changes``, pairs whose sign pattern has fewer
    sign changes (:func:`sign_changes`) do not vote.
    """
    shape = hashes.shape
    where = np.ravel(usable).astype(bool, copy=False)
    pos = np.flatnonzero(where)
    if pos.size < 2:
        return []
    pbits = int(np.ceil(np.log2(hashes.size + 1)))
    # equal hashes side by side, positions ascending among them (not a full sort: the order of hashes is free)
    keys = np.ravel(hashes)[where].astype(np.uint64, copy=False)  # a new array: built and grouped in place
    keys <<= np.uint64(pbits)
    keys |= pos.view(np.uint64)
    keys = group_keys(keys, pbits, overwrite=True)
    h = keys >> np.uint64(pbits)
    p = np.bitwise_and(keys, np.uint64((1 << pbits) - 1)).view(np.int64)  # positions: under 2**63
    eq = h[1:] == h[:-1]
    same = np.flatnonzero(eq)
    if same.size == 0:
        return []
    # hashes seen more than twice are structure (repeated texture), not a copy: drop their pairs
    eqp = np.concatenate([[False], eq, [False]])
    same = same[~(eqp[same] | eqp[same + 2])]
    if min_changes:  # sign patterns set by the image's shape (smooth ramps), not by its noise: no evidence of a copy
        same = same[sign_changes(h[same]) >= min_changes]
    a = np.stack(np.unravel_index(p[same], shape), axis=1)
    b = np.stack(np.unravel_index(p[same + 1], shape), axis=1)
    d = b - a
    # canonical sign: first non-zero component positive
    first = np.argmax(d != 0, axis=1)
    neg = d[np.arange(len(d)), first] < 0
    d[neg] *= -1
    dims = np.asarray(shape, dtype=np.int64)
    span = tuple(2 * dims + 1)
    codes, counts = np.unique(np.ravel_multi_index(tuple((d + dims).T), span), return_counts=True)

    steps = np.array([-2, -1, 1, 2], dtype=np.int64)
    moves = np.zeros((len(shape) * len(steps), len(shape)), np.int64)  # each axis moved by each step
    for axis in range(len(shape)):
        moves[axis * len(steps) : (axis + 1) * len(steps), axis] = steps

    def near_votes(offset: np.ndarray) -> int:
        """The most votes any displacement 1 or 2 steps from ``offset`` along one axis got."""
        q = offset + moves
        q = q[~np.any(np.abs(q) >= dims, axis=1)]  # beyond the image: no votes
        first = q[np.arange(len(q)), np.argmax(q != 0, axis=1)]
        q[first < 0] *= -1  # canonical sign, as the votes were counted
        code = np.ravel_multi_index(tuple((q + dims).T), span)
        i = np.minimum(np.searchsorted(codes, code), len(codes) - 1)
        found = codes[i] == code
        return int(counts[i[found]].max()) if found.any() else 0

    out = []
    periods = None  # per voted displacement, the greatest common divisor of its components (2D only)
    off = np.empty(0)  # the votes of displacements on no lattice (with periods)
    for i in np.argsort(-counts, kind="stable"):
        c = int(counts[i])
        if c < min_votes:
            break
        o = np.asarray(np.unravel_index(int(codes[i]), span), dtype=np.int64) - dims
        if np.abs(o[-2:]).max() <= _EXCLUDE_RADIUS:  # the residual's own autocorrelation, any slice
            continue
        if near_votes(o) > 0.3 * c:  # a line of displacements: an elongated structure
            continue
        if len(o) == 2 and (g := math.gcd(int(o[0]), int(o[1]))) >= _MIN_PERIOD:
            # on a lattice of period g (a JPEG grid: 8 px, or 4-12 once the picture was resized), blocky content
            # repeats at many displacements by chance: only the votes above what the lattice's next best gets more
            # than the best of as many displacements on no lattice are a copy's
            if periods is None:
                shifts = np.stack(np.unravel_index(codes, span), axis=1) - dims
                periods = np.gcd(shifts[:, 0], shifts[:, 1])
                periods[np.abs(shifts).max(axis=1) <= _EXCLUDE_RADIUS] = 0  # the residual's own: neither set
                off = counts[(periods > 0) & (periods < _MIN_PERIOD)]
            same = periods == g
            same[i] = False
            if same.any():
                chance = float(np.quantile(off, 1.0 - 1.0 / same.sum())) if off.size else 0.0
                c -= max(0, int(counts[same].max() - chance))
                if c < min_votes:
                    continue
        out.append((c, tuple(int(v) for v in o)))
        if len(out) == max_peaks:
            break
    return sorted(out, key=lambda peak: -peak[0])


@dataclass(frozen=True)
class _Scale:
    """One scale of the search: how planes are hashed, what marks a copy's extent, how votes become a score."""

    name: str
    hashes: Callable[[np.ndarray, str], tuple[np.ndarray, np.ndarray]]
    residual: Callable[[np.ndarray], np.ndarray]
    links: dict[str, tuple[float, float]]
    what: str  # what matched, for the evidence
    margin: int = 0  # pixels the marked extent is eroded by in-plane (the band-pass spreads a copy's edge)
    density: float = 0.3  # share of a 5 x 5 patch of positions that must match for it to belong to a copy
    min_changes: int = 0  # pairs whose sign pattern has fewer sign changes are not counted (:func:`sign_changes`)


#: the fine scale: logistic link on log2(votes at the best displacement), per image class. Authentic CT and
#: radiographs collect at most ~11 chance votes; 8-bit pictures from papers (text, arrows, JPEG) up to ~26; a
#: lossless 32x32 copy collects ~700. Pairs whose sign pattern changes sign fewer than 20 times over its 60
#: adjacent pairs are not counted: a smooth ramp's residual takes its signs from the ramp's curvature, and the
#: Philips phantom's inserts matched 19 times between neighbouring slices that way (the GE head's smooth brain 16);
#: 6 and 11 without them. Noise rarely looks like that (under 0.1% of a Siemens abdomen slice's or the CR's blocks,
#: against 21% of the phantom's and 10% of the GE head's), and every copy in both benchmarks kept over 98% of its
#: votes (``sign_changes``).
FINE = _Scale("fine", lambda p, klass: residual_signs(p, klass == "picture"), highpass,
              {"ct": (math.log2(24.0), 0.4), "radiograph": (math.log2(24.0), 0.4), "picture": (math.log2(40.0), 0.4)},
              "noise residual", min_changes=20)
#: the coarse scale (:mod:`radtrust.forensics.band_signs`), for copies whose fine noise a lossy codec removed.
#: Authentic images of the development and held-out benchmarks, as stored and after JPEG 2000 10:1 or a JPEG
#: resave, collect at most 44 chance votes (CT: the Philips phantom as stored; 25 otherwise), 25 (the CR) and 28
#: (pictures); their copy-moves after those codecs a median of 350-520 votes, up to 10,000. Centres at about 2x.
COARSE = _Scale("coarse", lambda p, klass: band_signs(p, klass == "picture"), band,
                {"ct": (math.log2(100.0), 0.4), "radiograph": (math.log2(100.0), 0.4),
                 "picture": (math.log2(64.0), 0.4)},
                "band-passed content (noise grain and anatomy, what a lossy codec keeps)", margin=int(SIGMAS[1]),
                # after a codec fewer whole footprints match: a copy of 14 mm radius in a picture resaved as JPEG 2000
                # 10:1 matched at 139 positions, 0.16 of each 5 x 5 patch around them (chance alone: 0.04)
                density=0.1)
SCALES = (FINE, COARSE)


class DuplicatedNoiseDetector(Detector):
    """Copy-move / copied-noise detection by residual sign-hash matching (see module docstring)."""

    name = "duplicated-noise"
    version = "3"
    scope = Scope()

    def __init__(self, scales: tuple[_Scale, ...] = SCALES) -> None:
        self.scales = scales  # one scale alone: the check scripts and tests measure each

    def run(self, image) -> Finding:
        klass = image_class(image.modality, image.source_format, image.bits_stored)
        return self._analyse(np.asarray(image.pixels, dtype=np.float32), klass)

    def run_series(self, series) -> Finding:
        if not series.is_volume():
            raise NotApplicable("duplicated-noise needs a stackable series for 3D analysis")
        # in CT its 3D pass answers for the slices (base.sharing_ct_slices): the 3D vote counts in-plane
        # displacements in every slice too
        found = self._analyse(series.volume().astype(np.float32), image_class(series.modality, "dicom", None))
        return sharing_ct_slices(found, series)

    def _analyse(self, pixels: np.ndarray, klass: str = "ct") -> Finding:
        planes = list(frames(pixels))
        shape2 = planes[0].shape
        if min(shape2) < 4 * HASH_BLOCK:
            raise NotApplicable(f"duplicated-noise needs at least {4 * HASH_BLOCK} px per side, got {shape2}")
        scales = [s for s in self.scales if s is FINE or min(shape2) >= 4 * HASH_BLOCK * COARSE_STEP]
        # the table, rails and other objects outside the patient repeat by construction
        body = [near_body(p, 2 * HASH_BLOCK) for p in planes] if klass == "ct" else None
        heat = np.zeros(pixels.shape, np.float32)
        score, evidence, chance = 0.0, [], []
        seen: set[tuple[int, ...]] = set()  # displacements reported at a finer scale: not repeated
        for scale in scales:
            hashed = [scale.hashes(p, klass) for p in planes]
            if body is not None:
                hashed = [(h, u & b) for (h, u), b in zip(hashed, body, strict=True)]
            best, found = self._scale(scale, hashed, pixels, heat, klass, seen)
            score = max(score, logistic(math.log2(max(best, 1)), *scale.links[klass]))
            evidence.extend(e for e in found if e not in evidence)
            chance.append(f"{best} at the {scale.name} scale")
            del hashed  # a series' hashes are large: one scale's at a time
        if not evidence:
            evidence.append(f"no duplicated noise or content found (chance matches at the best displacement: "
                            f"{', '.join(chance)})")
        return Finding(score=score, heatmap=heat, evidence=tuple(evidence))

    def _scale(self, scale: _Scale, hashed: list[tuple[np.ndarray, np.ndarray]], pixels: np.ndarray,
               heat: np.ndarray, klass: str, seen: set[tuple[int, ...]]) -> tuple[int, list[str]]:
        """Vote one scale over the plane or the series' slabs; paint copies into ``heat``; best votes, evidence."""
        if pixels.ndim == 2:
            return self._vote(scale, hashed[0][0], hashed[0][1], heat, None, klass, pixels, seen)
        # slabs of SLAB slices (overlapping by a third) bound the memory of the sort on long series
        best, evidence = 0, []
        n = len(hashed)
        starts = range(0, max(1, n - SLAB // 3), SLAB - SLAB // 3) if n > SLAB else [0]
        for z0 in starts:
            part = hashed[z0 : z0 + SLAB]
            b, ev = self._vote(scale, np.stack([h for h, _ in part]), np.stack([u for _, u in part]),
                               heat[z0 : z0 + SLAB], z0, klass, pixels[z0 : z0 + SLAB], seen)
            best = max(best, b)
            evidence.extend(e for e in ev if e not in evidence)
        return best, evidence

    def _vote(
        self, scale: _Scale, hashes: np.ndarray, usable: np.ndarray, heat: np.ndarray, z0: int | None, klass: str,
        pixels: np.ndarray, seen: set[tuple[int, ...]],
    ) -> tuple[int, list[str]]:
        """Vote within one plane or slab; paint both copies into ``heat`` (a view); return best votes, evidence."""
        link = scale.links[klass]
        peaks = vote_displacements(hashes, usable, min_votes=4, min_changes=scale.min_changes)
        evidence = []
        residual = None
        for votes, d in peaks:
            if logistic(math.log2(votes), *link) < 0.5 or d in seen:
                continue
            seen.add(d)
            a, _ = matched_pairs(hashes, usable, d, scale.density)
            if residual is None:  # only for an image with a copy: authentic scans never get here
                residual = np.stack([scale.residual(p) for p in frames(pixels)]).reshape(pixels.shape)
            extent = copy_extent(residual, d, a)
            if scale.margin:
                inplane = np.zeros((3,) * residual.ndim, bool)
                inplane[(1,) * (residual.ndim - 2)] = True
                eroded = tuple(ndimage.binary_erosion(e, inplane, iterations=scale.margin) for e in extent)
                if all(e.any() for e in eroded):  # a copy narrower than twice the margin keeps its whole extent
                    extent = eroded
            strength = np.float32(min(1.0, votes / 200.0))
            for region in extent:
                np.maximum(heat, np.where(region, strength, np.float32(0.0)), out=heat)
            marked = np.argwhere(extent[0])  # the source as the map marks it
            axes = ("slice", "rows", "cols")[-len(d):]
            where = ""
            if marked.size:  # matches too sparse to mark an extent still count: the votes are the evidence
                lo, hi = marked.min(axis=0), marked.max(axis=0)
                if z0 is not None:
                    lo[0] += z0
                    hi[0] += z0
                where = " at " + ", ".join(f"{n} {int(l)}-{int(h)}" for n, l, h in zip(axes, lo, hi, strict=True))
            shift = ", ".join(f"{n} {v:+d}" for n, v in zip(axes, d, strict=True))
            evidence.append(
                f"{scale.what}{where} repeats at displacement ({shift}): {votes} positions match sign "
                f"for sign, which an authentic image never does (copy-move or copied noise; source and target "
                f"marked)"
            )
        return (peaks[0][0] if peaks else 0), evidence


def matched_pairs(hashes: np.ndarray, usable: np.ndarray, d: tuple[int, ...], density: float = 0.3
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Positions p (and p + d) in dense patches of agreeing hashes at displacement d (over ``density`` of a 5 x 5
    patch): the two copies."""
    src = [slice(max(0, -k), n - max(0, k)) for k, n in zip(d, hashes.shape, strict=True)]
    dst = [slice(max(0, k), n - max(0, -k)) for k, n in zip(d, hashes.shape, strict=True)]
    eq = (hashes[tuple(src)] == hashes[tuple(dst)]) & usable[tuple(src)] & usable[tuple(dst)]
    # a copy matches in a dense patch; isolated chance matches at the same displacement are dropped
    size = (1,) * (eq.ndim - 2) + (5, 5)
    eq &= ndimage.uniform_filter(eq.astype(np.float32), size=size) > density
    a = np.argwhere(eq) + np.array([s.start for s in src])
    return a, a + np.array(d)


def copy_extent(residual: np.ndarray, d: tuple[int, ...], matches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(source, target) masks of a copy at displacement ``d``: the exactly matching hash blocks (``matches``: their
    corners, as :func:`matched_pairs` returns the source's) and the connected regions around them where the
    residual correlates with the residual ``d`` away (normalised over ``EXTENT_WINDOW`` pixels in-plane) above
    ``EXTENT_CORR``; chance correlations elsewhere hold no matching block and are not marked."""
    shape = residual.shape
    src = tuple(slice(max(0, -k), n - max(0, k)) for k, n in zip(d, shape, strict=True))
    dst = tuple(slice(max(0, k), n - max(0, -k)) for k, n in zip(d, shape, strict=True))
    r1, r2 = residual[src], residual[dst]
    size = (1,) * (residual.ndim - 2) + (EXTENT_WINDOW, EXTENT_WINDOW)
    cross = ndimage.uniform_filter(r1 * r2, size=size)
    energy = ndimage.uniform_filter(r1 * r1, size=size) * ndimage.uniform_filter(r2 * r2, size=size)
    floor = (1e-3 * max(float(np.mean(r1 * r1)), 1e-12)) ** 2  # flat stretches: no residual, no correlation
    corr = cross / np.sqrt(np.maximum(energy, floor))
    blocks = np.zeros(corr.shape, bool)
    corners = matches - np.array([s.start for s in src])
    top = np.array(corr.shape) - 1
    for di in range(HASH_BLOCK):
        for dj in range(HASH_BLOCK):
            q = np.minimum(corners + np.array([0] * (residual.ndim - 2) + [di, dj]), top)
            blocks[tuple(q.T)] = True
    inplane = np.zeros((3,) * corr.ndim, bool)
    inplane[(1,) * (corr.ndim - 2)] = True  # a 3x3 square in the plane: the opening removes chance spurs
    labels, _ = ndimage.label(ndimage.binary_opening(corr > EXTENT_CORR, structure=inplane))
    keep = np.unique(labels[blocks])
    region = np.isin(labels, keep[keep > 0]) | blocks
    source, target = np.zeros(shape, bool), np.zeros(shape, bool)
    source[src] = region
    target[dst] = region
    return source, target
