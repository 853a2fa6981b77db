"""Physics detector: known answers on seeded cases (clipped HU floor, re-quantisation comb, calibration, FOV)
and no false alarm on the authentic slices."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from radtrust.forensics.ct_noise import NoiseModel, kernel_class, uniform_noise_sigma
from radtrust.forensics.detectors.physics import PhysicsCheck, body_mask, near_body, pileups
from radtrust.forensics.residuals import dilate, shared_intermediates
from radtrust.io import iter_images, load_image


@pytest.fixture(scope="module")
def ct(sample_ct_files):
    return load_image(sample_ct_files[2])


def _with(image, pixels):
    return dataclasses.replace(image, pixels=pixels.astype(np.float32))


def test_clipped_hu_floor_is_reported_where_it_is(ct):
    rng = np.random.default_rng(0)
    p = ct.pixels.copy()
    yy, xx = np.mgrid[: p.shape[0], : p.shape[1]]
    disk = (yy - 256) ** 2 + (xx - 300) ** 2 < 30 ** 2
    p[disk] = np.maximum(np.rint(rng.normal(-980, 25, disk.sum())), -1000)  # CT-GAN: values < -1000 -> -1000
    f = PhysicsCheck().run(_with(ct, p))
    assert f.score > 0.8
    assert any("-1000 HU" in e and "floor" in e for e in f.evidence)
    assert f.heatmap[disk].mean() > 0.9 and f.heatmap[~disk].mean() < 0.02


def test_a_padding_value_written_over_the_floor_does_not_hide_it(ct):
    """An editor who declares CT-GAN's floor value (-1000 HU) as the Pixel Padding Value: still a floor, and the odd
    padding value is reported."""
    import copy

    rng = np.random.default_rng(0)
    p = ct.pixels.copy()
    yy, xx = np.mgrid[: p.shape[0], : p.shape[1]]
    disk = (yy - 256) ** 2 + (xx - 300) ** 2 < 30 ** 2
    p[disk] = np.maximum(np.rint(rng.normal(-980, 25, disk.sum())), -1000)
    ds = copy.deepcopy(ct.dataset)
    slope, intercept = ct.rescale
    ds.PixelPaddingValue = int(round((-1000 - intercept) / slope))
    f = PhysicsCheck().run(dataclasses.replace(_with(ct, p), dataset=ds))
    assert f.score > 0.8 and any("-1000 HU" in e and "floor" in e for e in f.evidence)
    assert any("Pixel Padding Value is -1000 HU" in e for e in f.evidence)


def test_smooth_narrow_peak_is_not_a_floor():
    rng = np.random.default_rng(1)
    values = np.rint(rng.normal(-994, 1.0, 20000))  # air in a low-noise phantom: narrow but smooth
    assert pileups(values, set()) == []


@pytest.mark.parametrize("factor", [1.3, 0.7])
def test_requantisation_comb(ct, factor):
    f = PhysicsCheck().run(_with(ct, np.rint(ct.pixels * factor)))
    assert f.score > 0.5
    assert any("comb" in e or "gaps" in e for e in f.evidence)


def test_comb_counts_in_modality_data_not_in_an_8_bit_rendering(sample_cr_file):
    cr = load_image(sample_cr_file)
    assert int(cr.dataset.BitsStored) > 8
    ds = copy.deepcopy(cr.dataset)
    del ds.DerivationDescription  # the sample is a declared crop; undeclared re-quantisation is what counts
    cr = dataclasses.replace(cr, dataset=ds)
    combed = PhysicsCheck().run(_with(cr, np.rint(cr.pixels * 1.3)))
    assert combed.score > 0.5  # the plate's own 12+ bit data rescaled: flagged
    ds = copy.deepcopy(ds)
    ds.BitsStored = ds.BitsAllocated = 8
    ds.HighBit = 7
    lo, span = float(cr.pixels.min()), float(np.ptp(cr.pixels))
    rendered = np.rint(np.clip(np.rint((cr.pixels - lo) / span * 180.0) * 1.4, 0, 255))  # windowed, stretched
    f = PhysicsCheck().run(dataclasses.replace(cr, pixels=rendered.astype(np.float32), dataset=ds, bits_stored=8))
    assert f.score < 0.3
    assert any("histogram not judged: 8-bit" in e for e in f.evidence)


@pytest.mark.parametrize("declare", ["attribute", "sop-class"])
def test_display_curve_declared_by_a_dx_for_presentation_is_processing(sample_cr_file, declare):
    """A DX "for presentation" has been through the modality's display processing, and a tone curve steeper than 1
    leaves histogram gaps (the plate through a sigmoid: 0.90, `tampered`, before). Declared by Presentation Intent
    Type (Type 1 in the DX IOD) or by the For Presentation SOP class: kept as evidence at 0.3 of its severity. The
    same pixels declared FOR PROCESSING, which no display curve should have touched, are still flagged."""
    cr = load_image(sample_cr_file)
    px = cr.pixels.astype(np.float64)
    lo, hi = np.percentile(px, [1, 99])
    shown = np.rint(32767 / (1 + np.exp(-4 * ((px - lo) / (hi - lo) - 0.5))))
    ds = copy.deepcopy(cr.dataset)
    del ds.DerivationDescription
    ds.Modality = "DX"
    ds.PresentationIntentType = "FOR PROCESSING"
    raw = PhysicsCheck().run(dataclasses.replace(cr, pixels=shown.astype(np.float32), dataset=ds, modality="DX"))
    assert raw.score > 0.5 and not any("declared" in e for e in raw.evidence)
    ds = copy.deepcopy(ds)
    if declare == "attribute":
        ds.PresentationIntentType = "FOR PRESENTATION"
    else:
        del ds.PresentationIntentType
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
    shown_dx = PhysicsCheck().run(dataclasses.replace(cr, pixels=shown.astype(np.float32), dataset=ds, modality="DX"))
    assert shown_dx.score < 0.45  # gaps and comb, each at 0.3 of its severity: under the 0.5 a detector needs alone
    assert any("gaps" in e and "declared: FOR PRESENTATION" in e for e in shown_dx.evidence), shown_dx.evidence


def test_contrast_stretched_picture_stored_as_dicom_is_not_flagged(shared_data, tmp_path):
    """A picture from a paper (contrast-stretched before publishing: 89% of its grey values unused), stored as
    8-bit DICOM the way the benchmark writer stores pictures; the comb had flagged it (physics 0.98)."""
    from radtrust.simulation.target import from_raster
    from radtrust.simulation.writer import write_dicom

    t = from_raster(shared_data / "cxr" / "16745_6_1.png", patient="p")
    path = write_dicom(t.datasets, t.pixels, tmp_path / "picture.dcm", syntax="explicit")
    assert PhysicsCheck().run(load_image(path)).score < 0.3


def test_calibration_shift_is_reported(ct):
    f = PhysicsCheck().run(_with(ct, ct.pixels + 200))
    assert any("air outside the body" in e for e in f.evidence)


def test_spacing_vs_field_of_view(ct):
    ds = copy.deepcopy(ct.dataset)
    ds.ReconstructionDiameter = 350
    f = PhysicsCheck().run(dataclasses.replace(ct, dataset=ds))
    assert any("field of view" in e for e in f.evidence)


def test_noise_sigma_known_answer():
    rng = np.random.default_rng(2)
    img = np.full((256, 256), 40.0) + rng.normal(0, 12.0, (256, 256))
    sigma, n = uniform_noise_sigma(img)
    assert n > 10000 and sigma == pytest.approx(12.0, rel=0.08)


def test_noise_model_flags_an_edited_mas(ct):
    model = NoiseModel.shipped()
    assert model is not None and "standard" in model.intercepts
    acq = dataclasses.replace(ct.acquisition, exposure_mas=ct.acquisition.exposure_mas * 5000)
    f = PhysicsCheck().run(dataclasses.replace(ct, acquisition=acq))
    assert any("noise in uniform tissue" in e for e in f.evidence)


@pytest.mark.parametrize("kernel, cls", [("Br38f\\3", "standard"), ("B70f", "sharp"), ("BONE", "sharp"),
                                         ("STD+", "standard"), ("SOFT", "smooth"), ("UB", "standard")])
def test_kernel_classes(kernel, cls):
    assert kernel_class(kernel) == cls


def test_no_false_alarm_on_authentic_dicom(shared_data, samples_dir):
    det = PhysicsCheck()
    scores = []
    for loaded in iter_images([shared_data / "ct", shared_data / "cr", samples_dir]):
        if loaded.image is None or not det.applies_to(loaded.image):
            continue
        try:
            scores.append(det.run(loaded.image).score)
        except Exception as exc:  # NotApplicable on slices without a body
            assert type(exc).__name__ == "NotApplicable"
    assert len(scores) > 70
    assert max(scores) < 0.5


def test_lossy_plateaus_are_not_a_pasted_constant():
    """pydicom's 693_J2KI.dcm: a real head CT stored as irreversible JPEG 2000 at a high ratio, whose brain the
    codec flattened to one value (21774 pixels at 32 HU). That says nothing about editing; the same pixels
    in a file that claims no lossy step are flagged."""
    from pydicom.data import get_testdata_file

    lossy = load_image(get_testdata_file("693_J2KI.dcm"))
    f = PhysicsCheck().run(lossy)
    assert f.score < 0.2
    assert any("not judged" in e and "lossy" in e for e in f.evidence)
    ds = copy.deepcopy(lossy.dataset)
    ds.LossyImageCompression = "00"
    claimed_lossless = dataclasses.replace(lossy, dataset=ds, transfer_syntax="1.2.840.10008.1.2.1")
    flagged = PhysicsCheck().run(claimed_lossless)
    assert flagged.score > 0.8
    assert any("32 HU" in e and "constant" in e for e in flagged.evidence)


def _enhanced_ct(files, tmp_path, edit=None):
    """An Enhanced CT (one multi-frame file) made from the sample slices by highdicom's legacy converter, the way a
    PACS or a modern scanner hands one over; ``edit(i, hu)`` may change frame i's HU first."""
    import highdicom as hd
    import pydicom
    from highdicom.legacy import LegacyConvertedEnhancedCTImage

    from radtrust.simulation.writer import stored_values

    datasets = []
    for i, f in enumerate(files):
        ds = pydicom.dcmread(f)
        ds.decompress()
        if edit is not None:
            hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
            ds.PixelData = stored_values(ds, edit(i, hu.astype(np.float32))).tobytes()
        datasets.append(ds)
    out = LegacyConvertedEnhancedCTImage(datasets, series_instance_uid=hd.UID(), series_number=900,
                                         sop_instance_uid=hd.UID(), instance_number=1)
    path = tmp_path / "enhanced.dcm"
    out.save_as(path)
    return load_image(path)


def test_multi_frame_ct_is_checked_frame_by_frame(sample_ct_files, tmp_path):
    """Enhanced CT holds the whole series in one file, its rescale in the functional groups: the loader now reads
    HU from there (it returned stored values), physics reads each frame as a slice (it was not run at all on a 3D
    image), and a CT-GAN clip in one frame is reported with that frame's number."""
    plain = _enhanced_ct(sample_ct_files, tmp_path)
    assert plain.pixels.ndim == 3 and PhysicsCheck().applies_to(plain)
    assert PhysicsCheck().run(plain).score < 0.5
    yy, xx = np.mgrid[:512, :512]
    disk = (yy - 256) ** 2 + (xx - 300) ** 2 < 30 ** 2
    rng = np.random.default_rng(0)

    def clip(i, hu):
        if i == 2:
            hu[disk] = np.maximum(np.rint(rng.normal(-980, 25, disk.sum())), -1000)
        return hu

    clipped = _enhanced_ct(sample_ct_files, tmp_path, clip)
    assert plain.rescale == clipped.rescale == (1.0, -1024.0)  # HU from the Pixel Value Transformation group
    k = next(j for j, frame in enumerate(clipped.pixels) if np.median(frame[disk]) <= -900)  # the converter's order
    f = PhysicsCheck().run(clipped)
    assert f.score > 0.8
    assert any(e.startswith(f"frame {k + 1} of 6") and "-1000 HU" in e for e in f.evidence)
    assert f.heatmap.shape == plain.pixels.shape and f.heatmap[k][disk].mean() > 0.9
    assert all(f.heatmap[j].max() == 0 for j in range(6) if j != k)


def test_multi_frame_radiography_is_not_judged(sample_cr_file):
    cr = load_image(sample_cr_file)
    cine = dataclasses.replace(cr, pixels=np.stack([cr.pixels, cr.pixels]), modality="XA")
    with pytest.raises(Exception, match="multi-frame radiography"):
        PhysicsCheck().run(cine)


def test_a_ct_map_that_is_not_in_hounsfield_units_is_not_judged(sample_ct_files, tmp_path):
    """pydicom-data's Enhanced CT perfusion map (Rescale Type US: -1024 padding around values of 0-172) scored 1.0: its
    values are not HU. The reason is given once for the image, not as 'no patient in any frame'."""
    image = _enhanced_ct(sample_ct_files, tmp_path)
    ds = copy.deepcopy(image.dataset)
    ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0].RescaleType = "US"
    body = image.pixels > -500
    perfusion = np.where(body, np.clip((image.pixels + 100) / 2, 0, 172), -1024.0).astype(np.float32)
    with pytest.raises(Exception, match="not Hounsfield units"):
        PhysicsCheck().run(dataclasses.replace(image, dataset=ds, pixels=perfusion))


def test_a_rescale_type_written_into_a_ct_does_not_turn_its_checks_off(sample_ct_files, tmp_path):
    """The same claim on values that are CT numbers (noisy air near -1000, water near 0) is not believed: the CT
    checks judge the image, and header forensics reports the contradiction."""
    from radtrust.forensics.detectors.header import HeaderForensics

    image = _enhanced_ct(sample_ct_files, tmp_path)
    ds = copy.deepcopy(image.dataset)
    ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0].RescaleType = "US"
    claimed = dataclasses.replace(image, dataset=ds)
    assert PhysicsCheck().run(claimed).score == pytest.approx(PhysicsCheck().run(image).score)
    evidence = HeaderForensics().run(claimed).evidence
    assert any("Rescale Type US says the values are not Hounsfield units, but they are CT numbers" in e
               for e in evidence)


def _slices(shared_data, name: str) -> np.ndarray:
    from radtrust.io import load_series

    path = shared_data / "ct" / name
    if path.is_dir():
        return load_series(path)[0].volume()[2:12].astype(np.float32)
    return load_image(path).pixels[60:70].astype(np.float32)


@pytest.mark.parametrize("name", ["siemens_abdomen", "ge_head", "philips_phantom", "chest_volume/cxr.nii.gz"])
def test_averages_rounded_half_to_even_are_processing_not_an_edit(shared_data, name):
    """Slices averaged in pairs or fours and rounded as numpy and C's rint round (half to even): one parity of values
    up to 3 times as frequent as the other, which read as "rescaled integer data" and as constants at every other
    value of a phantom's narrow peaks (physics 0.75-0.99 on every source). Now a note; a constant region in such a
    slice is still found, and a gain of 2/3 (a period-2 comb too) is still a comb."""
    from radtrust.errors import NotApplicable
    from radtrust.forensics.detectors.physics import half_even_ratio
    from radtrust.io import Image

    v = _slices(shared_data, name)
    det = PhysicsCheck()

    def physics(x):
        try:
            return det.run(Image(path=None, pixels=x.astype(np.float32), source_format="dicom", modality="CT",
                                 bits_stored=12))
        except NotApplicable:
            return None

    assert all(half_even_ratio(s) is None for s in v)
    read = 0
    for n in (2, 4):
        means = [np.rint(v[i:i + n].mean(axis=0)) for i in range(0, len(v) - n + 1, 2)]
        for m in means:
            f = physics(m)
            if f is not None:
                assert f.score < 0.3, f.evidence
                read += any("rounded half to even" in e for e in f.evidence)
        assert all(half_even_ratio(np.floor(v[i:i + n].mean(axis=0) + 0.5)) is None for i in (0, 4))
    assert read >= 1
    pair = np.rint(v[4:6].mean(axis=0))
    yy, xx = np.mgrid[: pair.shape[0], : pair.shape[1]]
    body = np.flatnonzero((pair > -200) & (pair < 200))
    cy, cx = np.unravel_index(body[len(body) // 2], pair.shape)
    disk = (yy - cy) ** 2 + (xx - cx) ** 2 < 24 ** 2
    pair[disk] = 137.0  # a value few voxels hold, so that the constant region stands out of the histogram
    f = physics(pair)
    assert f.score > 0.5 and any("exactly at 137 HU" in e for e in f.evidence)
    gain = physics(np.rint(v[4] * 2.0 / 3.0))
    assert gain is None or not any("rounded half to even" in e for e in gain.evidence)


def _reformat(image, orientation=None, image_type=None):
    """``image`` with the header of a reformat: another orientation, or an ImageType that says so."""
    ds = copy.deepcopy(image.dataset)
    if image_type is not None:
        ds.ImageType = image_type
    geometry = image.geometry if orientation is None else dataclasses.replace(image.geometry, orientation=orientation)
    return dataclasses.replace(image, dataset=ds, geometry=geometry)


@pytest.mark.parametrize("orientation, image_type", [((1, 0, 0, 0, 0, -1), None), ((0, 1, 0, 0, 0, -1), None),
                                                     (None, ["DERIVED", "SECONDARY", "MPR"]),
                                                     (None, ["DERIVED", "SECONDARY", "REFORMATTED"]),
                                                     (None, ["ORIGINAL", "PRIMARY", "LOCALIZER"])])
def test_a_reformat_is_not_judged_against_its_acquisition_noise(ct, orientation, image_type):
    """A coronal or sagittal plane, or an ImageType that declares a reformat: its SliceThickness is the reformat's
    and its noise the source slices' after interpolation (the Philips phantom's thin reformats read 0.52 HU where
    its header predicted 10.7 HU). The axial original with the same noise is flagged; a tilted gantry is axial."""
    acq = dataclasses.replace(ct.acquisition, exposure_mas=ct.acquisition.exposure_mas * 5000)
    edited = dataclasses.replace(ct, acquisition=acq)
    assert any("noise in uniform tissue" in e for e in PhysicsCheck().run(edited).evidence)
    tilted = (1, 0, 0, 0, float(np.cos(0.5)), float(-np.sin(0.5)))  # about 29 degrees
    assert any("noise in uniform tissue" in e for e in PhysicsCheck().run(_reformat(edited, tilted)).evidence)
    f = PhysicsCheck().run(_reformat(edited, orientation, image_type))
    assert not any("noise in uniform tissue" in e for e in f.evidence)
    assert any(e.startswith("noise against kVp") and "not judged" in e for e in f.evidence)
    flat = PhysicsCheck().run(_reformat(_with(edited, np.full_like(ct.pixels, 40.0)), orientation, image_type))
    assert any("no noise at all" in e for e in flat.evidence)  # a reformat still carries noise


def test_a_constant_in_a_reformat_counts_less(ct):
    """A slab averaged from a phantom's low-noise slices rounds a uniform insert to one value: a constant (spike)
    in a reformat is kept as evidence at 0.3 of its severity; a floor is not weakened."""
    p = ct.pixels.copy()
    yy, xx = np.mgrid[: p.shape[0], : p.shape[1]]
    disk = (yy - 256) ** 2 + (xx - 300) ** 2 < 20 ** 2
    p[disk] = 37.0
    axial = PhysicsCheck().run(_with(ct, p))
    coronal = PhysicsCheck().run(_reformat(_with(ct, p), (1, 0, 0, 0, 0, -1)))
    assert axial.score > 0.5 and 0.0 < coronal.score < 0.3 * axial.score + 0.05
    assert any("37 HU" in e and "declared" in e for e in coronal.evidence)


@pytest.mark.parametrize("crop", [(slice(None), slice(None)), (slice(3, 510), slice(0, 301)),
                                  (slice(60, 190), slice(190, 320))])
@pytest.mark.parametrize("radius", [12, 5, 1])
def test_near_body_is_the_body_mask_dilated(ct, crop, radius):
    """Grown on the mask's grid (steps 4, 2, 1 by size, edges not whole cells) or per pixel where the radius is
    not whole cells: the same pixels as dilating the full-size mask; inside a scan's shared block too."""
    hu = np.ascontiguousarray(ct.pixels[crop])
    want = dilate(body_mask(hu)[0], radius)
    assert want.any() and not want.all()
    assert np.array_equal(near_body(hu, radius), want)
    with shared_intermediates():
        body_mask(hu, margin=6)
        assert np.array_equal(near_body(hu, radius), want)
    air = np.full((64, 64), -1000.0, np.float32)
    assert not near_body(air, radius).any()


def test_histogram_checks_read_the_rounded_values_given_or_their_own():
    """The pile-up, re-quantisation and half-to-even tests give the same answers from values rounded once by the
    caller (physics rounds a slice's body once for all of them) as from the values, at any slope."""
    from radtrust.forensics.detectors import physics

    rng = np.random.default_rng(12)
    averaged = (np.rint(rng.normal(100, 20, 60000)) + np.rint(rng.normal(100, 20, 60000))) / 2.0  # a comb of parity
    rescaled = np.rint(np.rint(rng.normal(0, 30, 90000)) * 1.25)  # emptied values
    for values in (averaged, rescaled, np.rint(rng.normal(-500, 40, 90000))):
        ints = np.rint(values).astype(np.int64)
        assert physics.requantisation(values, 1.0, ints=ints) == physics.requantisation(values, 1.0)
        assert physics.pileups(values, set(), ints=ints) == physics.pileups(values, set())
        assert physics.half_even_ratio(values, ints) == physics.half_even_ratio(values)
        assert physics.requantisation(values * 2.0, 2.0) == physics.requantisation(values)
    assert physics.half_even_ratio(averaged) is not None and physics.requantisation(rescaled)
