"""An output that would replace an input is refused with one line, exit 2, the input byte for byte as it was: inputs
are never modified unless the user asks (--in-place)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from radtrust.cli import main
from radtrust.provenance.signatures.pki import init_dev_pki


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    pki = init_dev_pki(tmp_path_factory.mktemp("pki"), "ecdsa")
    return ["--key", str(pki.signer_key), "--cert", str(pki.signer_cert)]


@pytest.mark.parametrize("argv", [
    ["scan", "IN", "--out", "IN"],
    ["scan", "IN", "--format", "jsonl", "--jsonl", "IN"],
    ["scan", "DIR", "--out", "IN"],
    ["sign", "KEYS", "--out", "DIR", "IN"],
    ["sign", "KEYS", "--out", "DIR", "DIR"],
    ["unsign", "--all", "--out", "DIR", "IN"],
    ["derive", "anonymize", "KEYS", "--out", "DIR", "IN"],
    ["credential", "issue", "KEYS", "--out", "DIR", "IN"],
])
def test_an_output_over_an_input_is_refused(argv: list[str], keys: list[str], tmp_path: Path, sample_ct_files,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "study"
    folder.mkdir()
    src = folder / "in.dcm"
    shutil.copy(sample_ct_files[0], src)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    args: list[str] = []
    for a in argv:
        args.extend(keys if a == "KEYS" else [{"IN": str(src), "DIR": str(folder)}.get(a, a)])
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and "would replace an input file" in err[0], err
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in folder.iterdir()) == ["in.dcm"]  # nothing half-written beside it
