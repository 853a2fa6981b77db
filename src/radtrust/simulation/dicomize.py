"""Minimal synthetic DICOM headers for sources that have none (NIfTI volumes, PNG/JPEG radiographs).

The header is the same for the authentic copy and for every tampered copy of a source, so a
detector cannot tell them apart by it. UIDs are derived from a key (``2.25`` roots from a hash), so the
same source always gets the same UIDs.
No acquisition parameters are invented: header and physics checks that need them are not applicable.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
DX_IMAGE_STORAGE_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"


def uid(*parts: object) -> str:
    """A deterministic UID from the given parts: ``2.25.`` + a 128-bit hash as a decimal (ITU-T X.667 form).

    (``pydicom.uid.generate_uid(prefix=None)`` ignores its entropy sources, so it cannot be used here.)
    """
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()[:16]
    return f"2.25.{int.from_bytes(digest, 'big')}"


def _base(sop_class: str, sop_uid: str, patient_id: str, study: str, series: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.PatientID = patient_id
    ds.PatientName = patient_id.replace(" ", "^")
    ds.SeriesNumber = 1
    return ds


def ct_series_datasets(shape: tuple[int, int, int], spacing: tuple[float, float, float], *, patient_id: str,
                       key: str) -> tuple[Any, ...]:
    """One CT Image header per slice: axial, signed 16-bit, rescale intercept -1024 (stored = HU + 1024)."""
    slices, rows, cols = shape
    dz, dy, dx = spacing
    study, series, frame = uid(key, "study"), uid(key, "series"), uid(key, "frame")
    out = []
    for z in range(slices):
        ds = _base(CT_IMAGE_STORAGE, uid(key, "instance", z), patient_id, study, series)
        ds.Modality = "CT"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.FrameOfReferenceUID = frame
        ds.InstanceNumber = z + 1
        ds.ImagePositionPatient = [0.0, 0.0, round(z * dz, 4)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [dy, dx]
        ds.SliceThickness = dz
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
        out.append(ds)
    return tuple(out)


def radiograph_dataset(shape: tuple[int, int], *, bits: int, patient_id: str, key: str) -> Any:
    """A DX header for a picture of a radiograph: MONOCHROME2, unsigned, 8 or 16 bits, no spacing claimed."""
    ds = _base(DX_IMAGE_STORAGE_PRESENTATION, uid(key, "instance"), patient_id, uid(key, "study"), uid(key, "series"))
    ds.Modality = "DX"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.InstanceNumber = 1
    ds.Rows, ds.Columns = shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 8 if bits <= 8 else 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    return ds
