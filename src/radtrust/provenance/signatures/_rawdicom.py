"""A byte-preserving DICOM element tree: the primitive under signing and verification (PS3.5 Section 7).

Signatures cover the exact stored bytes of each value, so this parser never converts values: every leaf keeps
the memoryview of its value in the file. pydicom's value conversion (string stripping, number formatting) would
make the MAC stream depend on pydicom's rendering; reading raw bytes keeps it byte-exact with DCMTK.

Supported dataset encodings: Explicit VR Little Endian (native and every encapsulated syntax) and Implicit VR
Little Endian (VRs from the data dictionary, unknown private tags as UN). Big Endian and Deflate are refused.
Serialisation writes sequences and items with undefined lengths, values verbatim.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from radtrust.errors import InvalidDicom, UnsupportedSyntax
from radtrust.io.files import check_regular

EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
BIG_ENDIAN = "1.2.840.10008.1.2.2"
DEFLATED = ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1")
LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"})
ITEM, ITEM_END, SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF
PIXEL_DATA = 0x7FE00010
_U16, _U32, _TAG = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<HH")


@dataclass
class Element:
    """One data element: a leaf (``value``), a sequence (``items``) or encapsulated pixel data (``fragments``)."""

    tag: int
    vr: str
    value: bytes | memoryview = b""
    items: list[Item] | None = None
    fragments: list[bytes | memoryview] | None = None
    #: VR taken from a private dictionary for Implicit VR data: radtrust never signs these (another toolkit's
    #: dictionary may disagree) but checks them when a signature made elsewhere lists them.
    guessed_vr: bool = False

    @property
    def is_sequence(self) -> bool:
        return self.items is not None

    def text(self) -> str:
        """The value as a stripped string (UIDs, codes, names); for reports only, never for signing."""
        return bytes(self.value).decode("latin-1").rstrip("\x00 ")


@dataclass
class Item:
    """A dataset or sequence item: elements by tag, in stored order."""

    elements: dict[int, Element] = field(default_factory=dict)

    def get(self, tag: int) -> Element | None:
        return self.elements.get(tag)

    def put(self, elem: Element) -> None:
        """Insert or replace an element, keeping ascending tag order."""
        self.elements[elem.tag] = elem
        if list(self.elements) != sorted(self.elements):
            self.elements = dict(sorted(self.elements.items()))

    def remove(self, tag: int) -> None:
        self.elements.pop(tag, None)


@dataclass
class DicomFile:
    """Preamble + file meta bytes kept verbatim, the transfer syntax and the parsed dataset."""

    head: bytes
    transfer_syntax: str
    dataset: Item
    explicit: bool = True

    @property
    def encapsulated(self) -> bool:
        return self.transfer_syntax not in (EXPLICIT_VR_LE, IMPLICIT_VR_LE)


def _vr_for(tag: int, ds: Item | None) -> tuple[str, bool]:
    """(VR, guessed) for Implicit VR data; ambiguous VRs resolved as DCMTK and pydicom do for LE data.

    Private creators are LO; private data elements get the VR of pydicom's private dictionary (guessed=True)
    or UN.
    """
    from pydicom.datadict import dictionary_VR, private_dictionary_VR

    group, element = tag >> 16, tag & 0xFFFF
    if element == 0:
        return "UL", False
    if group % 2:
        if 0x0010 <= element <= 0x00FF:
            return "LO", False
        creator = ds.get((tag & 0xFFFF0000) | (element >> 8)) if ds is not None else None
        try:
            vr = private_dictionary_VR(tag, creator.text()) if creator is not None else "UN"
        except KeyError:
            return "UN", False
        return (vr, True) if " or " not in vr and vr != "UN" else ("UN", False)
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return "UN", False
    if " or " in vr:
        if vr == "US or SS" and ds is not None:
            rep = ds.get(0x00280103)
            return ("SS" if rep is not None and bytes(rep.value[:2]) == b"\x01\x00" else "US"), False
        return ("OW" if "OW" in vr else vr.split(" or ")[0]), False
    return vr, False


class _Parser:
    def __init__(self, buf: memoryview, explicit: bool, path: Path | str) -> None:
        self.buf, self.explicit, self.path = buf, explicit, path

    def fail(self, msg: str) -> InvalidDicom:
        return InvalidDicom(f"malformed DICOM: {msg}", self.path)

    def header(self, pos: int, ds: Item | None) -> tuple[int, str, int, int]:
        """(tag, vr, length, value offset) of the element at pos; ``self.guessed`` tells a private-dictionary VR."""
        self.guessed = False
        buf = self.buf
        if pos + 8 > len(buf):
            raise self.fail(f"truncated element header at byte {pos}")
        g, e = _TAG.unpack_from(buf, pos)
        tag = (g << 16) | e
        if g == 0xFFFE:
            return tag, "", _U32.unpack_from(buf, pos + 4)[0], pos + 8
        if self.explicit:
            vr = bytes(buf[pos + 4:pos + 6]).decode("latin-1")
            if not (vr.isalpha() and vr.isupper()):
                raise self.fail(f"bad VR {vr!r} for ({g:04X},{e:04X}) at byte {pos}")
            if vr in LONG_VRS:
                if pos + 12 > len(buf):
                    raise self.fail(f"truncated element header at byte {pos}")
                return tag, vr, _U32.unpack_from(buf, pos + 8)[0], pos + 12
            return tag, vr, _U16.unpack_from(buf, pos + 6)[0], pos + 8
        length = _U32.unpack_from(buf, pos + 4)[0]
        vr, self.guessed = _vr_for(tag, ds)
        if length == UNDEFINED and vr not in ("SQ", "OB", "OW"):
            vr = "SQ"
        return tag, vr, length, pos + 8

    def dataset(self, pos: int, end: int | None, depth: int = 0) -> tuple[Item, int]:
        """Parse elements from pos to end (or to an item delimiter when end is None)."""
        if depth > 16:
            raise self.fail("sequences nested too deeply")
        item = Item()
        limit = len(self.buf) if end is None else end
        while pos < limit:
            tag, vr, length, vpos = self.header(pos, item)
            if tag == ITEM_END:
                if end is not None:
                    raise self.fail("item delimiter inside a defined-length item")
                return item, vpos
            if tag in (ITEM, SEQ_END):
                raise self.fail(f"unexpected item tag at byte {pos}")
            if tag in item.elements or (item.elements and tag < next(reversed(item.elements))):
                raise self.fail(f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) out of order or repeated")
            if vr == "UN" and length == UNDEFINED and self.explicit:
                # PS3.5 6.2.2 / CP-246: an undefined-length UN is a sequence encoded in Implicit VR LE; DCMTK reads
                # (and signs, and writes) it as SQ, and so does radtrust.
                items, pos = _Parser(self.buf, False, self.path).sequence(vpos, UNDEFINED, depth)
                item.elements[tag] = Element(tag, "SQ", items=items)
                continue
            if vr == "SQ" or (vr == "UN" and length == UNDEFINED):
                items, pos = self.sequence(vpos, length, depth)
                item.elements[tag] = Element(tag, "SQ", items=items)
                continue
            if length == UNDEFINED:
                if tag != PIXEL_DATA:
                    raise self.fail(f"undefined length for ({tag >> 16:04X},{tag & 0xFFFF:04X})")
                frags, pos = self.fragments(vpos)
                item.elements[tag] = Element(tag, vr, fragments=frags)
                continue
            if vpos + length > limit:
                raise self.fail(f"value of ({tag >> 16:04X},{tag & 0xFFFF:04X}) runs past the end (truncated file?)")
            item.elements[tag] = Element(tag, vr, value=self.buf[vpos:vpos + length], guessed_vr=self.guessed)
            pos = vpos + length
        if end is None and depth > 0:
            raise self.fail("item without delimiter (truncated file?)")
        if pos != limit:
            raise self.fail("item length does not match its content")
        return item, pos

    def sequence(self, pos: int, length: int, depth: int) -> tuple[list[Item], int]:
        items: list[Item] = []
        end = None if length == UNDEFINED else pos + length
        if end is not None and end > len(self.buf):
            raise self.fail("sequence runs past the end (truncated file?)")
        while end is None or pos < end:
            tag, _, ilen, vpos = self.header(pos, None)
            if tag == SEQ_END:
                if end is not None:
                    raise self.fail("sequence delimiter inside a defined-length sequence")
                return items, vpos
            if tag != ITEM:
                raise self.fail(f"expected an item tag at byte {pos}")
            sub, pos = self.dataset(vpos, None if ilen == UNDEFINED else vpos + ilen, depth + 1)
            items.append(sub)
        if pos != end:
            raise self.fail("sequence length does not match its items")
        return items, pos

    def fragments(self, pos: int) -> tuple[list[bytes | memoryview], int]:
        frags: list[bytes | memoryview] = []
        while True:
            tag, _, flen, vpos = self.header(pos, None)
            if tag == SEQ_END:
                return frags, vpos
            if tag != ITEM or flen == UNDEFINED or vpos + flen > len(self.buf):
                raise self.fail("broken encapsulated pixel data fragments")
            frags.append(self.buf[vpos:vpos + flen])
            pos = vpos + flen


_PICTURES = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
             (b"GIF8", "GIF"), (b"BM", "BMP"))


def _picture_kind(head: bytes) -> str | None:
    """The picture format a file without a DICOM preamble starts like, if any."""
    return next((kind for magic, kind in _PICTURES if head.startswith(magic)), None)


def _known_syntax(ts: str) -> bool:
    """A standard transfer syntax (one newer than pydicom included) or a private one pydicom knows."""
    import warnings

    from pydicom.uid import UID

    if re.fullmatch(r"1\.2\.840\.10008\.1\.2(\.(0|[1-9][0-9]*))*", ts):  # the standard's transfer syntax branch
        return True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a malformed UID is just an unknown one
        return UID(ts).is_transfer_syntax


def parse(data: bytes, path: Path | str = "<bytes>") -> DicomFile:
    """Parse a DICOM Part 10 file (or a bare Explicit/Implicit VR LE dataset) without converting values."""
    buf = memoryview(data)
    pos = 0
    if len(buf) >= 132 and bytes(buf[128:132]) == b"DICM":
        pos = 132
    ts = None
    meta_end = pos
    if pos:
        meta = _Parser(buf, True, path)
        while meta_end + 8 <= len(buf) and _U16.unpack_from(buf, meta_end)[0] == 0x0002:
            tag, vr, length, vpos = meta.header(meta_end, None)
            if length == UNDEFINED or vpos + length > len(buf):
                raise InvalidDicom("malformed file meta information", path)
            if tag == 0x00020010:
                ts = bytes(buf[vpos:vpos + length]).decode("ascii", "replace").rstrip("\x00 ")
            meta_end = vpos + length
    if ts is None:
        if len(buf) < 8:
            raise InvalidDicom("not a DICOM file", path)
        kind = _picture_kind(bytes(buf[:8]))
        if kind:
            raise InvalidDicom(f"not a DICOM file (a {kind} picture)", path)
        if not pos and _U16.unpack_from(buf, 0)[0] > 0x0008:
            # a bare dataset starts with file meta (0002) or identifying (0008) elements; text does not
            raise InvalidDicom("not a DICOM file (no DICM preamble, no DICOM header)", path)
        vr = bytes(buf[meta_end + 4:meta_end + 6])
        ts = EXPLICIT_VR_LE if vr.isalpha() and vr.isupper() else IMPLICIT_VR_LE
    if ts == BIG_ENDIAN or ts in DEFLATED:
        raise UnsupportedSyntax(f"cannot sign or verify transfer syntax {ts} (convert it with dcmconv +te first)", path)
    if not _known_syntax(ts):  # how its dataset is encoded is anybody's guess
        raise UnsupportedSyntax(f"unknown transfer syntax UID {ts}", path)
    explicit = ts != IMPLICIT_VR_LE
    ds, _ = _Parser(buf, explicit, path).dataset(meta_end, len(buf))
    return DicomFile(head=bytes(buf[:meta_end]), transfer_syntax=ts, dataset=ds, explicit=explicit)


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes; unreadable or empty files raise InvalidDicom naming the file."""
    path = Path(path)
    check_regular(path, error=InvalidDicom)  # a pipe would block the read forever, a folder cannot be read
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidDicom(f"cannot read: {exc.strerror or exc}", path) from None
    if not data:
        raise InvalidDicom("empty file (0 bytes)", path)
    return data


def read(path: str | Path) -> DicomFile:
    return parse(read_bytes(path), path)


# ---------------------------------------------------------------- serialisation

def _pad(elem: Element) -> bytes | memoryview:
    v = elem.value
    if len(v) % 2:
        return bytes(v) + (b"\x00" if elem.vr in ("UI", "OB", "UN") else b" ")
    return v


def encode_header(tag: int, vr: str, length: int, explicit: bool) -> bytes:
    head = _TAG.pack(tag >> 16, tag & 0xFFFF)
    if not explicit:
        return head + _U32.pack(length)
    if vr in LONG_VRS:
        return head + vr.encode() + b"\0\0" + _U32.pack(length)
    if length > 0xFFFF:
        raise InvalidDicom(f"value of ({tag >> 16:04X},{tag & 0xFFFF:04X}) too long for VR {vr}")
    return head + vr.encode() + _U16.pack(length)


def write_item(item: Item, out: list[bytes | memoryview], explicit: bool) -> None:
    for elem in item.elements.values():
        if elem.items is not None:
            out.append(encode_header(elem.tag, "SQ", UNDEFINED, explicit))
            for sub in elem.items:
                out.append(b"\xfe\xff\x00\xe0\xff\xff\xff\xff")
                write_item(sub, out, explicit)
                out.append(b"\xfe\xff\x0d\xe0\x00\x00\x00\x00")
            out.append(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
        elif elem.fragments is not None:
            out.append(encode_header(elem.tag, elem.vr, UNDEFINED, True))
            for frag in elem.fragments:
                out.append(b"\xfe\xff\x00\xe0" + _U32.pack(len(frag)))
                out.append(frag)
            out.append(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
        else:
            value = _pad(elem)
            out.append(encode_header(elem.tag, elem.vr, len(value), explicit))
            out.append(value)


def serialise(f: DicomFile) -> bytes:
    out: list[bytes | memoryview] = [f.head]
    write_item(f.dataset, out, f.explicit)
    return b"".join(out)


def leaf(tag: int, vr: str, value: bytes) -> Element:
    return Element(tag, vr, value=value)


def text_value(value: str, vr: str) -> bytes:
    raw = value.encode("ascii")
    if len(raw) % 2:
        raw += b"\x00" if vr == "UI" else b" "
    return raw
