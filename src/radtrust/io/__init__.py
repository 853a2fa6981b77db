"""Reading images: the one way every part of radtrust gets pixels and headers.

>>> from radtrust.io import load_image, load_series
>>> image = load_image("slice.dcm")          # DICOM, PNG/JPEG/TIFF or NIfTI
>>> [series] = load_series("study_folder/")  # sorted along the slice normal
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from radtrust.io.dicom import load_dicom, read_dataset
from radtrust.io.image import Acquisition, Geometry, Image
from radtrust.io.load import Loaded, iter_files, iter_images, load_image
from radtrust.io.series import Series, assemble, group_series


def load_series(inputs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Series]:
    """Load files/folders and group them into sorted series. Raises the first bad file's error."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    images = []
    for loaded in iter_images(inputs):
        if loaded.error is not None:
            raise loaded.error
        assert loaded.image is not None
        images.append(loaded.image)
    return group_series(images)


__all__ = [
    "Acquisition", "Geometry", "Image", "Loaded", "Series", "assemble", "group_series", "iter_files",
    "iter_images", "load_dicom", "load_image", "load_series", "read_dataset",
]
