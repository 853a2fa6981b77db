#!/usr/bin/env python3
"""The CT items of benchmarks written as NIfTI volumes and scanned as `radtrust scan` reads them, against the same
volumes with no modality (how NIfTI was read before session 17, when only the generic detectors applied).

    .venv/bin/python scripts/nifti_ct_check.py bench/dev bench/holdout --split test

Each CT slab (DICOM slices, values in HU) becomes one int16 NIfTI file with its spacing in a temporary folder,
exactly what a research pipeline hands over; header-only edits are left out (NIfTI has no header to edit). Prints
the image AUC and how many tampered and authentic volumes get a `suspicious` or `tampered` verdict, both ways, and
per method.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from radtrust.benchmarking.format import read_labels
from radtrust.benchmarking.metrics import roc_auc
from radtrust.forensics.scanner import Scanner
from radtrust.io import load_image, load_series


def as_nifti(folder: Path, out: Path) -> Path:
    import nibabel as nib

    series = load_series([folder])[0]
    vol = series.volume()
    first, second = series.instances[0].geometry, series.instances[1].geometry
    dy, dx = first.pixel_spacing
    dz = abs(second.position[2] - first.position[2])
    nib.save(nib.Nifti1Image(np.rint(np.transpose(vol, (2, 1, 0))).astype(np.int16), np.diag([dx, dy, dz, 1.0])), out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("benches", nargs="+", type=Path)
    ap.add_argument("--split", default="test", help="test, train or all")
    args = ap.parse_args()
    scanner = Scanner()
    rows = []  # (method, label, score as read now, flagged, score without modality, flagged)
    with tempfile.TemporaryDirectory(prefix="radtrust-nifti-") as tmp:
        for bench in args.benches:
            for row in read_labels(bench):
                if row.modality.upper() != "CT" or row.method.startswith("meta-"):
                    continue
                if args.split != "all" and row.split != args.split:
                    continue
                image = load_image(as_nifti(bench / row.file, Path(tmp) / f"{len(rows)}.nii.gz"))
                now = scanner.scan_image(image)
                before = scanner.scan_image(dataclasses.replace(image, modality=None, notes=()))
                rows.append((row.method or "authentic", row.label, now.score, now.verdict != "authentic",
                             before.score, before.verdict != "authentic", image.modality))
    y = np.array([r[1] for r in rows])
    print(f"{len(rows)} volumes ({int(y.sum())} tampered), read as {sorted({str(r[6]) for r in rows})}")
    for label, s, f in (("as read now", 2, 3), ("no modality", 4, 5)):
        p = np.array([r[s] for r in rows])
        hit = sum(r[f] for r in rows if r[1])
        fa = sum(r[f] for r in rows if not r[1])
        print(f"{label:12s}: AUC {roc_auc(y, p):.3f}, tampered flagged {hit}/{int(y.sum())}, "
              f"authentic flagged {fa}/{int((1 - y).sum())}")
    per: dict[str, list[tuple]] = defaultdict(list)
    for r in rows:
        per[r[0]].append(r)
    for method, rs in sorted(per.items()):
        now, before = sum(r[3] for r in rs), sum(r[5] for r in rs)
        print(f"  {method:24s} n={len(rs):2d}  flagged now {now}, without modality {before}")


if __name__ == "__main__":
    main()
