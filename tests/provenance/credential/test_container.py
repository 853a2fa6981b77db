"""COSE_Sign1 container: round trips for RSA (PS256) and ECDSA (ES256, ES384), verified independently by pycose,
and rejection of every malformed or tampered message."""

from __future__ import annotations

import cbor2
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from radtrust.provenance.credential.container import (ContainerError, HDR_X5CHAIN, open1, sign1)
from radtrust.provenance.credential.trust import load_signer
from radtrust.provenance.signatures.pki import init_dev_pki


@pytest.fixture(scope="module", params=["rsa", "ecdsa"])
def signer(request, tmp_path_factory):
    pki = init_dev_pki(tmp_path_factory.mktemp(request.param), request.param)
    return load_signer(pki.signer_key, pki.signer_cert, pki.chain)


def test_round_trip(signer):
    msg = sign1(b"payload", signer)
    opened = open1(msg)
    assert opened.payload == b"payload"
    assert opened.chain[0] == signer.certificate and len(opened.chain) == 2
    assert opened.algorithm == ("PS256" if signer.key_type == "RSA" else "ES256")


def test_pycose_verifies_our_messages(signer):
    """An independent COSE implementation accepts the signature with the leaf certificate's public key."""
    pycose = pytest.importorskip("pycose")
    from pycose.keys import EC2Key, RSAKey
    from pycose.messages import Sign1Message

    msg = sign1(b"payload for pycose", signer)
    tagged = cbor2.loads(msg)
    assert tagged.tag == 18
    # cbor2 6 decodes containers inside tags as tuple/frozendict, which pycose 1.1 rejects: convert them.
    parts = list(tagged.value)
    parts[1] = dict(parts[1])
    decoded = Sign1Message.from_cose_obj(parts, True)
    pub = signer.certificate.public_key()
    numbers = pub.public_numbers()
    if signer.key_type == "RSA":
        key = RSAKey(n=numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"),
                     e=numbers.e.to_bytes(3, "big"))
    else:
        key = EC2Key(crv="P_256", x=numbers.x.to_bytes(32, "big"), y=numbers.y.to_bytes(32, "big"))
    decoded.key = key
    assert decoded.verify_signature()
    assert decoded.payload == b"payload for pycose"
    decoded.payload = b"payload for pycosf"
    assert not decoded.verify_signature()
    assert pycose.__name__ == "pycose"


def test_p384_uses_es384(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec

    from radtrust.provenance.signatures.keys import SoftwareSigner
    from radtrust.provenance.signatures.pki import issue

    key = ec.generate_private_key(ec.SECP384R1())
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca = issue("t ca", ca_key, ca=True)
    cert = issue("t leaf", key, (ca, ca_key))
    opened = open1(sign1(b"x", SoftwareSigner(key, cert, [ca])))
    assert opened.algorithm == "ES384"


def _parts(msg: bytes):
    tag = cbor2.loads(msg)
    return list(tag.value)


def _build(parts) -> bytes:
    return cbor2.dumps(cbor2.CBORTag(18, parts))


def test_payload_changed(signer):
    p = _parts(sign1(b"payload", signer))
    p[2] = b"pay1oad"
    with pytest.raises(ContainerError, match="does not verify"):
        open1(_build(p))


def test_signature_truncated(signer):
    p = _parts(sign1(b"payload", signer))
    p[3] = p[3][:-1]
    with pytest.raises(ContainerError):
        open1(_build(p))


def test_certificate_swapped_for_another_key(signer, tmp_path):
    other = init_dev_pki(tmp_path / "o", "ecdsa" if signer.key_type == "RSA" else "rsa")
    other_signer = load_signer(other.signer_key, other.signer_cert, other.chain)
    p = _parts(sign1(b"payload", signer))
    headers = cbor2.loads(p[0])
    headers[HDR_X5CHAIN] = [other_signer.certificate.public_bytes(Encoding.DER)]
    p[0] = cbor2.dumps(headers)
    with pytest.raises(ContainerError):
        open1(_build(p))


@pytest.mark.parametrize("garbage", [b"", b"\xff", cbor2.dumps([1, 2, 3]), cbor2.dumps(cbor2.CBORTag(98, [])),
                                     cbor2.dumps(cbor2.CBORTag(18, [b"", {}, b"", b""]))],
                         ids=["empty", "not_cbor", "wrong_array", "cose_sign_not_sign1", "no_headers"])
def test_malformed(garbage):
    with pytest.raises(ContainerError):
        open1(garbage)


def test_unknown_algorithm_rejected(signer):
    p = _parts(sign1(b"payload", signer))
    headers = cbor2.loads(p[0])
    headers[1] = -65535  # RS1 (SHA-1)
    p[0] = cbor2.dumps(headers)
    with pytest.raises(ContainerError, match="not accepted"):
        open1(_build(p))
