"""JPEG lattice consistency: blocks whose DCT coefficients left the quantisation lattice of the last compression.

Most radiographs that circulate outside a PACS (teaching files, case reports, exports, screenshots) were
JPEG-compressed at some point. Decompression leaves every aligned 8x8 block's DCT coefficients close to
integer multiples of the quantisation table; only pixel rounding and clipping blur that lattice. Any local
edit made afterwards on the decoded pixels (a pasted or generated lesion, an in-painted region, a
resampled or retouched patch, added noise) moves the edited blocks' coefficients off the lattice, whatever
tool made the edit. After Lin et al., "Fast, automatic and fine-grained tampered JPEG image detection via DCT
coefficient analysis" (Pattern Recognit. 42, 2009), Bianchi & Piva, "Image forgery localization via
block-grained analysis of JPEG artifacts" (IEEE TIFS 7, 2012) and Fan & de Queiroz's quantiser estimation
(IEEE TIP 12, 2003).

Steps: the 8x8 grid phase from the blockiness of first differences (two phases per axis are compared when
blockiness is ambiguous); the quantisation step of each DCT frequency as the step q that maximises the mean
cos(2 pi c/q) of the coefficients outside its zero bin (a multiple of the true step puts the odd multiples at
-1, a divisor spreads the rounding noise wider), kept when that mean exceeds 0.7; per block, the mean lattice
distance (1 - cos(2 pi c/q)) / 2 over the frequencies with a clear lattice, minus what untouched blocks show.
Blocks holding clipped or flat pixels carry no information and are skipped, and so are blocks spanning more
than 100 grey levels (glyphs and hard edges, whose ringing was clipped). The score is a logistic transform of
the strongest 3x3-block neighbourhood's mean distance above the image's median block; the heatmap is that
neighbourhood map.

A picture processed as a whole since its last compression (resized, filtered, re-quantised, recompressed)
can keep a partial lattice whose uneven survival reads like local edits. Rounding the decoded pixels alone
leaves a frequency with step q a strength of exp(-2 pi^2 sigma^2 / q^2), sigma^2 = 1/12; when the median
frequency falls more than ``_MAX_DEFICIT`` below that, the lattice is weak throughout and the picture is not
judged. Measured on the development pictures: untouched ones at most 0.006 below, edited ones at most 0.04
(the edit's own blocks pull the strength down), resampled, re-quantised or JPEG 2000-compressed ones
0.10-0.25. Between the two, a lattice weakened as a whole (a tone curve or a thresholded sharpening) spreads
every block's distance, so the score's centre rises with the deficit (``_DEFICIT_SLOPE``).

Images with no JPEG history (CT, most DICOM radiographs, pictures resized after compression) are not
judged: the detector raises NotApplicable and says why. An image stored lossy-compressed as JPEG or JPEG-LS
(:func:`radtrust.io.lossy.stored_lossy`) is not judged either: that compression came last, so the lattice left is
the archive's or has been blurred for the whole picture alike. A picture stored as irreversible JPEG 2000 is judged
(session 29) while its lattice shows no more noise than the 9-7 transform's rounding adds (``Lattice.noise_variance``
at most ``_WAVELET_MAX_NOISE``), against a fixed, higher centre (``_WAVELET_CENTER``): that rounding weakens the
lattice evenly, like added noise, not unevenly like a resize.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.fft import dct

from radtrust.errors import EvidenceLost, NotApplicable
from radtrust.forensics.detectors.base import Detector, Finding, Scope
from radtrust.forensics.residuals import logistic, reuse
from radtrust.io.lossy import stored_lossy, wavelet_coded

_MIN_COEFFS = 64        # non-zero coefficients a frequency needs before its step is trusted
_MIN_FREQS = 6          # frequencies with a clear lattice before the image counts as JPEG-decoded
_MIN_STRENGTH = 0.7     # lattice strength (mean cos) a frequency needs
_MAX_STEP = 48
_MAX_DEFICIT = 0.08     # median lattice strength below what pixel rounding leaves, beyond which it is not judged
_MAX_FREQ_DEFICIT = 0.1  # one frequency's strength below that, beyond which its distance is left out (block_distance)
_MAX_RANGE = 100.0      # grey levels within one 8x8 block above which it is an edge or a glyph, not tissue
# score link on the peak 3x3-block excess distance: authentic development pictures mostly peak below 0.05,
# edited regions at 0.1-0.45 (scripts/calibrate_fusion.py refits the fusion on top of it)
_CENTER, _WIDTH = 0.07, 0.012
# ... raised by _DEFICIT_SLOPE x the lattice's deficit beyond _DEFICIT_FREE: a lattice weakened as a whole (a tone
# curve, a thresholded sharpening, whose slopes reach blocks unevenly) spreads every block's distance, so chance
# alone lifts the peak. Session 19 (a /tmp harness: the transforms of scripts/benign_processing_check.py on all 160
# pictures, and both benchmarks): 5 authentic pictures so processed, at deficits 0.043-0.079, peaked at 0.12-0.20;
# the 220 edited pictures of both benchmarks (deficits up to 0.044) at 0.22-0.62 where the deficit passes 0.02,
# none whose peak was over 0.07 fell under the raised centre
_DEFICIT_FREE, _DEFICIT_SLOPE = 0.01, 2.5
# a picture stored as irreversible JPEG 2000: the 9-7 transform's rounding adds noise of variance about 0.26 to
# every coefficient (Lattice.noise_variance 0.34 on 103 authentic pictures at 2:1, 0.08 as stored), which weakens
# the lattice throughout, so the deficit bar and slope above do not apply; a bar on that noise and a fixed centre
# do. Where the codec took more than its rounding the noise grows (medians 0.46 at 5:1, 0.86 at 8:1) and so do the
# authentic peaks (0.13 at 5:1, 0.21 at 8:1, both with noise 0.63 or more). Session 29 (/tmp harness: the 160
# pictures of ../shared/data/cxr stored at 2:1 to 8:1, the radiograph rows of bench/dev at 2:1 to 5:1): with noise
# at most 0.5, authentic peaks at most 0.104 at every ratio; edits' median 0.20, 46 of 140 above 0.15 at 2:1
_WAVELET_CENTER = 0.15
_WAVELET_MAX_NOISE = 0.5
_FULL = 0.25            # excess distance shown as 1.0 on the heatmap
_MIN_GAPS, _GAP_NEIGHBOURS = 2, 50  # tone_curve_since_compression: empty levels, and pixels on each neighbour


@dataclass(frozen=True)
class Lattice:
    """The last JPEG compression's lattice as recovered from the pixels."""

    phase: tuple[int, int]    # (row, column) offset of the 8x8 grid
    steps: np.ndarray         # (8, 8) quantisation step per frequency, 0 = no clear lattice
    strength: np.ndarray      # (8, 8) mean cos(2 pi c / q) of the non-zero coefficients

    @property
    def frequencies(self) -> int:
        return int((self.steps > 0).sum())

    def rounding_strength(self) -> np.ndarray:
        """(8, 8) strength that pixel rounding alone leaves at each frequency's step, exp(-2 pi^2 sigma^2 / q^2) with
        sigma^2 = 1/12 (1 where there is no lattice)."""
        q = np.where(self.steps > 0, self.steps, 1.0)
        return np.where(self.steps > 0, np.exp(-2.0 * np.pi**2 / 12.0 / q**2), 1.0)

    @property
    def noise_variance(self) -> float:
        """Median, over the frequencies with a lattice, of the noise variance on the coefficients that their strength
        implies (strength = exp(-2 pi^2 sigma^2 / q^2)): 1/12 for pixel rounding alone, more where a later codec or
        process added error to the whole picture."""
        sel = self.steps > 0
        strength = np.clip(self.strength[sel], 1e-3, 0.999)
        return float(np.median(-self.steps[sel] ** 2 * np.log(strength) / (2.0 * np.pi ** 2)))

    @property
    def deficit(self) -> float:
        """Median, over the frequencies with a lattice, of the strength that pixel rounding alone would leave
        minus the strength measured."""
        sel = self.steps > 0
        return float(np.median((self.rounding_strength() - self.strength)[sel]))


_DCT8 = dct(np.eye(8), norm="ortho", axis=0)  # the orthonormal 8-point DCT-II matrix (row u = basis u)


def block_dct(x: np.ndarray, phase: tuple[int, int]) -> np.ndarray:
    """(nby, nbx, 8, 8) orthonormal DCT-II of the 8x8 blocks starting at ``phase``; equals JPEG's FDCT.

    Two small matrix products (along each block's rows, then its columns) rather than scipy's dctn: ~3x
    faster on a 2k picture, and equal to it within 1e-12 (rounding of a different summation order).
    """
    oy, ox = phase
    h, w = (x.shape[0] - oy) // 8 * 8, (x.shape[1] - ox) // 8 * 8
    rows = np.matmul(_DCT8, x[oy:oy + h, ox:ox + w].reshape(h // 8, 8, w))
    c = np.matmul(rows.reshape(h // 8, 8, w // 8, 8), _DCT8.T).transpose(0, 2, 1, 3)
    c[..., 0, 0] -= 1024.0  # JPEG's level shift of 128 moves only the DC term (by 8 x 128)
    return c


def candidate_phases(x: np.ndarray, count: int = 2) -> list[tuple[int, int]]:
    """Grid phases ordered by blockiness: JPEG block borders carry larger first differences.

    Up to ``count`` phases per axis; only one where its border stands 5% above every other offset.
    ``x`` holds integer grey levels 0..255 (as :func:`eight_bit_levels` returns them), so int16 differences
    and their means are exact: the same profiles as in float64, at a quarter of the memory traffic.
    """
    xi = x.astype(np.int16)
    dx = np.abs(np.diff(xi, axis=1)).mean(axis=0)
    dy = np.abs(np.diff(xi, axis=0)).mean(axis=1)

    def best(profile: np.ndarray) -> list[int]:
        p = np.array([profile[k::8].mean() for k in range(8)])
        order = np.argsort(p)[::-1]
        n = 1 if p[order[0]] > 1.05 * p[order[1]] else count
        # a border between columns k and k+1 (diff index k) means blocks start at k + 1
        return [(int(k) + 1) % 8 for k in order[:n]]

    return [(y, x_) for y in best(dy) for x_ in best(dx)]


def estimate_steps(coeffs: np.ndarray, usable: np.ndarray, max_blocks: int = 3000,
                   max_order: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Quantisation step and lattice strength per frequency (u + v <= ``max_order``) from the usable blocks."""
    where = np.nonzero(usable)  # the usable blocks in raster order, as boolean indexing takes them
    if where[0].size > max_blocks:  # an even spread of blocks is plenty to read a step off
        pick = np.linspace(0, where[0].size - 1, max_blocks).astype(int)
        where = tuple(w[pick] for w in where)
    c = coeffs[where].astype(np.float32)  # (n, 8, 8): only the blocks read are gathered
    steps = np.zeros((8, 8))
    strength = np.zeros((8, 8))
    qs = np.arange(2, _MAX_STEP + 1, dtype=np.float32)
    for u in range(8):
        for v in range(max(0, min(8, max_order - u + 1))):
            cc = c[:, u, v]
            big = np.abs(cc)[None, :] >= qs[:, None] / 2  # the coefficients outside each candidate's zero bin
            n = big.sum(axis=1)
            if n[0] < _MIN_COEFFS:
                continue
            # the true step maximises the mean cosine: a multiple of it puts the odd multiples at cos = -1,
            # a divisor spreads the rounding noise wider
            p = np.where(n >= _MIN_COEFFS,
                         (np.cos(2 * np.pi * cc[None, :] / qs[:, None]) * big).sum(axis=1) / np.maximum(n, 1), -1.0)
            k = int(np.argmax(p))
            if p[k] > _MIN_STRENGTH:
                steps[u, v], strength[u, v] = qs[k], p[k]
    return steps, strength


def usable_blocks(x: np.ndarray, phase: tuple[int, int], lo: float, hi: float,
                  exclude: np.ndarray | None = None) -> np.ndarray:
    """Blocks with no clipped pixel, some texture and no hard edge: the only ones whose lattice says anything.

    A block spanning more than ``_MAX_RANGE`` grey levels holds a glyph or a hard edge (burned-in text, panel
    letters, markers): JPEG ringing around it is clipped in the colour channels before the picture becomes
    grey, which moves such blocks off the lattice in untouched pictures. Blocks holding a pixel of ``exclude``
    (``Image.colour_clipped``: where a colour picture's channels were clipped, around red arrows and coloured
    labels) are left out for the same reason, whatever their range.
    """
    oy, ox = phase
    h, w = (x.shape[0] - oy) // 8 * 8, (x.shape[1] - ox) // 8 * 8
    # across the 8 rows of a block row first (long contiguous runs), then within each block: ~5x faster
    rows = x[oy:oy + h, ox:ox + w].reshape(h // 8, 8, w)
    bmin = np.minimum.reduce(rows, axis=1).reshape(h // 8, w // 8, 8).min(axis=2)
    bmax = np.maximum.reduce(rows, axis=1).reshape(h // 8, w // 8, 8).max(axis=2)
    spread = bmax - bmin
    usable = (bmin > lo) & (bmax < hi) & (spread >= 1.0) & (spread <= _MAX_RANGE)
    if exclude is not None:
        usable &= ~blocks_holding(exclude, phase)
    return usable


def blocks_holding(mask: np.ndarray, phase: tuple[int, int]) -> np.ndarray:
    """(nby, nbx): the 8x8 blocks starting at ``phase`` that hold a pixel of ``mask``."""
    oy, ox = phase
    h, w = (mask.shape[0] - oy) // 8 * 8, (mask.shape[1] - ox) // 8 * 8
    return mask[oy:oy + h, ox:ox + w].reshape(h // 8, 8, w // 8, 8).any(axis=(1, 3))


def _first_block_rows(a: np.ndarray, phase: tuple[int, int]) -> np.ndarray:
    """The first 8-pixel block row of every four of ``a``, from ``phase`` on (the phase search's sample)."""
    oy, ox = phase
    band = a[oy:oy + (a.shape[0] - oy) // 32 * 32, ox:]
    return band.reshape(-1, 32, band.shape[1])[:, :8].reshape(-1, band.shape[1])


def find_lattice(x: np.ndarray, lo: float, hi: float,
                 exclude: np.ndarray | None = None) -> tuple[Lattice, np.ndarray, np.ndarray] | None:
    """The best-supported lattice over the candidate phases, with its coefficients and usable-block mask
    (``exclude``: pixels whose blocks are not usable, see :func:`usable_blocks`).

    Phases are compared on every fourth row of blocks and the low frequencies only; the winner and the file's
    origin are then read in full, and the one with more frequencies on its lattice is kept.
    """
    ranked: list[tuple[tuple[int, float], tuple[int, int]]] = []
    # (0, 0) is where a decoded JPEG's own grid starts unless it was cropped since: always tried, since
    # content (text rows, panel borders) can make another offset look blockier. Session 9 asked a lattice found
    # there and not pointed to by the blockiness for 15 frequencies, after 5 development pictures with 11-12
    # (high-quality JPEGs, steps 3-6; a step of 2 never reaches _MIN_STRENGTH: rounding alone leaves it 0.66)
    # scored 0.12-1.0 untouched. The one at 1.0 was a red arrow (colour-clipped blocks are left out now:
    # usable_blocks' ``exclude``); the five score 0.12-0.82 since, as pictures whose blockiness did point to their
    # lattice do (up to 0.82), so the same 6 frequencies count at (0, 0) now (session 20)
    for phase in dict.fromkeys([*candidate_phases(x), (0, 0)]):
        sub = _first_block_rows(x, phase)
        usable = usable_blocks(sub, (0, 0), lo, hi, None if exclude is None else _first_block_rows(exclude, phase))
        if usable.sum() < 64:
            continue
        steps, strength = estimate_steps(block_dct(sub, (0, 0)), usable, max_blocks=800, max_order=4)
        ranked.append(((int((steps > 0).sum()), float(strength[steps > 0].sum())), phase))
    # read in full: the best-supported phase and the file's origin, the better of the two kept. The low frequencies
    # compared above can have steps of 2 (unreadable) and 3 (weakened by rounding) in a JPEG saved near quality
    # 90-97, so another phase can look better there while the origin, read in full, holds the larger steps above.
    best = None
    for phase in dict.fromkeys([max(ranked, key=lambda r: r[0])[1], (0, 0)] if ranked else []):
        usable = usable_blocks(x, phase, lo, hi, exclude)
        coeffs = block_dct(x, phase)
        steps, strength = estimate_steps(coeffs, usable)
        key = (int((steps > 0).sum()), float(strength[steps > 0].sum()))
        if key[0] >= _MIN_FREQS and (best is None or key > best[0]):
            best = (key, (Lattice(phase, steps, strength), coeffs, usable))
    return None if best is None else best[1]


def eight_bit_levels(x: np.ndarray) -> tuple[np.ndarray, float, str] | None:
    """``x`` as the 8-bit values it was made from, the top level, and a note when it had to be renumbered.

    Integer values in 0..255 are used as they are. An 8-bit picture stored with more bits (scaled, offset by a
    rescale intercept, inverted for MONOCHROME1) still holds at most 256 equally spaced levels: those are
    renumbered 0, 1, 2...; the AC lattice survives that, the DC term only when the offset was a multiple of 8.
    Anything else (CT, real 12-16-bit radiographs) has no 8-bit history: None.
    """
    if np.unique(x[::7, ::7]).size > 256:  # cheap rejection of genuinely high-bit-depth images
        return None
    if x.min() >= 0 and x.max() <= 255 and np.array_equal(x, np.rint(x)):
        return x, 255.0, ""
    levels = np.unique(x)  # the full sort only for the rare few-level image outside 0..255
    if levels.size > 256 or levels.size < 2:
        return None
    step = float(np.min(np.diff(levels)))
    k = (levels - levels[0]) / step
    if not np.allclose(k, np.rint(k), atol=1e-3) or k[-1] > 255:
        return None
    note = (f"{levels.size} grey levels every {step:g} from {levels[0]:g}: 8-bit content stored with more bits, "
            "read as its 8-bit levels")
    return np.rint((x - levels[0]) / step), float(np.rint(k[-1])), note


def picture_levels(image) -> tuple[np.ndarray, float, str] | str:  # noqa: ANN001 - radtrust.io.Image
    """:func:`eight_bit_levels` of a 2D picture of at least 64x64 pixels, once per image for every detector that
    reads them (inside :func:`shared_intermediates`); else why not: "small" or "levels"."""
    def compute() -> tuple[np.ndarray, float, str] | str:
        x = np.asarray(image.pixels, dtype=np.float64)
        if image.source_format != "dicom":
            x = np.rint(x)  # colour pictures arrive as ITU-R 601 luminance, which is JPEG's own Y channel
        if x.ndim != 2 or min(x.shape) < 64:
            return "small"
        return eight_bit_levels(x) or "levels"

    return reuse("eight-bit-levels", image.pixels, 0, compute)


def picture_lattice(image, *,  # noqa: ANN001 - radtrust.io.Image
                    judge_strength: bool = True) -> tuple[np.ndarray, str, Lattice, np.ndarray, np.ndarray]:
    """(8-bit levels, note, lattice, block DCT coefficients, usable blocks) of a picture's last JPEG compression,
    computed once per image for every detector that reads it (inside :func:`shared_intermediates`).

    Raises NotApplicable when the image has no 8-bit JPEG history to read, EvidenceLost when the lattice is too
    weak throughout to tell local changes from it (unless ``judge_strength`` is False: a caller that knows the
    table from the file itself).
    """
    def compute() -> tuple[np.ndarray, str, Lattice, np.ndarray, np.ndarray] | str:
        levels = picture_levels(image)
        if isinstance(levels, str):
            return levels
        x, top, note = levels
        clipped = image.colour_clipped
        found = find_lattice(x, 0.0, top, clipped if clipped is not None and clipped.shape == x.shape else None)
        if found is None:
            return "none"
        return (x, note, *found)

    result = reuse("jpeg-lattice", image.pixels, 0, compute)
    if isinstance(result, str):
        raise NotApplicable({
            "small": "needs a 2D image of at least 64x64 pixels",
            "levels": "more than 256 grey levels: not an 8-bit picture, no JPEG history to check",
            "none": "no JPEG compression lattice found (never JPEG-compressed, or resized since)"}[result])
    lattice = result[2]
    if judge_strength and lattice.deficit > _MAX_DEFICIT:
        raise EvidenceLost(
            f"the JPEG lattice is weak throughout (median strength {lattice.deficit:.2f} below what pixel "
            "rounding leaves): the picture was resized, filtered, re-quantised or recompressed as a whole since "
            "its last JPEG compression, so local edits cannot be told from it")
    return result


def block_distance(coeffs: np.ndarray, lattice: Lattice) -> np.ndarray:
    """(...) mean lattice distance over the frequencies with a clear lattice, minus its untouched level, of
    coefficients shaped (..., 8, 8).

    A frequency whose own strength falls more than ``_MAX_FREQ_DEFICIT`` below what pixel rounding leaves is left
    out while ``_MIN_FREQS`` others remain: its lattice is half gone everywhere, and its distance varies with content
    (a DC lattice of step 3 at strength 0.70 read the bright flat areas of a cropped figure as edited, 0.996).
    """
    sel = lattice.steps > 0
    weak = sel & (lattice.rounding_strength() - lattice.strength > _MAX_FREQ_DEFICIT)
    if (sel & ~weak).sum() >= _MIN_FREQS:
        sel &= ~weak
    q = lattice.steps[sel]
    c = coeffs[..., sel]
    expected = (1.0 - lattice.strength[sel]) / 2.0  # what an untouched block shows at each frequency
    t = c * (2 * np.pi)  # ((1 - cos(2 pi c / q)) / 2 - expected), in place: the same operations in the same order
    t /= q
    np.cos(t, out=t)
    np.subtract(1.0, t, out=t)
    t /= 2.0
    t -= expected
    return t.mean(axis=-1)


def grey_levels(x: np.ndarray) -> np.ndarray:
    """Pixels per grey level 0-255 of an 8-bit picture (rounded, clipped), once per array within a scan. Clipped
    before the cast to 8 bits, not after one to 64 (25 -> 16 ms on a 2k picture); the same counts for any value a
    picture holds (a value beyond 64-bit integers, which the old cast wrapped to level 0, now counts at 255)."""
    def compute() -> np.ndarray:
        a = np.asarray(x)
        if a.dtype.kind in "iu":
            v = np.clip(a, 0, 255).astype(np.uint8)
        else:
            v = np.rint(a)
            np.clip(v, 0, 255, out=v)
            v = v.astype(np.uint8)
        return np.bincount(v.ravel(), minlength=256)
    return reuse("grey-levels", x, 0, compute)


def tone_curve_since_compression(x: np.ndarray, levels: np.ndarray | None = None) -> str | None:
    """Why the picture's grey levels say a tone curve was applied to it after its last JPEG compression, or None.

    Decoding a JPEG fills every grey level of the range a picture uses; a curve applied afterwards (gamma, levels,
    brightness and contrast for print) with a slope above 1 anywhere leaves levels empty between used ones. It
    also scales each block's coefficients by the curve's slope at the block's grey level, so the lattice survives
    at some grey levels and not at others, which reads as local edits: 7 of 40 development pictures given a
    gamma of 0.8 or 1.25 or a levels stretch and saved as PNG scored 0.94-1.0 (session 15,
    ``scripts/benign_processing_check.py``). Such a picture is not judged. An empty level counts when both its
    neighbours hold at least 50 pixels (a smooth histogram leaves none empty there by chance). Measured: 118 of
    those 120 tone-curved pictures show 2 or more; 3 of the 160 development pictures as published (figures whose
    histograms are combed already), and no benchmark picture, edited or not.
    """
    levels = grey_levels(x) if levels is None else levels  # ``levels``: grey_levels(x), when the caller has it
    v = np.arange(1, 255)
    empty = v[(levels[v] == 0) & (levels[v - 1] >= _GAP_NEIGHBOURS) & (levels[v + 1] >= _GAP_NEIGHBOURS)]
    if len(empty) < _MIN_GAPS:
        return None
    shown = ", ".join(str(int(g)) for g in empty[:6]) + (", ..." if len(empty) > 6 else "")
    return (f"{len(empty)} grey levels are empty between used ones ({shown}): a tone curve was applied to the "
            "whole picture after its last JPEG compression, which moves the lattice unevenly by grey level")


class JpegGridDetector(Detector):
    name = "jpeg-grid"
    version = "1"
    scope = Scope(dims=frozenset({2}))

    def __init__(self, neighbourhood: int = 3) -> None:
        self.neighbourhood = neighbourhood

    def run(self, image) -> Finding:  # noqa: ANN001 - radtrust.io.Image
        if image.source_format == "jpeg":
            raise NotApplicable("a JPEG file: edits would have been compressed with it (no lattice to leave)")
        wavelet = None  # stored as irreversible JPEG 2000: no lattice of its own, only added rounding
        if reason := stored_lossy(image):  # an 8-bit picture that an archive compressed after any edit
            if eight_bit_levels(np.asarray(image.pixels)) is not None:
                if not wavelet_coded(image):
                    raise EvidenceLost(f"{reason}: the lattice left is that compression's, or none at all")
                wavelet = reason
        x, note, lattice, coeffs, usable = picture_lattice(image, judge_strength=wavelet is None)
        if wavelet and lattice.noise_variance > _WAVELET_MAX_NOISE:
            raise EvidenceLost(f"{wavelet}: the JPEG lattice under it carries noise of variance "
                               f"{lattice.noise_variance:.2f} (pixel rounding alone leaves 0.08): that codec took "
                               "more than its rounding, so local edits cannot be told from it")
        # levels used as stored (no note of renumbering): the stored pixels' counts, which patch-fill reads too
        if reason := tone_curve_since_compression(x, None if note else grey_levels(image.pixels)):
            raise EvidenceLost(reason)
        dist = np.full(usable.shape, np.nan)
        dist[usable] = block_distance(coeffs[usable], lattice)  # the usable blocks only: the cosines are the cost
        finding = self._finding(x.shape, dist, lattice, _WAVELET_CENTER if wavelet else None)
        notes = [note] if note else []
        if wavelet:
            notes.append(f"{wavelet}: the lattice was read through that codec's rounding (noise variance "
                         f"{lattice.noise_variance:.2f} on it) and a block is judged against a higher bar "
                         f"({_WAVELET_CENTER:.2f} above the picture's own level)")
        clipped = image.colour_clipped
        n = int(blocks_holding(clipped, lattice.phase).sum()) if clipped is not None and clipped.shape == x.shape else 0
        if n:
            notes.append(f"{n} block{'s' if n > 1 else ''} where a colour channel was clipped (coloured markings, "
                         "labels) not judged: the luminance there is off the lattice untouched, so an edit there "
                         "would not show")
        if notes:
            finding = Finding(finding.score, finding.heatmap, (*finding.evidence, *notes))
        return finding

    def _finding(self, shape: tuple[int, int], dist: np.ndarray, lattice: Lattice,
                 center: float | None = None) -> Finding:
        k = self.neighbourhood
        valid = np.isfinite(dist)
        filled = np.where(valid, dist, 0.0)
        count = ndimage.uniform_filter(valid.astype(float), k, mode="constant")
        mean = ndimage.uniform_filter(filled, k, mode="constant") / np.maximum(count, 1e-9)
        local = np.where(count > 0.5, mean, np.nan)
        excess = local - float(np.nanmedian(dist))  # the image's own untouched level is the reference
        peak = float(np.nanmax(excess)) if np.isfinite(excess).any() else 0.0
        if center is None:
            center = _CENTER + _DEFICIT_SLOPE * max(0.0, lattice.deficit - _DEFICIT_FREE)
        score = float(logistic(peak, center, _WIDTH))
        heat = np.zeros(shape, np.float32)
        oy, ox = lattice.phase
        small = np.nan_to_num(np.clip(excess / _FULL, 0.0, 1.0)).astype(np.float32)  # the map's type, then painted
        up = np.repeat(np.repeat(small, 8, 0), 8, 1)
        heat[oy:oy + up.shape[0], ox:ox + up.shape[1]] = up
        first = ", ".join(str(int(q)) for q in (lattice.steps[0, 0], lattice.steps[0, 1], lattice.steps[1, 0]))
        ev = [f"JPEG lattice of the last compression found at grid phase {lattice.phase} over "
              f"{lattice.frequencies} frequencies (steps {first}...)"]
        if peak >= center:
            iy, ix = np.unravel_index(np.nanargmax(excess), excess.shape)
            ev.insert(0, f"blocks around row {oy + 8 * iy + 4}, column {ox + 8 * ix + 4} left the picture's JPEG "
                         f"lattice (mean distance {peak:.2f} above the image's own level; 0.5 is no lattice at all): "
                         "edited after the last JPEG compression")
        return Finding(score=score, heatmap=heat, evidence=tuple(ev))
