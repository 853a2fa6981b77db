"""Training a site model from authentic images only (`radtrust train`).

One pass over the inputs (in sorted order, so the result depends only on the files and the seed):

1. Radiographs and rasters are processed as they are read (their pixels are not kept): window features go to their
   group; images with a detector serial feed that detector's fingerprint estimator.
2. CT slices are assembled into series; inner slices of stackable series also get z features (3D model). NIfTI volumes
   count as series. Slices with kVp, mAs, kernel and thickness feed the noise model.
3. Per group, Gaussians are fitted on a seeded subsample of windows. Calibration (the authentic score distribution) is
   cross-fitted: a model fitted on the even images scores the odd ones and vice versa.
4. Fingerprints with enough images are estimated; a second read of those images fits the correlation predictor.

``epochs`` > 1 adds passes with random patch-grid offsets (more, shifted windows per image); the Gaussians themselves
have no iterative optimisation.
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from radtrust import __version__
from radtrust.errors import InputError, NotApplicable
from radtrust.forensics.oneclass.features import FEATURES_2D, slice_features
from radtrust.forensics.oneclass.fingerprint import Fingerprint, FingerprintEstimator, serial_key
from radtrust.forensics.oneclass.groups import DEFAULT_GROUP_BY, group_fields, group_key
from radtrust.forensics.oneclass.model import D2, Calibration, GroupModel, SiteModel
from radtrust.forensics.oneclass.noise_model import CTNoiseModel, covariates, measure
from radtrust.forensics.oneclass.padim import BinnedGaussian, top_mean
from radtrust.io import Image, group_series, iter_files, load_image

log = logging.getLogger(__name__)
STRUCTURE = FEATURES_2D.index("log_structure")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainOptions:
    group_by: tuple[str, ...] = DEFAULT_GROUP_BY
    epochs: int = 1
    seed: int = 0
    max_windows: int = 2048  # windows sampled per image and epoch for fitting
    max_bins: int = 8
    fingerprint_min_images: int = 8
    calibration_images: int = 400  # per group and dimensionality


@dataclass
class _Pool:
    """Windows of one group and dimensionality."""

    train_x: list[np.ndarray] = field(default_factory=list)
    train_i: list[np.ndarray] = field(default_factory=list)
    calib: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # full windows of whole images

    def add(self, values: np.ndarray, intensity: np.ndarray, rng: np.random.Generator, opts: TrainOptions,
            calibrate: bool) -> None:
        n = len(values)
        pick = np.sort(rng.choice(n, size=min(n, opts.max_windows), replace=False))
        self.train_x.append(values[pick])
        self.train_i.append(intensity[pick])
        if calibrate and len(self.calib) < opts.calibration_images:
            self.calib.append((values, intensity))

    def windows(self) -> int:
        return int(sum(len(x) for x in self.train_x))


def _fit(xs: list[np.ndarray], ins: list[np.ndarray], max_bins: int) -> BinnedGaussian:
    """Up to ``max_bins`` intensity bins x 4 structure bins, fewer when there are few windows (>= 20 d per bin)."""
    x, i = np.concatenate(xs), np.concatenate(ins)
    total = int(np.clip(len(x) // (20 * x.shape[1]), 1, 4 * max_bins))
    sbins = 4 if total >= 8 else 1
    return BinnedGaussian.fit(x, i, bins=max(1, total // sbins), structure_bins=sbins, structure_col=STRUCTURE)


def _fit_pool(pool: _Pool, opts: TrainOptions) -> tuple[BinnedGaussian, Calibration]:
    model = _fit(pool.train_x, pool.train_i, opts.max_bins)
    cal = pool.calib
    stats, wins = [], []
    if len(cal) >= 4 and len(pool.train_x) >= 4:  # cross-fit: halves by image index (calibration == first images)
        k = len(cal)
        halves = [_fit(pool.train_x[h:k:2], pool.train_i[h:k:2], opts.max_bins) for h in (0, 1)]
        for j, (v, i) in enumerate(cal):
            d = halves[1 - j % 2].score(v, i)
            stats.append(top_mean(d))
            wins.append(d)
    else:
        for v, i in cal:
            d = model.score(v, i)
            stats.append(top_mean(d))
            wins.append(d)
    return model, Calibration.from_scores(np.asarray(stats), np.concatenate(wins))


class _Trainer:
    def __init__(self, opts: TrainOptions, progress: Progress | None) -> None:
        self.opts = opts
        self.rng = np.random.default_rng(opts.seed)
        self.progress = progress or (lambda msg: None)
        self.pools: dict[tuple[str, str], _Pool] = defaultdict(_Pool)
        self.fields: dict[str, dict[str, str]] = {}
        self.counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # images, series
        self.noise_rows: list = []
        self.fp_est: dict[tuple[str, tuple[int, int]], FingerprintEstimator] = {}
        self.fp_paths: dict[tuple[str, tuple[int, int]], list[str]] = defaultdict(list)

    def _features(self, x: np.ndarray, prev: np.ndarray | None, nxt: np.ndarray | None, key: str) -> None:
        """Windows of one slice for every epoch (epoch 0 on the inference grid, later ones shifted)."""
        for epoch in range(self.opts.epochs):
            if epoch == 0:
                dy = dx = 0
            else:
                dy, dx = (int(v) for v in self.rng.integers(0, 16, size=2))
            crop = (slice(dy, None), slice(dx, None))
            try:
                f = slice_features(x[crop], None if prev is None else prev[crop], None if nxt is None else nxt[crop])
            except NotApplicable:
                return
            values, intensity = f.flat()
            self.pools[(key, "2d")].add(values[:, :D2], intensity, self.rng, self.opts, epoch == 0)
            if values.shape[1] > D2:
                self.pools[(key, "3d")].add(values, intensity, self.rng, self.opts, epoch == 0)

    def add_flat(self, image: Image) -> None:
        key = group_key(image, self.opts.group_by)
        self.fields[key] = group_fields(image, self.opts.group_by)
        self.counts[key][0] += 1
        self._features(image.pixels, None, None, key)
        serial = image.acquisition.detector_serial or image.acquisition.device_serial
        if serial and (image.modality or "").upper() != "CT":
            sk = (serial_key(serial), image.pixels.shape)
            est = self.fp_est.setdefault(sk, FingerprintEstimator(image.pixels.shape))
            est.add(image.pixels)
            self.fp_paths[sk].append(str(image.path))

    def add_volume(self, slices: list[np.ndarray], first: Image, images: list[Image] | None) -> None:
        key = group_key(first, self.opts.group_by)
        self.fields[key] = group_fields(first, self.opts.group_by)
        self.counts[key][0] += len(slices)
        self.counts[key][1] += 1
        n = len(slices)
        for i, x in enumerate(slices):
            inner = n >= 3 and 0 < i < n - 1
            self._features(x, slices[i - 1] if inner else None, slices[i + 1] if inner else None, key)
            im = images[i] if images is not None else first
            cov = covariates(im.acquisition, im.geometry.slice_thickness)
            if cov is not None and (im.modality or "").upper() == "CT":
                self.noise_rows.append((cov, measure(slice_features(x))))

    def finish(self, n_files: int, now: datetime) -> SiteModel:
        groups: dict[str, GroupModel] = {}
        for key in sorted(self.fields):
            self.progress(f"fitting group {key}")
            p2 = self.pools.get((key, "2d"))
            if p2 is None or not p2.train_x:
                continue
            g2d, cal2d = _fit_pool(p2, self.opts)
            p3 = self.pools.get((key, "3d"))
            g3d = cal3d = None
            windows = {"2d": p2.windows()}
            if p3 is not None and p3.windows() >= 4 * (D2 + 2) ** 2:
                g3d, cal3d = _fit_pool(p3, self.opts)
                windows["3d"] = p3.windows()
            images, series = self.counts[key]
            groups[key] = GroupModel(key, self.fields[key], images, series, g2d, cal2d, g3d, cal3d, windows)
        if not groups:
            raise InputError("no usable authentic image (every input was smaller than one 32x32 patch)")
        noise = CTNoiseModel.fit(self.noise_rows) if self.noise_rows else None
        fps: dict[str, Fingerprint] = {}
        for (skey, shape), est in sorted(self.fp_est.items()):
            if est.count < self.opts.fingerprint_min_images:
                continue
            self.progress(f"estimating a detector fingerprint from {est.count} images {shape[0]}x{shape[1]}")
            paths = self.fp_paths[(skey, shape)]
            fps[skey] = Fingerprint.fit(skey, est, (load_image(p).pixels for p in paths))
        info = {"created": now.astimezone(timezone.utc).isoformat(timespec="seconds"), "radtrust": __version__,
                "seed": self.opts.seed, "epochs": self.opts.epochs, "files": n_files,
                "features": len(FEATURES_2D)}
        return SiteModel(groups, group_by=self.opts.group_by, noise=noise, fingerprints=fps, info=info)


def train(inputs: Iterable[str | os.PathLike[str]], *, options: TrainOptions | None = None,
          progress: Progress | None = None, now: datetime | None = None) -> SiteModel:
    """Learn a site model from authentic images (files or folders). A bad input raises its error (nothing is kept)."""
    opts = options or TrainOptions()
    if opts.epochs < 1:
        raise ValueError("epochs must be at least 1")
    trainer = _Trainer(opts, progress)
    say = trainer.progress
    files = list(iter_files(inputs))
    if not files:
        raise InputError("no input files found")
    t0 = time.monotonic()
    ct: list[Image] = []
    for n, path in enumerate(files, 1):
        image = load_image(path)
        if image.pixels.ndim == 3:
            trainer.add_volume(list(image.pixels), image, None)
        elif (image.modality or "").upper() == "CT" and image.has_header:
            ct.append(image)
        else:
            trainer.add_flat(image)
        if n == len(files) or n % max(1, len(files) // 20) == 0:
            say(f"[{n}/{len(files)}] read {path.name} ({time.monotonic() - t0:.0f} s)")
    for series in group_series(ct):
        images = list(series.instances)
        if series.is_volume():
            trainer.add_volume([im.pixels for im in images], images[0], images)
        else:
            for im in images:
                trainer.add_volume([im.pixels], im, [im])
        say(f"series of {len(images)} CT slice(s) done ({time.monotonic() - t0:.0f} s)")
    model = trainer.finish(len(files), now or datetime.now(timezone.utc))
    say(f"trained {len(model.groups)} group(s) in {time.monotonic() - t0:.0f} s")
    return model
