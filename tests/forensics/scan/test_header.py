"""Header and series forensics: known answers (impossible dates, UID roots, DERIVED, editors, pixel layout,
series mixes) and no false alarm on authentic series."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt

import pytest

from radtrust.forensics.detectors.header import HeaderForensics
from radtrust.io import assemble, load_image, load_series

NOW = dt.date(2028, 1, 1)


@pytest.fixture(scope="module")
def ct(sample_ct_files):
    return load_image(sample_ct_files[0])


def _edited(image, **attrs):
    ds = copy.deepcopy(image.dataset)
    for k, v in attrs.items():
        if v is None:
            delattr(ds, k)
        else:
            setattr(ds, k, v)
    return dataclasses.replace(image, dataset=ds)


def test_authentic_sample_is_clean(ct):
    assert HeaderForensics(now=NOW).run(ct).score < 0.1


# Attack-named cases: each is an edit an attacker could forget to make consistent.
CASES = [
    ("birth_after_study", {"PatientBirthDate": "20300101"}, "before PatientBirthDate"),
    ("future_study", {"StudyDate": "20990101"}, "in the future"),
    ("acquisition_date_moved", {"AcquisitionDate": "20230505"}, "before AcquisitionDate"),
    ("bad_date", {"ContentDate": "20221345"}, "not a valid date"),
    ("dates_shifted_but_datetime_kept", {"StudyDate": "20270417", "SeriesDate": "20270417", "AcquisitionDate": "20270417",
                                         "ContentDate": "20270417"}, "AcquisitionDateTime says"),
    ("calibrated_after_acquisition", {"DateOfLastCalibration": "20230101"}, "DateOfLastCalibration"),
    ("instance_created_years_later", {"InstanceCreationDate": "20250101"}, "InstanceCreationDate"),
    ("instance_created_before_study", {"InstanceCreationDate": "20200101"}, "before the study"),
    ("age_disagrees", {"PatientBirthDate": "19500101", "PatientAge": "030Y"}, "PatientAge"),
    ("foreign_uid_root", {"SOPInstanceUID": "1.2.840.113619.2.55.3.1234"}, "UID root of GE"),
    ("derived_silently", {"ImageType": ["DERIVED", "SECONDARY"], "SourceImageSequence": None}, "DERIVED"),
    ("edited_in_photoshop", {"SoftwareVersions": "Adobe Photoshop 24.1"}, "image-editing software"),
    ("high_bit_wrong", {"HighBit": 15}, "HighBit"),
    ("modality_stripped", {"Modality": None}, "Modality (0008,0060), Type 1"),
    ("modality_blanked", {"Modality": ""}, "Modality (0008,0060), Type 1"),
    ("ct_relabelled", {"Modality": "OT"}, "Modality OT contradicts the SOP class (CT Image Storage)"),
]


@pytest.mark.parametrize("name, attrs, needle", CASES, ids=[c[0] for c in CASES])
def test_impossible_headers_are_reported(ct, name, attrs, needle):
    f = HeaderForensics(now=NOW).run(_edited(ct, **attrs))
    assert f.score >= 0.19, name
    assert any(needle in e for e in f.evidence), f.evidence


def test_stored_values_beyond_bits_stored(ct):
    pixels = ct.pixels.copy()
    pixels[0, 0] = 5000.0  # 12-bit unsigned with intercept -1024 holds at most 3071 HU
    f = HeaderForensics(now=NOW).run(dataclasses.replace(ct, pixels=pixels))
    assert any("exceed the 12-bit range" in e for e in f.evidence)


def test_series_mixing_patients_and_kernels(sample_ct_files):
    images = [load_image(p) for p in sample_ct_files]
    images[3] = _edited(images[3], PatientID="SOMEONE-ELSE", ConvolutionKernel="B70f")
    f = HeaderForensics(now=NOW).run_series(assemble(images))
    text = " ".join(f.evidence)
    assert f.score > 0.7 and "PatientID" in text and "ConvolutionKernel" in text


def test_duplicated_slice_is_reported(sample_ct_files):
    images = [load_image(p) for p in sample_ct_files]
    images.append(images[2])
    f = HeaderForensics(now=NOW).run_series(assemble(images))
    assert any("duplicated" in e for e in f.evidence)


def test_authentic_series_stay_low(shared_data):
    det = HeaderForensics(now=NOW)
    for folder in ("siemens_abdomen", "ge_head", "philips_phantom"):
        for series in load_series(shared_data / "ct" / folder):
            assert det.run_series(series).score < 0.5, folder


def test_a_study_uid_from_the_worklist_is_not_foreign(ct):
    """The RIS mints the Study Instance UID and the modality copies it from the worklist (pydicom's
    examples_overlay.dcm: a Siemens MR in a study with Agfa's root); the scanner mints SOP and series UIDs."""
    assert ct.acquisition.manufacturer and "siemens" in ct.acquisition.manufacturer.lower()
    ris = HeaderForensics(now=NOW).run(_edited(ct, StudyInstanceUID="1.2.124.113532.10.1.2.3"))
    assert not any("UID root" in e for e in ris.evidence)
    series = HeaderForensics(now=NOW).run(_edited(ct, SeriesInstanceUID="1.2.124.113532.10.1.2.4"))
    assert any("SeriesInstanceUID has the UID root of AGFA" in e for e in series.evidence)


def test_mixed_views_weigh_in_a_ct_volume_only(sample_ct_files, sample_cr_file):
    """Two slices at one position with different matrices cannot come out of one CT reconstruction; a chest
    series holding a PA and a lateral view of different sizes (or an MR localiser's three planes) is routine."""
    import pydicom

    def two(path, modality):
        a = load_image(path)
        ds = copy.deepcopy(a.dataset)
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.Modality = modality
        b = dataclasses.replace(a, dataset=ds, pixels=a.pixels[:-64, :-64].copy(), modality=modality)
        return assemble([dataclasses.replace(a, modality=modality), b])

    ct = HeaderForensics(now=NOW).series_checks(two(sample_ct_files[0], "CT"))
    dx = HeaderForensics(now=NOW).series_checks(two(sample_cr_file, "DX"))
    assert max(sev for sev, text in ct if "mixed geometry" in text) >= 0.4
    assert max(sev for sev, text in dx if "mixed geometry" in text) <= 0.05


def test_a_series_problem_weighs_on_the_instances_it_implicates(sample_ct_files):
    """One file re-written into a series (a second slice at a position, a pydicom UID) and one slice with another
    KVP: the series is as suspect as before, but the other slices no longer carry the whole of it (before session 9
    every slice of such a series scored the series' 0.76 and was flagged)."""
    import pydicom

    from radtrust.forensics.scanner import Scanner

    images = [load_image(p) for p in sample_ct_files]
    ds = copy.deepcopy(images[2].dataset)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()  # pydicom's root: a re-written file, at slice 2's position
    images.append(dataclasses.replace(images[2], dataset=ds, sop_instance_uid=str(ds.SOPInstanceUID)))
    images[4] = _edited(images[4], KVP="100")
    series = assemble(images)
    finding = HeaderForensics(now=NOW).run_series(series)
    assert finding.score > 0.75 and finding.shares is not None
    uids = [im.sop_instance_uid for im in series.instances]
    at_two = {i for i, im in enumerate(series.instances) if im.geometry.position == images[2].geometry.position}
    kvp = {i for i, im in enumerate(series.instances) if str(im.dataset.KVP) == "100"}
    assert len(at_two) == 2 and len(kvp) == 1
    for i, share in enumerate(finding.shares):
        if i in at_two or i in kvp:
            assert share >= 0.5, (i, share)
        else:
            assert share < 0.2, (i, share)
    found = Scanner(["header"]).series_findings(series)
    scores = {uids[i]: d["header"].score for i, d in enumerate(found.instances)}
    assert max(scores[uids[i]] for i in at_two | kvp) > 0.5 > max(v for u, v in scores.items()
                                                               if u not in {uids[i] for i in at_two | kvp})


@pytest.mark.parametrize(("how", "note"), [
    ("deleted", "Modality absent: CT from the SOP class (CT Image Storage)"),
    ("relabelled", "Modality OT contradicts the SOP class (CT Image Storage): read as CT"),
    ("secondary capture", "the values are CT numbers (air near -1000 HU, water and soft tissue near 0); the header "
                          "says Modality OT"),
])
def test_hiding_the_modality_does_not_turn_the_ct_checks_off(tmp_path, sample_ct_files, how, note):
    """An editor that deletes Modality (Type 1) from an edited CT, relabels it OT, or files it as a secondary capture:
    the reader still reads CT (from the SOP class, or from the values), so the smoothed region is found as before."""
    import numpy as np
    import pydicom
    from scipy import ndimage as ndi

    from radtrust.forensics.scanner import Scanner

    ds = pydicom.dcmread(sample_ct_files[2])
    ds.decompress()
    arr = ds.pixel_array.astype(np.int32)
    yy, xx = np.ogrid[:512, :512]
    ball = (yy - 300) ** 2 + (xx - 250) ** 2 < 20 ** 2
    ds.PixelData = np.where(ball, np.rint(ndi.gaussian_filter(arr.astype(float), 4)), arr).astype(np.uint16).tobytes()
    verdicts = {}
    for stripped in (False, True):
        if stripped and how == "deleted":
            del ds.Modality
        elif stripped:
            ds.Modality = "OT"
            if how == "secondary capture":
                ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = pydicom.uid.SecondaryCaptureImageStorage
        ds.save_as(tmp_path / f"{stripped}.dcm", enforce_file_format=True)
        image = load_image(tmp_path / f"{stripped}.dcm")
        assert image.modality == "CT"
        assert any(note in n for n in image.notes) == stripped
        verdicts[stripped] = Scanner().scan_image(image)
    found = {k: v for k, v in verdicts[True].detectors.items() if k != "header"}
    assert found == {k: v for k, v in verdicts[False].detectors.items() if k != "header"}
    assert {"noise-free", "physics", "region-comb"} <= set(found)  # the CT-only checks ran
    assert found["noise-free"] > 0.5 and verdicts[True].verdict == verdicts[False].verdict != "authentic"
    if how != "secondary capture":  # a CT filed as a secondary capture is conformant, only unusual
        assert any("Type 1" in e or "contradicts" in e for e in verdicts[True].evidence)
