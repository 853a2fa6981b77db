"""Interoperability with DCMTK dcmsign in both directions: every MAC, every profile, RSA and ECDSA, nested item
signatures, several signatures per file, timestamps; CT, CR and multi-frame; one changed byte fails in both tools."""

from __future__ import annotations

import pytest

from radtrust.errors import VerificationError
from radtrust.provenance.signatures import sign_file, verify_file
from radtrust.provenance.signatures.mac_stream import MAC_ALGORITHMS
from radtrust.provenance.signatures.policy import AllOf, AllowedMacs, RequireCoverage, RequireTimestamp
from radtrust.provenance.signatures.timestamp import TsaClient
from radtrust.provenance.signatures.verify import examine_file
from tests.provenance.signatures.conftest import CR, CT, dcmsign, dcmsign_verify, openssl_reply, trust_for

DCMSIGN_MAC = {"ripemd160": "+mr", "sha1": "+ms", "md5": "+mm", "sha256": "+m2", "sha384": "+m3", "sha512": "+m5"}
DCMSIGN_PROFILE = {"none": "-pf", "base": "+pb", "creator": "+pc", "authorization": "+pa"}
ANY_MAC = AllOf([AllowedMacs(tuple(a.dicom_name for a in MAC_ALGORITHMS.values())), RequireCoverage()])


def _verify(pki, path, **kw):
    cfg = trust_for(pki)
    return verify_file(path, trust=cfg.trust, chain=cfg.chain, crls=cfg.crls, **kw)


def _flip(path, needle: bytes, offset: int = 0):
    data = bytearray(path.read_bytes())
    i = data.rfind(needle)
    assert i > 0
    data[i + offset] ^= 0x01
    path.write_bytes(bytes(data))


# ------------------------------------------------------------------ radtrust signs, dcmsign verifies

@pytest.mark.parametrize("profile", ["none", "base", "creator", "authorization"])
@pytest.mark.parametrize("mac", list(MAC_ALGORITHMS))
def test_radtrust_rsa_signature_passes_dcmsign(mac, profile, pki, signer, tmp_path):
    out = tmp_path / "s.dcm"
    sign_file(CT, out, signer, mac=mac, profile=profile)
    res = dcmsign_verify(pki, out, "+rg")
    assert res.returncode == 0, res.stderr
    assert _verify(pki, out, policy=ANY_MAC).ok


@pytest.mark.parametrize("mac", list(MAC_ALGORITHMS))
def test_radtrust_ecdsa_signature_passes_dcmsign(mac, pki_ec, signer_ec, tmp_path):
    out = tmp_path / "s.dcm"
    sign_file(CT, out, signer_ec, mac=mac, profile="none")
    res = dcmsign_verify(pki_ec, out, "+rg")
    assert res.returncode == 0, res.stderr
    assert _verify(pki_ec, out, policy=ANY_MAC).ok


@pytest.mark.parametrize("source", ["cr", "multiframe"])
@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_radtrust_cr_and_multiframe_pass_dcmsign(source, kind, pki, pki_ec, signer, signer_ec, multiframe, tmp_path):
    src = CR if source == "cr" else multiframe
    p, s = (pki, signer) if kind == "rsa" else (pki_ec, signer_ec)
    out = tmp_path / "s.dcm"
    sign_file(src, out, s, mac="sha384", profile="creator" if kind == "rsa" else "none")
    assert dcmsign_verify(p, out, "+rg").returncode == 0
    assert _verify(p, out).ok


def test_radtrust_nested_and_multiple_signatures_pass_dcmsign(pki, pki_ec, signer, signer_ec, multiframe, tmp_path):
    a, b, c = tmp_path / "a.dcm", tmp_path / "b.dcm", tmp_path / "c.dcm"
    sign_file(multiframe, a, signer, mac="sha256", item="PerFrameFunctionalGroupsSequence[2]")
    sign_file(a, b, signer_ec, mac="sha512", item="SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]")
    sign_file(b, c, signer, mac="ripemd160", profile="creator")
    res = dcmsign("--verify", "+cf", pki.root, "+uf", pki.intermediate, "+cf", pki_ec.root,
                  "+uf", pki_ec.intermediate, c)
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("Verification : OK") == 3
    from radtrust.provenance.signatures import load_certificates
    r = verify_file(c, trust=load_certificates(pki.root) + load_certificates(pki_ec.root),
                    chain=load_certificates(pki.chain) + load_certificates(pki_ec.chain))
    assert len(r.signatures) == 3 and {s.location for s in r.signatures} >= {"", "PerFrameFunctionalGroupsSequence[2]"}


def test_radtrust_timestamped_signature_passes_dcmsign(pki, signer, tsa_url, tmp_path):
    out = tmp_path / "ts.dcm"
    created = sign_file(CT, out, signer, mac="sha256", timestamper=TsaClient(tsa_url))
    assert created.timestamped
    res = dcmsign_verify(pki, out, "+tr")  # +tr: fail if no certified timestamp
    assert res.returncode == 0, res.stderr
    r = _verify(pki, out, policy=AllOf([RequireTimestamp(), RequireCoverage()]))
    assert r.signatures[0].timestamp and "TSA" in r.signatures[0].tsa


@pytest.mark.parametrize("needle", [b"PETCT2", b"CT Body 3.0", b"\xff\xd9"], ids=["SH", "LO-in-seq", "pixels"])
def test_changed_byte_after_radtrust_signing_fails_in_both(needle, pki, signer, tmp_path):
    out = tmp_path / "s.dcm"
    sign_file(CT, out, signer, mac="sha256")
    _flip(out, needle)
    assert dcmsign_verify(pki, out).returncode == 101
    with pytest.raises(VerificationError) as err:
        _verify(pki, out)
    assert err.value.result.status == "invalid"


# ------------------------------------------------------------------ dcmsign signs, radtrust verifies

@pytest.mark.parametrize("profile", ["none", "base", "creator", "authorization"])
@pytest.mark.parametrize("mac", list(MAC_ALGORITHMS))
def test_dcmsign_rsa_signature_verifies_in_radtrust(mac, profile, pki, tmp_path):
    out = tmp_path / "d.dcm"
    res = dcmsign("+s", pki.signer_key, pki.signer_cert, DCMSIGN_MAC[mac], DCMSIGN_PROFILE[profile], CT, out)
    assert res.returncode == 0, res.stderr
    r = _verify(pki, out, policy=ANY_MAC)
    assert r.signatures[0].mac == MAC_ALGORITHMS[mac].dicom_name
    if profile != "none":
        assert profile in r.signatures[0].profiles


@pytest.mark.parametrize("mac", ["ripemd160", "sha256", "sha384", "sha512"])
@pytest.mark.parametrize("source", ["ct", "cr", "multiframe"])
def test_dcmsign_ecdsa_signature_verifies_in_radtrust(mac, source, pki_ec, multiframe, tmp_path):
    src = {"ct": CT, "cr": CR, "multiframe": multiframe}[source]
    out = tmp_path / "d.dcm"
    res = dcmsign("+s", pki_ec.signer_key, pki_ec.signer_cert, DCMSIGN_MAC[mac], "-pf", src, out)
    assert res.returncode == 0, res.stderr
    assert _verify(pki_ec, out).signatures[0].algorithm == "ECDSA"


def test_dcmsign_item_signatures_verify_in_radtrust(pki, multiframe, tmp_path):
    a, b = tmp_path / "a.dcm", tmp_path / "b.dcm"
    assert dcmsign("+si", pki.signer_key, pki.signer_cert, "PerFrameFunctionalGroupsSequence[0]", "+m2",
                   multiframe, a).returncode == 0
    assert dcmsign("+s", pki.signer_key, pki.signer_cert, "+m5", a, b).returncode == 0
    r = _verify(pki, b)
    assert sorted(s.location for s in r.signatures) == ["", "PerFrameFunctionalGroupsSequence[0]"]


def test_dcmsign_timestamp_flow_verifies_in_radtrust(pki, tmp_path):
    signed, stamped = tmp_path / "s.dcm", tmp_path / "t.dcm"
    tsq, tsr, uid = tmp_path / "q.tsq", tmp_path / "r.tsr", tmp_path / "uid.dcm"
    assert dcmsign("+s", pki.signer_key, pki.signer_cert, "+m2", "+ts", tsq, uid, CT, signed).returncode == 0
    openssl_reply(pki, tsq, tsr)
    res = dcmsign("+t", tsq, tsr, uid, signed, stamped)
    assert res.returncode == 0, res.stderr
    assert dcmsign_verify(pki, stamped, "+tr").returncode == 0
    r = _verify(pki, stamped, policy=AllOf([RequireTimestamp(), RequireCoverage()]))
    assert r.signatures[0].timestamp is not None


@pytest.mark.parametrize("needle", [b"PETCT2", b"SECTRA", b"\xff\xd9"], ids=["SH", "SH-in-seq", "pixels"])
def test_changed_byte_after_dcmsign_signing_fails_in_both(needle, pki, tmp_path):
    out = tmp_path / "d.dcm"
    assert dcmsign("+s", pki.signer_key, pki.signer_cert, "+m2", CT, out).returncode == 0
    _flip(out, needle)
    assert dcmsign_verify(pki, out).returncode == 101
    assert examine_file(out, trust_for(pki)).status == "invalid"


def test_radtrust_timestamped_item_and_main_signatures_on_multiframe_pass_dcmsign(pki, signer, tsa_url, multiframe,
                                                                                  tmp_path):
    a, b = tmp_path / "a.dcm", tmp_path / "b.dcm"
    tsa = TsaClient(tsa_url)
    sign_file(multiframe, a, signer, mac="sha384", item="PerFrameFunctionalGroupsSequence[0]", timestamper=tsa)
    sign_file(a, b, signer, mac="sha256", profile="creator", timestamper=tsa)
    res = dcmsign_verify(pki, b, "+tr")
    assert res.returncode == 0, res.stderr
    r = _verify(pki, b, policy=AllOf([RequireTimestamp(), RequireCoverage()]))
    assert all(s.timestamp for s in r.signatures) and len(r.signatures) == 2


@pytest.mark.parametrize("purpose", [1, 13, 18])
def test_signature_purpose_codes_both_ways(purpose, pki, signer, tmp_path):
    from radtrust.provenance.signatures.sign import PURPOSES

    ours, theirs = tmp_path / "ours.dcm", tmp_path / "theirs.dcm"
    sign_file(CT, ours, signer, purpose=purpose)
    assert dcmsign_verify(pki, ours).returncode == 0
    assert _verify(pki, ours).signatures[0].purpose == PURPOSES[purpose]
    assert dcmsign("+s", pki.signer_key, pki.signer_cert, "+m2", "+sp", str(purpose), CT, theirs).returncode == 0
    assert _verify(pki, theirs).signatures[0].purpose == PURPOSES[purpose]
