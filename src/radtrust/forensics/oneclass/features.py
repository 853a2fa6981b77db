"""Multi-scale noise-residual and spectral patch features for one-class models.

The features describe the *noise* of a patch, not its anatomy: the local level, correlation and tails of a
Laplacian prediction residual at three scales (Mahdian & Saic 2009 style residual statistics), the radial
distribution and peakiness of the residual's power spectrum (Durall 2020 azimuthal spectra; Popescu & Farid 2005
periodic correlations show up as spectral peaks) and, for volumes, the residual along z (CT-GAN resamples cubes).
They work on any grayscale array in modality units: CT in HU, 15-bit radiographs, 8-bit rasters and 3D volumes, which
off-the-shelf anomaly libraries (anomalib: 3-channel 8-bit, ImageNet backbones) do not.

Patches are 32x32 windows on a 16-pixel grid (cells of 16 px, each window two cells wide). Moments are summed per
cell and added over 2x2 cells, so the overlapping grid costs little more than a disjoint one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radtrust.errors import NotApplicable

CELL = 16
WINDOW = 2 * CELL
EPS = 1e-2
# Added to variances in correlations and kurtosis (units^2, i.e. about one quantisation step): keeps the
# statistics of nearly flat windows (padding, a few non-zero residuals) near 0 instead of unstable.
VAR_FLOOR = 1.0

FEATURES_2D: tuple[str, ...] = (
    "log_sigma_s1", "rho_h_s1", "rho_v_s1", "rho_lag2_s1", "log_kurtosis_s1", "log_flat_fraction_s1",
    "log_sigma_s2", "rho_s2", "log_sigma_s4",
    "log_band1_fraction", "log_band2_fraction", "log_band3_fraction", "log_spectral_peak",
    "log_structure",
)
FEATURES_Z: tuple[str, ...] = ("log_sigma_z", "log_flat_fraction_z")


@dataclass(frozen=True)
class PatchFeatures:
    """Features of every window of one slice: ``values`` (rows, cols, d), ``intensity`` (rows, cols)."""

    values: np.ndarray
    intensity: np.ndarray
    shape: tuple[int, int]  # the slice's shape, to map window scores back to pixels

    def flat(self) -> tuple[np.ndarray, np.ndarray]:
        d = self.values.shape[-1]
        return self.values.reshape(-1, d), self.intensity.reshape(-1)


def laplacian_residual(x: np.ndarray) -> np.ndarray:
    """x minus the mean of its four neighbours (edges replicated): a simple whitening predictor."""
    p = np.pad(x, 1, mode="edge")
    return x - 0.25 * (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:])


def _block_mean(x: np.ndarray, f: int) -> np.ndarray:
    h, w = x.shape[0] // f * f, x.shape[1] // f * f
    return x[:h, :w].reshape(h // f, f, w // f, f).mean(axis=(1, 3))


def _cells(a: np.ndarray, c: int, ny: int, nx: int) -> np.ndarray:
    """Sum of ``a`` over each c x c cell of an (ny*c, nx*c) crop."""
    return a[: ny * c, : nx * c].reshape(ny, c, nx, c).sum(axis=(1, 3), dtype=np.float64)


def _windows(s: np.ndarray) -> np.ndarray:
    """Add 2x2 neighbouring cells: sums over the 32-px windows on the 16-px grid."""
    return s[:-1, :-1] + s[1:, :-1] + s[:-1, 1:] + s[1:, 1:]


def _shift_products(r: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    h = np.zeros_like(r)
    v = np.zeros_like(r)
    h[:, :-lag] = r[:, :-lag] * r[:, lag:]
    v[:-lag, :] = r[:-lag, :] * r[lag:, :]
    return h, v


def _moments(r: np.ndarray, c: int, ny: int, nx: int) -> dict[str, np.ndarray]:
    n = float(WINDOW // (CELL // c)) ** 2
    s1 = _windows(_cells(r, c, ny, nx)) / n
    s2 = _windows(_cells(r * r, c, ny, nx)) / n
    var = np.maximum(s2 - s1 * s1, 0.0)
    h1, v1 = _shift_products(r, 1)
    out = {
        "var": var,
        "rho_h": (_windows(_cells(h1, c, ny, nx)) / n - s1 * s1) / (var + VAR_FLOOR),
        "rho_v": (_windows(_cells(v1, c, ny, nx)) / n - s1 * s1) / (var + VAR_FLOOR),
        "flat": _windows(_cells((r == 0).astype(np.float32), c, ny, nx)) / n,
        "m4": _windows(_cells((r - 0) ** 4, c, ny, nx)) / n,
    }
    if c == CELL:
        h2, v2 = _shift_products(r, 2)
        out["rho_lag2"] = (_windows(_cells(h2 + v2, c, ny, nx)) / (2 * n) - s1 * s1) / (var + VAR_FLOOR)
    return out


def _spectral(r: np.ndarray, ny: int, nx: int) -> np.ndarray:
    """Radial band fractions and peak-to-mean ratio of each window's residual power spectrum: (ny-1, nx-1, 4)."""
    view = np.lib.stride_tricks.sliding_window_view(r[: ny * CELL, : nx * CELL], (WINDOW, WINDOW))[::CELL, ::CELL]
    # Normalised so that the sum over the (half) spectrum is about half the window's residual variance.
    power = np.abs(np.fft.rfft2(view.astype(np.float32))) ** 2 / float(WINDOW**4)  # (wy, wx, 32, 17)
    fy = np.fft.fftfreq(WINDOW)[:, None]
    fx = np.fft.rfftfreq(WINDOW)[None, :]
    radius = np.sqrt(fy**2 + fx**2)
    band = np.minimum((radius / 0.5 * 4).astype(int), 3)  # 4 bands out to Nyquist (corners in the last)
    flatp = power.reshape(power.shape[0], power.shape[1], -1)[..., 1:]  # without DC
    bflat = band.reshape(-1)[1:]
    floor = VAR_FLOOR / 2.0  # the same variance floor as the moments, spread over the spectrum
    total = flatp.sum(axis=-1) + floor
    out = np.empty(power.shape[:2] + (4,), dtype=np.float64)
    for b in (1, 2, 3):
        share = float(np.mean(bflat == b))
        out[..., b - 1] = np.log((flatp[..., bflat == b].sum(axis=-1) + floor * share) / total)
    per_bin = floor / flatp.shape[-1]
    out[..., 3] = np.log((flatp.max(axis=-1) + per_bin) / (flatp.mean(axis=-1) + per_bin))
    return out


def slice_features(x: np.ndarray, prev: np.ndarray | None = None, nxt: np.ndarray | None = None) -> PatchFeatures:
    """Features of every 32-px window (16-px grid) of a 2D slice; with both neighbours, z features are added."""
    if x.ndim != 2:
        raise ValueError("slice_features expects a 2D slice")
    x = np.asarray(x, dtype=np.float32)
    ny, nx = x.shape[0] // CELL, x.shape[1] // CELL
    if ny < 2 or nx < 2:
        raise NotApplicable(f"image {x.shape} is smaller than one {WINDOW}x{WINDOW} patch")
    r1 = laplacian_residual(x)
    m1 = _moments(r1, CELL, ny, nx)
    x2 = _block_mean(x[: ny * CELL, : nx * CELL], 2)
    m2 = _moments(laplacian_residual(x2), CELL // 2, ny, nx)
    x4 = _block_mean(x[: ny * CELL, : nx * CELL], 4)
    m4 = _moments(laplacian_residual(x4), CELL // 4, ny, nx)
    n = float(WINDOW * WINDOW)
    mean = _windows(_cells(x, CELL, ny, nx)) / n
    xvar = np.maximum(_windows(_cells(x.astype(np.float64) ** 2, CELL, ny, nx)) / n - mean**2, 0.0)
    spec = _spectral(r1, ny, nx)
    cols = [
        0.5 * np.log(m1["var"] + EPS**2), m1["rho_h"], m1["rho_v"], m1["rho_lag2"],
        np.log((m1["m4"] + VAR_FLOOR**2) / (m1["var"] + VAR_FLOOR) ** 2), np.log(m1["flat"] + 1.0 / n),
        0.5 * np.log(m2["var"] + EPS**2), 0.5 * (m2["rho_h"] + m2["rho_v"]), 0.5 * np.log(m4["var"] + EPS**2),
        spec[..., 0], spec[..., 1], spec[..., 2], spec[..., 3],
        0.5 * np.log(xvar + EPS**2),
    ]
    if prev is not None and nxt is not None and prev.shape == x.shape == nxt.shape:
        rz = x - 0.5 * (np.asarray(prev, dtype=np.float32) + np.asarray(nxt, dtype=np.float32))
        mz = _windows(_cells(rz, CELL, ny, nx)) / n
        vz = np.maximum(_windows(_cells(rz.astype(np.float64) ** 2, CELL, ny, nx)) / n - mz**2, 0.0)
        cols += [0.5 * np.log(vz + EPS**2), np.log(_windows(_cells((rz == 0).astype(np.float32), CELL, ny, nx)) / n
                                                   + 1.0 / n)]
    values = np.stack(cols, axis=-1).astype(np.float32)
    return PatchFeatures(values=values, intensity=mean.astype(np.float32), shape=(int(x.shape[0]), int(x.shape[1])))


def windows_to_pixels(scores: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Spread per-window scores (ny-1, nx-1) back to a pixel map of ``shape``: each cell takes the mean
    of the (up to four) windows covering it; the uncovered right/bottom margin copies its neighbour."""
    wy, wx = scores.shape
    acc = np.zeros((wy + 1, wx + 1), dtype=np.float64)
    cnt = np.zeros_like(acc)
    for dy in (0, 1):
        for dx in (0, 1):
            acc[dy: dy + wy, dx: dx + wx] += scores
            cnt[dy: dy + wy, dx: dx + wx] += 1
    cells = (acc / cnt).astype(np.float32)
    full = np.repeat(np.repeat(cells, CELL, axis=0), CELL, axis=1)
    out = np.empty(shape, dtype=np.float32)
    h, w = min(full.shape[0], shape[0]), min(full.shape[1], shape[1])
    out[:h, :w] = full[:h, :w]
    if h < shape[0]:
        out[h:, :w] = full[h - 1: h, :w]
    if w < shape[1]:
        out[:, w:] = out[:, w - 1: w]
    return out
