"""The HTML scan report: per image a thumbnail with the heatmap overlaid, the verdict, the evidence and
the signature status. Self-contained (thumbnails are embedded PNGs written with zlib, no imaging library).
"""

from __future__ import annotations

import base64
import html
import struct
import zlib
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

import numpy as np

from radtrust.forensics.results import FLAGGED

THUMB = 256
_COLOURS = {"authentic": "#2e7d32", "signed-authentic": "#1565c0", "suspicious": "#ef6c00", "tampered": "#c62828",
            "error": "#6a1b9a"}


def encode_png(rgb: np.ndarray) -> bytes:
    """8-bit RGB (rows, cols, 3) array as PNG bytes."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[r].tobytes() for r in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def _shrink(a: np.ndarray, step: int) -> np.ndarray:
    if step <= 1:
        return a
    h, w = (a.shape[0] // step) * step, (a.shape[1] // step) * step
    return a[:h, :w].reshape(h // step, step, w // step, step).mean(axis=(1, 3))


def thumbnail_png(image: Any, heatmap: np.ndarray | None) -> bytes:
    """A greyscale thumbnail (at most 256 px) of the image with the heatmap in red-yellow on top."""
    pix = np.asarray(image.display_pixels(), dtype=np.float32)
    heat = None if heatmap is None else np.asarray(heatmap, dtype=np.float32)
    if pix.ndim == 3:  # a volume: show the slice where the map is hottest, else the middle one
        k = int(np.argmax(heat.reshape(heat.shape[0], -1).max(1))) if heat is not None and heat.ndim == 3 else pix.shape[0] // 2
        pix = pix[k]
        heat = heat[k] if heat is not None and heat.ndim == 3 else None
    step = max(1, int(np.ceil(max(pix.shape) / THUMB)))
    g = _shrink(pix, step)
    if (image.modality or "").upper() == "CT":
        lo, hi = -160.0, 240.0  # soft-tissue window
    else:
        lo, hi = (float(v) for v in np.percentile(g, [1, 99]))
    g = np.clip((g - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb = np.repeat(g[..., None], 3, axis=2)
    if heat is not None and heat.shape == pix.shape:
        hm = np.clip(np.nan_to_num(_shrink(heat, step)), 0, 1)
        alpha = (0.7 * np.clip((hm - 0.25) / 0.5, 0, 1))[..., None]  # faint background maps stay out of sight
        colour = np.stack([np.ones_like(hm), hm, np.zeros_like(hm)], axis=2)  # red -> yellow
        rgb = rgb * (1 - alpha) + colour * alpha
    return encode_png((rgb * 255 + 0.5).astype(np.uint8))


def _esc(x: object) -> str:
    return html.escape(str(x))


FLAGGED_FIRST = FLAGGED | {"error"}  # verdicts shown first, always with their thumbnail
AUTHENTIC_THUMBNAILS = 200  # thumbnails kept for images not flagged; every flagged image keeps its own


class ReportItems:
    """The (record, extra) pairs of a scan, collected for :func:`render_html`.

    Every flagged image keeps its thumbnail; of the others only the first :data:`AUTHENTIC_THUMBNAILS` do, so the
    report of an archive of thousands of slices stays a page a browser opens (each thumbnail is some 40-90 KB of
    the page) and the scan does not hold them all in memory. ``--heatmaps DIR`` keeps every map.
    """

    def __init__(self, authentic_thumbnails: int | None = None) -> None:
        self.items: list[tuple[dict[str, Any], Any]] = []
        self.cap = AUTHENTIC_THUMBNAILS if authentic_thumbnails is None else authentic_thumbnails
        self.kept = 0

    def keeps_others(self) -> bool:
        """Whether the report still keeps the thumbnail of an image that is not flagged."""
        return self.kept < self.cap

    def keeps(self, rec: dict[str, Any]) -> bool:
        """Whether the report would keep the thumbnail of this record if it were added now."""
        return rec.get("verdict") in FLAGGED_FIRST or self.keeps_others()

    def add(self, rec: dict[str, Any], extra: Any) -> None:
        if extra and extra.get("thumbnail") is not None and rec.get("verdict") not in FLAGGED_FIRST:
            if self.keeps(rec):
                self.kept += 1
            else:
                extra = {**extra, "thumbnail": None}
        self.items.append((rec, extra))

    def __iter__(self) -> Iterator[tuple[dict[str, Any], Any]]:
        return iter(self.items)


def load_heatmap(path: str) -> np.ndarray:
    """A heatmap file as ``scan --heatmaps`` writes it (a 2D or 3D array of floats in [0, 1]); anything else is an
    :class:`~radtrust.errors.InputError` naming the file."""
    from radtrust.errors import InputError

    try:
        heat = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - missing, a folder, not .npy, object arrays: all one answer
        raise InputError(f"heatmap not readable: {exc}", path) from None
    if not isinstance(heat, np.ndarray) or heat.ndim not in (2, 3) or not np.issubdtype(heat.dtype, np.floating):
        raise InputError(f"not a heatmap: {getattr(heat, 'ndim', '?')}D {getattr(heat, 'dtype', type(heat))} array, "
                         "expected a 2D or 3D array of probabilities", path)
    if not np.all(np.isfinite(heat)) or heat.min(initial=0.0) < 0 or heat.max(initial=0.0) > 1:
        raise InputError("not a heatmap: values are not probabilities (NaN, infinite or outside 0..1)", path)
    return heat


def report_items(records: Iterable[dict[str, Any]]) -> ReportItems:
    """The HTML report's items for scan records read back (a ``--jsonl`` file or a ``--resume`` journal): each
    thumbnail made again from the file the record names, with the heatmap file it names when it still exists; only
    for the images whose thumbnail the report keeps. A file gone since the scan leaves its card without one, saying
    so; a file that is there but cannot be read as the image or heatmap it was is an
    :class:`~radtrust.errors.InputError`."""
    from pathlib import Path

    from radtrust.errors import InputError
    from radtrust.forensics.results import NO_SIGNATURE
    from radtrust.io import load_image

    items = ReportItems()
    for rec in records:
        if rec.get("kind") != "instance":
            items.add(rec, None)
            continue
        sig = next((e[len("signature: "):] for e in rec.get("evidence", []) if e.startswith("signature: ")),
                   NO_SIGNATURE.detail)
        extra: dict[str, Any] = {"signature": sig, "thumbnail": None}
        if items.keeps(rec):
            gone = [p for p in (rec["path"], rec.get("heatmap")) if p and not Path(p).exists()]
            if gone:  # a card all the same, saying why it has no picture
                rec = {**rec, "evidence": [*rec.get("evidence", []), f"report: no thumbnail ({gone[0]}: no such file)"]}
                extra["thumbnail"] = b""
            else:
                try:
                    image = load_image(rec["path"])
                except (OSError, ValueError) as exc:
                    raise InputError(f"cannot read the image for its thumbnail: {exc}", rec["path"]) from None
                heat = load_heatmap(rec["heatmap"]) if rec.get("heatmap") else None
                if heat is not None and heat.shape != image.shape:
                    raise InputError(f"heatmap is {heat.shape}, the image {rec['path']} is {image.shape}", rec["heatmap"])
                extra["thumbnail"] = thumbnail_png(image, heat)
        items.add(rec, extra)
    return items


def _card(rec: dict[str, Any], extra: Any) -> str:
    verdict = rec["verdict"]
    colour = _COLOURS.get(verdict, "#444")
    ev = "".join(f"<li>{_esc(e)}</li>" for e in rec["evidence"]) or "<li>no evidence reported</li>"
    dets = ", ".join(f"{_esc(k)} {v:.2f}" for k, v in rec["detectors"].items()) or "no detector applied"
    img, sig = "", "not checked"
    if extra:
        sig = extra["signature"]
        if extra.get("thumbnail"):
            b64 = base64.b64encode(extra["thumbnail"]).decode()
            img = f"<img alt='thumbnail with heatmap' src='data:image/png;base64,{b64}'>"
    return (f"<div class='card' style='border-color:{colour}'>{img}<div class='body'>"
            f"<div class='verdict' style='background:{colour}'>{_esc(verdict)} &middot; score {rec['score']:.3f}</div>"
            f"<div class='path'><code>{_esc(rec['path'])}</code></div>"
            f"<div>{_esc(rec['modality'] or '-')} &middot; SOP <code>{_esc(rec['sop_instance_uid'] or '-')}</code></div>"
            f"<div><b>Signature:</b> {_esc(sig)}</div><div><b>Detectors:</b> {dets}</div>"
            f"<ul class='ev'>{ev}</ul></div></div>")


def _row(rec: dict[str, Any], extra: Any) -> str:
    sig = extra["signature"] if extra else "not checked"
    first = _esc(rec["evidence"][0]) if rec["evidence"] else ""
    return (f"<tr><td><code>{_esc(rec['path'])}</code></td><td>{_esc(rec['modality'] or '-')}</td>"
            f"<td>{_esc(rec['verdict'])}</td><td>{rec['score']:.3f}</td><td>{_esc(sig)}</td><td>{first}</td></tr>")


def render_html(items: Iterable[tuple[dict[str, Any], Any]], *, title: str = "radtrust scan report",
                now: datetime | None = None) -> str:
    """The report for (record, extra) pairs as yielded by :meth:`Scanner.scan_items` with thumbnails (or a
    :class:`ReportItems`): the series, then the flagged images (most suspicious first), then the others in scan
    order, as cards with their thumbnails; others whose thumbnail was not kept are rows of one table."""
    now = now or datetime.now(timezone.utc)
    flagged: list[tuple[float, int, str]] = []
    cards, rows, series_rows, errors = [], [], [], []
    counts: dict[str, int] = {}
    for n, (rec, extra) in enumerate(items):
        kind = rec.get("kind")
        if kind == "error":
            errors.append(f"<li><code>{_esc(rec['path'])}</code>: {_esc(rec['message'])}</li>")
            counts["error"] = counts.get("error", 0) + 1
            continue
        verdict = rec["verdict"]
        if kind == "series":
            colour = _COLOURS.get(verdict, "#444")
            ev = "".join(f"<li>{_esc(e)}</li>" for e in rec["evidence"]) or "<li>no evidence reported</li>"
            series_rows.append(
                f"<tr><td><code>{_esc(rec['series_instance_uid'])}</code></td><td>{_esc(rec['modality'])}</td>"
                f"<td>{rec['instances']}</td><td style='color:{colour}'><b>{_esc(verdict)}</b></td>"
                f"<td>{rec['score']:.3f}</td><td>{len(rec['suspicious_instances'])}</td><td><ul>{ev}</ul></td></tr>")
            continue
        counts[verdict] = counts.get(verdict, 0) + 1
        if verdict in FLAGGED_FIRST:
            flagged.append((-float(rec["score"]), n, _card(rec, extra)))
        elif extra and extra.get("thumbnail") is None:
            rows.append(_row(rec, extra))
        else:
            cards.append(_card(rec, extra))
    flagged_html = ("<h2>Flagged images</h2><div class='grid'>" + "".join(c for *_, c in sorted(flagged)) + "</div>"
                    if flagged else "<h2>Flagged images</h2><p>none</p>")
    others_html = f"<div class='grid'>{''.join(cards)}</div>" if cards else ("" if rows else "<p>none</p>")
    rows_html = (f"<p>{len(rows)} more image(s) not flagged, without thumbnails (the report keeps "
                 f"{AUTHENTIC_THUMBNAILS} for images not flagged; <code>--heatmaps DIR</code> keeps every map):</p>"
                 "<table><tr><th>Path</th><th>Modality</th><th>Verdict</th><th>Score</th><th>Signature</th>"
                 "<th>First evidence</th></tr>" + "".join(rows) + "</table>" if rows else "")
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "nothing scanned"
    series_html = ("<h2>Series</h2><table><tr><th>Series</th><th>Modality</th><th>Instances</th><th>Verdict</th>"
                   "<th>Score</th><th>Flagged</th><th>Evidence</th></tr>" + "".join(series_rows) + "</table>"
                   if series_rows else "")
    errors_html = f"<h2>Unreadable inputs</h2><ul>{''.join(errors)}</ul>" if errors else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1.5em;color:#222}} code{{font-size:.85em}}
.grid{{display:flex;flex-wrap:wrap;gap:1em}} .card{{border:3px solid;border-radius:6px;width:560px;display:flex;gap:.6em;padding:.4em}}
.card img{{width:256px;height:auto;image-rendering:pixelated;align-self:flex-start}} .body{{font-size:.85em;overflow-wrap:anywhere}}
.verdict{{color:#fff;padding:.2em .5em;border-radius:4px;font-weight:bold;display:inline-block}} .ev{{padding-left:1.2em;margin:.3em 0}}
table{{border-collapse:collapse;font-size:.85em}} td,th{{border:1px solid #ccc;padding:.3em;vertical-align:top}}
</style></head><body>
<h1>{_esc(title)}</h1>
<p>{_esc(now.strftime('%Y-%m-%d %H:%M UTC'))} &middot; {_esc(summary)}. Heatmap overlay: red to yellow = more suspicious.
Signatures are checked first; the forensic verdict applies to images without a valid trusted signature.</p>
{series_html}
{flagged_html}
<h2>Other images</h2>{others_html}
{rows_html}
{errors_html}
</body></html>
"""


