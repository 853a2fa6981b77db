"""NIfTI volumes (nibabel, from the ``research`` extra), read as (slices, rows, columns).

NIfTI stores x, y, z in voxel order; radtrust's volumes are slice-first like a DICOM series,
so the array is transposed to (z, y, x). The affine gives spacing; there is no DICOM header, so no modality
either: a volume of CT numbers is read as CT (:mod:`radtrust.io.hounsfield`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from radtrust.config import Limits
from radtrust.errors import InputError, TooLarge
from radtrust.io.hounsfield import inferred
from radtrust.io.image import Geometry, Image

SUFFIXES = (".nii", ".nii.gz")


def is_nifti(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(SUFFIXES)


def slice_count(path: Path) -> int:
    """Slices of a NIfTI volume, from its header (0 for a 2D image)."""
    import nibabel as nib

    shape = nib.load(str(path)).shape
    return int(shape[2]) if len(shape) >= 3 else 0


def load_nifti(path: str | os.PathLike[str], *, limits: Limits | None = None) -> Image:
    try:
        import nibabel as nib
    except ImportError:
        raise InputError("reading NIfTI needs nibabel: pip install 'radtrust[research]'", path) from None
    limits = limits or Limits.from_env()
    path = Path(path)
    try:
        img = nib.load(str(path))
        shape = tuple(int(s) for s in img.shape)
        need = int(np.prod(shape)) * 8
        if need > limits.max_pixel_bytes:
            raise TooLarge(f"volume {shape} would need {need / 2**30:.1f} GiB, over the limit "
                           f"(RADTRUST_MAX_PIXEL_BYTES)", path)
        data = np.asarray(img.dataobj, dtype=np.float32)
        zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    except TooLarge:
        raise
    except Exception as exc:
        raise InputError(f"cannot read as NIfTI: {' '.join(str(exc).split())[:200]}", path) from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim not in (2, 3):
        raise InputError(f"unsupported NIfTI shape {data.shape}", path)
    if data.ndim == 3:
        data = np.ascontiguousarray(np.transpose(data, (2, 1, 0)))
        spacing = (zooms[1], zooms[0])
        thickness = zooms[2] if len(zooms) > 2 else None
    else:
        data = np.ascontiguousarray(data.T)
        spacing, thickness = (zooms[1], zooms[0]), None
    modality, notes = inferred(data, "NIfTI")
    return Image(path=path, pixels=data, source_format="nifti", modality=modality, notes=notes,
                 geometry=Geometry(pixel_spacing=spacing, slice_thickness=thickness, spacing_between_slices=thickness))
