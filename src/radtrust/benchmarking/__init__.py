"""Measuring detectors: the benchmark format, metrics, the runner (leave-one-method-out, robustness) and reports.

>>> from radtrust.benchmarking import read_labels, run_benchmark
"""

from __future__ import annotations

from radtrust.benchmarking.format import COLUMNS, Row, load_mask, mask_path, read_labels, unmasked, write_labels

__all__ = ["COLUMNS", "Row", "load_mask", "mask_path", "read_labels", "unmasked", "write_labels"]
