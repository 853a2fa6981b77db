"""The MAC byte stream of DICOM PS3.15 Annex C / PS3.3 C.12.1.1.3.1, byte-exact with DCMTK dcmsign.

Each signed element, in dataset order, is written in Explicit VR Little Endian: tag, VR, length and the stored value
padded to even length. Sequences are written as tag + ``SQ`` + two zero bytes *without* a length; each item is the item
tag alone (no length, no item delimiter); the sequence ends with the sequence delimitation tag alone. Encapsulated
pixel data is written the same way (tag + ``OB`` + 00 00, then item tags followed by the fragment bytes). Left out
everywhere, recursively: group length elements, Length to End (0008,0001), groups below 0008, group FFFA, MAC
Parameters Sequence (4FFE,0001), Data Set Trailing Padding (FFFC,FFFC), elements of VR UN and sequences containing UN.
The signature item's own attributes follow: MAC ID Number, Digital Signature UID, Digital Signature DateTime,
Certificate Type and, when present, the Digital Signature Purpose Code Sequence.

``dcmsign +d FILE`` dumps the same stream; the tests compare them byte for byte.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from radtrust.provenance.signatures._rawdicom import LONG_VRS, Element, Item, encode_header

MAC_PARAMETERS_SEQUENCE = 0x4FFE0001
DIGITAL_SIGNATURES_SEQUENCE = 0xFFFAFFFA
MAC_ID_NUMBER = 0x04000005
MAC_CALC_TS = 0x04000010
MAC_ALGORITHM = 0x04000015
DATA_ELEMENTS_SIGNED = 0x04000020
SIGNATURE_UID = 0x04000100
SIGNATURE_DATETIME = 0x04000105
CERTIFICATE_TYPE = 0x04000110
CERTIFICATE_OF_SIGNER = 0x04000115
SIGNATURE = 0x04000120
TIMESTAMP_TYPE = 0x04000305
TIMESTAMP = 0x04000310
PURPOSE_CODE_SEQUENCE = 0x04000401
#: Signature item attributes that are part of the signed stream, in tag order.
SIGNED_SIGNATURE_ATTRIBUTES = (MAC_ID_NUMBER, SIGNATURE_UID, SIGNATURE_DATETIME, CERTIFICATE_TYPE,
                               PURPOSE_CODE_SEQUENCE)


@dataclass(frozen=True)
class MacAlgorithm:
    """A MAC algorithm as named in (0400,0015); ``weak`` ones are refused by the default policy."""

    dicom_name: str
    hashlib_name: str
    digest_size: int
    weak: bool = False

    def new(self) -> hashlib._Hash:
        return hashlib.new(self.hashlib_name)


#: The one registry of MAC algorithms (CLI name -> algorithm).
MAC_ALGORITHMS: dict[str, MacAlgorithm] = {
    "ripemd160": MacAlgorithm("RIPEMD160", "ripemd160", 20),
    "sha1": MacAlgorithm("SHA1", "sha1", 20, weak=True),
    "md5": MacAlgorithm("MD5", "md5", 16, weak=True),
    "sha256": MacAlgorithm("SHA256", "sha256", 32),
    "sha384": MacAlgorithm("SHA384", "sha384", 48),
    "sha512": MacAlgorithm("SHA512", "sha512", 64),
}


def mac_algorithm(dicom_name: str) -> MacAlgorithm | None:
    """The algorithm for a (0400,0015) value, or None when unknown."""
    for alg in MAC_ALGORITHMS.values():
        if alg.dicom_name == dicom_name.strip():
            return alg
    return None


def is_excluded(tag: int) -> bool:
    """Elements that are never part of a MAC stream (PS3.15 C.12.1 exclusions)."""
    group, element = tag >> 16, tag & 0xFFFF
    return (element == 0 or group < 0x0008 or tag == 0x00080001 or group == 0xFFFA
            or tag == MAC_PARAMETERS_SEQUENCE or tag == 0xFFFCFFFC or group == 0xFFFE)


def contains_un(elem: Element) -> bool:
    if elem.vr == "UN":
        return True
    if elem.items is None:
        return False
    return any(contains_un(sub) for item in elem.items for sub in item.elements.values()
               if not is_excluded(sub.tag))


def is_signable(elem: Element) -> bool:
    """Whether an element can be listed in Data Elements Signed."""
    return not is_excluded(elem.tag) and not contains_un(elem)


def _certain(elem: Element) -> bool:
    if elem.guessed_vr:
        return False
    return elem.items is None or all(_certain(s) for it in elem.items for s in it.elements.values())


def signable_tags(item: Item) -> list[int]:
    """Tags that a sign-everything signature lists in Data Elements Signed, in dataset order.

    Implicit VR private elements whose VR only a private dictionary knows are left out (a verifier with another
    dictionary could encode them differently); they are still checked when a signature made elsewhere lists them.
    """
    return [tag for tag, elem in item.elements.items() if is_signable(elem) and _certain(elem)]


def _chunks_element(elem: Element) -> Iterator[bytes | memoryview]:
    if elem.items is not None:
        yield encode_header(elem.tag, "SQ", 0, True)[:8]
        for item in elem.items:
            yield b"\xfe\xff\x00\xe0"
            for sub in item.elements.values():
                if is_signable(sub):
                    yield from _chunks_element(sub)
        yield b"\xfe\xff\xdd\xe0"
    elif elem.fragments is not None:
        yield encode_header(elem.tag, elem.vr, 0, True)[:8]
        for frag in elem.fragments:
            yield b"\xfe\xff\x00\xe0"
            yield frag
        yield b"\xfe\xff\xdd\xe0"
    else:
        value = elem.value
        if len(value) % 2:
            value = bytes(value) + (b"\x00" if elem.vr in ("UI", "OB") else b" ")
        vr = elem.vr if elem.vr in LONG_VRS or len(value) <= 0xFFFF else "UN"
        yield encode_header(elem.tag, vr, len(value), True)
        yield value


def stream_chunks(item: Item, tags: Iterable[int], signature_item: Item) -> Iterator[bytes | memoryview]:
    """The MAC stream as chunks: the listed elements of ``item`` in dataset order, then the signature attributes.

    Tags listed but absent are skipped (the MAC then fails, as in DCMTK); callers report them.
    """
    wanted = set(tags)
    for tag, elem in item.elements.items():
        if tag in wanted and is_signable(elem):
            yield from _chunks_element(elem)
    for tag in SIGNED_SIGNATURE_ATTRIBUTES:
        elem = signature_item.get(tag)
        if elem is not None:
            yield from _chunks_element(elem)


def mac_stream(item: Item, tags: Iterable[int], signature_item: Item) -> bytes:
    """The whole MAC stream as bytes (for tests and ``--dump``); signing hashes the chunks instead."""
    return b"".join(stream_chunks(item, tags, signature_item))


def digest(item: Item, tags: Iterable[int], signature_item: Item, alg: MacAlgorithm,
           sink: Callable[[bytes | memoryview], None] | None = None) -> bytes:
    """Hash the MAC stream with ``alg``; ``sink`` (optional) receives every chunk too."""
    h = alg.new()
    for chunk in stream_chunks(item, tags, signature_item):
        h.update(chunk)
        if sink is not None:
            sink(chunk)
    return h.digest()
