"""Calibrating the fusion: detector scores on a benchmark (issue 5 format) and on authentic data, the fit,
and leave-one-method-out (LOMO) evaluation.

Feature vectors are computed exactly as `radtrust scan` computes them (:meth:`Scanner.series_findings` for
series, :meth:`Scanner.analyze` for single images), once, and cached as JSON so fits and folds are cheap.
A benchmark row is judged by its *scan score*: for a series the larger of its fused series vector and its
most suspicious instance (what `radtrust scan` reports); for a single image its fused vector.

The thresholds are set on every authentic vector available (benchmark authentic rows of the training split
and all authentic data given, instance and series vectors alike), so the false-alarm rate holds per image.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radtrust import allocator
from radtrust.forensics.fusion import MARGIN, Fusion

log = logging.getLogger(__name__)
_WORKER: Any = None
_LOSSLESS_COPIES = False


@dataclass
class Vectors:
    """Detector scores of one benchmark row or one authentic input group."""

    key: str
    label: int
    method: str
    split: str
    series: dict[str, float]
    instances: list[dict[str, float]]
    modality: str = ""
    source: str = ""  # the authentic image a benchmark row was made from (labels.csv ``source``)

    @property
    def origin(self) -> str:
        """The authentic image behind the row: its source, or for authentic data the key without ``#lossless``."""
        return self.source or self.key.split("#", 1)[0]

    def to_json(self) -> dict[str, Any]:
        return self.__dict__

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Vectors:
        return cls(**d)


def _init(detectors: Sequence[str] | None, lossless_copies: bool = False) -> None:
    global _WORKER, _LOSSLESS_COPIES
    from radtrust.forensics.scanner import Scanner

    allocator.tune()

    _WORKER = Scanner(detectors, fusion=Fusion.default([]))
    _LOSSLESS_COPIES = lossless_copies


def lossless_copy(image):  # noqa: ANN001, ANN201 - radtrust.io.Image
    """A JPEG picture as it reads once stored losslessly (DICOM, PNG): rounded luminance, no JPEG file behind
    it. Tampered copies of pictures arrive like that, so authentic ones must be judged like that too."""
    return dataclasses.replace(image, source_format="png", transfer_syntax=None,
                               pixels=np.rint(image.pixels).astype(np.float32), path=None)


def _scores(findings: dict[str, Any]) -> dict[str, float]:
    return {k: float(f.score) for k, f in findings.items()}


def _vectors_of(paths: list[str]) -> list[tuple[str, str, dict[str, float], list[dict[str, float]]]]:
    """(key, modality, series vector, instance vectors) per series or single image among the files."""
    from radtrust.io import group_series, iter_images

    images = [ld.image for ld in iter_images(paths) if ld.image is not None]
    out = []
    for series in group_series(images):
        if len(series) == 1:
            im = series.instances[0]
            v = _scores(_WORKER.analyze(im))
            out.append((str(im.path), im.modality or "", v, [v]))
            if _LOSSLESS_COPIES and im.source_format == "jpeg":
                c = _scores(_WORKER.analyze(lossless_copy(im)))
                out.append((f"{im.path}#lossless", im.modality or "", c, [c]))
        else:
            found = _WORKER.series_findings(series)
            key = str(series.instances[0].path.parent) if series.instances[0].path else str(series.series_instance_uid)
            out.append((key, series.modality or "", dict(found.series_scores),
                        [_scores(d) for d in found.instances]))
    return out


def _bench_task(task: tuple[str, int, str, str, str, str]) -> Vectors | None:
    path, label, method, split, modality, source = task
    p = Path(path)
    files = sorted(str(f) for f in p.iterdir() if f.is_file()) if p.is_dir() else [path]
    got = _vectors_of(files)
    if not got:
        return None
    key, mod, series, instances = got[0]
    if len(got) > 1:  # a folder that splits into several series: judge it by its worst
        instances = [v for g in got for v in g[3]]
    return Vectors(path, label, method, split, series, instances, modality or mod, source)


def _auth_task(paths: list[str]) -> list[Vectors]:
    return [Vectors(key, 0, "", "authentic", s, inst, mod) for key, mod, s, inst in _vectors_of(paths)]


def _pool(jobs: int, detectors: Sequence[str] | None, lossless_copies: bool = False) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=jobs, initializer=_init, initargs=(detectors, lossless_copies))


def bench_vectors(bench: str | os.PathLike[str], detectors: Sequence[str] | None = None, jobs: int = 2) -> list[Vectors]:
    """Vectors for every row of a benchmark folder (``labels.csv`` format of issue 5)."""
    from radtrust.benchmarking.format import read_labels

    rows = read_labels(bench)
    tasks = [(str(Path(bench) / r.file), r.label, r.method, r.split, r.modality, r.source) for r in rows]
    with _pool(jobs, detectors) as pool:
        return [v for v in pool.map(_bench_task, tasks, chunksize=1) if v is not None]


def authentic_vectors(paths: Iterable[str | os.PathLike[str]], detectors: Sequence[str] | None = None,
                      jobs: int = 2, lossless_copies: bool = True) -> list[Vectors]:
    """Vectors for all authentic inputs (files/folders), grouped into series as `radtrust scan` groups them.

    With ``lossless_copies``, every JPEG picture is also judged as its :func:`lossless_copy`.
    """
    from radtrust.forensics.planning import plan_groups

    groups, errors = plan_groups(paths)
    for e in errors:
        log.warning("skipped %s: %s", e["path"], e["message"])
    with _pool(jobs, detectors, lossless_copies) as pool:
        return [v for vs in pool.map(_auth_task, [[str(p) for p in g] for g in groups], chunksize=1) for v in vs]


def save_vectors(path: str | os.PathLike[str], vectors: list[Vectors]) -> None:
    Path(path).write_text(json.dumps([v.to_json() for v in vectors]))


def load_vectors(path: str | os.PathLike[str]) -> list[Vectors]:
    return [Vectors.from_json(d) for d in json.loads(Path(path).read_text())]


def attach_sources(bench: str | os.PathLike[str], vectors: list[Vectors]) -> list[Vectors]:
    """Fill in the ``source`` of benchmark vectors cached before it was recorded (from ``labels.csv``)."""
    from radtrust.benchmarking.format import read_labels

    by_path = {str(Path(bench) / r.file): r.source for r in read_labels(bench)}
    return [v if v.source else dataclasses.replace(v, source=by_path.get(v.key, "")) for v in vectors]


# ------------------------------------------------------------------------------------------------- fitting
def names_of(vectors: Iterable[Vectors]) -> list[str]:
    return sorted({k for v in vectors for d in [v.series, *v.instances] for k in d})


def _matrix(dicts: list[dict[str, float]], names: list[str]) -> np.ndarray:
    return np.array([[d.get(n, math.nan) for n in names] for d in dicts], dtype=float).reshape(len(dicts), len(names))


def scan_rows(v: Vectors) -> list[dict[str, float]]:
    """The score vectors `radtrust scan` reports for the row: the series, and each image of a series of several
    (a single image's instance vector is its series vector: counted once)."""
    return [v.series, *v.instances] if len(v.instances) > 1 else [v.series]


def scan_score(fusion: Fusion, v: Vectors) -> float:
    """What `radtrust scan` reports for the row: max of the series vector and the instance vectors."""
    return float(fusion.probability(_matrix(scan_rows(v), list(fusion.names))).max())


def fit(train: list[Vectors], authentic: list[Vectors], names: list[str], fpr: float = 0.01,
        l2: float = 1.0, margin: float = MARGIN) -> Fusion:
    """Fit on labelled rows (series/image vectors); thresholds on every authentic vector (the images of a series
    included), each image once: the training rows' authentic series are among the labelled rows already."""
    X = _matrix([v.series for v in train], names)
    y = np.array([v.label for v in train], dtype=float)
    auth_rows = [*(d for v in authentic for d in scan_rows(v)),
                 *(d for t in train if t.label == 0 for d in scan_rows(t)[1:])]
    return Fusion.fit(X, y, names, fpr=fpr, X_authentic=_matrix(auth_rows, names) if auth_rows else None, l2=l2,
                      margin=margin)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half)."""
    from scipy.stats import rankdata

    s, y = np.asarray(scores, float), np.asarray(labels, int)
    npos, nneg = int(y.sum()), int((1 - y).sum())
    if npos == 0 or nneg == 0:
        return math.nan
    r = rankdata(s)
    return float((r[y == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def tpr_at_fpr(scores: np.ndarray, labels: np.ndarray, fpr: float) -> float:
    from radtrust.forensics.fusion import threshold_at_fpr

    s, y = np.asarray(scores, float), np.asarray(labels, int)
    t = threshold_at_fpr(s[y == 0], fpr)
    return float(np.mean(s[y == 1] > t))


def family(modality: str) -> str:
    """``CT`` or ``XR`` (projection radiography: CR, DX, MG, ...) for per-modality comparisons."""
    return "CT" if (modality or "").upper() == "CT" else "XR"


#: benchmark methods that leave nothing in the one file to find: an identity swap rewrites the patient's name, ID,
#: birth date and sex consistently in every header and keeps the pixels (only a record outside the file, or the
#: archive's original through ``scan --copies``, can contradict it). :func:`lomo` also reports its pooled figures
#: without them, beside the full ones, so a target's shortfall is read for what it is.
UNSEEABLE = frozenset({"meta-identity-swap"})


def lomo(vectors: list[Vectors], authentic: list[Vectors], names: list[str], fpr: float = 0.01,
         margin: float = MARGIN) -> dict[str, Any]:
    """Leave-one-method-out: fit on every other method (train split); test on the held-out method against the
    test-split authentic images of the same modality family. The overall figures pool every fold's test rows."""
    methods = sorted({v.method for v in vectors if v.label == 1})
    auth_train = [v for v in vectors if v.label == 0 and v.split == "train"]
    auth_test = [v for v in vectors if v.label == 0 and v.split == "test"] or auth_train
    pooled_s: list[float] = []
    pooled_y: list[int] = []
    pooled_m: list[str] = []
    per: dict[str, Any] = {}
    for m in methods:
        train = auth_train + [v for v in vectors if v.label == 1 and v.method != m and v.split == "train"]
        held = [v for v in vectors if v.label == 1 and v.method == m]
        families = {family(v.modality) for v in held}
        # A method is judged against the authentic images of the modalities it applies to.
        test = [v for v in auth_test if family(v.modality) in families] + held
        f = fit(train, authentic, names, fpr, margin=margin)
        s = np.array([scan_score(f, v) for v in test])
        y = np.array([v.label for v in test])
        per[m] = {"auc": roc_auc(s, y), "tpr_at_1pct_fpr": tpr_at_fpr(s, y, 0.01),
                  "tpr_at_threshold": float(np.mean(s[y == 1] > f.threshold)),
                  "fpr_at_threshold": float(np.mean(s[y == 0] > f.threshold)), "n_tampered": int(y.sum())}
        pooled_s.extend(s.tolist())
        pooled_y.extend(y.tolist())
        pooled_m.extend([m] * len(y))
    s, y = np.array(pooled_s), np.array(pooled_y)
    seen = np.array([m not in UNSEEABLE for m in pooled_m])
    return {"methods": per, "overall_auc": roc_auc(s, y), "overall_tpr_at_1pct_fpr": tpr_at_fpr(s, y, 0.01),
            "min_method_auc": min((p["auc"] for p in per.values()), default=math.nan),
            # the same pooled rows without the folds of methods no single file can show (their authentic rows too)
            "without_unseeable": {"methods_left_out": sorted(UNSEEABLE & set(methods)),
                                  "overall_auc": roc_auc(s[seen], y[seen]),
                                  "overall_tpr_at_1pct_fpr": tpr_at_fpr(s[seen], y[seen], 0.01)}}


def false_alarms(fusion: Fusion, authentic: list[Vectors]) -> dict[str, Any]:
    """Per-image false alarms of the fusion at its threshold on authentic vectors (instances and single images)."""
    scores = []
    flagged = []
    for v in authentic:
        for d in v.instances:
            p = float(fusion.probability(_matrix([d], list(fusion.names)))[0])
            scores.append(p)
        if scan_score(fusion, v) > fusion.threshold:
            flagged.append(v.key)
    arr = np.array(scores)
    return {"images": int(arr.size), "false_alarms": int(np.sum(arr > fusion.threshold)),
            "rate": float(np.mean(arr > fusion.threshold)) if arr.size else math.nan, "flagged_groups": flagged}


def heldout_false_alarms(bench: list[Vectors], authentic: list[Vectors], names: list[str], fpr: float = 0.01,
                         margin: float = MARGIN, folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """False alarms on authentic images whose source the fit never saw: the authentic images are split into
    ``folds`` groups by source (a JPEG picture and its lossless copy, a CT series, stay together); each group
    is judged by a fusion fitted without it, nor any benchmark row made from it. This is the false-alarm rate
    to expect on a new site's images; the in-sample rate on the calibration images is 0 by construction."""
    origins = sorted({v.origin for v in authentic})
    order = np.random.default_rng(seed).permutation(len(origins))
    fold_of = {origins[j]: i % folds for i, j in enumerate(order)}
    images = alarms = 0
    flagged: list[str] = []
    for k in range(min(folds, len(origins))):
        held = {o for o, f in fold_of.items() if f == k}
        rows = [v for v in bench if v.origin not in held]
        train = [v for v in rows if v.label == 1 or v.split == "train"]
        if len({v.label for v in train}) < 2:
            continue
        fusion = fit(train, [v for v in authentic if v.origin not in held], names, fpr, margin=margin)
        r = false_alarms(fusion, [v for v in authentic if v.origin in held])
        images, alarms, flagged = images + r["images"], alarms + r["false_alarms"], flagged + r["flagged_groups"]
    return {"folds": folds, "margin": margin, "images": images, "false_alarms": alarms,
            "rate": alarms / images if images else math.nan, "flagged_groups": sorted(set(flagged))}


def choose_margin(bench: list[Vectors], authentic: list[Vectors], names: list[str], fpr: float = 0.01,
                  candidates: Sequence[float] = (1.0, 1.25, 1.5, 2.0, 3.0)) -> tuple[float, list[dict[str, Any]]]:
    """The smallest threshold margin whose source-held-out false-alarm rate is at most ``fpr`` (the largest
    candidate if none is), and the held-out measurements of every candidate tried."""
    tried = []
    for m in sorted(candidates):
        tried.append(heldout_false_alarms(bench, authentic, names, fpr, margin=m))
        if tried[-1]["rate"] <= fpr:
            return m, tried
    return max(candidates), tried
