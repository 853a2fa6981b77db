"""NIfTI volumes (nibabel, from the ``research`` extra), read as (slices, rows, columns).

NIfTI stores x, y, z in voxel order; radtrust's volumes are slice-first like a DICOM series,
so the array is transposed to (z, y, x). The affine gives spacing; there is no DICOM header, so no modality
either. A volume whose values are CT numbers (:func:`hounsfield_modality`: air near -1000 HU and water or soft
tissue near 0, the two things every CT field of view holds) is read as CT, so that the CT checks judge it as they
judge the same scan in DICOM, and the image's notes say it was inferred; anything else (MR, PET, label maps, CT
stored in raw detector units) keeps no modality.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from radtrust.config import Limits
from radtrust.errors import InputError, TooLarge
from radtrust.io.image import Geometry, Image

SUFFIXES = (".nii", ".nii.gz")
_AIR_HU = (-1100.0, -900.0)     # air, as CT reconstructs it
_SOFT_HU = (-150.0, 150.0)      # water, fat's upper edge, soft tissue
# shares of the voxels each needs: the chest CT holds 0.33 and 0.31, the Philips head phantom (small in a wide field)
# 0.78 and 0.049
_MIN_AIR, _MIN_SOFT = 0.01, 0.01
_LOWEST_HU = -3100.0            # below every vendor's padding value (-3024, -2048, -1024)


def hounsfield_modality(data: np.ndarray) -> str | None:
    """``"CT"`` when a volume's values are Hounsfield units, else None.

    Judged on every fourth voxel along each axis: nothing under ``_LOWEST_HU``, at least ``_MIN_AIR`` of the voxels
    at air's value and ``_MIN_SOFT`` near water's. MR and PET values are not negative, label maps hold no air, and a CT
    stored in raw units puts air near 0; none of them passes. nibabel's MR examples (anatomical, functional, 4D) and
    the shared chest CT's label map do not; the chest CT and slabs of the four shared CT series written as NIfTI do.
    """
    sample = np.asarray(data[tuple(slice(None, None, 4) for _ in range(data.ndim))], dtype=np.float32).ravel()
    sample = sample[np.isfinite(sample)]
    if sample.size == 0 or float(sample.min()) < _LOWEST_HU:
        return None
    air = np.mean((sample >= _AIR_HU[0]) & (sample <= _AIR_HU[1]))
    soft = np.mean((sample >= _SOFT_HU[0]) & (sample <= _SOFT_HU[1]))
    return "CT" if air >= _MIN_AIR and soft >= _MIN_SOFT else None


def is_nifti(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(SUFFIXES)


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
    modality = hounsfield_modality(data)
    notes = ("modality CT inferred: the values are CT numbers (air near -1000 HU, water and soft tissue near 0); "
             "NIfTI carries no modality",) if modality else ()
    return Image(path=path, pixels=data, source_format="nifti", modality=modality, notes=notes,
                 geometry=Geometry(pixel_spacing=spacing, slice_thickness=thickness, spacing_between_slices=thickness))
