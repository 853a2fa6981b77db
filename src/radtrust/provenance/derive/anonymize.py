"""De-identification following the DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile.

The action codes are those of PS3.15 Table E.1-1, Basic Profile column: ``D`` replace with a dummy
value, ``Z`` replace with a zero-length value (or a dummy), ``X`` remove, ``U`` replace a UID with a
consistent new one. Where the table offers a choice (``X/Z``, ``Z/D``, ``X/Z/D``, ``X/Z/U*``), the
choice that keeps Type 1/2 attributes present (``Z`` or ``U``) is taken, so the result still passes
``dciodvfy``. Private attributes, overlays and curves are removed (no Retain Safe Private option);
dates are emptied (no Retain Longitudinal Temporal Information option). UIDs are mapped with
HMAC-SHA-256 under a per-run secret to ``2.25.<decimal>`` (PS3.5 B.2), so a series stays a series.
PatientIdentityRemoved, DeidentificationMethod and its code sequence (DCM 113100) are set.

This table covers the attributes found in CT and radiography objects; it is a subset of the full
E.1-1 table (several hundred rows), named per row so a reviewer can check it against the standard.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

PROFILE_NAME = "DICOM PS3.15 E.1 Basic Application Level Confidentiality Profile"

# keyword -> Basic Profile action (after resolving choices as described in the module docstring)
BASIC_PROFILE: dict[str, str] = {
    "AccessionNumber": "Z", "AcquisitionComments": "X", "AcquisitionContextSequence": "X",
    "AcquisitionDate": "Z", "AcquisitionDateTime": "Z", "AcquisitionDeviceProcessingDescription": "X",
    "AcquisitionTime": "Z", "AcquisitionUID": "U", "ActualHumanPerformersSequence": "X",
    "AdditionalPatientHistory": "X", "AdmissionID": "X", "AdmittingDate": "X", "AdmittingDiagnosesDescription": "X",
    "AdmittingTime": "X", "Allergies": "X", "Arbitrary": "X", "AuthorObserverSequence": "X",
    "BranchOfService": "X", "CassetteID": "X", "CommentsOnThePerformedProcedureStep": "X",
    "ConcatenationUID": "U", "ConfidentialityConstraintOnPatientDataDescription": "X",
    "ContentCreatorName": "Z", "ContentDate": "Z", "ContentTime": "Z", "ContentSequence": "X",
    "ContributionDescription": "X", "CountryOfResidence": "X", "CurrentPatientLocation": "X",
    "DataSetTrailingPadding": "X", "DerivationDescription": "X", "DetectorID": "X", "DeviceSerialNumber": "X",
    "DeviceUID": "U", "DigitalSignaturesSequence": "X", "DimensionOrganizationUID": "U",
    "DischargeDiagnosisDescription": "X", "DistributionAddress": "X", "DistributionName": "X",
    "EthnicGroup": "X", "FailedSOPInstanceUIDList": "U", "FillerOrderNumberImagingServiceRequest": "Z",
    "FrameComments": "X", "FrameOfReferenceUID": "U", "GantryID": "X", "GeneratorID": "X",
    "IconImageSequence": "X", "IdentifyingComments": "X", "ImageComments": "X", "InstanceCreationDate": "X",
    "InstanceCreationTime": "X", "InstanceCreatorUID": "U", "InstitutionAddress": "X",
    "InstitutionalDepartmentName": "X", "InstitutionName": "X", "InsurancePlanIdentification": "X",
    "IrradiationEventUID": "U", "IssuerOfAdmissionID": "X", "IssuerOfPatientID": "X", "LastMenstrualDate": "X",
    "MACParametersSequence": "X", "MedicalAlerts": "X", "MedicalRecordLocator": "X", "MilitaryRank": "X",
    "ModifiedAttributesSequence": "X", "ModifiedImageDescription": "X", "ModifyingDeviceID": "X",
    "NameOfPhysiciansReadingStudy": "X", "NamesOfIntendedRecipientsOfResults": "X", "Occupation": "X",
    "OperatorIdentificationSequence": "X", "OperatorsName": "Z", "OrderCallbackPhoneNumber": "X",
    "OrderEnteredBy": "X", "OrderEntererLocation": "X", "OriginalAttributesSequence": "X",
    "OtherPatientIDs": "X", "OtherPatientIDsSequence": "X", "OtherPatientNames": "X", "OverlayComments": "X",
    "ParticipantSequence": "X", "PatientAddress": "X", "PatientAge": "X", "PatientBirthDate": "Z",
    "PatientBirthName": "X", "PatientBirthTime": "X", "PatientComments": "X", "PatientID": "Z",
    "PatientInsurancePlanCodeSequence": "X", "PatientMotherBirthName": "X", "PatientName": "Z",
    "PatientReligiousPreference": "X", "PatientSex": "Z", "PatientSexNeutered": "X", "PatientSize": "X",
    "PatientState": "X", "PatientTelephoneNumbers": "X", "PatientWeight": "X", "PerformedLocation": "X",
    "PerformedProcedureStepDescription": "X", "PerformedProcedureStepEndDate": "X",
    "PerformedProcedureStepEndTime": "X", "PerformedProcedureStepID": "X", "PerformedProcedureStepStartDate": "X",
    "PerformedProcedureStepStartTime": "X", "PerformedStationAETitle": "X", "PerformedStationName": "X",
    "PerformingPhysicianName": "X", "PersonName": "D", "PhysiciansOfRecord": "X",
    "PhysiciansReadingStudyIdentificationSequence": "X", "PlacerOrderNumberImagingServiceRequest": "Z",
    "PreMedication": "X", "PregnancyStatus": "X", "ProtocolName": "X", "ReasonForStudy": "X",
    "ReferencedPatientSequence": "X", "ReferencedPerformedProcedureStepSequence": "X",
    "ReferencedSOPInstanceUID": "U", "ReferencedStudySequence": "X", "ReferringPhysicianAddress": "X",
    "ReferringPhysicianName": "Z", "ReferringPhysicianTelephoneNumbers": "X", "RequestAttributesSequence": "X",
    "RequestedProcedureDescription": "X", "RequestedProcedureID": "X", "RequestingPhysician": "X",
    "RequestingService": "X", "ResponsibleOrganization": "X", "ResponsiblePerson": "X", "ResultsComments": "X",
    "SeriesDate": "X", "SeriesDescription": "X", "SeriesInstanceUID": "U", "SeriesTime": "X",
    "ServiceEpisodeDescription": "X", "SmokingStatus": "X", "SOPInstanceUID": "U", "SourceImageSequence": "X",
    "SpecialNeeds": "X", "StationName": "X", "StorageMediaFileSetUID": "U", "StudyComments": "X",
    "StudyDate": "Z", "StudyDescription": "X", "StudyID": "Z", "StudyInstanceUID": "U", "StudyTime": "Z",
    "SynchronizationFrameOfReferenceUID": "U", "TimezoneOffsetFromUTC": "X", "UID": "U",
}
DUMMY = {"PN": "ANONYMOUS", "DA": "19000101", "TM": "000000", "DT": "19000101000000", "UI": "2.25.0"}


def new_uid(secret: bytes, old: str) -> str:
    """A consistent replacement UID: ``2.25.`` + 128 bits of HMAC-SHA-256(secret, old UID)."""
    digest = hmac.new(secret, old.strip().encode(), hashlib.sha256).digest()[:16]
    return f"2.25.{int.from_bytes(digest, 'big')}"


def _apply(ds: Any, secret: bytes, counts: dict[str, int]) -> None:
    from pydicom.datadict import keyword_for_tag

    for elem in list(ds):
        tag = elem.tag
        if tag.is_private or (tag.group & 0xFF00) in (0x5000, 0x6000):
            del ds[tag]
            counts["X"] += 1
            continue
        action = BASIC_PROFILE.get(keyword_for_tag(tag) or "")
        if action == "X":
            del ds[tag]
        elif action == "Z":
            elem.value = [] if elem.VR == "SQ" else ""
        elif action == "D":
            elem.value = DUMMY.get(elem.VR, "ANONYMIZED")
        elif action == "U" and elem.value:
            values = elem.value if isinstance(elem.value, (list, tuple)) or elem.VM > 1 else [elem.value]
            mapped = [new_uid(secret, str(v)) for v in values]
            elem.value = mapped if elem.VM > 1 else mapped[0]
        elif elem.VR == "SQ":
            for item in elem.value:
                _apply(item, secret, counts)
            continue
        if action:
            counts[action] += 1


def anonymize(ds: Any, *, secret: bytes | None = None, pseudonym: str | None = None) -> dict[str, Any]:
    """De-identify ``ds`` in place; returns the action's parameters (counts per action code, no values)."""
    from pydicom.dataset import Dataset

    secret = os.urandom(32) if secret is None else secret
    counts = {"D": 0, "Z": 0, "X": 0, "U": 0}
    _apply(ds, secret, counts)
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if pseudonym:
        ds.PatientID = pseudonym
        ds.PatientName = pseudonym
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = PROFILE_NAME
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = (
        "113100", "DCM", "Basic Application Confidentiality Profile")
    ds.DeidentificationMethodCodeSequence = [code]
    return {"profile": PROFILE_NAME, "code": "DCM 113100", "removed": counts["X"], "emptied": counts["Z"],
            "replaced": counts["D"], "uids_replaced": counts["U"], "pseudonym": bool(pseudonym)}
