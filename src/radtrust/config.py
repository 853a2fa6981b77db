"""Settings with their defaults in code. Environment variables override them.

``RADTRUST_MAX_PIXEL_BYTES``: the largest decoded pixel array radtrust will allocate for one file
(default 4 GiB). Larger images are refused before any pixel memory is allocated.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_MAX_PIXEL_BYTES = 4 * 1024**3


@dataclass(frozen=True)
class Limits:
    """Resource limits applied when reading untrusted input."""

    max_pixel_bytes: int = DEFAULT_MAX_PIXEL_BYTES
    max_sequence_depth: int = 32

    @classmethod
    def from_env(cls) -> "Limits":
        raw = os.environ.get("RADTRUST_MAX_PIXEL_BYTES")
        if raw is None:
            return cls()
        try:
            value = int(raw)
        except ValueError:
            value = -1
        if value <= 0:
            from radtrust.errors import UsageError

            raise UsageError(f"RADTRUST_MAX_PIXEL_BYTES must be a positive integer, not {raw!r}")
        return cls(max_pixel_bytes=value)
