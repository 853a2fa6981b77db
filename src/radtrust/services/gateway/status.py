"""``radtrust gateway status``: the queue, the quarantine and the recent verdicts of a gateway's spool.

Reads the spool's queue database (safe while the gateway runs: SQLite WAL readers do not block it).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from radtrust.errors import InputError
from radtrust.services.gateway.queue import Queue, Row
from radtrust.services.gateway.spool import Spool


def _brief(row: Row) -> dict[str, Any]:
    rec = row.record
    return {"sop_instance_uid": row.sop_uid, "study_instance_uid": row.study_uid, "state": row.state,
            "verdict": row.verdict, "score": row.score, "calling_ae": row.calling_ae,
            "received_at": row.received_at, "signature": (rec.get("signature") or {}).get("status"),
            "evidence": (rec.get("evidence") or [])[:3], "error": row.error}


def gateway_status(spool_dir: str | Path, *, recent: int = 20, now: float | None = None) -> dict[str, Any]:
    spool = Spool(spool_dir)
    if not spool.db_path.exists():
        raise InputError("no gateway spool here (queue.sqlite missing)", spool_dir)
    now = time.time() if now is None else now
    q = Queue(str(spool.db_path), readonly=True)  # a status never creates or alters anything
    try:
        counts = q.counts()
        pending = q.rows("WHERE state IN ('received', 'analysing', 'ready', 'sending')", limit=100000)
        lags = np.array(q.lags(), dtype=float)
        out = {
            "kind": "gateway-status", "spool": str(spool.root), "counts": counts,
            "pending": len(pending),
            "oldest_pending_s": round(now - min(r.received_at for r in pending), 3) if pending else None,
            "forwarding_lag_s": ({"p50": round(float(np.percentile(lags, 50)), 3),
                                  "p95": round(float(np.percentile(lags, 95)), 3),
                                  "max": round(float(lags.max()), 3)} if lags.size else None),
            "quarantine": [_brief(r) for r in q.rows("WHERE state IN ('quarantined', 'rejected')", limit=recent)],
            "failed": [_brief(r) for r in q.rows("WHERE state = 'failed'", limit=recent)],
            "recent": [_brief(r) for r in q.rows("WHERE verdict IS NOT NULL AND origin = 'modality'", limit=recent)],
        }
    finally:
        q.close()
    return out


def format_status(s: dict[str, Any]) -> str:
    c = s["counts"]
    lines = [f"spool {s['spool']}",
             "queue: " + (", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "empty"),
             f"pending {s['pending']}" + (f", oldest {s['oldest_pending_s']:.1f} s" if s["oldest_pending_s"] else "")]
    if s["forwarding_lag_s"]:
        lag = s["forwarding_lag_s"]
        lines.append(f"forwarding lag: p50 {lag['p50']:.2f} s, p95 {lag['p95']:.2f} s, max {lag['max']:.2f} s")
    for title, rows in (("quarantine", s["quarantine"]), ("failed", s["failed"]), ("recent verdicts", s["recent"])):
        lines.append(f"{title}: {len(rows) if rows else 'none'}")
        for r in rows:
            score = f"{r['score']:.3f}" if isinstance(r["score"], (int, float)) else "-"
            why = r["evidence"][0] if r["evidence"] else (r["error"] or "")
            lines.append(f"  {r['sop_instance_uid']}  {r['state']:<11} {r['verdict'] or '-':<16} {score}  {why}")
    return "\n".join(lines)
