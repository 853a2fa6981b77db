"""A CT volume delivered as NIfTI is judged by the CT checks, as the same scan in DICOM is."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi

from radtrust.forensics.scanner import Scanner
from radtrust.io import load_image


@pytest.fixture(scope="module")
def slab(shared_data: Path) -> tuple[np.ndarray, tuple[float, ...]]:
    import nibabel as nib

    img = nib.load(str(shared_data / "ct" / "chest_volume" / "cxr.nii.gz"))
    return np.asarray(img.dataobj[:, :, 60:76], dtype=np.float32), tuple(float(z) for z in img.header.get_zooms()[:3])


def _save(tmp_path: Path, name: str, vol: np.ndarray, zooms: tuple[float, ...]) -> Path:
    import nibabel as nib

    path = tmp_path / name
    nib.save(nib.Nifti1Image(np.rint(vol).astype(np.int16), np.diag([*zooms, 1.0])), path)
    return path


def test_a_smoothed_region_of_a_nifti_ct_is_found_by_the_ct_checks(tmp_path: Path, slab) -> None:
    vol, zooms = slab
    x, y, z = np.indices(vol.shape)
    ball = ((x - 300) / 1.0) ** 2 + ((y - 260) / 1.0) ** 2 + ((z - 8) * zooms[2] / zooms[0]) ** 2 < 22 ** 2
    edited = np.where(ball, ndi.gaussian_filter(vol, 4.0), vol)  # noise removed from a 31 mm ball
    scanner = Scanner()
    authentic = load_image(_save(tmp_path, "authentic.nii.gz", vol, zooms))
    tampered = load_image(_save(tmp_path, "tampered.nii.gz", edited, zooms))
    assert authentic.modality == tampered.modality == "CT"

    clean = scanner.scan_image(authentic)
    assert clean.verdict == "authentic" and "noise-free" in clean.detectors
    assert any(e.startswith("input: modality CT inferred") for e in clean.evidence)
    found = scanner.scan_image(tampered)
    assert found.verdict in ("suspicious", "tampered") and found.detectors["noise-free"] > 0.5
    assert found.heatmap is not None and found.heatmap.shape == tampered.shape
    # the map peaks at the ball (z, y, x order after loading)
    peak = np.unravel_index(int(np.argmax(found.heatmap)), found.heatmap.shape)
    assert abs(peak[1] - 260) < 40 and abs(peak[2] - 300) < 40

    # without the modality (how NIfTI was read before) the CT checks do not apply and the hole goes unseen
    blind = scanner.scan_image(dataclasses.replace(tampered, modality=None))
    assert "noise-free" not in blind.detectors
