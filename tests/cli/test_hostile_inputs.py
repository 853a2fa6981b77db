"""Every command that reads image files meets the same hostile inputs: exit 2, one line naming the file, no
traceback, the input byte for byte as it was and nothing written. A command added later belongs in COMMANDS.

The inputs are the kinds session 12's audit found commands mishandling: a pipe (the read blocked forever), an empty
folder ("0 instances", exit 0), lying lengths and garbage sequence items (read leniently and called authentic), a
JPEG 2000 size bomb (gigabytes before the error), text and empty files.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from radtrust.cli import main
from radtrust.provenance.signatures.pki import init_dev_pki
from tests.conftest import SAMPLES

CT = SAMPLES / "ct" / "ct_01.dcm"  # JPEG 2000 lossless


def _raw(out: Path) -> bytearray:
    ds = pydicom.dcmread(CT)
    ds.decompress()
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "X1", "99RT", "test"
    ds.ProcedureCodeSequence = Sequence([item])
    ds.save_as(out, enforce_file_format=True)
    return bytearray(out.read_bytes())


def pipe(out: Path) -> Path:
    os.mkfifo(out)
    return out


def empty_folder(out: Path) -> Path:
    out.mkdir()
    return out


def empty_file(out: Path) -> Path:
    out.write_bytes(b"")
    return out


def text_file(out: Path) -> Path:
    out.write_text("patient notes, not an image\n" * 20)
    return out


def pixel_length_past_end(out: Path) -> Path:
    data = _raw(out)
    at = data.rindex(b"\xe0\x7f\x10\x00")
    data[at + 8:at + 12] = struct.pack("<I", 0x7FFFFFFE)
    out.write_bytes(bytes(data))
    return out


def sequence_item_garbage(out: Path) -> Path:
    data = _raw(out)
    at = data.index(b"\x08\x00\x32\x10SQ") + 12
    data[at:at + 4] = b"\x12\x34\x56\x78"
    out.write_bytes(bytes(data))
    return out


def jpeg2000_size_bomb(out: Path) -> Path:
    data = bytearray(CT.read_bytes())
    at = data.index(b"\xff\x4f\xff\x51")
    data[at + 8:at + 16] = struct.pack(">II", 60000, 60000)
    out.write_bytes(bytes(data))
    return out


INPUTS: dict[str, Callable[[Path], Path]] = {
    "pipe": pipe, "empty-folder": empty_folder, "empty-file": empty_file, "text-file": text_file,
    "pixel-length-past-end": pixel_length_past_end, "sequence-item-garbage": sequence_item_garbage,
    "jpeg2000-size-bomb": jpeg2000_size_bomb,
}
# Which inputs a command reads far enough to meet: verify, sign and unsign read the bytes (PS3.15) and never decode
# the pixels, so a codestream's claimed size is not theirs to judge.
DECODES = {"info", "scan", "train", "simulate", "derive", "calibrate"}
COMMANDS: dict[str, list[str]] = {
    "info": ["info", "IN"],
    "scan": ["scan", "IN", "--format", "jsonl", "--out", "OUT/r.jsonl"],
    "verify": ["verify", "--trust", "ROOT", "IN"],
    "sign": ["sign", "KEYS", "--out", "OUT", "IN"],
    "unsign": ["unsign", "--all", "--out", "OUT", "IN"],
    "credential": ["credential", "show", "IN"],
    "derive": ["derive", "transcode", "--to", "explicit-le", "KEYS", "--out", "OUT", "IN"],
    "train": ["train", "--authentic", "IN", "--out", "OUT/model.npz"],
    "simulate": ["simulate", "copy-move", "IN", "--out", "OUT"],
    "calibrate": ["calibrate", "--authentic", "IN", "--out", "OUT/site.json", "--fpr", "0.5"],
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory):
    return init_dev_pki(tmp_path_factory.mktemp("pki"), "ecdsa")


def _digest(path: Path) -> str:
    if path.is_dir() or not path.is_file():
        return str(sorted(os.listdir(path))) if path.is_dir() else "not a regular file"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refused_naming(path: Path, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 2 and one error line naming ``path``, no traceback."""
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("radtrust: error:")]
    assert code == 2, captured
    assert len(errors) == 1 and str(path) in errors[0], captured.err
    assert "Traceback" not in captured.err + captured.out


@pytest.mark.parametrize("kind", sorted(INPUTS))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_hostile_input(command: str, kind: str, pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if kind == "jpeg2000-size-bomb" and command not in DECODES:
        pytest.skip("reads the bytes, never decodes the pixels")
    target = INPUTS[kind](tmp_path / f"{kind}.dcm")
    before = _digest(target)
    out = tmp_path / "out"
    out.mkdir()
    argv: list[str] = []
    for arg in COMMANDS[command]:
        if arg == "KEYS":
            argv += ["--key", str(pki.signer_key), "--cert", str(pki.signer_cert)]
        else:
            argv.append(arg.replace("IN", str(target)).replace("OUT", str(out)).replace("ROOT", str(pki.root)))
    _refused_naming(target, main(argv), capsys)
    assert _digest(target) == before
    # nothing written but a scan's report, which records the error (a batch reports its bad files: by design)
    assert not any(p.is_file() and p.name != "r.jsonl" for p in out.rglob("*")), sorted(out.rglob("*"))


# -- side files: what an option names (keys, certificates, CRLs, policies, models, fusions, tag and password files,
# pixel indexes, a report's records) meets the same treatment: one line naming it, exit 2, nothing written.

def binary_garbage(out: Path) -> Path:
    out.write_bytes(bytes(range(256)) * 8 + b"\xff\xfe\x00")
    return out


def missing(out: Path) -> Path:
    return out


SIDE_INPUTS: dict[str, Callable[[Path], Path]] = {
    "pipe": pipe, "folder": empty_folder, "empty-file": empty_file, "text-file": text_file,
    "binary-garbage": binary_garbage, "missing": missing,
}
# The image is a good one; SIDE is the hostile file.
SIDE_COMMANDS: dict[str, list[str]] = {
    "scan --model": ["scan", "CT", "--model", "SIDE", "--out", "OUT/r.txt"],
    "scan --fusion": ["scan", "CT", "--fusion", "SIDE", "--out", "OUT/r.txt"],
    "scan --trust": ["scan", "CT", "--trust", "SIDE", "--out", "OUT/r.txt"],
    "scan --pixel-index": ["scan", "CT", "--pixel-index", "SIDE", "--out", "OUT/r.txt"],
    "verify --trust": ["verify", "--trust", "SIDE", "CT"],
    "verify --intermediate": ["verify", "--trust", "ROOT", "--intermediate", "SIDE", "CT"],
    "verify --crl": ["verify", "--trust", "ROOT", "--crl", "SIDE", "CT"],
    "verify --policy": ["verify", "--trust", "ROOT", "--policy", "SIDE", "CT"],
    "sign --key": ["sign", "--key", "SIDE", "--cert", "CERT", "--out", "OUT", "CT"],
    "sign --cert": ["sign", "--key", "KEY", "--cert", "SIDE", "--out", "OUT", "CT"],
    "sign --tags": ["sign", "--key", "KEY", "--cert", "CERT", "--tags", "SIDE", "--out", "OUT", "CT"],
    "sign --password-file": ["sign", "--key", "KEY", "--cert", "CERT", "--password-file", "SIDE", "--out", "OUT", "CT"],
    "report": ["report", "SIDE", "--html", "OUT/r.html"],
    "orthanc-config --trust": ["orthanc-config", "--trust", "SIDE"],
    "orthanc-config --model": ["orthanc-config", "--model", "SIDE"],
}
# Which side files a kind does not make hostile: an empty or missing pixel index is a new one; the password file of
# a key that is not encrypted is not read.
NOT_HOSTILE = {("scan --pixel-index", "empty-file"), ("scan --pixel-index", "missing"), ("sign --password-file", "empty-file"),
               ("sign --password-file", "text-file"), ("sign --password-file", "binary-garbage")}


@pytest.mark.parametrize("kind", sorted(SIDE_INPUTS))
@pytest.mark.parametrize("command", sorted(SIDE_COMMANDS))
def test_hostile_side_file(command: str, kind: str, pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if (command, kind) in NOT_HOSTILE:
        pytest.skip("not hostile to this option")
    side = SIDE_INPUTS[kind](tmp_path / f"{kind}.side")
    image = tmp_path / "ct.dcm"
    image.write_bytes(CT.read_bytes())
    before, image_before = _digest(side), _digest(image)
    out = tmp_path / "out"
    out.mkdir()
    subst = {"SIDE": str(side), "CT": str(image), "OUT": str(out), "ROOT": str(pki.root),
             "KEY": str(pki.signer_key), "CERT": str(pki.signer_cert)}
    argv = []
    for arg in SIDE_COMMANDS[command]:
        for k, v in subst.items():
            arg = arg.replace(k, v)
        argv.append(arg)
    _refused_naming(side, main(argv), capsys)
    assert _digest(side) == before and _digest(image) == image_before
    assert not any(p.is_file() for p in out.rglob("*")), sorted(out.rglob("*"))
    if kind == "missing":
        assert not side.exists()
