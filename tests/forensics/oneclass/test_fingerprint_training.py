"""End to end: `train` estimates a detector fingerprint from DICOM radiographs of one DetectorID and the site model
localises a splice from another detector. The fixed pattern is SIMULATED (no public single-detector series exists)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from radtrust.forensics.oneclass import SiteModel, train
from radtrust.io import load_image

SIZE = 384


def _write_cr(path: Path, pixels: np.ndarray, detector: str) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID, ds.PatientName, ds.Modality = "SIM", "SIM", "CR"
    ds.Manufacturer, ds.ManufacturerModelName, ds.DetectorID = "ACME", "FP-1", detector
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 14, 13, 0
    ds.PixelData = np.clip(np.round(pixels), 0, 2**14 - 1).astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def _expose(rng: np.random.Generator, k: np.ndarray) -> np.ndarray:
    f = ndimage.gaussian_filter(rng.normal(size=(SIZE, SIZE)), 16)
    i0 = 500.0 + 3000.0 * (f - f.min()) / (f.max() - f.min())
    return i0 * (1.0 + k) + rng.normal(size=i0.shape) * np.sqrt(i0)


def test_fingerprint_trained_from_dicom_localises_a_splice(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    k = rng.normal(0, 0.01, (SIZE, SIZE))
    k_other = rng.normal(0, 0.01, (SIZE, SIZE))
    auth = tmp_path / "authentic"
    auth.mkdir()
    for i in range(10):
        _write_cr(auth / f"cr{i}.dcm", _expose(rng, k), "DET-1")
    model = train([auth], now=datetime(2026, 1, 1, tzinfo=timezone.utc))
    path = model.save(tmp_path / "site.npz")
    assert b"DET-1" not in path.read_bytes()
    site = SiteModel.load(path)
    [fp] = site.describe()["fingerprints"]
    assert fp["images"] == 10 and fp["shape"] == [SIZE, SIZE]

    host, donor = _expose(rng, k), _expose(rng, k_other)
    mask = np.zeros((SIZE, SIZE), bool)
    mask[100:240, 150:290] = True
    spliced = load_image(_write_cr(tmp_path / "spliced.dcm", np.where(mask, donor, host), "DET-1"))
    genuine = load_image(_write_cr(tmp_path / "genuine.dcm", host, "DET-1"))
    f_spliced, f_genuine = site.score_image(spliced), site.score_image(genuine)
    assert f_spliced.score > 0.9 > f_genuine.score
    assert any("fixed-pattern noise" in e for e in f_spliced.evidence)
    assert roc_auc_score(mask.ravel(), f_spliced.heatmap.ravel()) >= 0.95
    # another detector serial: no fingerprint is applied (the texture model still judges the image)
    other = load_image(_write_cr(tmp_path / "other.dcm", host, "DET-2"))
    assert not any("fixed-pattern" in e for e in site.score_image(other).evidence)
