"""Writing a simulation's result: the tampered DICOM (headers kept), its mask and a sidecar.

The DICOM keeps every header element as an attacker would (UIDs too, unless ``new_uids``); only
Pixel Data changes (and the elements a metadata method edits). The **sidecar JSON alone** records
that the image is synthetic, with the method and its parameters: nothing in the DICOM reveals the
answer to a detector. Files are written atomically (temporary name in the same folder, then
``os.replace``); a series becomes a folder of ``IMG0000.dcm``... written the same way.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import UID, ExplicitVRLittleEndian

from radtrust.errors import InputError
from radtrust.io.atomic import atomic_open

SYNTAXES = ("keep", "explicit")
PURPOSE = "synthetic tampering made by radtrust.simulation for evaluation and detector training only"


def stored_values(ds: Any, pixels: np.ndarray) -> np.ndarray:
    """Modality values back to stored integers: inverse rescale, rounding, clipping to BitsStored."""
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    bits = int(ds.get("BitsStored", 16) or 16)
    alloc = int(ds.get("BitsAllocated", 16) or 16)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    stored = np.clip(np.rint((pixels.astype(np.float64) - intercept) / slope), lo, hi)
    dtype = {(8, False): np.uint8, (8, True): np.int8, (16, False): np.uint16, (16, True): np.int16,
             (32, False): np.uint32, (32, True): np.int32}[(alloc, signed)]
    return stored.astype(dtype)


def encode_slice(template: Any, pixels: np.ndarray, *, syntax: str = "keep", new_uid: str | None = None,
                 new_series_uid: str | None = None) -> Any:
    """A copy of ``template`` whose Pixel Data holds ``pixels`` (modality units)."""
    if syntax not in SYNTAXES:
        raise ValueError(f"syntax must be one of {SYNTAXES}")
    ds = copy.deepcopy(template)
    arr = stored_values(ds, pixels)
    src = UID(str(ds.file_meta.get("TransferSyntaxUID", ExplicitVRLittleEndian)))
    for tag in (0x7FE00010, 0x7FE00008, 0x7FE00009):
        if tag in ds:
            del ds[tag]
    ds.Rows, ds.Columns = int(arr.shape[0]), int(arr.shape[1])
    if new_uid is not None:
        ds.SOPInstanceUID = new_uid
        ds.file_meta.MediaStorageSOPInstanceUID = new_uid
    if new_series_uid is not None:
        ds.SeriesInstanceUID = new_series_uid
    if syntax == "keep" and src.is_compressed:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = arr.tobytes()
        try:
            ds.compress(src, arr, generate_instance_uid=False)
        except Exception:  # no encoder for that syntax here: keep it uncompressed
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.PixelData = arr.tobytes()
    else:
        if syntax == "explicit" or src.is_compressed or not src.is_little_endian:
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = arr.tobytes()
        ds["PixelData"].VR = "OB" if arr.dtype.itemsize == 1 else "OW"
    return ds


def _save(ds: Any, path: Path) -> None:
    ts = UID(str(ds.file_meta.TransferSyntaxUID))
    ds.save_as(path, implicit_vr=ts.is_implicit_VR, little_endian=ts.is_little_endian, enforce_file_format=True)


def write_dicom(datasets: tuple[Any, ...], pixels: np.ndarray, dest: Path, *, syntax: str = "keep",
                new_uids: list[str] | None = None) -> Path:
    """Write one image (``dest`` a ``.dcm`` file) or a series (``dest`` a folder of ``IMG%04d.dcm``) atomically.

    ``new_uids``: one new SOP Instance UID per slice plus, last, a new Series Instance UID.
    """
    series_uid = new_uids[-1] if new_uids else None
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if pixels.ndim == 2:
        if len(datasets) != 1:
            raise InputError("a 2D image needs exactly one dataset", dest)
        ds = encode_slice(datasets[0], pixels, syntax=syntax, new_uid=new_uids[0] if new_uids else None,
                          new_series_uid=series_uid)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
        os.close(fd)
        try:
            _save(ds, Path(tmp))
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest
    if len(datasets) != pixels.shape[0]:
        raise InputError(f"{pixels.shape[0]} slices but {len(datasets)} headers", dest)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for z, template in enumerate(datasets):
            ds = encode_slice(template, pixels[z], syntax=syntax, new_uid=new_uids[z] if new_uids else None,
                              new_series_uid=series_uid)
            _save(ds, tmpdir / f"IMG{z:04d}.dcm")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmpdir, dest)
    except BaseException:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise
    return dest


def write_npy(array: np.ndarray, dest: Path) -> Path:
    """Save an array atomically (``np.save`` to a temporary name, then rename)."""
    with atomic_open(dest, chmod=0o644) as fh:
        np.save(fh, array, allow_pickle=False)
    return Path(dest)


def write_json(obj: dict[str, Any], dest: Path) -> Path:
    with atomic_open(dest, "w", chmod=0o644) as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, default=_jsonable)
        fh.write("\n")
    return Path(dest)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def sidecar(method: str, params: dict[str, Any], *, seed: int | None, source: str, mask_file: str | None,
            image_file: str) -> dict[str, Any]:
    """The record that this image is synthetic (kept beside, never inside, the DICOM)."""
    return {"synthetic": True, "purpose": PURPOSE, "method": method, "params": params, "seed": seed,
            "source": source, "image": image_file, "mask": mask_file}
