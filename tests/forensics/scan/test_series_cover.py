"""A detector whose 3D pass reads every slice's plane is not run again on a series' slices (series_covers_slices)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from radtrust.errors import NotApplicable
from radtrust.forensics.detectors.duplicated_noise import DuplicatedNoiseDetector
from radtrust.forensics.detectors.noise_free import NoiseFreeRegionDetector
from radtrust.forensics.scanner import Scanner
from radtrust.io import Series, load_series

SAMPLES = Path(__file__).resolve().parents[3] / "samples" / "ct"


@pytest.fixture(scope="module")
def series():
    (s,) = load_series(SAMPLES)
    return s


def _count_runs(monkeypatch, cls) -> list[int]:
    calls: list[int] = []
    real = cls.run
    monkeypatch.setattr(cls, "run", lambda self, image: calls.append(1) or real(self, image))
    return calls


def test_a_covering_detector_gives_each_slice_its_share_of_the_series_finding(series, monkeypatch):
    runs = _count_runs(monkeypatch, DuplicatedNoiseDetector)
    found = Scanner(["duplicated-noise", "noise-free"]).series_findings(series)
    assert runs == []  # its 3D pass voted every plane's in-plane displacements already
    assert "duplicated-noise" in found.findings_3d
    for inst in found.instances:  # each slice still carries a score (its share) and a map slice for it
        assert 0.0 <= inst["duplicated-noise"].score <= found.findings_3d["duplicated-noise"].score
        assert inst["duplicated-noise"].heatmap is not None


def test_noise_free_still_judges_every_slice_alone(series, monkeypatch):
    runs = _count_runs(monkeypatch, NoiseFreeRegionDetector)
    Scanner(["noise-free"]).series_findings(series)
    assert len(runs) == len(series)


def test_without_a_series_finding_the_slices_are_run_alone(series, monkeypatch):
    def no_3d(self, s):
        raise NotApplicable("no 3D analysis in this test")

    monkeypatch.setattr(DuplicatedNoiseDetector, "run_series", no_3d)
    runs = _count_runs(monkeypatch, DuplicatedNoiseDetector)
    found = Scanner(["duplicated-noise"]).series_findings(series)
    assert len(runs) == len(series) and "duplicated-noise" not in found.findings_3d
    assert all("duplicated-noise" in inst for inst in found.instances)


def test_only_ct_series_are_covered(series, monkeypatch):
    """The rule was measured on CT: an MR series' slices keep their own runs."""
    mr = Series(series.series_instance_uid, tuple(dataclasses.replace(im, modality="MR") for im in series.instances),
                series.positions)
    runs = _count_runs(monkeypatch, DuplicatedNoiseDetector)
    found = Scanner(["duplicated-noise"]).series_findings(mr)
    assert "duplicated-noise" in found.findings_3d and len(runs) == len(series)
