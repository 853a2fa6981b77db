"""Copies that disagree: one instance found twice in a scan, with different pixels or a different header.

An archive often holds an image more than once: the PACS copy and the one in a vendor-neutral archive, a
backup, the copy a study was exported with, the file a gateway received twice. A copy keeps its
SOPInstanceUID. Two files with the same SOPInstanceUID are the same acquisition, and they may legitimately
differ only in how they are encoded (transfer syntax, rescale, a lossy codec's error) or in what a recorded
de-identification removed. When one region of the pixels differs, or the patient, the dates or the
acquisition parameters do, one of the two files was altered after the fact: whatever tool made the edit,
and whether or not any detector sees it in either file alone. This is the comparison a PACS team makes by
hand when two copies of a study disagree; ``radtrust scan`` makes it for every instance it finds twice.

Which copy is the original cannot be told from the two files (both are flagged ``suspicious``, and the
differing region is marked in both heatmaps), except when one carries a valid, trusted signature: then the
other is ``tampered``. What is compared:

- **pixels**, in modality units (so a re-encoding, or a changed rescale giving the same Hounsfield units,
  is no difference). When most pixels differ and one linear map of the values explains them up to a codec's
  error (a lossy codec, another bit depth), the copy was converted as a whole: reported, not an alteration,
  unless a region stands apart from that map (an edit made before or after the conversion). When few
  pixels differ, they are an edit;
- **the matrix**: a copy resized or cropped under the same UID (a copy holding some of the other's frames,
  unchanged or converted as a whole, is a frame extract, as toolkits make them: reported, not an alteration);
- **header attributes a copy keeps** (:data:`KEPT`): the patient, the dates and times, the scanner and the
  acquisition parameters, geometry. Patient attributes are named, their values never printed (they are
  identifiers); technical values are. When either file records a de-identification (PatientIdentityRemoved
  YES, a De-identification Method), the patient attributes, dates and times are not compared.

Copies are found within one scan task, which holds every file of one SeriesInstanceUID, every task that shares
a SOPInstanceUID with it, and a small series that shares a slice position with it (``plan_groups``): copies
wherever they lie in the scanned folders, whatever their series UID. A copy given a new SOPInstanceUID, in its own
series or in a new one (an edited slice saved as a new series, as a workstation does), is found when it kept its
frame of reference (or study), position, orientation and matrix and most of its pixels (all but 20% of the 16 x 16
blocks identical: two acquisitions, or two reconstructions of one, differ in every block they image). Across
series the series' own attributes (UID, date, time) are not compared. A copy converted as a whole under a new
UID is another image to this check. Two series too long to share a task are compared slice by slice across tasks,
by digest (:mod:`radtrust.forensics.refiled`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
from scipy import ndimage

from radtrust.forensics.planning import Place, slice_place
from radtrust.io import Image
from radtrust.io.compare import WHOLE_FRACTION, block_means, pixel_relation

PATIENT = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "OtherPatientIDs", "IssuerOfPatientID")
DATES = ("StudyDate", "StudyTime", "SeriesDate", "SeriesTime", "AcquisitionDate", "AcquisitionTime",
         "AcquisitionDateTime", "ContentDate", "ContentTime", "PatientAge")
TECHNICAL = ("StudyInstanceUID", "SeriesInstanceUID", "Modality", "Manufacturer", "ManufacturerModelName",
             "DeviceSerialNumber", "KVP", "XRayTubeCurrent", "ExposureTime", "Exposure", "ExposureInuAs",
             "ConvolutionKernel", "SliceThickness", "PixelSpacing", "ImagerPixelSpacing", "ImagePositionPatient",
             "ImageOrientationPatient", "BodyPartExamined", "ViewPosition", "Laterality", "ImageLaterality",
             "ExposureIndex", "CTDIvol")
KEPT = PATIENT + DATES + TECHNICAL


@dataclass
class CopyFinding:
    """What the comparison found for one file: sentences, the differing region, whether a copy is signed."""

    evidence: list[str] = field(default_factory=list)
    heatmap: np.ndarray | None = None
    altered: bool = False  # a difference no re-encoding or frame extraction explains
    others: list[int] = field(default_factory=list)  # indices of the copies that differ so
    other_signed: bool = False  # one of them carries a valid, trusted signature (set by the caller)


def deidentified(ds: Any) -> bool:
    if ds is None:
        return False
    return (str(ds.get("PatientIdentityRemoved", "") or "").upper() == "YES" or "DeidentificationMethod" in ds
            or "DeidentificationMethodCodeSequence" in ds)


NUMERIC_VRS = frozenset({"DS", "IS", "FD", "FL", "US", "UL", "SS", "SL", "SV", "UV"})


def attribute_text(ds: Any, keyword: str) -> str:
    """The attribute as text to compare: numbers by value ("120" and "120.0" agree), everything else verbatim."""
    elem = ds.data_element(keyword) if ds is not None and keyword in ds else None
    if elem is None or elem.value is None:
        return ""
    values = list(elem.value) if elem.VM > 1 else [elem.value]
    numeric = elem.VR in NUMERIC_VRS
    return "\\".join(_number(v) if numeric else str(v).strip() for v in values)


def _number(value: Any) -> str:
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        return str(value).strip()
    return format(d.normalize(), "f")


def header_differences(a: Image, b: Image, *, ignore: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """(patient and date attributes that differ, technical differences as 'KEYWORD x vs y'); ``ignore``: keywords
    not compared."""
    return dataset_differences(a.dataset, b.dataset, ignore=ignore)


def dataset_differences(da: Any, db: Any, *, ignore: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """:func:`header_differences` of two pydicom datasets (either may be None: nothing to compare)."""
    skip_identity = deidentified(da) or deidentified(db)
    named: list[str] = []
    technical: list[str] = []
    for keyword in KEPT:
        if keyword in ignore or (skip_identity and keyword in PATIENT + DATES):
            continue
        va, vb = attribute_text(da, keyword), attribute_text(db, keyword)
        if va == vb or not va or not vb:  # an attribute one copy lacks is not a contradiction
            continue
        if keyword in PATIENT:
            named.append(keyword)
        elif keyword in DATES:
            named.append(f"{keyword} {va} vs {vb}")
        else:
            technical.append(f"{keyword} {va} vs {vb}")
    return named, technical


def _frames(p: np.ndarray, image: Image) -> np.ndarray:  # colour is already luminance here
    return p if image.is_3d else p[None]


def pixel_difference(a: Image, b: Image) -> tuple[str | None, np.ndarray | None, bool]:
    """How the copies' pixels differ: (a sentence, or None when they are the same; the mask of the region that
    differs when the matrices agree; whether the difference means an alteration).

    Differences throughout the image with no block apart (a lossy codec, another bit depth, a resampling) and a copy
    holding some of the other's frames (a frame extracted under the same UID, as toolkits do) are reported but
    are not alterations; a region that differs beyond them is."""
    pa, pb = np.asarray(a.pixels), np.asarray(b.pixels)
    if pa.shape != pb.shape:
        fa, fb = _frames(pa, a), _frames(pb, b)
        small, large = (fa, fb) if len(fa) <= len(fb) else (fb, fa)
        if small.shape[1:] == large.shape[1:]:
            order = ("same", "throughout", "local").index
            kinds = [min((pixel_relation(f, g)[0] for g in large), key=order) for f in small]
            if "local" not in kinds:
                how = "unchanged" if set(kinds) == {"same"} else "converted as a whole"
                return f"one holds {len(small)} of the other's {len(large)} frames, {how}", None, False
        return f"the matrices differ ({'x'.join(map(str, pa.shape))} and {'x'.join(map(str, pb.shape))})", None, True
    kind, mask = pixel_relation(pa, pb)
    if kind == "same":
        return None, None, False
    if kind == "throughout":
        return ("the pixels differ throughout, as a conversion of the whole image leaves them (a lossy codec, another "
                "bit depth, a resampling), with no region apart"), None, False
    assert mask is not None
    idx = np.argwhere(mask)
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    axes = ("frame", "rows", "cols")[-pa.ndim:]
    where = ", ".join(f"{n} {int(l)}-{int(h)}" for n, l, h in zip(axes, lo, hi, strict=True))
    delta = float(np.max(np.abs(pa[mask].astype(np.float64) - pb[mask].astype(np.float64))))
    whole = " on top of a change throughout" if bool((mask != (pa != pb)).any()) else ""
    n = int(mask.sum())
    return (f"{n} pixel{'s differ' if n != 1 else ' differs'}{whole} ({100 * float(mask.mean()):.2g}% of the image, "
            f"at {where}; largest difference {delta:g})"), mask, True


def compare_copies(images: Sequence[Image]) -> dict[int, CopyFinding]:
    """Findings keyed by index into ``images`` for every file that has a copy among them that differs.

    Each copy that differs in a way that means an alteration gets a sentence of its own; copies that differ
    only as re-encodings, conversions or frame extracts are summed up in one sentence."""
    by_uid: dict[str, list[int]] = defaultdict(list)
    by_place: dict[Place, list[int]] = defaultdict(list)
    for i, im in enumerate(images):
        if im.sop_instance_uid:
            by_uid[im.sop_instance_uid].append(i)
        place = slice_place(im.dataset) if im.dataset is not None else None  # as the scan's planner places it
        if place is not None:
            by_place[place].append(i)
    benign: dict[int, list[tuple[int, str]]] = defaultdict(list)
    out: dict[int, CopyFinding] = {}
    for members in by_uid.values():
        for k, i in enumerate(members):
            for j in members[k + 1 :]:
                _compare(images, i, j, out, benign)
    for members in by_place.values():  # an edited copy saved under a new SOPInstanceUID (and maybe a new series)
        for k, i in enumerate(members):
            for j in members[k + 1 :]:
                if images[i].sop_instance_uid != images[j].sop_instance_uid and _mostly_identical(images[i], images[j]):
                    _compare(images, i, j, out, benign, renamed=True)
    for i, notes in benign.items():
        f = out.setdefault(i, CopyFinding())
        uid = images[i].sop_instance_uid
        if len(notes) == 1:
            j, what = notes[0]
            f.evidence.append(f"copies: {images[j].path} is the same instance (SOPInstanceUID {uid}); {what}: "
                              "not an alteration")
        else:
            f.evidence.append(f"copies: {len(notes)} other files are the same instance (SOPInstanceUID {uid}), "
                              "re-encoded, converted as a whole or holding some of its frames: not an alteration")
    return out


SERIES_OWN = ("SeriesInstanceUID", "SeriesDate", "SeriesTime")  # what a copy filed in another series changes


def _mostly_identical(a: Image, b: Image) -> bool:
    """Two slices at one place are one acquisition under two UIDs when their pixels are identical in
    all but :data:`~radtrust.io.compare.WHOLE_FRACTION` of the 16 x 16 blocks: two acquisitions differ in every
    block they image (noise), an edited copy only where it was edited."""
    pa, pb = np.asarray(a.pixels), np.asarray(b.pixels)
    if pa.shape != pb.shape:
        return False
    if np.count_nonzero(pa[..., ::16, ::16] != pb[..., ::16, ::16]) > 0.5 * pa[..., ::16, ::16].size:
        return False  # two acquisitions (a perfusion series repeats its positions): most sampled pixels differ
    touched = block_means(pa != pb) > 0
    return touched.size > 0 and float(touched.mean()) <= WHOLE_FRACTION


def _compare(images: Sequence[Image], i: int, j: int, out: dict[int, CopyFinding],
             benign: dict[int, list[tuple[int, str]]], *, renamed: bool = False) -> None:
    a, b = images[i], images[j]
    pixels, mask, changed = pixel_difference(a, b)
    refiled = renamed and a.series_instance_uid != b.series_instance_uid
    named, technical = header_differences(a, b, ignore=SERIES_OWN if refiled else ())
    if not changed and not named and not technical:
        if pixels is not None:
            benign[i].append((j, pixels))
            benign[j].append((i, pixels))
        elif renamed:  # the same pixels and header under a new SOPInstanceUID: a copy a toolkit re-minted
            for here, there in ((i, j), (j, i)):
                out.setdefault(here, CopyFinding()).evidence.append(
                    f"copies: {images[there].path} holds the same pixels and header under another SOPInstanceUID "
                    f"({images[there].sop_instance_uid}{_series_note(images[there]) if refiled else ''}): a copy, "
                    "not an alteration")
        return
    parts = ([f"pixels: {pixels}"] if pixels else []) + ([f"{', '.join(named)} differ"] if named else []) + technical
    heat = None
    if mask is not None:
        grown = ndimage.binary_dilation(mask, iterations=2) if mask.ndim == 2 else mask
        heat = grown.astype(np.float32)
    for here, there in ((i, j), (j, i)):
        f = out.setdefault(here, CopyFinding())
        same = (f"is this image under another SOPInstanceUID ({images[there].sop_instance_uid}"
                f"{_series_note(images[there]) if refiled else ''}: same "
                f"{'frame of reference' if refiled else 'series'}, position and orientation, the same pixels in "
                "most of the image)" if renamed else
                f"is the same instance (SOPInstanceUID {images[here].sop_instance_uid})")
        f.evidence.append(f"copies: {images[there].path} {same} but differs: {'; '.join(parts)}; one of the two was "
                          "altered")
        f.altered = True
        f.others.append(there)
        if heat is not None:
            f.heatmap = heat if f.heatmap is None else np.maximum(f.heatmap, heat)


def _series_note(image: Image) -> str:
    return f" in series {image.series_instance_uid}" if image.series_instance_uid else " in no series"
