"""Identifier conventions: shapes only, Good-Turing surprise, and the site model's use of them."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from radtrust.forensics.oneclass import SiteModel, train
from radtrust.forensics.oneclass.conventions import MIN_UNITS, Conventions, shape
from radtrust.io import load_image


def _ds(pid: str, name: str) -> Dataset:
    ds = Dataset()
    ds.PatientID, ds.PatientName = pid, name
    return ds


def _site(n: int = 40) -> Conventions:
    c = Conventions()
    for i in range(n):
        c.add({"PatientID": (shape(f"{10000000 + 7919 * i}"), 8), "PatientName": (shape("MEYER^ANNA"), 10)})
    return c


@pytest.mark.parametrize(("value", "expected"), [("P1234567", "A9"), ("HOLM^ANNA", "A^A"), ("cxr-patient-287", "a-a-9"),
                                                 ("QMNx85rKkkg", "Aa9aAa"), ("", ""), (None, ""), ("Müller^Jo", "Aa^Aa"), ("ID#7/1", "A#9/9")])
def test_shape(value, expected):
    assert shape(value) == expected


def test_an_identifier_of_a_new_shape_is_reported_one_of_the_site_shape_is_not():
    site = _site()
    surprise, lines = site.check(_ds("P1234567", "MEYER^ANNA"))
    assert surprise > 0.7 and len(lines) == 1 and "PatientID has the shape 'A9'" in lines[0]  # chance 1/41
    assert site.check(_ds("23456789", "HOLM^ERIK")) == (0.0, [])  # another patient of the same site


def test_no_claim_from_a_varied_or_a_small_site():
    varied = Conventions()
    for i in range(40):  # 20 shapes, each twice: a site that merged many systems
        varied.add({"PatientID": (shape("-".join(["Q"] * (i % 20)) + "7"), 8)})
    for i in range(6):  # and a few one-offs
        varied.add({"PatientID": (shape("x" + "/" * (i + 1)), 8)})
    assert varied.chance_of_new("PatientID") > 0.1
    assert varied.check(_ds("P1234567", "MEYER^ANNA"))[0] < 0.35  # little claimed
    small = _site(MIN_UNITS - 1)
    assert small.check(_ds("P1234567", "MEYER^ANNA")) == (0.0, [])


def test_meta_round_trip_holds_shapes_not_values():
    site = _site()
    meta = site.to_meta()
    text = json.dumps(meta)
    assert "10000000" not in text and "MEYER" not in text
    again = Conventions.from_meta(json.loads(text))
    assert again.to_meta() == meta
    with pytest.raises(ValueError):
        Conventions.from_meta({"units": 3, "fields": {"PatientID": {"9": [1, -2]}}})


def test_site_model_reports_a_relabelled_image(tmp_path: Path, sample_ct_files: list[Path]):
    model = train(sample_ct_files[:3])
    model.conventions = _site()
    model.save(tmp_path / "site.npz")
    loaded = SiteModel.load(tmp_path / "site.npz")
    assert loaded.conventions is not None and loaded.conventions.units == 40
    info = loaded.describe()["identifier_conventions"]
    assert info == {"units": 40, "shapes": {"PatientID": 1, "PatientName": 1}}
    im = load_image(sample_ct_files[4])
    ds = copy.deepcopy(im.dataset)
    ds.PatientID, ds.PatientName = "P1234567", "HOLM^ANNA"
    swapped = loaded.score_image(dataclasses.replace(im, dataset=ds))
    assert any("never seen at this site" in e for e in swapped.evidence)
    assert loaded._identifier_score(ds, []) > 0.8
    ds.PatientID, ds.PatientName = "31415926", "NOWAK^LEA"
    same_shape = loaded.score_image(dataclasses.replace(im, dataset=ds))
    assert not any("never seen at this site" in e for e in same_shape.evidence)
    assert loaded._identifier_score(ds, []) == 0.5
