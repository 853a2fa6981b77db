"""The content binding: a hash of what a DICOM image *means*, independent of how it is encoded.

A PS3.15 signature (PS3.15 Annex C) covers encoded bytes, so a lossless transcode breaks it. The
binding instead hashes

* the **decoded stored pixel values** of every frame (one SHA-256 per frame, and one over the ordered
  list of frame hashes), canonicalised to little-endian integers 16 bits wide (32 above 16 stored bits),
  signed as PixelRepresentation says, with bits above BitsStored cleared and signed values sign-extended;
* a **canonical serialisation of the bound attributes** (patient/study identity, UIDs, geometry,
  rescale, photometric interpretation, bits, acquisition parameters, acquisition date/time): each
  attribute's value is normalised by VR (strings without DICOM padding, DS/IS as numbers, sequences
  recursively), encoded as deterministic CBOR (RFC 8949 §4.2.1) and hashed with a per-credential salt.

Transfer syntax, fragmentation, byte order and VR encoding never enter the canonical form, so any
lossless re-encoding keeps the binding; one changed pixel or attribute value breaks it, and the
comparison names the frame or the attribute. The keyword list is stored with the binding, so a
verifier needs no local configuration. The format is documented in ``docs/credential-format.md``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np

from radtrust.config import Limits
from radtrust.errors import InvalidDicom, UnsupportedSyntax

BINDING_VERSION = 1
HASH_ALG = "sha-256"

# Version 1 of the bound attribute list. A new list is a new BINDING_VERSION; verifiers use the
# list stored in the credential, never this constant.
BOUND_KEYWORDS: tuple[str, ...] = (
    # patient identity
    "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex",
    # study, series, instance identity
    "StudyInstanceUID", "StudyID", "AccessionNumber", "StudyDate", "StudyTime",
    "SeriesInstanceUID", "SeriesNumber", "Modality", "SOPClassUID", "SOPInstanceUID", "InstanceNumber",
    "FrameOfReferenceUID",
    # pixel description
    # (BitsAllocated/BitsStored/HighBit describe the encoding: their effect on meaning is bound through
    # the canonical values, which are masked to BitsStored; GDCM rewrites BitsStored 12 -> 16 on a
    # lossless JPEG 2000 round trip without changing one value.)
    "Rows", "Columns", "NumberOfFrames", "SamplesPerPixel", "PhotometricInterpretation", "PixelRepresentation",
    # geometry
    "PixelSpacing", "ImagerPixelSpacing", "SliceThickness", "SpacingBetweenSlices",
    "ImagePositionPatient", "ImageOrientationPatient", "SliceLocation", "PatientPosition",
    # modality LUT
    "RescaleSlope", "RescaleIntercept", "RescaleType", "ModalityLUTSequence",
    # acquisition
    "KVP", "XRayTubeCurrent", "Exposure", "ExposureInuAs", "ExposureTime", "ConvolutionKernel",
    "Manufacturer", "ManufacturerModelName", "DeviceSerialNumber", "DetectorID", "ExposureIndex",
    "BodyPartExamined",
    # acquisition date and time
    "AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime", "ContentDate", "ContentTime",
    # enhanced multi-frame objects carry geometry and rescale per frame here
    "SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence",
)

_STRING_VRS = {"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
_BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
_SKIP_IN_SEQUENCES = {0xFFFAFFFA, 0x4FFE0001}  # signatures and MAC parameters are not content


@dataclass(frozen=True)
class Binding:
    """The binding of one image, as stored in a credential (see :meth:`to_cbor`)."""

    keywords: tuple[str, ...]
    salt: bytes
    attributes: dict[str, bytes]  # keyword -> salted digest of its canonical value
    metadata: bytes  # digest over the keyword list and all attribute digests
    frames: tuple[bytes, ...]  # per-frame pixel digests, in frame order
    pixels: bytes  # digest over the frame digests and the canonical pixel description
    pixel_format: dict[str, Any] = field(default_factory=dict)
    version: int = BINDING_VERSION

    def to_cbor(self) -> dict[str, Any]:
        return {
            "version": self.version, "alg": HASH_ALG, "keywords": list(self.keywords), "salt": self.salt,
            "attributes": dict(self.attributes), "metadata": self.metadata, "frames": list(self.frames),
            "pixels": self.pixels, "pixel_format": dict(self.pixel_format),
        }

    @classmethod
    def from_cbor(cls, obj: Any) -> "Binding":
        try:
            if obj["version"] != BINDING_VERSION or obj["alg"] != HASH_ALG:
                raise ValueError(f"binding version {obj['version']}/{obj['alg']} is not supported")
            return cls(
                keywords=tuple(str(k) for k in obj["keywords"]), salt=bytes(obj["salt"]),
                attributes={str(k): bytes(v) for k, v in obj["attributes"].items()},
                metadata=bytes(obj["metadata"]), frames=tuple(bytes(f) for f in obj["frames"]),
                pixels=bytes(obj["pixels"]), pixel_format=dict(obj["pixel_format"]), version=int(obj["version"]),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed binding ({exc})") from None


def _cbor(obj: Any) -> bytes:
    import cbor2

    return cbor2.dumps(obj, canonical=True)


def _sha256(*parts: bytes) -> bytes:
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


# --- canonical attribute values -------------------------------------------------------------

def _number(text: str) -> Any:
    """DS/IS text as an exact number: '-1024.0' and '-1024' mean the same, '-1023' does not."""
    text = text.strip(" \x00")
    if text == "":
        return ""
    try:
        d = Decimal(text).normalize()
    except InvalidOperation:
        return {"unparsed": text}
    if d == d.to_integral_value():
        return int(d)
    sign, digits, exp = d.as_tuple()
    return {"decimal": [(-1) ** sign * int("".join(map(str, digits))), exp]}  # exact mantissa/exponent


def _values(value: Any) -> list[Any]:
    """The values of an element: a list for multi-valued ones, [value] otherwise (PersonName, str, number)."""
    from pydicom.multival import MultiValue

    return list(value) if isinstance(value, (list, tuple, MultiValue)) else [value]


def _canonical_value(elem: Any) -> Any:
    vr = elem.VR
    value = elem.value
    if vr == "SQ":
        return [_canonical_dataset(item) for item in value]
    if value is None:
        return ""
    if vr in ("DS", "IS"):
        return [_number(str(getattr(v, "original_string", None) or v)) for v in _values(value)]
    if vr in _STRING_VRS:
        return [str(v).rstrip(" \x00") for v in _values(value)]
    if vr in _BINARY_VRS or isinstance(value, (bytes, bytearray)):
        return bytes(value).rstrip(b"\x00") if vr in ("OB", "UN") else bytes(value)
    if vr in ("FL", "FD"):
        return [float(v) for v in _values(value)]
    return [int(v) for v in _values(value)]  # US, SS, UL, SL, UV, SV, AT


def _canonical_dataset(ds: Any) -> dict[int, Any]:
    return {int(elem.tag): _canonical_value(elem) for elem in ds
            if int(elem.tag) not in _SKIP_IN_SEQUENCES and not elem.tag.is_private}


def _tag_for(keyword: str) -> int:
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    if tag is None:
        raise ValueError(f"unknown DICOM keyword {keyword!r} in the bound attribute list")
    return int(tag)


def canonical_attribute(ds: Any, keyword: str) -> Any:
    """The canonical value of one bound attribute: None when absent."""
    tag = _tag_for(keyword)
    if tag not in ds:
        return None
    return _canonical_value(ds[tag])


def attribute_digest(salt: bytes, keyword: str, value: Any) -> bytes:
    return _sha256(_cbor(["radtrust-attr", salt, keyword, value]))


def metadata_digest(keywords: tuple[str, ...], attributes: dict[str, bytes]) -> bytes:
    return _sha256(_cbor(["radtrust-metadata", list(keywords), [attributes[k] for k in keywords]]))


# --- canonical pixel values -----------------------------------------------------------------

def canonical_frames(ds: Any, path: Path, *, limits: Limits | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Decoded stored values as (frames, rows, cols[, samples]) little-endian integers, and their format.

    Decoding goes through :func:`radtrust.io.dicom.decode_pixels` (pydicom + pylibjpeg).
    """
    from pydicom.uid import UID

    from radtrust.io.dicom import decode_pixels

    limits = limits or Limits.from_env()
    meta = getattr(ds, "file_meta", None)
    tsuid = meta.get("TransferSyntaxUID") if meta is not None else None
    if tsuid is not None and not UID(str(tsuid)).is_transfer_syntax:
        raise UnsupportedSyntax(f"cannot decode pixel data in transfer syntax {tsuid} (unknown to pydicom)", path)
    stored = decode_pixels(ds, path, limits)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1))
    arr = stored.reshape((frames,) + stored.shape[-(3 if samples > 1 else 2):]) if frames == 1 else stored
    bits_stored = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)))
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    if arr.dtype.kind == "f":
        raise InvalidDicom("float pixel data cannot be bound by this binding version", path)
    # Canonical width from BitsStored only (16-bit up to 16 stored bits, else 32), signedness from
    # PixelRepresentation, little-endian: BitsAllocated and the byte order of the encoding never matter.
    dtype = np.dtype(f"<{'i' if signed else 'u'}{2 if bits_stored <= 16 else 4}")
    values = arr
    lo, hi = (-(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1) if signed else (0, (1 << bits_stored) - 1)
    if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):  # bits above BitsStored set (overlays)
        values = arr.astype(np.int64) & ((1 << bits_stored) - 1)
        if signed:
            sign_bit = 1 << (bits_stored - 1)
            values = (values ^ sign_bit) - sign_bit
    canonical = np.ascontiguousarray(values, dtype=dtype)
    fmt = {"frames": int(canonical.shape[0]), "rows": int(canonical.shape[1]), "columns": int(canonical.shape[2]),
           "samples": samples, "dtype": dtype.str}
    return canonical, fmt


def frame_digests(canonical: np.ndarray) -> tuple[bytes, ...]:
    return tuple(_sha256(b"radtrust-frame\x00", memoryview(frame).cast("B")) for frame in canonical)


def pixels_digest(frames: tuple[bytes, ...], fmt: dict[str, Any]) -> bytes:
    return _sha256(_cbor(["radtrust-pixels", fmt, list(frames)]))


# --- the recipe ----------------------------------------------------------------------------

def compute_binding(ds: Any, path: str | os.PathLike[str] | None = None, *,
                    keywords: tuple[str, ...] = BOUND_KEYWORDS, salt: bytes | None = None,
                    limits: Limits | None = None) -> Binding:
    """Bind one dataset: per-frame pixel digests and salted per-attribute digests.

    ``salt`` is 16 random bytes by default (an argument so tests are deterministic).
    """
    where = Path(path) if path is not None else Path("<dataset>")
    salt = os.urandom(16) if salt is None else salt
    canonical, fmt = canonical_frames(ds, where, limits=limits)
    frames = frame_digests(canonical)
    attributes = {kw: attribute_digest(salt, kw, canonical_attribute(ds, kw)) for kw in keywords}
    return Binding(keywords=tuple(keywords), salt=salt, attributes=attributes,
                   metadata=metadata_digest(tuple(keywords), attributes), frames=frames,
                   pixels=pixels_digest(frames, fmt), pixel_format=fmt)


@dataclass(frozen=True)
class BindingComparison:
    """What differs between a stored binding and the image in hand; empty ``changed`` = unchanged."""

    changed: tuple[str, ...]
    pixels_changed: bool
    metadata_changed: bool
    current: Binding

    @property
    def ok(self) -> bool:
        return not self.changed


def compare_binding(stored: Binding, ds: Any, path: str | os.PathLike[str] | None = None, *,
                    limits: Limits | None = None) -> BindingComparison:
    """Recompute the binding of ``ds`` with the stored keyword list and salt, and name what changed."""
    current = compute_binding(ds, path, keywords=stored.keywords, salt=stored.salt, limits=limits)
    attrs = [kw for kw in stored.keywords if stored.attributes.get(kw) != current.attributes.get(kw)]
    if stored.metadata != metadata_digest(stored.keywords, stored.attributes):
        attrs.append("bound metadata digest (inconsistent with its attribute digests)")
    pixels_changed = stored.pixels != current.pixels
    frames = describe_frame_changes(stored, current) if pixels_changed else []
    return BindingComparison(changed=tuple(attrs + frames), pixels_changed=pixels_changed,
                             metadata_changed=bool(attrs), current=current)


def describe_frame_changes(stored: Binding, current: Binding) -> list[str]:
    """Name changed frames (1-based), and say when a frame is another credentialed frame moved."""
    out: list[str] = []
    if stored.pixel_format != current.pixel_format:
        diffs = [f"{k} {stored.pixel_format.get(k)} -> {current.pixel_format.get(k)}"
                 for k in sorted(set(stored.pixel_format) | set(current.pixel_format))
                 if stored.pixel_format.get(k) != current.pixel_format.get(k)]
        out.append("pixel format (" + ", ".join(diffs) + ")")
    position = {digest: i for i, digest in enumerate(stored.frames)}
    n = len(stored.frames)
    for i in range(max(n, len(current.frames))):
        if i >= len(current.frames):
            out.append(f"frame {i + 1} of {n} (missing)")
            continue
        if i < n and current.frames[i] == stored.frames[i]:
            continue
        moved = position.get(current.frames[i])
        where = f"frame {i + 1} of {n}"
        if moved is not None and moved != i:
            out.append(f"{where} (holds the pixels of credentialed frame {moved + 1}: frames reordered)")
        elif i >= n:
            out.append(f"frame {i + 1} (added)")
        else:
            out.append(f"{where} (pixel values changed)")
    if not out:
        out.append("pixel digest (inconsistent with its frame digests)")
    return out
