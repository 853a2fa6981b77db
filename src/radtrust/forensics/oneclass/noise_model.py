"""The CT acquisition-to-noise model of one site: noise sigma as a function of kVp, mAs, kernel, thickness and HU.

Quantum noise in CT follows ``sigma ~ 1 / sqrt(dose)``; dose grows with mAs and slice thickness and roughly as
kVp^2.5, and the reconstruction kernel scales the noise by a kernel-specific factor (Hsieh, *Computed Tomography*,
3rd ed., ch. 11). In log form::

    log sigma = offset[HU band] + offset[kernel] + a * log(mAs) + b * log(kVp) + c * log(thickness)

The model is fitted on the site's authentic slices by ridge regression pulled towards the physical slopes
(a = -0.5, b = -1.25, c = -0.5), so a site whose scans all share one mAs or one thickness still gets a usable model
(its slopes stay at the physics values) while a site with varied protocols learns its own. Noise is measured per slice
as a low percentile of the local residual sigma among windows whose mean falls in each HU band (uniform regions
dominate the low percentiles). Residual sigma is the Laplacian-predictor residual of :mod:`.features`, not the
pixel sigma; the kernel offsets absorb the difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from radtrust.forensics.oneclass.features import PatchFeatures
from radtrust.io.image import Acquisition

BANDS: tuple[tuple[str, float, float], ...] = (("fat", -150.0, -50.0), ("soft tissue", -50.0, 100.0))
PRIOR_SLOPES = np.array([-0.5, -1.25, -0.5])  # log mAs, log kVp, log thickness
PRIOR_WEIGHT = 10.0
PERCENTILE = 20.0
MIN_WINDOWS = 8


def exposure_mas(acq: Acquisition) -> float | None:
    if acq.exposure_mas:
        return float(acq.exposure_mas)
    if acq.tube_current_ma and acq.exposure_time_ms:
        return float(acq.tube_current_ma) * float(acq.exposure_time_ms) / 1000.0
    return None


def covariates(acq: Acquisition, thickness: float | None) -> tuple[float, float, float, str] | None:
    """(log mAs, log kVp, log thickness, kernel), or None when a parameter is missing."""
    mas = exposure_mas(acq)
    if not (mas and acq.kvp and thickness and acq.kernel):
        return None
    if mas <= 0 or acq.kvp <= 0 or thickness <= 0:
        return None
    return float(np.log(mas)), float(np.log(acq.kvp)), float(np.log(thickness)), " ".join(str(acq.kernel).split())


def measure(features: PatchFeatures) -> dict[str, float]:
    """log residual sigma per HU band for one slice (bands with too few windows are absent)."""
    return measure_windows(*features.flat())


def measure_windows(values: np.ndarray, intensity: np.ndarray) -> dict[str, float]:
    """:func:`measure` on flattened window features (rows, d) and window means (rows,)."""
    out: dict[str, float] = {}
    for name, lo, hi in BANDS:
        sel = (intensity >= lo) & (intensity < hi)
        if int(sel.sum()) >= MIN_WINDOWS:
            out[name] = float(np.percentile(values[sel, 0], PERCENTILE))
    return out


@dataclass(frozen=True, eq=False)
class CTNoiseModel:
    kernels: tuple[str, ...]
    coef: np.ndarray  # [band offsets..., kernel offsets..., a, b, c]
    residual_sd: float
    n_slices: int
    ranges: dict[str, list[float]]  # observed mAs, kVp, thickness ranges

    @classmethod
    def fit(cls, rows: list[tuple[tuple[float, float, float, str], dict[str, float]]]) -> CTNoiseModel | None:
        """Fit on (covariates, measured bands) rows; None with fewer than 5 usable slices."""
        kernels = tuple(sorted({cov[3] for cov, _ in rows}))
        nb, nk = len(BANDS), len(kernels)
        X, y = [], []
        for cov, meas in rows:
            for bi, (band, _, _) in enumerate(BANDS):
                if band not in meas:
                    continue
                x = np.zeros(nb + nk + 3)
                x[bi] = 1.0
                x[nb + kernels.index(cov[3])] = 1.0
                x[nb + nk:] = cov[:3]
                X.append(x)
                y.append(meas[band])
        if len(y) < 5:
            return None
        Xa, ya = np.asarray(X), np.asarray(y)
        prior = np.zeros(nb + nk + 3)
        prior[nb + nk:] = PRIOR_SLOPES
        lam = np.zeros(nb + nk + 3)
        lam[:nb] = 1e-6
        lam[nb: nb + nk] = 1e-3  # kernel offsets relative to the band offsets
        lam[nb + nk:] = PRIOR_WEIGHT
        coef = np.linalg.solve(Xa.T @ Xa + np.diag(lam), Xa.T @ ya + lam * prior)
        resid = ya - Xa @ coef
        sd = max(float(np.sqrt(np.mean(resid**2))), 0.05)
        covs = np.asarray([cov[:3] for cov, _ in rows])
        ranges = {k: [float(np.exp(covs[:, i].min())), float(np.exp(covs[:, i].max()))]
                  for i, k in enumerate(("mAs", "kVp", "thickness_mm"))}
        return cls(kernels, coef, sd, len(rows), ranges)

    def predict(self, cov: tuple[float, float, float, str], band: str) -> float | None:
        if cov[3] not in self.kernels:
            return None
        nb = len(BANDS)
        bi = [b[0] for b in BANDS].index(band)
        return float(self.coef[bi] + self.coef[nb + self.kernels.index(cov[3])] + self.coef[-3:] @ np.asarray(cov[:3]))

    def check(self, acq: Acquisition, thickness: float | None, features: PatchFeatures) -> tuple[float, list[str]]:
        """(z, evidence): the largest |measured - predicted| / residual sd over bands, and what was compared."""
        cov = covariates(acq, thickness)
        if cov is None:
            return 0.0, ["noise model not applied: kVp, mAs (or mA and time), kernel or thickness missing"]
        if cov[3] not in self.kernels:
            return 0.0, [f"noise model not applied: kernel {cov[3]} was not in the training data"]
        meas = measure(features)
        worst, lines = 0.0, []
        for band, value in meas.items():
            pred = self.predict(cov, band)
            assert pred is not None
            z = (value - pred) / self.residual_sd
            if abs(z) > abs(worst):
                worst = z
            if abs(z) >= 3:
                lines.append(f"noise in {band} is {np.exp(value):.3g} (residual units) where kVp {np.exp(cov[1]):g}, "
                             f"mAs {np.exp(cov[0]):.4g}, kernel {cov[3]}, {np.exp(cov[2]):g} mm predict "
                             f"{np.exp(pred):.3g} (z = {z:+.1f})")
        return worst, lines

    def to_meta(self) -> dict[str, Any]:
        return {"kernels": list(self.kernels), "bands": [b[0] for b in BANDS], "residual_sd": self.residual_sd,
                "slices": self.n_slices, "ranges": self.ranges,
                "slopes": {"log_mAs": float(self.coef[-3]), "log_kVp": float(self.coef[-2]),
                           "log_thickness": float(self.coef[-1])}}

    @classmethod
    def from_parts(cls, meta: dict[str, Any], coef: np.ndarray) -> CTNoiseModel:
        kernels = tuple(str(k) for k in meta["kernels"])
        if coef.shape != (len(BANDS) + len(kernels) + 3,):
            raise ValueError("noise model coefficients do not match its kernels")
        return cls(kernels, np.asarray(coef, dtype=np.float64), float(meta["residual_sd"]), int(meta["slices"]),
                   {k: [float(v) for v in vals] for k, vals in meta["ranges"].items()})
