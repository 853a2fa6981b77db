"""Listing the signatures in a file without judging them (for ``radtrust info`` and ``radtrust unsign --uid``)."""

from __future__ import annotations

import os
from typing import Any

from cryptography import x509

from radtrust.provenance.signatures import _rawdicom as raw
from radtrust.provenance.signatures._elements import (
    at_tags, mac_parameters, signature_items, strip_der, us_value, walk_items,
)
from radtrust.provenance.signatures.mac_stream import (
    CERTIFICATE_OF_SIGNER, DATA_ELEMENTS_SIGNED, MAC_ALGORITHM, MAC_ID_NUMBER, SIGNATURE_DATETIME, SIGNATURE_UID,
    TIMESTAMP,
)


def list_signatures(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every signature item (main dataset and nested items): uid, location, signer, MAC, claimed time, elements.

    Nothing here is verified; use :func:`radtrust.provenance.signatures.verify_file` for that.
    """
    out = []
    for location, item in walk_items(raw.read(path).dataset):
        params = {us_value(p.get(MAC_ID_NUMBER)): p for p in mac_parameters(item)}
        for sig in signature_items(item):
            p = params.get(us_value(sig.get(MAC_ID_NUMBER)))
            signer = None
            cert = sig.get(CERTIFICATE_OF_SIGNER)
            if cert is not None:
                try:
                    signer = x509.load_der_x509_certificate(strip_der(cert.value)).subject.rfc4514_string()
                except ValueError:
                    signer = "(unreadable certificate)"
            text = lambda e: e.text() if e is not None else None  # noqa: E731
            out.append({"uid": text(sig.get(SIGNATURE_UID)), "location": location, "signer": signer,
                        "mac": text(p.get(MAC_ALGORITHM)) if p else None, "time": text(sig.get(SIGNATURE_DATETIME)),
                        "timestamped": sig.get(TIMESTAMP) is not None,
                        "elements": len(at_tags(p.get(DATA_ELEMENTS_SIGNED).value))
                        if p and p.get(DATA_ELEMENTS_SIGNED) is not None else 0})
    return out
