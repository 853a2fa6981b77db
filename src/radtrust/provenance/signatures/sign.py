"""Signing DICOM files with PS3.15 Annex C digital signatures, as DCMTK dcmsign writes them.

A signature adds one item to the MAC Parameters Sequence (4FFE,0001) and one to the Digital Signatures Sequence
(FFFA,FFFA) of the dataset or sequence item it signs; existing signatures are kept. An optional RFC 3161 timestamp
over the Signature value is stored as Certified Timestamp (0400,0310) of type ``CMS_TSP``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from radtrust.errors import UsageError
from radtrust.io.atomic import write_atomic
from radtrust.provenance.signatures import _rawdicom as raw
from radtrust.provenance.signatures._elements import (
    find_item, format_dt, keyword, make_mac_parameters, mac_parameters, signature_items, us_value,
)
from radtrust.provenance.signatures._rawdicom import Element, Item, text_value
from radtrust.provenance.signatures.keys import Signer
from radtrust.provenance.signatures.mac_stream import (
    CERTIFICATE_OF_SIGNER, CERTIFICATE_TYPE, DIGITAL_SIGNATURES_SEQUENCE, MAC_ALGORITHMS, MAC_ID_NUMBER,
    MAC_PARAMETERS_SEQUENCE, PURPOSE_CODE_SEQUENCE, SIGNATURE, SIGNATURE_DATETIME, SIGNATURE_UID, TIMESTAMP,
    TIMESTAMP_TYPE, digest,
    is_signable, signable_tags,
)
from radtrust.provenance.signatures.profiles import get_profile

log = logging.getLogger(__name__)
#: ASTM E1762 signature purposes (code -> meaning), as DICOM CID 7007 and dcmsign +sp use them.
PURPOSES = {i + 1: m for i, m in enumerate((
    "Author's Signature", "Coauthor's Signature", "Co-participant's Signature", "Transcriptionist/Recorder Signature",
    "Verification Signature", "Validation Signature", "Consent Signature", "Signature Witness Signature",
    "Event Witness Signature", "Identity Witness Signature", "Consent Witness Signature", "Interpreter Signature",
    "Review Signature", "Source Signature", "Addendum Signature", "Modification Signature",
    "Administrative (Error/Edit) Signature", "Timestamp Signature"))}
#: Timestamper: Signature value -> DER TimeStampToken (see timestamp.TsaClient).
Timestamper = Callable[[bytes], bytes]

__all__ = ["SignatureCreated", "sign_item", "sign_bytes", "sign_file", "sign_dataset",
           "describe_created", "unsign_bytes", "sign_job"]


@dataclass(frozen=True)
class SignatureCreated:
    """What one signing operation added."""

    uid: str
    location: str
    mac_id: int
    mac: str
    profile: str
    signed_tags: tuple[int, ...]
    timestamped: bool


def _generate_uid(rng: Any = None) -> str:
    from pydicom.uid import generate_uid

    if rng is not None:
        return "2.25." + str(rng.getrandbits(120) if hasattr(rng, "getrandbits") else int(rng.integers(1 << 62)))
    return generate_uid(prefix=None)


def sign_item(item: Item, signer: Signer, *, transfer_syntax: str, mac: str = "sha256", profile: str = "none",
              tags: Iterable[int] | None = None, location: str = "", now: dt.datetime | None = None,
              uid: str | None = None, timestamper: Timestamper | None = None, rng: Any = None,
              purpose: int | None = None,
              dump: Callable[[bytes | memoryview], None] | None = None) -> SignatureCreated:
    """Add one signature to ``item`` (the main dataset or a sequence item) in place.

    ``purpose`` is an ASTM E1762 signature purpose code (1 Author's Signature ... 18 Timestamp Signature, see
    :data:`PURPOSES`), stored as the Digital Signature Purpose Code Sequence and covered by the signature.
    """
    prof = get_profile(profile)
    prof.check_key(signer.key_type)
    try:
        alg = MAC_ALGORITHMS[mac.lower()]
    except KeyError:
        raise UsageError(f"unknown MAC algorithm {mac!r} (choose from {', '.join(MAC_ALGORITHMS)})") from None
    if alg.weak:
        log.warning("MAC algorithm %s is weak; the default verification policy rejects it", alg.dicom_name)
    if tags is None:
        signed = signable_tags(item)
    else:
        wanted = set(tags)
        absent = [t for t in wanted if t not in item.elements]
        if absent:
            raise UsageError("attributes to sign are not in the dataset: " + ", ".join(keyword(t) for t in absent))
        bad = [t for t in wanted if not is_signable(item.elements[t])]
        if bad:
            raise UsageError("attributes cannot be signed (excluded by PS3.15 or of VR UN): "
                             + ", ".join(keyword(t) for t in bad))
        signed = [t for t in item.elements if t in wanted]
    if not signed:
        raise UsageError("nothing to sign: no attributes given or none signable")
    missing = prof.missing(item.elements, signed)
    if missing:
        raise UsageError(f"profile '{prof.name}' requires signing " + ", ".join(keyword(t) for t in missing))
    ids = [us_value(p.get(MAC_ID_NUMBER)) for p in mac_parameters(item)]
    ids += [us_value(s.get(MAC_ID_NUMBER)) for s in signature_items(item)]
    mac_id = max([i for i in ids if i is not None], default=-1) + 1
    mac_ts = raw.EXPLICIT_VR_LE if transfer_syntax in (raw.EXPLICIT_VR_LE, raw.IMPLICIT_VR_LE) else transfer_syntax

    sig = Item()
    uid = uid or _generate_uid(rng)
    sig.put(Element(MAC_ID_NUMBER, "US", mac_id.to_bytes(2, "little")))
    sig.put(Element(SIGNATURE_UID, "UI", text_value(uid, "UI")))
    sig.put(Element(SIGNATURE_DATETIME, "DT", text_value(format_dt(now or dt.datetime.now(dt.timezone.utc)), "DT")))
    sig.put(Element(CERTIFICATE_TYPE, "CS", text_value("X509_1993_SIG", "CS")))
    if purpose is not None:
        if purpose not in PURPOSES:
            raise UsageError(f"signature purpose must be 1..{len(PURPOSES)} (ASTM E1762), not {purpose}")
        code = Item()
        code.put(Element(0x00080100, "SH", text_value(str(purpose), "SH")))
        code.put(Element(0x00080102, "SH", text_value("ASTM-sigpurpose", "SH")))
        code.put(Element(0x00080104, "LO", PURPOSES[purpose].encode("latin-1") + b" " * (len(PURPOSES[purpose]) % 2)))
        sig.put(Element(PURPOSE_CODE_SEQUENCE, "SQ", items=[code]))
    sig.put(Element(CERTIFICATE_OF_SIGNER, "OB", _even(signer.certificate.public_bytes(serialization.Encoding.DER))))
    value = signer.sign_digest(digest(item, signed, sig, alg, sink=dump), alg)
    sig.put(Element(SIGNATURE, "OB", _even(value)))
    if timestamper is not None:
        token = timestamper(bytes(sig.elements[SIGNATURE].value))
        sig.put(Element(TIMESTAMP_TYPE, "CS", text_value("CMS_TSP", "CS")))
        sig.put(Element(TIMESTAMP, "OB", _even(token)))

    params = make_mac_parameters(mac_id, mac_ts, alg.dicom_name, signed)
    _append(item, MAC_PARAMETERS_SEQUENCE, params)
    _append(item, DIGITAL_SIGNATURES_SEQUENCE, sig)
    log.info("signed %s with MAC %s, %d elements", location or "main dataset", alg.dicom_name, len(signed))
    return SignatureCreated(uid, location, mac_id, alg.dicom_name, prof.name, tuple(signed), timestamper is not None)


def _even(b: bytes) -> bytes:
    return b + b"\x00" if len(b) % 2 else b


def _append(item: Item, tag: int, sub: Item) -> None:
    seq = item.get(tag)
    if seq is None or seq.items is None:
        item.put(Element(tag, "SQ", items=[sub]))
    else:
        seq.items.append(sub)


def sign_bytes(data: bytes, signer: Signer, *, item: str | None = None, path: str | os.PathLike[str] = "<bytes>",
               **options: Any) -> tuple[bytes, SignatureCreated]:
    """Sign a DICOM file held in memory; return the new file bytes and what was added."""
    f = raw.parse(data, path)
    target = find_item(f.dataset, item) if item else f.dataset
    created = sign_item(target, signer, transfer_syntax=f.transfer_syntax, location=item or "", **options)
    return raw.serialise(f), created


def sign_file(path: str | os.PathLike[str], out: str | os.PathLike[str], signer: Signer, *,
              item: str | None = None, **options: Any) -> SignatureCreated:
    """Sign ``path`` and write the result to ``out`` atomically (``out`` may be ``path`` for in-place signing).

    Options are those of :func:`sign_item`: ``mac``, ``profile``, ``tags``, ``now``, ``uid``, ``timestamper``, ``rng``.
    """
    src = Path(path)
    signed, created = sign_bytes(raw.read_bytes(src), signer, item=item, path=src, **options)
    write_atomic(Path(out), signed)
    return created


def sign_dataset(ds: Any, signer: Signer, *, item: str | None = None, **options: Any) -> Any:
    """Sign a pydicom Dataset/FileDataset: return a new signed pydicom dataset (the input is not changed).

    The dataset is encoded by pydicom first, so the signature covers exactly the bytes pydicom writes.
    """
    import io

    import pydicom

    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=False) if hasattr(ds, "save_as") else pydicom.dcmwrite(buf, ds)
    signed, _ = sign_bytes(buf.getvalue(), signer, item=item, **options)
    return pydicom.dcmread(io.BytesIO(signed), force=True)


def describe_created(c: SignatureCreated) -> str:
    where = c.location or "main dataset"
    return (f"signature {c.uid} ({c.mac}, profile {c.profile}, {len(c.signed_tags)} elements"
            f"{', timestamped' if c.timestamped else ''}) in {where}")


def unsign_bytes(data: bytes, uid: str | None = None, *, path: str | os.PathLike[str] = "<bytes>") -> tuple[bytes, int]:
    """Remove the signature with Digital Signature UID ``uid`` (or all signatures, at every level).

    The matching MAC Parameters item goes too; emptied sequences are dropped. Returns (new bytes, removed count).
    """
    from radtrust.provenance.signatures._elements import walk_items

    f = raw.parse(data, path)
    removed = 0
    for _, item in walk_items(f.dataset):
        sigs = signature_items(item)
        keep = [s for s in sigs if uid is not None and (s.get(SIGNATURE_UID) is None
                                                        or s.get(SIGNATURE_UID).text() != uid)]
        gone_ids = {us_value(s.get(MAC_ID_NUMBER)) for s in sigs if s not in keep}
        removed += len(sigs) - len(keep)
        if len(keep) != len(sigs):
            still = {us_value(s.get(MAC_ID_NUMBER)) for s in keep}
            params = [p for p in mac_parameters(item)
                      if us_value(p.get(MAC_ID_NUMBER)) not in gone_ids - still]
            for tag, rest in ((DIGITAL_SIGNATURES_SEQUENCE, keep), (MAC_PARAMETERS_SEQUENCE, params)):
                if rest:
                    item.elements[tag].items = rest
                else:
                    item.remove(tag)
    if uid is not None and removed == 0:
        raise UsageError(f"no signature with UID {uid}", path)
    return raw.serialise(f), removed


def sign_job(signer: Signer, job: tuple[Path, Path, dict[str, Any]]) -> SignatureCreated:
    """One (input, output, options) job for :func:`radtrust.provenance.signatures.batch.map_files`."""
    src, dst, options = job
    return sign_file(src, dst, signer, **options)
