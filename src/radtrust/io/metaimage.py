"""MetaImage volumes (``.mhd`` header with a ``.raw``/``.zraw`` file beside it, or one ``.mha``), read with SimpleITK
(from the ``research`` extra) as (slices, rows, columns).

The format of LUNA16 and of the LIDC-derived scans CT-GAN (Mirsky et al. 2019) reads and writes. Like NIfTI it has
no DICOM header and no modality: a volume of CT numbers is read as CT (:mod:`radtrust.io.hounsfield`). The header is
read first and the voxel count checked against the pixel limit before any pixel is read; SimpleITK's own messages
for a missing or short data file become one-line input errors.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from radtrust.config import Limits
from radtrust.errors import InputError, TooLarge
from radtrust.io.files import check_regular
from radtrust.io.hounsfield import inferred
from radtrust.io.image import Geometry, Image

SUFFIXES = (".mhd", ".mha")
MAX_HEADER = 1 << 16  # bytes of a .mhd header read to find its data file (headers are a few hundred bytes)


def is_metaimage(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES


def _check_data_file(path: Path) -> None:
    """A ``.mhd`` header names its pixel data's file (``ElementDataFile``, its last line): that file must be a regular
    file, so a header pointing at a pipe or a device cannot make the read block or never end. ``LOCAL`` (the data
    follow the header, as in ``.mha``) and the multi-file forms (``LIST``, a pattern) are left to SimpleITK."""
    if path.suffix.lower() != ".mhd":
        return
    with open(path, "rb") as fh:
        head = fh.read(MAX_HEADER).decode("latin-1")
    for line in head.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "ElementDataFile":
            name = value.strip()
            if name and name != "LOCAL" and not name.startswith("LIST") and "%" not in name.split()[0]:
                check_regular(path.parent / name, what="the MetaImage pixel data file named in the header")
            return


def _message(exc: Exception) -> str:
    """SimpleITK's exception text without its C++ source locations: the last meaningful line, one line."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("sitk::ERROR", "/", "Exception thrown"))] or lines or ["?"]
    return " ".join(useful[-1].split())[:200]


def load_metaimage(path: str | os.PathLike[str], *, limits: Limits | None = None) -> Image:
    try:
        import SimpleITK as sitk
    except ImportError:
        raise InputError("reading MetaImage needs SimpleITK: pip install 'radtrust[research]'", path) from None
    limits = limits or Limits.from_env()
    path = Path(path)
    _check_data_file(path)
    reader = sitk.ImageFileReader()
    reader.SetImageIO("MetaImageIO")
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise InputError(f"cannot read as MetaImage: {_message(exc)}", path) from None
    size = tuple(int(s) for s in reader.GetSize())  # x, y[, z]
    components = int(reader.GetNumberOfComponents())
    if len(size) not in (2, 3) or components != 1:
        raise InputError(f"unsupported MetaImage: {len(size)} dimensions, {components} components per voxel "
                         "(a 2D or 3D scalar image is read)", path)
    need = int(np.prod(size)) * 8
    if need > limits.max_pixel_bytes:
        raise TooLarge(f"volume {size[::-1]} would need {need / 2**30:.1f} GiB, over the limit "
                       "(RADTRUST_MAX_PIXEL_BYTES)", path)
    try:
        img = reader.Execute()
    except RuntimeError as exc:
        raise InputError(f"cannot read the MetaImage pixel data: {_message(exc)}", path) from None
    data = np.ascontiguousarray(sitk.GetArrayFromImage(img), dtype=np.float32)  # (z, y, x) or (y, x)
    sx, sy, *rest = (float(s) for s in img.GetSpacing())
    thickness = rest[0] if rest else None
    modality, notes = inferred(data, "MetaImage")
    return Image(path=path, pixels=data, source_format="metaimage", modality=modality, notes=notes,
                 geometry=Geometry(pixel_spacing=(sy, sx), slice_thickness=thickness,
                                   spacing_between_slices=thickness))
