"""Issuing a credential: bind the dataset, record the action, sign as COSE_Sign1, embed.

The safe recipe is :func:`issue_file` (read, issue, write atomically, optional sidecar);
:func:`issue_dataset` works on a pydicom dataset in memory (``radtrust sign`` calls it before the
PS3.15 signature is computed, so that signature covers the credential too).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from radtrust import __version__
from radtrust.io.atomic import write_atomic
from radtrust.provenance.credential import store
from radtrust.provenance.credential.binding import BOUND_KEYWORDS, compute_binding
from radtrust.provenance.credential.container import ContainerError, Timestamper, open1, message_digest, sign1
from radtrust.provenance.credential.manifest import Action, Manifest, iso_now
from radtrust.provenance.credential.store import Bundle
from radtrust.provenance.credential.trust import Signer

GENERATOR = f"radtrust {__version__}"


def make_action(action: str, *, now: datetime | None = None, software: str | None = None,
                description: str = "", parameters: dict[str, Any] | None = None) -> Action:
    return Action(action=action, when=iso_now(now), software=software or GENERATOR, description=description,
                  parameters=dict(parameters or {}))


def issue_dataset(ds: Any, signer: Signer, action: Action, *, parent: Bundle | None = None,
                  path: str | os.PathLike[str] | None = None, now: datetime | None = None,
                  salt: bytes | None = None, timestamper: Timestamper | None = None,
                  embed: bool = True) -> Bundle:
    """Issue a credential for ``ds`` (its current pixels and bound attributes) and embed it.

    With ``parent`` (the bundle the image carried before the action) the new credential references it,
    keeps the whole chain and inherits the binding's keyword list and salt, so each step of the
    history can be compared attribute by attribute.
    """
    keywords, parent_digest = BOUND_KEYWORDS, None
    if parent is not None:
        try:
            parent_manifest = Manifest.from_bytes(open1(parent.credential).payload)
        except (ContainerError, ValueError) as exc:
            raise ValueError(f"the parent credential cannot be used: {exc}") from None
        keywords = parent_manifest.binding.keywords
        salt = parent_manifest.binding.salt if salt is None else salt
        parent_digest = message_digest(parent.credential)
    binding = compute_binding(ds, path, keywords=keywords, salt=salt)
    manifest = Manifest(binding=binding, action=action, parent=parent_digest, issued=iso_now(now),
                        generator=GENERATOR)
    message = sign1(manifest.to_bytes(), signer, timestamper=timestamper)
    bundle = parent.derive(message) if parent is not None else Bundle(credential=message)
    if embed:
        store.embed(ds, bundle)
    return bundle


def checked_parent(ds: Any, path: str | os.PathLike[str] | None) -> Bundle | None:
    """The credential ``ds`` already carries, verified for integrity; a broken one is never extended.

    Raises VerificationError when the existing credential no longer matches the image (extending it would
    launder a change into a valid-looking history).
    """
    from radtrust.errors import VerificationError
    from radtrust.provenance.credential.verify import ABSENT, CredentialError, find_bundle, verify_dataset

    try:
        verify_dataset(ds, path, trust=None)
    except CredentialError as exc:
        if exc.status == ABSENT:
            return None
        raise VerificationError(f"refusing to extend an invalid content credential: {exc.message}", path,
                                exc.reasons) from None
    return find_bundle(ds, path)


def write_dataset(ds: Any, target: str | os.PathLike[str]) -> None:
    """Write a dataset atomically (temporary file in the same folder, then os.replace)."""
    import io

    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    write_atomic(Path(target), buf.getvalue(), chmod=0o644)


def issue_file(path: str | os.PathLike[str], signer: Signer, *, out: str | os.PathLike[str],
               action: str = "acquired", now: datetime | None = None, sidecar: bool = False,
               timestamper: Timestamper | None = None) -> Bundle:
    """Read ``path``, issue a credential recording ``action`` and write the result to ``out``.

    An existing credential in the file becomes the parent of the new one.
    """
    from radtrust.io import read_dataset

    ds = read_dataset(path)
    parent = checked_parent(ds, path)
    bundle = issue_dataset(ds, signer, make_action(action, now=now), parent=parent, path=path, now=now,
                           timestamper=timestamper)
    write_dataset(ds, out)
    if sidecar:
        store.write_sidecar(out, bundle)
    return bundle


def issue_bundle(data: bytes, signer: Signer, *, path: str | os.PathLike[str] = "<bytes>",
                 action: str | None = None, now: datetime | None = None,
                 timestamper: Timestamper | None = None) -> Bundle:
    """The bundle a DICOM file held in memory would carry: 'acquired', or 'signed' when it already has one."""
    import io
    import warnings

    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
    parent = checked_parent(ds, path if path != "<bytes>" else None)
    action = action or ("acquired" if parent is None else "signed")
    return issue_dataset(ds, signer, make_action(action, now=now), parent=parent, path=path, now=now,
                         timestamper=timestamper, embed=False)


def issue_bytes(data: bytes, signer: Signer, *, path: str | os.PathLike[str] = "<bytes>",
                action: str | None = None, now: datetime | None = None,
                timestamper: Timestamper | None = None) -> bytes:
    """Issue a credential for a DICOM file held in memory; return the file bytes with it embedded.

    The bytes are not re-encoded (only the private block is added), so a PS3.15 signature can be computed
    over the result afterwards.
    """
    from radtrust.provenance.signatures import _rawdicom as raw

    bundle = issue_bundle(data, signer, path=path, action=action, now=now, timestamper=timestamper)
    f = raw.parse(data, path)
    store.embed_raw(f.dataset, bundle)
    return raw.serialise(f)
