"""The benchmark report: ``report.json`` (every figure) and ``report.html`` (tables, ROC curves and
example heatmap overlays drawn with matplotlib, embedded as PNG so the page is one self-contained file)."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from radtrust.benchmarking.collect import reduce_factor
from radtrust.benchmarking.runner import BenchResult, fused_map, probabilities
from radtrust.io.atomic import write_atomic


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return None if math.isnan(obj) or math.isinf(obj) else obj
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        return _clean(obj.item())
    return obj


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _roc_png(result: BenchResult) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    for label, (f, t) in result.curves.items():
        bold = label.startswith("in-distribution")
        ax.plot(f, t, lw=2.5 if bold else 1.0, color="black" if bold else None, label=label, drawstyle="steps-post")
    ax.plot([0, 1], [0, 1], ls=":", color="grey")
    ax.set_xlabel("false-positive rate (authentic test images)")
    ax.set_ylabel("true-positive rate")
    ax.set_title("ROC on the test split")
    ax.legend(fontsize=7, loc="lower right")
    data = _png(fig)
    plt.close(fig)
    return data


def _example_pngs(result: BenchResult, bench: Path, n: int = 6) -> list[tuple[str, str]]:
    """Overlays for a few tampered test images (one per method, highest score first)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from radtrust.benchmarking.collect import _load

    test = [r for r in result.results if r.row.split == "test" and r.row.label == 1 and r.mask is not None and r.maps]
    if not test or result.fusion is None:
        return []
    p = probabilities(result.fusion, test)
    seen: set[str] = set()
    picks = []
    for i in np.argsort(-p):
        r = test[int(i)]
        if r.row.method not in seen:
            seen.add(r.row.method)
            picks.append((r, float(p[int(i)])))
        if len(picks) >= n:
            break
    out = []
    for r, prob in picks:
        heat = fused_map(result.fusion, r)
        if heat is None:
            continue
        obj = _load(bench / r.row.file)
        img, mask = (None, r.mask) if hasattr(obj, "instances") else (obj.display_pixels(), r.mask)
        if r.mask.ndim == 3:  # a series, or one file holding a volume (NIfTI, MetaImage, multi-frame): its most
            z = int(np.argmax(r.mask.reshape(r.mask.shape[0], -1).sum(axis=1)))  # edited slice
            img = obj.instances[z].display_pixels() if img is None else img[z]
            heat, mask = heat[z], r.mask[z]
        k = reduce_factor(img.shape)
        img = img[: img.shape[0] // k * k, : img.shape[1] // k * k].reshape(img.shape[0] // k, k, img.shape[1] // k, k).mean(axis=(1, 3))
        lo, hi = np.percentile(img, [1, 99])
        fig, axes = plt.subplots(1, 2, figsize=(7, 3.6))
        for ax in axes:
            ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
            ax.axis("off")
        axes[0].contour(mask, levels=[0.5], colors="lime", linewidths=1)
        axes[0].set_title("ground truth", fontsize=9)
        axes[1].imshow(np.ma.masked_less(heat, 0.15), cmap="inferno", alpha=0.6, vmin=0, vmax=1)
        axes[1].contour(mask, levels=[0.5], colors="lime", linewidths=0.6)
        axes[1].set_title(f"fused heatmap, p={prob:.2f}", fontsize=9)
        out.append((f"{r.row.method}: {r.row.file}", _png(fig)))
        plt.close(fig)
    return out


def _table(title: str, rows: dict[str, dict[str, Any]], cols: tuple[str, ...]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ("", *cols))
    body = []
    for name, rec in rows.items():
        cells = "".join(f"<td>{_fmt(rec.get(c))}</td>" for c in cols)
        body.append(f"<tr><th>{html.escape(name)}</th>{cells}</tr>")
    return f"<h3>{html.escape(title)}</h3><table><tr>{head}</tr>{''.join(body)}</table>"


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, dict):
        return html.escape(", ".join(f"{k} {_fmt(x)}" for k, x in v.items() if k in ("pixel_auc", "f1", "iou")))
    return html.escape(str(v))


COLS = ("auc", "tpr_at_1pct_fpr", "tpr_at_5pct_fpr", "n_tampered", "n_authentic")


def render_html(result: BenchResult, bench: Path) -> str:
    rep = result.report
    ind = rep["in_distribution"]
    parts = [f"<h1>radtrust benchmark: {html.escape(str(bench))}</h1>",
             f"<p>{rep['images']} images; detectors: {html.escape(', '.join(rep['detectors']))}. "
             + ("The shipped fusion" if rep.get("fusion", {}).get("fitted_on") else
                "Fusion fitted on the <b>train</b> split")
             + ", every figure measured on the <b>test</b> split.</p>"]
    if "leave_one_method_out" in rep:
        lomo = rep["leave_one_method_out"]
        parts.append("<h2>Leave-one-method-out (the number that matters)</h2>")
        parts.append(_table("pooled over held-out methods", {"pooled": lomo["pooled"]}, COLS))
        parts.append(_table("each method held out", lomo["per_method"], (*COLS, "localisation")))
    if fitted_on := rep.get("fusion", {}).get("fitted_on"):
        parts.append(f"<h2>Evaluation only</h2><p>{html.escape(fitted_on)}.</p>")
    else:
        parts.append("<h2>In-distribution (fusion fitted on every method)</h2>")
    parts.append(_table("overall", {"all": ind["overall"]}, COLS))
    parts.append(_table("per method", ind["per_method"], COLS))
    parts.append(_table("per modality", ind["per_modality"], COLS))
    if ind.get("per_evidence_class"):
        parts.append(_table("per evidence class (is the JPEG lattice most picture edits are found by there?)",
                            ind["per_evidence_class"], COLS))
    parts.append(_table("per anti-forensic variant", ind["per_variant"], COLS))
    loc = ind["localisation"]
    parts.append(f"<h3>Localisation</h3><p>pixel AUC {_fmt(loc.get('pixel_auc'))}, F1 {_fmt(loc.get('f1'))}, "
                 f"IoU {_fmt(loc.get('iou'))} at map threshold {_fmt(loc.get('map_threshold'))} "
                 f"over {loc.get('n_images')} tampered test images (maps on a reduced grid).</p>")
    if no_mask := rep.get("tampered_without_mask"):
        parts.append(f"<p>{len(no_mask)} tampered image(s) have no mask: measured at image level only, left out of "
                     "the localisation figures.</p>")
    if bad := rep.get("masks_not_used"):
        parts.append(f"<p>{len(bad)} mask(s) could not be used (shape or type; report.json names them): those images "
                     "are measured at image level only.</p>")
    if "shipped_fusion" in rep:
        parts.append(_table("shipped fusion (no refit)", {"shipped": rep["shipped_fusion"]},
                            (*COLS, "false_alarm_rate_at_threshold")))
        if rep["shipped_fusion"].get("per_method"):
            parts.append(_table("shipped fusion per method (no refit)", rep["shipped_fusion"]["per_method"],
                                (*COLS, "tpr_at_threshold")))
    if "robustness" in rep:
        rob = {k: v for k, v in rep["robustness"].items() if isinstance(v, dict)}
        title = f"Robustness (clean AUC {_fmt(rep['robustness']['clean_auc'])})"
        parts.append(_table(title, rob, (*COLS, "auc_change", "within_class_auc", "false_alarm_rate_at_threshold")))
        per_method: dict[str, dict[str, Any]] = {}
        for variant, v in rob.items():
            for m, auc in (v.get("per_method") or {}).items():
                per_method.setdefault(m, {})[variant] = auc
        if per_method:
            parts.append(_table("Robustness per method (AUC against the variant's authentic images)", per_method,
                                tuple(rob)))
    parts.append(f"<h3>Runtime</h3><p>{html.escape(json.dumps(rep['runtime']))}</p>")
    parts.append(f'<h2>ROC curves</h2><img alt="ROC curves" src="data:image/png;base64,{_roc_png(result)}">')
    ex = _example_pngs(result, bench)
    if ex:
        parts.append("<h2>Example heatmaps (tampered test images)</h2>")
        for title, png in ex:
            parts.append(f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{png}">'
                         f"<figcaption>{html.escape(title)}</figcaption></figure>")
    if rep.get("errors"):
        parts.append("<h3>Errors</h3><ul>" + "".join(f"<li>{html.escape(e)}</li>" for e in rep["errors"]) + "</ul>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}"
             "th{background:#f4f4f4;text-align:left}figure{display:inline-block;margin:.5em}"
             "figcaption{font-size:12px;max-width:600px}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>radtrust benchmark</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")


def write_report(result: BenchResult, bench: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.json``, ``report.html`` and ``items.jsonl`` (one record per image, the shipped fusion's score
    and verdict and every detector's score: :func:`radtrust.benchmarking.runner.item_records`) into ``out_dir``."""
    out_dir = Path(out_dir)
    j = out_dir / "report.json"
    write_atomic(j, json.dumps(_clean(result.report), indent=2, sort_keys=False) + "\n")
    h = out_dir / "report.html"
    write_atomic(h, render_html(result, Path(bench)))
    items = out_dir / "items.jsonl"
    write_atomic(items, "".join(json.dumps(_clean(rec)) + "\n" for rec in result.items))
    return {"json": j, "html": h, "items": items}
