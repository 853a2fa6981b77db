"""Options shared by the credential commands (derive, credential): signer and trust anchors."""

from __future__ import annotations

import argparse
from typing import Any


def add_signer_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("signer")
    g.add_argument("--key", required=True, help="signer private key (PEM, DER, PKCS#12) or pkcs11: URI")
    g.add_argument("--cert", help="signer certificate (PEM or DER)")
    g.add_argument("--chain", help="intermediate certificates to embed (PEM)")
    g.add_argument("--password-env", metavar="VAR", help="read the key password / token PIN from this variable")
    g.add_argument("--password-file", metavar="FILE", help="read the key password / token PIN from this file")
    g.add_argument("--tsa", metavar="URL", help="RFC 3161 Time-Stamp Authority to timestamp the credential")


def load_signer(args: argparse.Namespace) -> Any:
    from radtrust.provenance.credential.trust import load_signer as load
    from radtrust.provenance.signatures.keys import read_password

    password = read_password(env=args.password_env, file=args.password_file)
    return load(args.key, args.cert, args.chain, password=password)


def timestamper(args: argparse.Namespace) -> Any:
    if not getattr(args, "tsa", None):
        return None
    from radtrust.provenance.signatures.timestamp import TsaClient

    return TsaClient(args.tsa)


def add_trust_options(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    g = parser.add_argument_group("trust")
    g.add_argument("--trust", action="append", required=required, metavar="CA_PEM",
                   help="trust anchor certificate(s); repeat for several")
    g.add_argument("--intermediate", action="append", default=[], metavar="PEM",
                   help="untrusted intermediate CA certificates beside those in the credential")
    g.add_argument("--crl", action="append", default=[], metavar="FILE", help="certificate revocation list(s)")
    g.add_argument("--at", metavar="ISO_TIME", help="validate certificates at this time (default: now)")


def load_trust(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for verify_dataset: trust, crls, at, intermediates."""
    from datetime import datetime, timezone

    from radtrust.errors import UsageError
    from radtrust.provenance.credential.trust import load_certificates, load_crls

    at = None
    if getattr(args, "at", None) is not None and not args.at.strip():
        raise UsageError("--at is empty: give an ISO time, or leave it out to verify as of now")
    if getattr(args, "at", None):
        try:
            at = datetime.fromisoformat(args.at)
        except ValueError:
            raise UsageError(f"--at must be an ISO 8601 time, not {args.at!r}") from None
        at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    trust = [c for p in (args.trust or []) for c in load_certificates(p)] if args.trust else None
    return {"trust": trust, "crls": [c for p in args.crl for c in load_crls(p)], "at": at,
            "intermediates": [c for p in args.intermediate for c in load_certificates(p)]}
