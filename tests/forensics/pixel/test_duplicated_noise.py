"""Known answers for the duplicated-noise detector: a planted copy is found at its displacement."""

from __future__ import annotations

import numpy as np
import pytest

from radtrust.forensics.detectors.duplicated_noise import DuplicatedNoiseDetector, matched_pairs, residual_signs
from radtrust.forensics.registry import get_detector
from radtrust.io import load_image

from .conftest import make_image, phantom

COPIES = [  # (source row, source col, target row, target col, size, intensity offset, gain)
    (120, 300, 300, 110, 40, 0.0, 1.0),
    (200, 150, 260, 330, 32, 25.0, 1.0),  # pasted with an offset
    (150, 200, 330, 250, 48, -10.0, 1.3),  # and with a contrast change
]


@pytest.mark.parametrize(("sy", "sx", "ty", "tx", "size", "offset", "gain"), COPIES)
def test_planted_copy_found_at_its_displacement(rng, sy, sx, ty, tx, size, offset, gain):
    x = phantom(rng)
    x[ty : ty + size, tx : tx + size] = np.round(gain * x[sy : sy + size, sx : sx + size] + offset)
    finding = get_detector("duplicated-noise").run(make_image(x))
    assert finding.score > 0.95
    assert f"rows {sy - ty:+d}, cols {sx - tx:+d}" in finding.evidence[0] or (
        f"rows {ty - sy:+d}, cols {tx - sx:+d}" in finding.evidence[0]
    )
    heat = finding.heatmap
    assert heat.shape == x.shape
    inner = slice(6, size - 6)
    src = heat[sy : sy + size, sx : sx + size][inner, inner]
    dst = heat[ty : ty + size, tx : tx + size][inner, inner]
    assert src.mean() > 0.5 and dst.mean() > 0.5  # both source and target are marked
    outside = heat.copy()
    outside[sy - 2 : sy + size + 2, sx - 2 : sx + size + 2] = 0  # a boundary pixel may match by chance
    outside[ty - 2 : ty + size + 2, tx - 2 : tx + size + 2] = 0
    assert outside.max() < 0.05 * heat.max()  # and nothing else


def test_ct_repeats_outside_the_patient_are_not_copies(rng):
    """A CT table's structure repeats by construction (a resampled Siemens slice matched 29 positions there);
    on CT only the patient is searched, on a radiograph or picture everything still is."""
    x = phantom(rng)
    x[472:496, 120:160] = x[472:496, 300:340] = np.round(rng.normal(200, 300, (24, 40)))  # a table part, twice
    assert DuplicatedNoiseDetector().run(make_image(x)).score < 0.1
    assert DuplicatedNoiseDetector().run(make_image(x, modality="CR")).score > 0.95


def test_copy_across_slices_found_in_series(rng):
    vol = np.stack([phantom(np.random.default_rng(k), (256, 256)) for k in range(6)])
    vol[4, 100:140, 60:100] = vol[1, 40:80, 150:190]
    finding = DuplicatedNoiseDetector()._analyse(vol)
    assert finding.score > 0.95
    shifts = ("slice +3, rows +60, cols -90", "slice -3, rows -60, cols +90")
    assert any(s in finding.evidence[0] for s in shifts), finding.evidence
    assert finding.heatmap.shape == vol.shape
    assert finding.heatmap[4, 105:135, 65:95].mean() > 0.5 and finding.heatmap[1, 45:75, 155:185].mean() > 0.5


def test_matched_pairs_returns_both_copies(rng):
    x = phantom(rng, (128, 128))
    x[70:100, 70:100] = x[10:40, 20:50]
    h, usable = residual_signs(x)
    a, b = matched_pairs(h, usable, (-60, -50))
    assert len(a) > 500
    assert a.min(axis=0).tolist() >= [65, 65] and b.max(axis=0).tolist() <= [45, 55]


def test_pure_noise_and_authentic_samples_score_low(rng, sample_ct_files, sample_cr_file):
    det = DuplicatedNoiseDetector()
    assert det.run(make_image(phantom(rng))).score < 0.1
    for path in [*sample_ct_files, sample_cr_file]:
        finding = det.run(load_image(path))
        assert finding.score < 0.3, (path, finding.evidence)
        assert finding.heatmap.shape == load_image(path).pixels.shape


def test_authentic_shared_data_has_no_false_alarms(shared_data):
    det = DuplicatedNoiseDetector()
    paths = sorted((shared_data / "ct").glob("*/*.dcm"))[::3] + sorted((shared_data / "cxr").glob("*.jpg"))[:20]
    scores = {p.name: det.run(load_image(p)).score for p in paths}
    alarms = [n for n, s in scores.items() if s >= 0.5]
    assert len(alarms) <= max(1, len(scores) // 50), alarms
