"""The site's identifier conventions: the *shape* of its patient identifiers, learned from authentic images.

A hospital's patient IDs come from one master patient index and share a format (say ``A9`` for a letter and
digits, eight long); its names follow one spelling (``A^A`` for FAMILY^GIVEN in capitals). An image relabelled
with an identity typed in, or taken from another system, carries an identifier of another shape. The model
keeps only shapes and lengths, never a value: each character class becomes one symbol (digits ``9``,
capitals ``A``, small letters ``a``; other characters stay), and runs of a class collapse to one symbol, so
``P1234567`` is ``A9`` and ``HOLM^ANNA`` is ``A^A``. How surprising an unseen shape is follows the
Good-Turing estimate of the chance that the next unit shows a shape not seen yet: (shapes seen once + 1) /
(units + 1). A site whose identifiers are all of a few shapes gives a small chance, and a new shape is
evidence; a site with many one-off shapes gives a large one, and little is claimed. The surprise is on the
site model's scale: 0 for a chance of one half or more, 1 for a chance of 1% (as rare as the 99th percentile
of the texture scores); with n uniform training units the chance is 1/(n+1), so it takes about a hundred
images or series before a new shape weighs as much as the texture model's strongest evidence. A swap to
another identity of the same site keeps the shape and cannot be seen this way.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FIELDS = ("PatientID", "PatientName")
MIN_UNITS = 20  # fewer training units (images or series) than this: no claim
NEUTRAL_CHANCE = 0.5  # a new shape this likely (or likelier) is no evidence at all
RARE_CHANCE = 0.01  # surprise 1: as rare as the 99th percentile
_CLASSES = ((str.isdigit, "9"), (str.isupper, "A"), (str.islower, "a"))


def shape(value: Any) -> str:
    """The collapsed character-class shape of an identifier ('' for an empty or absent one)."""
    out: list[str] = []
    for ch in str(value or "").strip()[:64]:
        sym = next((s for test, s in _CLASSES if test(ch)), ch if ch.isprintable() and ch.isascii() else "?")
        if not out or out[-1] != sym or sym not in "9Aa":
            out.append(sym)
    return "".join(out)


def shapes_of(dataset: Any) -> dict[str, tuple[str, int]]:
    """(shape, length) of each identifier field of a DICOM dataset; {} without one (rasters)."""
    if dataset is None:
        return {}
    return {f: (shape(dataset.get(f)), len(str(dataset.get(f) or "").strip())) for f in FIELDS}


@dataclass
class Conventions:
    """Counts of identifier shapes per field, with the lengths seen for each shape."""

    units: int = 0
    fields: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # field -> shape -> [count, min, max]

    def add(self, shapes: dict[str, tuple[str, int]]) -> None:
        if not shapes:
            return
        self.units += 1
        for f, (s, n) in shapes.items():
            entry = self.fields.setdefault(f, {}).setdefault(s, [0, n, n])
            entry[0] += 1
            entry[1], entry[2] = min(entry[1], n), max(entry[2], n)

    def chance_of_new(self, f: str) -> float:
        """Good-Turing probability that the next unit shows a shape of ``f`` not seen in training."""
        seen = self.fields.get(f, {})
        total = sum(c for c, _, _ in seen.values())
        once = sum(1 for c, _, _ in seen.values() if c == 1)
        return (once + 1) / (total + 1)

    def check(self, dataset: Any) -> tuple[float, list[str]]:
        """Surprise (0: nothing unusual, 1: 1% rare, more beyond) and evidence sentences for one image's identifiers."""
        if self.units < MIN_UNITS:
            return 0.0, []
        worst, lines = 0.0, []
        for f, (s, n) in shapes_of(dataset).items():
            seen = self.fields.get(f, {})
            if s in seen:
                continue
            p = self.chance_of_new(f)
            surprise = max(0.0, float(np.log(NEUTRAL_CHANCE / p) / np.log(NEUTRAL_CHANCE / RARE_CHANCE)))
            if surprise <= 0.0:
                continue
            common = ", ".join(f"'{k}'" for k, _ in Counter({k: v[0] for k, v in seen.items()}).most_common(3))
            worst = max(worst, surprise)
            lines.append(f"{f} has the shape '{s}' ({n} characters), never seen at this site: its {self.units} "
                         f"training images or series show {common or 'none'} (chance of a new shape {p:.3f})")
        return worst, lines

    def to_meta(self) -> dict[str, Any]:
        return {"units": self.units, "fields": self.fields}

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Conventions:
        fields = {str(f): {str(s): [int(v) for v in e][:3] for s, e in shapes.items()}
                  for f, shapes in dict(meta.get("fields", {})).items()}
        for shapes in fields.values():
            for s, e in shapes.items():
                if len(e) != 3 or min(e) < 0:
                    raise ValueError(f"bad convention entry for shape {s!r}")
        return cls(int(meta.get("units", 0)), fields)
