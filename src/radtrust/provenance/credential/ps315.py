"""Issuing a content credential beside a PS3.15 digital signature (what ``radtrust sign`` does by default).

Order: the credential is issued and embedded first, then the PS3.15 signature is computed. The signature's
Data Elements Signed leave out the credential's private block: after an Implicit VR Little Endian
conversion a private OB element reads back as UN, which PS3.15 C.12.1 excludes from the MAC, so a signature
covering it breaks on that lossless conversion (measured with ``dcmsign --verify``). The credential is
signed on its own and needs no cover.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from radtrust.provenance.credential.container import Timestamper
from radtrust.provenance.credential import store
from radtrust.provenance.credential.issue import issue_bundle, issue_bytes
from radtrust.provenance.credential.store import PRIVATE_CREATOR, PRIVATE_GROUP


def credential_tags(item: Any) -> set[int]:
    """Tags of the credential's private block (creator and elements) in a dataset parsed by the signature code."""
    tags: set[int] = set()
    for low in range(0x10, 0x100):
        tag = (PRIVATE_GROUP << 16) | low
        elem = item.get(tag)
        if elem is not None and elem.text() == PRIVATE_CREATOR:
            tags.add(tag)
            tags.update(t for t in item.elements if t >> 16 == PRIVATE_GROUP and (t & 0xFFFF) >> 8 == low)
    return tags


def sign_with_credential(data: bytes, signer: Any, *, path: str | os.PathLike[str] = "<bytes>",
                         now: datetime | None = None, credential_timestamper: Timestamper | None = None,
                         **sign_options: Any) -> tuple[bytes, Any]:
    """Issue an 'acquired' credential (or a child of the one present), then PS3.15-sign; returns (bytes, created).

    ``sign_options`` are those of :func:`radtrust.provenance.signatures.sign.sign_item` (``mac``, ``profile``,
    ``tags``, ``item``, ``timestamper``...). Without explicit ``tags`` every signable element except the
    credential block is signed.
    """
    from radtrust.provenance.signatures import _rawdicom as raw
    from radtrust.provenance.signatures.mac_stream import signable_tags
    from radtrust.provenance.signatures.sign import sign_bytes, sign_item

    if sign_options.get("item"):  # a signature on a sequence item: the signature code finds the item
        with_credential = issue_bytes(data, signer, path=path, now=now, timestamper=credential_timestamper)
        return sign_bytes(with_credential, signer, path=Path(path), now=now, **sign_options)
    f = raw.parse(data, path)  # parsed once: credential embedded, then signed, then serialised
    store.embed_raw(f.dataset, issue_bundle(data, signer, path=path, now=now, timestamper=credential_timestamper))
    if sign_options.get("tags") is None:
        skip = credential_tags(f.dataset)
        sign_options["tags"] = [t for t in signable_tags(f.dataset) if t not in skip]
    sign_options.pop("item", None)
    created = sign_item(f.dataset, signer, transfer_syntax=f.transfer_syntax, now=now, **sign_options)
    return raw.serialise(f), created


def credential_sign_job(signer: Any, job: tuple[Path, Path, dict[str, Any]]) -> Any:
    """``radtrust sign``'s job with the credential on: (input, output, sign options) -> SignatureCreated."""
    from radtrust.provenance.signatures import _rawdicom as raw
    from radtrust.io.atomic import write_atomic

    src, dst, options = job
    options = {k: v for k, v in options.items() if v is not None}
    signed, created = sign_with_credential(raw.read_bytes(src), signer, path=src,
                                           credential_timestamper=options.get("timestamper"), **options)
    write_atomic(Path(dst), signed)
    return created


# --- radtrust verify: the credential beside the PS3.15 verdict ------------------------------

def credential_verify_job(cfg: Any, path: Any, *, custody: bool = False) -> Any:
    """``radtrust verify``'s job: the PS3.15 result with ``extra["credential"]`` (the jsonl credential object)."""
    import dataclasses

    from radtrust.errors import Error
    from radtrust.io import read_dataset
    from radtrust.provenance.credential.verify import find_bundle, report
    from radtrust.provenance.signatures.verify import examine_file

    result = examine_file(path, cfg)
    try:
        head = read_dataset(path, stop_before_pixels=True)  # the credential block precedes Pixel Data
        if find_bundle(head, path) is None:
            cred = {"status": "absent", "changed": [], "reasons": ["no content credential in the file"], "history": []}
            ds = head
        else:
            ds = read_dataset(path)
            cred = report(ds, path, trust=list(cfg.trust), crls=list(cfg.crls), at=cfg.at,
                          require_acquisition=custody, intermediates=list(cfg.chain))
    except (Error, ValueError) as exc:
        message = exc.message if isinstance(exc, Error) else str(exc)
        cred = {"status": "invalid", "changed": [], "reasons": [f"content credential cannot be checked: {message}"],
                "history": []}
        return dataclasses.replace(result, extra={**result.extra, "credential": cred})
    cred["signature_fate"] = signature_fate(result, ds)
    return dataclasses.replace(result, extra={**result.extra, "credential": cred})


def signature_fate(result: Any, ds: Any) -> str:
    """Why a PS3.15 signature no longer verifies: 're-encoded' when the transfer syntax changed since signing."""
    if result.status != "invalid":
        return result.status
    current = str(ds.file_meta.get("TransferSyntaxUID", "")) if getattr(ds, "file_meta", None) else ""
    uncompressed = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}
    signed_in = set()
    for params in ds.get("MACParametersSequence", []):
        signed_in.add(str(params.get("MACCalculationTransferSyntaxUID", "")))
    same = any(s == current or (s in uncompressed and current in uncompressed) for s in signed_in)
    return "broken" if same or not signed_in else "broken by re-encoding"


def overall_ok(result: Any) -> bool:
    """A file passes when its PS3.15 signature is valid (and any credential holds), or when its content
    credential is valid and trusted while the signature is absent or was broken by re-encoding alone."""
    cred = result.extra.get("credential", {})
    status = cred.get("status", "absent")
    if result.status == "valid":
        return status in ("valid", "absent")
    fate = cred.get("signature_fate")
    return status == "valid" and (result.status == "unsigned" or fate == "broken by re-encoding")


def credential_text(result: Any, history: bool = False) -> str:
    """The lines ``radtrust verify`` prints after the PS3.15 verdict."""
    cred = result.extra.get("credential")
    if not cred:
        return ""
    fate = cred.get("signature_fate", result.status)
    sig = {"valid": "PS3.15 signature valid", "unsigned": "no PS3.15 signature",
           "broken by re-encoding": "PS3.15 signature broken by re-encoding",
           "broken": "PS3.15 signature broken"}.get(fate, f"PS3.15 signature {fate}")
    if cred["status"] == "valid":
        line = f"{sig}, content credential valid: {cred['summary']}"
    elif cred["status"] == "absent":
        line = f"{sig}, no content credential"
    else:
        line = f"{sig}, content credential {cred['status'].upper()}: " + "; ".join(cred["reasons"])
    lines = [f"  {line}"]
    if result.status != "valid" and overall_ok(result):
        lines.append("  accepted on the content credential (the PS3.15 signature alone would reject this file)")
    if history and cred.get("history"):
        from radtrust.provenance.credential.custody import history_lines

        lines += ["  history:", *history_lines(cred["history"])]
    return "\n" + "\n".join(lines)
