"""Keep the memory a scan frees for the next image instead of handing it back to the OS (glibc only).

Called where radtrust owns the process: the ``radtrust`` command (:func:`radtrust.cli.main`) and the worker
processes it starts for scans, benchmarks and calibration. A library caller (the Orthanc plugin, which runs inside
Orthanc's process) is left alone: its host decides how its memory is managed.

A scan allocates and frees the same few dozen large arrays for every image (16-34 MB each on a 2048 x 2048
radiograph). With its default settings glibc's malloc serves blocks over a dynamic threshold (at most 32 MiB) with
fresh ``mmap`` pages and trims the heap as soon as twice that threshold is free at its top, so every image faults
its working set in again, page by page or through transparent huge pages (NumPy asks for them), at a cost that
varies from run to run. Measured on this machine class (one core, six scans of each 2k image in a fresh process,
twice, with these settings given as ``MALLOC_*`` environment variables against none; a ``/tmp`` script): the
best scan of the 16-bit CR 0.79-0.82 -> 0.68-0.70 s, of the 8-bit picture 0.85-0.87 -> 0.76-0.79 s, and the scans
after a process's first 0.85-1.34 s against 0.76-0.85 s for the picture. The process's peak memory is unchanged
(about 600 MB for either 2k image); what changes is that up to ``TRIM`` bytes freed at the heap's top stay resident
between images.

:func:`tune` raises the mmap threshold to glibc's ceiling and the trim threshold to ``TRIM``, once per process, and
only where the C library is glibc and the user has not set glibc's own ``MALLOC_MMAP_THRESHOLD_`` or
``MALLOC_TRIM_THRESHOLD_`` (those win: set either to keep the defaults). Python's ``ctypes`` is the only way to
reach ``mallopt``; no dependency does this.
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP = 32 << 20  # glibc refuses more on 64-bit systems (half its 64 MiB heap size)
TRIM = 512 << 20  # bytes free at the heap's top before it is returned to the OS

_done = False


def tune() -> bool:
    """Apply the settings above once per process; True if glibc accepted them (now or before)."""
    global _done
    if _done:
        return True
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):  # not a GNU system
        libc = ""
    if not libc.startswith("glibc"):
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM))
    return _done
