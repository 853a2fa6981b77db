"""Benchmark of the one-class site model (issue 7): training time and inference time per 512x512 slice.

    .venv/bin/python benchmarks/bench_site_model.py [--fingerprint 20] [--train-ct] [--train-radiographs] [--jobs 2]

Inference runs single-threaded (BLAS/FFT threads pinned to 1) and reports CPU time per slice (the cost on one
core, independent of other load on the machine) and wall time. Training targets: <= 10 minutes for 200
radiographs or 500 CT slices. The CT training set is 4 copies of the 133-slice chest volume in ../shared/data
(532 slices, written as NIfTI to a temporary folder); the radiograph set is the 160 cxr pictures plus the CR
radiograph, padded to 200 by repeating pictures (symbolic links).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


def _timed(fn):  # noqa: ANN001, ANN202
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


def bench_inference(tmp: Path, repeats: int) -> None:
    from radtrust.forensics.oneclass import train
    from radtrust.forensics.registry import get_detector
    from radtrust.io import load_image, load_series

    files = sorted((ROOT / "samples" / "ct").glob("*.dcm"))
    model = tmp / "ct.npz"
    train(files).save(model)
    det = get_detector("site-model", model_path=str(model))
    images = [load_image(f) for f in files]
    det.run(images[0])  # warm-up
    cpu, wall = [], []
    for _ in range(repeats):
        for im in images:
            _, c, w = _timed(lambda im=im: det.run(im))
            cpu.append(c)
            wall.append(w)
    print(f"inference, one 512x512 CT slice (2D model + CT noise model): CPU median {1000 * statistics.median(cpu):.0f} "
          f"ms, wall median {1000 * statistics.median(wall):.0f} ms ({len(cpu)} runs)")
    [series] = load_series(ROOT / "samples" / "ct")
    _, c, w = _timed(lambda: det.run_series(series))
    print(f"inference, 3D series of {len(series)} slices: CPU {1000 * c / len(series):.0f} ms/slice, "
          f"wall {1000 * w / len(series):.0f} ms/slice")


def _run_training(name: str, inputs: list[Path], out: Path, jobs: int) -> None:
    from radtrust.forensics.oneclass import TrainOptions, train

    opts = TrainOptions(jobs=jobs)
    model, c, w = _timed(lambda: train([str(p) for p in inputs], options=opts, progress=lambda m: None))
    model.save(out)
    d = model.describe()
    n = sum(g["images"] for g in d["groups"])
    print(f"training, {name}: {n} images/slices in {len(d['groups'])} group(s), {jobs} worker(s): wall {w:.0f} s, "
          f"CPU of the main process {c:.0f} s")


def bench_train_ct(tmp: Path, jobs: int) -> None:
    src = SHARED / "ct" / "chest_volume"
    vol = next(p for p in sorted(src.iterdir()) if p.name.endswith((".nii", ".nii.gz")) and "mask" not in p.name)
    folder = tmp / "ct532"
    folder.mkdir()
    for i in range(4):
        shutil.copy(vol, folder / f"copy{i}{''.join(vol.suffixes)}")
    _run_training("CT, 4 x 133-slice chest volume (532 slices)", [folder], tmp / "ct532.npz", jobs)


def bench_train_radiographs(tmp: Path, jobs: int) -> None:
    pics = sorted(p for p in (SHARED / "cxr").iterdir() if p.is_file() and not p.name.startswith("."))
    folder = tmp / "rad200"
    folder.mkdir()
    items = [SHARED / "cr" / "RG1_UNCR.dcm", *pics]
    i = 0
    while len(list(folder.iterdir())) < 200:
        src = items[i % len(items)]
        (folder / f"{i:03d}_{src.name}").symlink_to(src)
        i += 1
    _run_training("radiographs (CR + cxr pictures, 200 files)", [folder], tmp / "rad200.npz", jobs)


def bench_fingerprint(splices: int, seed: int = 0) -> None:
    """Pixel AUC of fingerprint localisation on SIMULATED fixed-pattern splices (as in tests/forensics/oneclass):
    10 training images of one detector (I = I0 (1 + K) + shot noise, K ~ N(0, 0.01)), 768x768, 192x192 splices
    from a second detector."""
    import numpy as np
    from scipy import ndimage
    from sklearn.metrics import roc_auc_score

    from radtrust.forensics.oneclass.fingerprint import Fingerprint, FingerprintEstimator

    rng = np.random.default_rng(seed)
    size = 768

    def expose(k: np.ndarray) -> np.ndarray:
        f = ndimage.gaussian_filter(rng.normal(size=(size, size)), 24)
        i0 = 400.0 + 2600.0 * (f - f.min()) / (f.max() - f.min())
        return i0 * (1.0 + k) + rng.normal(size=i0.shape) * np.sqrt(i0)

    k, k2 = rng.normal(0, 0.01, (size, size)), rng.normal(0, 0.01, (size, size))
    train_images = [expose(k) for _ in range(10)]
    est = FingerprintEstimator((size, size))
    for im in train_images:
        est.add(im)
    fp = Fingerprint.fit("sim", est, train_images)
    aucs, fa = [], []
    for _ in range(splices):
        host, donor = expose(k), expose(k2)
        mask = np.zeros((size, size), bool)
        y, x = rng.integers(32, size - 192 - 32, size=2)
        mask[y:y + 192, x:x + 192] = True
        z, _ = fp.localise(np.where(mask, donor, host))
        aucs.append(roc_auc_score(mask.ravel(), z.ravel()))
        fa.append(fp.localise(host)[1])
    print(f"fingerprint localisation on {splices} simulated splices: pixel AUC mean {np.mean(aucs):.4f}, "
          f"min {np.min(aucs):.4f}; area flagged on the untouched hosts: mean {100 * np.mean(fa):.2f}%")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-ct", action="store_true", help="also time training on 532 CT slices")
    ap.add_argument("--train-radiographs", action="store_true", help="also time training on 200 radiographs")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fingerprint", type=int, default=0, metavar="N",
                    help="also measure fingerprint localisation on N simulated splices")
    ap.add_argument("--jobs", type=int, default=1, help="training worker processes (radiographs)")
    args = ap.parse_args()
    if (args.train_ct or args.train_radiographs) and not (SHARED / "MANIFEST.tsv").exists():
        print(f"training benchmarks need {SHARED}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        bench_inference(tmp, args.repeats)
        if args.fingerprint:
            bench_fingerprint(args.fingerprint)
        if args.train_ct:
            bench_train_ct(tmp, args.jobs)
        if args.train_radiographs:
            bench_train_radiographs(tmp, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
