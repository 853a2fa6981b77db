"""The malloc tuning of the radtrust command: freed arrays stay in the process for the next image (glibc only)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from radtrust import allocator, cli

GLIBC = (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc") if hasattr(os, "confstr") else False

#: in a fresh interpreter: fill and free a 24 MB array, print the resident memory it left behind (MB)
PROBE = """
import sys
import numpy as np
if sys.argv[1] == "tuned":
    from radtrust import allocator
    assert allocator.tune()
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
before = rss()
a = np.ones(3 << 20)  # 24 MB, under glibc's largest mmap threshold
del a
print(rss() - before)
"""


def _kept(mode: str, **env: str) -> float:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                         env={**os.environ, **env})
    return float(out.stdout)


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt")
def test_tuned_processes_keep_freed_arrays_for_the_next_image():
    assert _kept("plain") < 8  # glibc's default: the array was mmap'd and handed back
    assert _kept("tuned") > 20  # tuned: its pages stay, ready for the next image's arrays


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt")
def test_glibcs_own_settings_win():
    with pytest.raises(subprocess.CalledProcessError):  # tune() declines, and says so
        _kept("tuned", MALLOC_TRIM_THRESHOLD_="131072")
    if not {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"} & set(os.environ):
        assert allocator.tune() is True  # this process: accepted, and idempotent
        assert allocator.tune() is True


def test_the_command_tunes_its_own_process(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(allocator, "tune", lambda: calls.append(1) or True)
    assert cli.main(["info", "/nonexistent/radtrust-test.dcm"]) == 2  # any command: bad input, still tuned first
    assert calls == [1]
