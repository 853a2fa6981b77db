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
from dataclasses import dataclass, field
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


@dataclass(frozen=True, eq=False)
class Finding:
    """One detector's result on one image or series."""

    score: float
    heatmap: np.ndarray | None = None
    evidence: tuple[str, ...] = field(default=())
    #: for a series finding without a map: the share (0-1) of it each instance carries; None = all of it
    shares: tuple[float, ...] | None = None
    #: for a series finding of a detector with ``series_settles_slices``: it answers for each slice, which is then
    #: not judged alone but takes its share (what the series saw explains what a slice alone would flag)
    settles_slices: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.score, (int, float)) and math.isfinite(self.score) and 0.0 <= self.score <= 1.0):
            raise ValueError(f"Finding.score must be a finite number in [0, 1], got {self.score!r}")
        if self.heatmap is not None and self.heatmap.dtype != np.float32:
            object.__setattr__(self, "heatmap", self.heatmap.astype(np.float32))


class Detector(ABC):
    """Base class. Subclasses set ``name``, ``version`` and ``scope`` and implement :meth:`run`."""

    name: str
    version: str
    scope: Scope = Scope()
    #: True when a series judged as a whole may settle this detector's question for its slices: when
    #: :meth:`run_series` says the evidence was lost for the whole series, or gives a finding marked
    #: ``settles_slices``, the slices are not judged alone (each takes its share of the finding, or the series'
    #: reason). For context a slice cannot see (noise-free: quiet spots that recur through a denoised series).
    series_settles_slices: bool = False
    #: True when :meth:`run_series` reads every slice's plane as :meth:`run` does and more: in a CT series for which
    #: it gives a finding, the slices are not run again one by one, each takes its share of that finding instead
    #: (:meth:`radtrust.forensics.scanner.Scanner.series_findings`). Measured in session 25 on both benchmarks and
    #: all authentic CT: what the slices' own runs added were chance-level scores that an edit and its authentic
    #: twin shared, and a CT slice in a series cost twice a slice alone (docs/verdict.md).
    series_covers_slices: bool = False

    def applies_to(self, image: Image) -> bool:
        return self.scope.admits(image)

    @abstractmethod
    def run(self, image: Image) -> Finding:
        """Analyse one image (2D, or a 3D multi-frame/volume image)."""

    def run_series(self, series: Series) -> Finding:
        """Analyse a sorted series as a volume. The default: not applicable (2D-only detectors)."""
        raise NotApplicable(f"detector {self.name} has no series (3D) analysis")
