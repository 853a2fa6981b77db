#!/usr/bin/env python3
"""The double-JPEG detector alone on pictures saved twice as JPEG, untouched and edited in between.

    .venv/bin/python scripts/jpeg_double_check.py ../shared/data/cxr --limit 144

For each of the first LIMIT JPEG pictures (sorted by name): the picture saved again at quality 75, 90 and 95
untouched, and once edited (in turn: a copy moved off the 8x8 grid, a Gaussian-blurred patch, a patch from the
next picture resized to fit) then saved at quality 75, 90 or 95 (every pairing over nine pictures). The edit is a
square of a sixth of the shorter side at a third of the way in. Prints, per group, how many were judged and how
many scored over 0.5, and the highest authentic score. These edits are the ones the detector was developed on; `radtrust bench --robustness`
(variant jpeg-resave) measures it on the simulator's methods instead.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from scipy import ndimage

from radtrust.errors import NotApplicable
from radtrust.forensics.detectors.jpeg_double import DoubleJpegDetector
from radtrust.forensics.residuals import shared_intermediates
from radtrust.io import load_image

QUALITIES = (75, 90, 95)
EDITS = ("copy", "blur", "splice")


def grey(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    with PILImage.open(path) as im:
        im = im.convert("L")
        return np.asarray(im.resize(size) if size else im, dtype=np.float64)


def edit(a: np.ndarray, kind: str, other: Path) -> np.ndarray:
    h, w = a.shape
    s = min(h, w) // 6
    y, x = h // 3 + 3, w // 3 + 5
    b = a.copy()
    if kind == "copy":
        sy, sx = min(h - s, y + s // 2 + 3), min(w - s, x + s + 1) if x + 2 * s < w else max(0, x - s - 1)
        b[y:y + s, x:x + s] = a[sy:sy + s, sx:sx + s]
    elif kind == "blur":
        b[y:y + s, x:x + s] = ndimage.gaussian_filter(a, 2)[y:y + s, x:x + s]
    else:
        b[y:y + s, x:x + s] = grey(other, (w, h))[y:y + s, x:x + s]
    return b


def score(path: Path) -> float | None:
    try:
        with shared_intermediates():
            return DoubleJpegDetector().run(load_image(path)).score
    except NotApplicable:
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pictures", type=Path)
    ap.add_argument("--limit", type=int, default=48)
    args = ap.parse_args()
    files = sorted(p for p in args.pictures.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))[: args.limit]
    groups: dict[str, list[float | None]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        for i, f in enumerate(files):
            a = grey(f)
            for q in QUALITIES:
                out = Path(tmp) / f"a{i}_{q}.jpg"
                PILImage.fromarray(a.astype(np.uint8)).save(out, quality=q)
                groups[f"authentic q{q}"].append(score(out))
            kind, q = EDITS[i % 3], QUALITIES[(i // 3) % 3]  # every edit at every quality over 9 pictures
            out = Path(tmp) / f"t{i}.jpg"
            edited = np.clip(edit(a, kind, files[(i + 1) % len(files)]), 0, 255).astype(np.uint8)
            PILImage.fromarray(edited).save(out, quality=q)
            groups[f"{kind} q{q}"].append(score(out))
    worst = 0.0
    for name in sorted(groups):
        judged = [s for s in groups[name] if s is not None]
        flagged = sum(s > 0.5 for s in judged)
        if name.startswith("authentic"):
            worst = max([worst, *judged])
        print(f"{name:16s} judged {len(judged):3d} of {len(groups[name]):3d}   over 0.5: {flagged:3d}")
    print(f"highest authentic score: {worst:.3f}")


if __name__ == "__main__":
    main()
