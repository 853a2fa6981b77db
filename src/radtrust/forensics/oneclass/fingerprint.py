"""Radiography detector fingerprint: PRNU-like fixed-pattern noise (Chen, Fridrich, Goljan & Lukas 2008).

Model: a detector's output is ``I = I0 * (1 + K) + noise`` where K is the detector's fixed gain pattern, which flat-field
correction removes only in part. Given N images of one detector serial, the maximum-likelihood estimate is
``K = sum(W_i * I_i) / sum(I_i^2)`` with ``W_i`` the noise residual of image i (here the Laplacian-predictor residual);
row and column means are removed from K (Chen-Fridrich's zero-mean step against linear artefacts).

Localisation: in every 64x64 window, the normalised correlation ``rho`` between the test residual W and ``I * K`` is
compared with the correlation a genuine window *should* have, predicted from local intensity and texture by a linear
model fitted on the training images with cross-fitting (K from the even images predicts rho on the odd ones and vice
versa). Windows whose correlation falls far below the prediction lack the fingerprint: spliced, in-painted or
synthesised regions.

Validation status: the public data available here has no series of radiographs from one detector, so the estimator and
the localisation are tested on images carrying a *simulated* fixed pattern (see tests/forensics/oneclass). Real
detectors apply flat-field and often log transforms; the multiplicative model then holds only approximately.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from radtrust.forensics.oneclass.features import laplacian_residual

WINDOW = 64
GRID = 8  # subsampling of the correlation map when fitting the predictor


def serial_key(serial: str) -> str:
    """The model stores a SHA-256 of the detector serial, not the serial itself."""
    return hashlib.sha256(" ".join(serial.split()).encode("utf-8")).hexdigest()


def _zero_mean(k: np.ndarray) -> np.ndarray:
    k = k - k.mean(axis=1, keepdims=True)
    return k - k.mean(axis=0, keepdims=True)


def _local_stats(w: np.ndarray, t: np.ndarray, size: int = WINDOW) -> tuple[np.ndarray, ...]:
    f = lambda a: ndimage.uniform_filter(a, size=size, mode="reflect")  # noqa: E731
    mw, mt = f(w), f(t)
    vw = np.maximum(f(w * w) - mw * mw, 1e-12)
    vt = np.maximum(f(t * t) - mt * mt, 1e-12)
    rho = (f(w * t) - mw * mt) / np.sqrt(vw * vt)
    return rho, vw, vt


def correlation_map(pixels: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rho, predictor inputs) for one image and a fingerprint of the same shape."""
    x = np.asarray(pixels, dtype=np.float64)
    w = laplacian_residual(x)
    t = x * k
    rho, vw, vt = _local_stats(w, t)
    scale = float(np.median(x)) or 1.0
    mi = ndimage.uniform_filter(x, size=WINDOW, mode="reflect") / scale
    inputs = np.stack([np.ones_like(mi), mi, mi * mi, 0.5 * np.log(vw), 0.5 * np.log(vt)], axis=-1)
    return rho, inputs


class FingerprintEstimator:
    """Accumulates residual statistics of one detector serial (streaming: images are not kept)."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape
        self.num = [np.zeros(shape), np.zeros(shape)]  # even / odd images
        self.den = [np.zeros(shape), np.zeros(shape)]
        self.count = 0

    def add(self, pixels: np.ndarray) -> None:
        x = np.asarray(pixels, dtype=np.float64)
        if x.shape != self.shape:
            raise ValueError(f"image shape {x.shape} differs from the detector's {self.shape}")
        half = self.count % 2
        self.num[half] += laplacian_residual(x) * x
        self.den[half] += x * x
        self.count += 1

    def half(self, which: int) -> np.ndarray:
        return _zero_mean(self.num[which] / np.maximum(self.den[which], 1e-12))

    def estimate(self) -> np.ndarray:
        return _zero_mean((self.num[0] + self.num[1]) / np.maximum(self.den[0] + self.den[1], 1e-12))


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """One detector's fixed pattern and the predictor of genuine correlation."""

    key: str  # serial_key(serial)
    pattern: np.ndarray  # K, float32
    predictor: np.ndarray  # coefficients of the rho predictor
    residual_sd: float
    images: int

    @classmethod
    def fit(cls, key: str, est: FingerprintEstimator, images: Iterable[np.ndarray]) -> Fingerprint:
        """Estimate K and fit the predictor; ``images`` re-yields the training images in the order added."""
        halves = [est.half(0), est.half(1)]
        xs, ys = [], []
        for i, pixels in enumerate(images):
            rho, inputs = correlation_map(pixels, halves[1 - i % 2])  # K from the other half
            sl = (slice(WINDOW // 2, -WINDOW // 2, GRID),) * 2
            xs.append(inputs[sl].reshape(-1, inputs.shape[-1]))
            ys.append(rho[sl].reshape(-1))
        X, y = np.concatenate(xs), np.concatenate(ys)
        coef, *_ = np.linalg.lstsq(X, y, rcond=None)
        sd = max(float(np.std(y - X @ coef)), 1e-3)
        return cls(key, est.estimate().astype(np.float32), coef, sd, est.count)

    def localise(self, pixels: np.ndarray) -> tuple[np.ndarray, float]:
        """(z map, fraction of the image lacking the fingerprint): z = (predicted - measured) / sd."""
        rho, inputs = correlation_map(pixels, self.pattern.astype(np.float64))
        z = (inputs @ self.predictor - rho) / self.residual_sd
        # The predictor was fitted with half-data fingerprints; the full-data K correlates a little better, so
        # genuine windows sit slightly above their prediction and the 3-sd cut errs on the side of few false alarms.
        return z.astype(np.float32), float(np.mean(z > 3.0))

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}/pattern": self.pattern.astype(np.float32), f"{prefix}/predictor": self.predictor}

    def to_meta(self) -> dict[str, Any]:
        return {"serial_sha256": self.key, "shape": list(self.pattern.shape), "images": self.images,
                "residual_sd": self.residual_sd}

    @classmethod
    def from_parts(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], prefix: str) -> Fingerprint:
        pattern = np.asarray(arrays[f"{prefix}/pattern"], dtype=np.float32)
        if list(pattern.shape) != [int(s) for s in meta["shape"]]:
            raise ValueError("fingerprint pattern shape does not match its metadata")
        return cls(str(meta["serial_sha256"]), pattern, np.asarray(arrays[f"{prefix}/predictor"], dtype=np.float64),
                   float(meta["residual_sd"]), int(meta["images"]))
