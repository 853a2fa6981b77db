"""How a detector's series finding answers for the series' slices (``Finding.slices``): not at all (the slices are run
alone), with a share for each (its 3D pass read every slice's plane), or with each slice's own judgement made in the
same pass; and a series whose evidence is lost loses it for its slices too."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from radtrust.errors import EvidenceLost, NotApplicable
from radtrust.forensics.detectors.base import SHARE, Detector, Finding
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


def test_noise_free_judges_every_slice_alone_in_its_series_pass(series, monkeypatch):
    """Each slice's noise-free finding is what run() gives that slice (a smooth patch pasted on one slice is found
    there), made from the maps the series pass computed: the slices are not read again."""
    x = series.instances[2].pixels.astype(np.float32)
    x[200:240, 200:240] = float(np.median(x[200:240, 200:240]))
    edited = Series(series.series_instance_uid, tuple(dataclasses.replace(im, pixels=x) if i == 2 else im
                                                      for i, im in enumerate(series.instances)), series.positions)
    det = NoiseFreeRegionDetector()
    alone = [det.run(im) for im in edited.instances]
    assert alone[2].score > 0.5 and max(f.score for i, f in enumerate(alone) if i != 2) < 0.2
    judged = det.run_series(edited).slices
    assert isinstance(judged, tuple) and len(judged) == len(edited)
    for own, ref in zip(judged, alone):
        assert own.score == ref.score and own.evidence == ref.evidence
        assert np.array_equal(own.heatmap, ref.heatmap)
    runs = _count_runs(monkeypatch, NoiseFreeRegionDetector)
    found = Scanner(["noise-free"]).series_findings(edited)
    assert runs == []
    assert found.instances[2]["noise-free"].score >= alone[2].score


class _Fake(Detector):
    """A detector whose series pass says, through ``answer``, how its slices are judged."""

    name = "fake"
    version = "1"

    def __init__(self, answer) -> None:  # noqa: ANN001
        self.answer, self.runs = answer, 0

    def run(self, image) -> Finding:  # noqa: ANN001
        self.runs += 1
        return Finding(0.1)

    def run_series(self, series) -> Finding:  # noqa: ANN001
        if isinstance(self.answer, Exception):
            raise self.answer
        return Finding(0.3, slices=self.answer(len(series)))


def _fake_scan(series, answer):  # noqa: ANN001
    scanner = Scanner(["noise-free"])
    scanner.detectors = [fake := _Fake(answer)]
    return fake, scanner.series_findings(series)


def test_each_slice_takes_the_judgement_its_series_pass_made(series):
    def answer(n: int) -> tuple:
        return (Finding(0.9, evidence=("planted",)), EvidenceLost("smoothed away"), *[NotApplicable("no")] * (n - 2))

    fake, found = _fake_scan(series, answer)
    assert fake.runs == 0
    assert found.instances[0]["fake"].score == 0.9 and "planted" in found.instances[0]["fake"].evidence
    assert "fake: not judged: smoothed away" in found.instance_notes[1]
    assert all(f["fake"].score == pytest.approx(0.3) for f in found.instances[1:])  # the share of the series finding
    assert found.findings_3d["fake"].slices is None  # the slices' own findings are held by the slices only


def test_a_shared_series_finding_is_not_run_on_the_slices_in_any_modality(series):
    mr = Series(series.series_instance_uid, tuple(dataclasses.replace(im, modality="MR") for im in series.instances),
                series.positions)
    fake, found = _fake_scan(mr, lambda n: SHARE)
    assert fake.runs == 0 and all(f["fake"].score == pytest.approx(0.3) for f in found.instances)
    fake, found = _fake_scan(mr, lambda n: None)
    assert fake.runs == len(series)


def test_evidence_lost_for_the_series_is_lost_for_its_slices(series):
    fake, found = _fake_scan(series, EvidenceLost("denoised throughout"))
    assert fake.runs == 0 and all("fake" not in f for f in found.instances)
    assert all("fake: not judged: denoised throughout" in notes for notes in [*found.instance_notes, found.notes])
    fake, found = _fake_scan(series, NotApplicable("no 3D analysis"))
    assert fake.runs == len(series)  # not applicable in 3D: the slices are judged alone


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
