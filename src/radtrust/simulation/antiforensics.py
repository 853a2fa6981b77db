"""CT-GAN's anti-forensic steps (Mirsky et al., USENIX Security 2019, section 4), as reusable operations.

- **Noise re-adding**: a tamper leaves a region smoother than its surroundings. CT-GAN's ``copynoise``
  adds the noise residual of another location of the same scan; the alternative synthesises noise at
  the locally estimated level (Gaussian, lightly correlated like reconstructed CT noise).
- **Histogram matching** of the tampered region's residual to the residual of the untouched surroundings.
- **Re-quantisation** to the stored grid (rescale slope steps) before writing.
- **Isotropic resampling**: the cube is cut, zoomed to isotropic spacing (cubic spline), tampered there
  and zoomed back, as CT-GAN does with ``scipy.ndimage.zoom``.
- **The whole scan rescaled** (``scan``, asked for by name, never drawn): CT-GAN's public code zooms the *whole
  scan* to 1 mm voxels and back (``utils/dicom_utils.scale_scan``) and writes the floats into the stored integer
  array, so every voxel is interpolated and truncated, not only the cube's (:func:`rescale_scan`). The mask still
  marks the lesion; the sidecar records the step.

:class:`AntiForensics` says which of them a run applies; :func:`draw` picks them at random.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from scipy import special

from radtrust.simulation._ops import highpass, noise_sigma

NOISE_MODES = ("none", "copy", "synth")


@dataclass(frozen=True)
class AntiForensics:
    noise: str = "none"  # none | copy | synth
    histmatch: bool = False
    requantise: bool = False
    resample: bool = False
    scan: bool = False  # the whole scan rescaled to 1 mm and back (CT-GAN's code); CT volumes only

    @property
    def any(self) -> bool:
        return self.noise != "none" or self.histmatch or self.requantise or self.resample or self.scan

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not self.scan:  # sidecars of runs without it stay as they were
            del out["scan"]
        return out

    @classmethod
    def parse(cls, spec: str | None) -> AntiForensics | None:
        """``none``, ``all``, ``random`` (returns None: draw later) or a comma list such as ``copy,histmatch``."""
        if spec is None or spec == "random":
            return None
        if spec == "none":
            return cls()
        if spec == "all":
            return cls(noise="copy", histmatch=True, requantise=True, resample=True)
        kw: dict[str, Any] = {}
        for part in (p.strip() for p in spec.split(",") if p.strip()):
            if part in ("copy", "synth"):
                kw["noise"] = part
            elif part in ("histmatch", "requantise", "resample", "scan"):
                kw[part] = True
            else:
                raise ValueError(f"unknown anti-forensic step {part!r} (copy, synth, histmatch, requantise, resample, "
                                 "scan)")
        return cls(**kw)


def draw(rng: np.random.Generator, *, allow_resample: bool = True) -> AntiForensics:
    """Half the runs plain, half with a random set of anti-forensic steps (noise always among them)."""
    if rng.random() < 0.5:
        return AntiForensics()
    return AntiForensics(noise=str(rng.choice(["copy", "synth"])), histmatch=bool(rng.random() < 0.5),
                         requantise=bool(rng.random() < 0.7), resample=bool(allow_resample and rng.random() < 0.5))


def synth_noise(shape: tuple[int, ...], sigma: float, rng: np.random.Generator, corr_px: float = 0.6) -> np.ndarray:
    """Gaussian noise of standard deviation ``sigma``, in-plane correlated like reconstructed CT noise."""
    n = rng.standard_normal(shape).astype(np.float32)
    if corr_px > 0:
        sig = (0.0, corr_px, corr_px) if len(shape) == 3 else corr_px
        n = ndi.gaussian_filter(n, sig)
        sd = float(n.std())
        n /= sd if sd > 0 else 1.0
    return n * np.float32(sigma)


def copy_noise(volume: np.ndarray, box: tuple[slice, ...], rng: np.random.Generator,
               allowed: np.ndarray | None = None, tries: int = 12) -> tuple[np.ndarray, tuple[int, ...]]:
    """The noise residual of another box of the same size in ``volume`` (the flattest of a few random
    candidates, inside ``allowed`` where given), and that box's corner."""
    size = tuple(s.stop - s.start for s in box)
    best: tuple[float, np.ndarray, tuple[int, ...]] | None = None
    centers = np.argwhere(allowed[tuple(slice(None, None, 4) for _ in allowed.shape)]) * 4 if allowed is not None else None
    for _ in range(tries):
        if centers is not None and len(centers):
            c = centers[int(rng.integers(0, len(centers)))]
            corner = tuple(int(min(max(0, v - k // 2), max(0, n - k))) for v, n, k in zip(c, volume.shape, size))
        else:
            corner = tuple(int(rng.integers(0, max(1, n - k + 1))) for n, k in zip(volume.shape, size))
        if all(abs(c - s.start) < k for c, s, k in zip(corner, box, size)):
            continue  # overlaps the target box
        sl = tuple(slice(c, c + k) for c, k in zip(corner, size))
        if allowed is not None and allowed[sl].mean() < 0.6:
            continue
        patch = volume[sl].astype(np.float32)
        res = highpass(patch, (0.0, 1.0, 1.0) if patch.ndim == 3 else 1.0)
        score = float(np.abs(res).mean())
        if best is None or score < best[0]:
            best = (score, res, corner)
    if best is None:
        corner = tuple(0 for _ in size)
        sl = tuple(slice(0, k) for k in size)
        patch = volume[sl].astype(np.float32)
        best = (0.0, highpass(patch, (0.0, 1.0, 1.0) if patch.ndim == 3 else 1.0), corner)
    return best[1], best[2]


def match_histogram(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Map ``values`` monotonically onto the distribution of ``reference`` (quantile matching)."""
    if values.size == 0 or reference.size == 0:
        return values
    order = np.argsort(values, kind="stable")
    quantiles = (np.arange(values.size) + 0.5) / values.size
    matched = np.empty_like(values, dtype=np.float32)
    matched[order] = np.quantile(reference.astype(np.float64), quantiles).astype(np.float32)
    return matched


def requantise(x: np.ndarray, step: float, lo: float, hi: float) -> np.ndarray:
    """Round to the stored grid and clip to what the stored bits can hold."""
    return np.clip(np.rint(x / step) * step, lo, hi).astype(np.float32)


def rescale_scan(pixels: np.ndarray, spacing: tuple[float, ...], datasets: tuple[Any, ...],
                 value_range: tuple[float, float], iso_mm: float = 1.0, order: int = 3) -> np.ndarray:
    """The whole volume (or image) as CT-GAN's code leaves it outside its touch-up boxes: zoomed to ``iso_mm``
    isotropic voxels and back (:func:`zoom_round_trip`) and stored as CT-GAN stores it (:func:`store_truncated`)."""
    return store_truncated(zoom_round_trip(pixels, spacing, iso_mm, order), datasets, value_range)


def zoom_round_trip(pixels: np.ndarray, spacing: tuple[float, ...], iso_mm: float = 1.0, order: int = 3) -> np.ndarray:
    """``pixels`` zoomed to ``iso_mm`` isotropic voxels and back to its shape (``scipy.ndimage.zoom``, a cubic spline
    by default, mode nearest; back to the exact shape, where CT-GAN's rounding of the shapes can miss it by a voxel).
    An axis whose spacing is ``iso_mm`` is left as it is."""
    v = pixels.astype(np.float64)
    up = ndi.zoom(v, tuple(s / iso_mm for s in spacing), order=order, mode="nearest")
    return ndi.zoom(up, tuple(n / m for n, m in zip(v.shape, up.shape)), order=order, mode="nearest")


def store_truncated(values: np.ndarray, datasets: tuple[Any, ...], value_range: tuple[float, float]) -> np.ndarray:
    """Floats written into the stored integer array, as CT-GAN's ``save_dicom`` does: truncated toward zero in stored
    units (RescaleSlope and RescaleIntercept of the first dataset; 1 and 0 without one), back in HU."""
    ds = datasets[0] if datasets else None
    slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
    intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
    stored = np.trunc((values - intercept) / slope)
    return np.clip(stored * slope + intercept, *value_range).astype(np.float32)


TOUCH_UP = 64  # voxels along each axis of CT-GAN's touch-up box (its cube_shape, 32, times 2), on the scan's own grid


def window01(n: int, nsig: float) -> np.ndarray:
    """CT-GAN's blending window (``utils.kern01``): the square root of the outer product of a Gaussian's
    probabilities over ``n`` cells spanning +-``nsig`` standard deviations, scaled to 0 at the corners, 1 at the
    centre (nsig 3: a bell; nsig 0.1: nearly a paraboloid)."""
    step = (2 * nsig + 1.0) / n
    x = np.linspace(-nsig - step / 2, nsig + step / 2, n + 1)
    k1 = np.diff(special.ndtr(x))
    k = np.sqrt(np.outer(k1, k1))
    return (k - k.min()) / (k.max() - k.min())


def _box(centre: tuple[int, ...], shape: tuple[int, ...]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """A :data:`TOUCH_UP` box centred on ``centre`` as CT-GAN's ``cutCube`` cuts it (zero-padded past the volume's
    edges): (its part inside the volume, in the volume's coordinates; the same part in the box's)."""
    lo = [c - TOUCH_UP // 2 for c in centre]
    inside = tuple(slice(max(0, a), min(n, a + TOUCH_UP)) for a, n in zip(lo, shape))
    return inside, tuple(slice(s.start - a, s.stop - a) for s, a in zip(inside, lo))


def edit_centre(mask: np.ndarray) -> tuple[int, ...]:
    """The centre of the edit's bounding box (of the volume without one): where CT-GAN's touch-up box is cut."""
    where = np.argwhere(mask)
    return tuple(int(c) for c in ((where.min(0) + where.max(0)) // 2 if len(where) else np.array(mask.shape) // 2))


def touch_up(rescaled: np.ndarray, original: np.ndarray, centre: tuple[int, ...], inject: bool) -> np.ndarray:
    """CT-GAN's noise touch-ups (``attack_pipeline._touch_up_scan``, ``copynoise`` on, its default) around one edit,
    in HU: in a box of :data:`TOUCH_UP` voxels centred on the edit (cut from both scans, zero-padded past the
    edges), noise copied from a fixed place of the original scan (the box at the middle slice, 43% down, 27% across;
    values above -800 HU set to the mean of those below, less the mean) is added to the rescaled scan, which is then
    blended with the *original*, un-rescaled scan: for an injection by a bell window times a sigmoid of the rescaled
    HU (centre -700, scale 70) and never below the original (``np.maximum``); for a removal by a nearly paraboloid
    window. So the box keeps the original's voxels at its edges, its lesion the rescaled ones, and everything outside
    it stays rescaled. Where the fixed place holds no lung (no value below -800: CT-GAN's own code then writes NaN)
    no noise is added. Works on a volume (z, y, x) or one slice."""
    flat = rescaled.ndim == 2
    mal, ben = (rescaled[None], original[None]) if flat else (rescaled, original)
    inner, local = _box((0, *centre) if flat else tuple(centre), mal.shape)
    mal_box = mal[inner].astype(np.float64)
    ben_box = ben[inner].astype(np.float64)
    src_in, src_local = _box((ben.shape[0] // 2, int(ben.shape[1] * 0.43), int(ben.shape[2] * 0.27)), ben.shape)
    fixed = np.zeros((TOUCH_UP,) * 3)
    fixed[src_local] = ben[src_in]
    lung = fixed < -800
    noise = np.zeros_like(fixed)
    if lung.any():
        x = np.where(lung, fixed, fixed[lung].mean())
        noise = x - x.mean()
    noise = noise[local]
    if inject:
        k = window01(TOUCH_UP, 3.0)[local[1], local[2]]
        factors = special.expit((mal_box + 700.0) / 70.0) * k
        blended = (mal_box + noise) * factors + ben_box * (1 - factors)
        out = np.maximum(blended, ben_box)
    else:
        k = window01(TOUCH_UP, 0.1)[local[1], local[2]]
        out = (mal_box + noise) * k + ben_box * (1 - k)
    result = mal.astype(np.float64)
    result[inner] = out
    return result[0] if flat else result


def as_ct_gan_writes(edited: np.ndarray, original: np.ndarray, mask: np.ndarray, spacing: tuple[float, ...],
                     datasets: tuple[Any, ...], value_range: tuple[float, float], inject: bool
                     ) -> tuple[np.ndarray, list[list[int]]]:
    """The edited scan as CT-GAN's code writes it: zoomed to 1 mm and back as a whole (:func:`zoom_round_trip`), its
    touch-up box around the edit (:func:`edit_centre` of ``mask``) blended with the original (:func:`touch_up`), every
    voxel truncated to the stored grid (:func:`store_truncated`). Returns the pixels and the box inside the volume
    ([start, stop] per axis)."""
    centre = edit_centre(mask)
    touched = touch_up(zoom_round_trip(edited, spacing), original, centre, inject)
    inside, _ = _box(centre, mask.shape)
    return store_truncated(touched, datasets, value_range), [[s.start, s.stop] for s in inside]


def in_isotropic(cube: np.ndarray, spacing: tuple[float, ...], fn: Callable[[np.ndarray, tuple[float, ...]], np.ndarray],
                 iso_mm: float = 1.0) -> np.ndarray:
    """Zoom ``cube`` to isotropic ``iso_mm`` spacing (cubic spline), apply ``fn`` there, zoom back to the cube's shape."""
    factors = tuple(s / iso_mm for s in spacing)
    iso = ndi.zoom(cube.astype(np.float32), factors, order=3, mode="nearest")
    out = fn(iso, tuple(iso_mm for _ in spacing))
    back = tuple(n / m for n, m in zip(cube.shape, out.shape))
    res = ndi.zoom(out, back, order=3, mode="nearest")
    # zoom may round a dimension differently: crop/pad to the cube's shape
    fixed = np.empty_like(cube, dtype=np.float32)
    sl = tuple(slice(0, min(a, b)) for a, b in zip(cube.shape, res.shape))
    fixed[...] = cube
    fixed[sl] = res[sl]
    return fixed


def add_noise(new: np.ndarray, weight: np.ndarray, original: np.ndarray, box: tuple[slice, ...],
              af: AntiForensics, rng: np.random.Generator, allowed: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Re-add noise inside a box where ``weight`` > 0 (copied or synthesised), then optionally match the
    residual histogram to the untouched surroundings. ``new``/``weight`` are the box's arrays."""
    info: dict[str, Any] = {}
    if af.noise == "none":
        return new, info
    orig_box = original[box]
    outside = weight < 0.05
    sigma = noise_sigma(orig_box, outside if outside.sum() > 64 else None)
    if af.noise == "copy":
        res, corner = copy_noise(original, box, rng, allowed)
        scale = sigma / max(noise_sigma(res), 1e-3)
        noise = res * np.float32(min(max(scale, 0.5), 2.0))
        info["noise_from"] = list(corner)
    else:
        noise = synth_noise(new.shape, sigma, rng)
    info["noise_sigma"] = round(sigma, 3)
    out = new + weight * noise
    if af.histmatch and outside.sum() > 64 and (weight > 0.5).sum() > 16:
        inside = weight > 0.5
        sig = (0.0, 1.0, 1.0) if out.ndim == 3 else 1.0
        base = ndi.gaussian_filter(out, sig)
        res = out - base
        ref = highpass(orig_box, sig)[outside]
        res[inside] = match_histogram(res[inside], ref)
        out = base + res
        info["histmatch"] = True
    return out.astype(np.float32), info
