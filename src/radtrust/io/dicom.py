"""Reading DICOM files strictly, so hostile or broken input fails early with one clear line.

pydicom 3 parses the file; pylibjpeg (libjpeg, openjpeg, rle plug-ins) decodes JPEG baseline,
extended and lossless, JPEG-LS, JPEG 2000 and RLE; deflate is handled by pydicom itself.
Every element is converted once at read time (values are lazy in pydicom), so garbage in a
sequence surfaces here rather than in the middle of a detector.
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from radtrust.config import Limits
from radtrust.errors import CorruptPixelData, InvalidDicom, TooLarge, UnsupportedSyntax
from radtrust.io.files import check_regular
from radtrust.io.hounsfield import INFERRED_CT, hounsfield_modality
from radtrust.io.image import Acquisition, Geometry, Image, colour_clipped

PIXEL_DATA_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
DIGITAL_SIGNATURES_SEQUENCE = 0xFFFAFFFA
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


def is_dicomdir(ds: Any) -> bool:
    meta = getattr(ds, "file_meta", None)
    return meta is not None and str(meta.get("MediaStorageSOPClassUID", "")) == MEDIA_STORAGE_DIRECTORY


def read_dataset(path: str | os.PathLike[str], *, limits: Limits | None = None, stop_before_pixels: bool = False) -> Any:
    """Read and validate a DICOM file; return the pydicom FileDataset (pixels not decoded).

    Raises InvalidDicom for anything that is not a well-formed DICOM file.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    limits = limits or Limits.from_env()
    path = Path(path)
    size = check_regular(path, error=InvalidDicom)  # a pipe or a device would block the read or never end
    if not os.access(path, os.R_OK):
        raise InvalidDicom("cannot read: permission denied", path)
    if size == 0:
        raise InvalidDicom("empty file (0 bytes)", path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
            except InvalidDicomError:
                # No 128-byte preamble: accept a bare dataset only if it looks like a real one.
                ds = pydicom.dcmread(path, force=True, stop_before_pixels=stop_before_pixels)
                if "SOPClassUID" not in ds and "SOPInstanceUID" not in ds:
                    raise InvalidDicom("not a DICOM file (no preamble, no DICOM header)", path) from None
                _syntax_of_bare_dataset(ds)
            if any("End of file reached before delimiter" in str(w.message) for w in caught):
                # pydicom then returns what it could read (often nothing) as if the file ended there
                raise InvalidDicom("truncated file: it ends inside an element of undefined length (encapsulated "
                                   "Pixel Data or a sequence)", path)
            _check_transfer_syntax(ds, path)
            _walk(ds, path, limits.max_sequence_depth, 0)
    except RecursionError:
        raise InvalidDicom("sequences nested too deeply to be a real image", path) from None
    except (InvalidDicom, UnsupportedSyntax):
        raise
    except EOFError as exc:
        raise InvalidDicom(f"truncated file ({exc})", path) from None
    except Exception as exc:  # pydicom raises many types on malformed input
        raise InvalidDicom(f"malformed DICOM: {_one_line(exc)}", path) from None
    return ds


BARE_DATASET_NOTE = "no file meta information (a bare dataset): transfer syntax {} taken from its encoding"


def _syntax_of_bare_dataset(ds: Any) -> None:
    """A dataset written without its PS3.10 file meta information (old PACS exports, C-STORE dumps) states no
    transfer syntax, and pydicom then cannot decode its pixels. Its encoding, which pydicom detected while reading
    (implicit or explicit VR, byte order), is the transfer syntax when the pixel data are native, as DCMTK assumes
    for such files; encapsulated pixel data cannot be told apart that way and stay without one (decoding says so).
    Recorded in ``ds.file_meta`` and in the image's notes."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    implicit, little = ds.original_encoding
    pixel = ds["PixelData"] if "PixelData" in ds else None
    if implicit is None or (pixel is not None and pixel.is_undefined_length):
        return
    uid = ImplicitVRLittleEndian if implicit else (ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
    meta = meta if meta is not None else FileMetaDataset()
    meta.TransferSyntaxUID = uid
    ds.file_meta = meta
    ds.bare_dataset_syntax = uid.name  # read by image_from_dataset for the note


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def _check_transfer_syntax(ds: Any, path: Path) -> None:
    from pydicom.uid import UID

    meta = getattr(ds, "file_meta", None)
    tsuid = meta.get("TransferSyntaxUID") if meta is not None else None
    if tsuid is None:
        return
    uid = UID(str(tsuid))
    if not uid.is_transfer_syntax:
        raise UnsupportedSyntax(f"unknown transfer syntax UID {uid}", path)


_UNDEFINED = 0xFFFFFFFF


def _check_raw(raw: Any, path: Path) -> None:
    """What pydicom reads leniently from an element still in its raw form: a declared length past the end of the file,
    and a defined-length sequence whose items are not items or run past it (garbage read as metadata otherwise)."""
    length, value = getattr(raw, "length", None), getattr(raw, "value", None)
    if length is None or not isinstance(value, (bytes, bytearray)) or length == _UNDEFINED:
        return
    if len(value) < length:
        from pydicom.datadict import dictionary_description

        try:
            name = f"{dictionary_description(raw.tag)} {raw.tag}"
        except KeyError:
            name = f"element {raw.tag}"
        raise InvalidDicom(f"{name} declares {length} bytes but the file ends after {len(value)} "
                           "(truncated, or a corrupt length)", path)
    if raw.VR != "SQ" or getattr(raw, "is_undefined_length", False):
        return
    order = "<" if getattr(raw, "is_little_endian", True) else ">"
    pos = 0
    while pos < len(value):
        if pos + 8 > len(value):
            raise InvalidDicom(f"sequence {raw.tag} ends inside an item header", path)
        group, element, size = struct.unpack_from(f"{order}HHI", value, pos)
        if (group, element) != (0xFFFE, 0xE000):
            raise InvalidDicom(f"sequence {raw.tag} holds ({group:04X},{element:04X}) where an item must be", path)
        if size == _UNDEFINED:  # an item of undefined length: pydicom finds its delimiter
            return
        pos += 8 + size
    if pos != len(value):
        raise InvalidDicom(f"an item of sequence {raw.tag} runs past the sequence's end", path)


def _walk(ds: Any, path: Path, max_depth: int, depth: int) -> None:
    """Convert every element (pydicom converts lazily) and bound the sequence depth."""
    if depth > max_depth:
        raise InvalidDicom(f"sequences nested deeper than {max_depth} levels", path)
    for tag in list(ds.keys()):
        _check_raw(ds.get_item(tag), path)
        try:
            elem = ds[tag]
        except Exception as exc:
            raise InvalidDicom(f"element {tag} cannot be parsed: {_one_line(exc)}", path) from None
        if elem.VR == "SQ":
            for item in elem.value:
                _walk(item, path, max_depth, depth + 1)


def _float(ds: Any, keyword: str) -> float | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (list, tuple)) or hasattr(value, "__len__") and not isinstance(value, (str, bytes)):
            value = list(value)[0]
        return float(value)
    except (TypeError, ValueError, IndexError):
        return None


# the modality an image storage SOP class implies (PS3.4 B.5), for an image whose Modality (Type 1) is absent
SOP_CLASS_MODALITY = {
    "1.2.840.10008.5.1.4.1.1.2": "CT", "1.2.840.10008.5.1.4.1.1.2.1": "CT", "1.2.840.10008.5.1.4.1.1.2.2": "CT",
    "1.2.840.10008.5.1.4.1.1.1": "CR", "1.2.840.10008.5.1.4.1.1.1.1": "DX", "1.2.840.10008.5.1.4.1.1.1.1.1": "DX",
    "1.2.840.10008.5.1.4.1.1.1.2": "MG", "1.2.840.10008.5.1.4.1.1.1.2.1": "MG", "1.2.840.10008.5.1.4.1.1.4": "MR",
    "1.2.840.10008.5.1.4.1.1.4.1": "MR", "1.2.840.10008.5.1.4.1.1.6.1": "US", "1.2.840.10008.5.1.4.1.1.20": "NM",
    "1.2.840.10008.5.1.4.1.1.128": "PT",
}


UNSTATED_MODALITIES = ("", "OT", "SC")  # what says nothing about the acquisition: read from the values instead


def modality_of(ds: Any) -> tuple[str | None, str | None]:
    """(modality, note): the Modality attribute, or, where it is absent or empty, the one the SOP class implies (an
    editor that strips it must not turn the modality's own checks off), with a note saying so. A CT image storage
    object is read as CT whatever Modality says: relabelled OT, it would escape the CT checks the same way."""
    stated = _text(ds, "Modality")
    implied = SOP_CLASS_MODALITY.get(str(ds.get("SOPClassUID", "")).strip())
    if stated and (implied != "CT" or stated.upper() == "CT"):
        return stated, None
    if implied is None:
        return None, None
    if stated:
        return implied, f"Modality {stated} contradicts the SOP class ({ds.SOPClassUID.name}): read as {implied}"
    return implied, f"Modality absent: {implied} from the SOP class ({ds.SOPClassUID.name})"


def _text(ds: Any, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    if not isinstance(value, str) and hasattr(value, "__iter__"):
        return "\\".join(str(v) for v in value)
    return str(value)


def _floats(ds: Any, keyword: str, n: int) -> tuple[float, ...] | None:
    value = ds.get(keyword)
    if value is None:
        return None
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return values if len(values) == n else None


def functional_item(ds: Any, sequence: str, frame: int = 0) -> Any:
    """The item of a functional group macro (``sequence``, e.g. PixelMeasuresSequence) that applies to ``frame`` of
    an enhanced multi-frame image: per-frame if present there, else shared (PS3.3 C.7.6.16). None if absent."""
    for groups, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        items = ds.get(groups)
        try:
            value = items[index].get(sequence) if items is not None and len(items) > index else None
            if value:
                return value[0]
        except (TypeError, AttributeError, IndexError):
            continue
    return None


def rescale_type(ds: Any) -> str:
    """Rescale Type (upper case), top level or in the functional groups; "" where the header has none."""
    if ds is None:
        return ""
    item = ds if "RescaleType" in ds else functional_item(ds, "PixelValueTransformationSequence")
    return str(item.get("RescaleType", "") or "").strip().upper() if item is not None else ""


def not_hounsfield(ds: Any, pixels: np.ndarray | None = None) -> str | None:
    """Why a CT image's values are not Hounsfield units, or None: a Rescale Type other than HU (PS3.3 C.11.1.1.2;
    a derived map such as a perfusion rCBF says US, unspecified), top level or in the functional groups. Absent
    means HU, as CT Image Storage implies. With ``pixels`` (in modality units) the claim is checked against them: values
    that hold air near -1000 and water near 0 (:func:`radtrust.io.hounsfield.hounsfield_modality`) are CT numbers
    whatever the header says, so writing a Rescale Type into an edited CT does not turn the CT checks off (header
    forensics reports the contradiction)."""
    kind = rescale_type(ds)
    if kind and kind != "HU":
        if pixels is not None and hounsfield_modality(pixels) == "CT":
            return None
        return f"its values are not Hounsfield units (Rescale Type {kind})"
    return None


def frame_rescales(ds: Any, frames: int) -> list[tuple[float, float]] | None:
    """Per frame (slope, intercept) from the Pixel Value Transformation functional group; None without one."""
    out = []
    for i in range(frames):
        item = functional_item(ds, "PixelValueTransformationSequence", i)
        if item is None:
            return None
        slope, intercept = _float(item, "RescaleSlope"), _float(item, "RescaleIntercept")
        if slope is None or intercept is None or slope == 0:
            return None
        out.append((slope, intercept))
    return out


def geometry_of(ds: Any) -> Geometry:
    """Geometry from the top-level attributes, or for an enhanced multi-frame image from its functional groups
    (Pixel Measures, Plane Orientation, the first frame's Plane Position)."""
    measures, orient, place = ds, ds, ds
    if "PixelSpacing" not in ds and "ImagerPixelSpacing" not in ds:
        measures = functional_item(ds, "PixelMeasuresSequence") or ds
        orient = functional_item(ds, "PlaneOrientationSequence") or ds
        place = functional_item(ds, "PlanePositionSequence") or ds
    spacing = _floats(measures, "PixelSpacing", 2) or _floats(measures, "ImagerPixelSpacing", 2)
    if spacing is not None and min(spacing) <= 0:
        spacing = None  # e.g. RG1_UNCR carries [0, 0]
    return Geometry(
        pixel_spacing=spacing,  # type: ignore[arg-type]
        slice_thickness=_float(measures, "SliceThickness"),
        position=_floats(place, "ImagePositionPatient", 3),  # type: ignore[arg-type]
        orientation=_floats(orient, "ImageOrientationPatient", 6),
        spacing_between_slices=_float(measures, "SpacingBetweenSlices"),
    )


def acquisition_of(ds: Any) -> Acquisition:
    mas = _float(ds, "Exposure")
    if mas is None:
        uas = _float(ds, "ExposureInuAs")
        mas = uas / 1000.0 if uas is not None else None
    return Acquisition(
        kvp=_float(ds, "KVP"),
        tube_current_ma=_float(ds, "XRayTubeCurrent"),
        exposure_mas=mas,
        exposure_time_ms=_float(ds, "ExposureTime"),
        kernel=_text(ds, "ConvolutionKernel"),
        manufacturer=_text(ds, "Manufacturer"),
        model=_text(ds, "ManufacturerModelName"),
        device_serial=_text(ds, "DeviceSerialNumber"),
        detector_serial=_text(ds, "DetectorID"),
        exposure_index=_float(ds, "ExposureIndex"),
        software_versions=_text(ds, "SoftwareVersions"),
    )


def count_signatures(ds: Any) -> int:
    """Digital Signatures Sequence items in the dataset and in every nested item."""
    total = 0
    for elem in ds.iterall():
        if elem.tag == DIGITAL_SIGNATURES_SEQUENCE and elem.VR == "SQ":
            total += len(elem.value)
    return total


def _int(ds: Any, keyword: str, path: Path, default: int | None = None) -> int:
    value = ds.get(keyword, default)
    if value is None:
        raise InvalidDicom(f"missing {keyword}", path)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidDicom(f"{keyword} is not an integer: {value!r}", path) from None


def pixel_layout(ds: Any, path: Path, limits: Limits) -> tuple[int, int, int, int, int]:
    """(frames, rows, columns, samples, bits allocated), refused before allocation if too big."""
    if not any(tag in ds for tag in PIXEL_DATA_TAGS):
        raise InvalidDicom("no Pixel Data in the file", path)
    rows = _int(ds, "Rows", path)
    cols = _int(ds, "Columns", path)
    frames = _int(ds, "NumberOfFrames", path, 1) or 1
    samples = _int(ds, "SamplesPerPixel", path, 1)
    bits = _int(ds, "BitsAllocated", path)
    if rows <= 0 or cols <= 0 or frames <= 0 or samples not in (1, 3):
        raise InvalidDicom(f"impossible image size {frames}x{rows}x{cols}x{samples}", path)
    if bits not in (1, 8, 16, 32, 64):
        raise InvalidDicom(f"unsupported BitsAllocated {bits}", path)
    # Decoded stored values plus the float32 modality-unit copy.
    need = frames * rows * cols * samples * (max(bits, 8) // 8 + 4)
    if need > limits.max_pixel_bytes:
        raise TooLarge(
            f"{frames} frame(s) of {rows}x{cols} would need {need / 2**30:.1f} GiB, over the limit of "
            f"{limits.max_pixel_bytes / 2**30:.1f} GiB (RADTRUST_MAX_PIXEL_BYTES)",
            path,
        )
    return frames, rows, cols, samples, bits


def decode_pixels(ds: Any, path: Path, limits: Limits) -> np.ndarray:
    """Stored values as an array (frames, rows, cols) or (rows, cols), checked against the header."""
    from pydicom.uid import JPEG2000TransferSyntaxes  # JPEG 2000 and HTJ2K

    frames, rows, cols, samples, bits = pixel_layout(ds, path, limits)
    tsuid = ds.file_meta.get("TransferSyntaxUID") if getattr(ds, "file_meta", None) else None
    if "PixelData" in ds and tsuid is None:  # a bare dataset whose syntax its encoding could not give
        encapsulated = ds["PixelData"].is_undefined_length
        raise UnsupportedSyntax("no transfer syntax stated (no file meta information)" + (
            " and the pixel data are encapsulated: their codec cannot be told" if encapsulated else ""), path)
    if "PixelData" in ds and tsuid is not None and not tsuid.is_compressed:
        expected = frames * rows * cols * samples * bits // 8
        actual = len(ds.PixelData)
        if actual < expected:
            raise CorruptPixelData(f"Pixel Data has {actual} bytes, the header needs {expected}", path)
    if "PixelData" in ds and tsuid is not None and tsuid in JPEG2000TransferSyntaxes:
        _check_j2k_sizes(ds.PixelData, rows, cols, path, frames)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = ds.pixel_array
    except NotImplementedError as exc:
        raise UnsupportedSyntax(f"cannot decode pixel data: {_one_line(exc)}", path) from None
    except RuntimeError as exc:
        text = _one_line(exc)
        if "plugin" in text.lower() or "no pixel data decoders" in text.lower() or "unable to decode" in text.lower():
            raise UnsupportedSyntax(f"cannot decode pixel data: {text}", path) from None
        raise CorruptPixelData(f"corrupt pixel data: {text}", path) from None
    except Exception as exc:
        arr = _frames_one_fragment_each(ds, frames) if tsuid is not None and tsuid.is_compressed else None
        if arr is None:
            what = "its frames cannot be located" if isinstance(exc, StopIteration) else _one_line(exc)
            raise CorruptPixelData(f"corrupt pixel data: {what}", path) from None
    # pydicom keeps the decoded array on the dataset; the Image keeps its own copy in modality units, so the cache
    # would add 2 bytes per pixel to every image held (a third of what a long multi-frame file costs per frame)
    if getattr(ds, "_pixel_array", None) is not None:
        ds._pixel_array = None
    expected_shape = (rows, cols) if frames == 1 else (frames, rows, cols)
    if samples == 3:
        expected_shape = expected_shape + (3,)
    if tuple(arr.shape) != expected_shape:
        raise CorruptPixelData(f"decoded shape {arr.shape} differs from the header's {expected_shape}", path)
    return arr


_SOC_SIZ = b"\xff\x4f\xff\x51"  # start of codestream, then the image and tile size segment
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"


def _check_j2k_sizes(data: bytes, rows: int, cols: int, path: Path, frames: int = 1) -> None:
    """Each frame's JPEG 2000 codestream size (its SIZ segment) against the header's, before the decoder allocates
    it: a codestream that claims 60,000 x 60,000 behind a 512 x 512 header would otherwise cost gigabytes first.

    Only where a codestream starts is read: at the start of each frame's first fragment (or of a JP2 file's
    ``jp2c`` box). The bytes FF4F FF51 can occur inside coded data (a byte after FF there only has to stay under
    0x90), and searching the whole of Pixel Data for them refused a valid irreversible JPEG 2000 CT slice once."""
    from pydicom.encaps import generate_fragmented_frames

    try:
        starts = [fragments[0] for fragments in generate_fragmented_frames(data, number_of_frames=frames)
                  if fragments]
    except (ValueError, TypeError, IndexError, StopIteration):
        return  # no frame can be located: decoding reports that, and allocates nothing first
    for frame in starts:
        at = 0
        if frame.startswith(_JP2_SIGNATURE):
            box = frame.find(b"jp2c")
            at = box + 4 if box >= 0 else -1
        if at < 0 or frame[at:at + 4] != _SOC_SIZ or at + 24 > len(frame):
            continue  # not a codestream's start: the decoder judges it
        xsiz, ysiz, x0, y0 = struct.unpack_from(">IIII", frame, at + 8)  # after SOC, SIZ, Lsiz, Rsiz
        width, height = xsiz - x0, ysiz - y0
        if (width, height) != (cols, rows):
            raise CorruptPixelData(f"a JPEG 2000 codestream is {width}x{height}, the header says {cols}x{rows}", path)


def _frames_one_fragment_each(ds: Any, frames: int) -> np.ndarray | None:
    """Encapsulated frames read one fragment each, ignoring a Basic Offset Table that points elsewhere.

    Some writers' offset tables disagree with their items (GDCM's example 00191113.dcm, a 4-frame JPEG
    Lossless XA: each offset one byte off after an odd-length fragment), so pydicom finds no frames where the
    table says. GDCM and DCMTK read such a file; so does radtrust, when there is exactly one fragment per
    frame. The input dataset is not changed (a new dataset carries the re-encapsulated data). None if the
    fragments do not match the frames or still do not decode.
    """
    from pydicom.dataset import Dataset
    from pydicom.encaps import encapsulate, generate_fragments

    try:
        items = list(generate_fragments(ds.PixelData))
        if frames < 2 or len(items) != frames + 1:  # the first item is the offset table
            return None
        clone = Dataset()
        clone.file_meta = ds.file_meta
        for elem in ds:
            if elem.tag != 0x7FE00010:
                clone.add(elem)
        clone.PixelData = encapsulate(items[1:], has_bot=False)
        clone["PixelData"].VR = "OB"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return clone.pixel_array
    except Exception:  # noqa: BLE001 - any failure here means the file is as corrupt as it first looked
        return None


def is_colour(ds: Any, stored: np.ndarray) -> bool:
    """Whether decoded pixel data holds three samples per pixel (RGB, as pydicom decodes YBR too)."""
    return stored.ndim >= 3 and stored.shape[-1] == 3 and int(ds.get("SamplesPerPixel", 1)) == 3


def to_modality_units(ds: Any, stored: np.ndarray) -> tuple[np.ndarray, tuple[float, float] | None, list[str]]:
    """Apply the Modality LUT (rescale slope/intercept or LUT sequence); colour becomes luminance."""
    from pydicom.pixels import apply_modality_lut

    notes: list[str] = []
    arr = stored
    if is_colour(ds, arr):
        arr = arr[..., 0] * 0.299 + arr[..., 1] * 0.587 + arr[..., 2] * 0.114
        notes.append("colour image converted to luminance")
        return arr.astype(np.float32), None, notes
    if "RescaleSlope" not in ds and "RescaleIntercept" not in ds and "ModalityLUTSequence" not in ds:
        frames = frame_rescales(ds, arr.shape[0] if arr.ndim == 3 else 1)
        if frames is not None:  # an enhanced multi-frame image: the rescale lives in its functional groups
            notes.append("rescale read from the functional groups (Pixel Value Transformation)")
            factors = np.asarray(frames, dtype=np.float64)
            if arr.ndim == 3:
                out = arr * factors[:, 0, None, None] + factors[:, 1, None, None]
            else:
                out = arr * factors[0, 0] + factors[0, 1]
            uniform = bool(np.all(factors == factors[0]))
            return out.astype(np.float32), (tuple(float(v) for v in factors[0]) if uniform else None), notes
    slope = _float(ds, "RescaleSlope")
    intercept = _float(ds, "RescaleIntercept")
    rescale = (slope if slope is not None else 1.0, intercept if intercept is not None else 0.0)
    if "ModalityLUTSequence" in ds:
        notes.append("modality LUT sequence applied")
        rescale = None
    if arr.ndim == 3:  # frame by frame: pydicom rescales in float64, a copy 4x the size of a whole multi-frame file
        out = np.empty(arr.shape, np.float32)
        for i, frame in enumerate(arr):
            out[i] = apply_modality_lut(frame, ds)
        return out, rescale, notes
    out = apply_modality_lut(arr, ds)
    return np.asarray(out, dtype=np.float32), rescale, notes


def load_dicom(path: str | os.PathLike[str], *, limits: Limits | None = None) -> Image:
    """Read one DICOM file into an :class:`Image` in modality units."""
    limits = limits or Limits.from_env()
    path = Path(path)
    ds = read_dataset(path, limits=limits)
    return image_from_dataset(ds, path, limits=limits)


def image_from_dataset(ds: Any, path: Path | None, *, limits: Limits | None = None) -> Image:
    limits = limits or Limits.from_env()
    if is_dicomdir(ds):
        raise InvalidDicom("a DICOMDIR (media directory), not an image", path)
    for keyword in ("RescaleSlope", "RescaleIntercept"):  # pydicom keeps a malformed DS as text, numpy then fails
        value = ds.get(keyword)
        number = _float(ds, keyword)
        if value not in (None, "") and (number is None or not np.isfinite(number)):
            raise InvalidDicom(f"{keyword} is not a finite number ({str(value)[:40]!r})", path)
        if value not in (None, "") and not isinstance(value, (str, bytes)) and hasattr(value, "__len__"):
            raise InvalidDicom(f"{keyword} holds {len(value)} values where the standard allows one", path)
    stored = decode_pixels(ds, path or Path("<dataset>"), limits)
    pixels, rescale, notes = to_modality_units(ds, stored)
    top = float(2 ** min(int(ds.get("BitsStored", 8)), 16) - 1)  # decoding has checked BitsStored
    clipped = colour_clipped(stored, top) if is_colour(ds, stored) else None
    if bare := getattr(ds, "bare_dataset_syntax", None):
        notes.insert(0, BARE_DATASET_NOTE.format(bare))
    modality, implied = modality_of(ds)
    if implied:
        notes.insert(0, implied)
    if (modality or "").upper() in UNSTATED_MODALITIES and hounsfield_modality(pixels) == "CT":
        # a CT filed as a secondary capture or "other" (by a workstation's export, or to escape the CT checks)
        notes.insert(0, f"{INFERRED_CT}; {f'the header says Modality {modality}' if modality else 'no Modality'}")
        modality = "CT"
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip() or "MONOCHROME2"
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        notes.append(f"photometric interpretation {photometric} read as luminance")
        photometric = "MONOCHROME2"
    tsuid = ds.file_meta.get("TransferSyntaxUID") if getattr(ds, "file_meta", None) else None
    return Image(
        path=path,
        pixels=pixels,
        source_format="dicom",
        modality=modality,
        photometric=photometric,
        bits_stored=int(ds.BitsStored) if "BitsStored" in ds else None,
        transfer_syntax=str(tsuid) if tsuid else None,
        transfer_syntax_name=tsuid.name if tsuid else None,
        sop_class_uid=_text(ds, "SOPClassUID"),
        sop_instance_uid=_text(ds, "SOPInstanceUID") or (
            _text(ds.file_meta, "MediaStorageSOPInstanceUID") if getattr(ds, "file_meta", None) else None),
        series_instance_uid=_text(ds, "SeriesInstanceUID"),
        study_instance_uid=_text(ds, "StudyInstanceUID"),
        patient_id=_text(ds, "PatientID"),
        rescale=rescale,
        geometry=geometry_of(ds),
        acquisition=acquisition_of(ds),
        signature_count=count_signatures(ds),
        notes=tuple(notes),
        dataset=ds,
        colour_clipped=clipped,
    )
