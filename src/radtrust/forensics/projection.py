"""Series whose slices are a sliding projection (a MIP or MinIP slab moved one slice at a time), told from the pixels.

Consoles and PACS viewers save such series beside the thin slices: a maximum-intensity projection for vessels and
nodules, a minimum-intensity one for airways. Each slice is the maximum (or minimum) of a slab of acquired slices, and
the slab moves by one slice, so neighbouring slices share most of their slab: wherever the extreme lies in the shared
part, a voxel repeats its neighbour's value exactly. The noise of one such slice is not a reconstruction's: a maximum
of several noisy values is quieter and skewed, and the slice switches between source slices from pixel to pixel. The
detectors that read one slice's noise (noise-free, noise-residual, region-comb) then see regions too quiet or too
rough, and a slice judged alone was flagged (`scripts/ct_benign_check.py`: 4 of 12 MIP stretches, each from single
slices; the series judged in 3D found nothing). A series told to be a projection therefore settles those detectors'
slices (``Finding.slices``): each slice takes its share of what the series analysis found.

The test is the pixels', not the header's (a header's ``ImageType`` DERIVED and ``DerivationDescription`` are not
needed, and NIfTI volumes carry neither): among voxels of tissue (above -950 HU in both slices), the share that equals
the same voxel of the next slice, against the share that equals its in-plane neighbour. Measured on the four CT sources
of ``../shared/data`` (median over neighbouring slice pairs): acquired slices 0.010-0.032 (in-plane about as often);
sliding projections of 3 slices 0.17-0.42 (MinIP of the Philips phantom's uniform inserts the lowest), of 8 slices
0.66-0.68; slabs averaged over 3 slices 0.011-0.056 (an average repeats no value: judged as acquired slices). A
series smoothed throughout repeats in-plane as much as along z and is not a projection. Only the noise readers
change: noise-free and region-comb judge such a series in 3D as any other, noise-residual not at all (the maximum of
a slab is quieter where the slab agrees, whatever the intensity); duplicated-noise, patch-fill and the header judge
its slices alone too. A multi-frame CT image holding a projection (an Enhanced CT, a NIfTI volume) is judged the
same way by those detectors' own checks.
"""

from __future__ import annotations

import weakref
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from radtrust.forensics.detectors.base import SHARE

if TYPE_CHECKING:
    from radtrust.forensics.detectors.base import Finding

TISSUE = -950.0  # HU: air and lung parenchyma below it repeat by clipping and rounding, not by projection
MIN_SHARE = 0.10  # median share of tissue voxels equal to the next slice's (acquired series: at most 0.032)
MIN_RATIO = 3.0  # ... and this many times the share equal to the in-plane neighbour (smooth series: about 1)
MIN_VOXELS = 1000  # tissue voxels a slice pair needs to count


def sliding_projection(volume: np.ndarray) -> str | None:
    """A sentence saying the slices of ``volume`` (slices, rows, cols, in HU) are a sliding projection, or None."""
    if volume.ndim != 3 or volume.shape[0] < 3:
        return None
    along, inplane = [], []
    for a, b in zip(volume[:-1], volume[1:]):
        m = (a > TISSUE) & (b > TISSUE)
        if int(m.sum()) < MIN_VOXELS:
            continue
        along.append(float(np.mean(a[m] == b[m])))
        h = m[:, 1:] & m[:, :-1]
        inplane.append(float(np.mean(a[:, 1:][h] == a[:, :-1][h])) if h.any() else 0.0)
    if len(along) < 2:
        return None
    z_share, xy_share = float(np.median(along)), float(np.median(inplane))
    if z_share < MIN_SHARE or z_share < MIN_RATIO * xy_share:
        return None
    return (f"slices form a sliding projection (a MIP or MinIP slab moved slice by slice): {z_share:.0%} of tissue "
            f"voxels repeat the next slice's value, {xy_share:.0%} their in-plane neighbour's; the noise of one slice "
            "is judged with the series")


_SERIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Series -> its sentence or None, while it lives


def of_series(series) -> str | None:  # noqa: ANN001 - radtrust.io.Series
    """:func:`sliding_projection` of a stackable CT series, computed once per series object (three detectors ask)."""
    if series not in _SERIES:
        ct = (series.modality or "").upper() == "CT" and series.is_volume()
        _SERIES[series] = sliding_projection(series.volume()) if ct else None
    return _SERIES[series]


def settled(found: Finding, series) -> Finding:  # noqa: ANN001 - radtrust.io.Series
    """A detector's series finding; for a sliding projection, marked to settle the series' slices and saying why."""
    if projection := of_series(series):
        return replace(found, evidence=(*found.evidence, projection), slices=SHARE)
    return found
