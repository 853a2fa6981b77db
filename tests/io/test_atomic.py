"""Atomic output: the destination holds the old content or the new one, never a part, and no temp file stays."""

from __future__ import annotations

import stat

import pytest

from radtrust.io.atomic import atomic_open, write_atomic


def test_write_replaces_whole_and_leaves_no_temp(tmp_path):
    dest = tmp_path / "sub" / "out.json"
    write_atomic(dest, "första\n")
    write_atomic(dest, b"second\n", chmod=0o644)
    assert dest.read_bytes() == b"second\n"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644
    assert [p.name for p in dest.parent.iterdir()] == ["out.json"]


def test_failure_keeps_the_old_file(tmp_path):
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_open(dest) as fh:
        fh.write(b"half of the new")
        raise RuntimeError("interrupted")
    assert dest.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_private_by_default(tmp_path):
    dest = tmp_path / "key.pem"
    write_atomic(dest, b"secret")
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
