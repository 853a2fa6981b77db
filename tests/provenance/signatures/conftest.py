"""Fixtures for signature tests: dev PKIs (RSA, ECDSA), signers, a multi-frame file, DCMTK helpers, a loopback TSA."""

from __future__ import annotations

import datetime as dt
import http.server
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from radtrust.provenance.signatures import load_certificates, load_crls, load_signer
from radtrust.provenance.signatures.pki import init_dev_pki
from radtrust.provenance.signatures.verify import TrustConfig
from tests.conftest import SAMPLES, require_tool

CT = SAMPLES / "ct" / "ct_01.dcm"
CR = SAMPLES / "cr" / "RG1_crop.dcm"


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return init_dev_pki(tmp_path_factory.mktemp("pki-rsa"), "rsa", p12_password=b"s3cret")


@pytest.fixture(scope="session")
def pki_ec(tmp_path_factory):
    return init_dev_pki(tmp_path_factory.mktemp("pki-ec"), "ecdsa")


@pytest.fixture(scope="session")
def signer(pki):
    return load_signer(pki.signer_key, pki.signer_cert)


@pytest.fixture(scope="session")
def signer_ec(pki_ec):
    return load_signer(pki_ec.signer_key, pki_ec.signer_cert)


def trust_for(pki, **kw) -> TrustConfig:
    return TrustConfig(load_certificates(pki.root), load_certificates(pki.chain), load_crls(pki.crl), **kw)


@pytest.fixture(scope="session")
def trust(pki):
    return trust_for(pki)


@pytest.fixture(scope="session")
def trust_ec(pki_ec):
    return trust_for(pki_ec)


def build_multiframe(path: Path, frames: int = 3) -> Path:
    """A small multi-frame, uncompressed, Explicit VR LE file with functional group sequences."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    rng = np.random.default_rng(7)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7.3"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "Test^Multi", "MF001", "OT"
    ds.Manufacturer, ds.KVP = "radtrust", "120"
    ds.NumberOfFrames, ds.Rows, ds.Columns = frames, 32, 32
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept, ds.PixelSpacing = "1", "-1024", ["0.5", "0.5"]
    pm = Dataset()
    pm.PixelSpacing, pm.SliceThickness = ["0.5", "0.5"], "1.25"
    shared = Dataset()
    shared.PixelMeasuresSequence = [pm]
    ds.SharedFunctionalGroupsSequence = [shared]
    per = []
    for i in range(frames):
        fc = Dataset()
        fc.FrameAcquisitionNumber = i
        pos = Dataset()
        pos.ImagePositionPatient = ["0", "0", str(i * 1.25)]
        item = Dataset()
        item.FrameContentSequence, item.PlanePositionSequence = [fc], [pos]
        per.append(item)
    ds.PerFrameFunctionalGroupsSequence = per
    ds.PixelData = rng.integers(0, 4096, (frames, 32, 32), dtype=np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture(scope="session")
def multiframe(tmp_path_factory) -> Path:
    return build_multiframe(tmp_path_factory.mktemp("mf") / "mf.dcm")


def dcmsign(*args: str | Path) -> subprocess.CompletedProcess:
    exe = require_tool("dcmsign")
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=60)


def dcmsign_verify(pki, path: Path, *extra: str) -> subprocess.CompletedProcess:
    return dcmsign("--verify", "+cf", pki.root, "+uf", pki.intermediate, *extra, path)


TSA_CNF = """
[ tsa ]
default_tsa = tsa_config1
[ tsa_config1 ]
dir = {d}
serial = {d}/tsaserial
crypto_device = builtin
signer_cert = {d}/tsa.pem
certs = {d}/chain.pem
signer_key = {d}/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha1, sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def openssl_tsa_config(pki) -> Path:
    cnf = pki.directory / "tsa.cnf"
    if not cnf.exists():
        cnf.write_text(TSA_CNF.format(d=pki.directory))
        (pki.directory / "tsaserial").write_text("01\n")
    return cnf


def openssl_reply(pki, query: Path, reply: Path) -> None:
    exe = require_tool("openssl")
    subprocess.run([exe, "ts", "-reply", "-config", str(openssl_tsa_config(pki)), "-queryfile", str(query),
                    "-out", str(reply)], check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="session")
def tsa_url(pki, tmp_path_factory):
    """A loopback RFC 3161 TSA over HTTP; each reply is made by `openssl ts -reply`."""
    require_tool("openssl")
    work = tmp_path_factory.mktemp("tsa")
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                q, r = work / "q.tsq", work / "r.tsr"
                q.write_bytes(body)
                openssl_reply(pki, q, r)
                data = r.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/tsa"
    server.shutdown()
    server.server_close()


def copy(src: Path, dst_dir: Path, name: str | None = None) -> Path:
    dst = dst_dir / (name or src.name)
    shutil.copyfile(src, dst)
    return dst


NOW = dt.datetime.now(dt.timezone.utc)
