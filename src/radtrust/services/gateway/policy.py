"""What the gateway does with a flagged instance (verdict suspicious, tampered or error).

- ``quarantine``: hold it in the spool's quarantine folder; it does not reach the PACS.
- ``forward-flagged``: forward it unchanged (signatures stay intact); the study's SR carries the flag.
- ``reject``: analyse before answering and refuse it with a DIMSE failure status; keep a copy in quarantine.

An analysis that fails counts as flagged (fail closed).
"""

from __future__ import annotations

from enum import Enum

from radtrust.services.analysis import FLAGGED_VERDICTS

#: DIMSE status for a refused instance: 0xC000-0xCFFF "Cannot understand" (PS3.4 Table GG.4-1).
STATUS_REFUSED = 0xC001
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC000


class Policy(str, Enum):
    QUARANTINE = "quarantine"
    FORWARD_FLAGGED = "forward-flagged"
    REJECT = "reject"

    def state_for(self, verdict: str) -> tuple[str, bool]:
        """Queue state after analysis and whether the instance is flagged."""
        flagged = verdict in FLAGGED_VERDICTS
        if not flagged:
            return "ready", False
        if self is Policy.FORWARD_FLAGGED:
            return "ready", True
        return ("rejected" if self is Policy.REJECT else "quarantined"), True
