"""What is kept of an instance once its file is gone, so that a later copy can still be compared with it.

A gateway forwards an instance to the PACS and, once the study is reported, deletes its spooled file. When the
same SOPInstanceUID arrives again with other bytes (a modality re-sending in another transfer syntax, or a copy
edited on the way), the comparison of copies (:mod:`radtrust.forensics.copies`) needs the earlier pixels. The
digest keeps what that comparison reads, in a few kilobytes: the matrix, a SHA-256 of the pixels in modality
units (the same pixels under any lossless encoding or rescale give the same hash) and the means of their 16 x 16
blocks (float32: 4 KB for a 512 x 512 slice, 5.6 KB as JSON). The header is kept by the gateway anyway (the SR
and SEG need it).

Compared with a digest, a copy is judged as :func:`radtrust.io.compare.pixel_relation` judges two files, at
block resolution: the same pixels; converted as a whole (most block means moved, all of them along one linear
map: a lossy codec, another bit depth); or changed in a region, named to the 16-pixel block. Pixels that differ
while every block mean is the same (a change that keeps local means, such as swapped noise) cannot be localised
from a digest: they are reported as an alteration, since no conversion of the whole image does that.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import numpy as np

from radtrust.forensics.copies import dataset_differences
from radtrust.io import Image
from radtrust.io.compare import BLOCK, WHOLE_FRACTION, block_means, means_relation

VERSION = 1


def _pixels(image: Image) -> np.ndarray:
    return np.ascontiguousarray(image.pixels, dtype=np.float32)


def _means(pixels: np.ndarray) -> np.ndarray:
    """Block means as kept (float32: both sides of a comparison are rounded alike)."""
    return block_means(pixels).astype(np.float32)


def pixel_digest(image: Image) -> dict[str, Any]:
    """The digest of an image's pixels (JSON-ready)."""
    pixels = _pixels(image)
    means = _means(pixels)
    return {"version": VERSION, "shape": list(pixels.shape), "sha256": hashlib.sha256(pixels.tobytes()).hexdigest(),
            "block": BLOCK, "means": base64.b64encode(means.tobytes()).decode("ascii")}


def compare_with_digest(image: Image, digest: dict[str, Any], header: Any) -> tuple[str | None, bool]:
    """How ``image`` differs from an earlier copy known by its digest and header (a pydicom Dataset or None):
    (a sentence, or None when pixels and header agree; whether the difference means an alteration). Header values
    read 'before vs now'."""
    if digest.get("version") != VERSION or digest.get("block") != BLOCK:
        return f"the earlier copy's digest is of another version ({digest.get('version')}): not compared", True
    parts: list[str] = []
    altered = False
    pixels = _pixels(image)
    shape = tuple(int(v) for v in digest["shape"])
    if pixels.shape != shape:
        parts.append(f"pixels: the matrices differ ({'x'.join(map(str, shape))} before, "
                     f"{'x'.join(map(str, pixels.shape))} now)")
        altered = True
    elif hashlib.sha256(pixels.tobytes()).hexdigest() != digest["sha256"]:
        what, changed = _pixels_against(_kept_means(digest), _means(pixels).astype(np.float64))
        parts.append(f"pixels: {what}")
        altered = altered or changed
    named, technical = dataset_differences(header, image.dataset)  # 'x vs y': before, now
    if named:
        parts.append(f"{', '.join(named)} differ")
    parts.extend(technical)
    altered = altered or bool(named or technical)
    return ("; ".join(parts) if parts else None), altered


def same_image(before: dict[str, Any], now: dict[str, Any]) -> tuple[str, bool] | None:
    """Two digests of instances at one place under different UIDs: None when they are not one image (another
    acquisition or reconstruction changes every block mean), else (how the later differs, whether that means an
    alteration). One image is the same pixels, or all but :data:`~radtrust.io.compare.WHOLE_FRACTION` of the block
    means the same (:func:`radtrust.forensics.copies._mostly_identical` at block resolution)."""
    if now.get("version") != before.get("version") or list(now["shape"]) != list(before["shape"]):
        return None
    if now["sha256"] == before["sha256"]:
        return "the same pixels", False
    a, b = _kept_means(before), _kept_means(now)
    if np.mean(a != b) > WHOLE_FRACTION:
        return None
    return _pixels_against(a, b)


def _kept_means(digest: dict[str, Any]) -> np.ndarray:
    """A digest's block means, shaped as :func:`~radtrust.io.compare.block_means` made them (whole blocks)."""
    shape = tuple(int(v) for v in digest["shape"])
    means = np.frombuffer(base64.b64decode(digest["means"]), dtype=np.float32)
    return means.reshape(*shape[:-2], *(n // BLOCK for n in shape[-2:])).astype(np.float64)


def _pixels_against(before: np.ndarray, now: np.ndarray) -> tuple[str, bool]:
    touched = before != now
    if not touched.any():
        return ("they differ, but every 16 x 16 block mean is the same as before (a change that keeps local means; "
                "the earlier file is gone, so it cannot be localised)"), True
    kind, apart = means_relation(before, now, touched)
    if kind == "throughout":
        return ("they differ throughout, as a conversion of the whole image leaves them (a lossy codec, another bit "
                "depth), with no region apart"), False
    blocks = touched if apart is None else apart
    idx = np.argwhere(blocks)
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    spans = [f"rows {lo[-2] * BLOCK}-{(hi[-2] + 1) * BLOCK - 1}", f"cols {lo[-1] * BLOCK}-{(hi[-1] + 1) * BLOCK - 1}"]
    if blocks.ndim == 3:
        spans.insert(0, f"frames {lo[0]}-{hi[0]}")
    where = ", ".join(spans)
    delta = float(np.max(np.abs(now[blocks] - before[blocks])))
    return (f"{int(blocks.sum())} of {blocks.size} 16 x 16 blocks changed (at {where}; largest change of a block "
            f"mean {delta:.4g})"), True
