#!/usr/bin/env python3
"""False alarms after benign processing of a whole picture: what a teaching file or a case report does to a
radiograph before anyone could tamper with it (resize, tone curves, sharpening, rotation, cropping), saved as PNG
and as JPEG, then scanned with the shipped fusion.

    .venv/bin/python scripts/benign_processing_check.py ../shared/data/cxr --limit 40 [--jobs 2] [--json OUT] \
        [--j2k | --only-j2k]

With --j2k each is also stored as a DICOM secondary capture in irreversible JPEG 2000 at 2:1 and 3:1 (what an archive
compressing on ingest does; jpeg-grid reads the lattice through such mild storage since session 29).

Every transform applies to the whole picture, so none is an edit of a region: each flag is a false alarm.
Burned-in text (an annotation added to the whole picture's corner) is reported on its own row: it does change
the picture locally, and which verdict it deserves is a policy question, not a detection one.
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFilter, ImageOps

from radtrust.forensics.scanner import Scanner
from radtrust.io import load_image


def _resize(f: float) -> Callable[[PILImage.Image], PILImage.Image]:
    return lambda im: im.resize((max(1, round(im.width * f)), max(1, round(im.height * f))), PILImage.BICUBIC)


def _lut(curve: Callable[[np.ndarray], np.ndarray]) -> Callable[[PILImage.Image], PILImage.Image]:
    table = np.clip(np.rint(curve(np.arange(256) / 255.0) * 255.0), 0, 255).astype(np.uint8)
    return lambda im: im.point(table.tolist())


def _crop(im: PILImage.Image) -> PILImage.Image:
    w, h = im.size
    return im.crop((w // 10, h // 10, w - w // 10, h - h // 10))


def _text(im: PILImage.Image) -> PILImage.Image:
    out = im.copy()
    ImageDraw.Draw(out).text((10, 10), "R  PORTABLE  AP SUPINE", fill=255)
    return out


TRANSFORMS: dict[str, Callable[[PILImage.Image], PILImage.Image]] = {
    "none": lambda im: im,
    "resize x0.5": _resize(0.5),
    "resize x0.75": _resize(0.75),
    "resize x1.5": _resize(1.5),
    "gamma 0.8": _lut(lambda v: v ** 0.8),
    "gamma 1.25": _lut(lambda v: v ** 1.25),
    "levels 10-240": _lut(lambda v: (v - 10 / 255) / (230 / 255)),
    "equalise": ImageOps.equalize,
    "unsharp mask": lambda im: im.filter(ImageFilter.UnsharpMask(radius=2, percent=80, threshold=2)),
    "blur 0.8": lambda im: im.filter(ImageFilter.GaussianBlur(0.8)),
    "rotate 90 + flip": lambda im: ImageOps.mirror(im.transpose(PILImage.ROTATE_90)),
    "crop 80%": _crop,
    "burned-in text": _text,
}
SAVES = {"png": {}, "jpeg q90": {"quality": 90}}
#: stored as DICOM (a secondary capture made from the PNG) in irreversible JPEG 2000 at these ratios, as an archive
#: compressing on ingest would: with --j2k
J2K_SAVES = {"dicom j2k 2:1": 2.0, "dicom j2k 3:1": 3.0}


def _as_j2k(png: Path, dst: Path, ratio: float) -> Path:
    import pydicom
    from pydicom.uid import JPEG2000

    from radtrust.simulation import writer
    from radtrust.simulation.target import from_raster

    target = from_raster(png)
    writer.write_dicom(target.datasets, target.pixels, dst, syntax="explicit")
    ds = pydicom.dcmread(dst)
    ds.compress(JPEG2000, j2k_cr=[ratio], generate_instance_uid=False)
    ds.LossyImageCompression = "01"
    ds.save_as(dst, enforce_file_format=True)
    return dst


def run(task: tuple[str, str, str]) -> dict:
    path, name, save = task
    im = PILImage.open(path).convert("L")
    out = TRANSFORMS[name](im)
    with tempfile.TemporaryDirectory() as td:
        dst = Path(td) / ("x.jpg" if save in SAVES and save != "png" else "x.png")
        out.save(dst, **SAVES.get(save, {}))
        if save in J2K_SAVES:
            dst = _as_j2k(dst, Path(td) / "x.dcm", J2K_SAVES[save])
        result = Scanner().scan_image(load_image(dst))
    return {"picture": Path(path).name, "transform": name, "save": save, "score": round(result.score, 4),
            "verdict": result.verdict, "detectors": result.detectors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--limit", type=int, default=40, help="pictures, in name order (every fourth first)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--j2k", action="store_true", help="also store each as DICOM in JPEG 2000 at 2:1 and 3:1")
    ap.add_argument("--only-j2k", action="store_true", help="store each as DICOM in JPEG 2000 only")
    args = ap.parse_args()
    pictures = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    pictures = (pictures[::4] + [p for i, p in enumerate(pictures) if i % 4])[: args.limit]
    saves = [*([] if args.only_j2k else SAVES), *(J2K_SAVES if args.j2k or args.only_j2k else [])]
    tasks = [(str(p), t, s) for p in pictures for t in TRANSFORMS for s in saves]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(run, tasks, chunksize=4))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    table = collections.defaultdict(list)
    for r in rows:
        table[(r["transform"], r["save"])].append(r)
    print(f"{len(pictures)} pictures; flagged (suspicious or tampered) per transform and save, and by which detector")
    for (name, save), rs in table.items():
        flagged = [r for r in rs if r["verdict"] in ("suspicious", "tampered")]
        by = collections.Counter(max(r["detectors"], key=r["detectors"].get) for r in flagged)
        print(f"  {name:18} {save:9} {len(flagged):3d} / {len(rs)}  {dict(by) if by else ''}")


if __name__ == "__main__":
    main()
