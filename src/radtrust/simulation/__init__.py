"""The red team: a CT-GAN style tamper simulator (Mirsky et al., USENIX Security 2019).

**This simulator exists for evaluating detectors and for training them, nothing else.** It makes the
attacks radtrust must catch (lesion injection and removal in CT volumes and radiographs, copy-move,
splicing, resampling, retouching, metadata edits, with and without CT-GAN's anti-forensic steps) so
that every detector can be measured against them (:mod:`radtrust.benchmarking`). The fact that an
image is synthetic is recorded in a sidecar JSON beside it, never inside the DICOM.

>>> from radtrust.simulation import load_target, simulate, write_result
>>> target = load_target("chest_series/")
>>> result = simulate("ct-inject-nodule", target, rng=7)
>>> write_result(result, target, out_dir, "tampered", seed=7)
"""

from __future__ import annotations

from radtrust.simulation.antiforensics import AntiForensics
from radtrust.simulation.methods import METHODS, MethodSpec, get_method
from radtrust.simulation.simulate import simulate, write_result
from radtrust.simulation.target import Tampered, Target, load_target

__all__ = ["METHODS", "AntiForensics", "MethodSpec", "Tampered", "Target", "get_method", "load_target", "simulate",
           "write_result"]
