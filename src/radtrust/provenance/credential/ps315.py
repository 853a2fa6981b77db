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
from radtrust.provenance.credential.issue import issue_bytes
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
    from radtrust.provenance.signatures.sign import sign_bytes

    with_credential = issue_bytes(data, signer, path=path, now=now, timestamper=credential_timestamper)
    if sign_options.get("tags") is None and not sign_options.get("item"):
        dataset = raw.parse(with_credential, path).dataset
        skip = credential_tags(dataset)
        sign_options["tags"] = [t for t in signable_tags(dataset) if t not in skip]
    return sign_bytes(with_credential, signer, path=Path(path), now=now, **sign_options)
