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
    """One Gaussian per (intensity, structure) bin over standardised features."""

    center: np.ndarray  # (d,) standardisation
    scale: np.ndarray  # (d,)
    edges: np.ndarray  # (B + 1,) intensity bin edges; outer edges are -inf/+inf
    means: np.ndarray  # (B * S, d)
    covs: np.ndarray  # (B * S, d, d)
    counts: np.ndarray  # (B * S,) training windows per bin
    structure_edges: np.ndarray  # (B, S + 1) per intensity bin, edges of the structure feature
    spread: np.ndarray  # (B * S, 2) median and 99th percentile of the training distances per bin
    structure_col: int = -1

    @classmethod
    def fit(cls, features: np.ndarray, intensity: np.ndarray, *, bins: int = 8, structure_bins: int = 1,
            structure_col: int = -1, reg: float = 0.01) -> BinnedGaussian:
        """Fit per intensity bin (quantiles), each split again into ``structure_bins`` quantiles of the
        feature ``structure_col`` (local texture strength), so flat and edge windows get their own Gaussian."""
        features = np.asarray(features, dtype=np.float64)
        n, d = features.shape
        if n < 2 * d:
            raise ValueError(f"need at least {2 * d} training windows, got {n}")
        center = features.mean(axis=0)
        scale = np.maximum(features.std(axis=0), 1e-3)
        z = (features - center) / scale
        inner = np.unique(np.quantile(intensity, np.linspace(0, 1, bins + 1)[1:-1]))
        edges = np.concatenate([[-np.inf], inner, [np.inf]])
        which_i = np.searchsorted(inner, intensity, side="right")
        sb = max(1, structure_bins)
        sedges = np.full((len(edges) - 1, sb + 1), np.inf)
        sedges[:, 0] = -np.inf
        for b in range(len(edges) - 1):
            col = features[which_i == b, structure_col]
            if sb > 1 and len(col) >= sb * MIN_PER_BIN_FACTOR * d:
                sedges[b, 1:-1] = np.quantile(col, np.linspace(0, 1, sb + 1)[1:-1])
        which = which_i * sb + _structure_bin(sedges, which_i, features[:, structure_col])
        pooled_mean = z.mean(axis=0)
        pooled_cov = np.cov(z, rowvar=False) + reg * np.eye(d)
        nb = (len(edges) - 1) * sb
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
        spread = np.zeros((nb, 2))
        model = cls(center, scale, edges, means, covs, counts, sedges, spread, structure_col)
        dist = model.distance(features, intensity)
        pooled = np.percentile(dist, [50, 99])
        for b in range(nb):
            db = dist[which == b]
            spread[b] = np.percentile(db, [50, 99]) if len(db) >= MIN_PER_BIN_FACTOR * d else pooled
        spread[:, 1] = np.maximum(spread[:, 1], spread[:, 0] + 1e-3)
        return model

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    def _whiteners(self) -> np.ndarray:
        cached = getattr(self, "_w", None)
        if cached is None:
            cached = np.stack([np.linalg.inv(np.linalg.cholesky(c)) for c in self.covs])
            object.__setattr__(self, "_w", cached)
        return cached

    def _bins(self, raw: np.ndarray, intensity: np.ndarray) -> np.ndarray:
        which_i = np.searchsorted(self.edges[1:-1], intensity, side="right")
        sb = self.structure_edges.shape[1] - 1
        return which_i * sb + _structure_bin(self.structure_edges, which_i, raw[:, self.structure_col])

    def score(self, features: np.ndarray, intensity: np.ndarray) -> np.ndarray:
        """Distances standardised per bin: 0 at the bin's training median, 1 at its 99th percentile."""
        which = self._bins(np.asarray(features, dtype=np.float64), intensity)
        d = self.distance(features, intensity)
        lo, hi = self.spread[which, 0], self.spread[which, 1]
        return (d - lo) / (hi - lo)

    def distance(self, features: np.ndarray, intensity: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of each row to the Gaussian of its (intensity, structure) bin."""
        z = np.clip((np.asarray(features, dtype=np.float64) - self.center) / self.scale, -50, 50)
        which = self._bins(np.asarray(features, dtype=np.float64), intensity)
        w = self._whiteners()
        out = np.empty(len(z))
        for b in np.unique(which):
            rows = which == b
            out[rows] = np.linalg.norm((z[rows] - self.means[b]) @ w[b].T, axis=1)
        return out

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}/{k}": getattr(self, k) for k in _ARRAYS}
        out[f"{prefix}/structure_col"] = np.array([self.structure_col], dtype=np.int64)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> BinnedGaussian:
        parts = {k: np.asarray(arrays[f"{prefix}/{k}"]) for k in _ARRAYS}
        col = int(np.asarray(arrays[f"{prefix}/structure_col"]).reshape(-1)[0])
        d = parts["center"].shape[0]
        nb = parts["means"].shape[0]
        ni = parts["edges"].shape[0] - 1
        se = parts["structure_edges"]
        if (parts["covs"].shape != (nb, d, d) or se.ndim != 2 or se.shape[0] != ni or ni * (se.shape[1] - 1) != nb
                or parts["scale"].shape != (d,) or parts["spread"].shape != (nb, 2) or not -d <= col < d):
            raise ValueError(f"inconsistent Gaussian arrays under {prefix}")
        return cls(**parts, structure_col=col)


_ARRAYS = ("center", "scale", "edges", "means", "covs", "counts", "structure_edges", "spread")


def _structure_bin(sedges: np.ndarray, which_i: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of each value among its intensity bin's structure edges."""
    inner = sedges[which_i, 1:-1]  # (n, S - 1)
    return (values[:, None] >= inner).sum(axis=1) if inner.shape[1] else np.zeros(len(values), dtype=np.int64)


def top_mean(distances: np.ndarray, fraction: float = 0.01, minimum: int = 3) -> float:
    """Image-level statistic: the mean of the largest ``fraction`` of window distances (tampering is local)."""
    flat = np.asarray(distances, dtype=np.float64).reshape(-1)
    k = min(len(flat), max(minimum, int(np.ceil(fraction * len(flat)))))
    return float(np.mean(np.partition(flat, len(flat) - k)[-k:]))
