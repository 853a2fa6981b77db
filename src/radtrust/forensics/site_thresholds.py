"""Verdict thresholds for a site: the shipped fusion's weights, thresholds set on the site's own authentic scores.

The shipped thresholds hold the false-alarm rate on the development images. A site measures its own rate on its own
authentic images (``radtrust calibrate``): the scores of every instance and series there, the share the current
threshold flags, and a fusion whose thresholds are the site's (1 - fpr) and (1 - fpr / 10) quantiles moved up by a
margin in log-odds, as :meth:`~radtrust.forensics.fusion.Fusion.fit` sets the shipped ones. The weights, fills and
solo levels stay: they were fitted on simulated edits the site does not have.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from radtrust.forensics.fusion import MARGIN, Fusion, verdict_thresholds


@dataclass(frozen=True)
class SiteCalibration:
    fusion: Fusion
    count: int
    base_threshold: float
    base_flagged: int  # of ``count`` scores above the base fusion's suspicious threshold

    def describe(self) -> str:
        f = self.fusion
        above = int(np.sum(np.asarray(f.info["authentic_probabilities"]) > f.threshold))
        return (f"{self.count} authentic scores (instances and series): the current threshold {self.base_threshold:.4f} "
                f"flags {self.base_flagged} ({100 * self.base_flagged / self.count:.2f}%); for --fpr {f.fpr:g} the "
                f"suspicious threshold is {f.threshold:.4f} (flags {above}, {100 * above / self.count:.2f}%) and the "
                f"tampered one {f.tampered_threshold:.4f}")


def site_fusion(base: Fusion, scores: Sequence[float], fpr: float, margin: float | None = None, *,
                model: str | None = None) -> SiteCalibration:
    """``base`` with thresholds for ``fpr`` on these authentic ``scores`` (its own margin unless ``margin``)."""
    p = np.asarray(scores, dtype=float)
    if p.size == 0 or not np.all(np.isfinite(p)):
        raise ValueError("site calibration needs finite authentic scores")
    m = float(base.info.get("margin", MARGIN)) if margin is None else float(margin)
    t, tt = verdict_thresholds(p, fpr, m)
    info = {k: v for k, v in base.info.items() if k != "authentic_probabilities"}
    info.update(margin=m, authentic_probabilities=[round(float(v), 6) for v in np.sort(p)],
                site_calibration={"scores": int(p.size), "fpr": fpr, "margin": m, "site_model": model is not None,
                                  "base_threshold": base.threshold,
                                  "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})
    fused = dataclasses.replace(base, threshold=t, tampered_threshold=tt, fpr=fpr, info=info)
    return SiteCalibration(fused, int(p.size), base.threshold, int(np.sum(p > base.threshold)))
