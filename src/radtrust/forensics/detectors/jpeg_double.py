"""Double JPEG compression: regions that missed the picture's earlier JPEG compression.

A picture edited and saved as JPEG again (what every image editor does with a JPEG) carries two
compressions. Where it was left untouched, each DCT coefficient was quantised with the first table's step
q1, decoded, and quantised again with the last table's step q2, so the last quantisation indices
k = round(c / q2) can only take the values round(m q1 / q2) for integer m: with q1 = 8 and q2 = 5, for instance,
never 1, 4 or 6 (periodic gaps in each frequency's histogram). Content made or moved by the editor (a pasted
or generated lesion, an in-painted or blurred patch, a copy shifted off the 8x8 grid) was compressed once,
with q2 only, and puts indices into those gaps. After Lin et al., "Fast, automatic and fine-grained tampered
JPEG image detection via DCT coefficient analysis" (Pattern Recognit. 42, 2009) and Bianchi & Piva,
"Image forgery localization via block-grained analysis of JPEG artifacts" (IEEE TIFS 7, 2012).

Steps: the last compression's grid and steps q2 are read from the pixels as :mod:`jpeg_grid` reads them
(shared, computed once per image); per AC frequency with a step, the histogram of k is compared with the
values each candidate q1 allows (k within +-0.6 of a first-stage coefficient's requantised value, which
absorbs pixel rounding); the q1 kept is the one whose forbidden values the histogram avoids most, and the
frequency counts only when they would hold at least 50 coefficients in a once-compressed histogram (at each
forbidden value, the geometric mean of the nearest allowed values' counts) but hold under a quarter of that.
The last table is the file's own when the pixels were decoded from a JPEG (a JPEG file, or DICOM stored as JPEG
baseline or extended): exact, at every frequency, including the steps of 2 that cannot be read off the pixels.
Per block, every non-zero index of those frequencies adds the log-likelihood ratio of "compressed once" (it lands
on a forbidden value at the rate a once-compressed histogram would) against "compressed twice" (the rate the
picture itself shows, at least 0.5%), less the median of its band of grey levels where that is positive (a tone
curve applied between the compressions fills the gaps of whole bands: :func:`tone_curve_offset`). The score is a
logistic transform of the largest sum over 6x6 blocks (48 pixels); the heatmap is that sum where it is positive.

Not judged: pictures with no JPEG history, whose last compression was not stronger than the first at any
frequency (q1 <= q2 leaves no gaps), or whose lattice is weak throughout (see :mod:`jpeg_grid`). Blind, by
construction, to a copy moved by whole 8x8 blocks (it keeps its double compression) and to content without
fine detail (every index 0).
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import ndimage

from radtrust.errors import NotApplicable
from radtrust.forensics.detectors.base import Detector, Finding, Scope
from radtrust.forensics.detectors.jpeg_grid import picture_lattice
from radtrust.forensics.residuals import logistic
from radtrust.io.lossy import JPEG_DCT_SYNTAXES, first_frame

_K = 255                 # largest |index| read; beyond it the histogram is too sparse to matter
_MAX_Q1 = 64             # first-stage steps tried
_SLACK = 0.6             # first-stage coefficients move this much (in units of 1) before requantisation
_MIN_EXPECTED = 50.0     # coefficients a once-compressed histogram would put on the forbidden values
_MAX_KEPT = 0.25         # ... of which at most this share may be there for a double compression
_MIN_RATE = 0.005        # floor of the double-compression rate (clipping and rounding put a few there)
_WINDOW = 6              # blocks per side of the neighbourhood summed
# score link on the peak window sum (nats): the 225 judged authentic development pictures re-saved at quality
# 75-95 peak at sums of 70 or less (score 0.12; scripts/jpeg_double_check.py); a sum of 175 scores 0.9
_CENTER, _WIDTH = 120.0, 25.0
_FULL = 400.0            # window sum shown as 1.0 on the heatmap
_BAND = 16               # grey levels per band of a tone curve's offset (tone_curve_offset)
_MIN_BAND_BLOCKS = _WINDOW * _WINDOW  # blocks a band needs before its median counts


@lru_cache(maxsize=256)
def allowed_indices(q2: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each first-stage step q1 = 2.._MAX_Q1 (rows) over k = -_K.._K (columns): which last-stage indices a
    q1-then-q2 double quantisation can produce, and for each index the nearest allowed index below and above
    it (read-only arrays: allowed, left, right)."""
    n = 2 * _K + 1
    ok = np.zeros((_MAX_Q1 - 1, n), bool)
    for row, q1 in enumerate(range(2, _MAX_Q1 + 1)):
        m = np.arange(-(_K * q2) // q1 - 2, (_K * q2) // q1 + 3)
        for d in (-_SLACK, 0.0, _SLACK):
            k = np.rint((m * q1 + d) / q2).astype(int)
            ok[row, k[np.abs(k) <= _K] + _K] = True
    idx = np.broadcast_to(np.arange(n), ok.shape)
    left = np.maximum.accumulate(np.where(ok, idx, 0), axis=1)
    right = np.minimum.accumulate(np.where(ok, idx, n - 1)[:, ::-1], axis=1)[:, ::-1]
    for a in (ok, left, right):
        a.setflags(write=False)
    return ok, left, right


def first_step(hist: np.ndarray, q2: int) -> tuple[int, np.ndarray, float, float] | None:
    """(q1, allowed mask, once-compressed rate, double-compressed rate) for one frequency's index histogram
    (k = -_K.._K), or None when no q1 leaves clear gaps.

    What a once-compressed histogram would hold at a forbidden index is the geometric mean of the counts at the
    nearest allowed indices on either side (histograms of DCT indices are smooth and log-concave away from 0):
    a gap counts only where both sides are populated, never where the histogram has simply ended.
    """
    hist = hist.astype(float)
    hist[_K] = 0.0  # zero is always allowed and carries nothing
    total = hist.sum()
    if total < _MIN_EXPECTED:
        return None
    ok, left, right = allowed_indices(q2)
    forbidden = ~ok
    if 2 <= q2 <= _MAX_Q1:
        forbidden = forbidden.copy()
        forbidden[q2 - 2] = False  # q1 = q2 leaves no trace
    expected = (np.sqrt(hist[left] * hist[right]) * forbidden).sum(axis=1)
    kept = forbidden @ hist
    row = int(np.argmax(expected - kept))
    if expected[row] < _MIN_EXPECTED or kept[row] > _MAX_KEPT * expected[row]:
        return None
    return row + 2, ~forbidden[row], min(0.9, expected[row] / total), max(kept[row] / total, _MIN_RATE)


def block_llr(coeffs: np.ndarray, usable: np.ndarray,
              steps: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Per block, the log-likelihood ratio of once- against twice-compressed content (0 on unusable blocks), and
    the frequencies used as (u, v, q2, q1)."""
    llr = np.zeros(int(usable.sum()))  # the usable blocks only, gathered one frequency at a time (no copy of all)
    used = []
    for u in range(8):
        for v in range(8):
            q2 = int(steps[u, v])
            if q2 <= 0 or (u, v) == (0, 0):
                continue
            k = np.rint(coeffs[..., u, v][usable] * (1.0 / q2)).astype(np.int32)
            np.clip(k, -_K - 1, _K + 1, out=k)  # beyond +-_K: not read (index 0 and 2 _K + 2 of the shifted table)
            k += _K + 1
            fit = first_step(np.bincount(k, minlength=2 * _K + 3)[1:-1], q2)
            if fit is None:
                continue
            q1, ok, once, twice = fit
            # per shifted index: 0 not counted (zero, out of range), else the log-likelihood ratio of its kind
            table = np.where(ok, np.log((1.0 - once) / (1.0 - twice)), np.log(once / twice))
            table = np.concatenate([[0.0], table, [0.0]])
            table[_K + 1] = 0.0
            llr += table[k]
            used.append((u, v, q2, q1))
    out = np.zeros(usable.shape)
    out[usable] = llr
    return out, used


def tone_curve_offset(x: np.ndarray, llr: np.ndarray, usable: np.ndarray, phase: tuple[int, int]) -> np.ndarray:
    """Per block, the positive median log-likelihood ratio of its band of grey levels (0 elsewhere).

    A tone curve applied between the two compressions (gamma, levels: what a teaching file gets before it is saved
    again) scales each block's coefficients by its slope at the block's grey level, so the first compression's gaps
    fill up in whole bands of grey levels (the dark ones for a gamma under 1): most of such a band's blocks then
    read as compressed once, wherever they lie. An edit is a minority of its band, whose median stays negative.
    """
    oy, ox = phase
    h, w = usable.shape
    mean = x[oy:oy + 8 * h, ox:ox + 8 * w].reshape(h, 8, w, 8).mean(axis=(1, 3))
    band = np.clip(mean // _BAND, 0, 255 // _BAND).astype(int)
    offset = np.zeros(usable.shape)
    for b in np.unique(band[usable]):
        sel = usable & (band == b)
        if sel.sum() >= _MIN_BAND_BLOCKS:
            offset[sel] = max(0.0, float(np.median(llr[sel])))
    return offset


def last_table(image) -> np.ndarray | None:  # noqa: ANN001 - radtrust.io.Image
    """The luminance quantisation table (8 x 8, natural order) of the JPEG the pixels were decoded from: a JPEG
    file, or DICOM pixel data stored as JPEG baseline/extended. None otherwise or when unreadable."""
    from PIL import Image as PILImage

    source: Any = None
    if image.source_format == "jpeg" and image.path is not None:
        source = image.path
    elif image.transfer_syntax in JPEG_DCT_SYNTAXES and image.dataset is not None:
        frame = first_frame(image.dataset)
        source = io.BytesIO(frame) if frame is not None else None
    if source is None:
        return None
    try:
        with PILImage.open(source) as im:
            tables = getattr(im, "quantization", None)
    except (OSError, ValueError):
        return None
    if not tables or 0 not in tables or len(tables[0]) != 64:
        return None
    return np.asarray(tables[0], dtype=float).reshape(8, 8)


class DoubleJpegDetector(Detector):
    name = "jpeg-double"
    version = "1"
    scope = Scope(dims=frozenset({2}))

    def run(self, image) -> Finding:  # noqa: ANN001 - radtrust.io.Image
        table = last_table(image)  # the file's own table: exact, at every frequency
        x, note, lattice, coeffs, usable = picture_lattice(image, judge_strength=table is None)
        if table is not None and lattice.phase != (0, 0):  # a decoded file's grid starts at its corner: this
            table = None  # lattice is not the file's, so it is judged like any other (cached: not recomputed)
            x, note, lattice, coeffs, usable = picture_lattice(image)
        steps = table if table is not None else lattice.steps
        llr, used = block_llr(coeffs, usable, steps)
        if not used:
            raise NotApplicable("no frequency shows a first, stronger JPEG compression under the last one "
                                "(compressed once, or the last compression was the stronger)")
        llr -= tone_curve_offset(x, llr, usable, lattice.phase)
        window = ndimage.uniform_filter(llr, _WINDOW, mode="constant") * float(_WINDOW * _WINDOW)
        peak = float(window.max())
        score = logistic(peak, _CENTER, _WIDTH)
        heat = np.zeros(x.shape, np.float32)
        oy, ox = lattice.phase
        small = np.clip(window / _FULL, 0.0, 1.0).astype(np.float32)
        up = np.repeat(np.repeat(small, 8, 0), 8, 1)
        heat[oy:oy + up.shape[0], ox:ox + up.shape[1]] = up
        shown = ", ".join(f"({u},{v}) {q1}->{q2}" for u, v, q2, q1 in used[:3])
        evidence = [f"compressed twice as JPEG: {len(used)} frequencies keep the first compression's gaps "
                    f"(first -> last step: {shown}...)"]
        if score >= 0.5:
            iy, ix = np.unravel_index(int(np.argmax(window)), window.shape)
            evidence.insert(0, f"blocks around row {oy + 8 * iy + 4}, column {ox + 8 * ix + 4} were compressed only "
                               f"once (log-likelihood {peak:.0f} over {_WINDOW * 8} pixels): content added or moved "
                               "between the two JPEG compressions")
        if note:
            evidence.append(note)
        return Finding(score, heat, tuple(evidence))
