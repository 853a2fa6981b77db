"""MetaImage volumes (``.mhd`` header with a ``.raw``/``.zraw`` file beside it, or one ``.mha``), read with SimpleITK
(from the ``research`` extra) as (slices, rows, columns).

The format of LUNA16 and of the LIDC-derived scans CT-GAN (Mirsky et al. 2019) reads and writes. It has no DICOM
header; its optional ``Modality`` field is read when present, and otherwise a volume of CT numbers is read as CT
(:mod:`radtrust.io.hounsfield`). The header is read first and the voxel count checked against the pixel limit
before any pixel is read; what MetaIO reports about a missing, short or undecodable data file becomes a one-line
input error.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from radtrust.config import Limits
from radtrust.errors import InputError, TooLarge
from radtrust.io.files import check_regular
from radtrust.io.hounsfield import inferred
from radtrust.io.image import Geometry, Image

SUFFIXES = (".mhd", ".mha")
# the header's optional Modality field (MetaIO's MET_MOD_* values); OTHER and UNKNOWN leave it to the values
_DECLARED = {"MET_MOD_CT": "CT", "MET_MOD_MR": "MR", "MET_MOD_NM": "NM", "MET_MOD_US": "US"}
_FAILURE_WORDS = ("fail", "not read", "error", "cannot")  # in what MetaIO writes: "Uncompress failed", "data not read"
MAX_HEADER = 1 << 16  # bytes of a .mhd header read to find its data file (headers are a few hundred bytes)


def is_metaimage(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES


def _check_data_file(path: Path) -> None:
    """A ``.mhd`` header names its pixel data's file (``ElementDataFile``, its last line): that file must be a regular
    file, so a header pointing at a pipe or a device cannot make the read block or never end. ``LOCAL`` means the
    data follow the header (as in ``.mha``); the multi-file forms (``LIST``, a pattern) are refused."""
    if path.suffix.lower() != ".mhd":
        return
    with open(path, "rb") as fh:
        head = fh.read(MAX_HEADER).decode("latin-1")
    for line in head.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "ElementDataFile":
            name = value.strip()
            if name.startswith("LIST") or "%" in name:
                raise InputError("multi-file MetaImage (ElementDataFile LIST or a file pattern) is not read", path)
            if name and name != "LOCAL":
                check_regular(path.parent / name, what="the MetaImage pixel data file named in the header")
            return


def slice_count(path: Path) -> int:
    """Slices of a MetaImage volume, from its header (0 for a 2D image or a header that cannot be read)."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetImageIO("MetaImageIO")
    reader.SetFileName(str(path))
    with _stderr_captured():
        try:
            reader.ReadImageInformation()
        except RuntimeError:
            return 0
    size = reader.GetSize()
    return int(size[2]) if len(size) >= 3 else 0


@contextlib.contextmanager
def _stderr_captured() -> Iterator[list[str]]:
    """Collect what C++ code writes to file descriptor 2 while the block runs (MetaIO explains its failures there,
    and says "Uncompress failed" while still handing back an image of zeros)."""
    out: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            out.extend(ln.strip() for ln in tmp.read(4096).decode("latin-1").splitlines() if ln.strip())


def _message(exc: Exception | None, said: list[str]) -> str:
    """One line: what MetaIO said (its own words, "data not read completely ideal = ...") else SimpleITK's exception
    text without its C++ source locations."""
    lines = said or [ln.strip() for ln in str(exc or "").splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("/", "Exception thrown", "Reason: Success"))] or lines or ["?"]
    text = " ".join(" ".join(useful[:3]).split())
    return text.replace("sitk::ERROR: ", "").replace("MetaImage: ", "")[:200]


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
    with _stderr_captured() as said:
        try:
            reader.ReadImageInformation()
            failed = None
        except RuntimeError as exc:
            failed = exc
    if failed is not None:
        raise InputError(f"cannot read as MetaImage: {_message(failed, said)}", path)
    size = tuple(int(s) for s in reader.GetSize())  # x, y[, z]
    components = int(reader.GetNumberOfComponents())
    if len(size) not in (2, 3) or components != 1:
        raise InputError(f"unsupported MetaImage: {len(size)} dimensions, {components} components per voxel "
                         "(a 2D or 3D scalar image is read)", path)
    if min(size) < 1:
        raise InputError(f"empty MetaImage: DimSize {' '.join(map(str, size))}", path)
    need = math.prod(size) * 8  # Python integers: a forged DimSize cannot overflow the check
    if need > limits.max_pixel_bytes:
        raise TooLarge(f"volume {size[::-1]} would need {need / 2**30:.1f} GiB, over the limit "
                       "(RADTRUST_MAX_PIXEL_BYTES)", path)
    with _stderr_captured() as said:
        try:
            img = reader.Execute()
            failed = None
        except RuntimeError as exc:
            failed = exc
    complaints = [ln for ln in said if any(w in ln.lower() for w in _FAILURE_WORDS)]
    if failed is not None or complaints:  # MetaIO's complaints are failures even when an image came back (of zeros)
        raise InputError(f"cannot read the MetaImage pixel data: {_message(failed, complaints)}", path)
    data = np.ascontiguousarray(sitk.GetArrayFromImage(img), dtype=np.float32)  # (z, y, x) or (y, x)
    sx, sy, *rest = (float(s) for s in img.GetSpacing())
    thickness = rest[0] if rest else None
    declared = _DECLARED.get(reader.GetMetaData("Modality").strip()) if reader.HasMetaDataKey("Modality") else None
    if declared:
        modality, notes = declared, (f"modality {declared} from the MetaImage header's Modality field",)
    else:
        modality, notes = inferred(data, "MetaImage")
    return Image(path=path, pixels=data, source_format="metaimage", modality=modality, notes=notes,
                 geometry=Geometry(pixel_spacing=(sy, sx), slice_thickness=thickness,
                                   spacing_between_slices=thickness))
