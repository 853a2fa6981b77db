"""CT noise in uniform tissue against the acquisition parameters: measurement, model, fit.

Physics (e.g. Hsieh, *Computed Tomography*, ch. 5; Kalender, *Computed Tomography*): quantum noise in a
reconstructed slice scales as ``sigma ∝ 1 / sqrt(mAs * T)`` for slice thickness ``T``, falls with tube voltage
roughly as ``kVp^-1.5`` at fixed mAs, and grows with the sharpness of the reconstruction kernel. The model
keeps those exponents fixed and fits only what the authentic data can pin down: one intercept per kernel
class and the spread of the residuals, which sets the tolerance::

    log(sigma) = a[kernel class] - 0.5 * log(mAs * T) - 1.5 * log(kVp / 120)

Fitted by ``python scripts/fit_ct_noise_model.py ../shared/data/ct`` and shipped as
``radtrust/data/ct_noise_model.json``. Patient size changes noise too (no header field records it), so the
tolerance is wide: the check catches gross disagreement (a changed mAs, a denoised or re-noised image), not
subtle drift.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from radtrust.forensics.residuals import bin2d, erode_cross, local_range, repeat_blocks

RESOURCE = "ct_noise_model.json"
SHARP = re.compile(r"^(B[6-9]\d|H[6-9]\d|I[6-9]\d|U[6-9]\d|BR[6-9]\d|Q[6-9]\d)|BONE|LUNG|EDGE|SHARP|DETAIL|^YC|^YD|^L$|^D$|^E$",
                   re.IGNORECASE)
SMOOTH = re.compile(r"^(B[1-2]\d|H[1-2]\d|I[1-2]\d|BR[1-2]\d|Q[1-2]\d)|SOFT|SMOOTH|^A$|^UA$", re.IGNORECASE)


def kernel_class(kernel: str | None) -> str:
    """``smooth`` | ``standard`` | ``sharp`` from a vendor kernel name (Siemens Br38f, GE BONE, Philips YC...)."""
    k = (kernel or "").split("\\")[0].strip()
    if SHARP.search(k):
        return "sharp"
    if SMOOTH.search(k):
        return "smooth"
    return "standard"


def uniform_noise_sigma(hu: np.ndarray, lo: float = -150.0, hi: float = 150.0) -> tuple[float, int]:
    """Noise sigma (HU) in uniform soft tissue/water: robust std of a high-pass residual in flat areas.

    The residual is the image minus its 3x3 mean scaled by sqrt(9/8) (unit gain for white noise); flat
    areas are found on the 2x2-binned image: mean within (lo, hi) and a 4x4 range of its 3x3 mean below
    60 HU. Returns (sigma, pixels used).
    """
    x = np.asarray(hu, dtype=np.float32)
    binned = bin2d(x, 2)  # the 2x2 mean, by the shared faster route (same values)
    smooth = ndi.uniform_filter(binned, 3)
    rng = local_range(smooth, 4)
    small = erode_cross((smooth > lo) & (smooth < hi) & (rng < 60.0))
    mask = repeat_blocks(small, 2, x.shape, False)
    n = int(mask.sum())
    if n < 500:
        return math.nan, n
    resid = (x - ndi.uniform_filter(x, 3)) * math.sqrt(9.0 / 8.0)
    r = resid[mask][::3]  # every third flat pixel: thousands of samples still pin the MAD down
    sigma = 1.4826 * float(np.median(np.abs(r - np.median(r))))
    return sigma, n


@dataclass
class NoiseModel:
    """Fitted intercepts per kernel class and the log tolerance (see module docstring)."""

    intercepts: dict[str, float]
    tolerance: float
    info: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def features(acq: Any, thickness: float | None) -> tuple[float, str] | None:
        """(log of the physics part, kernel class), or None when mAs, kVp or thickness is missing."""
        mas = acq.exposure_mas
        if mas is None and acq.tube_current_ma and acq.exposure_time_ms:
            mas = acq.tube_current_ma * acq.exposure_time_ms / 1000.0
        if not mas or not acq.kvp or not thickness or mas <= 0 or thickness <= 0 or acq.kvp <= 0:
            return None
        return -0.5 * math.log(mas * thickness) - 1.5 * math.log(acq.kvp / 120.0), kernel_class(acq.kernel)

    def predict(self, acq: Any, thickness: float | None) -> float | None:
        f = self.features(acq, thickness)
        if f is None:
            return None
        base, kclass = f
        a = self.intercepts.get(kclass)
        if a is None:  # classes the data did not cover: literature ratio to the standard kernel
            a = self.intercepts["standard"] + {"smooth": math.log(0.8), "sharp": math.log(2.5)}.get(kclass, 0.0)
        return math.exp(a + base)

    @classmethod
    def fit(cls, rows: Iterable[tuple[float, float, str]], margin: float = math.log(1.5)) -> NoiseModel:
        """Fit from (measured sigma, physics log-part, kernel class) rows of authentic slices."""
        by: dict[str, list[float]] = {}
        for sigma, base, kclass in rows:
            if math.isfinite(sigma) and sigma > 0:
                by.setdefault(kclass, []).append(math.log(sigma) - base)
        if "standard" not in by:
            raise ValueError("no authentic standard-kernel slices with mAs, kVp and thickness to fit on")
        intercepts = {k: float(np.median(v)) for k, v in by.items()}
        resid = [abs(x - intercepts[k]) for k, v in by.items() for x in v]
        tol = float(np.max(resid)) + margin
        return cls(intercepts, tol, {"n": len(resid), "max_abs_log_residual": float(np.max(resid)),
                                     "margin": margin, "per_class": {k: len(v) for k, v in by.items()}})

    def to_json(self) -> str:
        return json.dumps({"format": "radtrust-ct-noise/1", "intercepts": self.intercepts,
                           "tolerance": self.tolerance, "info": self.info}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> NoiseModel:
        d = json.loads(text)
        return cls(dict(d["intercepts"]), float(d["tolerance"]), dict(d.get("info", {})))

    @classmethod
    def shipped(cls) -> NoiseModel | None:
        try:
            return cls.from_json(resources.files("radtrust.data").joinpath(RESOURCE).read_text())
        except (OSError, ValueError, KeyError):
            return None
