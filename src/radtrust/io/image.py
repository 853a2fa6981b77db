"""The image object every part of radtrust works on.

Pixels are in modality units: CT in Hounsfield units through the Modality LUT, radiographs as
stored values passed through any Modality LUT, with the photometric interpretation kept explicit
(``MONOCHROME1`` means higher values are darker; :meth:`Image.display_pixels` flips it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radtrust.errors import NotApplicable


@dataclass(frozen=True)
class Geometry:
    """Where the pixels are in patient space (millimetres). Fields are None when unknown."""

    pixel_spacing: tuple[float, float] | None = None  # (row spacing, column spacing)
    slice_thickness: float | None = None
    position: tuple[float, float, float] | None = None  # ImagePositionPatient of the first pixel
    orientation: tuple[float, ...] | None = None  # six direction cosines (row, column)
    spacing_between_slices: float | None = None

    @property
    def normal(self) -> np.ndarray | None:
        """Unit normal of the slice plane (row × column), or None without an orientation."""
        if self.orientation is None or len(self.orientation) != 6:
            return None
        row = np.asarray(self.orientation[:3], dtype=float)
        col = np.asarray(self.orientation[3:], dtype=float)
        n = np.cross(row, col)
        norm = np.linalg.norm(n)
        return n / norm if norm > 0 else None

    def along_normal(self) -> float | None:
        """Position of this slice along its normal, used to sort a series."""
        n = self.normal
        if n is None or self.position is None:
            return None
        return float(np.dot(n, np.asarray(self.position, dtype=float)))


@dataclass(frozen=True)
class Acquisition:
    """Acquisition parameters from the header, None when absent."""

    kvp: float | None = None
    tube_current_ma: float | None = None
    exposure_mas: float | None = None
    exposure_time_ms: float | None = None
    kernel: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    device_serial: str | None = None
    detector_serial: str | None = None
    exposure_index: float | None = None
    software_versions: str | None = None

    def present(self) -> dict[str, Any]:
        """The parameters that have a value."""
        return {k: v for k, v in asdict(self).items() if v is not None}


def colour_clipped(rgb: np.ndarray, top: float = 255.0) -> np.ndarray | None:
    """Pixels of a colour picture (..., 3) where a channel sits at 0 or ``top`` while the channels differ, or None.

    There the luminance read from the clipped channels is not the one the decoder computed: around a red arrow or
    a coloured label of a JPEG figure, JPEG ringing drives green and blue below 0 and the clipping moves the
    luminance off the compression's lattice, which reads as a local edit. Grey pixels (equal channels) clipped at
    black or white are clipped in the luminance too, where the detectors see them already.
    """
    mask = ((rgb <= 0) | (rgb >= top)).any(axis=-1) & (rgb.max(axis=-1) > rgb.min(axis=-1))
    return mask if mask.any() else None


@dataclass(frozen=True, eq=False)
class Image:
    """One image (2D) or one multi-frame image / volume (3D: frames, rows, columns).

    ``dataset`` is the pydicom Dataset for DICOM input (pixel data included, undecoded
    bytes kept as read) and None for PNG/JPEG/TIFF/NIfTI/MetaImage, whose header-based checks then raise
    :class:`~radtrust.errors.NotApplicable` through :meth:`require_dataset`.
    """

    path: Path | None
    pixels: np.ndarray
    source_format: str  # "dicom" | "png" | "jpeg" | "tiff" | "nifti" | "metaimage"
    modality: str | None = None
    photometric: str = "MONOCHROME2"
    bits_stored: int | None = None
    transfer_syntax: str | None = None
    transfer_syntax_name: str | None = None
    sop_class_uid: str | None = None
    sop_instance_uid: str | None = None
    series_instance_uid: str | None = None
    study_instance_uid: str | None = None
    patient_id: str | None = None
    rescale: tuple[float, float] | None = None  # (slope, intercept) applied to stored values
    geometry: Geometry = field(default_factory=Geometry)
    acquisition: Acquisition = field(default_factory=Acquisition)
    signature_count: int = 0
    notes: tuple[str, ...] = ()
    dataset: Any = None  # pydicom.Dataset | None; Any keeps pydicom out of type imports
    # a colour picture's pixels where decoding clipped a colour channel (None: none, or not colour): see colour_clipped
    colour_clipped: np.ndarray | None = None

    @property
    def is_3d(self) -> bool:
        return self.pixels.ndim == 3

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.pixels.shape)

    @property
    def has_header(self) -> bool:
        return self.dataset is not None

    def require_dataset(self, what: str = "this check") -> Any:
        """Return the DICOM dataset, or raise NotApplicable naming what needed it."""
        if self.dataset is None:
            raise NotApplicable(f"{what} needs a DICOM header; {self.source_format} input has none", self.path)
        return self.dataset

    def display_pixels(self) -> np.ndarray:
        """Pixels with higher = brighter, whatever the photometric interpretation."""
        if self.photometric == "MONOCHROME1":
            return self.pixels.max() + self.pixels.min() - self.pixels
        return self.pixels

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description: what `radtrust info` prints."""
        g = self.geometry
        return {
            "path": str(self.path) if self.path else None,
            "format": self.source_format,
            "modality": self.modality,
            "size": list(self.shape),
            "frames": self.shape[0] if self.is_3d else 1,
            "photometric": self.photometric,
            "bits_stored": self.bits_stored,
            "transfer_syntax": self.transfer_syntax,
            "transfer_syntax_name": self.transfer_syntax_name,
            "sop_instance_uid": self.sop_instance_uid,
            "series_instance_uid": self.series_instance_uid,
            "study_instance_uid": self.study_instance_uid,
            "rescale": list(self.rescale) if self.rescale else None,
            "geometry": {
                "pixel_spacing": list(g.pixel_spacing) if g.pixel_spacing else None,
                "slice_thickness": g.slice_thickness,
                "position": list(g.position) if g.position else None,
                "orientation": list(g.orientation) if g.orientation else None,
            },
            "acquisition": self.acquisition.present(),
            "signatures": self.signature_count,
            "value_range": [float(self.pixels.min()), float(self.pixels.max())] if self.pixels.size else None,
            "notes": list(self.notes),
        }
