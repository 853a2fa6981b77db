"""Cropping every frame to a rectangle, with the geometry moved so the pixels stay where they were.

ImagePositionPatient moves by ``col0 * column spacing`` along the row direction cosines and
``row0 * row spacing`` along the column direction cosines (PS3.3 C.7.6.2.1.1). The result is a new,
DERIVED image (new SOP Instance UID, Source Image Sequence referencing the original), stored uncompressed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from radtrust.errors import UsageError
from radtrust.provenance.derive.derived import mark_derived


def parse_box(text: str) -> tuple[int, int, int, int]:
    """``ROW,COL,HEIGHT,WIDTH`` in pixels."""
    try:
        row, col, height, width = (int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--box must be ROW,COL,HEIGHT,WIDTH in pixels, not {text!r}") from None
    return row, col, height, width


def crop(ds: Any, *, box: tuple[int, int, int, int], path: Path | None = None) -> dict[str, Any]:
    from radtrust.config import Limits
    from radtrust.io.dicom import decode_pixels, pixel_layout

    row, col, height, width = box
    if "PerFrameFunctionalGroupsSequence" in ds:
        raise UsageError("cropping enhanced multi-frame objects (per-frame geometry) is not supported", path)
    where, limits = path or Path("<dataset>"), Limits.from_env()
    _, rows, cols, _, _ = pixel_layout(ds, where, limits)  # Rows and Columns checked, the size limited
    if row < 0 or col < 0 or height <= 0 or width <= 0 or row + height > rows or col + width > cols:
        raise UsageError(f"crop box {box} does not fit in the {rows}x{cols} image", path)
    stored = decode_pixels(ds, where, limits)
    cropped = np.ascontiguousarray(stored[..., row:row + height, col:col + width])
    source = mark_derived(ds, f"Cropped to rows {row}-{row + height - 1}, columns {col}-{col + width - 1}")
    if "ImagePositionPatient" in ds and "ImageOrientationPatient" in ds and "PixelSpacing" in ds:
        pos = np.array([float(v) for v in ds.ImagePositionPatient])
        ori = [float(v) for v in ds.ImageOrientationPatient]
        row_spacing, col_spacing = (float(v) for v in ds.PixelSpacing)
        pos = pos + col * col_spacing * np.array(ori[:3]) + row * row_spacing * np.array(ori[3:])
        ds.ImagePositionPatient = [f"{v:.6g}" for v in pos]
    ds.set_pixel_data(cropped, str(ds.PhotometricInterpretation), int(ds.BitsStored), generate_instance_uid=False)
    return {"box": {"row": row, "col": col, "height": height, "width": width}, "source": source,
            "original_size": [rows, cols]}
