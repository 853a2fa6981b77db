"""Fixtures for content-credential tests: a dev PKI (radtrust's own), credentialed CT files, a multi-frame image."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from radtrust.provenance.credential import issue_dataset, load_certificates, load_signer, make_action
from radtrust.provenance.credential.issue import write_dataset
from radtrust.provenance.signatures.pki import init_dev_pki

NOW = None  # credentials carry the real time; certificate validity is checked at "now"


@pytest.fixture(scope="session")
def cred_pki(tmp_path_factory):
    return init_dev_pki(tmp_path_factory.mktemp("cred-pki"), "ecdsa")


@pytest.fixture(scope="session")
def cred_signer(cred_pki):
    return load_signer(cred_pki.signer_key, cred_pki.signer_cert, cred_pki.chain)


@pytest.fixture(scope="session")
def cred_trust(cred_pki):
    return load_certificates(cred_pki.root)


def read(path: Path) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


def credentialed(src: Path, dst: Path, signer, *, decompress: bool = True) -> Path:
    """A copy of ``src`` with an 'acquired' credential (uncompressed Explicit VR LE unless decompress=False)."""
    ds = read(src)
    if decompress:
        ds.decompress(generate_instance_uid=False)
    issue_dataset(ds, signer, make_action("acquired"), path=src)
    write_dataset(ds, dst)
    return dst


@pytest.fixture(scope="session")
def acquired(tmp_path_factory, sample_ct_files, cred_signer) -> Path:
    """ct_01 decompressed to Explicit VR LE, with an acquisition credential."""
    d = tmp_path_factory.mktemp("acquired")
    return credentialed(sample_ct_files[0], d / "ct_01.dcm", cred_signer)


@pytest.fixture(scope="session")
def acquired_pair(tmp_path_factory, sample_ct_files, cred_signer) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("pair")
    return (credentialed(sample_ct_files[0], d / "ct_01.dcm", cred_signer),
            credentialed(sample_ct_files[1], d / "ct_02.dcm", cred_signer))


@pytest.fixture(scope="session")
def multiframe(tmp_path_factory, sample_ct_files, cred_signer) -> Path:
    """A 4-frame image built from four sample slices (frames differ), with an acquisition credential."""
    d = tmp_path_factory.mktemp("multiframe")
    ds = read(sample_ct_files[0])
    frames = np.stack([read(p).pixel_array for p in sample_ct_files[:4]])
    ds.decompress(generate_instance_uid=False)
    ds.set_pixel_data(frames, "MONOCHROME2", int(ds.BitsStored), generate_instance_uid=False)
    ds.NumberOfFrames = 4
    # A multi-frame SOP class (GDCM rewrites a multi-frame "CT Image Storage" object's SOP Class UID).
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7.3"
    issue_dataset(ds, cred_signer, make_action("acquired"), path=d / "mf.dcm")
    write_dataset(ds, d / "mf.dcm")
    return d / "mf.dcm"


def to_bytes(ds: pydicom.Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
