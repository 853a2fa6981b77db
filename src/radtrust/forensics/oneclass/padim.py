"""PaDiM-style Gaussian patch model (Defard et al., ICPR 2020), conditioned on intensity instead of position.

PaDiM fits one multivariate Gaussian per patch *position* of aligned images and scores a test patch by its
Mahalanobis distance. Medical images of one site are not aligned, but their noise depends strongly on the local
intensity (HU for CT, dose for radiographs), so here one Gaussian is fitted per *intensity bin* (quantiles of the
training windows' mean). Covariances are regularised (``+ reg * I`` on standardised features), as in PaDiM.

Only means, covariances, bin edges and counts are kept: statistics, never pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_PER_BIN_FACTOR = 4  # a bin needs at least 4 * d windows, else it falls back to the pooled Gaussian


@dataclass(frozen=True, eq=False)
class BinnedGaussian:
    """One Gaussian per intensity bin over standardised features."""

    center: np.ndarray  # (d,) standardisation
    scale: np.ndarray  # (d,)
    edges: np.ndarray  # (B + 1,) intensity bin edges; outer edges are -inf/+inf
    means: np.ndarray  # (B, d)
    covs: np.ndarray  # (B, d, d)
    counts: np.ndarray  # (B,) training windows per bin

    @classmethod
    def fit(cls, features: np.ndarray, intensity: np.ndarray, *, bins: int = 8, reg: float = 0.01) -> BinnedGaussian:
        features = np.asarray(features, dtype=np.float64)
        n, d = features.shape
        if n < 2 * d:
            raise ValueError(f"need at least {2 * d} training windows, got {n}")
        center = features.mean(axis=0)
        scale = np.maximum(features.std(axis=0), 1e-3)
        z = (features - center) / scale
        inner = np.unique(np.quantile(intensity, np.linspace(0, 1, bins + 1)[1:-1]))
        edges = np.concatenate([[-np.inf], inner, [np.inf]])
        which = np.searchsorted(inner, intensity, side="right")
        pooled_mean = z.mean(axis=0)
        pooled_cov = np.cov(z, rowvar=False) + reg * np.eye(d)
        nb = len(edges) - 1
        means = np.empty((nb, d))
        covs = np.empty((nb, d, d))
        counts = np.zeros(nb, dtype=np.int64)
        for b in range(nb):
            zb = z[which == b]
            counts[b] = len(zb)
            if len(zb) >= MIN_PER_BIN_FACTOR * d:
                means[b] = zb.mean(axis=0)
                covs[b] = np.cov(zb, rowvar=False) + reg * np.eye(d)
            else:
                means[b], covs[b] = pooled_mean, pooled_cov
        return cls(center, scale, edges, means, covs, counts)

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    def _whiteners(self) -> np.ndarray:
        cached = getattr(self, "_w", None)
        if cached is None:
            cached = np.stack([np.linalg.inv(np.linalg.cholesky(c)) for c in self.covs])
            object.__setattr__(self, "_w", cached)
        return cached

    def distance(self, features: np.ndarray, intensity: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of each row to the Gaussian of its intensity bin."""
        z = np.clip((np.asarray(features, dtype=np.float64) - self.center) / self.scale, -50, 50)
        which = np.searchsorted(self.edges[1:-1], intensity, side="right")
        w = self._whiteners()
        out = np.empty(len(z))
        for b in np.unique(which):
            rows = which == b
            out[rows] = np.linalg.norm((z[rows] - self.means[b]) @ w[b].T, axis=1)
        return out

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}/{k}": getattr(self, k) for k in ("center", "scale", "edges", "means", "covs", "counts")}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> BinnedGaussian:
        parts = {k: np.asarray(arrays[f"{prefix}/{k}"]) for k in ("center", "scale", "edges", "means", "covs", "counts")}
        d = parts["center"].shape[0]
        nb = parts["means"].shape[0]
        if parts["covs"].shape != (nb, d, d) or parts["edges"].shape != (nb + 1,) or parts["scale"].shape != (d,):
            raise ValueError(f"inconsistent Gaussian arrays under {prefix}")
        return cls(**parts)


def top_mean(distances: np.ndarray, fraction: float = 0.01, minimum: int = 3) -> float:
    """Image-level statistic: the mean of the largest ``fraction`` of window distances (tampering is local)."""
    flat = np.asarray(distances, dtype=np.float64).reshape(-1)
    k = min(len(flat), max(minimum, int(np.ceil(fraction * len(flat)))))
    return float(np.mean(np.partition(flat, len(flat) - k)[-k:]))
