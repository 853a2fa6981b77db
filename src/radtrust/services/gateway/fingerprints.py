"""The gateway's memory of pixels: a fingerprint of every instance it analysed, in ``fingerprints.sqlite`` in its spool
(or the file ``--pixel-index`` names, which an archive scan may have seeded).

An identity swap or an edit re-sent under new UIDs is a new instance to the gateway: nothing ties it to the earlier
one by UID (:mod:`.resends` covers a SOPInstanceUID received again). Its pixels do
(:mod:`radtrust.forensics.same_pixels`, kept by :mod:`radtrust.forensics.pixel_store`): the fingerprints survive
restarts and the pruning of forwarded files, and are kept as long as the spool.
"""

from __future__ import annotations

import threading
from os import PathLike
from typing import Any

from radtrust.forensics.pixel_store import SqliteStore
from radtrust.forensics.same_pixels import PixelIndex, fingerprint
from radtrust.io import load_image


class GatewayIndex:
    """The gateway's :class:`~radtrust.forensics.same_pixels.PixelIndex`: one check at a time (the receiving and
    analysing threads both analyse)."""

    def __init__(self, path: str | PathLike[str]) -> None:
        self.store = SqliteStore(path)
        self._index = PixelIndex(self.store)
        self._lock = threading.Lock()

    def check(self, record: dict[str, Any], path: str, name: str) -> bool:
        """Fingerprint the instance at ``path`` and check it; True when the note was added to ``record``."""
        fp = fingerprint(load_image(path))
        if fp is None:
            return False
        with self._lock:
            return self._index.check(record, fp, name)
