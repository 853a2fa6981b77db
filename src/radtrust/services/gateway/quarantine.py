"""Releasing quarantined instances: an analyst who has checked a flagged instance sends it on.

The file moves back from ``quarantine/`` to ``objects/`` and its row becomes ``ready`` (still flagged), so the
running gateway forwards it; the study's next SR records it. Works while the gateway runs (SQLite WAL).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from radtrust.errors import InputError
from radtrust.services.gateway.queue import Queue
from radtrust.services.gateway.spool import Spool


def release(spool_dir: str | Path, sop_uids: list[str]) -> list[dict[str, Any]]:
    """Release the quarantined or rejected instances with these SOP Instance UIDs; one record per UID."""
    spool = Spool(spool_dir)
    if not spool.db_path.exists():
        raise InputError("no gateway spool here (queue.sqlite missing)", spool_dir)
    q = Queue(str(spool.db_path), create=False)
    out = []
    try:
        for uid in sop_uids:
            rows = [r for r in q.find(uid) if r.state in ("quarantined", "rejected")]
            if not rows:
                out.append({"kind": "release", "sop_instance_uid": uid, "released": False,
                            "reason": "not in quarantine"})
                continue
            for row in rows:
                path = Path(row.path)
                if path.parent == spool.quarantine and path.exists():
                    path = spool.move(path, spool.objects)
                q.set_state(row.id, "ready", path=str(path))
                out.append({"kind": "release", "sop_instance_uid": uid, "released": True,
                            "verdict": row.verdict})
    finally:
        q.close()
    return out
