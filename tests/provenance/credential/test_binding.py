"""Known answers for the canonical form: what must not matter, and what must."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from radtrust.provenance.credential.binding import (BOUND_KEYWORDS, canonical_attribute, canonical_frames,
                                                    compute_binding)


def _image(values: np.ndarray, *, bits_stored: int = 12, signed: bool = False) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "1.2.3"
    ds.Rows, ds.Columns = values.shape[-2:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, bits_stored, bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    ds.RescaleIntercept, ds.RescaleSlope = "-1024", "1"
    ds.PixelData = values.astype(np.int16 if signed else np.uint16).tobytes()
    return ds


SALT = b"\x00" * 16


def test_unused_high_bits_are_not_content():
    """Overlay bits above BitsStored (12) do not change the binding; bits inside it do."""
    base = np.arange(16, dtype=np.uint16).reshape(4, 4)
    a = compute_binding(_image(base), salt=SALT)
    b = compute_binding(_image(base | 0xF000), salt=SALT)
    c = compute_binding(_image(base ^ 0x0001), salt=SALT)
    assert a.pixels == b.pixels and a.pixels != c.pixels


def test_signed_values_sign_extended():
    vals = np.array([[-1, -2048], [0, 2047]], dtype=np.int16)
    canonical, fmt = canonical_frames(_image(vals, signed=True), None)
    assert canonical.dtype == np.dtype("<i2") and canonical.tolist() == [vals.tolist()]


def test_frame_order_matters_and_each_frame_is_named():
    frames = np.stack([np.full((2, 2), i, dtype=np.uint16) for i in range(3)])
    ds = _image(frames)
    ds.NumberOfFrames = 3
    b = compute_binding(ds, salt=SALT)
    assert len(b.frames) == 3 and len(set(b.frames)) == 3


@pytest.mark.parametrize("a,b,same", [("-1024", "-1024.0", True), ("-1024", "-1024.00 ", True),
                                      ("1.5", "1.50", True), ("-1024", "-1023", False), ("0.5", "0.05", False)])
def test_decimal_strings_compare_by_value(a, b, same):
    x, y = Dataset(), Dataset()
    x.RescaleIntercept, y.RescaleIntercept = a, b
    assert (canonical_attribute(x, "RescaleIntercept") == canonical_attribute(y, "RescaleIntercept")) is same


def test_absent_and_empty_differ():
    x, y = Dataset(), Dataset()
    y.PatientID = ""
    assert canonical_attribute(x, "PatientID") is None
    assert canonical_attribute(y, "PatientID") == [""]


def test_person_name_padding_is_not_content():
    x, y = Dataset(), Dataset()
    x.PatientName, y.PatientName = "Doe^Jane", "Doe^Jane "
    assert canonical_attribute(x, "PatientName") == canonical_attribute(y, "PatientName")


def test_salt_hides_equal_values_across_credentials():
    ds = _image(np.zeros((2, 2)))
    ds.PatientID = "123"
    a, b = compute_binding(ds), compute_binding(ds)
    assert a.attributes["PatientID"] != b.attributes["PatientID"]
    assert a.pixels == b.pixels


def test_keyword_list_covers_the_issue():
    for kw in ("PatientName", "PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "Rows",
               "Columns", "PixelSpacing", "ImagePositionPatient", "ImageOrientationPatient", "SliceThickness",
               "RescaleSlope", "RescaleIntercept", "RescaleType", "PhotometricInterpretation", "KVP",
               "XRayTubeCurrent", "Exposure", "ExposureTime", "ConvolutionKernel", "Manufacturer",
               "ManufacturerModelName", "DeviceSerialNumber", "AcquisitionDate", "AcquisitionTime"):
        assert kw in BOUND_KEYWORDS
    assert all(pydicom.datadict.tag_for_keyword(k) for k in BOUND_KEYWORDS)
