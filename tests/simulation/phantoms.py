"""Seeded synthetic targets for simulator tests: a small chest CT phantom and a radiograph."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from radtrust.simulation import dicomize
from radtrust.simulation.target import Target, value_range_of


def ct_phantom(seed: int = 0, shape: tuple[int, int, int] = (24, 128, 128), spacing=(2.0, 1.0, 1.0)) -> Target:
    """A body ellipse of soft tissue (40 HU) with two air-filled lungs (-850 HU), vessels and CT-like noise."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape, dtype=np.float32)
    cz, cy, cx = (s / 2 for s in shape)
    body = ((y - cy) / 56) ** 2 + ((x - cx) / 60) ** 2 <= 1.0
    vol = np.full(shape, -1000.0, dtype=np.float32)
    vol[body] = 40.0
    lungs = np.zeros(shape, dtype=bool)
    for side in (-1, 1):
        lungs |= (((y - cy) / 40) ** 2 + ((x - cx - side * 28) / 22) ** 2 + ((z - cz) / 14) ** 2) <= 1.0
    vol[lungs] = -850.0
    vessels = ndi.gaussian_filter((rng.random(shape) > 0.9994).astype(np.float32), (0.5, 1.2, 1.2)) > 0.02
    vol[vessels & lungs] = 30.0
    noise = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), (0, 0.6, 0.6))
    vol += noise / noise.std() * 12.0
    vol = np.rint(vol)
    datasets = dicomize.ct_series_datasets(shape, spacing, patient_id="PHANTOM", key=f"phantom-{seed}")
    return Target(pixels=vol, spacing=spacing, modality="CT", datasets=datasets, name="phantom", patient="PHANTOM",
                  source="phantom", value_range=value_range_of(datasets[0]), lungs=lungs)


def radiograph_phantom(seed: int = 0, shape: tuple[int, int] = (256, 256)) -> Target:
    """A 12-bit MONOCHROME2 chest-like picture: bright mediastinum and ribs, dark lung fields, Poisson-like noise."""
    rng = np.random.default_rng(seed)
    y, x = np.indices(shape, dtype=np.float32)
    h, w = shape
    img = 1800.0 + 600.0 * np.exp(-((x - w / 2) / (w * 0.12)) ** 2)
    for side in (-1, 1):
        img -= 700.0 * np.exp(-(((x - w / 2 - side * w * 0.22) / (w * 0.13)) ** 2 + ((y - h * 0.5) / (h * 0.28)) ** 2))
    img += 250.0 * (np.sin(y / 9.0) > 0.7)
    img += rng.normal(0.0, 1.0, shape) * np.sqrt(np.maximum(img, 1.0)) * 0.8
    img = np.clip(np.rint(img), 0, 4095).astype(np.float32)
    ds = dicomize.radiograph_dataset(shape, bits=12, patient_id="XR-PHANTOM", key=f"xr-{seed}")
    return Target(pixels=img, spacing=(0.5, 0.5), modality="DX", datasets=(ds,), name="xr", patient="XR-PHANTOM",
                  source="phantom", value_range=value_range_of(ds))
