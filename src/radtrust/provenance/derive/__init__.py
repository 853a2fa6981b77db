"""Derived images with a chain of custody: anonymise, transcode, crop, compress, each with a new credential.

:func:`derive_file` is the recipe: read the input strictly, check its credential (a tampered parent is
refused), perform the operation, drop PS3.15 signatures the operation invalidates, issue a credential
whose action references the parent's, keep the parent chain, and write the result atomically.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from radtrust.errors import InputError
from radtrust.provenance.credential import store
from radtrust.provenance.credential.issue import checked_parent, issue_dataset, make_action, write_dataset
from radtrust.provenance.credential.store import Bundle


@dataclass(frozen=True)
class Operation:
    """One derive operation: its action name in the credential and the function that performs it."""

    name: str
    action: str
    run: Callable[..., dict[str, Any]]
    describe: Callable[[dict[str, Any]], str]
    needs_path: bool = False  # the operation decodes pixels itself and names the file in its errors
    #: pydicom re-encodes the pixels, unchecked: decode them first the strict way (size limit, frames, header)
    reencodes: bool = False


def _operations() -> dict[str, Operation]:
    from radtrust.provenance.derive.anonymize import anonymize
    from radtrust.provenance.derive.compress import compress
    from radtrust.provenance.derive.crop import crop
    from radtrust.provenance.derive.transcode import transcode

    return {
        "anonymize": Operation("anonymize", "anonymized", anonymize,
                               lambda p: f"{p['profile']}: {p['removed']} removed, {p['emptied']} emptied, "
                                         f"{p['uids_replaced']} UIDs replaced"),
        "transcode": Operation("transcode", "transcoded", transcode,
                               lambda p: f"lossless re-encoding {p['from']} -> {p['to']}", reencodes=True),
        "crop": Operation("crop", "cropped", crop,
                          lambda p: "cropped to {height}x{width} at row {row}, column {col}".format(**p["box"]),
                          needs_path=True),
        "compress": Operation("compress", "lossy-compressed", compress,
                              lambda p: f"lossy JPEG 2000, ratio {p['ratio']:g}:1 (target {p['target_ratio']:g}:1)",
                              reencodes=True),
    }


OPERATIONS: dict[str, Operation] = _operations()  # the one registry: CLI name -> operation


def _drop_signatures(ds: Any) -> int:
    removed = 0
    for keyword in ("DigitalSignaturesSequence", "MACParametersSequence"):
        if keyword in ds:
            removed += len(ds[keyword].value) if keyword == "DigitalSignaturesSequence" else 0
            del ds[keyword]
    return removed


def derive_dataset(ds: Any, operation: str, signer: Any, *, path: str | os.PathLike[str] | None = None,
                   now: datetime | None = None, timestamper: Any = None, **options: Any) -> Bundle:
    """Perform ``operation`` on ``ds`` in place and issue its credential; returns the new bundle."""
    op = OPERATIONS[operation]
    parent = checked_parent(ds, path)  # raises VerificationError for a tampered parent
    store.remove(ds)
    if op.needs_path:
        options["path"] = Path(path) if path else None
    if op.reencodes:
        from radtrust.config import Limits
        from radtrust.io.dicom import decode_pixels

        decode_pixels(ds, Path(path) if path else Path("<dataset>"), Limits.from_env())
    try:
        params = op.run(ds, **options)
    except (ValueError, RuntimeError, NotImplementedError) as exc:  # pydicom/pylibjpeg encoder errors
        raise InputError(f"{operation} failed: {' '.join(str(exc).split())[:200]}", path) from None
    params["removed_signatures"] = _drop_signatures(ds)
    action = make_action(op.action, now=now, description=op.describe(params), parameters=params)
    return issue_dataset(ds, signer, action, parent=parent, path=path, now=now, timestamper=timestamper)


def derive_file(path: str | os.PathLike[str], operation: str, signer: Any, *, out: str | os.PathLike[str],
                now: datetime | None = None, sidecar: bool = False, timestamper: Any = None,
                **options: Any) -> Bundle:
    """Read ``path``, derive, and write the result to the file ``out`` (atomically; the input is untouched)."""
    from radtrust.io import read_dataset

    ds = read_dataset(path)
    bundle = derive_dataset(ds, operation, signer, path=path, now=now, timestamper=timestamper, **options)
    write_dataset(ds, out)
    if sidecar:
        store.write_sidecar(out, bundle)
    return bundle


__all__ = ["OPERATIONS", "Operation", "derive_dataset", "derive_file"]
