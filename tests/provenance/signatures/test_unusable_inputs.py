"""Inputs that cannot be used are refused, never waited on or read as nothing: a --crl holding no CRL (verification
fails closed), a named pipe given to sign or verify."""

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


def test_a_pipe_named_to_sign_or_verify_is_refused_not_waited_on(pki, tmp_path, capsys) -> None:
    import os

    pipe = tmp_path / "pipe.dcm"
    os.mkfifo(pipe)
    for argv in (["verify", "--trust", str(pki.root), str(pipe)],
                 ["sign", "--key", str(pki.signer_key), "--cert", str(pki.signer_cert), "--out", str(tmp_path / "o"),
                  str(pipe)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"radtrust: error: {pipe}: not a regular file (a pipe or a device)"], err
