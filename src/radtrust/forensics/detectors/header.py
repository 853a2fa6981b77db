"""Header and series forensics: what the DICOM header says against itself, the pixels and its series.

Checks (each gives a severity in [0, 1] and a sentence; the score is their noisy-OR):

* UID roots (PS3.5 §9: a UID starts with the root of the organisation that minted it) against the
  Manufacturer: a Siemens image whose SOP Instance or Series Instance UID carries GE's root was not written by
  the scanner. Not the Study Instance UID: in a scheduled workflow the RIS or PACS mints it and the modality
  takes it from the worklist (IHE Scheduled Workflow), so a Siemens study with an Agfa study UID is routine.
  Toolkit roots (DCMTK, pydicom, GDCM...) are reported as low-severity evidence: anonymisers use them too.
* Dates and times (PS3.3 C.7.2.1, C.7.6.1, C.8.x): birth after the study, dates in the future (``now=``),
  content before acquisition, study/acquisition/content dates days apart, PatientAge against the birth date.
* ImageType DERIVED without DerivationDescription, Derivation Code or Source Image Sequence (PS3.3 C.7.6.1.1.2).
* Known image-editing software in SoftwareVersions, ImplementationVersionName and contributing equipment.
* Pixel data against the header: extra bytes after the declared frames, stored values outside BitsStored,
  HighBit and BitsAllocated inconsistent with BitsStored.
* Series (3D): geometry gaps, duplicated positions and mixed geometry (:attr:`radtrust.io.Series.problems`),
  mixed manufacturer, model, device serial, kernel, kVp, patient, study or frame of reference, duplicated
  instance numbers.

No noise model is involved; the checks are rules from the DICOM standard and from scanner practice, so
they transfer to unseen tampering methods whenever the attacker forgets the header.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import numpy as np

from radtrust.errors import NotApplicable
from radtrust.forensics.detectors.base import Detector, Finding, Scope
from radtrust.io.dicom import modality_of, not_hounsfield, rescale_type

# Roots of organisations that mint UIDs (from vendor conformance statements and toolkit sources).
VENDOR_ROOTS: dict[str, tuple[str, ...]] = {
    "siemens": ("1.3.12.2.1107.5.",),
    "ge": ("1.2.840.113619.",),
    "philips": ("1.3.46.670589.", "1.2.840.113704."),
    "toshiba": ("1.2.392.200036.9116.",),
    "canon": ("1.2.392.200036.9116.",),
    "fuji": ("1.2.392.200036.9125.",),
    "agfa": ("1.2.124.113532.", "1.3.51."),
    "carestream": ("1.2.840.113564.", "1.3.6.1.4.1.22213."),
    "kodak": ("1.2.840.113564.",),
    "hologic": ("1.2.840.113681.",),
    "samsung": ("1.2.410.200001.",),
}
TOOLKIT_ROOTS: dict[str, str] = {
    "1.2.276.0.7230010.3.": "DCMTK", "1.2.826.0.1.3680043.8.498.": "pydicom", "1.2.826.0.1.3680043.2.1143.": "GDCM",
    "1.2.826.0.1.3680043.9.4245.": "Aliza", "1.2.40.0.13.1.": "dcm4che", "1.3.6.1.4.1.5962.": "dicom3tools/dctool",
    "2.25.": "a UUID-derived UID (any software)", "1.2.826.0.1.3680043.10.": "a generic registry root",
}
# Image editors and manipulation tools (not DICOM toolkits, which anonymisers and PACS use every day).
EDITORS = ("photoshop", "gimp", "imagej", "fiji", "paint.net", "mspaint", "pixelmator", "affinity", "krita",
           "ct-gan", "ctgan", "deepfake", "inpaint", "dicom editor", "dicomedit", "sante dicom editor")
TOOLKITS = ("pydicom", "dcmtk", "offis", "gdcm", "dcm4che", "aliza", "orthanc", "dctool", "fo-dicom", "highdicom")


def _vendor(manufacturer: str | None) -> str | None:
    m = (manufacturer or "").lower()
    for key in VENDOR_ROOTS:
        if key in m or (key == "ge" and m.startswith("ge ")):
            return key
    return None


def _date(value: Any) -> dt.date | None | str:
    """A DA value as a date, None when empty, the string 'bad' when unparsable."""
    s = str(value or "").strip()
    if not s:
        return None
    try:
        return dt.date(int(s[0:4]), int(s[4:6]), int(s[6:8])) if len(s) == 8 and s.isdigit() else "bad"
    except ValueError:
        return "bad"


def _datetime(date: Any, time: Any) -> dt.datetime | None:
    d = _date(date)
    t = str(time or "").strip().split(".")[0]
    if not isinstance(d, dt.date) or len(t) < 2 or not t.isdigit() or t == "000000":
        return None
    t = (t + "0000")[:6]
    try:
        return dt.datetime(d.year, d.month, d.day, int(t[0:2]), int(t[2:4]), int(t[4:6]))
    except ValueError:
        return None


class HeaderForensics(Detector):
    """Header and series consistency checks. ``now`` fixes "today" for the future-date check (tests)."""

    name = "header"
    version = "1"
    scope = Scope(needs_header=True)

    def __init__(self, now: dt.date | None = None) -> None:
        self.now = now

    # ---------------------------------------------------------------------------------------------- instance
    def checks(self, image: Any) -> list[tuple[float, str]]:
        ds = image.require_dataset("header forensics")
        out: list[tuple[float, str]] = []
        out += self._uid_roots(ds, image)
        out += self._dates(ds)
        out += self._derived(ds)
        out += self._software(ds)
        out += self._pixel_layout(ds, image)
        out += self._modality(ds)
        out += self._rescale_type(ds, image)
        return out

    @staticmethod
    def _rescale_type(ds: Any, image: Any) -> list[tuple[float, str]]:
        """A CT whose Rescale Type says its values are not Hounsfield units while they are CT numbers (air near
        -1000, water near 0): a derived map never looks like that, and the claim would turn the CT checks off (they
        judge the values instead, :func:`radtrust.io.dicom.not_hounsfield`)."""
        kind = rescale_type(ds)
        if (image.modality or "").upper() != "CT" or kind in ("", "HU") or not_hounsfield(ds, image.pixels):
            return []
        return [(0.5, f"Rescale Type {kind} says the values are not Hounsfield units, but they are CT numbers (air "
                      "near -1000 HU, water near 0): a claim that would turn the CT checks off")]

    @staticmethod
    def _modality(ds: Any) -> list[tuple[float, str]]:
        """Modality (0008,0060) is Type 1 in every image IOD: a file without it was stripped or written by a
        non-conformant tool; a CT image storage object labelled another modality was relabelled. Either would turn
        the modality's own checks off; the reader takes the modality from the SOP class instead
        (:func:`radtrust.io.dicom.modality_of`), and the header is reported."""
        stated = str(ds.get("Modality", "") or "").strip()
        if not stated:
            return [(0.3, "Modality (0008,0060), Type 1 in every image IOD, is absent or empty: removed from the file "
                          "or written by a non-conformant tool")]
        _, contradiction = modality_of(ds)
        return [(0.5, contradiction)] if contradiction else []

    def _uid_roots(self, ds: Any, image: Any) -> list[tuple[float, str]]:
        out: list[tuple[float, str]] = []
        vendor = _vendor(image.acquisition.manufacturer)
        for kw in ("SOPInstanceUID", "SeriesInstanceUID"):
            uid = str(ds.get(kw, "") or "")
            if not uid:
                continue
            owner = next((v for v, roots in VENDOR_ROOTS.items() if uid.startswith(roots)), None)
            if vendor and owner and owner != vendor and not uid.startswith(VENDOR_ROOTS[vendor]):
                out.append((0.6, f"{kw} has the UID root of {owner.upper()} but Manufacturer is "
                                 f"{image.acquisition.manufacturer!r}"))
            elif kw == "SOPInstanceUID":
                tool = next((name for root, name in TOOLKIT_ROOTS.items() if uid.startswith(root)), None)
                if tool:
                    out.append((0.05, f"SOPInstanceUID was minted by {tool}, not by the scanner (re-written file)"))
        return out

    def _dates(self, ds: Any) -> list[tuple[float, str]]:
        out: list[tuple[float, str]] = []
        today = self.now or dt.date.today()
        named = {kw: _date(ds.get(kw)) for kw in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate",
                                                   "PatientBirthDate")}
        for kw, d in named.items():
            if d == "bad":
                out.append((0.3, f"{kw} {ds.get(kw)!r} is not a valid date"))
            elif isinstance(d, dt.date) and d > today + dt.timedelta(days=1):
                out.append((0.6, f"{kw} {d.isoformat()} is in the future"))
        dates = {k: v for k, v in named.items() if isinstance(v, dt.date)}
        birth = dates.pop("PatientBirthDate", None)
        if birth is not None:
            for kw, d in dates.items():
                if d < birth:
                    out.append((0.7, f"{kw} {d.isoformat()} is before PatientBirthDate {birth.isoformat()}"))
                    break
            age = str(ds.get("PatientAge", "") or "")
            ref = dates.get("StudyDate") or dates.get("AcquisitionDate")
            if ref is not None and len(age) == 4 and age[:3].isdigit() and age[3] == "Y":
                actual = (ref - birth).days / 365.25
                if abs(actual - int(age[:3])) > 1.5:
                    out.append((0.5, f"PatientAge {age} disagrees with the birth date ({actual:.1f} years at the study)"))
        out += self._companion_dates(ds, dates)
        acq, content, study = dates.get("AcquisitionDate"), dates.get("ContentDate"), dates.get("StudyDate")
        if acq and content and content < acq:
            out.append((0.5, f"ContentDate {content.isoformat()} is before AcquisitionDate {acq.isoformat()}"))
        elif content and study and content < study - dt.timedelta(days=1):
            out.append((0.3, f"ContentDate {content.isoformat()} is before StudyDate {study.isoformat()}"))
        elif dates:
            spread = (max(dates.values()) - min(dates.values())).days
            if spread > 2:
                out.append((0.25, f"study, series, acquisition and content dates span {spread} days"))
        a_dt = _datetime(ds.get("AcquisitionDate"), ds.get("AcquisitionTime"))
        c_dt = _datetime(ds.get("ContentDate"), ds.get("ContentTime"))
        if a_dt and c_dt and a_dt - c_dt > dt.timedelta(hours=1):
            out.append((0.4, f"acquisition ({a_dt.isoformat()}) is after the content was created ({c_dt.isoformat()})"))
        return out

    @staticmethod
    def _companion_dates(ds: Any, dates: dict[str, Any]) -> list[tuple[float, str]]:
        """Dates an editor tends to forget: AcquisitionDateTime, InstanceCreationDate, the procedure step start
        and the last calibration, against the study/acquisition dates they must agree with."""
        out: list[tuple[float, str]] = []
        acq = dates.get("AcquisitionDate")
        adt = str(ds.get("AcquisitionDateTime", "") or "")[:8]
        adt_date = _date(adt) if adt else None
        if isinstance(adt_date, dt.date) and acq and adt_date != acq:
            out.append((0.6, f"AcquisitionDateTime says {adt_date.isoformat()} but AcquisitionDate {acq.isoformat()}"))
        main = [d for k, d in dates.items() if k in ("StudyDate", "AcquisitionDate", "ContentDate")]
        if not main:
            return out
        first, last = min(main), max(main)
        for kw in ("InstanceCreationDate", "PerformedProcedureStepStartDate"):
            d = _date(ds.get(kw))
            if isinstance(d, dt.date) and d < first - dt.timedelta(days=2):
                out.append((0.5, f"{kw} {d.isoformat()} is before the study ({first.isoformat()})"))
            elif isinstance(d, dt.date) and d > last + dt.timedelta(days=366):
                # a re-export or archive migration writes new instances years later: weak on its own
                sev = 0.2 if kw == "InstanceCreationDate" else 0.5
                out.append((sev, f"{kw} {d.isoformat()} is far from the study ({first.isoformat()})"))
        cal = _date(ds.get("DateOfLastCalibration"))
        if isinstance(cal, dt.date) and cal > last + dt.timedelta(days=1):
            out.append((0.5, f"DateOfLastCalibration {cal.isoformat()} is after the acquisition ({last.isoformat()})"))
        return out

    def _derived(self, ds: Any) -> list[tuple[float, str]]:
        image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
        if image_type and image_type[0] == "DERIVED":
            if not any(kw in ds for kw in ("DerivationDescription", "DerivationCodeSequence", "SourceImageSequence")):
                return [(0.2, "ImageType is DERIVED but no DerivationDescription, Derivation Code or Source Image "
                              "Sequence says how")]
        return []

    def _software(self, ds: Any) -> list[tuple[float, str]]:
        texts: list[str] = []
        for kw in ("SoftwareVersions", "DerivationDescription", "SecondaryCaptureDeviceManufacturer",
                   "SecondaryCaptureDeviceSoftwareVersions", "ImageComments"):
            if ds.get(kw):
                texts.append(str(ds.get(kw)))
        meta = getattr(ds, "file_meta", None)
        if meta is not None and meta.get("ImplementationVersionName"):
            texts.append(str(meta.get("ImplementationVersionName")))
        for item in ds.get("ContributingEquipmentSequence") or []:
            texts.extend(str(item.get(kw, "")) for kw in ("Manufacturer", "ManufacturerModelName", "SoftwareVersions"))
        blob = " | ".join(texts).lower()
        out = [(0.6, f"written or edited by image-editing software ({e})") for e in EDITORS if e in blob]
        return out[:1]

    def _pixel_layout(self, ds: Any, image: Any) -> list[tuple[float, str]]:
        out: list[tuple[float, str]] = []
        try:
            bits_alloc, bits_stored = int(ds.get("BitsAllocated", 0)), int(ds.get("BitsStored", 0))
            high_bit = ds.get("HighBit")
        except (TypeError, ValueError):
            return [(0.3, "BitsAllocated/BitsStored are not integers")]
        if bits_stored > bits_alloc > 0:
            out.append((0.5, f"BitsStored {bits_stored} exceeds BitsAllocated {bits_alloc}"))
        if high_bit is not None and bits_stored and int(high_bit) != bits_stored - 1:
            out.append((0.3, f"HighBit {high_bit} is not BitsStored - 1 ({bits_stored - 1})"))
        meta = getattr(ds, "file_meta", None)
        ts = meta.get("TransferSyntaxUID") if meta is not None else None
        if "PixelData" in ds and ts is not None and not ts.is_compressed and bits_alloc:
            frames = int(ds.get("NumberOfFrames", 1) or 1)
            need = frames * int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1)) * bits_alloc // 8
            have = len(ds.PixelData)
            if have > need + 1:
                out.append((0.6, f"Pixel Data holds {have - need} bytes more than the header's {need}"))
        if image.rescale is not None and bits_stored and 0 < bits_stored < 32 and image.rescale[0]:
            slope, intercept = image.rescale
            stored = (image.pixels - intercept) / slope
            signed = int(ds.get("PixelRepresentation", 0)) == 1
            lo, hi = (-(2 ** (bits_stored - 1)), 2 ** (bits_stored - 1) - 1) if signed else (0, 2 ** bits_stored - 1)
            smin, smax = float(np.min(stored)), float(np.max(stored))
            if smin < lo - 0.5 or smax > hi + 0.5:
                out.append((0.7, f"stored values {smin:.0f}..{smax:.0f} exceed the {bits_stored}-bit range the header "
                                 f"declares ({lo}..{hi})"))
        return out

    def run(self, image: Any) -> Finding:
        return _finding(self.checks(image))

    # ---------------------------------------------------------------------------------------------- series
    def series_checks(self, series: Any) -> list[tuple[float, str]]:
        return [(sev, text) for sev, text, _ in self.located_series_checks(series)]

    def located_series_checks(self, series: Any) -> list[tuple[float, str, frozenset[int] | None]]:
        """(severity, sentence, the instances it implicates: indices into the series, None for all of them)."""
        out: list[tuple[float, str, frozenset[int] | None]] = []
        volume = (series.modality or "").upper() == "CT"
        twice = _duplicated_positions(series.positions)
        for p in series.problems:
            low = p.lower()
            # A gap is a step missing from a regular part of the series (a protocol that changes its spacing, as the
            # GE head's 4 mm then 7 mm, is not one: radtrust.io.series), and exports leave some, so gaps weigh little;
            # two slices at one position or mixed matrices do not come out of one CT reconstruction. Other
            # series mix them routinely (an MR localiser's three planes, diffusion b-values and echoes at one
            # position, a chest series' PA and lateral views, screenshots), so there they are only noted.
            sev = (0.5 if "duplicated" in low else 0.4 if "mixed" in low else 0.15 if "gap" in low
                   else 0.1 if "irregular" in low else 0.05)
            who = twice if "duplicated slice position" in low and twice else None
            out.append((sev if volume else min(sev, 0.05), f"series: {p}", who))
        datasets = [im.dataset for im in series.instances]
        for kw, sev in (("Manufacturer", 0.6), ("ManufacturerModelName", 0.6), ("DeviceSerialNumber", 0.6),
                        ("ConvolutionKernel", 0.5), ("KVP", 0.5), ("PatientID", 0.7), ("PatientName", 0.7),
                        ("PatientBirthDate", 0.7), ("StudyInstanceUID", 0.6), ("FrameOfReferenceUID", 0.5)):
            values = [str(ds.get(kw, "") or "") if ds is not None else None for ds in datasets]
            distinct = {v for v in values if v is not None}
            if len(distinct) > 1:
                shown = ", ".join(sorted(v or "(empty)" for v in distinct)[:4])
                out.append((sev, f"series mixes {len(distinct)} values of {kw}: {shown}", _minority(values)))
        numbers = [str(ds.get("InstanceNumber")) if ds is not None and ds.get("InstanceNumber") is not None else None
                   for ds in datasets]
        counts = Counter(v for v in numbers if v is not None)
        dups = sum(c - 1 for c in counts.values() if c > 1)
        if dups:
            who = frozenset(i for i, v in enumerate(numbers) if v is not None and counts[v] > 1)
            out.append((0.5 if volume else 0.2, f"{dups} duplicated InstanceNumber(s) in the series", who))
        return out

    def run_series(self, series: Any) -> Finding:
        """The series' checks and every instance's own; ``shares`` says how much of it each instance carries: the
        checks that implicate it (two slices at one position, a minority value, its own header), so one file
        re-written into a series does not make every other slice as suspect as itself."""
        if not all(im.has_header for im in series.instances):
            raise NotApplicable("series header forensics needs DICOM headers")
        checks = self.located_series_checks(series)
        for i, im in enumerate(series.instances):  # the worst instance's own problems count for the series too
            checks.extend((sev, text, frozenset({i})) for sev, text in self.checks(im))
        found = _finding([(sev, text) for sev, text, _ in checks])
        if found.score <= 0.0:
            return found
        per = [_finding([(sev, text) for sev, text, who in checks if who is None or i in who]).score
               for i in range(len(series))]
        return Finding(found.score, None, found.evidence, tuple(min(1.0, s / found.score) for s in per))


def _duplicated_positions(positions: Any) -> frozenset[int]:
    """Indices of the slices that share their position with a neighbour (positions sorted, None where unknown)."""
    out: set[int] = set()
    for i in range(1, len(positions)):
        a, b = positions[i - 1], positions[i]
        if a is not None and b is not None and abs(a - b) < 1e-3:
            out.update((i - 1, i))
    return frozenset(out)


def _minority(values: list[str | None]) -> frozenset[int] | None:
    """The instances holding other values than the most common one; None (all of them) when no value is."""
    counts = Counter(v for v in values if v is not None)
    (top, n), *rest = counts.most_common()
    if rest and rest[0][1] == n:
        return None
    return frozenset(i for i, v in enumerate(values) if v is not None and v != top)


def _finding(checks: list[tuple[float, str]]) -> Finding:
    unique: dict[str, float] = {}
    for sev, text in checks:
        unique[text] = max(unique.get(text, 0.0), sev)
    score = 1.0 - float(np.prod([1.0 - s for s in unique.values()])) if unique else 0.0
    ordered = sorted(unique.items(), key=lambda kv: -kv[1])
    return Finding(min(1.0, max(0.0, score)), None, tuple(text for text, _ in ordered))
