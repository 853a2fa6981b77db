"""Robustness variants write real DICOM that the scanner reads like any other file."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from radtrust.benchmarking.robustness import NotApplicableVariant, parse_variant, transform, transformer
from radtrust.io import load_image
from tests.simulation.test_dataset import _pictures


def test_jpeg_resave_is_a_real_jpeg_baseline_file(tmp_path, sample_cr_file):
    from radtrust.cli import main

    pics = _pictures(tmp_path / "pics", n=1)
    bench = tmp_path / "bench"
    assert main(["simulate", "dataset", "--authentic", str(pics), "--out", str(bench), "--per-image", "1",
                 "--seed", "1", "--methods", "retouch"]) == 0
    src = next(p for p in (bench / "xr").iterdir() if p.suffix == ".dcm")
    out = transform(src, tmp_path / "out.dcm", "jpeg-resave")
    ds = pydicom.dcmread(out)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.JPEGBaseline8Bit and ds.LossyImageCompression == "01"
    before, after = load_image(src).pixels, load_image(out).pixels
    assert before.shape == after.shape and 0 < np.abs(before - after).mean() < 3  # quality 90: close, not equal
    with pytest.raises(NotApplicableVariant):
        transform(sample_cr_file, tmp_path / "cr.dcm", "jpeg-resave")
    assert transformer(tmp_path / "work", "jpeg-resave")(sample_cr_file, "cr") is None


def test_lossy_variants_take_their_strength(tmp_path, sample_ct_files):
    """j2k-lossy:R stores at R:1 and jpeg-resave:Q at quality Q through the real codecs: a milder setting keeps
    the pixels closer and the file larger."""
    src = sample_ct_files[0]
    before = load_image(src).pixels
    err, size = {}, {}
    for v in ("j2k-lossy:3", "j2k-lossy", "j2k-lossy:30"):
        out = transform(src, tmp_path / f"{v}.dcm", v)
        ds = pydicom.dcmread(out)
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.JPEG2000 and ds.LossyImageCompression == "01"
        err[v], size[v] = float(np.abs(load_image(out).pixels - before).mean()), len(ds.PixelData)
    assert 0 < err["j2k-lossy:3"] < err["j2k-lossy"] < err["j2k-lossy:30"]
    assert size["j2k-lossy:3"] > size["j2k-lossy"] > size["j2k-lossy:30"]
    raw = before.size * int(pydicom.dcmread(src).BitsStored) / 8  # OpenJPEG's ratio is to the bits stored
    assert 2.5 < raw / size["j2k-lossy:3"] < 3.5 and 8 < raw / size["j2k-lossy"] < 12


def test_parse_variant():
    assert parse_variant("lossless") == ("lossless", None)
    assert parse_variant("j2k-lossy:4") == ("j2k-lossy", 4.0)
    assert parse_variant("jpeg-resave:95") == ("jpeg-resave", 95.0)
    for bad in ("j2k-lossy:0.5", "j2k-lossy:x", "jpeg-resave:0", "jpeg-resave:101", "requantise:2", "blur"):
        with pytest.raises(ValueError):
            parse_variant(bad)
