"""Test instances for the service tests: copies of the sample CT with fresh UIDs, signed and tampered copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CT = sorted((ROOT / "samples" / "ct").glob("ct_0*.dcm"))


def uncompressed_copy(src: Path, dst: Path, *, sop_uid: str | None = None, study_uid: str | None = None,
                      series_uid: str | None = None, instance_number: int | None = None) -> Path:
    ds = pydicom.dcmread(src)
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        ds.decompress()
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if study_uid:
        ds.StudyInstanceUID = study_uid
    if series_uid:
        ds.SeriesInstanceUID = series_uid
    if instance_number is not None:
        ds.InstanceNumber = instance_number
    ds.save_as(dst, enforce_file_format=True)
    return dst


def signed_set(workdir: Path) -> dict[str, Path]:
    """A dev PKI, a signed instance and a signed-then-tampered one (new UIDs, in the sample study)."""
    from radtrust.provenance.signatures import load_signer, sign_file
    from radtrust.provenance.signatures.pki import init_dev_pki

    pki = init_dev_pki(workdir / "pki")
    signer = load_signer(pki.signer_key, pki.signer_cert, pki.chain)
    plain_a = uncompressed_copy(SAMPLE_CT[3], workdir / "plain_a.dcm")
    plain_b = uncompressed_copy(SAMPLE_CT[4], workdir / "plain_b.dcm")
    sign_file(plain_a, workdir / "signed.dcm", signer)
    sign_file(plain_b, workdir / "signed_b.dcm", signer)
    t = pydicom.dcmread(workdir / "signed_b.dcm")
    pixels = t.pixel_array.copy()
    pixels[200:240, 200:240] += 60  # a planted "lesion": the signature no longer matches
    t.PixelData = pixels.tobytes()
    t.save_as(workdir / "tampered.dcm")
    return {"root": pki.root, "chain": pki.chain, "signed": workdir / "signed.dcm",
            "tampered": workdir / "tampered.dcm", "unsigned": plain_a}


def synthetic_series(workdir: Path, n: int, *, size: int = 64, seed: int = 0) -> list[Path]:
    """``n`` small uncompressed CT slices of one new study/series (header from the sample CT)."""
    rng = np.random.default_rng(seed)
    template = pydicom.dcmread(SAMPLE_CT[0])
    template.decompress()
    study, series = generate_uid(), generate_uid()
    workdir.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        ds = template.copy()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta = template.file_meta.copy()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.InstanceNumber = i + 1
        ds.Rows = ds.Columns = size
        ds.ImagePositionPatient = [0.0, 0.0, float(i)]
        ds.PixelData = (rng.normal(1024, 20, (size, size))).clip(0, 4095).astype(np.uint16).tobytes()
        p = workdir / f"s{i:05d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        out.append(p)
    return out


def credential_set(workdir: Path, pki_dir: Path) -> dict[str, Path]:
    """A content-credentialed instance, its lossless re-encoding (J2K -> Explicit VR) and a tampered copy."""
    from radtrust.provenance.credential import issue_file, load_signer

    signer = load_signer(pki_dir / "signer.key", pki_dir / "signer.pem", pki_dir / "chain.pem")
    src = workdir / "cred_src.dcm"
    ds = pydicom.dcmread(SAMPLE_CT[2])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.save_as(src, enforce_file_format=True)
    issue_file(src, signer, out=workdir / "credentialed.dcm")
    re = pydicom.dcmread(workdir / "credentialed.dcm")
    re.decompress(generate_instance_uid=False)  # a PACS re-encode: lossless, pixels unchanged
    re.save_as(workdir / "credentialed_reencoded.dcm", enforce_file_format=True)
    t = pydicom.dcmread(workdir / "credentialed_reencoded.dcm")
    pixels = t.pixel_array.copy()
    pixels[300:330, 300:330] += 40
    t.PixelData = pixels.tobytes()
    t.save_as(workdir / "credentialed_tampered.dcm", enforce_file_format=True)
    return {"credentialed": workdir / "credentialed.dcm", "reencoded": workdir / "credentialed_reencoded.dcm",
            "tampered": workdir / "credentialed_tampered.dcm"}
