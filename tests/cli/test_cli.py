"""The command line: help everywhere, version, exit codes, and `radtrust info` output."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from radtrust import __version__
from radtrust.cli import build_parser, main


def _all_command_paths() -> list[list[str]]:
    """Every command and nested sub-command, as argv prefixes."""
    paths: list[list[str]] = []

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    paths.append(prefix + [name])
                    walk(sub, prefix + [name])

    walk(build_parser(load_all=True), [])
    return paths


def test_help_on_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    commands = _all_command_paths()
    assert ["info"] in commands
    for argv in commands:
        assert main([*argv, "--help"]) == 0, argv
        assert "usage: radtrust" in capsys.readouterr().out


def test_top_level_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for argv in _all_command_paths():
        if len(argv) == 1:
            assert argv[0] in out


def test_only_the_named_command_is_imported() -> None:
    code = ("import sys; from radtrust.cli import main; main(['info', '--help']);"
            "print(sorted(m for m in sys.modules if m.startswith('radtrust.cli.commands.')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "['radtrust.cli.commands.info']"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"radtrust {__version__}"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["no-such-command"]) == 2
    assert main(["info"]) == 2
    assert main(["info", "--format", "xml", "x"]) == 2


def test_info_text_and_jsonl(sample_ct_files: list[Path], sample_cr_file: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    before = {p: p.read_bytes() for p in [*sample_ct_files, sample_cr_file]}
    assert main(["info", str(sample_ct_files[0]), str(sample_cr_file)]) == 0
    text = capsys.readouterr().out
    assert "JPEG 2000 Image Compression (Lossless Only)" in text and "MONOCHROME1" in text
    assert "kvp=120.0" in text and "signatures: 0" in text

    assert main(["info", "--format", "jsonl", str(sample_ct_files[0].parent)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    instances = [r for r in records if r["kind"] == "instance"]
    [series] = [r for r in records if r["kind"] == "series"]
    assert len(instances) == len(sample_ct_files) == series["instances"]
    first = instances[0]
    assert first["modality"] == "CT" and first["size"] == [512, 512]
    assert first["transfer_syntax"] == "1.2.840.10008.1.2.4.90"
    assert first["rescale"] == [1.0, -1024.0]
    assert first["acquisition"]["kvp"] == 120.0 and first["acquisition"]["exposure_mas"] == 253.0
    assert first["geometry"]["slice_thickness"] == 3.0 and first["signatures"] == 0
    assert series["problems"] == [] and series["slice_spacing"] == pytest.approx(2.0)
    assert all(p.read_bytes() == b for p, b in before.items())


def test_quiet_prints_nothing_on_success(sample_cr_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "info", str(sample_cr_file)]) == 0
    assert capsys.readouterr().out == ""


def test_console_script_runs_as_module(sample_cr_file: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "radtrust", "info", "--format", "jsonl", str(sample_cr_file)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[0])["photometric"] == "MONOCHROME1"


def test_library_warnings_only_with_verbose(sample_ct_files: list[Path], tmp_path: Path) -> None:
    """A malformed UID in the file meta makes pydicom warn (two lines, with its own source line): a clean run
    prints nothing on stderr and an error stays one line; -v shows the warning as a radtrust log line."""
    data = sample_ct_files[0].read_bytes()
    at = data.index(b"1.2.840.10008.5.1.4.1.1.2")  # the file meta's Media Storage SOP Class UID
    bad = tmp_path / "bad-uid.dcm"
    bad.write_bytes(data[:at + 16] + b"t" + data[at + 17:])

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "radtrust", *args], capture_output=True, text=True, check=False)

    quiet = run("info", str(bad))
    assert quiet.returncode == 0 and quiet.stderr == ""
    verbose = run("-v", "info", str(bad))
    assert verbose.returncode == 0 and "radtrust: " in verbose.stderr and "Invalid value for VR UI" in verbose.stderr
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(bad.read_bytes()[:600])
    failed = run("scan", str(truncated))
    assert failed.returncode == 2 and len(failed.stderr.splitlines()) == 1 and str(truncated) in failed.stderr


@pytest.mark.parametrize("argv, expected", [
    (["scan"], "radtrust: error: scan: the following arguments are required: INPUT (see radtrust scan --help)"),
    (["scan", "x.dcm", "--format", "pdf"], "radtrust: error: scan: argument --format: invalid choice"),
    (["nosuchcommand"], "radtrust: error: argument COMMAND: invalid choice"),
])
def test_usage_errors_are_one_line_exit_2(argv, expected, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(expected), err


def test_an_output_folder_that_is_a_file_is_one_line(sample_ct_files, tmp_path, capsys) -> None:
    """Whatever command meets it: an OSError from the file system is one line naming the path, exit 2."""
    blocker = tmp_path / "f"
    blocker.write_text("a file")
    assert main(["scan", str(sample_ct_files[0]), "--heatmaps", str(blocker)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"radtrust: error: {blocker}: a file is in the way where a folder is needed"]
    assert main(["keys", "init", str(blocker / "sub")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_empty_option_values_are_not_defaults(sample_ct_files, capsys) -> None:
    """An empty --at is not 'now' and an empty --detectors is not 'all': a script's empty variable, said as such."""
    assert main(["scan", str(sample_ct_files[0]), "--detectors", ",,"]) == 2
    assert "--detectors names no detector" in capsys.readouterr().err
    assert main(["verify", "--trust", str(sample_ct_files[0]), "--at", "", str(sample_ct_files[0])]) == 2
    assert "--at is empty" in capsys.readouterr().err
