"""The scanner: every registered detector on every image, one calibrated verdict with a heatmap (issue 6).

Order of judgement: the signature state first (:mod:`radtrust.forensics.trust`), then the forensic
fusion (:mod:`radtrust.forensics.fusion`). Series are assembled and analysed in 3D where a detector
supports it; the series' 3D maps are sliced back onto their instances, so a lesion spanning slices
raises exactly the slices it spans. Several files are scanned on several cores, one series per task.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from radtrust.errors import EvidenceLost, NotApplicable, UsageError
from radtrust.forensics import slabs
from radtrust.forensics.copies import CopyFinding
from radtrust.forensics.detectors.base import SHARE, Detector, Finding
from radtrust.forensics.fusion import Fusion, fuse_heatmaps, shipped_fusion
from radtrust.forensics.journal import Resumed
from radtrust.forensics.limits import verdict_limits
from radtrust.forensics.registry import available, get_detector
from radtrust.forensics.residuals import shared_intermediates
from radtrust.forensics.results import (
    InstanceResult,
    SeriesResult,
    SeriesTally,
    SignatureStatus,
    worst,
)
from radtrust.forensics.same_pixels import Store
from radtrust.forensics.trust import signature_status
from radtrust.io import Image, Series, group_series
from radtrust.io.lossy import near_lossless

log = logging.getLogger(__name__)
SITE_MODEL = "site-model"
COPIES_MODES = ("note", "flag", "off")


@dataclass(eq=False)
class SeriesFindings:
    """Raw findings of a series: per instance (3D evidence sliced in), the 3D findings, the series score vector."""

    instances: list[dict[str, Finding]]
    findings_3d: dict[str, Finding]
    series_scores: dict[str, float]
    notes: list[str] = field(default_factory=list)
    instance_notes: list[list[str]] = field(default_factory=list)

    def carried_by(self, keep: Sequence[int]) -> tuple[dict[str, float], dict[str, tuple[str, ...]]]:
        """The series score vector and 3D evidence as the instances at ``keep`` carry them (a slab's reported
        slices, :mod:`radtrust.forensics.slabs`): each 3D score scaled by the largest share those instances carry
        of it (all of it when its map marks nothing), its evidence when that share is at least a half (as an
        instance takes it), the strongest of their own scores for detectors without a 3D finding. For every
        instance this is :attr:`series_scores`."""
        n = len(self.instances)
        scores: dict[str, float] = {}
        for i in keep:
            for name, f in self.instances[i].items():
                if name not in self.findings_3d:
                    scores[name] = max(scores.get(name, 0.0), f.score)
        evidence: dict[str, tuple[str, ...]] = {}
        for name, f in self.findings_3d.items():
            share = _carried(f, n, keep)
            scores[name] = f.score * share
            if share >= 0.5:
                evidence[name] = f.evidence
        return scores, evidence


class Scanner:
    """Runs detectors and fuses them.

    Parameters
    ----------
    detectors : names from the registry; None = every registered detector (the site model only with ``model``).
    model : path of a one-class site model (issue 7); adds the ``site-model`` detector.
    trust : CA certificate PEM paths; signatures/credentials are verified against them first.
    fpr : target false-alarm rate of the ``suspicious`` threshold (needs a fitted fusion to differ from its own).
    fusion : a :class:`Fusion`; default the shipped calibrated one (``radtrust/data/fusion.json``).
    copies : what copies of one instance that disagree do (:mod:`radtrust.forensics.copies`): ``note`` (the
        default) adds the evidence and leaves verdicts to the detectors; ``flag`` also raises both copies to at
        least ``suspicious`` and marks the differing region in their heatmaps (archive audits); ``off`` skips it.
    """

    def __init__(self, detectors: Sequence[str] | None = None, *, model: str | os.PathLike[str] | None = None,
                 trust: Sequence[str] | None = None, fpr: float = 0.01, fusion: Fusion | None = None,
                 copies: str = "note") -> None:
        if copies not in COPIES_MODES:
            raise UsageError(f"copies must be one of {', '.join(COPIES_MODES)}, not {copies!r}")
        self.copies = copies
        explicit = detectors is not None
        names = list(detectors) if explicit else [n for n in available() if n != SITE_MODEL]
        self.detectors: list[Detector] = []
        self.unavailable: dict[str, str] = {}
        for name in names:
            try:
                self.detectors.append(get_detector(name))
            except UsageError as exc:
                if explicit:
                    raise
                self.unavailable[name] = exc.message
                log.warning("detector %s skipped: %s", name, exc.message)
        if model is not None:
            self.detectors.append(get_detector(SITE_MODEL, model_path=str(model)))
        base = fusion if fusion is not None else shipped_fusion([d.name for d in self.detectors])
        if not 0.0 < fpr < 1.0:
            raise UsageError(f"--fpr must be between 0 and 1, not {fpr}")
        try:
            self.fusion = base.with_threshold_for(fpr)
        except ValueError as exc:
            raise UsageError(f"cannot use --fpr {fpr}: {exc}") from None
        self.extra = (SITE_MODEL,) if model is not None else ()
        missing = [d.name for d in self.detectors if d.name not in self.fusion.names and d.name not in self.extra]
        if missing:
            log.info("detectors not in the calibrated fusion (reported, not fused): %s", ", ".join(missing))
        self.trust = [str(t) for t in trust] if trust else None
        self._config = dict(detectors=list(detectors) if explicit else None, model=model, trust=self.trust,
                            fpr=fpr, fusion=self.fusion, copies=copies)

    # ------------------------------------------------------------------------------------------ raw findings
    def _run(self, image: Image, notes: list[str] | None = None, settled: frozenset[str] = frozenset(),
             judged: Mapping[str, Finding | NotApplicable] = MappingProxyType({})) -> dict[str, Finding]:
        """Every applicable detector on one image but those named in ``settled`` (judged with its series); those in
        ``judged`` are not run but give what their series pass judged of this slice (:attr:`Finding.slices`)."""
        with shared_intermediates():  # residual, clipping and body masks every pixel detector needs, once
            return self._run_detectors(image, notes, settled, judged)

    def _run_detectors(self, image: Image, notes: list[str] | None, settled: frozenset[str],
                       judged: Mapping[str, Finding | NotApplicable]) -> dict[str, Finding]:
        out: dict[str, Finding] = {}
        for det in self.detectors:
            if det.name in settled or not det.applies_to(image):
                continue
            try:
                if isinstance(given := judged.get(det.name), NotApplicable):
                    raise given
                out[det.name] = given if given is not None else det.run(image)
            except NotApplicable as exc:
                if det.name == SITE_MODEL and notes is not None:  # e.g. out of group: say why it is absent
                    notes.append(exc.message)
                elif isinstance(exc, EvidenceLost) and notes is not None:  # processing hid what it reads
                    notes.append(f"{det.name}: not judged: {exc.message}")
                continue
            except Exception as exc:  # a detector bug must not hide the other detectors' evidence
                log.warning("detector %s failed on %s: %s", det.name, image.path, exc, exc_info=log.isEnabledFor(10))
                if notes is not None:
                    notes.append(f"detector {det.name} failed: {type(exc).__name__}: {exc}")
        return out

    def analyze(self, image: Image) -> dict[str, Finding]:
        """Raw per-detector findings on one image (2D or a 3D volume); detectors that do not apply are absent."""
        return self._run(image)

    def analyze_series(self, series: Series, notes: list[str] | None = None,
                       lost: dict[str, str] | None = None) -> dict[str, Finding]:
        """Raw per-detector findings on a series as a whole (3D maps have shape (slices, rows, cols)).

        ``lost`` collects why a detector's evidence was lost for the whole series, its slices included
        (:meth:`Detector.run_series` raised EvidenceLost)."""
        out: dict[str, Finding] = {}
        if len(series) < 2:
            return out
        first = series.instances[0]
        for det in self.detectors:
            if not det.applies_to(first):
                continue
            try:
                out[det.name] = det.run_series(series)
            except EvidenceLost as exc:
                if lost is not None:
                    lost[det.name] = exc.message
                continue
            except NotApplicable:
                continue
            except Exception as exc:
                log.warning("detector %s failed on series %s: %s", det.name, series.series_instance_uid, exc)
                if notes is not None:
                    notes.append(f"detector {det.name} (3D) failed: {type(exc).__name__}: {exc}")
                continue
        return out

    # ------------------------------------------------------------------------------------------ verdicts
    def _signature(self, image: Image) -> SignatureStatus:
        return signature_status(image, self.trust)

    def _result(self, image: Image, findings: dict[str, Finding], sig: SignatureStatus,
                notes: list[str], copy: CopyFinding | None = None, heat: np.ndarray | None = None) -> InstanceResult:
        """The verdict on one image from its findings (``heat``: its fused map when already made, slab by slab)."""
        scores = {n: f.score for n, f in findings.items()}
        score = self.fusion.score(scores, self.extra)
        verdict = self.fusion.verdict(score)
        push = self.fusion.contributions(scores, self.extra)
        flag = copy is not None and self.copies == "flag"
        evidence: list[str] = []
        if sig.state != "none":
            evidence.append(f"signature: {sig.detail}")
        if sig.state == "broken":
            verdict, score = "tampered", 1.0
        elif sig.state == "valid":
            verdict = "signed-authentic"
        elif flag and copy.altered and copy.other_signed:  # the signed copy is the original
            verdict, score = "tampered", 1.0
        elif flag and copy.altered and verdict == "authentic":  # one copy was altered: which, unknown
            verdict, score = "suspicious", max(score, float(np.nextafter(self.fusion.threshold, 1.0)))
        if verdict == "authentic" and (limit := verdict_limits(image, findings, [d.name for d in self.detectors])):
            evidence.append(limit)
        if copy is not None:
            evidence.extend(copy.evidence)
        for name in sorted(findings, key=lambda n: -push.get(n, 0.0)):
            evidence.extend(f"{name}: {line}" for line in findings[name].evidence)
        evidence.extend(notes)
        evidence.extend(f"input: {note}" for note in image.notes)  # how it was read (a modality inferred, colour)
        if reason := near_lossless(image):  # its lossy storage does not stop the noise checks: the record says so
            evidence.append(f"input: {reason}")
        if heat is None:
            heat = fuse_heatmaps(findings, self.fusion, shape=image.shape, extra=self.extra)
        if flag and copy.heatmap is not None and copy.heatmap.shape == image.shape:
            heat = copy.heatmap if heat is None else np.maximum(heat, copy.heatmap)
        return InstanceResult(image.path, image.sop_instance_uid, image.series_instance_uid, image.modality, score,
                              verdict, scores, evidence, heat, sig, list(notes))

    def scan_image(self, image: Image, copy: CopyFinding | None = None) -> InstanceResult:
        """Signature first, then every applicable detector, fused into one verdict with a heatmap.

        ``copy``: what :func:`~radtrust.forensics.copies.compare_copies` found against other copies of this
        instance in the same scan (evidence, the differing region, a verdict of at least ``suspicious``)."""
        if _many_frames(image):
            return self._scan_frames(image, copy)[0]
        notes: list[str] = []
        sig = self._signature(image)
        return self._result(image, self._run(image, notes), sig, notes, copy)

    def _scan_frames(self, image: Image, copy: CopyFinding | None = None) -> tuple[InstanceResult, dict[str, float]]:
        """An image of many frames analysed in slabs of frames (:mod:`radtrust.forensics.slabs`): each detector's
        strongest score over the frames a slab reports, its evidence from the slab whose frames carry it, the fused map
        stitched from the slabs'; only one slab's detector maps are held at a time. Also returns the scores."""
        n = image.shape[0]
        notes: list[str] = []
        scores: dict[str, float] = {}
        evidence = slabs.Evidence()
        heat: np.ndarray | None = None
        for lo, hi, a, b in slabs.ranges(n):
            found = self._run(dataclasses.replace(image, pixels=image.pixels[lo:hi]), notes)
            fused = fuse_heatmaps(found, self.fusion, shape=(hi - lo, *image.shape[1:]), extra=self.extra)
            if fused is not None:
                heat = np.zeros(image.shape, np.float32) if heat is None else heat
                heat[a:b] = fused[a - lo:b - lo]
            for name, f in found.items():
                share = _carried(f, hi - lo, range(a - lo, b - lo))
                scores[name] = max(scores.get(name, 0.0), f.score * share)
                if share >= 0.5:
                    evidence.add(name, f.score * share, [slabs.renumber(e, lo, n) for e in f.evidence])
        lines = evidence.lines()
        findings = {name: Finding(v, None, tuple(lines.get(name, ()))) for name, v in scores.items()}
        res = self._result(image, findings, self._signature(image), list(dict.fromkeys(notes)), copy, heat)
        return res, scores

    def series_findings(self, series: Series) -> SeriesFindings:
        """Findings per instance (2D plus that slice's share of the 3D evidence) and the series' score vector.

        A detector whose series finding answers for the slices (:attr:`Finding.slices`), or whose evidence was lost
        for the whole series, is not run on the slices alone; one whose series pass judged each slice gives that.

        This is what :meth:`scan_series` fuses, and what calibration and benchmarks should use for series.
        """
        n = len(series)
        series_notes: list[str] = [f"series: {p}" for p in series.problems]
        if mild := [reason for im in series.instances if (reason := near_lossless(im))]:  # each slice says it too
            series_notes.append(f"series: {'every slice' if len(mild) == n else f'{len(mild)} of {n} slices'} "
                                f"{mild[0]}")
        per_notes: list[list[str]] = [[] for _ in range(n)]
        # 3D first: its detectors' working memory is the largest, and the slices' 2D maps are not yet held then
        lost: dict[str, str] = {}
        f3d = self.analyze_series(series, series_notes, lost)
        for name, why in lost.items():  # what the series says for its slices, each slice says too
            for said in [*per_notes, series_notes]:
                said.append(f"{name}: not judged: {why}")
        judged = {name: f.slices for name, f in f3d.items() if isinstance(f.slices, tuple) and len(f.slices) == n}
        skip = frozenset(lost) | {name for name, f in f3d.items() if f.slices == SHARE}
        # the slices' own findings are held by the slices only
        f3d = {name: dataclasses.replace(f, slices=None) if name in judged else f for name, f in f3d.items()}
        per_slice = [self._run(im, per_notes[i], skip, {name: own[i] for name, own in judged.items()})
                     for i, im in enumerate(series.instances)]
        del judged
        # Series vector: 3D scores where a detector has them, else the strongest slice.
        sscores: dict[str, float] = {}
        for f in per_slice:
            for name, fi in f.items():
                sscores[name] = max(sscores.get(name, 0.0), fi.score)
        sscores.update({name: f.score for name, f in f3d.items()})
        combined: list[dict[str, Finding]] = [dict(f) for f in per_slice]
        del per_slice  # a 2D map merged with its 3D share below is then freed at once
        for name, f in f3d.items():
            share = _slice_shares(f, n)
            for i in range(n):
                s = f.score * share[i]
                own = combined[i].get(name)
                heat = f.heatmap[i] if f.heatmap is not None and f.heatmap.shape[0] == n else None
                if own is not None:
                    if own.heatmap is not None and heat is not None and own.heatmap.shape == heat.shape:
                        heat = np.maximum(own.heatmap, heat)
                    elif heat is None:
                        heat = own.heatmap
                    s = max(s, own.score)
                lines = (own.evidence if own is not None else ()) + (f.evidence if share[i] >= 0.5 else ())
                combined[i][name] = Finding(float(min(1.0, max(0.0, s))), heat, tuple(dict.fromkeys(lines)))
        return SeriesFindings(combined, f3d, sscores, series_notes, per_notes)

    def series_score(self, found: SeriesFindings) -> float:
        """The series' probability: its own fused vector, or its most suspicious instance if higher."""
        inst = [self.fusion.score({k: f.score for k, f in d.items()}, self.extra) for d in found.instances]
        return max([self.fusion.score(found.series_scores, self.extra)] + inst)

    def scan_series(self, series: Series, copies: dict[int, CopyFinding] | None = None,
                    ) -> tuple[list[InstanceResult], SeriesResult]:
        """Per-instance results (2D evidence plus this slice's share of the 3D evidence) and the series result.

        ``copies``: copy findings keyed by ``id()`` of the instance (see :meth:`scan_image`)."""
        copies = copies or {}
        if len(series) == 1 and _many_frames(series.instances[0]):  # one file holding a whole series
            image = series.instances[0]
            res, scores = self._scan_frames(image, copies.get(id(image)))
            tally = SeriesTally()
            tally.add(res, copies.get(id(image)))
            notes = [f"series: {p}" for p in series.problems]
            return [res], self.series_result(series.series_instance_uid, series.modality, scores, {}, notes, tally)
        found = self.series_findings(series)
        results = self.instance_results(series, found, copies)
        tally = SeriesTally()
        for res, im in zip(results, series.instances):
            tally.add(res, copies.get(id(im)))
        sres = self.series_result(series.series_instance_uid, series.modality, found.series_scores,
                                  {name: list(f.evidence) for name, f in found.findings_3d.items()}, found.notes, tally)
        if any(r.heatmap is not None for r in results) and series.is_volume():
            sres.heatmap = np.stack([r.heatmap if r.heatmap is not None else np.zeros(im.shape, np.float32)
                                     for r, im in zip(results, series.instances)])
        return results, sres

    def instance_results(self, series: Series, found: SeriesFindings, copies: dict[int, CopyFinding] | None = None,
                         keep: Sequence[int] | None = None) -> list[InstanceResult]:
        """The verdicts on a series' instances (those at indices ``keep``, default all) from its findings."""
        copies = copies or {}
        idx = range(len(series)) if keep is None else keep
        return [self._result(series.instances[i], found.instances[i], self._signature(series.instances[i]),
                             found.instance_notes[i], copies.get(id(series.instances[i]))) for i in idx]

    def series_result(self, uid: str | None, modality: str | None, series_scores: dict[str, float],
                      evidence_3d: dict[str, list[str]], notes: list[str], tally: SeriesTally) -> SeriesResult:
        """The series record: its own fused score vector or its most suspicious instance, whichever is higher."""
        score = max([self.fusion.score(series_scores, self.extra)] + tally.scores)
        verdict = worst([self.fusion.verdict(score)] + tally.verdicts)
        if tally.verdicts and all(v == "signed-authentic" for v in tally.verdicts):
            verdict = "signed-authentic"
        evidence = list(notes)
        push = self.fusion.contributions(series_scores, self.extra)
        for name in sorted(evidence_3d, key=lambda k: -push.get(k, 0.0)):
            evidence.extend(f"{name} (3D): {line}" for line in evidence_3d[name])
        n = len(tally.scores)
        if tally.altered:
            evidence.append(f"copies: {tally.altered} of {n} instance(s) differ from another copy of themselves in "
                            "this scan (one of each pair was altered)")
        if tally.flagged:
            evidence.append(f"{len(tally.flagged)} of {n} instance(s) flagged")
        return SeriesResult(uid, modality, n, score, verdict, dict(series_scores), evidence, list(tally.flagged))

    # ------------------------------------------------------------------------------------------ files
    def scan_groups(self, paths: Iterable[str | os.PathLike[str]], heatmaps_dir: str | os.PathLike[str] | None = None,
                    *, jobs: int | None = None, thumbnails: bool | Callable[[], bool] = False,
                    resume: Callable[[list[list[Path]]], Resumed] | None = None,
                    pixel_store: Store | None = None, fingerprints: bool = False,
                    ) -> Iterator[list[tuple[dict[str, Any], Any]]]:
        """(record, extra) pairs of each series-sized task, one list per task, in input order.

        ``thumbnails``: make report thumbnails (True), none (False), or ask before each task is started whether
        images that are not flagged still need one (flagged images always get theirs).

        The first list holds the error records of files whose header cannot be read. ``resume`` is given the
        planned tasks and returns what an earlier run of the scan already recorded (:mod:`.journal`): those
        tasks and errors are skipped. ``pixel_store``: where the fingerprints of :mod:`.same_pixels` are kept (an
        on-disk :class:`~radtrust.forensics.pixel_store.SqliteStore` to compare with earlier runs; memory by default).
        ``fingerprints``: leave each instance's fingerprint in its extras (``"pixels"``) for the caller's own memory.
        """
        from radtrust.forensics._scanwork import NONE, run_pool, scan_group, thumbnail_mode
        from radtrust.forensics.planning import plan
        from radtrust.forensics.refiled import CrossTask
        from radtrust.forensics.same_pixels import PixelIndex

        planned = plan(paths)
        groups, errors = planned.tasks, planned.errors
        shared = {tuple(g): s for g, s in zip(groups, planned.shared) if s} if self.copies != "off" else {}
        if resume is not None:
            done = resume(groups)
            groups = [g for g in groups if not done.covers(g)]
            errors = [e for e in errors if not done.covers([e["path"]])]
        if errors:
            yield [(rec, None) for rec in errors]
        if heatmaps_dir is not None:
            Path(heatmaps_dir).mkdir(parents=True, exist_ok=True)
        hdir = str(heatmaps_dir) if heatmaps_dir is not None else None
        across = CrossTask(flag=self.copies == "flag", threshold=self.fusion.threshold,
                           pixels=PixelIndex(pixel_store) if pixel_store is not None else PixelIndex(),
                           keep_pixels=fingerprints)
        workers = jobs if jobs is not None else min(len(groups), _cpu_count())
        if workers <= 1 or len(groups) <= 1:
            for g in groups:
                yield across.amend(scan_group(self, g, hdir, thumbnail_mode(thumbnails), shared.get(tuple(g), NONE)))
            return
        for items in run_pool(self._config, groups, hdir, thumbnails, workers, shared):
            yield across.amend(items)

    def scan_items(self, paths: Iterable[str | os.PathLike[str]], heatmaps_dir: str | os.PathLike[str] | None = None,
                   *, jobs: int | None = None, thumbnails: bool = False,
                   fingerprints: bool = False) -> Iterator[tuple[dict[str, Any], Any]]:
        """Like :meth:`scan_paths`, with each record paired with its extras (thumbnail PNG for reports; the pixel
        fingerprint with ``fingerprints``)."""
        for items in self.scan_groups(paths, heatmaps_dir, jobs=jobs, thumbnails=thumbnails, fingerprints=fingerprints):
            yield from items

    def scan_paths(self, paths: Iterable[str | os.PathLike[str]],
                   heatmaps_dir: str | os.PathLike[str] | None = None, *, jobs: int | None = None) -> Iterator[dict]:
        """The `radtrust scan --format jsonl` records for files/folders: instances, then their series; errors."""
        for rec, _ in self.scan_items(paths, heatmaps_dir, jobs=jobs):
            yield rec


def _many_frames(image: Image) -> bool:
    """An image of more frames than a series is analysed whole with (:data:`radtrust.forensics.slabs.LONG_SERIES`)."""
    return image.pixels.ndim == 3 and image.pixels.shape[0] > slabs.LONG_SERIES


def _carried(f: Finding, n: int, keep: Iterable[int]) -> float:
    """The largest share of a finding on ``n`` slices or frames that those at ``keep`` carry; all of it when its map
    marks nothing (then it is a score of them all as a whole)."""
    shares = _slice_shares(f, n)
    return max((float(shares[i]) for i in keep), default=0.0) if shares.max() > 0 else 1.0


def _slice_shares(f: Finding, n: int) -> np.ndarray:
    """How much of a 3D finding each slice carries: the detector's own shares, else its map's peak relative to the
    volume's peak (1 without a map)."""
    if f.shares is not None and len(f.shares) == n:
        return np.asarray(f.shares, dtype=float)
    if f.heatmap is None or f.heatmap.ndim != 3 or f.heatmap.shape[0] != n:
        return np.ones(n)
    peaks = np.nan_to_num(f.heatmap.reshape(n, -1).max(axis=1), nan=0.0)
    top = float(peaks.max())
    return peaks / top if top > 0 and math.isfinite(top) else np.zeros(n)


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def scan_results(scanner: Scanner, images: Iterable[Image]) -> Iterator[tuple[list[InstanceResult], SeriesResult | None]]:
    """Scan loaded images grouped into series (library use; files go through :meth:`Scanner.scan_paths`)."""
    for series in group_series(images):
        if len(series) == 1 and series.instances[0].series_instance_uid is None:
            yield [scanner.scan_image(series.instances[0])], None
        else:
            yield scanner.scan_series(series)


__all__ = ["Scanner", "SeriesFindings", "InstanceResult", "SeriesResult", "scan_results"]
