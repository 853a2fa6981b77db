"""Forensic detection for images without a signature.

- :mod:`radtrust.forensics.detectors`: one module per detector, each following the contract in
  :mod:`radtrust.forensics.detectors.base` (``name``, ``version``, ``applies_to``, ``run`` -> ``Finding``).
- :mod:`radtrust.forensics.registry`: the one registry of detector names.
"""
