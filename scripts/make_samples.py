"""Rebuild samples/ from ../shared/data: the small sample study shipped for the demo and quick tests.

    python scripts/make_samples.py [--data ../shared/data]

- samples/ct/: six contiguous slices of the Siemens abdomen CT (Apache-2.0). Pixel data bytes are
  copied unchanged (JPEG 2000 lossless). The source has blank SOP/Series/Study UIDs and PatientID;
  they are filled deterministically (SOP Instance UID from the file meta, the others derived from the
  Frame of Reference UID) so the sample can travel through a PACS.
- samples/cr/RG1_crop.dcm: the central 1024x1024 pixels of RG1_UNCR.dcm (MIT), values unchanged (a crop,
  not a downscale: averaging and rounding leave a histogram comb that the physics detector rightly
  reports), JPEG 2000 lossless, marked DERIVED with a derivation description.
- samples/picture/4d98e1de.jpg: one chest radiograph picture (CC BY 3.0) from the public COVID-19 chest X-ray
  collection, copied byte for byte: most radiographs shared outside a PACS are JPEG pictures like it, and
  the demo shows what an edit made after its compression leaves behind.
- samples/MANIFEST.tsv: source, licence, modification and SHA-256 of every file.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import JPEG2000Lossless, generate_uid

ROOT = Path(__file__).resolve().parent.parent
CT_SLICES = slice(7, 13)
CR_SIZE = 1024


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_ct(data: Path, out: Path) -> list[tuple[str, str, str, str]]:
    src = sorted((data / "ct" / "siemens_abdomen").iterdir())
    datasets = [(p, pydicom.dcmread(p)) for p in src]
    datasets.sort(key=lambda t: float(t[1].ImagePositionPatient[2]))
    rows = []
    out.mkdir(parents=True, exist_ok=True)
    for i, (path, ds) in enumerate(datasets[CT_SLICES]):
        frame = str(ds.FrameOfReferenceUID)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
        ds.SeriesInstanceUID = generate_uid(entropy_srcs=[frame, "series"])
        ds.StudyInstanceUID = generate_uid(entropy_srcs=[frame, "study"])
        ds.PatientID = "RADTRUST-SAMPLE-CT"
        ds.PatientName = "Sample^Abdomen"
        ds.SeriesNumber = 1
        dst = out / f"ct_{i + 1:02d}.dcm"
        ds.save_as(dst, enforce_file_format=True)
        rows.append((f"ct/{dst.name}", f"shared/data/ct/siemens_abdomen/{path.name} (sha256 {sha256(path)})",
                     "Apache-2.0", "blank SOP/Series/Study UIDs, PatientID and PatientName filled; pixels unchanged"))
    return rows


def make_cr(data: Path, out: Path) -> list[tuple[str, str, str, str]]:
    src = data / "cr" / "RG1_UNCR.dcm"
    ds = pydicom.dcmread(src)
    arr = ds.pixel_array
    r0, c0 = (arr.shape[0] - CR_SIZE) // 2, (arr.shape[1] - CR_SIZE) // 2
    crop = np.ascontiguousarray(arr[r0 : r0 + CR_SIZE, c0 : c0 + CR_SIZE]).astype(np.uint16)
    ds.Rows, ds.Columns = crop.shape
    ds.PixelData = crop.tobytes()
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[str(ds.SOPInstanceUID), "crop"])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.DerivationDescription = f"central {CR_SIZE}x{CR_SIZE} crop of RG1_UNCR for the radtrust sample set"
    ds.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg")
    out.mkdir(parents=True, exist_ok=True)
    dst = out / "RG1_crop.dcm"
    ds.save_as(dst, enforce_file_format=True)
    return [("cr/RG1_crop.dcm", f"shared/data/cr/RG1_UNCR.dcm (sha256 {sha256(src)}), NEMA WG04 via pydicom-data",
             "MIT", f"central {CR_SIZE}x{CR_SIZE} crop (values unchanged), new SOP Instance UID, DERIVED, "
             "JPEG 2000 lossless")]


def make_picture(data: Path, out: Path) -> list[tuple[str, str, str, str]]:
    name = "4d98e1de.jpg"
    src = data / "cxr" / name
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_bytes(src.read_bytes())
    return [(f"picture/{name}", f"shared/data/cxr/{name}: github hida6/covid-chestxray-dataset images/{name} "
             f"(patient 225, view PA)", "CC BY 3.0", "none (byte-identical copy)")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    samples = ROOT / "samples"
    rows = (make_ct(args.data, samples / "ct") + make_cr(args.data, samples / "cr")
            + make_picture(args.data, samples / "picture"))
    with open(samples / "MANIFEST.tsv", "w") as fh:
        fh.write("path\tsource\tlicense\tmodification\tsha256\n")
        for path, source, lic, mod in rows:
            fh.write(f"{path}\t{source}\t{lic}\t{mod}\t{sha256(samples / path)}\n")


if __name__ == "__main__":
    main()
