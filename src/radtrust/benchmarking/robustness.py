"""Robustness variants: what a PACS or an attacker does to *every* image after the fact.

Each variant rewrites an image (or each slice of a series) as a real DICOM file, which the scanner
then reads like any other, and is applied to the authentic and the tampered images alike:

- ``lossless``: re-encoded as JPEG 2000 lossless (RLE lossless for a source already in JPEG 2000);
  the pixels are unchanged, only the encoding differs;
- ``j2k-lossy``: JPEG 2000 irreversible at a 10:1 compression ratio (``j2k-lossy:4``: at 4:1);
- ``resample``: in-plane down to 75 % and back up (linear), the image keeps its size;
- ``requantise``: the two least significant stored bits dropped (steps of 4);
- ``jpeg-resave``: saved again as JPEG baseline at quality 90 (Pillow's libjpeg, stored encapsulated with
  Lossy Image Compression 01), what an image editor or a web export does to a picture. Only 8-bit greyscale
  images can be baseline JPEG; the others are not in this variant (:class:`NotApplicableVariant`), and its
  AUC is compared with the clean AUC of the same images (``jpeg-resave:95``: at quality 95).

The two lossy variants take their strength after a colon, so a report can measure how the figures fall
with the compression (``radtrust bench --variants j2k-lossy:3,j2k-lossy:5,j2k-lossy``).

Masks keep their meaning: no variant moves anatomy.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from radtrust.io import iter_files, read_dataset
from radtrust.io.dicom import image_from_dataset
from radtrust.io.lossy import record_lossy_step
from radtrust.provenance.derive.compress import MAX_RATIO
from radtrust.simulation.writer import encode_slice, stored_values

VARIANTS = ("lossless", "j2k-lossy", "resample", "requantise", "jpeg-resave")
J2K_RATIO = 10.0
JPEG_QUALITY = 90


def parse_variant(variant: str) -> tuple[str, float | None]:
    """``name`` or ``name:strength`` -> (name, strength or None); ValueError naming what is wrong.

    Only the lossy variants take a strength: a JPEG 2000 compression ratio above 1, or a JPEG quality 1-100."""
    name, sep, arg = variant.partition(":")
    if name not in VARIANTS:
        raise ValueError(f"unknown robustness variant {name!r}; one of {', '.join(VARIANTS)}")
    if not sep:
        return name, None
    if name not in ("j2k-lossy", "jpeg-resave"):
        raise ValueError(f"robustness variant {name!r} takes no strength (only j2k-lossy:RATIO, jpeg-resave:QUALITY)")
    try:
        value = float(arg)
    except ValueError:
        raise ValueError(f"robustness variant {variant!r}: {arg!r} is not a number") from None
    if name == "j2k-lossy" and not (1.0 < value <= MAX_RATIO):
        raise ValueError(f"robustness variant {variant!r}: a JPEG 2000 compression ratio is above 1 (and at most "
                         f"{MAX_RATIO:g})")
    if name == "jpeg-resave" and not (value == int(value) and 1 <= value <= 100):
        raise ValueError(f"robustness variant {variant!r}: a JPEG quality is a whole number from 1 to 100")
    return name, value


class NotApplicableVariant(ValueError):
    """The variant cannot be applied to this image (JPEG baseline holds 8-bit greyscale only)."""


def _jpeg_baseline(out: Any, pixels: np.ndarray, quality: int = JPEG_QUALITY) -> None:
    """Encode ``out``'s pixels as one JPEG baseline frame at ``quality`` (Pillow), encapsulated."""
    from PIL import Image as PILImage
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit

    if int(out.get("BitsAllocated", 16)) != 8 or int(out.get("SamplesPerPixel", 1)) != 1 \
            or int(out.get("NumberOfFrames", 1) or 1) != 1 or int(out.get("PixelRepresentation", 0) or 0) != 0:
        raise NotApplicableVariant("JPEG baseline holds single-frame unsigned 8-bit greyscale images only")
    stored = stored_values(out, pixels)
    raw = len(out.PixelData)
    buf = io.BytesIO()
    PILImage.fromarray(stored.astype(np.uint8)).save(buf, "JPEG", quality=quality)
    out.PixelData = encapsulate([buf.getvalue()])
    out["PixelData"].VR = "OB"
    out.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    record_lossy_step(out, raw, "ISO_10918_1")


def _resample(pixels: np.ndarray) -> np.ndarray:
    small = ndi.zoom(pixels.astype(np.float32), 0.75, order=1, mode="nearest")
    back = ndi.zoom(small, (pixels.shape[0] / small.shape[0], pixels.shape[1] / small.shape[1]), order=1, mode="nearest")
    out = pixels.astype(np.float32).copy()
    h, w = min(out.shape[0], back.shape[0]), min(out.shape[1], back.shape[1])
    out[:h, :w] = back[:h, :w]
    return out


def _requantise(ds: Any, pixels: np.ndarray) -> np.ndarray:
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    stored = np.rint((pixels - intercept) / slope)
    return ((np.floor(stored / 4.0) * 4.0) * slope + intercept).astype(np.float32)


def transform_file(src: Path, dst: Path, variant: str) -> None:
    """Write ``src`` transformed by ``variant`` (a name, or a lossy variant's ``name:strength``) to ``dst``."""
    from pydicom.uid import JPEG2000, JPEG2000Lossless, RLELossless

    variant, strength = parse_variant(variant)
    ds = read_dataset(src)
    image = image_from_dataset(ds, src)
    pixels = image.pixels
    if variant == "resample":
        pixels = _resample(pixels)
    elif variant == "requantise":
        pixels = _requantise(ds, pixels)
    out = encode_slice(ds, pixels, syntax="explicit")
    if variant == "lossless":
        was_j2k = str(ds.file_meta.get("TransferSyntaxUID", "")) == JPEG2000Lossless
        out.compress(RLELossless if was_j2k else JPEG2000Lossless, stored_values(out, pixels), generate_instance_uid=False)
    elif variant == "j2k-lossy":
        raw = len(out.PixelData)
        out.compress(JPEG2000, stored_values(out, pixels), j2k_cr=[strength or J2K_RATIO],
                     generate_instance_uid=False)
        record_lossy_step(out, raw)
    elif variant == "jpeg-resave":
        _jpeg_baseline(out, pixels, int(strength or JPEG_QUALITY))
    dst.parent.mkdir(parents=True, exist_ok=True)
    out.save_as(dst, enforce_file_format=True)


def transform(src: Path, dst: Path, variant: str) -> Path:
    """Transform a file, or every DICOM file of a series folder, into ``dst``; returns ``dst``."""
    if src.is_dir():
        if dst.exists():
            shutil.rmtree(dst)
        for f in iter_files([src]):
            transform_file(f, dst / f.relative_to(src), variant)
    else:
        transform_file(src, dst, variant)
    return dst


def transformer(workdir: Path, variant: str) -> Callable[[Path, str], Path | None]:
    """A function (image path, key) -> transformed copy under ``workdir/variant``, or None when the variant
    does not apply to that image."""
    def apply(src: Path, key: str) -> Path | None:
        try:
            out = workdir / variant.replace(":", "-") / (key + ("" if src.is_dir() else ".dcm"))
            return transform(src, out, variant)
        except NotApplicableVariant:
            return None
    return apply
