"""DICOM TLS (PS3.15 Annex B, the BCP 195 profile): TLS 1.2+ contexts for the gateway's two sides.

Inbound, the gateway presents its certificate and, when a CA is given, requires and verifies the
modality's client certificate. Outbound, it verifies the PACS against the same CA and presents its own
certificate when the PACS asks for one.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from radtrust.errors import UsageError


def _check(*paths: str | Path | None) -> None:
    for p in paths:
        if p is not None and not Path(p).is_file():
            raise UsageError(f"TLS file not found: {p}")


def server_context(cert: str | Path, key: str | Path, ca: str | Path | None = None) -> ssl.SSLContext:
    """TLS for the gateway's SCP; with ``ca``, modalities must present a certificate issued by it."""
    _check(cert, key, ca)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert), str(key))
        if ca is not None:
            ctx.load_verify_locations(str(ca))
            ctx.verify_mode = ssl.CERT_REQUIRED
    except (ssl.SSLError, OSError) as exc:
        raise UsageError(f"cannot load TLS certificate/key: {exc}", cert) from None
    return ctx


def client_context(ca: str | Path, cert: str | Path | None = None, key: str | Path | None = None) -> ssl.SSLContext:
    """TLS for forwarding: verify the PACS against ``ca``; present ``cert``/``key`` if given."""
    _check(ca, cert, key)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_verify_locations(str(ca))
        if cert is not None and key is not None:
            ctx.load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError) as exc:
        raise UsageError(f"cannot load TLS CA/certificate: {exc}", ca) from None
    return ctx
