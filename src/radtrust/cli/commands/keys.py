"""radtrust keys: development keys and certificates (not for production)."""

from __future__ import annotations

import argparse

from radtrust.errors import InputError, UsageError
from radtrust.provenance.signatures.keys import read_password
from radtrust.provenance.signatures.pki import WARNING, init_dev_pki

NAME = "keys"
HELP = "make a development PKI for signing (root CA, intermediate, modality signer, TSA, CRLs)"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="keys_command", metavar="SUBCOMMAND")
    init = sub.add_parser("init", help="create a development PKI in DIR (files 0600; NOT for production)")
    init.add_argument("directory", metavar="DIR")
    init.add_argument("--algorithm", choices=("rsa", "ecdsa"), default="rsa", help="key algorithm (default rsa)")
    init.add_argument("--force", action="store_true", help="replace an existing PKI in DIR")
    pw = init.add_mutually_exclusive_group()
    pw.add_argument("--p12-password-env", metavar="VAR", help="also write signer.p12 protected by this variable")
    pw.add_argument("--p12-password-file", metavar="FILE", help="also write signer.p12 protected by this file")


def run(args: argparse.Namespace) -> int:
    if args.keys_command != "init":
        raise UsageError("use: radtrust keys init DIR")
    password = read_password(env=args.p12_password_env, file=args.p12_password_file)
    if password == b"":
        if args.p12_password_file:
            raise InputError("empty password: signer.p12 would not be protected", args.p12_password_file)
        raise UsageError(f"environment variable {args.p12_password_env} is empty: signer.p12 would not be protected")
    pki = init_dev_pki(args.directory, args.algorithm, p12_password=password, force=args.force)
    if not args.quiet:
        print(f"{WARNING}\nwrote {pki.directory}/: root-ca.pem (trust anchor), chain.pem, signer.key + signer.pem"
              f"{' + signer.p12' if password is not None else ''}, tsa.key + tsa.pem, crls.pem")
    return 0
