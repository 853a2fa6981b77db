"""Small helpers shared by signing and verification: signature item attributes, AT lists, DER lengths, item paths."""

from __future__ import annotations

import datetime as dt
import re
import struct

from radtrust.errors import UsageError
from radtrust.provenance.signatures._rawdicom import Element, Item, text_value
from radtrust.provenance.signatures.mac_stream import (
    DATA_ELEMENTS_SIGNED, DIGITAL_SIGNATURES_SEQUENCE, MAC_ALGORITHM, MAC_CALC_TS, MAC_ID_NUMBER,
    MAC_PARAMETERS_SEQUENCE,
)


def tag_str(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def keyword(tag: int) -> str:
    from pydicom.datadict import keyword_for_tag

    return keyword_for_tag(tag) or tag_str(tag)


def parse_tag(text: str) -> int:
    """A tag from a keyword, ``gggg,eeee`` or ``(gggg,eeee)``."""
    from pydicom.datadict import tag_for_keyword

    text = text.strip()
    m = re.fullmatch(r"\(?([0-9A-Fa-f]{4}),?([0-9A-Fa-f]{4})\)?", text)
    if m:
        return (int(m.group(1), 16) << 16) | int(m.group(2), 16)
    tag = tag_for_keyword(text)
    if tag is None:
        raise UsageError(f"unknown attribute {text!r} (use a DICOM keyword or gggg,eeee)")
    return int(tag)


def at_value(tags: list[int]) -> bytes:
    return b"".join(struct.pack("<HH", t >> 16, t & 0xFFFF) for t in tags)


def at_tags(value: bytes | memoryview) -> list[int]:
    raw = bytes(value)
    return [(g << 16) | e for g, e in struct.iter_unpack("<HH", raw[: len(raw) // 4 * 4])]


def us_value(elem: Element | None) -> int | None:
    if elem is None or len(elem.value) < 2:
        return None
    return struct.unpack_from("<H", elem.value)[0]


def der_length(data: bytes | memoryview) -> int:
    """Total length of the DER TLV at the start of data (to drop DICOM's even-length padding)."""
    b = bytes(data[:6])
    if len(b) < 2:
        return len(data)
    n = b[1]
    if n < 0x80:
        return 2 + n
    k = n & 0x7F
    if k == 0 or k > 4 or len(b) < 2 + k:
        return len(data)
    return 2 + k + int.from_bytes(b[2:2 + k], "big")


def strip_der(data: bytes | memoryview) -> bytes:
    raw = bytes(data)
    n = der_length(raw)
    if n < len(raw) and set(raw[n:]) <= {0}:
        return raw[:n]
    return raw


def format_dt(when: dt.datetime) -> str:
    """DICOM DT with microseconds and a UTC offset, as DCMTK writes it."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    off = when.utcoffset() or dt.timedelta(0)
    sign = "-" if off < dt.timedelta(0) else "+"
    minutes = abs(int(off.total_seconds())) // 60
    return when.strftime("%Y%m%d%H%M%S.%f") + f"{sign}{minutes // 60:02d}{minutes % 60:02d}"


def parse_dt(text: str) -> dt.datetime | None:
    """A DICOM DT (any precision, optional offset; UTC when absent) as an aware datetime, or None."""
    m = re.fullmatch(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?", text.strip())
    if not m:
        return None
    parts = [int(p) if p else d for p, d in zip(m.groups()[:6], (0, 1, 1, 0, 0, 0))]
    micro = int((m.group(7) or "0").ljust(6, "0"))
    tz = dt.timezone.utc
    if m.group(8):
        s = m.group(8)
        delta = dt.timedelta(hours=int(s[1:3]), minutes=int(s[3:5]))
        tz = dt.timezone(-delta if s[0] == "-" else delta)
    try:
        return dt.datetime(*parts, micro, tzinfo=tz)
    except ValueError:
        return None


def mac_parameters(item: Item) -> list[Item]:
    seq = item.get(MAC_PARAMETERS_SEQUENCE)
    return list(seq.items or []) if seq is not None else []


def signature_items(item: Item) -> list[Item]:
    seq = item.get(DIGITAL_SIGNATURES_SEQUENCE)
    return list(seq.items or []) if seq is not None else []


def make_mac_parameters(mac_id: int, ts_uid: str, mac_name: str, tags: list[int]) -> Item:
    out = Item()
    out.put(Element(MAC_ID_NUMBER, "US", struct.pack("<H", mac_id)))
    out.put(Element(MAC_CALC_TS, "UI", text_value(ts_uid, "UI")))
    out.put(Element(MAC_ALGORITHM, "CS", text_value(mac_name, "CS")))
    out.put(Element(DATA_ELEMENTS_SIGNED, "AT", at_value(tags)))
    return out


_STEP = re.compile(r"\s*(\(?[0-9A-Fa-f]{4},[0-9A-Fa-f]{4}\)?|[A-Za-z][A-Za-z0-9]*)\s*\[\s*(\d+)\s*\]\s*")


def find_item(root: Item, location: str) -> Item:
    """The item at ``Seq[i].Seq[j]`` (dcmsign ``+si`` syntax; keywords or tags, zero-based indices)."""
    item = root
    for step in location.split("."):
        m = _STEP.fullmatch(step)
        if not m:
            raise UsageError(f"bad item location {location!r} (expected e.g. 'ReferencedImageSequence[0]')")
        tag, index = parse_tag(m.group(1)), int(m.group(2))
        elem = item.get(tag)
        if elem is None or elem.items is None:
            raise UsageError(f"no sequence {m.group(1)} at {location!r}")
        if index >= len(elem.items):
            raise UsageError(f"{m.group(1)} has {len(elem.items)} items; no item [{index}]")
        item = elem.items[index]
    return item


def walk_items(item: Item, location: str = "") -> list[tuple[str, Item]]:
    """Every dataset/item with its location (``""`` for the main dataset)."""
    out = [(location, item)]
    for tag, elem in item.elements.items():
        if elem.items is None or tag in (MAC_PARAMETERS_SEQUENCE, DIGITAL_SIGNATURES_SEQUENCE):
            continue
        for i, sub in enumerate(elem.items):
            out += walk_items(sub, f"{location + '.' if location else ''}{keyword(tag)}[{i}]")
    return out
