"""Detectors: one module each, one small contract (:mod:`.base`)."""

from radtrust.forensics.detectors.base import Detector, Finding, Scope

__all__ = ["Detector", "Finding", "Scope"]
