"""Robustness variants write real DICOM that the scanner reads like any other file."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from radtrust.benchmarking.robustness import NotApplicableVariant, transform, transformer
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
