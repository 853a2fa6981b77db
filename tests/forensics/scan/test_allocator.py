"""The malloc tuning a Scanner applies: freed arrays stay in the process for the next image (glibc only)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

GLIBC = (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc") if hasattr(os, "confstr") else False

#: in a fresh interpreter: fill and free a 24 MB array, print the resident memory it left behind (MB)
PROBE = """
import sys
import numpy as np
if sys.argv[1] == "scanner":
    from radtrust.forensics.scanner import Scanner
    Scanner(["header"])
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
def test_a_scanner_keeps_freed_arrays_for_the_next_image():
    assert _kept("plain") < 8  # glibc's default: the array was mmap'd and handed back
    assert _kept("scanner") > 20  # tuned: its pages stay, ready for the next image's arrays


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt")
def test_glibcs_own_settings_win():
    assert _kept("scanner", MALLOC_TRIM_THRESHOLD_="131072") < 8
    from radtrust.forensics import allocator

    if not {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"} & set(os.environ):
        assert allocator.tune() is True  # this process: accepted, and idempotent
        assert allocator.tune() is True
