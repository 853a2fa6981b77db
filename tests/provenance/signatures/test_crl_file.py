"""A --crl that holds no CRL is refused, not read as an empty revocation list (verification fails closed)."""

from __future__ import annotations

import pytest

from radtrust.cli import main
from radtrust.errors import InputError
from radtrust.provenance.signatures import load_crls


def test_a_certificate_or_key_given_as_a_crl_is_refused(pki, tmp_path, capsys) -> None:
    assert load_crls(pki.crl)  # the real one reads
    for wrong in (pki.root, pki.signer_key):
        with pytest.raises(InputError, match="no CRL in this file"):
            load_crls(wrong)
    from tests.provenance.signatures.conftest import CT

    assert main(["verify", "--trust", str(pki.root), "--crl", str(pki.root), str(CT)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith("no CRL in this file (PEM without an X509 CRL block)"), err
