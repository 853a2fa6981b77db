"""A study's radtrust results as a Comprehensive SR built on TID 1500 (Measurement Report), with highdicom.

Structure (PS3.16 TID 1500 / TID 1501, concepts from :mod:`.codes`):

- Observation context: the radtrust device observer.
- One *Measurements and Qualitative Evaluations* group (TID 1501) per analysed instance, whose
  source image reference names that instance: measurement "Tamper probability" (and one per detector
  score), qualitative evaluations "Tamper verdict", "Digital signature status" and "Content credential
  status", and TEXT items
  for each evidence sentence and each signature reason.
- One group per series summary when the scan produced one.

The Current Requested Procedure Evidence Sequence references every source instance.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from highdicom.sr import (
    AlgorithmIdentification, ComprehensiveSR, DeviceObserverIdentifyingAttributes, MeasurementReport,
    Measurement, MeasurementsAndQualitativeEvaluations, ObservationContext, ObserverContext,
    QualitativeEvaluation, SourceImageForMeasurementGroup, TextContentItem, TrackingIdentifier,
)
from pydicom.sr.codedict import codes as dcm_codes

from radtrust import __version__
from radtrust.errors import InputError
from radtrust.services.results_dicom import codes

MANUFACTURER = "radtrust"
DEVICE_UID = "2.25.160331229358463093715316359427380457712"
MAX_TEXT = 1024


def _algorithm() -> AlgorithmIdentification:
    return AlgorithmIdentification(name="radtrust", version=__version__)


def _text(value: str) -> TextContentItem:
    return TextContentItem(codes.EVIDENCE, value[:MAX_TEXT], relationship_type="CONTAINS")


def _group(record: Mapping[str, Any], source: Dataset | None, label: str) -> MeasurementsAndQualitativeEvaluations:
    measurements = []
    score = record.get("score")
    if isinstance(score, (int, float)):
        measurements.append(Measurement(codes.TAMPER_SCORE, float(score), codes.UNITLESS, algorithm_id=_algorithm()))
    for name, value in sorted((record.get("detectors") or {}).items()):
        if isinstance(value, (int, float)) and value == value:  # skip None / NaN (not applicable)
            measurements.append(Measurement(codes.detector_score(name), float(value), codes.UNITLESS))
    evaluations = [QualitativeEvaluation(codes.VERDICT, codes.verdict_code(str(record.get("verdict", "error"))))]
    signature = record.get("signature") or {}
    if signature.get("status"):
        evaluations.append(QualitativeEvaluation(codes.SIGNATURE_STATUS, codes.signature_code(signature["status"])))
    credential = record.get("credential") or {}
    if credential.get("status"):
        evaluations.append(QualitativeEvaluation(codes.CREDENTIAL_STATUS, codes.credential_code(credential["status"])))
    sources = None
    if source is not None:
        sources = [SourceImageForMeasurementGroup(str(source.SOPClassUID), str(source.SOPInstanceUID))]
    group = MeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=generate_uid(), identifier=label[:64]),
        finding_type=codes.FINDING_TYPE, algorithm_id=_algorithm(), measurements=measurements or None,
        qualitative_evaluations=evaluations, source_images=sources)
    container = group[0]
    for sentence in record.get("evidence") or []:
        container.ContentSequence.append(_text(str(sentence)))
    for reason in signature.get("reasons") or []:
        container.ContentSequence.append(
            TextContentItem(codes.SIGNATURE_REASON, str(reason)[:MAX_TEXT], relationship_type="CONTAINS"))
    return group


def build_sr(records: Sequence[Mapping[str, Any]], sources: Mapping[str, Dataset], *,
             series_number: int = 9901, instance_number: int = 1,
             sop_instance_uid: str | None = None, series_instance_uid: str | None = None,
             now: _dt.datetime | None = None) -> Dataset:
    """Build the Comprehensive SR for one study.

    Parameters
    ----------
    records : analysis/scan records (``kind`` "instance" or "series"), as ``radtrust scan`` writes them.
    sources : the source instances' headers by SOP Instance UID (pixel data not needed).
    now : content date/time (default: the current time).
    """
    instances = [r for r in records if r.get("kind", "instance") == "instance"]
    evidence = [complete_type2(sources[r["sop_instance_uid"]]) for r in instances
                if r.get("sop_instance_uid") in sources]
    if not evidence:
        raise InputError("no source instance of the results could be read; an SR must reference its sources")
    studies = {str(ds.StudyInstanceUID) for ds in evidence}
    if len(studies) != 1:
        raise InputError(f"results span {len(studies)} studies; build one SR per study")
    groups = []
    for rec in instances:
        src = sources.get(rec.get("sop_instance_uid", ""))  # the group references the original header
        if src is None:
            continue
        groups.append(_group(rec, src, f"instance {rec['sop_instance_uid']}"))
    for rec in records:
        if rec.get("kind") == "series":
            groups.append(_group(rec, None, f"series {rec.get('series_instance_uid', '')}"))
    observer = ObserverContext(
        observer_type=dcm_codes.DCM.Device,
        observer_identifying_attributes=DeviceObserverIdentifyingAttributes(
            uid=DEVICE_UID, name="radtrust", manufacturer_name=MANUFACTURER, model_name="radtrust"))
    report = MeasurementReport(
        observation_context=ObservationContext(observer_device_context=observer),
        procedure_reported=codes.PROCEDURE, imaging_measurements=groups)
    now = now or _dt.datetime.now()
    sr = ComprehensiveSR(
        evidence=evidence, content=report[0],
        series_instance_uid=series_instance_uid or generate_uid(), series_number=series_number,
        sop_instance_uid=sop_instance_uid or generate_uid(), instance_number=instance_number,
        manufacturer=MANUFACTURER, is_complete=True, is_final=False, is_verified=False,
        series_description="radtrust integrity report",
    )
    _finish(sr, now)
    return sr


TYPE2_PATIENT_STUDY = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                       "ReferringPhysicianName", "StudyID", "AccessionNumber")


def complete_type2(source: Dataset) -> Dataset:
    """A shallow copy of a source header with the Type 2 patient/study attributes present (empty if absent).

    Vendors omit some (the GE head CT has no PatientBirthDate/PatientSex); highdicom copies these into
    derived objects, and dciodvfy reports an error for a missing Type 2 attribute.
    """
    ds = Dataset()
    ds.update(source)
    ds.file_meta = getattr(source, "file_meta", Dataset())
    for keyword in TYPE2_PATIENT_STUDY:
        if keyword not in ds:
            setattr(ds, keyword, None)
    if str(ds.get("PatientIdentityRemoved", "")).upper() == "YES" and not ds.get("DeidentificationMethod") \
            and "DeidentificationMethodCodeSequence" not in ds:
        ds.DeidentificationMethod = "not stated by the source"  # Type 1C: may not be empty
    return ds


def _finish(ds: Dataset, now: _dt.datetime) -> None:
    """Declare the private scheme, set software version and Type 2 attributes the IOD requires."""
    ds.CodingSchemeIdentificationSequence = [codes.scheme_identification()]
    ds.SoftwareVersions = __version__
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    for keyword in TYPE2_PATIENT_STUDY:
        if keyword not in ds:
            setattr(ds, keyword, None)
