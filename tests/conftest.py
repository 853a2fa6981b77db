"""Shared fixtures: the sample study in the repo, the authentic data in ../shared/data, DCMTK tools."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """samples/ in the repo: ct/ (6 Siemens slices, JPEG 2000 lossless) and cr/RG1_crop.dcm."""
    return SAMPLES


@pytest.fixture(scope="session")
def sample_ct_files() -> list[Path]:
    return sorted((SAMPLES / "ct").glob("*.dcm"))


@pytest.fixture(scope="session")
def sample_cr_file() -> Path:
    return SAMPLES / "cr" / "RG1_crop.dcm"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (authentic CT and radiographs); tests that need it skip when it is missing."""
    if not (SHARED_DATA / "MANIFEST.tsv").exists():
        pytest.skip(f"authentic data not found at {SHARED_DATA} (see README, 'Data and licences')")
    return SHARED_DATA


def require_tool(name: str) -> str:
    """Path of a command-line tool the test talks to; skip naming the Debian package when absent."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (make test installs it from Debian)")
    return path
