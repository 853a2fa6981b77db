"""Metadata-only forgeries: the pixels stay byte-identical, header elements change.

- **identity swap**: PatientName, PatientID, PatientBirthDate and PatientSex replaced by another
  (synthetic or donor) identity, as when an image is filed under the wrong patient on purpose;
- **date change**: Study/Series/Acquisition/Content dates moved by days to years;
- **KVP change**: the tube voltage rewritten to another plausible value.

The mask of a metadata edit is all False: nothing in the pixels changed.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import numpy as np

from radtrust.errors import NotApplicable
from radtrust.simulation.target import Tampered, Target

DATE_KEYWORDS = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")
FAMILY = ("HOLM", "OKAFOR", "TANAKA", "SILVA", "NOWAK", "MEYER", "KHAN", "ROSSI", "LARSEN", "DUBOIS")
GIVEN = ("ANNA", "JONAS", "MEI", "CARLOS", "ZOFIA", "LEA", "OMAR", "GIULIA", "ERIK", "CLAIRE")


def _copy(target: Target) -> list[Any]:
    return [copy.deepcopy(ds) for ds in target.datasets]


def _result(target: Target, datasets: list[Any], method: str, params: dict[str, Any]) -> Tampered:
    return Tampered(pixels=target.pixels.copy(), mask=np.zeros(target.pixels.shape, dtype=bool),
                    datasets=tuple(datasets), method=method, params=params)


def identity_swap(target: Target, rng: np.random.Generator, *, donor: Target | None = None, **_: Any) -> Tampered:
    """Replace the patient identity in every header of the image or series."""
    if donor is not None:
        src = donor.datasets[0]
        ident = {k: src.get(k, "") for k in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")}
    else:
        birth = dt.date(1930, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 75)))
        ident = {"PatientName": f"{rng.choice(FAMILY)}^{rng.choice(GIVEN)}",
                 "PatientID": f"P{int(rng.integers(10**6, 10**7))}",
                 "PatientBirthDate": birth.strftime("%Y%m%d"), "PatientSex": str(rng.choice(["F", "M"]))}
    out = _copy(target)
    before = {k: str(out[0].get(k, "")) for k in ident}
    for ds in out:
        for k, v in ident.items():
            setattr(ds, k, v)
    return _result(target, out, "meta-identity-swap", {"before": before, "after": {k: str(v) for k, v in ident.items()}})


def date_change(target: Target, rng: np.random.Generator, **_: Any) -> Tampered:
    """Move every date of the header by the same random number of days (1 day to 10 years, either way)."""
    out = _copy(target)
    present = [k for k in DATE_KEYWORDS if out[0].get(k)]
    if not present:
        raise NotApplicable("the header has no dates to change")
    days = int(rng.integers(1, 3650)) * (1 if rng.random() < 0.5 else -1)
    for ds in out:
        for k in present:
            try:
                d = dt.datetime.strptime(str(ds.get(k))[:8], "%Y%m%d").date()
            except ValueError:
                continue
            setattr(ds, k, (d + dt.timedelta(days=days)).strftime("%Y%m%d"))
    return _result(target, out, "meta-date-change", {"days": days, "elements": present})


def kvp_change(target: Target, rng: np.random.Generator, **_: Any) -> Tampered:
    """Rewrite KVP to another plausible tube voltage."""
    out = _copy(target)
    if out[0].get("KVP") in (None, ""):
        raise NotApplicable("the header has no KVP")
    old = float(out[0].KVP)
    choices = [v for v in ((80, 100, 120, 140) if target.modality == "CT" else (60, 70, 81, 90, 102, 117, 125, 150))
               if abs(v - old) >= 10]
    new = float(rng.choice(choices))
    for ds in out:
        ds.KVP = f"{new:g}"
    return _result(target, out, "meta-kvp-change", {"before": old, "after": new})
