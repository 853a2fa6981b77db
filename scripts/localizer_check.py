#!/usr/bin/env python3
"""A CT localizer (topogram, scout) judged as `radtrust scan` judges it: a projection stored as CT must not read as a
reconstructed slice to the CT checks.

    .venv/bin/python scripts/localizer_check.py ../shared/data/ct/chest_volume/cxr.nii.gz      # a few seconds

No real localizer is in the data here (pydicom's two are 16 x 16 thumbnails), so one is made: a digitally
reconstructed radiograph of the chest CT (attenuation integrated front to back, 1 mm pixels), with quantum noise at two
doses, log-transformed and stored as a scanner stores its topogram (Modality CT, Image Type ORIGINAL\\PRIMARY\\LOCALIZER,
12 bits with a rescale intercept of -1024). Prints each verdict and the detectors' scores.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from scipy import ndimage as ndi

from radtrust.forensics.scanner import Scanner
from radtrust.io import load_image

WATER_MU = 0.02  # per mm, about 70 keV


def projection(volume: Path) -> np.ndarray:
    """Line integrals of attenuation front to back, (z, x) at 1 mm, head up."""
    img = nib.load(str(volume))
    hu = np.maximum(np.asarray(img.dataobj, dtype=np.float32), -1000.0)  # x, y, z
    zx, zy, zz = (float(z) for z in img.header.get_zooms()[:3])
    line = (WATER_MU * (1.0 + hu / 1000.0)).sum(axis=1) * zy
    return ndi.zoom(line, (zx, zz), order=1).T[::-1]


def topogram(line: np.ndarray, dose: float, rng: np.random.Generator) -> Dataset:
    counts = rng.poisson(dose * np.exp(-line)).astype(np.float64)
    proj = ndi.gaussian_filter(-np.log(np.maximum(counts, 1.0) / dose), 0.7)
    stored = np.clip(np.rint(proj / proj.max() * 3000), 0, 4095).astype(np.uint16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = generate_uid(), generate_uid(), generate_uid()
    ds.Modality, ds.ImageType, ds.Manufacturer, ds.KVP = "CT", ["ORIGINAL", "PRIMARY", "LOCALIZER"], "SIEMENS", 120
    ds.PatientID, ds.PatientName, ds.StudyDate = "topogram", "Topogram^Test", "20240101"
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.Rows, ds.Columns = stored.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.RescaleIntercept, ds.RescaleSlope, ds.PixelSpacing = -1024, 1, [1.0, 1.0]
    ds.ImageOrientationPatient, ds.ImagePositionPatient = [1, 0, 0, 0, 0, -1], [0, 0, 0]
    ds.PixelData = stored.tobytes()
    return ds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("volume", type=Path, help="a CT volume in HU (NIfTI): ../shared/data/ct/chest_volume/cxr.nii.gz")
    args = ap.parse_args()
    line = projection(args.volume)
    rng = np.random.default_rng(0)
    scanner = Scanner()
    with tempfile.TemporaryDirectory(prefix="radtrust-localizer-") as tmp:
        for dose in (2e3, 2e4):  # photons per pixel behind air
            path = Path(tmp) / f"topogram_{int(dose)}.dcm"
            topogram(line, dose, rng).save_as(path, enforce_file_format=True)
            r = scanner.scan_image(load_image(path))
            scores = ", ".join(f"{k} {v:.3f}" for k, v in sorted(r.detectors.items()))
            print(f"dose {dose:>7.0f}: {r.verdict} {r.score:.3f} ({scores})")


if __name__ == "__main__":
    main()
