"""Seeded synthetic images for the pixel detectors' known-answer tests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from radtrust.io import Image


def make_image(pixels: np.ndarray, modality: str | None = "CT", source: str = "dicom", bits: int | None = 12) -> Image:
    return Image(path=None, pixels=np.asarray(pixels, dtype=np.float32), source_format=source, modality=modality,
                 bits_stored=bits)


def phantom(rng: np.random.Generator, shape: tuple[int, int] = (512, 512), sigma: float = 12.0) -> np.ndarray:
    """A CT-like slice in HU: air outside a soft-tissue ellipse with smooth organs, integer HU, noise sigma."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    cy, cx = shape[0] / 2, shape[1] / 2
    body = ((yy - cy) / (0.42 * shape[0])) ** 2 + ((xx - cx) / (0.46 * shape[1])) ** 2 < 1
    x = np.where(body, 40.0, -1000.0).astype(np.float32)
    x += 30.0 * np.exp(-(((yy - cy * 0.8) ** 2 + (xx - cx * 1.2) ** 2) / (2 * (shape[0] / 10) ** 2)))
    x = ndimage.gaussian_filter(x, 1.0)
    noise = ndimage.gaussian_filter(rng.normal(0, 1, shape), 0.7)
    noise *= sigma / noise.std()
    return np.round(x + noise).astype(np.float32)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261128)
