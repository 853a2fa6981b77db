"""The services' one analysis: signatures and content credentials first, then the scan (issues 3, 4, 6, 8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from radtrust.services.analysis import Analyzer, provenance_verdict
from tests.services.data import SAMPLE_CT, credential_set, signed_set

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("analysis")
    s = signed_set(d)
    return {**s, **{f"cred_{k}": v for k, v in credential_set(d, d / "pki").items()}}


@pytest.fixture(scope="module")
def analyzer(files: dict[str, Path]) -> Analyzer:
    return Analyzer([str(files["root"]), str(files["chain"])])


@pytest.mark.parametrize("name, verdict, signature, credential", [
    ("signed", "signed-authentic", "valid", "absent"),
    ("tampered", "tampered", "invalid", "absent"),
    ("cred_credentialed", "signed-authentic", "unsigned", "valid"),
    ("cred_reencoded", "signed-authentic", "unsigned", "valid"),   # lossless re-encode: the credential survives
    ("cred_tampered", "tampered", "unsigned", "invalid"),
])
def test_provenance_decides_first(name: str, verdict: str, signature: str, credential: str,
                                  files: dict[str, Path], analyzer: Analyzer) -> None:
    rec = analyzer.analyze(files[name])
    assert (rec["verdict"], rec["signature"]["status"], rec["credential"]["status"]) == (verdict, signature, credential)
    assert rec["evidence"] and rec["sop_instance_uid"] and rec["study_instance_uid"]
    if verdict == "tampered":
        assert rec["score"] == 1.0


def test_unsigned_instance_is_scanned(analyzer: Analyzer, tmp_path: Path) -> None:
    rec = analyzer.analyze(SAMPLE_CT[0], heatmaps_dir=tmp_path)
    assert rec["signature"]["status"] == "unsigned" and rec["credential"]["status"] == "absent"
    assert rec["verdict"] in ("authentic", "suspicious") and rec["detectors"]
    assert 0.0 <= rec["score"] <= 1.0 and Path(rec["heatmap"]).is_file()


def test_the_scan_hands_over_its_pixel_fingerprint(analyzer: Analyzer, tmp_path: Path) -> None:
    """What the pixel memory compares comes from the scan's own decode (the file is not read again for it); a
    verification-only analysis has none, and the memory then reads the file itself."""
    from radtrust.forensics.pixel_store import PixelMemory
    from radtrust.forensics.same_pixels import fingerprint
    from radtrust.io import load_image

    rec, pixels = analyzer.analyze_file(SAMPLE_CT[0])
    assert pixels is not None and pixels == fingerprint(load_image(SAMPLE_CT[0]))
    assert Analyzer(scan=False).analyze_file(SAMPLE_CT[0])[1] is None
    memory = PixelMemory(tmp_path / "index.sqlite")
    try:
        assert not memory.check_file(rec, tmp_path / "absent.dcm", "first", pixels)  # never opened
        again = {"evidence": []}
        assert not memory.check_file(again, SAMPLE_CT[0], "again")  # read itself: the same instance, no note
        assert not any("not compared" in e for e in again["evidence"])
    finally:
        memory.close()


def test_without_trust_anchors_nothing_is_trusted(files: dict[str, Path]) -> None:
    rec = Analyzer(scan=False).analyze(files["signed"])
    assert rec["signature"]["status"] == "not-checked" and rec["verdict"] == "unverified"


def test_unreadable_input_raises_naming_the_file(tmp_path: Path) -> None:
    from radtrust.errors import Error

    bad = tmp_path / "garbage.dcm"
    bad.write_bytes(b"not dicom at all" * 10)
    with pytest.raises(Error) as exc:
        Analyzer(scan=False).analyze(bad)
    assert str(bad) in str(exc.value)


@pytest.mark.parametrize("sig, cred, verdict, flag", [
    ("valid", "absent", "signed-authentic", False),
    ("invalid", "valid", "signed-authentic", False),     # PS3.15 bytes broken by re-encoding, content intact
    ("valid", "invalid", "tampered", True),              # content changed after the credential: never authentic
    ("invalid", "absent", "tampered", True),
    ("untrusted", "absent", None, True),                 # the scan decides, at least suspicious
    ("unsigned", "untrusted", None, True),
    ("unsigned", "absent", None, False),
])
def test_provenance_verdict_table(sig: str, cred: str, verdict: str | None, flag: bool) -> None:
    got, evidence, flagged = provenance_verdict({"status": sig, "reasons": ["r"]}, {"status": cred, "reasons": ["r"]})
    assert (got, flagged) == (verdict, flag)
    assert bool(evidence) == (verdict is not None or flag)


def test_a_memory_decoding_apart_agrees_and_dies_with_its_gateway(tmp_path: Path) -> None:
    """Verifying only, the gateway's pixel memory decodes in a process of its own (the JPEG 2000 decoders hold the
    GIL): the same answers as in-process, and that process does not outlive a gateway killed with -9."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from radtrust.forensics.pixel_store import PixelMemory

    memory = PixelMemory(tmp_path / "index.sqlite", decode_apart=True)
    try:
        first = {"sop_instance_uid": "1", "evidence": []}
        assert not memory.check_file(first, SAMPLE_CT[0], "first")
        again = {"sop_instance_uid": "2", "evidence": []}  # the same pixels under another UID, same attributes
        assert not memory.check_file(again, SAMPLE_CT[0], "again") and not again["evidence"]
        broken = {"sop_instance_uid": "3", "evidence": []}
        assert not memory.check_file(broken, tmp_path / "absent.dcm", "broken")
        assert "not compared with the pixels seen earlier" in broken["evidence"][0]  # named, never raised
    finally:
        memory.close()

    code = ("import sys, time\nfrom radtrust.forensics.pixel_store import PixelMemory\n"
            "m = PixelMemory(sys.argv[1], decode_apart=True)\nm._decoder.submit(int, 1).result()\n"
            "print(list(m._decoder._processes)[0], flush=True)\ntime.sleep(120)\n")
    parent = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "other.sqlite")], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    child = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.kill(child, signal.SIGKILL)
        raise AssertionError("the decoding process outlived its parent")
