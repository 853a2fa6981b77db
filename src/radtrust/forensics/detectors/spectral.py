"""Spectral / frequency traces: periodic resampling correlations, up-sampling peaks and residual spectral decay.

- Resampling: Popescu & Farid, "Exposing digital forgeries by detecting traces of resampling" (IEEE TSP 53(2),
  2005), in the fast fixed-predictor form of Kirchner, "Fast and reliable resampling detection by spectral
  analysis of fixed linear predictor residue" (ACM MM&Sec 2008). Interpolation makes some samples linear
  combinations of their neighbours, periodically; the probability map p = exp(-e^2 / 2 s^2) of the linear
  predictor error e is then periodic and its spectrum has peaks. Up-sampling layers of GAN / diffusion
  decoders leave the same kind of peaks (period 2 checkerboards; Durall 2020, Corvi 2023).
- Spectral decay: the azimuthal power spectrum of the noise residual (Durall et al. 2020; Dzanic et al. 2020):
  the ratio of its high-frequency to mid-frequency power. Interpolated or generated content decays faster
  than acquisition noise does.
- In 3D (a CT series), the same idea along z: CT-GAN resamples a cube to isotropic spacing and back, so its
  slices become interpolations of their neighbours. The ratio of the through-plane residual
  v[k] - (v[k-1] + v[k+1]) / 2 to the in-plane residual drops in such a cube.

Noise model assumed: authentic acquisition noise is stationary and not periodic at the pixel scale, so
p-map spectra of an authentic image share one shape everywhere. Every local spectrum is divided by the
per-frequency median over all blocks of the same image: image-wide periodicities (JPEG 8x8 blocking, a
radiograph's anti-scatter grid, a scanner's own interpolation) cancel, only local ones remain. Scores are
logistic transforms of robust regional z-statistics, calibrated on authentic development images.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft
from scipy import ndimage

from radtrust.errors import NotApplicable
from radtrust.forensics.detectors.base import Detector, Finding, Scope, sharing_ct_slices
from radtrust.forensics.residuals import (
    block_sum,
    frames,
    highpass,
    image_class,
    logistic,
    median_last,
    repeat_blocks,
    robust_scale,
    valid_mask,
)
from radtrust.io.lossy import codec_grid, near_lossless, stored_lossy

MIN_ERROR = 0.5  # stored steps: a tile's predictor error scale below which its p-map is rounding, not noise


def predictor_error(x: np.ndarray) -> np.ndarray:
    """Kirchner's fixed linear predictor error e = x - (weighted mean of the 8 neighbours).

    With his predictor ``[[-1/4, 1/2, -1/4], [1/2, 0, 1/2], [-1/4, 1/2, -1/4]]`` the error is exactly 1.5x the
    Immerkær residual, so the shared separable high-pass computes it.
    """
    return 1.5 * highpass(x)


def tiles(x: np.ndarray, block: int) -> np.ndarray:
    """Non-overlapping block x block tiles as (ny, nx, block, block)."""
    ny, nx = x.shape[0] // block, x.shape[1] // block
    return x[: ny * block, : nx * block].reshape(ny, block, nx, block).swapaxes(1, 2)


def local_periodicity(x: np.ndarray, block: int, skip_grid: bool = False
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per tile: log of the strongest p-map spectral peak relative to the image's typical spectrum.

    The p-map exp(-e^2 / 2 s^2) uses each tile's own robust error scale s, so smooth and noisy tiles are
    judged alike. Only frequencies of 0.12 cycles/px and above are searched (periods up to ~8 px: the
    interpolation periods of realistic rescaling factors), which keeps text and anatomy out. With ``skip_grid``
    (pixels stored by JPEG or lossy JPEG 2000, :func:`radtrust.io.lossy.codec_grid`) the periods of the codec's
    8-pixel grid (8, 4, 2.67 and 2 px along rows or columns, whatever the other axis holds) are not searched: the
    codec leaves them where it quantised the detail away, and not elsewhere, its block edges along one axis
    modulated by the content along the other.
    Returns (stat (ny, nx), peak frequency (ny, nx, 2) in cycles/px, validity (ny, nx)).
    """
    e = tiles(predictor_error(x), block)
    ny, nx = e.shape[:2]
    e = e.reshape(ny * nx, block, block)
    s = 1.2533 * np.abs(e).mean(axis=(1, 2)) + 1e-6  # sigma from the mean absolute error
    p = e / s[:, None, None]  # exp(-0.5 (e / s)^2), in place: the same operations
    np.square(p, out=p)
    p *= -0.5
    np.exp(p, out=p)
    # tiles with over 90% of their pixels valid (whole counts, each over the tile's size as the mean divides them)
    ok = block_sum(valid_mask(x, margin=2).view(np.uint8), block).ravel() / float(block * block) > 0.9
    # below half a stored step of predictor error the p-map reads the rounding of smooth content, whose pattern
    # is periodic wherever the whole picture was interpolated (dark corners of an up-sampled picture): not judged
    ok &= s >= MIN_ERROR
    p -= p.mean(axis=(1, 2), keepdims=True)
    logspec = np.abs(sfft.rfft2(p, workers=1))
    logspec += 1e-6
    np.log(logspec, out=logspec)
    ref = logspec[ok].mean(axis=0) if ok.sum() >= 8 else logspec.mean(axis=0)
    ratio = logspec - ref  # log of each tile's spectrum over the image's geometric-mean spectrum
    fy = np.fft.fftfreq(block)[:, None]
    fx = np.fft.rfftfreq(block)[None, :]
    searched = np.hypot(fy, fx) >= 0.12
    if skip_grid:
        searched &= ~(_on_grid(fy) | _on_grid(fx))
    ratio[:, ~searched] = -np.inf
    flat = ratio.reshape(len(ratio), -1)
    k = np.argmax(flat, axis=1)
    kept = np.take(flat, np.flatnonzero(searched), axis=1)  # C order: rows partition ~6x faster than strided
    if np.isfinite(kept).all():  # finite pixels: the nanmedian below, without its slow per-row loop
        typical = median_last(kept)
    else:
        typical = np.nanmedian(np.where(np.isfinite(flat), flat, np.nan), axis=1)
    peak = flat[np.arange(len(flat)), k] - typical
    iy, ix = np.unravel_index(k, ratio.shape[1:])
    freq = np.stack([np.fft.fftfreq(block)[iy], np.fft.rfftfreq(block)[ix]], axis=1)
    return peak.reshape(ny, nx), freq.reshape(ny, nx, 2), ok.reshape(ny, nx)


def spectral_decay(x: np.ndarray, block: int) -> np.ndarray:
    """Per tile: log(high- / mid-frequency power) of the noise residual's azimuthal power spectrum.

    The residual is clipped at 3 sigma per tile first, so an edge crossing the tile does not pass
    for low-frequency noise.
    """
    t = tiles(highpass(x), block)
    ny, nx = t.shape[:2]
    t = t.reshape(ny * nx, block, block)
    s = 1.2533 * np.abs(t).mean(axis=(1, 2))[:, None, None] + 1e-6
    t = np.clip(t, -3 * s, 3 * s)
    power = np.abs(sfft.rfft2(t, workers=1))
    np.square(power, out=power)
    f = np.hypot(np.fft.fftfreq(block)[:, None], np.fft.rfftfreq(block)[None, :])
    high = power[:, f >= 0.35].mean(axis=1)
    mid = power[:, (f >= 0.1) & (f < 0.35)].mean(axis=1)
    return np.log((high + 1e-9) / (mid + 1e-9)).reshape(ny, nx)


def z_smoothness(vol: np.ndarray, block: int) -> np.ndarray:
    """(slices, nby, nbx) log ratio of through-plane to in-plane residual level (NaN on the end slices)."""
    v = vol.astype(np.float32)
    ez = np.abs(v[1:-1] - 0.5 * (v[:-2] + v[2:]))
    out = np.full((v.shape[0], v.shape[1] // block, v.shape[2] // block), np.nan, np.float32)
    for k in range(1, v.shape[0] - 1):
        exy = np.abs(highpass(v[k]))
        ok = valid_mask(v[k]).astype(np.float32)
        ny, nx = out.shape[1:]
        a = (ez[k - 1] * ok)[: ny * block, : nx * block].reshape(ny, block, nx, block).sum(axis=(1, 3))
        b = (exy * ok)[: ny * block, : nx * block].reshape(ny, block, nx, block).sum(axis=(1, 3))
        n = ok[: ny * block, : nx * block].reshape(ny, block, nx, block).sum(axis=(1, 3))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.log((a + 1e-6) / (b + 1e-6))
        ratio[n < 0.8 * block * block] = np.nan
        out[k] = ratio
    return out


class SpectralDetector(Detector):
    """Resampling periodicity, up-sampling peaks and spectral decay of the noise residual (module docstring)."""

    name = "spectral"
    version = "1"
    scope = Scope()

    #: logistic links per image class on the strongest regional robust z. Authentic CT reaches z ~6.3 where
    #: real periodic structures sit (the Philips phantom's holder, tables); see scripts/pixel_forensics_check.py.
    links = {"ct": (7.0, 0.6), "radiograph": (7.0, 0.6), "picture": (9.0, 1.0)}

    def run(self, image) -> Finding:  # noqa: ANN001 - Image
        klass = image_class(image.modality, image.source_format, image.bits_stored)
        return self._analyse(np.asarray(image.pixels, dtype=np.float32), klass, codec=codec_grid(image))

    def run_series(self, series) -> Finding:  # noqa: ANN001 - Series
        if not series.is_volume():
            raise NotApplicable("spectral needs a stackable series for 3D analysis")
        klass = image_class(series.modality, "dicom", series.instances[0].bits_stored)
        # in CT its 3D pass answers for the slices (base.sharing_ct_slices): it reads every slice's plane too
        codec = next((c for c in map(codec_grid, series.instances) if c), None)
        # a lossy codec removes each slice's in-plane noise unevenly, so the through-plane residual's ratio to it
        # says nothing of z: an authentic Siemens series stored as 12-bit JPEG at quality 90 read as interpolated
        # along z (robust z 11.0, 0.995); JPEG 2000 mild enough to leave the noise (near_lossless) is judged
        lossy = next((r for im in series.instances if (r := stored_lossy(im)) and not near_lossless(im)), None)
        return sharing_ct_slices(self._analyse(series.volume().astype(np.float32), klass, along_z=len(series) >= 5,
                                               codec=codec, z_not_judged=lossy), series)

    def _analyse(self, pixels: np.ndarray, klass: str, *, along_z: bool = False, codec: str | None = None,
                 z_not_judged: str | None = None) -> Finding:
        planes = list(frames(pixels))
        shape2 = planes[0].shape
        block = 32 if max(shape2) <= 1200 else 64
        step = block
        if min(shape2) < 4 * block:
            raise NotApplicable(f"spectral needs at least {4 * block} px per side, got {shape2}")
        per, dec, freqs, oks = [], [], [], []
        for p in planes:
            s, f, ok = local_periodicity(p, block, skip_grid=codec is not None)
            per.append(s)
            freqs.append(f)
            oks.append(ok)
            dec.append(spectral_decay(p, block))
        per, dec, ok = np.stack(per), np.stack(dec), np.stack(oks)
        z_per = _z(np.where(ok, per, np.nan), floor=0.15)
        z_dec = _z(np.where(ok, dec, np.nan), floor=0.15)
        period = np.maximum(np.nan_to_num(z_per), 0)
        smooth = np.maximum(-np.nan_to_num(z_dec), 0)  # residual spectrum decays too fast
        # a resampled region repeats one period in neighbouring tiles; chance peaks of authentic tiles don't
        period = period * _frequency_agreement(np.stack(freqs), block)
        # spectral decay is the weaker cue (holders and plastics of real scanners decay fast too): weight 0.4
        regional = np.maximum(_regional(period), 0.4 * _regional(smooth))
        heat = np.stack([_paint_blocks(r, block, shape2) for r in regional])
        stat = float(regional.max()) if regional.size else 0.0
        evidence = []
        center, width = self.links[klass]
        k, iy, ix = np.unravel_index(int(np.argmax(_regional(period))), period.shape)
        if _regional(period)[k, iy, ix] >= 0.75 * center:
            fy, fx = freqs[k][iy, ix]
            evidence.append(
                f"periodic interpolation correlations at rows {iy * step}-{iy * step + 2 * block}, "
                f"cols {ix * step}-{ix * step + 2 * block}{_slice(k, pixels)}: p-map spectral peak at "
                f"{_period(fy, fx)} (robust z {_regional(period)[k, iy, ix]:.1f}), a resampling or up-sampling trace"
            )
        k, iy, ix = np.unravel_index(int(np.argmax(_regional(smooth))), smooth.shape)
        if 0.4 * _regional(smooth)[k, iy, ix] >= 0.75 * center:
            evidence.append(
                f"noise residual spectrum decays too fast at rows {iy * step}-{iy * step + 2 * block}, "
                f"cols {ix * step}-{ix * step + 2 * block}{_slice(k, pixels)} (robust z "
                f"{_regional(smooth)[k, iy, ix]:.1f}): interpolated or generated content"
            )
        if along_z and z_not_judged is None and pixels.ndim == 3:
            zr = z_smoothness(pixels, block)
            zz = np.maximum(-np.nan_to_num(_z(zr, floor=0.15)), 0)
            zreg = ndimage.uniform_filter(zz, size=(3, 2, 2), mode="constant")  # a cube spans slices
            zheat = np.stack([_paint_blocks(r, block, shape2) for r in zreg])
            heat = np.maximum(heat, zheat)
            zstat = float(zreg.max())
            if zstat >= 0.75 * center:
                k, iy, ix = np.unravel_index(int(np.argmax(zreg)), zreg.shape)
                evidence.append(
                    f"slices {k - 1}-{k + 1} at rows {iy * block}-{(iy + 2) * block}, cols {ix * block}-"
                    f"{(ix + 2) * block} are interpolations of their neighbours (through-plane residual robust z "
                    f"{zstat:.1f}): resampling along z, as when a cube is rescaled and pasted back"
                )
            stat = max(stat, zstat)
        # the maximum over many slices grows like sqrt(2 ln n): judge a volume's maximum by the same standard
        n_plane = max(regional.shape[1] * regional.shape[2], 2)
        center += float(np.sqrt(2 * np.log(n_plane * len(planes))) - np.sqrt(2 * np.log(n_plane)))
        score = logistic(stat, center, width)
        if not evidence:
            evidence.append(f"no local resampling periodicity or abnormal spectral decay (strongest z {stat:.1f})")
        if codec:
            evidence.append(f"periods of 8, 4, 2.67 and 2 px not judged: {codec}, whose grid leaves them")
        if along_z and z_not_judged:
            evidence.append(f"interpolation along z not judged: {z_not_judged}, which removed noise unevenly")
        heatmap = heat if pixels.ndim == 3 else heat[0]
        return Finding(score=score, heatmap=heatmap, evidence=tuple(evidence))


def _on_grid(f: np.ndarray) -> np.ndarray:
    """Frequencies (cycles/px) of an 8-pixel grid's harmonics: JPEG's blocks, and JPEG 2000's first three wavelet
    levels among them."""
    return np.isin(np.abs(f), (0.125, 0.25, 0.375, 0.5))


def _z(values: np.ndarray, floor: float) -> np.ndarray:
    fin = values[np.isfinite(values)]
    if fin.size == 0:
        return np.zeros(values.shape)
    return (values - float(np.median(fin))) / max(robust_scale(fin), floor)


def _frequency_agreement(freqs: np.ndarray, block: int) -> np.ndarray:
    """Per tile: 0.5 + 0.5 x the share of its neighbours whose peak has the same period (either axis)."""
    code = np.round(np.abs(freqs).max(axis=-1) * block).astype(np.int64)
    agree = np.zeros(code.shape, np.float32)
    for dy, dx in ((0, 1), (1, 0), (1, 1), (0, -1), (-1, 0), (-1, -1), (1, -1), (-1, 1)):
        shifted = np.roll(code, (dy, dx), axis=(1, 2))
        agree += shifted == code
    return 0.5 + 0.5 * np.minimum(agree / 3.0, 1.0)


def _regional(z: np.ndarray) -> np.ndarray:
    """Mean over 2x2 neighbouring tiles (a trace covers several overlapping tiles, an edge rarely does)."""
    return ndimage.uniform_filter(z, size=(1, 2, 2), mode="constant")


def _paint_blocks(values: np.ndarray, block: int, shape: tuple[int, int]) -> np.ndarray:
    return repeat_blocks(values.astype(np.float32), block, shape)  # NaN kept, unlike upsample_blocks


def _slice(k: int, pixels: np.ndarray) -> str:
    return f" of slice {k}" if pixels.ndim == 3 else ""


def _period(fy: float, fx: float) -> str:
    parts = []
    if abs(fy) > 1e-9:
        parts.append(f"period {1 / abs(fy):.2f} px along rows")
    if abs(fx) > 1e-9:
        parts.append(f"period {1 / abs(fx):.2f} px along columns")
    return " and ".join(parts) or "zero frequency"
