"""What a tamper method works on (:class:`Target`) and what it returns (:class:`Tampered`).

A target is one 2D image or one CT volume in modality units, with its spacing, the DICOM datasets
that will carry the result (one per slice, headers kept as an attacker keeps them) and, for chest CT,
a lung mask. Loaders turn a DICOM file, a DICOM series, a NIfTI volume (with its organ labels) or a
PNG/JPEG radiograph into a target; sources without a DICOM header get a minimal synthetic one from
:mod:`radtrust.simulation.dicomize`, identical for the authentic copy and every tampered copy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from radtrust.benchmarking.format import stem_of
from radtrust.errors import InputError
from radtrust.io import Image, Series, load_image, load_series

# Lung labels of ../shared/data/ct/chest_volume/structures.csv (TotalSegmentator's five lobes).
LUNG_STRUCTURES = ("lung_upper_lobe_left", "lung_lower_lobe_left", "lung_upper_lobe_right",
                   "lung_middle_lobe_right", "lung_lower_lobe_right")


@dataclass(frozen=True, eq=False)
class Target:
    """One image or volume to tamper with.

    ``pixels`` are float32 modality units, (rows, cols) or (slices, rows, cols); ``spacing`` is mm per
    axis; ``datasets`` are the pydicom datasets written back (one per slice, or one); ``value_range``
    is what the stored bits can represent; ``brighter`` is +1 when higher values display brighter
    (MONOCHROME2) and -1 for MONOCHROME1.
    """

    pixels: np.ndarray
    spacing: tuple[float, ...]
    modality: str
    datasets: tuple[Any, ...]
    name: str
    patient: str
    source: str
    value_range: tuple[float, float]
    brighter: int = 1
    lungs: np.ndarray | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def is_ct(self) -> bool:
        return self.modality == "CT" and self.pixels.ndim == 3

    @property
    def is_2d(self) -> bool:
        return self.pixels.ndim == 2

    def with_pixels(self, pixels: np.ndarray, **changes: Any) -> Target:
        return replace(self, pixels=pixels.astype(np.float32), **changes)

    def slab(self, z0: int, z1: int, name: str) -> Target:
        """Slices z0..z1-1 of a volume as a target of its own (a sub-series)."""
        return replace(self, pixels=self.pixels[z0:z1].copy(), datasets=self.datasets[z0:z1], name=name,
                       lungs=None if self.lungs is None else self.lungs[z0:z1].copy())


@dataclass(frozen=True, eq=False)
class Tampered:
    """A method's output: new pixels, the ground-truth mask (True where anything was changed), the
    datasets to write (changed only by metadata methods) and the parameters actually drawn."""

    pixels: np.ndarray
    mask: np.ndarray
    datasets: tuple[Any, ...]
    method: str
    params: dict[str, Any]


def value_range_of(ds: Any) -> tuple[float, float]:
    """The modality values the stored bits can hold (BitsStored, PixelRepresentation, rescale)."""
    bits = int(ds.get("BitsStored", 16) or 16)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    a, b = lo * slope + intercept, hi * slope + intercept
    return (min(a, b), max(a, b))


def from_image(image: Image, *, name: str | None = None) -> Target:
    """A 2D DICOM image as a target."""
    ds = image.require_dataset("simulation")
    if image.pixels.ndim != 2:
        raise InputError("multi-frame images are not supported by the simulator; give a series of slices", image.path)
    sp = image.geometry.pixel_spacing or _float_pair(ds.get("ImagerPixelSpacing")) or assumed_spacing(image.pixels.shape)
    return Target(pixels=image.pixels.astype(np.float32), spacing=tuple(float(v) for v in sp),
                  modality=(image.modality or "OT").upper(), datasets=(ds,),
                  name=name or (image.path.stem if image.path else "image"),
                  patient=str(ds.get("PatientID", "") or image.path or "unknown"),
                  source=str(image.path), value_range=value_range_of(ds),
                  brighter=-1 if image.photometric == "MONOCHROME1" else 1)


def assumed_spacing(shape: tuple[int, ...]) -> tuple[float, float]:
    """Pixel spacing for a radiograph that declares none: its width taken as a 380 mm chest field."""
    mm = 380.0 / max(int(shape[-1]), 1)
    return (mm, mm)


def _float_pair(value: Any) -> tuple[float, float] | None:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (a, b) if a > 0 and b > 0 else None


def from_series(series: Series, *, name: str | None = None) -> Target:
    """A sorted DICOM series of 2D slices as a 3D target."""
    if not series.is_volume():
        raise InputError("series is not a stack of same-size 2D slices", series.instances[0].path)
    first = series.instances[0]
    ds = first.require_dataset("simulation")
    sp = first.geometry.pixel_spacing or (1.0, 1.0)
    dz = series.slice_spacing or first.geometry.slice_thickness or 1.0
    folder = first.path.parent if first.path else Path("series")
    return Target(pixels=series.volume().astype(np.float32), spacing=(float(dz), float(sp[0]), float(sp[1])),
                  modality=(first.modality or "CT").upper(), datasets=tuple(im.dataset for im in series.instances),
                  name=name or folder.name, patient=str(ds.get("PatientID", "") or folder.name),
                  source=str(folder), value_range=value_range_of(ds))


def lungs_from_labels(labels: np.ndarray, structures_csv: Path | None) -> np.ndarray:
    """Boolean lung mask from an organ label volume (TotalSegmentator ids named in structures.csv)."""
    ids: list[int] = []
    if structures_csv is not None and structures_csv.exists():
        import csv

        with open(structures_csv, newline="") as fh:
            for row in csv.DictReader(fh):
                if row.get("structure") in LUNG_STRUCTURES:
                    ids.append(int(row["id"]))
    if not ids:
        ids = [10, 11, 12, 13, 14]
    return np.isin(labels, ids)


def from_volume(path: Path, *, name: str | None = None) -> Target:
    """A NIfTI (or MetaImage) CT volume (z, y, x) with a synthetic minimal CT header and, if a ``mask.nii.gz``
    with organ labels lies beside it, its lung mask."""
    from radtrust.simulation import dicomize

    image = load_image(path)
    if image.pixels.ndim != 3:
        raise InputError(f"the simulator needs a 3D volume; this {image.source_format} image is 2D", path)
    sp = image.geometry.pixel_spacing or (1.0, 1.0)
    dz = image.geometry.slice_thickness or 1.0
    stem = name or stem_of(path.name)  # LUNA16's volumes are named by a series UID, dots and all
    lungs = None
    mask_path = path.parent / "mask.nii.gz"
    if mask_path.exists() and mask_path != path:
        labels = load_image(mask_path).pixels
        if labels.shape == image.pixels.shape:
            lungs = lungs_from_labels(np.rint(labels).astype(np.int32), path.parent / "structures.csv")
    pixels = np.rint(image.pixels).astype(np.float32)
    datasets = dicomize.ct_series_datasets(pixels.shape, (float(dz), float(sp[0]), float(sp[1])),
                                           patient_id=f"{path.parent.name}", key=f"{path.parent.name}/{path.name}")
    return Target(pixels=pixels, spacing=(float(dz), float(sp[0]), float(sp[1])), modality="CT", datasets=datasets,
                  name=stem, patient=path.parent.name, source=str(path),
                  value_range=value_range_of(datasets[0]), lungs=lungs,
                  notes=(f"{'NIfTI' if image.source_format == 'nifti' else 'MetaImage'} volume given a minimal "
                         "synthetic CT header",))


def from_raster(path: Path, *, patient: str | None = None, name: str | None = None,
                max_side: int | None = None) -> Target:
    """A PNG/JPEG radiograph with a synthetic minimal DX header (8-bit or 16-bit, MONOCHROME2).

    With ``max_side``, a larger picture is first reduced (Lanczos) so its longer side is ``max_side``;
    the benchmark builder uses this to keep pictures of radiographs (not original acquisitions) small.
    """
    from radtrust.simulation import dicomize

    image = load_image(path)
    pixels = np.rint(image.pixels).astype(np.float32)
    notes = [f"{image.source_format} picture given a minimal synthetic DX header"]
    if max_side is not None and max(pixels.shape) > max_side:
        from PIL import Image as PILImage

        h, w = pixels.shape
        f = max_side / max(h, w)
        size = (max(1, round(w * f)), max(1, round(h * f)))
        small = PILImage.fromarray(pixels, mode="F").resize(size, PILImage.Resampling.LANCZOS)
        hi = 255.0 if (image.bits_stored or 8) <= 8 else 65535.0
        pixels = np.clip(np.rint(np.asarray(small, dtype=np.float32)), 0.0, hi).astype(np.float32)
        notes.append(f"reduced from {w}x{h} to {size[0]}x{size[1]}")
    bits = 8 if (image.bits_stored or 8) <= 8 else 16
    patient = patient or path.stem
    ds = dicomize.radiograph_dataset(pixels.shape, bits=bits, patient_id=patient, key=str(path.name))
    return Target(pixels=pixels, spacing=assumed_spacing(pixels.shape), modality="DX", datasets=(ds,), name=name or path.stem,
                  patient=patient, source=str(path), value_range=value_range_of(ds), notes=tuple(notes))


def load_target(path: str | os.PathLike[str]) -> Target:
    """Whatever the user named: a DICOM file, a folder holding one DICOM series, a NIfTI or MetaImage volume or a
    picture."""
    from radtrust.io.metaimage import is_metaimage
    from radtrust.io.nifti import is_nifti
    from radtrust.io.raster import FORMATS

    path = Path(path)
    if not path.exists():
        raise InputError("no such file or folder", path)
    if path.is_dir():
        series = [s for s in load_series(path) if len(s) > 1]
        if len(series) != 1:
            raise InputError(f"expected one CT series in the folder, found {len(series)}", path)
        return from_series(series[0])
    if is_nifti(path) or is_metaimage(path):
        return from_volume(path)
    if path.suffix.lower() in FORMATS:
        return from_raster(path)
    return from_image(load_image(path))
