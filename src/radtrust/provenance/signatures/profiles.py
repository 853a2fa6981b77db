"""Digital signature profiles of DICOM PS3.15 Annex C: Base RSA (C.1), Creator RSA (C.2), Authorization RSA (C.3).

A profile fixes the key algorithm and which attributes a signature must cover when they are present. DCMTK also
offers "none" (no profile), the only one under which it accepts ECDSA keys; radtrust does the same. The signature
item does not record its profile, so a verifier reports every profile a valid signature satisfies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from radtrust.errors import UsageError


def _tags(keywords: Iterable[str]) -> frozenset[int]:
    from pydicom.datadict import tag_for_keyword

    out = set()
    for kw in keywords:
        tag = tag_for_keyword(kw)
        if tag is None:
            raise KeyError(kw)
        out.add(int(tag))
    return frozenset(out)


_UIDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
_IMAGE_PIXEL = ("SamplesPerPixel", "PhotometricInterpretation", "PlanarConfiguration", "Rows", "Columns",
                "PixelAspectRatio", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
                "SmallestImagePixelValue", "LargestImagePixelValue", "RedPaletteColorLookupTableDescriptor",
                "GreenPaletteColorLookupTableDescriptor", "BluePaletteColorLookupTableDescriptor",
                "RedPaletteColorLookupTableData", "GreenPaletteColorLookupTableData",
                "BluePaletteColorLookupTableData", "ICCProfile", "PixelData")
#: PS3.15 C.2: SOP Common UIDs and creation time, General Equipment, General Image, Image Pixel, SR Document
#: General/Content, Waveform, Multi-frame Functional Groups, when present.
_CREATOR = _UIDS + _IMAGE_PIXEL + (
    "InstanceCreationDate", "InstanceCreationTime",
    "Manufacturer", "InstitutionName", "InstitutionAddress", "StationName", "InstitutionalDepartmentName",
    "ManufacturerModelName", "DeviceSerialNumber", "SoftwareVersions", "GantryID", "SpatialResolution",
    "DateOfLastCalibration", "TimeOfLastCalibration", "PixelPaddingValue",
    "InstanceNumber", "PatientOrientation", "ContentDate", "ContentTime", "ImageType", "AcquisitionNumber",
    "AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime", "ImagesInAcquisition", "ImageComments",
    "QualityControlImage", "BurnedInAnnotation", "LossyImageCompression", "LossyImageCompressionRatio",
    "LossyImageCompressionMethod", "IconImageSequence", "PresentationLUTShape", "GraphicAnnotationSequence",
    "PreliminaryFlag", "CompletionFlag", "VerificationFlag", "VerifyingObserverSequence", "ValueType",
    "ConceptNameCodeSequence", "ContinuityOfContent", "ContentTemplateSequence", "ContentSequence",
    "WaveformSequence", "SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence", "NumberOfFrames",
)


def _overlay(tag: int) -> bool:
    group = tag >> 16
    return 0x6000 <= group < 0x6020 and group % 2 == 0


@dataclass(frozen=True)
class Profile:
    """A signature profile: allowed key types and the attributes it requires when present."""

    name: str
    title: str
    key_types: frozenset[str]
    required_keywords: tuple[str, ...] = ()
    overlays: bool = False

    @cached_property
    def required(self) -> frozenset[int]:
        return _tags(self.required_keywords)

    def requires(self, tag: int) -> bool:
        return tag in self.required or (self.overlays and _overlay(tag))

    def missing(self, present: Iterable[int], covered: Iterable[int]) -> list[int]:
        """Required tags present in the dataset but not covered."""
        cov = set(covered)
        return sorted(t for t in present if self.requires(t) and t not in cov)

    def check_key(self, key_type: str) -> None:
        if key_type not in self.key_types:
            allowed = ", ".join(sorted(self.key_types))
            hint = " (ECDSA keys sign under --profile none, as in DCMTK)" if key_type == "ECDSA" else ""
            raise UsageError(f"profile '{self.name}' ({self.title}) does not allow {key_type} keys, "
                             f"only {allowed}{hint}")


#: The one registry of profiles (CLI name -> profile).
PROFILES: dict[str, Profile] = {
    "none": Profile("none", "no profile", frozenset({"RSA", "ECDSA"})),
    "base": Profile("base", "Base RSA Digital Signature Profile", frozenset({"RSA"})),
    "creator": Profile("creator", "Creator RSA Digital Signature Profile", frozenset({"RSA"}), _CREATOR, True),
    "authorization": Profile("authorization", "Authorization Digital Signature Profile", frozenset({"RSA"}),
                             _UIDS + _IMAGE_PIXEL, True),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UsageError(f"unknown profile {name!r} (choose from {', '.join(PROFILES)})") from None


def satisfied_profiles(key_type: str, present: Iterable[int], covered: Iterable[int]) -> list[str]:
    """Names of the profiles (other than 'none') that a valid signature meets."""
    present, covered = list(present), set(covered)
    return [p.name for p in PROFILES.values()
            if p.name != "none" and key_type in p.key_types and not p.missing(present, covered)]
