"""Real servers for the service tests: Orthanc (Debian's /usr/sbin/Orthanc) on loopback ephemeral ports,
the radtrust gateway as a subprocess, and small REST/DICOM helpers."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pydicom
import pytest

ORTHANC = "/usr/sbin/Orthanc"
PYTHON_PLUGIN = "/usr/share/orthanc/plugins/libOrthancPython.so"
ROOT = Path(__file__).resolve().parents[2]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports: every socket stays bound until all are picked, so that the kernel
    cannot hand the same ephemeral port out twice (it did, to Orthanc's HTTP and DICOM ports, in CI)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]


def require_orthanc(python: bool = False) -> None:
    if not os.access(ORTHANC, os.X_OK):
        pytest.skip("Orthanc not installed (make test installs Debian's orthanc)")
    if python and not Path(PYTHON_PLUGIN).exists():
        pytest.skip("orthanc-python not installed (make test installs it)")


class Orthanc:
    """A throw-away Orthanc with its own storage, HTTP and DICOM ports on 127.0.0.1."""

    def __init__(self, workdir: Path, extra: dict[str, Any] | None = None, aet: str = "ORTHANC") -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.aet = aet
        self.extra = extra or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.http_port, self.dicom_port = free_ports(2)
        self._configure()

    def _configure(self) -> None:
        self.config = {
            "Name": "radtrust-test", "StorageDirectory": str(self.dir / "db"), "IndexDirectory": str(self.dir / "db"),
            "HttpPort": self.http_port, "DicomPort": self.dicom_port, "DicomAet": self.aet,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowStore": True, "DicomCheckCalledAet": False, "StableAge": 1,
            "HttpBindAddress": "127.0.0.1", "DicomServerEnabled": True, "ConcurrentJobs": 1,
            "Plugins": [], **self.extra}

    def __enter__(self) -> "Orthanc":
        for _ in range(3):
            if self._start():
                return self
            log = (self.dir / "orthanc.log").read_text(errors="replace")
            if "HTTP server is privileged or already in use" not in log:
                break
            # Another process took the HTTP port between picking and binding: pick it again. The DICOM port stays,
            # since a test may have handed it to a gateway before starting the PACS.
            self.http_port = next(p for p in free_ports(3) if p != self.dicom_port)
            self._configure()
        raise RuntimeError(f"Orthanc did not start: {log[-3000:]}")

    def _start(self) -> bool:
        cfg = self.dir / "orthanc.json"
        cfg.write_text(json.dumps(self.config, indent=1))
        self.log = open(self.dir / "orthanc.log", "wb")
        self.proc = subprocess.Popen([ORTHANC, "--verbose", str(cfg)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                self.get("/system", timeout=2)
                return True
            except OSError:  # refused, reset or timed out (URLError is one too)
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        self.__exit__()
        return False

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    def get(self, path: str, timeout: float = 30) -> Any:
        with urllib.request.urlopen(self.url(path), timeout=timeout) as r:
            body = r.read()
            return json.loads(body) if r.headers.get_content_type() == "application/json" else body

    def post(self, path: str, data: bytes, content_type: str = "application/dicom") -> Any:
        req = urllib.request.Request(self.url(path), data=data, method="POST", headers={"Content-Type": content_type})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    def sop_uids(self) -> dict[str, str]:
        """SOP Instance UID -> Modality of every instance stored."""
        out = {}
        for iid in self.get("/instances"):
            tags = self.get(f"/instances/{iid}/simplified-tags")
            out[tags["SOPInstanceUID"]] = tags.get("Modality", "")
        return out

    def wait_for(self, predicate: Any, timeout: float = 60.0, poll: float = 0.25) -> Any:
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(poll)
        return last


class GatewayProcess:
    """``radtrust gateway`` as a real subprocess (so that it can be killed with SIGKILL)."""

    def __init__(self, spool: Path, forward: str, *args: str, aet: str = "RADTRUST") -> None:
        self.spool, self.forward, self.args, self.aet = spool, forward, list(args), aet
        self.port = free_port()
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> "GatewayProcess":
        cmd = [sys.executable, "-m", "radtrust", "-v", "gateway", "--ae-title", self.aet, "--host", "127.0.0.1",
               "--port", str(self.port), "--forward", self.forward, "--spool", str(self.spool), *self.args]
        self.logf = open(self.spool.parent / f"gateway-{self.spool.name}.log", "a")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.logf, text=True, cwd=ROOT)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if "listening" not in line:
            self.proc.kill()
            raise RuntimeError(f"gateway did not start: {line!r}; see {self.logf.name}")
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()


def storescu(port: int, files: list[Path], *, aet: str = "MODALITY", called: str = "RADTRUST",
             timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Send files with DCMTK storescu (one association), proposing each file's own transfer syntax."""
    cmd = ["storescu", "-aet", aet, "-aec", called, "--propose-j2k-lossless", "--required", "127.0.0.1", str(port),
           *map(str, files)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def send(port: int, files: list[Path], *, tls: ssl.SSLContext | None = None) -> list[tuple[int, str]]:
    """C-STORE each file from a pynetdicom SCU; (status, error comment) per file."""
    from pynetdicom import AE

    ae = AE(ae_title="MODALITY")
    # The reject policy answers after analysing the instance and syncing the spool and queue to disk. One run in
    # session 9 timed out at pynetdicom's default 30 s (not reproduced in 20 runs since, 8 of them beside a full
    # parallel test run). These tests are about the answer, not its latency (benchmarks/gateway_load.py is).
    ae.dimse_timeout = 120
    datasets = [pydicom.dcmread(f) for f in files]
    for ds in datasets:
        ae.add_requested_context(ds.SOPClassUID, [ds.file_meta.TransferSyntaxUID])
    assoc = ae.associate("127.0.0.1", port, ae_title="RADTRUST", tls_args=(tls, "127.0.0.1") if tls else None)
    assert assoc.is_established, "association refused"
    out = []
    try:
        for ds in datasets:
            st = assoc.send_c_store(ds)
            out.append((int(st.Status), str(st.get("ErrorComment", ""))))
    finally:
        assoc.release()
    return out
