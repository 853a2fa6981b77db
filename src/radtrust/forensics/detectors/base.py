"""The detector contract every forensic detector follows (after photoholmes' ``BaseMethod``, tightened).

A detector declares what it applies to (:class:`Scope`) and turns an :class:`~radtrust.io.Image` into a
:class:`Finding`: a score in [0, 1] (higher = more likely tampered), an optional heatmap with the image's
shape (higher = more suspicious) and evidence sentences an analyst can read. Detectors that understand
3D also implement :meth:`Detector.run_series`, whose heatmap has the volume's shape (slices, rows, cols).
A detector that cannot judge an input raises :class:`~radtrust.errors.NotApplicable`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from radtrust.errors import NotApplicable

if TYPE_CHECKING:
    from radtrust.io import Image, Series


@dataclass(frozen=True)
class Scope:
    """What a detector applies to. Empty ``modalities`` means any modality (including rasters without one)."""

    modalities: frozenset[str] = frozenset()
    dims: frozenset[int] = frozenset({2, 3})
    needs_header: bool = False

    def admits(self, image: Image) -> bool:
        if self.needs_header and not image.has_header:
            return False
        if self.modalities and (image.modality or "").upper() not in self.modalities:
            return False
        return image.pixels.ndim in self.dims


#: :attr:`Finding.slices` of a series finding that answers for the series' slices (each takes its share of it)
SHARE = "share"


@dataclass(frozen=True, eq=False)
class Finding:
    """One detector's result on one image or series."""

    score: float
    heatmap: np.ndarray | None = None
    evidence: tuple[str, ...] = field(default=())
    #: for a series finding without a map: the share (0-1) of it each instance carries; None = all of it
    shares: tuple[float, ...] | None = None
    #: for a series finding (:meth:`Detector.run_series`): how this detector judges the series' slices. None: each
    #: slice alone as well (its own finding merged with its share of this one). ``SHARE``: not alone, each takes its
    #: share of this one (what the series saw explains what a slice alone would flag, or the series pass read every
    #: slice's plane as :meth:`Detector.run` would). A tuple, one entry per slice: the detector's own judgement of
    #: each slice, made in the same pass from the same arrays (what :meth:`Detector.run` gives that slice: a
    #: Finding, or the NotApplicable it raised), so that no slice is read twice
    slices: str | tuple[Finding | NotApplicable, ...] | None = None

    def __post_init__(self) -> None:
        if not (self.slices is None or self.slices == SHARE or isinstance(self.slices, tuple)):
            raise ValueError(f"Finding.slices must be None, {SHARE!r} or a tuple, got {self.slices!r}")
        if not (isinstance(self.score, (int, float)) and math.isfinite(self.score) and 0.0 <= self.score <= 1.0):
            raise ValueError(f"Finding.score must be a finite number in [0, 1], got {self.score!r}")
        if self.heatmap is not None and self.heatmap.dtype != np.float32:
            object.__setattr__(self, "heatmap", self.heatmap.astype(np.float32))


class Detector(ABC):
    """Base class. Subclasses set ``name``, ``version`` and ``scope`` and implement :meth:`run`."""

    name: str
    version: str
    scope: Scope = Scope()

    def applies_to(self, image: Image) -> bool:
        return self.scope.admits(image)

    @abstractmethod
    def run(self, image: Image) -> Finding:
        """Analyse one image (2D, or a 3D multi-frame/volume image)."""

    def run_series(self, series: Series) -> Finding:
        """Analyse a sorted series as a volume. The default: not applicable (2D-only detectors).

        The finding's :attr:`~Finding.slices` says how the slices are then judged. Raising
        :class:`~radtrust.errors.EvidenceLost` says the evidence is lost for the whole series, its slices included:
        they are not judged alone, each says why; NotApplicable leaves them to be judged alone."""
        raise NotApplicable(f"detector {self.name} has no series (3D) analysis")


def sharing_ct_slices(found: Finding, series: Series) -> Finding:
    """``found`` answering for its series' slices (:data:`SHARE`) when the series is CT: for a detector whose
    series pass reads every slice's plane as its :meth:`Detector.run` does, and more. Measured in session 25 on
    both benchmarks and all authentic CT: what the slices' own runs added were chance-level scores that an edit and
    its authentic twin shared, and a CT slice in a series cost twice a slice alone (docs/verdict.md). Other
    modalities' slices keep their own runs (not measured)."""
    return replace(found, slices=SHARE) if (series.modality or "").upper() == "CT" else found
