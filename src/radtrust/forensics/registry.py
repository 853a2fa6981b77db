"""The one registry of detectors: name -> "module:Class" (after pydicom's plugin registry).

Adding a detector is one line here. Modules are imported only when the detector is used, so a missing
optional dependency is reported by name instead of breaking every scan.
"""

from __future__ import annotations

import importlib

from radtrust.errors import UsageError
from radtrust.forensics.detectors.base import Detector

DETECTORS: dict[str, str] = {
    "header": "radtrust.forensics.detectors.header:HeaderForensics",
    "physics": "radtrust.forensics.detectors.physics:PhysicsCheck",
    "duplicated-noise": "radtrust.forensics.detectors.duplicated_noise:DuplicatedNoiseDetector",
    "noise-residual": "radtrust.forensics.detectors.noise_residual:NoiseResidualDetector",
    "spectral": "radtrust.forensics.detectors.spectral:SpectralDetector",
    "jpeg-grid": "radtrust.forensics.detectors.jpeg_grid:JpegGridDetector",
    "jpeg-double": "radtrust.forensics.detectors.jpeg_double:DoubleJpegDetector",
    "noise-free": "radtrust.forensics.detectors.noise_free:NoiseFreeRegionDetector",
    "region-comb": "radtrust.forensics.detectors.region_comb:RegionCombDetector",
    "patch-fill": "radtrust.forensics.detectors.patch_fill:PatchFillDetector",
    "whole-resample": "radtrust.forensics.detectors.whole_resample:WholeResampleDetector",
    "site-model": "radtrust.forensics.detectors.site_model:SiteModelDetector",
}


def available() -> list[str]:
    return sorted(DETECTORS)


def get_detector(name: str, **options: object) -> Detector:
    """Instantiate the detector registered under ``name``."""
    try:
        target = DETECTORS[name]
    except KeyError:
        raise UsageError(f"unknown detector {name!r}; known: {', '.join(available())}") from None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"detector {name!r} needs {exc.name or exc}: pip install 'radtrust[forensics]'") from None
    cls = getattr(module, class_name)
    return cls(**options)
