"""A CT image or series resampled in-plane as a whole: one periodic modulation of the finest noise in every row,
column and slice.

CT-GAN's public code (Mirsky et al., USENIX Security 2019; ymirsky/CT-GAN, ``utils/dicom_utils.scale_scan``) zooms
the *whole scan* to 1 mm isotropic voxels (``scipy.ndimage.zoom``, a cubic spline), pastes its generator's cube
there and zooms the whole scan back before writing every slice: every voxel has been interpolated, not only the
lesion's. That hides the lesion from the checks that judge a region against the rest of its own scan (noise-free's
tiers, spectral's local periodicity, noise-residual): of 78 nodule injections into chest CT stretches the scanner
without this detector flags 41 as made and 14 once each stretch is rescaled so; with it, 78
(``scripts/ct_gan_scan_check.py``, session 30, docs/verdict.md).

A scanner reconstructs each slice directly on its pixel grid. Re-gridding a stored image interpolates every output
pixel from the input grid with weights that repeat every 1 / f pixels (f the fractional part of the zoom factor,
folded into 0-0.5), so the finest noise is smoothed more at some phases than at others; and the same weights apply
to every row and every slice. Averaged over all of them, the energy of the second difference along the columns (and
along the rows) is a periodic profile whose spectrum holds a sharp line at f, the same along both axes (Popescu &
Farid, IEEE TSP 53(2), 2005, and Kirchner, ACM MM&Sec 2008, read globally rather than per block). Anatomy varies the
profile too, but not periodically and not alike along both axes.

Statistic: per axis, the mean |second difference| per column (row) over the voxels of -950 to 300 HU of every slice,
detrended by its running median over 15 px, Hann-windowed; its amplitude spectrum over frequencies from ``F_MIN``
(periods of 10 px or less: anatomy's slow variations lie below) in units of the spectrum's median. The line strength
is the largest value, over frequencies, of the smaller of the two axes' values there (+-1 bin). A lossy-coded image
skips its codec's own grid frequencies (JPEG's 8 px blocks, JPEG 2000's wavelet levels: multiples of 1/8), within
``SKIP_BAND``.
Measured (session 30, ``scripts/whole_resample_check.py``, 12 stretches of 16 slices): authentic CT of
``../shared/data`` and its benign processing (kernels, slabs, MIPs, denoising, dose, an offset) at most
``AUTHENTIC_MAX`` (5.5 as a series, 5.3 as one slice); zoomed to 1 mm and back as CT-GAN does, 13-28 at pixel spacings
of 0.49 and 0.70 mm (one slice alone 10-20), up to 84 with linear interpolation (in-plane).

Blind where the zoom factor is close to a whole number (a 0.98 mm grid taken to 1 mm: a period of 43 px, below
``F_MIN``, and so little interpolation that the lesion's own traces stay), and weak on smooth, low-noise images (the
Philips phantom at 0.45 mm: 4-9). Not judged: volumes read from NIfTI or MetaImage (no acquisition record; research
pipelines resample volumes routinely), reformats and localizers (``physics.reformatted``: their planes were
interpolated by design). A secondary capture is judged when its values are CT numbers (the reader then reads it
as CT): an editor can file an edited CT as one, and a screen capture's rendered values are not read as CT.

The heatmap (drawn when the line is found) is where the modulation is *missing*. CT-GAN's noise touch-up
(``attack_pipeline._touch_up_scan``) blends the original, un-rescaled scan back into a box of 64 voxels around each
edit, so the box keeps its own grid while the rest of the scan carries the line (:func:`missing_modulation`): each
voxel's |second difference| relative to its neighbourhood, demodulated at the line's frequency, summed in blocks of
``BLOCK`` px and averaged over ``WINDOW`` blocks in-plane and ``Z_WINDOW`` slices, projected on the whole image's
phasor; edges (|d| above ``EDGE`` times the plane's median) are left out. Measured (session 31,
``scripts/ct_gan_scan_check.py``, 44 chest-CT injections, removals and learned in-paintings written as CT-GAN writes
them): the fused heatmap's pixel AUC against the lesion's mask, median 0.994 (0.496 without this map). A scan rescaled
as a whole with nothing pasted back gives a map without such a region (what stands out there is the lesion's own
missing modulation: 0.954).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np
from scipy import ndimage

from radtrust.errors import NotApplicable
from radtrust.forensics.detectors.base import Detector, Finding, Scope, sharing_ct_slices
from radtrust.forensics.detectors.physics import reformatted
from radtrust.forensics.residuals import logistic
from radtrust.io.lossy import lossy_reason, near_lossless

F_MIN = 0.1                    # cycles per pixel: lines at longer periods are anatomy's
TISSUE = (-950.0, 300.0)       # HU judged: air outside the body and dense bone left out
MIN_LENGTH = 64                # pixels of profile needed along each axis
TREND = 15                     # pixels: the running median the profile is divided by
CODEC_PERIODS = (2, 4, 8, 8 / 3)  # a lossy codec's grid: JPEG's 8 px blocks and JPEG 2000's wavelet levels
# cycles per pixel either side of a codec's grid frequency left out: JPEG 2000 at 20:1 puts a line of 78-96 times
# the median at 0.5 on a chest slab, 18 still 0.01 from it, 6.5 at 0.02 (session 30)
SKIP_BAND = 0.03
AUTHENTIC_MAX = 5.5            # line strength: authentic and benignly processed CT stretches and slices, session 30
_CENTER, _WIDTH = 10.0, 1.5    # score link on the line strength (0.05 at AUTHENTIC_MAX)
FILE_FORMATS = ("nifti", "metaimage")
LOCAL_MEAN = 15                # px: the neighbourhood a voxel's |second difference| is taken relative to
BLOCK = 8                      # px: the demodulated profile is summed in blocks of BLOCK x BLOCK before averaging
WINDOW = 4                     # blocks in-plane (32 px): the local average of the modulation
EDGE = 6.0                     # |second difference| over the plane's median above which a voxel is an edge
Z_WINDOW = 15                  # slices: the local average along z (CT-GAN's touch-up box spans 64)


def _profile(planes: Iterable[np.ndarray], axis: int) -> np.ndarray | None:
    """Mean |second difference| along ``axis`` (1: along each row, i.e. per column; 0: along each column, per row)
    over the judged voxels of every plane, per position along that axis; None when too few positions hold them."""
    total = count = None
    for x in planes:
        x = np.asarray(x, dtype=np.float32)
        d = np.abs(np.diff(x, 2, axis=axis))
        inside = (x > TISSUE[0]) & (x < TISSUE[1])
        inside = inside[:, 1:-1] if axis == 1 else inside[1:-1]
        s = np.where(inside, d, 0.0).sum(axis=1 - axis, dtype=np.float64)
        n = inside.sum(axis=1 - axis)
        total, count = (s, n) if total is None else (total + s, count + n)
    if total is None:
        return None
    kept = np.flatnonzero(count > 0.2 * count.max()) if count.max() > 0 else np.array([], int)
    if kept.size < MIN_LENGTH:
        return None
    lo, hi = kept[0], kept[-1] + 1
    return total[lo:hi] / np.maximum(count[lo:hi], 1)


def _lines(profile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies from F_MIN to 0.5, the detrended profile's amplitude spectrum there in units of its median)."""
    p = profile / np.maximum(ndimage.median_filter(profile, TREND, mode="nearest"), 1e-9) - 1.0
    spec = np.abs(np.fft.rfft(p * np.hanning(p.size)))
    f = np.fft.rfftfreq(p.size)
    keep = f >= F_MIN
    return f[keep], spec[keep] / max(float(np.median(spec[keep])), 1e-12)


def line_strength(planes: list[np.ndarray], skip: tuple[float, ...] = ()) -> tuple[float, float | None]:
    """(strength, frequency) of the strongest line common to both in-plane axes of ``planes`` (HU, 2D each), away
    from the frequencies in ``skip``; (0, None) when a profile is too short to read."""
    px, py = _profile(planes, 1), _profile(planes, 0)
    if px is None or py is None:
        return 0.0, None
    fx, sx = _lines(px)
    fy, sy = _lines(py)
    if fx.size < 3 or fy.size < 3:
        return 0.0, None
    bin_ = max(fx[1] - fx[0], fy[1] - fy[0])
    # the y spectrum's largest value within one bin of each x frequency
    near = np.abs(fx[:, None] - fy[None, :]) <= 1.01 * bin_
    both = np.minimum(sx, np.where(near, sy[None, :], 0.0).max(axis=1))
    for s in skip:  # a codec's line is not one steady sinusoid (it comes and goes with the content): a band
        both[np.abs(fx - s) <= max(3.0 * bin_, SKIP_BAND)] = 0.0
    k = int(np.argmax(both))
    return float(both[k]), float(fx[k])


def _block_sum(a: np.ndarray) -> np.ndarray:
    """``a`` (2D) summed over blocks of BLOCK x BLOCK px (zero-padded at the far edges)."""
    h, w = a.shape
    a = np.pad(a, ((0, -h % BLOCK), (0, -w % BLOCK)))
    return a.reshape(a.shape[0] // BLOCK, BLOCK, a.shape[1] // BLOCK, BLOCK).sum(axis=(1, 3), dtype=np.float64)


def _demodulated(x: np.ndarray, axis: int, freq: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block of one plane: the sums of q cos and -q sin of the phase 2 pi freq times the position along ``axis``,
    q the judged voxels' |second difference| along ``axis`` over its local mean, less 1; and the judged voxels'
    count."""
    x = np.asarray(x, dtype=np.float32)
    d = np.zeros_like(x)
    inside = (x > TISSUE[0]) & (x < TISSUE[1])
    if axis == 1:
        d[:, 1:-1] = np.abs(np.diff(x, 2, axis=1))
        inside[:, [0, -1]] = False
    else:
        d[1:-1] = np.abs(np.diff(x, 2, axis=0))
        inside[[0, -1]] = False
    if inside.any():  # edges (|d| far above the plane's typical noise) and their surroundings are not judged
        edge = ndimage.uniform_filter((d > EDGE * np.median(d[inside])).astype(np.float32), 5) > 0
        inside &= ~edge
    t = inside.astype(np.float32)
    level = ndimage.uniform_filter(d * t, LOCAL_MEAN) / np.maximum(ndimage.uniform_filter(t, LOCAL_MEAN), 1e-3)
    q = np.where(inside, d / np.maximum(level, 1e-3) - 1.0, 0.0).astype(np.float32)
    phase = 2.0 * np.pi * freq * np.arange(x.shape[axis], dtype=np.float64)
    c, s = np.cos(phase).astype(np.float32), np.sin(phase).astype(np.float32)
    c, s = (c[None, :], s[None, :]) if axis == 1 else (c[:, None], s[:, None])
    return _block_sum(q * c), _block_sum(-q * s), _block_sum(t)


def missing_modulation(planes: list[np.ndarray], freq: float) -> np.ndarray:
    """Per voxel of ``planes`` (HU, 2D each, one shape), how far the line at ``freq`` (cycles per pixel) is missing
    locally: 1 - the local demodulated amplitude in units of the whole stack's, clipped to [0, 1]; 0 where too few
    voxels are judged. Both in-plane axes, averaged."""
    n = len(planes)
    h, w = np.asarray(planes[0]).shape
    local = []
    for axis in (1, 0):
        parts = [_demodulated(x, axis, freq) for x in planes]
        re, im, cnt = (np.stack([p[k] for p in parts]) for k in range(3))
        g = complex(re.sum(), im.sum()) / max(float(cnt.sum()), 1.0)
        if abs(g) == 0:
            return np.zeros((n, h, w), np.float32)
        size = (min(n, Z_WINDOW), WINDOW, WINDOW)
        lr, li, lc = (ndimage.uniform_filter(a, size, mode="nearest") for a in (re, im, cnt))
        amp = (lr * g.real + li * g.imag) / np.maximum(lc, 1e-9) / abs(g) ** 2
        amp[lc < 0.3 * BLOCK * BLOCK] = np.nan  # under 30% of the window's voxels judged
        local.append(amp)
    stack = np.stack(local)
    judged = ~np.isnan(stack)
    mean = np.where(judged, stack, 0.0).sum(axis=0) / np.maximum(judged.sum(axis=0), 1)
    heat = np.where(judged.any(axis=0), np.clip(1.0 - mean, 0.0, 1.0), 0.0).astype(np.float32)
    heat = np.repeat(np.repeat(heat, BLOCK, axis=1), BLOCK, axis=2)[:, :h, :w]
    return np.ascontiguousarray(heat)


def _codec_skip(image) -> tuple[float, ...]:  # noqa: ANN001 - radtrust.io.Image
    """A lossy codec's own grid frequencies, when the image was ever lossy-coded, mildly or not (any codec: the header
    may not say which)."""
    if lossy_reason(image) or near_lossless(image):
        return tuple(1.0 / p for p in CODEC_PERIODS)
    return ()


def _one_mm_period(spacing: float | None) -> float | None:
    """The line a grid of ``spacing`` mm zoomed to 1 mm and back leaves (cycles per pixel), or None."""
    if not spacing or spacing <= 0:
        return None
    frac = spacing % 1.0
    return min(frac, 1.0 - frac)


class WholeResampleDetector(Detector):
    """A CT image or series interpolated to another in-plane grid as a whole (see module docstring)."""

    name = "whole-resample"
    version = "1"
    scope = Scope(modalities=frozenset({"CT"}))

    def run(self, image) -> Finding:  # noqa: ANN001 - radtrust.io.Image
        self._check(image)
        pixels = np.asarray(image.pixels)
        planes = list(pixels) if pixels.ndim == 3 else [pixels]
        found = self._finding(planes, image, "image")
        if found.heatmap is not None and pixels.ndim == 2:
            found = replace(found, heatmap=found.heatmap[0])
        return found

    def run_series(self, series) -> Finding:  # noqa: ANN001 - radtrust.io.Series
        if not series.is_volume():
            raise NotApplicable("whole-resample needs a stackable series")
        for im in series.instances:
            self._check(im)
        found = self._finding([np.asarray(im.pixels) for im in series.instances], series.instances[0], "series")
        # every slice carries the finding in full, not in proportion to its map's peak
        return sharing_ct_slices(replace(found, shares=(1.0,) * len(series)), series)

    @staticmethod
    def _check(image) -> None:  # noqa: ANN001
        if image.source_format in FILE_FORMATS:
            raise NotApplicable(f"a {image.source_format} volume carries no acquisition record, and research "
                                "pipelines resample volumes routinely")
        if reason := reformatted(image):
            raise NotApplicable(f"{reason}: its plane was interpolated by design")

    def _finding(self, planes: list[np.ndarray], first, what: str) -> Finding:  # noqa: ANN001 - radtrust.io.Image
        skip = _codec_skip(first)
        strength, freq = line_strength(planes, skip)
        if freq is None:
            raise NotApplicable(f"too few voxels of {TISSUE[0]:g} to {TISSUE[1]:g} HU across the {what} to read "
                                "a profile")
        score = logistic(strength, _CENTER, _WIDTH)
        spacing = first.geometry.pixel_spacing[1] if first.geometry.pixel_spacing else None
        if score >= 0.5:
            text = (f"every row and column of the {what} carries the same periodic modulation of its finest noise "
                    f"(a line at {freq:.3f} cycles per pixel, a period of {1 / freq:.1f} px, {strength:.1f} times "
                    "the spectrum's median along both axes): the whole "
                    f"{what} was resampled in-plane, every pixel interpolated from another grid, where a scanner "
                    "reconstructs each slice on its own")
            one_mm = _one_mm_period(spacing)
            if one_mm is not None and abs(one_mm - freq) <= 0.01:
                text += (f"; zooming its {spacing:.3f} mm grid to 1 mm and back, as CT-GAN's code does to the "
                         "whole scan, leaves this period")
            text += ("; the heatmap marks where it is missing, pixels not resampled with the rest (CT-GAN blends "
                     "the original scan back into a box around its edit)")
        else:
            text = (f"no periodic modulation common to every row and column (the strongest line, at {freq:.3f} "
                    f"cycles per pixel, {strength:.1f} times the spectrum's median): not resampled as a whole")
        evidence = [text]
        if skip:
            evidence.append("lossy-coded: its codec's own grid periods (2, 2.7, 4 and 8 px) were not judged")
        heat = missing_modulation(planes, freq) if score >= 0.5 else None
        return Finding(score, heat, tuple(evidence))
