"""Fusion: the detectors' scores become one calibrated probability, and their maps one heatmap.

Model (Platt-style logistic calibration, Platt 1999; stacked over detector outputs): every detector score
``s`` in [0, 1] is mapped to its log-odds ``z = logit(s)`` and the fused probability is
``sigmoid(b + sum_i w_i * z_i)``. Choices made for generalisation to tampering methods never seen in
training (the failure mode of every published detector, see ../shared/REFERENCE.md):

* **Non-negative weights.** A detector can only raise the score, never lower it; a method that fools
  every detector but one is still caught by that one. Detectors whose fitted weight would be negative
  are dropped from the fit (weight 0) and the fit is repeated.
* **Missing means neutral.** A detector that does not apply (``NaN``) contributes its median log-odds
  on authentic data, i.e. the value of an unremarkable image.
* **Balanced classes, L2 penalty.** The probability is calibrated for equal prior odds of tampered
  and authentic, whatever the mix of the calibration set.
* **A detector alone can decide.** Each detector also has a solo level: the (1 - fpr / 2) quantile of the
  scores it gave authentic calibration images, raised by the margin (the maximum, for some of the detectors
  with authentic rows above their quantile, when those rows would spend more than half the false-alarm budget).
  Above it that detector alone puts the image over the threshold (a max rule beside the weighted sum), so strong
  evidence of a method the fit never saw counts, and one odd authentic image cannot silence a detector.
* **Thresholds from a false-alarm rate.** ``threshold`` is the smallest probability that at most
  ``fpr`` of the authentic calibration rows exceed (default 1%), counting the rows already over a solo
  level; ``tampered_threshold`` is the same at ``fpr / 10``. Above ``threshold`` an image is *suspicious*,
  above ``tampered_threshold`` *tampered*.

The fused heatmap is the detectors' maps, each weighted by its push on the score, then smoothed in-plane by a Gaussian
of 1/128 of the image's longer side (:func:`smoothed`): the maps are block-wise estimates whose block-to-block
scatter is noise, and edits are regions, not pixels.

Detectors unknown to a fitted fusion are reported but not fused, unless the caller names them (a site model
the user asked for), in which case they join as calibrated evidence: weight 1 on their log-odds, neutral at 0.5.
A detector made after the fit joins a fitted fusion with :meth:`Fusion.joined` (at the weight floor, neutral at its
authentic median, with its own solo level; every other weight and the thresholds unchanged), as ``region-comb``
joined session 6's shipped fusion (``scripts/calibrate_fusion.py --join``).
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from radtrust.errors import InputError
from radtrust.forensics.residuals import bin2d

if TYPE_CHECKING:
    from radtrust.forensics.detectors.base import Finding

EPS = 0.01  # scores below 1% are all "nothing found": their log-odds must not spread authentic images apart
MARGIN = 1.0  # log-odds added to thresholds: detectors drift between calibration and use (versions, decoders)
FORMAT = "radtrust-fusion/1"
DEFAULT_RESOURCE = "fusion.json"


def logit(p: np.ndarray | float) -> np.ndarray:
    """Log-odds of probabilities clipped to [EPS, 1 - EPS]; NaN stays NaN."""
    p = np.clip(np.asarray(p, dtype=float), EPS, 1.0 - EPS)
    return np.log(p / (1.0 - p))


def sigmoid(z: np.ndarray | float) -> np.ndarray:
    z = np.asarray(z, dtype=float)
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def threshold_at_fpr(scores: np.ndarray, fpr: float) -> float:
    """The smallest threshold t with mean(scores > t) <= fpr (scores are authentic rows)."""
    s = np.sort(np.asarray(scores, dtype=float)[np.isfinite(scores)])
    if s.size == 0:
        raise ValueError("no authentic rows to set a threshold from")
    allowed = int(math.floor(fpr * s.size + 1e-9))  # rows allowed above the threshold
    return float(s[s.size - 1 - allowed]) if allowed < s.size else float(s[0])


def _fit_logistic(Z: np.ndarray, y: np.ndarray, sw: np.ndarray, l2: float, iters: int = 100) -> tuple[np.ndarray, float]:
    """Weighted L2-penalised logistic regression by Newton's method (IRLS). Returns (weights, bias)."""
    n, d = Z.shape
    X = np.hstack([Z, np.ones((n, 1))])
    w = np.zeros(d + 1)
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0
    for _ in range(iters):
        p = sigmoid(X @ w)
        g = X.T @ (sw * (p - y)) + penalty * w
        h = (X * (sw * p * (1 - p))[:, None]).T @ X + np.diag(penalty + 1e-9)
        step = np.linalg.solve(h, g)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return w[:-1], float(w[-1])


def _with_margin(threshold: float, margin: float) -> float:
    """The threshold moved up by ``margin`` log-odds (kept below 1)."""
    t = min(max(threshold, EPS), 1.0 - 1e-9)
    return float(min(sigmoid(math.log(t / (1.0 - t)) + margin), 1.0 - 1e-9))


_MAX_FALLBACK_SEARCH = 12  # detectors over their solo level among which the fallback set is searched (2^12 sets)


def _solo_level(scores: np.ndarray, fpr: float, margin: float, kind: str) -> float:
    """One detector's solo level from its authentic ``scores`` (NaN = did not apply): their (1 - fpr / 2) quantile
    (``kind`` "quantile") or maximum ("max") plus the margin, at least 0.5; NaN (no level) with fewer than 20
    scores or where the level would reach 1 - EPS."""
    a = scores[np.isfinite(scores)]
    if a.size < 20:
        return math.nan
    ref = float(a.max()) if kind == "max" else float(np.quantile(a, 1.0 - fpr / 2))
    t = max(_with_margin(ref, margin), 0.5)  # never below the detector's own even odds
    return t if t < 1.0 - EPS else math.nan


def _over(X: np.ndarray, solo: np.ndarray) -> np.ndarray:
    """Rows of X with any detector beyond its solo level (NaN levels and scores count as not beyond)."""
    with np.errstate(invalid="ignore"):
        return (np.isfinite(X) & np.isfinite(solo) & (X > np.nan_to_num(solo, nan=np.inf))).any(axis=1)


def verdict_thresholds(authentic: np.ndarray, fpr: float, margin: float) -> tuple[float, float]:
    """The ``suspicious`` and ``tampered`` thresholds: at most ``fpr`` (and ``fpr / 10``) of the ``authentic`` scores
    above each, moved up by ``margin`` log-odds."""
    t = _with_margin(threshold_at_fpr(authentic, fpr), margin)
    return t, max(t, _with_margin(threshold_at_fpr(authentic, fpr / 10.0), margin))


def _auc(score: np.ndarray, y: np.ndarray) -> float:
    """ROC AUC by ranks (Mann-Whitney), ties counted half."""
    from scipy.stats import rankdata

    pos, neg = int(y.sum()), int((1 - y).sum())
    if pos == 0 or neg == 0:
        return 0.5
    r = rankdata(score)
    return float((r[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


@dataclass
class Fusion:
    """A fitted (or default) fusion of named detectors. See the module docstring for the model."""

    names: tuple[str, ...]
    weights: np.ndarray
    bias: float = 0.0
    fill: np.ndarray | None = None  # log-odds used for a missing (NaN) detector
    threshold: float = 0.5
    tampered_threshold: float = 0.9
    fpr: float = 0.01
    info: dict[str, Any] = field(default_factory=dict)
    solo: np.ndarray | None = None  # per detector: a score no authentic image reached (NaN = none)

    def __post_init__(self) -> None:
        self.names = tuple(self.names)
        self.weights = np.asarray(self.weights, dtype=float).reshape(len(self.names))
        self.fill = np.zeros(len(self.names)) if self.fill is None else np.asarray(self.fill, float).reshape(len(self.names))
        self.solo = (np.full(len(self.names), np.nan) if self.solo is None
                     else np.asarray(self.solo, float).reshape(len(self.names)))

    # ----------------------------------------------------------------------------------------- construction
    @classmethod
    def default(cls, names: Sequence[str]) -> Fusion:
        """Uncalibrated fusion: each score taken as a calibrated probability (naive Bayes on log-odds)."""
        return cls(tuple(names), np.ones(len(names)), 0.0, np.zeros(len(names)), 0.5, 0.9, 0.01,
                   {"fitted": False, "note": "uncalibrated default: scores combined as independent log-odds"})

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, names: Sequence[str], *, fpr: float = 0.01,
            X_authentic: np.ndarray | None = None, l2: float = 1.0, min_weight: float = 0.25,
            margin: float = MARGIN) -> Fusion:
        """Fit weights on labelled rows and set thresholds from the authentic rows.

        Parameters
        ----------
        X : (n_samples, n_detectors) detector scores in [0, 1], NaN where a detector did not apply.
        y : (n_samples,) 0 authentic / 1 tampered.
        names : detector names, one per column.
        fpr : target false-alarm rate on authentic data for ``threshold``.
        X_authentic : extra authentic rows (same columns) used for the neutral fill and the thresholds
            only, e.g. every authentic image of a site.
        l2 : ridge penalty on the weights (log-odds units).
        min_weight : every detector that varies keeps at least this fraction of the largest weight, so a
            method that only one detector sees still raises the score when no training method exercised that
            detector (the leave-one-method-out case); the bias is refitted after the floor is applied.
        margin : log-odds added to both thresholds, so that small drifts of detector scores after
            calibration do not turn the rarest authentic images into false alarms.
        """
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float).ravel()
        names = tuple(names)
        if X.ndim != 2 or X.shape[1] != len(names) or X.shape[0] != y.shape[0]:
            raise ValueError(f"X must be (n, {len(names)}) with one label per row; got {X.shape} and {y.shape}")
        if not set(np.unique(y)) <= {0.0, 1.0} or y.min() == y.max():
            raise ValueError("y needs both classes, as 0 (authentic) and 1 (tampered)")
        auth = X[y == 0]
        if X_authentic is not None:
            auth = np.vstack([auth, np.asarray(X_authentic, dtype=float).reshape(-1, len(names))])
        Za = logit(auth)
        fill = np.array([np.nanmedian(Za[:, j]) if np.isfinite(Za[:, j]).any() else 0.0 for j in range(len(names))])
        Z = cls._impute(logit(X), fill)
        sw = np.where(y == 1, 0.5 / max(1, int(y.sum())), 0.5 / max(1, int((1 - y).sum()))) * len(y)
        active = np.array([np.isfinite(X[:, j]).any() and np.nanstd(X[:, j]) > 0 for j in range(len(names))])
        weights = np.zeros(len(names))
        bias = 0.0
        for _ in range(len(names) + 1):
            if not active.any():
                break
            w, bias = _fit_logistic(Z[:, active], y, sw, l2)
            if (w >= 0).all():
                weights[:] = 0.0
                weights[active] = w
                break
            idx = np.flatnonzero(active)
            active[idx[np.argmin(w)]] = False  # drop the most negative, refit
        if min_weight > 0 and weights.max() > 0:
            # The floor goes to every detector that varies and is not clearly inverted on the training rows
            # (univariate AUC >= 0.45): one that merely looked useless or slightly negative may be the only
            # one to see an unseen method.
            floor = np.array([np.nanstd(X[:, j]) > 0 and _auc(Z[:, j], y) >= 0.45 if np.isfinite(X[:, j]).any()
                              else False for j in range(len(names))])
            weights = np.where(floor, np.maximum(weights, min_weight * weights.max()), weights)
            scale, bias = _fit_logistic((Z @ weights)[:, None], y, sw, 0.0)  # Platt scaling of the floored sum
            weights = weights * max(float(scale[0]), 1e-6)
        solo, over = cls._solo_levels(auth, fpr, margin, X[y == 1])
        fusion = cls(names, weights, bias, fill, 0.5, 0.9, fpr, solo=solo)
        # the false-alarm budget is shared: authentic rows over a solo level already spend part of it
        p_auth = fusion._fused(auth)
        rest = p_auth[~over]
        budget = max(fpr * auth.shape[0] - int(over.sum()), 0.0) / max(rest.size, 1)
        fusion.threshold, fusion.tampered_threshold = verdict_thresholds(rest, budget, margin)
        fusion.info = {"fitted": True, "n_tampered": int(y.sum()), "n_authentic_fit": int((1 - y).sum()),
                       "n_authentic_threshold": int(auth.shape[0]), "l2": l2, "margin": margin,
                       "min_weight": min_weight,
                       "authentic_probabilities": [round(float(v), 6) for v in np.sort(p_auth)]}
        return fusion

    def joined(self, name: str, authentic: np.ndarray, *, min_weight: float = 0.25) -> Fusion:
        """This fusion with one more detector, leaving every fitted weight and threshold as it is.

        For a detector made after the fit: it joins at the weight floor that :meth:`fit` gives a detector the
        training methods never exercised (``min_weight`` of the largest weight), its neutral fill and solo level
        from its scores on authentic images (``authentic``, NaN where it did not apply) as :meth:`fit` sets them.
        Authentic scores at or under the fill push nothing, so the authentic probabilities and the thresholds
        set on them hold while the new detector stays as quiet on them; the caller checks that it does.
        """
        if name in self.names:
            raise ValueError(f"{name!r} is already in this fusion")
        scores = np.asarray(authentic, dtype=float).reshape(-1, 1)
        seen = np.isfinite(scores)
        fill = float(np.median(logit(scores[seen]))) if seen.any() else 0.0
        solo, _ = self._solo_levels(scores, self.fpr, float(self.info.get("margin", MARGIN)))
        weight = min_weight * float(self.weights.max()) if self.weights.size else 1.0
        info = dict(self.info)
        info["joined"] = [*info.get("joined", []),
                          {"name": name, "weight": round(weight, 6), "authentic_scores": int(seen.sum()),
                           "authentic_max": round(float(scores[seen].max()), 6) if seen.any() else None}]
        # the bias takes back the new term at its fill, so an unremarkable image (or one it does not apply to) keeps
        # the probability it had
        return replace(self, names=(*self.names, name), weights=np.append(self.weights, weight),
                       bias=self.bias - weight * fill, fill=np.append(self.fill, fill),
                       solo=np.append(self.solo, solo[0]), info=info)

    def without(self, name: str) -> Fusion:
        """This fusion without a detector :meth:`joined` to it (its share of the bias returned), to join it again
        with new scores. Fitted detectors are not removed this way: that needs a refit."""
        joined = [e for e in self.info.get("joined", []) if e.get("name") == name]
        if name not in self.names or not joined:
            raise ValueError(f"{name!r} was not joined to this fusion")
        j = self.names.index(name)
        keep = [i for i in range(len(self.names)) if i != j]
        info = dict(self.info)
        info["joined"] = [e for e in info["joined"] if e.get("name") != name]
        return replace(self, names=tuple(self.names[i] for i in keep), weights=self.weights[keep],
                       bias=self.bias + float(self.weights[j] * self.fill[j]), fill=self.fill[keep],
                       solo=self.solo[keep], info=info)

    @staticmethod
    def _solo_levels(auth: np.ndarray, fpr: float, margin: float,
                     tampered: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per detector, the authentic (1 - fpr / 2) quantile plus the margin (at least 0.5), and which authentic
        rows exceed any of them. Quantiles rather than maxima, so one odd authentic image (an annotated
        picture, say) does not silence a detector for everything else. When the rows over the solo levels
        would spend more than half the false-alarm budget, some of the detectors with authentic rows over their
        level fall back to their authentic maximum (no level, where the maximum leaves no room): the set that
        brings the rows within half the budget and keeps the most ``tampered`` rows over a level (then the
        smallest set). Only the detectors that spend the budget give up their level."""
        n, d = auth.shape
        quantile = np.array([_solo_level(auth[:, j], fpr, margin, "quantile") for j in range(d)])
        maximum = np.array([_solo_level(auth[:, j], fpr, margin, "max") for j in range(d)])
        spending = [j for j in range(d) if _over(auth[:, [j]], quantile[[j]]).any()]
        if len(spending) > _MAX_FALLBACK_SEARCH:  # too many to choose among: all of them fall back
            sets: Sequence[tuple[int, ...]] = [tuple(spending)]
        else:
            sets = [s for k in range(len(spending) + 1) for s in itertools.combinations(spending, k)]
        best: tuple[tuple[int, int], np.ndarray, np.ndarray] | None = None
        for fallen in sets:
            solo = quantile.copy()
            solo[list(fallen)] = maximum[list(fallen)]
            over = _over(auth, solo)
            if over.sum() > fpr * n / 2:
                continue
            kept = int(_over(tampered, solo).sum()) if tampered is not None and tampered.size else 0
            if best is None or (kept, -len(fallen)) > best[0]:
                best = ((kept, -len(fallen)), solo, over)
        assert best is not None  # all of them falling back always qualifies: no authentic row is over its maximum
        return best[1], best[2]

    @staticmethod
    def _impute(Z: np.ndarray, fill: np.ndarray) -> np.ndarray:
        Z = np.array(Z, dtype=float, copy=True)
        bad = ~np.isfinite(Z)
        if bad.any():
            Z[bad] = np.broadcast_to(fill, Z.shape)[bad]
        return Z

    # ----------------------------------------------------------------------------------------- scoring
    def probability(self, X: np.ndarray) -> np.ndarray:
        """Calibrated tamper probability per row of X (columns in ``self.names`` order, NaN = missing)."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        return np.maximum(self._fused(X), self._solo_probability(X))

    def _fused(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, dtype=float))
        return sigmoid(self.bias + self._impute(logit(X), self.fill) @ self.weights)

    def _solo_probability(self, X: np.ndarray) -> np.ndarray:
        """Single-detector evidence on the fused scale: a detector at its solo level maps to ``threshold``.

        The solo level is a high quantile of the scores the detector gave authentic calibration images (see
        :meth:`_solo_levels`), raised by the margin (and at least 0.5); above it, that detector alone makes the
        image suspicious (the max rule that carries evidence of a method no other detector sees). Below it, and
        for missing detectors or detectors without a solo level,
        it contributes 0, so the ranking of unremarkable images is the weighted sum's.
        """
        out = np.zeros(X.shape[0])
        ok = np.isfinite(self.solo)
        if not ok.any():
            return out
        t = min(max(self.threshold, EPS), 1 - 1e-9)
        z = math.log(t / (1 - t)) + (logit(X[:, ok]) - logit(self.solo[ok]))
        z = np.where(np.isfinite(X[:, ok]) & (X[:, ok] > self.solo[ok]), z, -np.inf)  # only beyond the solo level
        return sigmoid(z.max(axis=1))

    def vector(self, scores: Mapping[str, float]) -> np.ndarray:
        """One row in ``names`` order from a {detector: score} mapping (absent = NaN)."""
        return np.array([float(scores.get(n, math.nan)) for n in self.names], dtype=float)

    def score(self, scores: Mapping[str, float], extra: Sequence[str] = ()) -> float:
        """Probability for one image from {detector: score}.

        Detectors this fusion was not fitted on are ignored (an uncalibrated detector must not raise false
        alarms), except those named in ``extra`` (e.g. a site model the user asked for), which join as
        calibrated log-odds: weight 1, neutral at 0.5.
        """
        row = self.vector(scores)
        z = self.bias + float(self._impute(logit(row), self.fill) @ self.weights)
        known = set(self.names)
        for name in extra:
            s = scores.get(name)
            if name not in known and s is not None and math.isfinite(s):
                z += float(logit(s))
        return float(max(sigmoid(z), self._solo_probability(row[None, :])[0]))

    def contributions(self, scores: Mapping[str, float], extra: Sequence[str] = ()) -> dict[str, float]:
        """Each detector's push on the log-odds relative to an unremarkable image (for evidence and maps)."""
        out: dict[str, float] = {}
        for j, name in enumerate(self.names):
            s = scores.get(name)
            if s is not None and math.isfinite(s):
                out[name] = float(self.weights[j] * (logit(s) - self.fill[j]))
        for name in extra:
            s = scores.get(name)
            if name not in out and s is not None and math.isfinite(s):
                out[name] = float(logit(s))
        return out

    def verdict(self, probability: float) -> str:
        if probability > self.tampered_threshold:
            return "tampered"
        if probability > self.threshold:
            return "suspicious"
        return "authentic"

    def with_threshold_for(self, fpr: float) -> Fusion:
        """The same fusion with thresholds for another false-alarm rate (needs stored authentic scores)."""
        if fpr == self.fpr:
            return self
        auth = self.info.get("authentic_probabilities")
        if not auth:
            raise ValueError("this fusion keeps no authentic scores; refit it to change --fpr")
        t, tt = verdict_thresholds(np.asarray(auth, dtype=float), fpr, float(self.info.get("margin", 0.0)))
        return replace(self, threshold=t, tampered_threshold=tt, fpr=fpr, info=dict(self.info))

    # ----------------------------------------------------------------------------------------- persistence
    def to_json(self) -> str:
        return json.dumps({
            "format": FORMAT, "names": list(self.names), "weights": [round(float(w), 6) for w in self.weights],
            "bias": round(self.bias, 6), "fill": [round(float(f), 6) for f in self.fill],
            "threshold": self.threshold, "tampered_threshold": self.tampered_threshold, "fpr": self.fpr,
            "solo": [None if not np.isfinite(v) else round(float(v), 6) for v in self.solo],
            "info": self.info,
        }, indent=1, sort_keys=False)

    @classmethod
    def from_json(cls, text: str) -> Fusion:
        d = json.loads(text)
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} document")
        if not isinstance(d["names"], list) or not all(isinstance(n, str) for n in d["names"]):
            raise ValueError("'names' is not a list of detector names")
        return cls(tuple(d["names"]), np.asarray(d["weights"], float), float(d["bias"]), np.asarray(d["fill"], float),
                   float(d["threshold"]), float(d["tampered_threshold"]), float(d["fpr"]), dict(d.get("info", {})),
                   np.array([np.nan if v is None else float(v) for v in d.get("solo") or [None] * len(d["names"])]))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically (temp file in the same folder, then rename)."""
        from radtrust.io.atomic import write_atomic

        write_atomic(path, self.to_json() + "\n", chmod=0o644)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Fusion:
        """Load a fusion file; without a path, the one shipped in ``radtrust/data/fusion.json``."""
        try:
            if path is None:
                text = resources.files("radtrust.data").joinpath(DEFAULT_RESOURCE).read_text()
            else:
                from radtrust.io.files import read_side_file

                text = read_side_file(path).decode("utf-8")
            return cls.from_json(text)
        except InputError:
            raise
        except RecursionError:
            raise InputError("cannot read fusion parameters: nested too deeply", path or DEFAULT_RESOURCE) from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"cannot read fusion parameters: {exc}", path or DEFAULT_RESOURCE) from None


def shipped_fusion(names: Sequence[str] = ()) -> Fusion:
    """The shipped calibrated fusion, or the uncalibrated default over ``names`` when none is shipped."""
    try:
        return Fusion.load()
    except InputError:
        return Fusion.default(names)


def _normalised(heat: np.ndarray) -> np.ndarray:
    """The map in [0, 1] (NaN 0, +inf 1, scaled down when it exceeds 1); the map itself when it already is."""
    h = np.asarray(heat, dtype=np.float32)
    if not h.size:
        return h
    top, low = float(h.max()), float(h.min())  # NaN and infinities show in the extremes: no full-size test needed
    if not (math.isfinite(top) and math.isfinite(low)):
        h = np.nan_to_num(h, nan=0.0, posinf=1.0, neginf=0.0)
        top, low = float(h.max()), float(h.min())
    if top > 1.0:
        h = h / np.float32(top)
    return h if low >= 0.0 else np.clip(h, 0.0, 1.0)


def fuse_heatmaps(findings: Mapping[str, Finding], fusion: Fusion, shape: tuple[int, ...] | None = None,
                  extra: Sequence[str] = ()) -> np.ndarray | None:
    """One map from the detectors' maps, each clipped to [0, 1], weighted by its push on the fused score, then smoothed.

    A detector with a map but no push (a score no higher than on authentic images) still contributes with a
    small weight, so the map is informative on images that are not flagged. Returns None when no detector
    produced a map of the expected shape.
    """
    scores = {n: f.score for n, f in findings.items()}
    push = fusion.contributions(scores, extra)
    acc: np.ndarray | None = None
    term: np.ndarray | None = None  # each weighted map in turn, in one buffer
    total = 0.0
    fused = set(fusion.names) | set(extra)
    for name, f in findings.items():
        if name not in fused or f.heatmap is None or (shape is not None and tuple(f.heatmap.shape) != tuple(shape)):
            continue
        weight = np.float32(0.05 + max(0.0, push.get(name, 0.0)))
        h = _normalised(f.heatmap)
        if acc is None:
            acc = h * weight
        else:
            if term is None or term.shape != acc.shape:
                term = np.empty_like(acc)
            np.multiply(h, weight, out=term)
            acc += term
        total += float(weight)
    if acc is None:
        return None
    acc *= np.float32(1.0 / total)
    return smoothed(acc)


SMOOTHING = 1 / 128  # Gaussian sigma as a fraction of the longer side (pixel AUC measured in docs/verdict.md)


def smoothed(heat: np.ndarray) -> np.ndarray:
    """``heat`` blurred over its last two axes by a Gaussian of sigma ``SMOOTHING`` times the longer side.

    Computed on block means of ``k`` x ``k`` pixels (``k`` half the sigma, so each block is well inside the kernel)
    and expanded back by repetition: 9 ms for a 2,048 x 2,048 map where a full-resolution Gaussian takes 0.3 s.
    """
    h, w = heat.shape[-2:]
    sigma = max(h, w) * SMOOTHING
    if not heat.size or sigma < 0.5:
        return heat.astype(np.float32, copy=False)
    from scipy import ndimage

    k = max(1, int(sigma // 2))
    lead = heat.shape[:-2]
    ph, pw = -h % k, -w % k
    padded = np.pad(heat, [(0, 0)] * len(lead) + [(0, ph), (0, pw)], mode="edge") if ph or pw else heat
    small = bin2d(padded, k)
    small = ndimage.gaussian_filter(small, (0,) * len(lead) + (sigma / k, sigma / k), mode="nearest")
    if k > 1:
        small = np.repeat(np.repeat(small, k, axis=-1), k, axis=-2)[..., :h, :w]
    return np.ascontiguousarray(small, dtype=np.float32)
