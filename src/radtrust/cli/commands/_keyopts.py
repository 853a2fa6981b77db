"""Shared CLI options for commands that sign: key, certificate, chain, password source (never the password itself)."""

from __future__ import annotations

import argparse
import sys

from radtrust.errors import InputError
from radtrust.provenance.signatures.batch import SignerSpec
from radtrust.provenance.signatures.keys import read_password


def add_key_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", required=True,
                        help="private key: PEM, DER, PKCS#12 (.p12/.pfx) or a pkcs11: URI (RFC 7512)")
    parser.add_argument("--cert", help="signer certificate (PEM or DER); optional for PKCS#12 and tokens holding it")
    parser.add_argument("--chain", help="intermediate CA certificates (PEM); DICOM stores only the signer certificate, "
                             "so verifiers need them too")
    pw = parser.add_mutually_exclusive_group()
    pw.add_argument("--password-env", metavar="VAR", help="read the key password / token PIN from this variable")
    pw.add_argument("--password-file", metavar="FILE", help="read the key password / token PIN from this file")


def signer_spec(args: argparse.Namespace) -> SignerSpec:
    """A signer spec whose key loads; prompts for a password only on a terminal and only when one is needed."""
    password = read_password(env=args.password_env, file=args.password_file)
    spec = SignerSpec(args.key, args.cert, args.chain, password)
    try:
        signer = spec.load()
    except InputError as exc:
        if password is not None or not sys.stdin.isatty() or "password" not in exc.message.lower() and \
                "PKCS#12" not in exc.message and "pkcs11" not in str(args.key):
            raise
        password = read_password(prompt=f"password for {args.key}: ")
        spec = SignerSpec(args.key, args.cert, args.chain, password)
        signer = spec.load()
    close = getattr(signer, "close", None)
    if close:
        close()
    return spec
