"""The single-change table: every change to a credentialed image is detected and the changed item is named.

Each case is data (a name, a mutation, the expected status and the item the report must name) plus one check.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest

from radtrust.provenance.credential import store
from radtrust.provenance.credential.verify import CredentialError, verify_dataset
from tests.provenance.credential.conftest import read


def _pixels(ds: pydicom.Dataset, fn: Callable[[np.ndarray], np.ndarray]) -> None:
    arr = fn(ds.pixel_array.copy())
    ds.PixelData = np.ascontiguousarray(arr).astype(ds.pixel_array.dtype).tobytes()


def one_pixel(ds):
    def f(a):
        a[100, 200] += 1
        return a
    _pixels(ds, f)


def set_(keyword, value):
    def f(ds):
        setattr(ds, keyword, value)
    f.__name__ = f"set_{keyword}"
    return f


def delete(keyword):
    def f(ds):
        del ds[keyword]
    return f


def shift_intercept(delta):
    def f(ds):
        ds.RescaleIntercept = float(ds.RescaleIntercept) + delta
    return f


# (case id, mutation of the acquired CT slice, expected status, text that must appear in changed/reasons)
SINGLE_FILE_CASES = [
    ("one_pixel_plus_one", one_pixel, "invalid", "frame 1 of 1 (pixel values changed)"),
    ("all_pixels_shifted", lambda ds: _pixels(ds, lambda a: a + 10), "invalid", "frame 1 of 1"),
    ("rescale_intercept_plus_1", shift_intercept(+1), "invalid", "RescaleIntercept"),
    ("rescale_intercept_minus_1", shift_intercept(-1), "invalid", "RescaleIntercept"),
    ("rescale_slope", set_("RescaleSlope", "1.01"), "invalid", "RescaleSlope"),
    ("rescale_type_removed", delete("RescaleType"), "invalid", "RescaleType"),
    ("pixel_spacing", set_("PixelSpacing", [0.7, 0.7]), "invalid", "PixelSpacing"),
    ("slice_thickness", set_("SliceThickness", "2.5"), "invalid", "SliceThickness"),
    ("image_position", set_("ImagePositionPatient", [0, 0, -100]), "invalid", "ImagePositionPatient"),
    ("image_orientation", set_("ImageOrientationPatient", [0, 1, 0, 1, 0, 0]), "invalid", "ImageOrientationPatient"),
    ("patient_id", set_("PatientID", "SOMEONE-ELSE"), "invalid", "PatientID"),
    ("patient_name", set_("PatientName", "Doe^John"), "invalid", "PatientName"),
    ("patient_birth_date", set_("PatientBirthDate", "19700101"), "invalid", "PatientBirthDate"),
    ("kvp", set_("KVP", "140"), "invalid", "KVP"),
    ("tube_current", set_("XRayTubeCurrent", "999"), "invalid", "XRayTubeCurrent"),
    ("kernel", set_("ConvolutionKernel", "B70f"), "invalid", "ConvolutionKernel"),
    ("manufacturer", set_("Manufacturer", "GE MEDICAL SYSTEMS"), "invalid", "Manufacturer"),
    ("device_serial_added", set_("DeviceSerialNumber", "12345"), "invalid", "DeviceSerialNumber"),
    ("sop_instance_uid", set_("SOPInstanceUID", "1.2.3.4.5"), "invalid", "SOPInstanceUID"),
    ("study_instance_uid", set_("StudyInstanceUID", "1.2.3.4.6"), "invalid", "StudyInstanceUID"),
    ("series_instance_uid", set_("SeriesInstanceUID", "1.2.3.4.7"), "invalid", "SeriesInstanceUID"),
    ("acquisition_time", set_("AcquisitionTime", "120000"), "invalid", "AcquisitionTime"),
    ("photometric_inverted", set_("PhotometricInterpretation", "MONOCHROME1"), "invalid", "PhotometricInterpretation"),
    ("bits_stored_reduced_masks_values", set_("BitsStored", 8), "invalid", "frame 1 of 1 (pixel values changed)"),
    ("pixel_representation", set_("PixelRepresentation", 1), "invalid", "PixelRepresentation"),
    ("spacing_between_slices_added", set_("SpacingBetweenSlices", "1.0"), "invalid", "SpacingBetweenSlices"),
]


@pytest.mark.parametrize("name,mutate,status,named", SINGLE_FILE_CASES, ids=[c[0] for c in SINGLE_FILE_CASES])
def test_single_change_detected_and_named(acquired, cred_trust, name, mutate, status, named):
    ds = read(acquired)
    verify_dataset(ds, acquired, trust=cred_trust)  # unchanged: valid
    mutate(ds)
    with pytest.raises(CredentialError) as info:
        verify_dataset(ds, acquired, trust=cred_trust)
    assert info.value.status == status
    assert any(named in item for item in info.value.changed), info.value.changed
    assert named.split(" ")[0] in str(info.value)


def test_equal_numeric_rewrite_is_not_a_change(acquired, cred_trust):
    """DS '-1024' rewritten as '-1024.0' means the same value: the binding is about meaning, not text."""
    ds = read(acquired)
    ds.RescaleIntercept = pydicom.valuerep.DSfloat("-1024.0", auto_format=False)
    verify_dataset(ds, acquired, trust=cred_trust)


def test_one_pixel_in_one_frame_of_multiframe(multiframe, cred_trust):
    ds = read(multiframe)

    def f(a):
        a[2, 10, 10] += 1
        return a
    _pixels(ds, f)
    with pytest.raises(CredentialError) as info:
        verify_dataset(ds, multiframe, trust=cred_trust)
    assert info.value.changed == ("frame 3 of 4 (pixel values changed)",)


def test_frame_swap_in_multiframe(multiframe, cred_trust):
    ds = read(multiframe)
    _pixels(ds, lambda a: a[[0, 2, 1, 3]])
    with pytest.raises(CredentialError) as info:
        verify_dataset(ds, multiframe, trust=cred_trust)
    assert info.value.changed == ("frame 2 of 4 (holds the pixels of credentialed frame 3: frames reordered)",
                                  "frame 3 of 4 (holds the pixels of credentialed frame 2: frames reordered)")


def test_frame_removed_from_multiframe(multiframe, cred_trust):
    ds = read(multiframe)
    arr = ds.pixel_array[:3]
    ds.NumberOfFrames = 3
    ds.PixelData = arr.tobytes()
    with pytest.raises(CredentialError) as info:
        verify_dataset(ds, multiframe, trust=cred_trust)
    assert "NumberOfFrames" in info.value.changed
    assert "frame 4 of 4 (missing)" in info.value.changed


def test_slice_swap_between_two_files(acquired_pair, cred_trust):
    a, b = (read(p) for p in acquired_pair)
    a.PixelData, b.PixelData = b.PixelData, a.PixelData
    for ds, path in ((a, acquired_pair[0]), (b, acquired_pair[1])):
        with pytest.raises(CredentialError) as info:
            verify_dataset(ds, path, trust=cred_trust)
        assert info.value.changed == ("frame 1 of 1 (pixel values changed)",)


def test_credential_transplanted_onto_another_image(acquired_pair, cred_trust):
    a, b = (read(p) for p in acquired_pair)
    store.embed(b, store.extract(a))
    with pytest.raises(CredentialError) as info:
        verify_dataset(b, acquired_pair[1], trust=cred_trust)
    assert "SOPInstanceUID" in info.value.changed
    assert "frame 1 of 1 (pixel values changed)" in info.value.changed


def test_credential_removed_is_absent(acquired, cred_trust):
    ds = read(acquired)
    assert store.remove(ds)
    with pytest.raises(CredentialError) as info:
        verify_dataset(ds, None, trust=cred_trust)
    assert info.value.status == "absent"


def test_cose_signature_byte_flipped(acquired, cred_trust):
    ds = read(acquired)
    bundle = store.extract(ds)
    bad = bytearray(bundle.credential)
    bad[-5] ^= 0x01  # inside the signature value
    store.embed(ds, store.Bundle(bytes(bad), bundle.ancestors))
    with pytest.raises(CredentialError) as info:
        verify_dataset(ds, acquired, trust=cred_trust)
    assert info.value.status == "invalid"
    assert "does not verify" in str(info.value)


def test_manifest_payload_edited_without_resigning(acquired, cred_trust):
    ds = read(acquired)
    bundle = store.extract(ds)
    i = bundle.credential.find(b"acquired")
    bad = bundle.credential[:i] + b"annotate" + bundle.credential[i + 8:]
    store.embed(ds, store.Bundle(bad, bundle.ancestors))
    with pytest.raises(CredentialError) as info:
        verify_dataset(ds, acquired, trust=cred_trust)
    assert "does not verify" in str(info.value)


def test_garbled_credential_element(acquired, cred_trust):
    ds = read(acquired)
    block = ds.private_block(store.PRIVATE_GROUP, store.PRIVATE_CREATOR)
    block[store.BUNDLE_ELEMENT].value = b"\xff\x00garbage!"
    with pytest.raises(CredentialError) as info:
        verify_dataset(ds, acquired, trust=cred_trust)
    assert info.value.status == "invalid"


def test_untrusted_signer(acquired, tmp_path):
    from radtrust.provenance.credential import load_certificates
    from radtrust.provenance.signatures.pki import init_dev_pki

    other = init_dev_pki(tmp_path / "other", "ecdsa")
    with pytest.raises(CredentialError) as info:
        verify_dataset(read(acquired), acquired, trust=load_certificates(other.root))
    assert info.value.status == "untrusted"
    assert "trust anchor" in str(info.value)


def test_verification_time_outside_certificate_validity(acquired, cred_trust):
    from datetime import datetime, timezone

    with pytest.raises(CredentialError) as info:
        verify_dataset(read(acquired), acquired, trust=cred_trust, at=datetime(2000, 1, 1, tzinfo=timezone.utc))
    assert info.value.status == "untrusted"
    assert "not yet valid" in str(info.value)


def test_deep_copy_verifies_the_same(acquired, cred_trust):
    """Deep copies verify the same way (no hidden state in the dataset object)."""
    ds = copy.deepcopy(read(acquired))
    assert verify_dataset(ds, Path(acquired), trust=cred_trust).status == "valid"


def test_pixel_data_removed(acquired, cred_trust):
    ds = read(acquired)
    del ds.PixelData
    with pytest.raises(CredentialError) as info:
        verify_dataset(ds, acquired, trust=cred_trust)
    assert info.value.status == "invalid" and "cannot recompute the binding" in str(info.value)


def test_slice_swap_named_across_files(acquired_pair, tmp_path, cred_trust):
    """Checked together, each swapped slice is said to hold the pixels credentialed for the other file."""
    from radtrust.provenance.credential.verify import cross_reference

    a, b = (read(p) for p in acquired_pair)
    a.PixelData, b.PixelData = b.PixelData, a.PixelData
    outcomes = []
    for ds, name in ((a, "a.dcm"), (b, "b.dcm")):
        with pytest.raises(CredentialError) as info:
            verify_dataset(ds, None, trust=cred_trust)
        outcomes.append((name, info.value))
    notes = cross_reference(outcomes)
    assert notes == {"a.dcm": ["frame 1 holds the pixels credentialed for b.dcm frame 1 (slices swapped or copied "
                               "between files)"],
                     "b.dcm": ["frame 1 holds the pixels credentialed for a.dcm frame 1 (slices swapped or copied "
                               "between files)"]}


HOSTILE_BUNDLES = [
    ("deeply_nested_cbor", b"\x81" * 100_000 + b"\x00"),
    ("declared_4gib_bytestring", b"\x81\x5a\xff\xff\xff\xff" + b"x" * 10),
    ("tag_bomb", b"\xd2" * 50_000 + b"\x80"),
    ("empty_array", b"\x80"),
    ("array_of_ints", b"\x83\x01\x02\x03"),
]


@pytest.mark.parametrize("name,value", HOSTILE_BUNDLES, ids=[h[0] for h in HOSTILE_BUNDLES])
def test_hostile_bundle_is_invalid_not_a_crash(acquired, cred_trust, name, value):
    ds = read(acquired)
    block = ds.private_block(store.PRIVATE_GROUP, store.PRIVATE_CREATOR)
    block[store.BUNDLE_ELEMENT].value = value + (b"\x00" if len(value) % 2 else b"")
    with pytest.raises(CredentialError) as info:
        verify_dataset(ds, acquired, trust=cred_trust)
    assert info.value.status == "invalid"


def test_history_too_long(acquired, cred_trust):
    ds = read(acquired)
    b = store.extract(ds)
    store.embed(ds, store.Bundle(b.credential, (b.credential,) * 300))
    with pytest.raises(CredentialError, match="longer than"):
        verify_dataset(ds, acquired, trust=cred_trust)
