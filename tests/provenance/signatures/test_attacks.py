"""Named attacks the verifier must reject (sigstore-style regression cases), and zero false rejections.

Each case tampers with a freshly signed file (or signs with a bad certificate) and states the status radtrust must
report: invalid (MAC/signature broken), untrusted (certificate/time/revocation), policy-failed or unsigned.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization

from radtrust.errors import UsageError, VerificationError
from radtrust.provenance.signatures import _rawdicom as raw
from radtrust.provenance.signatures import load_certificates, load_crls, verify_file
from radtrust.provenance.signatures._elements import at_value, find_item, mac_parameters, signature_items
from radtrust.provenance.signatures._rawdicom import Element, Item
from radtrust.provenance.signatures.keys import SoftwareSigner
from radtrust.provenance.signatures.mac_stream import (
    DATA_ELEMENTS_SIGNED, DIGITAL_SIGNATURES_SEQUENCE, MAC_ALGORITHM, MAC_CALC_TS, MAC_PARAMETERS_SEQUENCE, SIGNATURE,
    SIGNATURE_DATETIME, TIMESTAMP, signable_tags,
)
from radtrust.provenance.signatures.pki import issue, make_crl, new_key
from radtrust.provenance.signatures.policy import AllOf, UnsafeTrustClaimedTime, default_policy
from radtrust.provenance.signatures.sign import sign_bytes
from radtrust.provenance.signatures.timestamp import TsaClient
from radtrust.provenance.signatures.verify import TrustConfig, examine
from tests.provenance.signatures.conftest import CR, CT

UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC)


def _key(path):
    return serialization.load_pem_private_key(path.read_bytes(), None)


def _status(data: bytes, cfg: TrustConfig) -> tuple[str, str]:
    r = examine(raw.parse(data), cfg)
    return r.status, " | ".join(r.reasons)


@pytest.fixture(scope="module")
def signed_ct(signer) -> bytes:
    return sign_bytes(CT.read_bytes(), signer, mac="sha256")[0]


@pytest.fixture(scope="module")
def signed_mf(signer, multiframe) -> bytes:
    once = sign_bytes(multiframe.read_bytes(), signer, mac="sha256", item="PerFrameFunctionalGroupsSequence[1]")[0]
    return sign_bytes(once, signer, mac="sha256")[0]


def _edit(data: bytes, fn: Callable[[Item], None], item: str | None = None) -> bytes:
    f = raw.parse(data)
    fn(find_item(f.dataset, item) if item else f.dataset)
    return raw.serialise(f)


def _flip(tag: int, where: str | None = None, pos: int | None = None):
    def fn(ds: Item) -> None:
        target = find_item(ds, where) if where else ds
        e = target.elements[tag]
        if e.fragments is not None:
            frag = bytearray(e.fragments[-1])
            frag[len(frag) // 2] ^= 0x01
            e.fragments[-1] = bytes(frag)
            return
        v = bytearray(e.value)
        v[len(v) // 2 if pos is None else pos] ^= 0x01
        e.value = bytes(v)
    return fn


T = {  # keyword -> tag, for readability
    "PatientName": 0x00100010, "PatientID": 0x00100020, "SOPInstanceUID": 0x00080018, "RescaleIntercept": 0x00281052,
    "PixelSpacing": 0x00280030, "InstanceNumber": 0x00200013, "StudyDate": 0x00080020, "StudyTime": 0x00080030,
    "Modality": 0x00080060, "Rows": 0x00280010, "PixelData": 0x7FE00010, "KVP": 0x00180060,
    "CodeValue": 0x00080100, "StudyInstanceUID": 0x0020000D, "SliceThickness": 0x00180050,
    "FrameAcquisitionNumber": 0x00209156,
}

FLIPS = [
    ("flip-PN-PatientName", "ct", _flip(T["PatientName"], pos=0)),
    ("flip-LO-PatientID", "ct", _flip(T["PatientID"], pos=0)),
    ("flip-UI-SOPInstanceUID", "ct", _flip(T["SOPInstanceUID"])),
    ("flip-UI-StudyInstanceUID", "ct", _flip(T["StudyInstanceUID"])),
    ("flip-DS-RescaleIntercept", "ct", _flip(T["RescaleIntercept"], pos=1)),
    ("flip-DS-PixelSpacing", "ct", _flip(T["PixelSpacing"])),
    ("flip-DS-SliceThickness", "ct", _flip(T["SliceThickness"], pos=0)),
    ("flip-IS-InstanceNumber", "ct", _flip(T["InstanceNumber"], pos=0)),
    ("flip-DA-StudyDate", "ct", _flip(T["StudyDate"])),
    ("flip-TM-StudyTime", "ct", _flip(T["StudyTime"], pos=0)),
    ("flip-CS-Modality", "ct", _flip(T["Modality"], pos=0)),
    ("flip-US-Rows", "ct", _flip(T["Rows"], pos=0)),
    ("flip-DS-KVP", "ct", _flip(T["KVP"], pos=0)),
    ("flip-OB-encapsulated-pixel-fragment", "ct", _flip(T["PixelData"])),
    ("flip-OW-native-pixel-data", "mf", _flip(T["PixelData"])),
    ("flip-SH-inside-sequence-item", "ct", _flip(T["CodeValue"], "ProcedureCodeSequence[0]", 0)),
    ("flip-inside-nested-signed-item", "mf",
     _flip(T["FrameAcquisitionNumber"], "PerFrameFunctionalGroupsSequence[1].FrameContentSequence[0]", 0)),
]


def _add_item(ds: Item) -> None:
    seq = ds.elements[0x00081032]
    seq.items.append(Item({0x00080100: Element(0x00080100, "SH", b"EVIL")}))


def _remove_item(ds: Item) -> None:
    ds.elements[0x52009230].items.pop()


def _add_in_item(ds: Item) -> None:
    find_item(ds, "ProcedureCodeSequence[0]").put(Element(0x00080104, "LO", b"injected "))


def _remove_in_item(ds: Item) -> None:
    find_item(ds, "ProcedureCodeSequence[0]").remove(0x00080100)


def _remove_top(ds: Item) -> None:
    ds.remove(T["PatientName"])


def _refragment(ds: Item) -> None:
    e = ds.elements[T["PixelData"]]
    last = bytes(e.fragments[-1])
    e.fragments[-1:] = [last[:1000], last[1000:]]


def _shorten_list(ds: Item) -> None:
    p = mac_parameters(ds)[0]
    tags = [t for t in signable_tags(ds) if t != T["PixelData"]]
    p.put(Element(DATA_ELEMENTS_SIGNED, "AT", at_value(tags)))


def _set(tag: int, value: bytes, where: str = "sig"):
    def fn(ds: Item) -> None:
        target = signature_items(ds)[0] if where == "sig" else mac_parameters(ds)[0]
        target.put(Element(tag, target.elements[tag].vr if tag in target.elements else "OB", value))
    return fn


def _truncate(ds: Item) -> None:
    s = signature_items(ds)[0]
    s.elements[SIGNATURE].value = bytes(s.elements[SIGNATURE].value)[:128]


def _duplicate_mac_id(ds: Item) -> None:
    ds.elements[DIGITAL_SIGNATURES_SEQUENCE].items.append(signature_items(ds)[0])
    ds.elements[MAC_PARAMETERS_SEQUENCE].items.append(mac_parameters(ds)[0])


def _orphan(ds: Item) -> None:
    ds.remove(MAC_PARAMETERS_SEQUENCE)


STRUCTURE = [
    ("item-added-to-signed-sequence", "ct", _add_item),
    ("item-removed-from-signed-sequence", "mf", _remove_item),
    ("element-added-inside-signed-item", "ct", _add_in_item),
    ("element-removed-inside-signed-item", "ct", _remove_in_item),
    ("signed-top-level-element-removed", "ct", _remove_top),
    ("pixel-data-refragmented", "ct", _refragment),
    ("data-elements-signed-list-shortened", "ct", _shorten_list),
    ("mac-algorithm-relabelled", "ct", _set(MAC_ALGORITHM, b"SHA512", "params")),
    ("mac-algorithm-unknown", "ct", _set(MAC_ALGORITHM, b"CRC32 ", "params")),
    ("mac-transfer-syntax-changed", "ct", _set(MAC_CALC_TS, b"1.2.840.10008.1.2.1\x00", "params")),
    ("signature-datetime-changed", "ct", _set(SIGNATURE_DATETIME, b"20200101000000.000000+0000")),
    ("signature-truncated", "ct", _truncate),
    ("signature-empty", "ct", _set(SIGNATURE, b"")),
    ("two-signatures-same-mac-id", "ct", _duplicate_mac_id),
    ("signature-without-mac-parameters", "ct", _orphan),
]


@pytest.mark.parametrize("name,source,mutate", FLIPS + STRUCTURE, ids=[c[0] for c in FLIPS + STRUCTURE])
def test_tampering_is_invalid(name, source, mutate, signed_ct, signed_mf, trust):
    data = _edit(signed_ct if source == "ct" else signed_mf, mutate)
    status, why = _status(data, trust)
    assert status == "invalid", why


def test_pixel_data_swapped_from_other_file_signed_by_same_key(signer, trust):
    a = sign_bytes(CT.read_bytes(), signer)[0]
    b = sign_bytes((CT.parent / "ct_02.dcm").read_bytes(), signer)[0]
    other = raw.parse(b).dataset.elements[T["PixelData"]]
    assert _status(_edit(a, lambda ds: ds.put(other)), trust)[0] == "invalid"


def test_signature_sequences_transplanted_from_other_file(signer, trust):
    a = sign_bytes(CT.read_bytes(), signer)[0]
    donor = raw.parse(sign_bytes((CT.parent / "ct_02.dcm").read_bytes(), signer)[0]).dataset
    plain = raw.parse((CT.parent / "ct_01.dcm").read_bytes())
    plain.dataset.put(donor.elements[MAC_PARAMETERS_SEQUENCE])
    plain.dataset.put(donor.elements[DIGITAL_SIGNATURES_SEQUENCE])
    assert _status(raw.serialise(plain), trust)[0] == "invalid"
    # transplanting only the signature item onto a signed file breaks it too
    victim = raw.parse(a)
    victim.dataset.put(donor.elements[DIGITAL_SIGNATURES_SEQUENCE])
    assert _status(raw.serialise(victim), trust)[0] == "invalid"


def test_certificate_swapped_for_another_trusted_signer(pki, signer, signed_ct, trust):
    k = _key(pki.intermediate_key)
    inter = load_certificates(pki.intermediate)[0]
    other = issue("other modality", new_key(), (inter, k))
    der = other.public_bytes(serialization.Encoding.DER)
    data = _edit(signed_ct, _set(0x04000115, der + b"\0" * (len(der) % 2)))
    assert _status(data, trust)[0] == "invalid"


# ------------------------------------------------------------------ certificates and trust

def _signer_with(pki, **kw) -> SoftwareSigner:
    k = new_key()
    inter = load_certificates(pki.intermediate)[0]
    return SoftwareSigner(k, issue("attack signer", k, (inter, _key(pki.intermediate_key)), **kw))


def test_resigned_by_key_whose_chain_misses_the_anchor(pki_ec, signer_ec, trust):
    data = sign_bytes(raw.serialise(raw.parse(CT.read_bytes())), signer_ec)[0]
    status, why = _status(data, trust)
    assert status == "untrusted" and "trust anchor" in why


def test_resigned_after_stripping_original_signature(signer_ec, signed_ct, trust):
    from radtrust.provenance.signatures.sign import unsign_bytes
    data = sign_bytes(unsign_bytes(signed_ct)[0], signer_ec)[0]
    assert _status(data, trust)[0] == "untrusted"


def test_self_signed_certificate(trust):
    k = new_key()
    s = SoftwareSigner(k, issue("self-signed modality", k))
    status, why = _status(sign_bytes(CT.read_bytes(), s)[0], trust)
    assert status == "untrusted" and "self-signed" in why


def test_expired_certificate(pki, trust):
    s = _signer_with(pki, not_before=NOW - dt.timedelta(days=30), not_after=NOW - dt.timedelta(days=1))
    status, why = _status(sign_bytes(CT.read_bytes(), s)[0], trust)
    assert status == "untrusted" and "expired" in why


def test_expired_certificate_with_backdated_signing_time(pki, trust):
    s = _signer_with(pki, not_before=NOW - dt.timedelta(hours=20), not_after=NOW - dt.timedelta(hours=1))
    data = sign_bytes(CT.read_bytes(), s, now=NOW - dt.timedelta(hours=12))[0]  # the dev PKI is 1 day old
    assert _status(data, trust)[0] == "untrusted"
    lenient = TrustConfig(trust.trust, trust.chain, trust.crls,
                          AllOf([default_policy(), _unsafe()]))
    assert _status(data, lenient)[0] == "valid"  # only when the policy says to trust the claimed time


def _unsafe():
    with pytest.warns(UserWarning):
        return UnsafeTrustClaimedTime()


def test_not_yet_valid_certificate(pki, trust):
    s = _signer_with(pki, not_before=NOW + dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=30))
    status, why = _status(sign_bytes(CT.read_bytes(), s)[0], trust)
    assert status == "untrusted" and "not yet valid" in why


def test_signature_dated_in_the_future(signer, trust):
    data = sign_bytes(CT.read_bytes(), signer, now=NOW + dt.timedelta(days=2))[0]
    status, why = _status(data, trust)
    assert status == "untrusted" and "future" in why


def test_revoked_certificate(pki, trust):
    s = _signer_with(pki)
    inter = load_certificates(pki.intermediate)[0]
    crl = make_crl((inter, _key(pki.intermediate_key)), [(s.certificate.serial_number, NOW - dt.timedelta(hours=2))])
    root_crl = [c for c in load_crls(pki.crl) if c.issuer != inter.subject]
    cfg = TrustConfig(trust.trust, trust.chain, root_crl + [crl])
    data = sign_bytes(CT.read_bytes(), s)[0]
    status, why = _status(data, cfg)
    assert status == "untrusted" and "revoked" in why
    assert _status(data, trust)[0] == "valid"  # the published CRL does not list it


def test_crl_signed_by_wrong_key(pki, signed_ct, trust):
    inter = load_certificates(pki.intermediate)[0]
    forged = make_crl((inter, new_key()), [])
    cfg = TrustConfig(trust.trust, trust.chain, [c for c in load_crls(pki.crl) if c.issuer != inter.subject] + [forged])
    status, why = _status(signed_ct, cfg)
    assert status == "untrusted" and "no valid CRL" in why


def test_certificate_without_digital_signature_usage(pki, trust):
    s = _signer_with(pki, digital_signature=False)
    status, why = _status(sign_bytes(CT.read_bytes(), s)[0], trust)
    assert status == "untrusted" and "digitalsignature" in why


def test_ca_certificate_used_as_signer(pki, trust):
    s = _signer_with(pki, ca=True)
    status, why = _status(sign_bytes(CT.read_bytes(), s)[0], trust)
    assert status == "untrusted" and "CA certificate" in why


def test_missing_intermediate(signed_ct, trust):
    cfg = TrustConfig(trust.trust, [], trust.crls)
    assert _status(signed_ct, cfg)[0] == "untrusted"


# ------------------------------------------------------------------ policy

@pytest.mark.parametrize("mac", ["md5", "sha1"])
def test_weak_mac_forbidden_by_policy(mac, signer, trust):
    status, why = _status(sign_bytes(CT.read_bytes(), signer, mac=mac)[0], trust)
    assert status == "policy-failed" and "forbids" in why


@pytest.mark.parametrize("omit", ["PixelData", "RescaleIntercept", "RescaleSlope", "PatientID", "SOPInstanceUID"])
def test_signature_omitting_required_attribute_fails_policy(omit, signer, trust):
    ds = raw.parse(CT.read_bytes()).dataset
    tag = {"RescaleSlope": 0x00281053}.get(omit) or T[omit]
    tags = [t for t in signable_tags(ds) if t != tag]
    status, why = _status(sign_bytes(CT.read_bytes(), signer, tags=tags)[0], trust)
    assert status == "policy-failed" and omit in why


def test_empty_policy_fails(signed_ct, trust):
    cfg = TrustConfig(trust.trust, trust.chain, trust.crls, AllOf([]))
    assert _status(signed_ct, cfg)[0] == "policy-failed"


def test_unsigned_file(trust):
    assert _status(CT.read_bytes(), trust)[0] == "unsigned"
    with pytest.raises(VerificationError):
        verify_file(CT, trust=trust.trust)


def test_ecdsa_key_refused_under_rsa_profiles(signer_ec):
    for profile in ("base", "creator", "authorization"):
        with pytest.raises(UsageError, match="ECDSA"):
            sign_bytes(CT.read_bytes(), signer_ec, profile=profile)


def test_creator_profile_refuses_partial_tag_list(signer):
    with pytest.raises(UsageError, match="requires signing"):
        sign_bytes(CT.read_bytes(), signer, profile="creator", tags=[T["PatientName"], T["SOPInstanceUID"]])


# ------------------------------------------------------------------ timestamps

def test_timestamp_not_covering_the_signature(signer, tsa_url, trust):
    a = sign_bytes(CT.read_bytes(), signer, timestamper=TsaClient(tsa_url))[0]
    b = sign_bytes(CR.read_bytes(), signer, timestamper=TsaClient(tsa_url))[0]
    token = signature_items(raw.parse(b).dataset)[0].elements[TIMESTAMP].value
    status, why = _status(_edit(a, _set(TIMESTAMP, bytes(token))), trust)
    assert status == "invalid" and "does not cover" in why


def test_timestamp_corrupted(signer, tsa_url, trust):
    a = sign_bytes(CT.read_bytes(), signer, timestamper=TsaClient(tsa_url))[0]
    tok = bytearray(signature_items(raw.parse(a).dataset)[0].elements[TIMESTAMP].value)
    tok[-40] ^= 0x01
    assert _status(_edit(a, _set(TIMESTAMP, bytes(tok))), trust)[0] == "invalid"


# ------------------------------------------------------------------ no false rejections

@pytest.mark.parametrize("name", ["ct_01.dcm", "ct_02.dcm", "ct_03.dcm", "ct_04.dcm", "ct_05.dcm", "ct_06.dcm", "cr"])
@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_every_sample_signed_and_unchanged_verifies(name, kind, signer, signer_ec, trust, trust_ec):
    src = CR if name == "cr" else CT.parent / name
    s, cfg = (signer, trust) if kind == "rsa" else (signer_ec, trust_ec)
    data = sign_bytes(src.read_bytes(), s, mac="sha384")[0]
    status, why = _status(data, cfg)
    assert status == "valid", why


def test_multiframe_with_item_and_main_signatures_verifies(signed_mf, trust):
    assert _status(signed_mf, trust)[0] == "valid"


def test_element_added_after_signing_caught_by_full_coverage_policy(signed_ct, trust):
    from radtrust.provenance.signatures.policy import RequireFullCoverage

    data = _edit(signed_ct, lambda ds: ds.put(Element(0x00104000, "LT", b"Benign nodule, no follow-up ")))
    assert _status(data, trust)[0] == "valid"  # the default policy names what must be covered, not what may not be
    strict = TrustConfig(trust.trust, trust.chain, trust.crls, AllOf([default_policy(), RequireFullCoverage()]))
    status, why = _status(data, strict)
    assert status == "policy-failed" and "PatientComments" in why
    assert _status(signed_ct, strict)[0] == "valid"
