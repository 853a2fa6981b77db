"""Where a credential lives: a private block inside the DICOM file, and optionally a sidecar file.

In the file: private creator ``RADTRUST CREDENTIAL 1`` reserves a block in group 0x0099 (PS3.5 §7.8.1);
element ``(0099,xx01)`` OB holds the *bundle*, the deterministic CBOR array
``[credential, parent, grandparent, ...]`` of COSE_Sign1 messages (newest first). OB is never
byte-swapped, and after an Implicit VR round trip it reads back as UN with the same bytes, so the
bundle survives every transcoding path. A sidecar (``<file>.radcred``) holds the same bundle bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radtrust.io.atomic import write_atomic
from radtrust.io.files import read_side_file

PRIVATE_GROUP = 0x0099
PRIVATE_CREATOR = "RADTRUST CREDENTIAL 1"
BUNDLE_ELEMENT = 0x01
SIDECAR_SUFFIX = ".radcred"


@dataclass(frozen=True)
class Bundle:
    """A credential and the credentials of the images it was derived from (newest first)."""

    credential: bytes
    ancestors: tuple[bytes, ...] = ()

    def to_bytes(self) -> bytes:
        import cbor2

        return cbor2.dumps([self.credential, *self.ancestors], canonical=True)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Bundle":
        import cbor2

        data = bytes(data)
        try:
            obj = cbor2.loads(data)
        except Exception:
            # DICOM pads OB values to even length with one 0x00.
            try:
                obj = cbor2.loads(data[:-1]) if data.endswith(b"\x00") else None
            except Exception:
                obj = None
        if not (isinstance(obj, (list, tuple)) and obj and all(isinstance(m, bytes) for m in obj)):
            raise ValueError("the credential bundle is not a CBOR array of COSE messages")
        return cls(credential=obj[0], ancestors=tuple(obj[1:]))

    def derive(self, child: bytes) -> "Bundle":
        """The bundle of a child credential: it keeps this whole chain."""
        return Bundle(credential=child, ancestors=(self.credential, *self.ancestors))


def _block(ds: Any, create: bool) -> Any:
    try:
        return ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=create)
    except KeyError:
        return None


def embed(ds: Any, bundle: Bundle) -> None:
    """Put the bundle into the dataset's reserved private block (replacing an earlier one)."""
    block = _block(ds, create=True)
    value = bundle.to_bytes()
    if len(value) % 2:
        value += b"\x00"
    block.add_new(BUNDLE_ELEMENT, "OB", value)


def extract(ds: Any) -> Bundle | None:
    """The bundle stored in the dataset, None when there is none. Raises ValueError if it is garbled."""
    block = _block(ds, create=False)
    if block is None or BUNDLE_ELEMENT not in block:
        return None
    value = block[BUNDLE_ELEMENT].value
    if not isinstance(value, (bytes, bytearray)):
        raise ValueError("the credential element does not hold bytes")
    return Bundle.from_bytes(value)


def remove(ds: Any) -> bool:
    """Delete the credential block; True when there was one."""
    block = _block(ds, create=False)
    if block is None:
        return False
    if BUNDLE_ELEMENT in block:
        del ds[block.get_tag(BUNDLE_ELEMENT)]
    creator_tag = (PRIVATE_GROUP << 16) | (block.block_start >> 8)
    if creator_tag in ds:
        del ds[creator_tag]
    return True


def embed_raw(item: Any, bundle: Bundle) -> None:
    """Put the bundle into a dataset parsed by the PS3.15 signature code (byte-preserving, no re-encoding)."""
    from radtrust.provenance.signatures import _rawdicom as raw

    block = None
    for low in range(0x10, 0x100):
        elem = item.get((PRIVATE_GROUP << 16) | low)
        if elem is None:
            block = low if block is None else block
        elif elem.text() == PRIVATE_CREATOR:
            block = low
            break
    if block is None:
        raise ValueError(f"no free private block in group {PRIVATE_GROUP:04X}")
    value = bundle.to_bytes()
    if len(value) % 2:
        value += b"\x00"
    item.put(raw.leaf((PRIVATE_GROUP << 16) | block, "LO", raw.text_value(PRIVATE_CREATOR, "LO")))
    item.put(raw.leaf((PRIVATE_GROUP << 16) | (block << 8) | BUNDLE_ELEMENT, "OB", value))


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    return Path(str(path) + SIDECAR_SUFFIX)


def write_sidecar(path: str | os.PathLike[str], bundle: Bundle) -> Path:
    target = sidecar_path(path)
    write_atomic(target, bundle.to_bytes(), chmod=0o644)
    return target


def read_sidecar(path: str | os.PathLike[str]) -> Bundle | None:
    target = Path(path)
    if target.suffix != SIDECAR_SUFFIX:
        target = sidecar_path(path)
    if not target.exists():
        return None
    return Bundle.from_bytes(read_side_file(target))
