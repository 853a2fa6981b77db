"""Whether an image's values are CT numbers, told from the values alone.

Every CT field of view holds air (about -1000 HU, noisy) and water or soft tissue (near 0): :func:`hounsfield_modality`
looks for both. Header-less volumes (NIfTI, MetaImage) carry no modality: one of CT numbers is read as CT, so that
the CT checks judge it as they judge the same scan in DICOM, and the image's notes say the modality was inferred. MR
and PET values are not negative, label maps hold no air, and a CT stored in raw units puts air near 0: none of them
passes, and they keep no modality. The same test checks a DICOM CT's Rescale Type when it claims another unit
(:func:`radtrust.io.dicom.not_hounsfield`).
"""

from __future__ import annotations

import numpy as np

_AIR_HU = (-1100.0, -900.0)     # air, as CT reconstructs it
_SOFT_HU = (-150.0, 150.0)      # water, fat's upper edge, soft tissue
# shares of the voxels each needs: the chest CT holds 0.33 and 0.31, the Philips head phantom (small in a wide field)
# 0.78 and 0.049
_MIN_AIR, _MIN_SOFT = 0.01, 0.01
# distinct values air must take: reconstructed air is noisy (124-125 values in the sample of each CT source here), a
# derived map's padding is one value (pydicom-data's perfusion map, -1024 and 0..172 inside: 2)
_MIN_AIR_VALUES = 20
_LOWEST_HU = -3100.0            # below every vendor's padding value (-3024, -2048, -1024)
INFERRED_CT = "modality CT inferred: the values are CT numbers (air near -1000 HU, water and soft tissue near 0)"


def hounsfield_modality(data: np.ndarray) -> str | None:
    """``"CT"`` when a volume's values are Hounsfield units, else None.

    Judged on every fourth voxel along each axis: nothing under ``_LOWEST_HU``, at least ``_MIN_AIR`` of the voxels
    at air's value, taking at least ``_MIN_AIR_VALUES`` values (noise, not padding), and ``_MIN_SOFT`` near water's.
    nibabel's MR examples (anatomical, functional, 4D), the shared chest CT's label map and pydicom-data's CT perfusion
    map (air-valued padding around a map of 0-172) do not pass; the chest CT and the four shared CT series do.
    """
    sample = np.asarray(data[tuple(slice(None, None, 4) for _ in range(data.ndim))], dtype=np.float32).ravel()
    sample = sample[np.isfinite(sample)]
    if sample.size == 0 or float(sample.min()) < _LOWEST_HU:
        return None
    in_air = (sample >= _AIR_HU[0]) & (sample <= _AIR_HU[1])
    soft = np.mean((sample >= _SOFT_HU[0]) & (sample <= _SOFT_HU[1]))
    if np.mean(in_air) < _MIN_AIR or soft < _MIN_SOFT:
        return None
    return "CT" if np.unique(sample[in_air]).size >= _MIN_AIR_VALUES else None


def inferred(data: np.ndarray, what: str) -> tuple[str | None, tuple[str, ...]]:
    """(modality, notes) for a header-less volume read from a ``what`` file ("NIfTI", "MetaImage")."""
    modality = hounsfield_modality(data)
    return modality, ((f"{INFERRED_CT}; {what} carries no modality",) if modality else ())
