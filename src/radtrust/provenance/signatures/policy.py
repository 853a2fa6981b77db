"""Verification policies for DICOM signatures: small objects that compose (``AllOf``, ``AnyOf``), as in sigstore.

A policy looks at a file whose signatures have already been verified cryptographically and chained to a trust
anchor, and returns the reasons it is not acceptable (an empty list means it is). The default policy forbids weak
MACs (MD5, SHA-1) and requires a valid signature in the main dataset to cover Pixel Data, patient identity, the
study/series/SOP UIDs, rescale, pixel spacing and the acquisition parameters, each when present in the file.
Anything that weakens verification is named ``Unsafe...`` and logs a warning. An empty ``AllOf``/``AnyOf`` fails.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from radtrust.errors import InputError, UsageError
from radtrust.io.files import read_side_file
from radtrust.provenance.signatures._elements import keyword, parse_tag
from radtrust.provenance.signatures.mac_stream import MAC_ALGORITHMS

log = logging.getLogger(__name__)

#: Attributes the default coverage policy requires a valid signature to cover, when present in the file.
DEFAULT_COVERAGE = (
    "PixelData", "FloatPixelData", "DoubleFloatPixelData",
    "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex",
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID",
    "Rows", "Columns", "BitsAllocated", "BitsStored", "PixelRepresentation", "PhotometricInterpretation",
    "RescaleSlope", "RescaleIntercept", "RescaleType", "PixelSpacing", "ImagerPixelSpacing", "SliceThickness",
    "ImagePositionPatient", "ImageOrientationPatient", "NumberOfFrames",
    "KVP", "XRayTubeCurrent", "Exposure", "ExposureTime", "ExposureInuAs", "ConvolutionKernel",
    "CTDIvol", "ExposureIndex", "DeviceSerialNumber", "Manufacturer", "ManufacturerModelName",
)
DEFAULT_MACS = ("RIPEMD160", "SHA256", "SHA384", "SHA512")


@dataclass(frozen=True)
class SignatureFacts:
    """What a policy may look at for one verified, trusted signature."""

    location: str
    mac: str
    covered: frozenset[int]
    timestamped: bool
    profiles: tuple[str, ...]


@dataclass(frozen=True)
class FileFacts:
    """Main-dataset tags present and the verified signatures of one file."""

    present: frozenset[int]
    signatures: tuple[SignatureFacts, ...]
    #: main-dataset elements a signature could cover (present, not excluded by PS3.15, not UN).
    signable: frozenset[int] = frozenset()


class Policy:
    """Base class: ``check(facts)`` returns reasons for refusal, [] when the file is acceptable."""

    unsafe_trust_claimed_time = False

    def check(self, facts: FileFacts) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class AllOf(Policy):
    policies: list[Policy] = field(default_factory=list)

    @property
    def unsafe_trust_claimed_time(self) -> bool:  # type: ignore[override]
        return any(p.unsafe_trust_claimed_time for p in self.policies)

    def check(self, facts: FileFacts) -> list[str]:
        if not self.policies:
            return ["empty policy: nothing would be checked"]
        return [r for p in self.policies for r in p.check(facts)]

    def to_dict(self) -> dict[str, Any]:
        return {"all_of": [p.to_dict() for p in self.policies]}


@dataclass
class AnyOf(Policy):
    policies: list[Policy] = field(default_factory=list)

    def check(self, facts: FileFacts) -> list[str]:
        if not self.policies:
            return ["empty policy: nothing would be checked"]
        results = [p.check(facts) for p in self.policies]
        if any(not r for r in results):
            return []
        return ["none of the alternatives holds: " + "; ".join(r[0] for r in results)]

    def to_dict(self) -> dict[str, Any]:
        return {"any_of": [p.to_dict() for p in self.policies]}


@dataclass
class AllowedMacs(Policy):
    """Every signature uses one of these MAC algorithms (DICOM names)."""

    names: tuple[str, ...] = DEFAULT_MACS

    def check(self, facts: FileFacts) -> list[str]:
        return [f"signature {('in ' + s.location) if s.location else ''} uses MAC {s.mac}, which the policy forbids"
                .replace("  ", " ") for s in facts.signatures if s.mac not in self.names]

    def to_dict(self) -> dict[str, Any]:
        return {"mac_algorithms": list(self.names)}


@dataclass
class RequireCoverage(Policy):
    """Each listed attribute present in the main dataset is covered by a valid main-dataset signature."""

    keywords: tuple[str, ...] = DEFAULT_COVERAGE

    def check(self, facts: FileFacts) -> list[str]:
        covered: set[int] = set()
        for s in facts.signatures:
            if not s.location:
                covered |= s.covered
        tags = [parse_tag(k) for k in self.keywords]
        missing = [keyword(t) for t in tags if t in facts.present and t not in covered]
        if missing:
            return ["not covered by a valid signature: " + ", ".join(missing)]
        return []

    def to_dict(self) -> dict[str, Any]:
        return {"coverage": list(self.keywords)}


@dataclass
class RequireFullCoverage(Policy):
    """Every signable main-dataset element is covered by a valid signature: nothing was added after signing."""

    def check(self, facts: FileFacts) -> list[str]:
        covered: set[int] = set()
        for s in facts.signatures:
            if not s.location:
                covered |= s.covered
        extra = sorted(facts.signable - covered)
        if extra:
            return ["elements not covered by any valid signature (added after signing?): "
                    + ", ".join(keyword(t) for t in extra[:10]) + (" ..." if len(extra) > 10 else "")]
        return []

    def to_dict(self) -> dict[str, Any]:
        return {"require_full_coverage": True}


@dataclass
class RequireTimestamp(Policy):
    """Every signature carries a valid RFC 3161 timestamp."""

    def check(self, facts: FileFacts) -> list[str]:
        return [f"signature {s.location or 'in main dataset'} has no certified timestamp"
                for s in facts.signatures if not s.timestamped]

    def to_dict(self) -> dict[str, Any]:
        return {"require_timestamp": True}


@dataclass
class RequireProfile(Policy):
    """At least one valid signature meets this profile (creator, authorization, base)."""

    name: str = "creator"

    def check(self, facts: FileFacts) -> list[str]:
        if any(self.name in s.profiles for s in facts.signatures):
            return []
        return [f"no valid signature meets the {self.name} profile"]

    def to_dict(self) -> dict[str, Any]:
        return {"require_profile": self.name}


class UnsafeTrustClaimedTime(Policy):
    """Accept the signer's own Digital Signature DateTime as signing time, even if the certificate expired since.

    Unsafe: whoever holds the key can write any DateTime. Without it, an untimestamped signature's certificate must
    be valid both at the claimed time and at verification time.
    """

    unsafe_trust_claimed_time = True

    def __init__(self) -> None:
        warnings.warn("UnsafeTrustClaimedTime: trusting the signer's claimed signing time", stacklevel=2)
        log.warning("policy trusts the signer's claimed signing time (unsafe)")

    def check(self, facts: FileFacts) -> list[str]:
        return []

    def to_dict(self) -> dict[str, Any]:
        return {"unsafe_trust_claimed_time": True}


def default_policy() -> AllOf:
    """The policy ``radtrust verify`` applies when none is given."""
    return AllOf([AllowedMacs(), RequireCoverage()])


def policy_from_dict(d: dict[str, Any]) -> Policy:
    """Build a policy from a dict (the JSON policy file); unknown keys are refused."""
    known = {"all_of", "any_of", "mac_algorithms", "coverage", "require_timestamp", "require_profile",
             "require_full_coverage", "unsafe_trust_claimed_time"}
    unknown = set(d) - known
    if unknown:
        raise UsageError(f"unknown policy keys: {', '.join(sorted(unknown))}")
    parts: list[Policy] = []
    if "all_of" in d:
        parts.append(AllOf([policy_from_dict(x) for x in _list_of(d, "all_of", dict, "objects")]))
    if "any_of" in d:
        parts.append(AnyOf([policy_from_dict(x) for x in _list_of(d, "any_of", dict, "objects")]))
    if "mac_algorithms" in d:
        names = tuple(n.upper() for n in _list_of(d, "mac_algorithms", str, "strings"))
        valid = {a.dicom_name for a in MAC_ALGORITHMS.values()}
        if set(names) - valid:
            raise UsageError(f"unknown MAC algorithms in policy: {', '.join(sorted(set(names) - valid))}")
        parts.append(AllowedMacs(names))
    if "coverage" in d:
        for k in _list_of(d, "coverage", str, "strings"):
            parse_tag(k)
        parts.append(RequireCoverage(tuple(d["coverage"])))
    if d.get("require_timestamp"):
        parts.append(RequireTimestamp())
    if d.get("require_full_coverage"):
        parts.append(RequireFullCoverage())
    if "require_profile" in d:
        parts.append(RequireProfile(str(d["require_profile"])))
    if d.get("unsafe_trust_claimed_time"):
        parts.append(UnsafeTrustClaimedTime())
    return parts[0] if len(parts) == 1 else AllOf(parts)


def _list_of(d: dict[str, Any], key: str, kind: type, what: str) -> list[Any]:
    """``d[key]`` checked to be a list of ``kind`` (a policy file is input: its shape is not trusted)."""
    value = d[key]
    if not isinstance(value, list) or not all(isinstance(x, kind) for x in value):
        raise UsageError(f"policy key {key!r} must be a list of {what}")
    return value


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """A policy from a JSON file (see ``radtrust verify --print-policy`` for the default as JSON)."""
    try:
        d = json.loads(read_side_file(path, what="policy").decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError("policy is not UTF-8 text (a JSON file)", path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"policy is not valid JSON: {exc}", path) from None
    except RecursionError:
        raise InputError("policy is nested too deeply", path) from None
    if not isinstance(d, dict):
        raise InputError("policy must be a JSON object", path)
    try:
        return policy_from_dict(d)
    except UsageError as exc:
        raise InputError(exc.message, path) from None
    except RecursionError:
        raise InputError("policy is nested too deeply", path) from None


def covered_keywords(tags: Iterable[int]) -> list[str]:
    return [keyword(t) for t in tags]
