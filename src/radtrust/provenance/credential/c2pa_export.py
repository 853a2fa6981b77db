"""Export a radtrust credential as a C2PA manifest store (sidecar ``.c2pa``), with the ``c2pa-python`` library.

The history becomes a ``c2pa.actions`` assertion (C2PA 2.x §18.13: acquired -> ``c2pa.created``,
transcoded -> ``c2pa.transcoded``, ...), the radtrust binding and the original COSE_Sign1 credential
become the custom assertion ``org.radtrust.binding``. The store is signed by the same signer (ES256/384/512
or PS256; C2PA needs an end-entity certificate with an EKU, not self-signed).

C2PA's own hard binding (``c2pa.hash.data``) covers the *file bytes*: any PACS re-encoding breaks it even
when no pixel changed. That is why radtrust keeps its own binding over decoded pixels and canonical
metadata, carried inside the manifest for C2PA-aware consumers. ``c2pa`` is an optional dependency
(extra ``c2pa``) imported only here.
"""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from radtrust import __version__
from radtrust.errors import InputError, UsageError, VerificationError
from radtrust.provenance.credential.manifest import ACTIONS

MIME = "application/dicom"
BINDING_LABEL = "org.radtrust.binding"
DIGITAL_CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"


def _c2pa() -> Any:
    try:
        import c2pa
    except ImportError:
        raise UsageError("C2PA export needs the c2pa-python package: pip install 'radtrust[c2pa]'") from None
    return c2pa


def manifest_definition(result: Any, bundle: Any, title: str) -> dict[str, Any]:
    """The C2PA manifest definition (JSON) for a verified credential chain."""
    actions = []
    for step in result.chain.steps:
        a = step.manifest.action
        entry: dict[str, Any] = {
            "action": ACTIONS[a.action][0], "when": a.when, "softwareAgent": {"name": a.software},
            "parameters": {"org.radtrust.action": a.action, "org.radtrust.signer": step.signer,
                           "org.radtrust.credential": step.digest.hex(),
                           "org.radtrust.pixels_changed": step.pixels_changed},
        }
        if a.description:
            entry["description"] = a.description
        if a.action == "acquired":
            entry["digitalSourceType"] = DIGITAL_CAPTURE
        actions.append(entry)
    b = result.chain.current.manifest.binding
    binding = {
        "version": b.version, "alg": "sha-256", "keywords": list(b.keywords), "salt": b.salt.hex(),
        "attributes": {k: v.hex() for k, v in b.attributes.items()}, "metadata": b.metadata.hex(),
        "frames": [f.hex() for f in b.frames], "pixels": b.pixels.hex(), "pixel_format": b.pixel_format,
        "summary": result.summary,
        "credential_bundle": base64.b64encode(bundle.to_bytes()).decode("ascii"),
        "note": "C2PA's c2pa.hash.data covers file bytes; this binding covers decoded pixels and canonical "
                "metadata and survives lossless re-encoding (see radtrust docs/credential-format.md)",
    }
    return {
        "claim_generator_info": [{"name": "radtrust", "version": __version__}],
        "title": title, "format": MIME,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}},
                       {"label": BINDING_LABEL, "data": binding}],
    }


def _c2pa_signer(c2pa: Any, signer: Any, tsa_url: str | None) -> Any:
    key = getattr(signer, "private_key", None)
    if key is None:
        raise UsageError("C2PA export needs a software key (PEM, DER or PKCS#12); token keys sign PKCS#1 v1.5 "
                         "only, which C2PA does not allow")
    public = signer.certificate.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        names = {"secp256r1": ("ES256", hashes.SHA256()), "secp384r1": ("ES384", hashes.SHA384()),
                 "secp521r1": ("ES512", hashes.SHA512())}
        alg_name, hash_alg = names[public.curve.name]

        def sign(data: bytes) -> bytes:
            return key.sign(data, ec.ECDSA(hash_alg))
    elif isinstance(public, rsa.RSAPublicKey):
        alg_name = "PS256"

        def sign(data: bytes) -> bytes:
            return key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    else:
        raise UsageError("C2PA export supports ECDSA and RSA keys")
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM)
                   for c in [signer.certificate, *[c for c in signer.chain if c != signer.certificate]])
    return c2pa.Signer.from_callback(sign, getattr(c2pa.C2paSigningAlg, alg_name), pem.decode("ascii"), tsa_url)


def export_c2pa(path: str | os.PathLike[str], target: str | os.PathLike[str], signer: Any, *,
                tsa_url: str | None = None) -> dict[str, Any]:
    """Write the C2PA manifest store for ``path``'s credential to ``target``; returns the manifest definition.

    The credential is checked first (integrity: binding, signatures, history); a broken one is not exported.
    """
    from radtrust.io import read_dataset
    from radtrust.io.atomic import write_atomic
    from radtrust.provenance.credential.verify import CredentialError, find_bundle, verify_dataset

    c2pa = _c2pa()
    path = Path(path)
    ds = read_dataset(path)
    try:
        result = verify_dataset(ds, path, trust=None)
    except CredentialError as exc:
        raise VerificationError(f"not exported: content credential {exc.status}: {exc.message}", path,
                                exc.reasons) from None
    definition = manifest_definition(result, find_bundle(ds, path), path.name)
    data = path.read_bytes()
    try:
        builder = c2pa.Builder(json.dumps(definition))
        builder.set_no_embed()
        store_bytes = builder.sign(_c2pa_signer(c2pa, signer, tsa_url), MIME, io.BytesIO(data), io.BytesIO())
    except c2pa.C2paError as exc:
        raise InputError(f"C2PA signing failed: {exc}", path) from None
    write_atomic(Path(target), bytes(store_bytes), chmod=0o644)
    return definition


def read_c2pa(path: str | os.PathLike[str], manifest: str | os.PathLike[str], *,
              anchors_pem: str | None = None) -> dict[str, Any]:
    """Validate a sidecar manifest store against the file with c2pa-python's Reader.

    Returns ``{"state": "Trusted"|"Valid"|"Invalid", "results": ..., "manifest": ...}``; with
    ``anchors_pem`` (the trust anchors, PEM) a good store reads as ``Trusted``.
    """
    c2pa = _c2pa()
    settings: dict[str, Any] = {"verify": {"verify_trust": True}}
    if anchors_pem:
        settings["trust"] = {"user_anchors": anchors_pem}
    context = c2pa.Context(c2pa.Settings.from_dict(settings))
    try:
        reader = c2pa.Reader(MIME, io.BytesIO(Path(path).read_bytes()), Path(manifest).read_bytes(), context=context)
    except c2pa.C2paError as exc:
        return {"state": "Invalid", "results": {"error": str(exc)}, "manifest": None}
    return {"state": str(reader.get_validation_state()), "results": reader.get_validation_results(),
            "manifest": json.loads(reader.json())}
