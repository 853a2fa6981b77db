"""The one registry of tamper methods: name -> where it lives and what it applies to.

``applies`` is ``"ct"`` (a CT volume), ``"2d"`` (a single image, radiographs) or ``"any"``;
``kind`` is ``"pixels"`` or ``"metadata"``. Modules are imported when a method is used. ``held_out``
methods are never drawn for the development benchmark nor used to fit or tune a detector: they measure
detection of methods the detectors were not tuned on (``radtrust simulate dataset --methods holdout``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from radtrust.errors import UsageError
from radtrust.simulation.target import Target


@dataclass(frozen=True)
class MethodSpec:
    name: str
    target: str  # "module:function"
    applies: str  # ct | 2d | any
    kind: str = "pixels"  # pixels | metadata
    needs_donor: bool = False
    help: str = ""
    held_out: bool = False

    def function(self) -> Callable[..., object]:
        module, _, func = self.target.partition(":")
        return getattr(importlib.import_module(module), func)

    def admits(self, target: Target) -> bool:
        if self.applies == "ct":
            return target.is_ct
        if self.applies == "2d":
            return target.is_2d
        return True


_SIM = "radtrust.simulation"
METHODS: dict[str, MethodSpec] = {m.name: m for m in (
    MethodSpec("ct-inject-nodule", f"{_SIM}.ct_nodule:inject_nodule", "ct",
               help="3D lung nodule injection (solid, part-solid, ground-glass, spiculated; 4-30 mm)"),
    MethodSpec("ct-remove-nodule", f"{_SIM}.ct_removal:remove_nodule", "ct",
               help="3D lesion removal by in-painting from the surrounding tissue"),
    MethodSpec("ct-inpaint-learned", f"{_SIM}.inpainter:inpaint_learned", "ct",
               help="CT lesion removal by the learned in-painter (CT-GAN analogue; needs the torch extra)",
               held_out=True),
    MethodSpec("xr-inpaint-learned", f"{_SIM}.inpainter:inpaint_learned", "2d",
               help="radiograph lesion removal by the learned in-painter (needs the torch extra)", held_out=True),
    MethodSpec("xr-inject-nodule", f"{_SIM}.radiograph:inject_nodule", "2d", help="radiograph nodule/mass injection"),
    MethodSpec("xr-inject-consolidation", f"{_SIM}.radiograph:inject_consolidation", "2d",
               help="radiograph consolidation (patchy airspace opacity)"),
    MethodSpec("xr-remove-lesion", f"{_SIM}.radiograph:remove_lesion", "2d", help="radiograph lesion removal by in-painting"),
    MethodSpec("xr-insert-fracture", f"{_SIM}.radiograph:insert_fracture", "2d", help="fracture line insertion"),
    MethodSpec("xr-remove-fracture", f"{_SIM}.radiograph:remove_fracture", "2d", help="fracture line removal"),
    MethodSpec("copy-move", f"{_SIM}.generic:copy_move", "any", help="copy a region within the image (3D for CT)"),
    MethodSpec("splice", f"{_SIM}.generic:splice", "any", needs_donor=True,
               help="paste a region from another patient's image"),
    MethodSpec("resample-region", f"{_SIM}.generic:resample_region", "any", help="enlarge or shrink a region in place"),
    MethodSpec("retouch", f"{_SIM}.generic:retouch", "any", help="local smoothing / retouching"),
    MethodSpec("meta-identity-swap", f"{_SIM}.metadata:identity_swap", "any", "metadata",
               help="swap the patient identity (pixels unchanged)"),
    MethodSpec("meta-date-change", f"{_SIM}.metadata:date_change", "any", "metadata", help="shift the dates"),
    MethodSpec("meta-kvp-change", f"{_SIM}.metadata:kvp_change", "any", "metadata", help="change the KVP"),
    # held out (simulation/holdout.py): other tools than the development methods use
    MethodSpec("ho-inpaint-biharmonic", f"{_SIM}.holdout:inpaint_biharmonic_region", "any", held_out=True,
               help="biharmonic in-painting of a region, white noise re-added half the time"),
    MethodSpec("ho-copy-move-affine", f"{_SIM}.holdout:copy_move_affine", "any", held_out=True,
               help="copy-move with the copy rotated 15-90 degrees and scaled 0.85-1.15"),
    MethodSpec("ho-healing-brush", f"{_SIM}.holdout:healing_brush", "any", held_out=True,
               help="another place's detail over the region's own low frequencies"),
    MethodSpec("ho-contrast-region", f"{_SIM}.holdout:contrast_region", "any", held_out=True,
               help="a region's contrast scaled about its mean, re-quantised"),
    MethodSpec("ho-noise-region", f"{_SIM}.holdout:noise_region", "any", held_out=True,
               help="white Gaussian noise added to a region"),
    MethodSpec("ho-inpaint-exemplar", f"{_SIM}.exemplar:inpaint_exemplar", "any", held_out=True,
               help="exemplar-based (patch) in-painting of a region, content-aware fill's kind"),
    # held out (simulation/holdout_filters.py): a plain filter or an addition over a region
    MethodSpec("ho-sharpen-region", f"{_SIM}.holdout_filters:sharpen_region", "any", held_out=True,
               help="an unsharp mask over a region (its edges and noise raised)"),
    MethodSpec("ho-median-region", f"{_SIM}.holdout_filters:median_region", "any", held_out=True,
               help="a 3 or 5 px median filter over a region"),
    MethodSpec("ho-offset-region", f"{_SIM}.holdout_filters:offset_region", "any", held_out=True,
               help="a region made brighter or darker by a constant"),
    MethodSpec("ho-lesion-add", f"{_SIM}.holdout_filters:lesion_add", "any", held_out=True,
               help="a smooth lesion-like bump added to a region, its noise kept"),
)}
HELD_OUT: tuple[str, ...] = tuple(m for m, spec in METHODS.items() if spec.held_out)


def get_method(name: str) -> MethodSpec:
    try:
        return METHODS[name]
    except KeyError:
        raise UsageError(f"unknown simulation method {name!r}; known: {', '.join(sorted(METHODS))}") from None
