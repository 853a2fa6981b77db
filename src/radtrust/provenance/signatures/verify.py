"""Verifying PS3.15 Annex C digital signatures: MAC, certificate path, signing time, revocation, profile, policy.

``verify_file``/``verify_dataset`` fail closed: they return a :class:`VerificationResult` only when every signature
in the file (main dataset and nested items) verifies, chains to a trust anchor at its signing time and the policy
holds; otherwise they raise :class:`~radtrust.errors.VerificationError` whose ``reasons`` list every problem and whose
``result`` is the full report. ``examine_file`` returns the report without judging (used by the CLI for JSON lines).

Signing time is the RFC 3161 timestamp when present (the token must cover the Signature value and chain to a trust
anchor), otherwise the signer's Digital Signature DateTime, in which case the certificate must also be valid at
verification time (``at``) unless the policy includes ``UnsafeTrustClaimedTime``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding

from radtrust.errors import InvalidDicom, VerificationError
from radtrust.provenance.signatures import _rawdicom as raw
from radtrust.provenance.signatures._elements import (
    at_tags, keyword, mac_parameters, parse_dt, signature_items, strip_der, us_value, walk_items,
)
from radtrust.provenance.signatures._rawdicom import Item
from radtrust.provenance.signatures.keys import key_type, prehashed
from radtrust.provenance.signatures.mac_stream import (
    CERTIFICATE_OF_SIGNER, CERTIFICATE_TYPE, DATA_ELEMENTS_SIGNED, MAC_ALGORITHM, MAC_CALC_TS, MAC_ID_NUMBER,
    PURPOSE_CODE_SEQUENCE, SIGNATURE, SIGNATURE_DATETIME, SIGNATURE_UID, TIMESTAMP, TIMESTAMP_TYPE, digest,
    is_excluded, is_signable, mac_algorithm,
)
from radtrust.provenance.signatures.policy import FileFacts, Policy, SignatureFacts, default_policy
from radtrust.provenance.signatures.profiles import satisfied_profiles
from radtrust.provenance.signatures.timestamp import verify_token
from radtrust.provenance.signatures.trust import describe, validate_chain

#: How far in the future a claimed signing time may lie (clock skew between modality and verifier).
CLOCK_SKEW = dt.timedelta(minutes=5)
STATUS_ORDER = ("error", "invalid", "untrusted", "policy-failed", "unsigned", "valid")


@dataclass(frozen=True)
class SignatureReport:
    """One signature: who, how, when, what it covers, and its result (valid | invalid | untrusted)."""

    uid: str
    location: str
    mac_id: int | None
    signer: str | None
    algorithm: str | None
    mac: str | None
    profiles: tuple[str, ...]
    time: str | None
    timestamp: str | None
    tsa: str | None
    covered: tuple[int, ...]
    result: str
    reasons: tuple[str, ...] = ()
    purpose: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["covered"] = [keyword(t) for t in self.covered]
        d["profile"] = list(self.profiles)
        del d["profiles"]
        d["reasons"] = list(self.reasons)
        return d


@dataclass(frozen=True)
class VerificationResult:
    """The verdict for one file; ``status`` is valid | invalid | untrusted | unsigned | policy-failed | error."""

    path: str
    sop_instance_uid: str | None
    status: str
    signatures: tuple[SignatureReport, ...] = ()
    reasons: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "valid"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sop_instance_uid": self.sop_instance_uid, "status": self.status,
                "signatures": [s.to_dict() for s in self.signatures], "reasons": list(self.reasons), **self.extra}


@dataclass
class TrustConfig:
    """Trust anchors, extra intermediates, CRLs, the policy and the verification time."""

    trust: Sequence[x509.Certificate]
    chain: Sequence[x509.Certificate] = ()
    crls: Sequence[x509.CertificateRevocationList] = ()
    policy: Policy = field(default_factory=default_policy)
    at: dt.datetime | None = None

    def now(self) -> dt.datetime:
        when = self.at or dt.datetime.now(dt.timezone.utc)
        return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def _verify_crypto(cert: x509.Certificate, sig: bytes, dig: bytes, mac: Any) -> None:
    pub = cert.public_key()
    kt = key_type(pub)
    if kt == "RSA":
        pub.verify(sig, dig, padding.PKCS1v15(), prehashed(mac))  # type: ignore[union-attr]
    else:
        pub.verify(strip_der(sig), dig, ec.ECDSA(prehashed(mac)))  # type: ignore[union-attr, call-arg]


def _check_signature(item: Item, location: str, sig: Item, params: list[Item], expected_ts: str,
                     cfg: TrustConfig) -> SignatureReport:
    reasons: list[str] = []
    uid_e = sig.get(SIGNATURE_UID)
    uid = uid_e.text() if uid_e is not None else "?"
    mac_id = us_value(sig.get(MAC_ID_NUMBER))
    claimed_e = sig.get(SIGNATURE_DATETIME)
    claimed_text = claimed_e.text() if claimed_e is not None else None
    purpose_seq = sig.get(PURPOSE_CODE_SEQUENCE)
    meaning = (purpose_seq.items[0].get(0x00080104) if purpose_seq is not None and purpose_seq.items else None)
    base = dict(uid=uid, location=location, mac_id=mac_id, signer=None, algorithm=None, mac=None, profiles=(),
                time=claimed_text, timestamp=None, tsa=None, covered=(),
                purpose=meaning.text() if meaning is not None else None)

    def bad(result: str, *why: str, **more: Any) -> SignatureReport:
        return SignatureReport(**{**base, **more}, result=result, reasons=tuple(why))

    matching = [p for p in params if us_value(p.get(MAC_ID_NUMBER)) == mac_id]
    if mac_id is None:
        return bad("invalid", "signature item has no MAC ID Number")
    if len(matching) != 1:
        return bad("invalid", f"{len(matching)} MAC Parameters items carry MAC ID {mac_id} (need exactly one)")
    if sum(us_value(s.get(MAC_ID_NUMBER)) == mac_id for s in signature_items(item)) != 1:
        return bad("invalid", f"two signatures share MAC ID {mac_id}")
    p = matching[0]
    mac = mac_algorithm(p.get(MAC_ALGORITHM).text()) if p.get(MAC_ALGORITHM) is not None else None
    if mac is None:
        return bad("invalid", "unknown or missing MAC algorithm")
    base["mac"] = mac.dicom_name
    ts_e = p.get(MAC_CALC_TS)
    if ts_e is None or ts_e.text() != expected_ts:
        return bad("invalid", f"signed in transfer syntax {ts_e.text() if ts_e else '?'}, file is now {expected_ts}"
                              " (transcoded since signing)")
    if sig.get(CERTIFICATE_TYPE) is None or sig.get(CERTIFICATE_TYPE).text() != "X509_1993_SIG":
        return bad("invalid", "certificate type is not X509_1993_SIG")
    tags = at_tags(p.get(DATA_ELEMENTS_SIGNED).value) if p.get(DATA_ELEMENTS_SIGNED) is not None else []
    base["covered"] = tuple(tags)
    if not tags:
        return bad("invalid", "signature covers no data elements")
    problems = [f"signed element {keyword(t)} is missing" for t in tags if t not in item.elements]
    problems += [f"signed element {keyword(t)} cannot be signed (excluded or UN)" for t in tags
                 if t in item.elements and not is_signable(item.elements[t])]
    try:
        cert = x509.load_der_x509_certificate(strip_der(sig.get(CERTIFICATE_OF_SIGNER).value))
        base["signer"] = describe(cert)
        base["algorithm"] = key_type(cert.public_key())
    except Exception:
        return bad("invalid", "certificate of signer missing or unreadable", *problems)
    sig_e = sig.get(SIGNATURE)
    if sig_e is None or not len(sig_e.value):
        return bad("invalid", "signature value missing", *problems)
    try:
        _verify_crypto(cert, bytes(sig_e.value), digest(item, tags, sig, mac), mac)
    except (InvalidSignature, ValueError, TypeError):
        return bad("invalid", *problems, "signature does not match the data (changed since signing, or forged)")
    if problems:
        return bad("invalid", *problems)
    # Cryptographically sound: now the trust questions.
    now = cfg.now()
    claimed = parse_dt(claimed_text or "")
    if claimed is None:
        return bad("invalid", f"unreadable Digital Signature DateTime {claimed_text!r}")
    if claimed > now + CLOCK_SKEW:
        reasons.append(f"signature dated in the future ({claimed.isoformat()})")
    when = claimed
    tok = sig.get(TIMESTAMP)
    if tok is not None:
        ttype = sig.get(TIMESTAMP_TYPE)
        if ttype is None or ttype.text() != "CMS_TSP":
            return bad("invalid", "certified timestamp type is not CMS_TSP")
        try:
            info = verify_token(strip_der(tok.value), bytes(sig_e.value), cfg.trust, cfg.chain, cfg.crls)
        except VerificationError as exc:
            return bad("invalid", *exc.reasons)
        base.update(timestamp=info.time.isoformat(), tsa=info.tsa)
        when = info.time
        if claimed > info.time + CLOCK_SKEW:
            reasons.append("signature DateTime is later than its timestamp")
    times = [when] if tok is not None or cfg.policy.unsafe_trust_claimed_time else [when, now]
    for t in times:
        try:
            validate_chain(cert, cfg.chain, cfg.trust, cfg.crls, at=t)
        except VerificationError as exc:
            reasons += [r for r in exc.reasons if r not in reasons]
    profiles = tuple(satisfied_profiles(base["algorithm"], item.elements, tags))
    base["profiles"] = profiles
    if reasons:
        return bad("untrusted", *reasons)
    return SignatureReport(**base, result="valid")


def examine(f: raw.DicomFile, cfg: TrustConfig, path: str = "<bytes>") -> VerificationResult:
    """Report on every signature of a parsed file; never raises for failed checks."""
    sop = f.dataset.get(0x00080018)
    sop_uid = sop.text() if sop is not None else None
    expected_ts = raw.EXPLICIT_VR_LE if not f.encapsulated else f.transfer_syntax
    reports: list[SignatureReport] = []
    for location, item in walk_items(f.dataset):
        params = mac_parameters(item)
        for sig in signature_items(item):
            reports.append(_check_signature(item, location, sig, params, expected_ts, cfg))
    reasons = [f"{(r.location + ': ') if r.location else ''}{why}" for r in reports for why in r.reasons]
    if not reports:
        return VerificationResult(path, sop_uid, "unsigned", (), ("no digital signature in the file",))
    if any(r.result == "invalid" for r in reports):
        status = "invalid"
    elif any(r.result == "untrusted" for r in reports):
        status = "untrusted"
    else:
        facts = FileFacts(frozenset(t for t in f.dataset.elements if not is_excluded(t)), tuple(
            SignatureFacts(r.location, r.mac or "", frozenset(r.covered), r.timestamp is not None, r.profiles)
            for r in reports), frozenset(t for t, e in f.dataset.elements.items() if is_signable(e)))
        reasons = cfg.policy.check(facts)
        status = "policy-failed" if reasons else "valid"
    return VerificationResult(path, sop_uid, status, tuple(reports), tuple(reasons))


def examine_file(path: str | os.PathLike[str], cfg: TrustConfig) -> VerificationResult:
    """Report for one file; bad input raises InvalidDicom/UnsupportedSyntax (the caller reports status error)."""
    return examine(raw.read(path), cfg, str(path))


def examine_job(cfg: TrustConfig, path: str | os.PathLike[str]) -> VerificationResult:
    """One file for :func:`radtrust.provenance.signatures.batch.map_files` (PS3.15 signatures only)."""
    return examine_file(path, cfg)


def _judge(result: VerificationResult) -> VerificationResult:
    if result.ok:
        return result
    exc = VerificationError(f"{result.status}: {result.reasons[0] if result.reasons else 'verification failed'}",
                            result.path, list(result.reasons) or [result.status])
    exc.result = result  # type: ignore[attr-defined]
    raise exc


def verify_file(path: str | os.PathLike[str], *, trust: Sequence[x509.Certificate],
                chain: Sequence[x509.Certificate] = (), crls: Sequence[x509.CertificateRevocationList] = (),
                policy: Policy | None = None, at: dt.datetime | None = None) -> VerificationResult:
    """Verify every signature in a DICOM file; return the result or raise VerificationError (fails closed)."""
    cfg = TrustConfig(trust, chain, crls, policy or default_policy(), at)
    return _judge(examine_file(path, cfg))


def verify_bytes(data: bytes, *, path: str = "<bytes>", **kwargs: Any) -> VerificationResult:
    cfg = TrustConfig(kwargs.pop("trust"), **{k: v for k, v in kwargs.items() if v is not None})
    return _judge(examine(raw.parse(data, path), cfg, path))


def verify_dataset(ds: Any, *, trust: Sequence[x509.Certificate], **kwargs: Any) -> VerificationResult:
    """Verify a pydicom dataset (encoded by pydicom first, so raw values read from a file stay byte-exact)."""
    import io

    buf = io.BytesIO()
    try:
        ds.save_as(buf, enforce_file_format=False)
    except Exception as exc:
        raise InvalidDicom(f"cannot encode dataset: {exc}") from None
    return verify_bytes(buf.getvalue(), trust=trust, path=str(getattr(ds, "filename", "") or "<dataset>"), **kwargs)


__all__ = ["SignatureReport", "VerificationResult", "TrustConfig", "examine", "examine_file", "verify_file",
           "verify_bytes", "verify_dataset", "examine_job"]
