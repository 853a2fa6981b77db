"""PNG, JPEG and TIFF input for research users (Pillow, from the ``research`` extra).

These files carry no DICOM header: checks that need one report "not applicable".
Colour pictures are converted to luminance (ITU-R 601 weights), noted on the image.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from radtrust.config import Limits
from radtrust.errors import InputError, TooLarge
from radtrust.io.image import Image, colour_clipped

FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff"}


def load_raster(path: str | os.PathLike[str], *, limits: Limits | None = None) -> Image:
    try:
        from PIL import Image as PILImage
    except ImportError:
        raise InputError("reading PNG/JPEG/TIFF needs Pillow: pip install 'radtrust[research]'", path) from None
    limits = limits or Limits.from_env()
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower(), "raster")
    PILImage.MAX_IMAGE_PIXELS = None  # our own limit below applies before decoding
    try:
        with PILImage.open(path) as im:
            width, height = im.size
            frames = getattr(im, "n_frames", 1)
            need = width * height * 4 * 2
            if need > limits.max_pixel_bytes:
                raise TooLarge(
                    f"{width}x{height} would need {need / 2**30:.1f} GiB, over the limit of "
                    f"{limits.max_pixel_bytes / 2**30:.1f} GiB (RADTRUST_MAX_PIXEL_BYTES)",
                    path,
                )
            notes: list[str] = []
            clipped = None
            if frames > 1:
                notes.append(f"first of {frames} pages read")
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I", "F", "L"):
                arr = np.asarray(im, dtype=np.float32)
            else:
                notes.append(f"{mode} picture converted to luminance")
                arr = np.asarray(im.convert("RGB"), dtype=np.float32)
                clipped = colour_clipped(arr)
                arr = arr[..., 0] * 0.299 + arr[..., 1] * 0.587 + arr[..., 2] * 0.114
            bits = {"L": 8, "RGB": 8, "RGBA": 8, "P": 8, "LA": 8}.get(mode, 16)
    except TooLarge:
        raise
    except Exception as exc:
        raise InputError(f"cannot read as {fmt}: {' '.join(str(exc).split())[:200]}", path) from None
    if arr.ndim != 2:
        raise InputError(f"unexpected picture shape {arr.shape}", path)
    return Image(path=path, pixels=np.ascontiguousarray(arr, dtype=np.float32), source_format=fmt,
                 bits_stored=bits, notes=tuple(notes), colour_clipped=clipped)
