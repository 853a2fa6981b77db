"""The learned in-painter, the CT-GAN analogue (Mirsky et al., USENIX Security 2019): a small U-Net trained
on authentic data fills a masked 32^3 cube of a CT volume (cut at 1 mm isotropic spacing and zoomed back,
as CT-GAN does) or a 64^2 patch of a radiograph. Exists for evaluating and training detectors only.

Weights ship in ``radtrust/data/inpainter.pt`` (half precision, about 2 MB) and are reproduced by::

    radtrust simulate train-inpainter --authentic ../shared/data/ct ../shared/data/cr/RG1_UNCR.dcm \\
        --out src/radtrust/data/inpainter.pt --steps 3000 --seed 0 --device cuda

(``--prepare-only DATA.npz`` writes the training patches; ``python3 _inpaint_net.py DATA.npz OUT.pt`` trains
from them on a machine with PyTorch alone.) Training data: CT cubes from permissively licensed volumes
(chest_volume MIT, siemens_abdomen Apache-2.0, ge_head and philips_phantom BSD-2-Clause) and radiograph
patches from RG1_UNCR (MIT) only: the cxr/ pictures may not be shipped, so nothing derived from them is.
Needs the ``torch`` extra (``pip install 'radtrust[torch]'``).
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from radtrust.errors import NotApplicable, UsageError
from radtrust.io.files import read_side_file
from radtrust.simulation import antiforensics as afm
from radtrust.simulation._ops import bbox_slices, radius_mm
from radtrust.simulation.anatomy import body_mask, ct_lungs, radiograph_fields
from radtrust.simulation.target import Tampered, Target

log = logging.getLogger(__name__)
CUBE, PATCH = 32, 64
WEIGHTS = "inpainter.pt"
_MODELS: dict[str, Any] = {}


def _torch_net() -> Any:
    try:
        from radtrust.simulation import _inpaint_net
    except ImportError as exc:
        raise UsageError(f"the learned in-painter needs PyTorch ({exc.name}): pip install 'radtrust[torch]'") from None
    return _inpaint_net


def ct_norm(hu: np.ndarray) -> np.ndarray:
    return np.clip((hu + 1000.0) / 1000.0, -0.1, 3.0).astype(np.float32)


def ct_denorm(x: np.ndarray) -> np.ndarray:
    return (x * 1000.0 - 1000.0).astype(np.float32)


def load_models(path: str | Path | None = None) -> dict[str, Any]:
    key = str(path or "shipped")
    if key not in _MODELS:
        net = _torch_net()
        if path is None:
            ref = resources.files("radtrust.data") / WEIGHTS
            if not ref.is_file():
                raise UsageError("no in-painter weights shipped; train them: radtrust simulate train-inpainter")
            blob = ref.read_bytes()
        else:
            blob = read_side_file(path)
        _MODELS[key] = net.load_models(blob)[0]
    return _MODELS[key]


def _predict(model: Any, x: np.ndarray, hole: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        t = torch.from_numpy(x[None, None].astype(np.float32))
        m = torch.from_numpy(hole[None, None].astype(np.float32))
        return model(t, m)[0, 0].numpy()


def _cube(vol: np.ndarray, center: tuple[int, ...], spacing: tuple[float, ...]) -> tuple[tuple[slice, ...], np.ndarray]:
    """The native-spacing box covering 32 mm around ``center`` and its 32^3 resampling at 1 mm."""
    box = bbox_slices(center, CUBE / 2.0, spacing, vol.shape)
    sub = vol[box].astype(np.float32)
    return box, ndi.zoom(sub, tuple(CUBE / n for n in sub.shape), order=1, mode="nearest")


def inpaint_learned(target: Target, rng: np.random.Generator, *, at: tuple[int, ...] | None = None,
                    size_mm: float | None = None, antiforensics: afm.AntiForensics | None = None,
                    weights: str | None = None) -> Tampered:
    """Remove a lesion-like blob with the learned in-painter (CT cube or radiograph patch)."""
    models = load_models(weights)
    af = antiforensics if antiforensics is not None else afm.draw(rng, allow_resample=False)
    diameter = float(size_mm) if size_mm is not None else float(rng.uniform(5.0, 14.0))
    if target.is_ct:
        from radtrust.simulation.ct_removal import find_blob

        lungs = ct_lungs(target)
        in_lungs = bool(lungs.sum() * np.prod(target.spacing) > 20_000)
        allowed = lungs if in_lungs else body_mask(target.pixels)
        center = tuple(int(v) for v in at) if at is not None else find_blob(
            target.pixels, allowed, target.spacing, diameter, rng, margin_mm=3.0 if in_lungs else 15.0)
        if center is None:
            raise NotApplicable("no lesion-like blob found to remove")
        box, iso = _cube(target.pixels, center, target.spacing)
        local = tuple((c - b.start) * s for c, b, s in zip(center, box, target.spacing))  # mm in the cube
        radius = min(diameter / 2.0 + float(rng.uniform(1.0, 2.5)), 10.0)
        hole = radius_mm((CUBE,) * 3, local, (1.0, 1.0, 1.0)) <= radius
        pred = ct_denorm(_predict(models["ct"], ct_norm(iso), hole))
        sub = target.pixels[box].astype(np.float32)
        back = ndi.zoom(pred, tuple(n / CUBE for n in sub.shape), order=1, mode="nearest")[tuple(slice(0, n) for n in sub.shape)]
        weight = ndi.zoom(hole.astype(np.float32), tuple(n / CUBE for n in sub.shape), order=1)[tuple(slice(0, n) for n in sub.shape)]
        new, info = afm.add_noise(back, np.clip(weight, 0, 1), target.pixels, box, af, rng, allowed=allowed)
        new = np.clip(new, *target.value_range)
        if af.requantise:
            new = np.rint(new)
        out = target.pixels.copy()
        out[box] = new  # the whole resampled cube goes back, as in CT-GAN
        mask = np.zeros(out.shape, dtype=bool)
        mask[box] = True
        params = {"center": list(center), "radius_mm": round(radius, 2), "in_lungs": in_lungs, **info}
    elif target.is_2d:
        fields = radiograph_fields(target)
        if at is None:
            from radtrust.simulation.anatomy import choose_center

            center = choose_center(fields, target.spacing, diameter, rng) or choose_center(fields, target.spacing, 2.0, rng)
            if center is None:
                raise NotApplicable("no lung field to in-paint")
        else:
            center = tuple(int(v) for v in at)
        r_px = (diameter / 2.0 + 1.0) / target.spacing[0]
        scale = max(1, int(np.ceil(r_px / 14.0)))
        win = bbox_slices(center, PATCH * scale * target.spacing[0] / 2.0, target.spacing, target.pixels.shape)
        sub = target.pixels[win].astype(np.float32)
        hole_full = radius_mm(sub.shape, tuple(c - w.start for c, w in zip(center, win)), target.spacing) <= r_px * target.spacing[0]
        small = ndi.zoom(sub, (PATCH / sub.shape[0], PATCH / sub.shape[1]), order=1, mode="nearest")
        hole = ndi.zoom(hole_full.astype(np.float32), (PATCH / sub.shape[0], PATCH / sub.shape[1]), order=1) > 0.3
        known = small[~hole]
        mu, sd = float(known.mean()), float(known.std()) + 1e-3
        pred = _predict(models["xr"], (small - mu) / sd, hole) * sd + mu
        up = ndi.zoom(pred, (sub.shape[0] / PATCH, sub.shape[1] / PATCH), order=1, mode="nearest")[:sub.shape[0], :sub.shape[1]]
        new = np.where(hole_full, up, sub)
        if af.noise != "none":
            ring = ndi.binary_dilation(hole_full, iterations=6) & ~hole_full
            from radtrust.simulation._ops import noise_sigma

            new = np.where(hole_full, new + afm.synth_noise(new.shape, noise_sigma(sub, ring), rng, corr_px=0.0), new)
        new = np.clip(new, *target.value_range)
        if af.requantise:
            new = np.rint(new)
        out = target.pixels.copy()
        out[win] = np.where(hole_full, new, sub)
        mask = np.zeros(out.shape, dtype=bool)
        mask[win] = hole_full
        params = {"center": list(center), "radius_px": round(r_px, 1), "patch_scale": scale}
    else:
        raise NotApplicable("the learned in-painter needs a CT volume or a 2D image")
    params["antiforensics"] = af.to_dict()
    return Tampered(pixels=out.astype(np.float32), mask=mask, datasets=target.datasets, method="ct-inpaint-learned"
                    if target.is_ct else "xr-inpaint-learned", params=params)
