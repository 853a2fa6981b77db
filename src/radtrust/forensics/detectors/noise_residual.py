"""Noise-residual inconsistency: a local noise-level map against the image's own noise-level function.

After Mahdian & Saic, "Using noise inconsistencies for blind image forensics" (Image Vis. Comput. 27, 2009)
and the noise-level-function idea of Liu, Szeliski et al. (CVPR 2006): in an authentic image the noise
standard deviation is a smooth function of intensity and position. Noise model assumed:

- radiographs (CR/DX and 8-bit pictures): Poisson-Gaussian, sigma^2 = a * I + b on the stored values; when the
  stored values are log-transformed or windowed and that line does not fit, a non-parametric sigma(I) curve
  (binned medians) is used instead, and the evidence says which;
- CT in HU: sigma is a function of HU (air, fat, soft tissue, bone attenuate differently) that varies smoothly
  across the field of view; for a series the function is fitted on all slices together, so every slice is
  judged against its neighbours.

Per 16x16 block (32x32 on radiographs larger than 1200 px) the detector measures the noise sigma
(:func:`~radtrust.forensics.residuals.block_sigma`) and a noise texture index, the log ratio of the finest-scale
residual sigma to that of the 2x2-binned image (white noise and CT kernel noise differ). Both are compared to
what the image predicts for the block's intensity and neighbourhood; regions whose noise is too low
(generated or smoothed content), too high, or differently textured (pasted noise of another kind) are
flagged. An image known to have been lossy-compressed (:func:`radtrust.io.lossy.lossy_reason`) is judged
on noise too high only: the coder removed noise unevenly and reshaped its texture, but added none. The score
is a logistic transform of the strongest regional robust z-statistic, calibrated so that authentic
development images (CT of three vendors, CR, 8-bit chest pictures) stay well below 0.5.

Only the modalities those models describe are judged: CT, projection radiography, and pictures (no modality,
OT, SC, XC). Ultrasound speckle, MR's Rician noise and nuclear medicine's smoothed counts follow none of them (a
real 16-bit ultrasound from pydicom-data, black around its sector and lettered, scored 1.0: "noise too low").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from radtrust.errors import EvidenceLost, NotApplicable
from radtrust.forensics.detectors.base import Detector, Finding, Scope, sharing_ct_slices
from radtrust.forensics.detectors.physics import RADIOGRAPHY
from radtrust.forensics.projection import of_series, sliding_projection
from radtrust.forensics.residuals import (
    VOLUME_FORMATS,
    bin2d,
    block_mean,
    block_sigma,
    dilate,
    frames,
    gaussian,
    group_medians,
    highpass,
    image_class,
    logistic,
    median_last,
    quantisation_floor,
    repeat_blocks,
    robust_scale,
    upsample_blocks,
    valid_mask,
)
from radtrust.io.lossy import lossy_reason

_RADIOGRAPH = {"CR", "DX", "MG", "RG", "XA", "RF", "PX", "IO"}
#: in CT, "noise too high" is not judged in a block where the image smoothed by EDGE_SMOOTH px spans more than EDGE_HU:
#: an edge (skin or lung against air, bone against tissue) whose residual is structure. A low-noise head CT (GE, 1-2
#: HU) read its skin as noise 5.5-6.7 times too high (noise-residual 0.35-0.52, its stretches 0.83-0.90 with the
#: header's true findings). The smoothing (done on the 2x2-binned image) leaves a phantom's tissue a span of about 15 HU
#: and a patch of noise three times its own (36 HU) 19-29 HU, so excess noise is not taken for an edge; soft-tissue
#: boundaries (fat against muscle, about 150 HU) stay judged
EDGE_SMOOTH = 2.0
EDGE_HU = 300.0
#: in CT, what lies below OUTSIDE_HU once smoothed (as for EDGE_HU) is padding or the outside of the reconstructed
#: field, not the patient (air reads -1000): it and OUTSIDE_GROW px around it are not judged. Stored lossless, padding
#: is one value and valid_mask() leaves it out; a lossy codec rings at the field's edge (an authentic chest series,
#: padded at -2048 and stored as 12-bit JPEG at quality 90: "noise too high" at -2049 HU, robust z 18.9, 0.999)
OUTSIDE_HU = -1050.0
OUTSIDE_GROW = 8  # px: a JPEG block, the codec's ringing


@dataclass
class _Blocks:
    mean: np.ndarray  # (planes, nby, nbx)
    log_sigma: np.ndarray
    texture: np.ndarray


def _plane_blocks(
    x: np.ndarray, block: int, qfloor: float, ct: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Per block: mean, log sigma, texture; the residual and valid mask; in CT, the span (max - min) of the image
    smoothed by a Gaussian of EDGE_SMOOTH px over the block (the structure it holds, hardly its noise), and the
    outside of the patient and the reconstructed field (smoothed below OUTSIDE_HU, grown by OUTSIDE_GROW px) left
    out of the valid mask."""
    coarse = bin2d(x, 2)
    valid = valid_mask(x)
    smooth = None
    if ct:  # on the 2x2-binned image, a quarter of the work: EDGE_SMOOTH px there is twice that in the image
        smooth = gaussian(coarse, EDGE_SMOOTH / 2, truncate=2.0)
        outside = smooth < OUTSIDE_HU
        if outside.any():
            valid = valid & ~dilate(repeat_blocks(outside, 2, x.shape, False), OUTSIDE_GROW)
    residual = highpass(x)
    sigma = block_sigma(residual, valid, block)
    ny2, nx2 = coarse.shape
    v = valid[: 2 * ny2, : 2 * nx2]
    cvalid = v[::2, ::2] & v[1::2, 1::2] & v[::2, 1::2] & v[1::2, ::2]
    sigma_c = block_sigma(highpass(coarse), cvalid, block // 2)
    ny, nx = sigma.shape
    sigma_c = sigma_c[:ny, :nx]
    mean, _ = block_mean(x, block, valid)
    floor = max(qfloor, 1e-3 * max(robust_scale(x.ravel()[:: max(1, x.size // 20000)]), 1e-3))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_sigma = np.log(np.maximum(sigma, floor))
        texture = np.log(np.maximum(sigma, floor) / np.maximum(sigma_c, floor))
    # a block whose noise is at the measurable floor has no texture to compare (a phantom's uniform insert gave
    # floor/floor = 0 against the body's -2.2 and, once resampled, robust z 14.7); "too low" still covers it
    texture[~(np.minimum(sigma, sigma_c) > 1.05 * floor)] = np.nan
    span = None
    if smooth is not None:
        half = block // 2
        tiles = smooth[: ny * half, : nx * half].reshape(ny, half, nx, half)
        span = tiles.max(axis=(1, 3)) - tiles.min(axis=(1, 3))
    return mean, log_sigma, texture, residual, valid, span


def _capped_log_sigma(
    residual: np.ndarray, valid: np.ndarray, log_pred: np.ndarray, block: int, floor: float
) -> np.ndarray:
    """log sigma with |r| capped at 2.5x the predicted sigma: edges cannot pass for excess noise.

    Genuinely excess noise (a pasted noisier texture) still raises most samples and stays high.
    """
    ny, nx = log_pred.shape
    r = residual[: ny * block, : nx * block]
    cap = np.nan_to_num((2.5 * np.exp(np.nan_to_num(log_pred, nan=-30.0))).astype(np.float32), nan=0.0)
    capped = np.minimum(np.abs(r).reshape(ny, block, nx, block), cap[:, None, :, None])  # no painted cap map
    m, ws = block_mean(capped.reshape(r.shape), block, valid)
    with np.errstate(divide="ignore"):
        out = np.log(np.maximum(np.sqrt(np.pi / 2) * m / 0.995, floor))
    out[ws < 0.6 * block * block] = np.nan
    return out


def _binned_curve(mean: np.ndarray, value: np.ndarray, nbins: int = 12) -> np.ndarray:
    """Predict ``value`` from ``mean`` with the medians of intensity-quantile bins (linear interpolation)."""
    return _binned_fit(mean, value, nbins)[0]


def _binned_fit(mean: np.ndarray, value: np.ndarray, nbins: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_binned_curve` and where it interpolates: blocks whose intensity lies between the outermost bins'
    centres (beyond them the curve is held flat, which is no prediction where a tone curve saturates)."""
    ok = np.isfinite(mean) & np.isfinite(value)
    out = np.full(mean.shape, np.nan)
    inside = np.zeros(mean.shape, dtype=bool)
    if ok.sum() < 8:
        return out, inside
    m, v = mean[ok], value[ok]
    nb = int(max(1, min(nbins, ok.sum() // 12)))
    edges = np.unique(np.quantile(m, np.linspace(0, 1, nb + 1)))
    idx = np.clip(np.searchsorted(edges, m, side="right") - 1, 0, max(len(edges) - 2, 0))
    bins = max(len(edges) - 1, 1)
    full = np.bincount(idx, minlength=bins) >= 4
    if not full.any():
        return out, inside
    centers = [float(c) for c in group_medians(idx, m, bins)[full]]
    meds = [float(c) for c in group_medians(idx, v, bins)[full]]
    order = np.argsort(centers)
    fin = np.isfinite(mean)
    out[fin] = np.interp(mean[fin], np.asarray(centers)[order], np.asarray(meds)[order])
    inside[fin] = (mean[fin] >= min(centers)) & (mean[fin] <= max(centers))
    return out, inside


def _poisson_gaussian(mean: np.ndarray, log_sigma: np.ndarray) -> tuple[np.ndarray | None, str]:
    """Fit sigma^2 = a*I + b (a, b >= 0) to the bin medians; return the prediction if it fits within 15%."""
    ok = np.isfinite(mean) & np.isfinite(log_sigma)
    if ok.sum() < 16:
        return None, ""
    binned = _binned_curve(mean, log_sigma)
    m = mean[ok]
    var = np.exp(2 * binned[ok])
    design = np.stack([m - m.min(), np.ones_like(m)], axis=1)
    coef, *_ = np.linalg.lstsq(design, var, rcond=None)
    a, b = float(coef[0]), float(coef[1])
    if a < 0 or b <= 0:
        return None, ""
    pred = np.full(mean.shape, np.nan)
    fin = np.isfinite(mean)
    pred[fin] = 0.5 * np.log(np.maximum(a * (mean[fin] - m.min()) + b, 1e-12))
    if float(np.median(np.abs(pred[ok] - binned[ok]))) > 0.15:
        return None, ""
    return pred, f"Poisson-Gaussian noise model sigma^2 = {a:.3g}*(I-{m.min():.4g}) + {b:.3g}"


def _deviation(value: np.ndarray, predicted: np.ndarray, trend_blocks: int) -> np.ndarray:
    """value - prediction - local spatial trend of that difference (per plane), in robust z units."""
    d = value - predicted
    filled = np.where(np.isfinite(d), d, 0.0)
    d = d - _median_trend(filled, trend_blocks)
    return d / max(robust_scale(d), 0.15)


class NoiseResidualDetector(Detector):
    """Local noise level and texture against the image's noise-level function (see module docstring)."""

    name = "noise-residual"
    version = "1"
    # a sliding MIP or MinIP series (radtrust.forensics.projection) is not judged, in 3D or by slice: the maximum of
    # a slab is quieter where the slab agrees than where it does not, whatever the intensity (a GE head MIP of 3
    # slices: 0.17 of the predicted noise over its skull, 0.85, where its acquired slices read 0.03): the series pass
    # says the evidence is lost, for the slices too
    scope = Scope(modalities=frozenset({"CT", "", "OT", "SC", "XC"}) | RADIOGRAPHY)

    #: logistic link per image class: stat (regional robust z) -> score. Centres sit above the largest
    #: statistic seen on the authentic development images of that class (CT: 7.6; CR: 5.7; 8-bit pictures
    #: from papers, with JPEG flattening, text and arrows: 95% < 13), so authentic images score low.
    links = {"ct": (8.5, 0.8), "radiograph": (8.0, 1.0), "picture": (14.0, 2.0)}

    def __init__(self, block: int | None = None) -> None:
        self.block = block

    def run(self, image) -> Finding:  # noqa: ANN001 - Image
        _not_a_projection(image.pixels, image.modality)  # the frames of a multi-frame CT
        return self._analyse(image.pixels, image.modality, image.source_format, image.bits_stored,
                             lossy_reason(image))

    def run_series(self, series) -> Finding:  # noqa: ANN001 - Series
        if not series.is_volume():
            raise NotApplicable("noise-residual needs a stackable series for 3D analysis")
        lossy = next((r for r in map(lossy_reason, series.instances) if r), None)
        if of_series(series):
            raise EvidenceLost(_PROJECTION)
        # in CT its 3D pass answers for the slices (base.sharing_ct_slices): it reads every slice's plane too
        return sharing_ct_slices(self._analyse(series.volume(), series.modality, "dicom",
                                               series.instances[0].bits_stored, lossy), series)

    # -- core -------------------------------------------------------------------------------------------
    def _analyse(self, pixels: np.ndarray, modality: str | None, source: str, bits: int | None,
                 lossy: str | None = None) -> Finding:
        planes = list(frames(np.asarray(pixels, dtype=np.float32)))
        shape2 = planes[0].shape
        block = self.block or (32 if max(shape2) > 1200 else 16)
        if min(shape2) < 4 * block:
            raise NotApplicable(f"noise-residual needs at least {4 * block} px per side, got {shape2}")
        klass = image_class(modality, source, bits)
        # 8-bit pictures (also colour ones turned into fractional luminance) cannot show noise below ~1/2 LSB
        qfloor = max(quantisation_floor(planes[0]), 0.5 if klass == "picture" else 1e-6)
        stats = [_plane_blocks(p, block, qfloor, ct=klass == "ct") for p in planes]
        blocks = _Blocks(*(np.stack(s) for s in list(zip(*stats, strict=True))[:3]))
        radiograph = (modality or "").upper() in _RADIOGRAPH or (modality is None and source not in VOLUME_FORMATS)
        model_note = ""
        pred = None
        if radiograph:
            pred, model_note = _poisson_gaussian(blocks.mean, blocks.log_sigma)
        judged_low = np.ones(blocks.mean.shape, dtype=bool)
        if pred is None:
            pred, inside = _binned_fit(blocks.mean, blocks.log_sigma)
            model_note = "non-parametric noise-level function sigma(intensity)"
            if radiograph:
                # a display curve (a DX "for presentation", a window) flattens the noise where it saturates at
                # either end of the range, faster than a curve held flat beyond its last bin can follow
                judged_low = inside
                model_note += "; noise too low not judged beyond its outermost intensity bins"
        # no prediction below what quantisation lets anyone measure (flat 8-bit backgrounds)
        pred = np.maximum(pred, np.log(qfloor))
        trend = 11
        z_sigma = _deviation(blocks.log_sigma, pred, trend)
        log_capped = np.stack(
            [_capped_log_sigma(st[3], st[4], pr, block, qfloor) for st, pr in zip(stats, pred, strict=True)]
        )
        z_high = _deviation(log_capped, pred, trend)
        z_tex = _deviation(blocks.texture, _binned_curve(blocks.mean, blocks.texture), trend)
        # Regional statistics: a forgery covers several blocks; a 2x2 block mean suppresses lone edges.
        low = _regional(np.where(judged_low, np.maximum(-z_sigma, 0), 0.0))
        if klass == "ct":  # a block that holds an edge: its residual there is structure, not excess noise
            z_high = np.where(np.stack([st[5] for st in stats]) > EDGE_HU, np.nan, z_high)
        high = _regional(np.maximum(np.nan_to_num(z_high), 0))
        tex = _regional(np.abs(np.nan_to_num(z_tex)))
        # texture is the weaker cue (phantom inserts and plastics have their own noise texture): weight 0.6
        combined = np.maximum(low, np.maximum(high, 0.6 * tex))
        maps = (low, high, tex)
        if lossy:  # lossy coding removes noise unevenly and changes its texture, but adds none above the NLF
            combined = high
            maps = (np.full_like(low, np.nan), high, np.full_like(tex, np.nan))
            model_note += f"; {lossy}, so only noise above it is judged"
        stat = float(np.nanmax(combined)) if np.isfinite(combined).any() else 0.0
        center, width = self.links[klass]
        score = logistic(stat, center, width)
        heat = np.stack([upsample_blocks(c, block, shape2) for c in combined])
        heatmap = heat if pixels.ndim == 3 else heat[0]
        evidence = self._evidence(blocks, pred, maps, block, pixels.ndim == 3, model_note, center)
        return Finding(score=score, heatmap=heatmap, evidence=tuple(evidence))

    def _evidence(self, blocks, pred, maps, block, is3d, model_note, center) -> list[str]:  # noqa: ANN001
        out = [f"noise model: {model_note}"]
        for label, arr in zip(("too low", "too high", "differently textured"), maps, strict=True):
            if not np.isfinite(arr).any():
                continue
            k, by, bx = np.unravel_index(int(np.nanargmax(arr)), arr.shape)
            z = float(arr[k, by, bx])
            if z < 0.75 * center:
                continue
            where = f"rows {by * block}-{(by + 2) * block}, cols {bx * block}-{(bx + 2) * block}"
            if is3d:
                where = f"slice {k}, " + where
            ratio = float(np.exp(blocks.log_sigma[k, by, bx] - pred[k, by, bx]))
            out.append(
                f"noise {label} at {where} (robust z {z:.1f}; sigma {ratio:.2f}x what the noise-level "
                f"function predicts at intensity {blocks.mean[k, by, bx]:.0f})"
            )
        if len(out) == 1:
            out.append("local noise level and texture follow the image's noise-level function")
        return out


_PROJECTION = "the slices are a sliding projection, whose noise follows no noise-level function"


def _not_a_projection(pixels: np.ndarray, modality: str | None) -> None:
    if (modality or "").upper() == "CT" and np.ndim(pixels) == 3 and sliding_projection(np.asarray(pixels)):
        raise EvidenceLost(_PROJECTION)


def _median_trend(values: np.ndarray, size: int) -> np.ndarray:
    """Per-plane running median over size x size blocks (edge-padded); sliding windows beat rank_filter here."""
    h = size // 2
    padded = np.pad(values, ((0, 0), (h, h), (h, h)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size), axis=(1, 2))
    return median_last(windows.reshape(*values.shape, -1))


def _regional(z: np.ndarray) -> np.ndarray:
    """Mean over 2x2 block neighbourhoods (per plane), NaN treated as 0."""
    return ndimage.uniform_filter(np.nan_to_num(z), size=(1, 2, 2), mode="constant")
