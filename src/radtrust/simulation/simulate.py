"""The safe recipe: run one method on one input and write the result (image, mask, sidecar)."""

from __future__ import annotations

import inspect
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from radtrust.errors import NotApplicable, UsageError
from radtrust.simulation import antiforensics as afm
from radtrust.simulation import writer
from radtrust.simulation.dicomize import uid
from radtrust.simulation.methods import get_method
from radtrust.simulation.target import Tampered, Target


def simulate(method: str, target: Target, rng: np.random.Generator | int, *, donor: Target | None = None,
             at: tuple[int, ...] | None = None, size_mm: float | None = None,
             antiforensics: afm.AntiForensics | None = None, **options: Any) -> Tampered:
    """Apply ``method`` to ``target``; all randomness comes from ``rng`` (a Generator or a seed)."""
    spec = get_method(method)
    if not spec.admits(target):
        raise NotApplicable(f"method {method} applies to {spec.applies} images, not {target.modality} "
                            f"{'volume' if target.pixels.ndim == 3 else 'image'}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    fn = spec.function()
    accepted = inspect.signature(fn).parameters
    if antiforensics is not None and "antiforensics" not in accepted:
        raise UsageError(f"method {method} has no anti-forensic steps to choose (its own are fixed); "
                         "leave --antiforensics out")
    kw: dict[str, Any] = {k: v for k, v in {"donor": donor, "at": at, "size_mm": size_mm,
                                           "antiforensics": antiforensics, **options}.items()
                          if k in accepted and v is not None}
    if antiforensics is not None and antiforensics.scan and not target.is_ct:
        raise UsageError("the anti-forensic step 'scan' (the whole scan rescaled, as CT-GAN's code does) applies to "
                         "CT volumes only")
    result = fn(target, rng, **kw)
    assert isinstance(result, Tampered)
    if antiforensics is not None and antiforensics.scan:
        result = _as_ct_gan_writes(result, target, inject="inject" in method)
    return result


def _as_ct_gan_writes(result: Tampered, target: Target, inject: bool) -> Tampered:
    """The edited scan as CT-GAN's code writes it (:func:`radtrust.simulation.antiforensics.as_ct_gan_writes`)."""
    pixels, box = afm.as_ct_gan_writes(result.pixels, target.pixels, result.mask, target.spacing, result.datasets,
                                       target.value_range, inject)
    return replace(result, pixels=pixels, params={**result.params, "whole_scan_rescaled_mm": 1.0,
                                                  "touch_up_box": box})


def result_paths(out_dir: Path, name: str, ndim: int) -> dict[str, Path]:
    """Where :func:`write_result` puts ``name``: a ``.dcm`` file (2D) or a series folder, its mask and its sidecar."""
    out_dir = Path(out_dir)
    return {"image": out_dir / (f"{name}.dcm" if ndim == 2 else name), "mask": out_dir / f"{name}.mask.npy",
            "sidecar": out_dir / f"{name}.json"}


def write_result(result: Tampered, target: Target, out_dir: Path, name: str, *, seed: int | None,
                 syntax: str = "keep", new_uids: bool = False, mask_path: Path | None = None,
                 sidecar_path: Path | None = None) -> dict[str, Path]:
    """Write ``name`` (``.dcm`` file or series folder), ``name.mask.npy`` and ``name.json`` under ``out_dir``."""
    out_dir = Path(out_dir)
    planned = result_paths(out_dir, name, result.pixels.ndim)
    image_path = planned["image"]
    uids = [uid(seed, name, i) for i in range(len(result.datasets))] + [uid(seed, name, "series")] if new_uids else None
    writer.write_dicom(result.datasets, result.pixels, image_path, syntax=syntax, new_uids=uids)
    mask_path = mask_path or planned["mask"]
    writer.write_npy(result.mask, mask_path)
    sidecar_path = sidecar_path or planned["sidecar"]
    rel = lambda p: str(Path(p).relative_to(out_dir)) if Path(p).is_relative_to(out_dir) else str(p)  # noqa: E731
    writer.write_json(writer.sidecar(result.method, result.params, seed=seed, source=target.source,
                                     mask_file=rel(mask_path), image_file=rel(image_path)), sidecar_path)
    return {"image": image_path, "mask": mask_path, "sidecar": sidecar_path}
