"""The site model: what is normal at one site, learned from authentic images only.

Three parts, each a statistic of the site's authentic data:

* per scanner/protocol group, PaDiM-style Gaussians (:mod:`.padim`) over multi-scale noise-residual and spectral
  window features (:mod:`.features`): one set for single slices (2D) and, when series were given, one with the
  residual along z (3D);
* the CT acquisition-to-noise model (:mod:`.noise_model`);
* radiography detector fingerprints (:mod:`.fingerprint`), one per detector serial with enough images;
* the site's identifier conventions (:mod:`.conventions`): the shapes of its patient IDs and names, never values.

Scores follow one convention: 0.5 means "nothing unusual" (at or below the median of the site's authentic images),
rising towards 1 as the image departs from them, so the site model can only add evidence to the fusion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import ndtri

from radtrust.errors import NotApplicable
from radtrust.forensics.detectors.base import Finding
from radtrust.forensics.oneclass import model_file
from radtrust.forensics.oneclass.conventions import Conventions
from radtrust.forensics.oneclass.features import (FEATURES_2D, FEATURES_Z, PatchFeatures, slice_features,
                                                windows_to_pixels)
from radtrust.forensics.oneclass.fingerprint import Fingerprint, serial_key
from radtrust.forensics.oneclass.groups import group_key
from radtrust.forensics.oneclass.noise_model import CTNoiseModel
from radtrust.forensics.oneclass.padim import BinnedGaussian, top_mean
from radtrust.io import Image, Series

FEATURE_SET = "residual-spectral/1"
D2 = len(FEATURES_2D)


def _rise(t: float) -> float:
    """0.5 at t <= 0 (the training median), about 0.9 at t = 1 (the training 99th percentile), towards 1 beyond."""
    return float(0.5 + 0.5 * np.tanh(1.1 * max(0.0, t)))


@dataclass(frozen=True, eq=False)
class Calibration:
    """Distribution of authentic scores (cross-fitted when the group has enough images)."""

    image_q50: float
    image_q99: float
    window_q50: float
    window_q99: float
    image_mean: float
    image_sd: float

    @classmethod
    def from_scores(cls, image_stats: np.ndarray, window_d: np.ndarray) -> Calibration:
        iq50, iq99 = np.percentile(image_stats, [50, 99])
        wq50, wq99 = np.percentile(window_d, [50, 99])
        return cls(float(iq50), float(max(iq99, iq50 + 1e-3)), float(wq50), float(max(wq99, wq50 + 1e-3)),
                   float(np.mean(image_stats)), float(max(np.std(image_stats), 1e-3)))

    def image_score(self, stat: float) -> float:
        return _rise((stat - self.image_q50) / (self.image_q99 - self.image_q50))

    def series_score(self, worst_stat: float, n: int) -> float:
        """Score of the largest of ``n`` slice statistics: the median and 99th percentile of the maximum of n
        authentic slices (normal approximation, F_max = F^n), so long series do not raise false alarms."""
        if n <= 1:
            return self.image_score(worst_stat)
        q50 = self.image_mean + self.image_sd * float(ndtri(0.5 ** (1.0 / n)))
        q99 = self.image_mean + self.image_sd * float(ndtri(0.99 ** (1.0 / n)))
        return _rise((worst_stat - q50) / max(q99 - q50, 1e-6))

    def heat(self, d: np.ndarray) -> np.ndarray:
        return 1.0 - np.exp(-np.maximum(0.0, d - self.window_q50) / (self.window_q99 - self.window_q50))

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


@dataclass(frozen=True, eq=False)
class GroupModel:
    key: str
    fields: dict[str, str]
    images: int
    series: int
    g2d: BinnedGaussian
    cal2d: Calibration
    g3d: BinnedGaussian | None = None
    cal3d: Calibration | None = None
    windows: dict[str, int] = field(default_factory=dict)


def _slice_score(g: BinnedGaussian, cal: Calibration, x: np.ndarray, prev: np.ndarray | None = None,
                 nxt: np.ndarray | None = None) -> tuple[float, float, np.ndarray, PatchFeatures]:
    f = slice_features(x, prev, nxt)
    values, intensity = f.flat()
    d = g.score(values[:, : g.dim], intensity).reshape(f.intensity.shape)
    stat = top_mean(d)
    return cal.image_score(stat), stat, windows_to_pixels(cal.heat(d), f.shape), f


class SiteModel:
    """A loaded (or freshly trained) site model. Use :meth:`load` to read a file safely."""

    def __init__(self, groups: dict[str, GroupModel], *, group_by: tuple[str, ...], noise: CTNoiseModel | None,
                 fingerprints: dict[str, Fingerprint], info: dict[str, Any], path: Path | None = None,
                 conventions: Conventions | None = None) -> None:
        self.groups = groups
        self.conventions = conventions
        self.group_by = group_by
        self.noise = noise
        self.fingerprints = fingerprints
        self.info = info
        self.path = path

    # ---------------------------------------------------------------------------------------------- scoring
    def group_for(self, image: Image) -> GroupModel:
        key = group_key(image, self.group_by)
        group = self.groups.get(key)
        if group is None:
            known = ", ".join(sorted(self.groups)) or "none"
            raise NotApplicable(f"site model: out of group: this image's group {key} was not in the training data "
                                f"(trained: {known}); zero-shot detectors only", image.path)
        return group

    def score_image(self, image: Image) -> Finding:
        group = self.group_for(image)
        if image.pixels.ndim == 3:
            return self._score_volume(group, list(image.pixels))
        score, stat, heat, feats = _slice_score(group.g2d, group.cal2d, image.pixels)
        evidence = self._texture_evidence(group, score, stat, group.cal2d, heat, None)
        scores = [score]
        if self.noise is not None and (image.modality or "").upper() == "CT":
            scores.append(self._noise_score(image, feats, evidence))
        scores.append(self._identifier_score(image.dataset, evidence))
        fp = self._fingerprint_for(image)
        if fp is not None:
            z, frac = fp.localise(image.pixels)
            fheat = np.clip(z / 6.0, 0.0, 1.0).astype(np.float32)
            heat = np.maximum(heat, fheat)
            scores.append(_rise(frac / 0.05))
            if frac > 0.005:
                evidence.append(f"{frac:.1%} of the image lacks this detector's fixed-pattern noise "
                                f"(fingerprint from {fp.images} images)")
        return Finding(max(scores), heat.astype(np.float32), tuple(evidence))

    def score_series(self, series: Series) -> Finding:
        if not series.is_volume():
            raise NotApplicable("site model: the series is not a stackable volume", series.instances[0].path)
        group = self.group_for(series.instances[0])
        found = self._score_volume(group, [im.pixels for im in series.instances])
        evidence = list(found.evidence)
        ident = self._identifier_score(series.instances[0].dataset, evidence)
        return Finding(max(found.score, ident), found.heatmap, tuple(evidence))

    def _score_volume(self, group: GroupModel, slices: list[np.ndarray]) -> Finding:
        n = len(slices)
        use3d = group.g3d is not None and group.cal3d is not None and n >= 3
        scores, stats, heats = [], [], []
        for i, x in enumerate(slices):
            if use3d and 0 < i < n - 1:
                s, st, h, _ = _slice_score(group.g3d, group.cal3d, x, slices[i - 1], slices[i + 1])  # type: ignore[arg-type]
            else:
                s, st, h, _ = _slice_score(group.g2d, group.cal2d, x)
            scores.append(s)
            stats.append(st)
            heats.append(h)
        inner = [i for i in range(n) if use3d and 0 < i < n - 1]
        outer = [i for i in range(n) if i not in inner]
        series_scores = []
        for members, cal in ((inner, group.cal3d), (outer, group.cal2d)):
            if members:
                top = max(members, key=lambda i: stats[i])
                series_scores.append((cal.series_score(stats[top], len(members)), top, cal))  # type: ignore[union-attr]
        score, worst, cal = max(series_scores, key=lambda t: t[0])
        evidence = self._texture_evidence(group, score, stats[worst], cal, heats[worst], worst)
        return Finding(float(score), np.stack(heats).astype(np.float32), tuple(evidence))

    def _texture_evidence(self, group: GroupModel, score: float, stat: float, cal: Calibration, heat: np.ndarray,
                          slice_index: int | None) -> list[str]:
        if score < 0.9:  # below the training 99th percentile
            return []
        r, c = np.unravel_index(int(np.argmax(heat)), heat.shape)
        where = f"slice {slice_index}, " if slice_index is not None else ""
        return [f"local noise texture unlike this site's authentic {group.key} images (strongest at {where}row {r}, "
                f"column {c}; anomaly {stat:.2f} vs {cal.image_q99:.2f} at the 99th percentile of "
                f"{group.images} training images)"]

    def _noise_score(self, image: Image, feats: PatchFeatures, evidence: list[str]) -> float:
        assert self.noise is not None
        z, lines = self.noise.check(image.acquisition, image.geometry.slice_thickness, feats)
        evidence.extend(line for line in lines if not line.startswith("noise model not applied"))
        return _rise((abs(z) - 2.0) / 2.0)

    def _identifier_score(self, dataset: Any, evidence: list[str]) -> float:
        """0.5 (nothing unusual) unless an identifier has a shape the site never showed."""
        if self.conventions is None:
            return 0.5
        surprise, lines = self.conventions.check(dataset)
        evidence.extend(lines)
        return _rise(surprise)

    def _fingerprint_for(self, image: Image) -> Fingerprint | None:
        if (image.modality or "").upper() == "CT" or image.pixels.ndim != 2:
            return None
        serial = image.acquisition.detector_serial or image.acquisition.device_serial
        fp = self.fingerprints.get(serial_key(serial)) if serial else None
        return fp if fp is not None and fp.pattern.shape == image.pixels.shape else None

    # ---------------------------------------------------------------------------------------------- files
    def save(self, path: str | Path) -> Path:
        arrays: dict[str, np.ndarray] = {}
        groups_meta = []
        for i, g in enumerate(self.groups[k] for k in sorted(self.groups)):
            arrays.update(g.g2d.to_arrays(f"groups/{i}/2d"))
            entry: dict[str, Any] = {"key": g.key, "fields": g.fields, "images": g.images, "series": g.series,
                                     "windows": g.windows, "dims": ["2d"], "calibration": {"2d": g.cal2d.as_dict()}}
            if g.g3d is not None and g.cal3d is not None:
                arrays.update(g.g3d.to_arrays(f"groups/{i}/3d"))
                entry["dims"].append("3d")
                entry["calibration"]["3d"] = g.cal3d.as_dict()
            groups_meta.append(entry)
        fps_meta = []
        for i, fp in enumerate(self.fingerprints[k] for k in sorted(self.fingerprints)):
            arrays.update(fp.to_arrays(f"fingerprints/{i}"))
            fps_meta.append(fp.to_meta())
        meta: dict[str, Any] = {"feature_set": FEATURE_SET, "features_2d": list(FEATURES_2D),
                                "features_z": list(FEATURES_Z), "group_by": list(self.group_by),
                                "groups": groups_meta, "fingerprints": fps_meta, "training": self.info}
        if self.noise is not None:
            arrays["noise/coef"] = self.noise.coef
            meta["noise_model"] = self.noise.to_meta()
        if self.conventions is not None:
            meta["conventions"] = self.conventions.to_meta()
        return model_file.save(path, meta, arrays)

    @classmethod
    def load(cls, path: str | Path) -> SiteModel:
        """Read a model file safely (no code from the file is executed; newer formats are refused)."""
        meta, arrays = model_file.load(path)
        if meta.get("feature_set") != FEATURE_SET:
            raise model_file.ModelFileError(f"model uses features {meta.get('feature_set')!r}; this radtrust computes "
                                            f"{FEATURE_SET!r}: retrain the model", path)
        try:
            groups: dict[str, GroupModel] = {}
            for i, g in enumerate(meta["groups"]):
                g2d = BinnedGaussian.from_arrays(arrays, f"groups/{i}/2d")
                g3d = BinnedGaussian.from_arrays(arrays, f"groups/{i}/3d") if "3d" in g["dims"] else None
                cal = g["calibration"]
                groups[str(g["key"])] = GroupModel(
                    str(g["key"]), {str(k): str(v) for k, v in g["fields"].items()}, int(g["images"]),
                    int(g["series"]), g2d, Calibration(**{k: float(v) for k, v in cal["2d"].items()}), g3d,
                    Calibration(**{k: float(v) for k, v in cal["3d"].items()}) if g3d is not None else None,
                    {str(k): int(v) for k, v in g.get("windows", {}).items()})
            fps = {}
            for i, fm in enumerate(meta.get("fingerprints", [])):
                fp = Fingerprint.from_parts(fm, arrays, f"fingerprints/{i}")
                fps[fp.key] = fp
            noise = CTNoiseModel.from_parts(meta["noise_model"], arrays["noise/coef"]) if "noise_model" in meta else None
            group_by = tuple(str(f) for f in meta["group_by"])
            conventions = Conventions.from_meta(meta["conventions"]) if "conventions" in meta else None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise model_file.ModelFileError(f"damaged model file: {type(exc).__name__}: {exc}", path) from None
        return cls(groups, group_by=group_by, noise=noise, fingerprints=fps, info=dict(meta.get("training", {})),
                   path=Path(path), conventions=conventions)

    def describe(self) -> dict[str, Any]:
        """What `radtrust model info` prints: format, groups with counts, noise model, fingerprints."""
        return {
            "path": str(self.path) if self.path else None,
            "format_version": model_file.FORMAT_VERSION,
            "feature_set": FEATURE_SET,
            "group_by": ["modality", *self.group_by],
            "groups": [{"key": g.key, "fields": g.fields, "images": g.images, "series": g.series,
                        "dims": ["2d"] + (["3d"] if g.g3d is not None else []), "windows": g.windows}
                       for g in (self.groups[k] for k in sorted(self.groups))],
            "noise_model": self.noise.to_meta() if self.noise is not None else None,
            "fingerprints": [fp.to_meta() for fp in self.fingerprints.values()],
            "identifier_conventions": ({"units": self.conventions.units,
                                        "shapes": {f: len(v) for f, v in self.conventions.fields.items()}}
                                       if self.conventions is not None else None),
            "training": self.info,
        }
