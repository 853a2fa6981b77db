"""A copy compared with the digest kept of an earlier one (radtrust.forensics.digest): re-encodings and whole-image
conversions are not alterations; an edited region is named to the 16-pixel block; a change that keeps every block
mean, a new matrix or a changed header attribute is an alteration; patient values are never printed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import ExplicitVRLittleEndian

from radtrust.benchmarking.robustness import transform_file
from radtrust.forensics.digest import compare_with_digest, pixel_digest
from radtrust.io import load_image


def _copy(src: Path, dst: Path, edit=None, **attrs) -> Path:  # edit: a function of the pixel array
    ds = pydicom.dcmread(src)
    ds.decompress()
    if edit is not None:
        arr = ds.pixel_array.copy()
        edit(arr)
        ds.PixelData = arr.tobytes()
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(dst, enforce_file_format=True)
    return dst


def _against(original: Path, copy: Path) -> tuple[str | None, bool]:
    digest = json.loads(json.dumps(pixel_digest(load_image(original))))  # as the gateway's queue keeps it
    return compare_with_digest(load_image(copy), digest, pydicom.dcmread(original, stop_before_pixels=True))


def test_a_digest_is_small_and_a_re_encoding_matches_it(tmp_path, sample_ct_files):
    original = sample_ct_files[0]  # JPEG 2000 lossless
    assert len(json.dumps(pixel_digest(load_image(original)))) < 6_000  # 512 x 512: 1,024 block means
    assert _against(original, _copy(original, tmp_path / "again.dcm")) == (None, False)


def test_a_whole_image_conversion_is_not_an_alteration(tmp_path, sample_ct_files):
    lossy = tmp_path / "lossy.dcm"
    transform_file(sample_ct_files[0], lossy, "j2k-lossy")
    what, altered = _against(sample_ct_files[0], lossy)
    assert not altered and "differ throughout" in what


def test_an_edited_region_is_named_to_the_block(tmp_path, sample_ct_files):
    def edit(a: np.ndarray) -> None:
        a[200:232, 240:280] += 150

    what, altered = _against(sample_ct_files[0], _copy(sample_ct_files[0], tmp_path / "e.dcm", edit))
    assert altered and "rows 192-239, cols 240-287" in what and "blocks changed" in what


def test_an_edit_under_a_lossy_conversion_is_still_found(tmp_path, sample_ct_files):
    def edit(a: np.ndarray) -> None:
        a[200:264, 240:304] += 400

    edited = _copy(sample_ct_files[0], tmp_path / "e.dcm", edit)
    lossy = tmp_path / "lossy.dcm"
    transform_file(edited, lossy, "j2k-lossy")
    what, altered = _against(sample_ct_files[0], lossy)
    assert altered and "20 of 1024 16 x 16 blocks changed (at rows 192-271, cols 240-303" in what


def test_a_change_that_keeps_every_block_mean_is_an_alteration(tmp_path, sample_ct_files):
    def swap(a: np.ndarray) -> None:  # pixels moved within one 16 x 16 block: its mean unchanged
        a[208:224, 256:272] = a[208:224, 256:272][::-1, ::-1].copy()

    what, altered = _against(sample_ct_files[0], _copy(sample_ct_files[0], tmp_path / "s.dcm", swap))
    assert altered and "every 16 x 16 block mean is the same" in what


def test_header_and_matrix_changes(tmp_path, sample_ct_files):
    original = sample_ct_files[0]
    patient = str(pydicom.dcmread(original, stop_before_pixels=True).PatientID)
    what, altered = _against(original, _copy(original, tmp_path / "p.dcm", PatientID="SOMEONE-ELSE", KVP="100"))
    assert altered and "PatientID differ" in what and "KVP 120 vs 100" in what  # before vs now
    assert "SOMEONE-ELSE" not in what and patient not in what  # identifiers named, never printed
    ds = pydicom.dcmread(original)
    ds.decompress()
    small = ds.pixel_array[:256, :256].copy()
    ds.Rows, ds.Columns, ds.PixelData = 256, 256, small.tobytes()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(tmp_path / "crop.dcm", enforce_file_format=True)
    what, altered = _against(original, tmp_path / "crop.dcm")
    assert altered and "matrices differ (512x512 before, 256x256 now)" in what
