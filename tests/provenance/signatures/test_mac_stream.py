"""The MAC byte stream is byte-for-byte what DCMTK dcmsign feeds its MAC (compared with `dcmsign +d` dumps)."""

from __future__ import annotations

import pytest

from radtrust.provenance.signatures import _rawdicom as raw
from radtrust.provenance.signatures._elements import at_tags, find_item, mac_parameters, signature_items
from radtrust.provenance.signatures.mac_stream import DATA_ELEMENTS_SIGNED, mac_stream, signable_tags
from tests.provenance.signatures.conftest import CR, CT, dcmsign

CASES = [("ct", CT, None), ("cr", CR, None), ("ct-item", CT, "ProcedureCodeSequence[0]"),
         ("mf", "multiframe", None), ("mf-item", "multiframe", "PerFrameFunctionalGroupsSequence[1]")]


@pytest.mark.parametrize("name,src,item", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("mac", ["+m2", "+mr"])
def test_stream_matches_dcmsign_dump(name, src, item, mac, pki, multiframe, tmp_path):
    src = multiframe if src == "multiframe" else src
    out, dump = tmp_path / "out.dcm", tmp_path / "dump.bin"
    args = ["+s", pki.signer_key, pki.signer_cert] if item is None else ["+si", pki.signer_key, pki.signer_cert, item]
    res = dcmsign(*args, mac, "+d", dump, src, out)
    assert res.returncode == 0, res.stderr
    f = raw.read(out)
    target = find_item(f.dataset, item) if item else f.dataset
    params, sig = mac_parameters(target)[0], signature_items(target)[0]
    tags = at_tags(params.get(DATA_ELEMENTS_SIGNED).value)
    assert tags == signable_tags(target)  # dcmsign signs exactly what radtrust considers signable
    ours = mac_stream(target, tags, sig)
    theirs = dump.read_bytes()
    assert len(ours) == len(theirs)
    assert ours == theirs


def test_stream_ignores_length_encoding(pki, tmp_path):
    """Defined vs undefined sequence lengths do not change the stream (dcmsign -e writes undefined lengths)."""
    a, b = tmp_path / "a.dcm", tmp_path / "b.dcm"
    assert dcmsign("+s", pki.signer_key, pki.signer_cert, "+m2", CT, a).returncode == 0
    assert dcmsign("--verify", "+cf", pki.root, "+uf", pki.intermediate, a).returncode == 0
    fa = raw.read(a)
    fb = raw.parse(raw.serialise(fa))  # radtrust writes undefined lengths
    b.write_bytes(raw.serialise(fb))
    res = dcmsign("--verify", "+cf", pki.root, "+uf", pki.intermediate, b)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("syntax", ["+te", "+ti"], ids=["explicit-native", "implicit"])
def test_native_and_implicit_vr_files_both_ways(syntax, shared_data, pki, signer, tmp_path):
    """GE head CT (uncompressed, with GE private tags): dcmsign's stream matches ours; ours passes dcmsign."""
    import subprocess

    from radtrust.provenance.signatures import sign_file
    from radtrust.provenance.signatures.verify import examine_file
    from tests.conftest import require_tool
    from tests.provenance.signatures.conftest import dcmsign_verify, trust_for

    src = tmp_path / "in.dcm"
    subprocess.run([require_tool("dcmconv"), syntax, str(shared_data / "ct" / "ge_head" / "01.dcm"), str(src)],
                   check=True, capture_output=True)
    theirs, dump = tmp_path / "theirs.dcm", tmp_path / "dump.bin"
    assert dcmsign("+s", pki.signer_key, pki.signer_cert, "+m2", "+d", dump, src, theirs).returncode == 0
    f = raw.read(theirs)
    params, sig = mac_parameters(f.dataset)[0], signature_items(f.dataset)[0]
    assert mac_stream(f.dataset, at_tags(params.get(DATA_ELEMENTS_SIGNED).value), sig) == dump.read_bytes()
    assert examine_file(theirs, trust_for(pki)).status == "valid"
    ours = tmp_path / "ours.dcm"
    sign_file(src, ours, signer)
    assert dcmsign_verify(pki, ours, "+rg").returncode == 0
    assert examine_file(ours, trust_for(pki)).status == "valid"


def test_undefined_length_un_is_read_as_sequence_like_dcmtk(pki, signer, tmp_path):
    """CP-246: an undefined-length UN holds an Implicit VR sequence; dcmsign signs it as SQ, so does radtrust."""
    import struct

    from radtrust.provenance.signatures import sign_file
    from radtrust.provenance.signatures.verify import examine_file
    from tests.provenance.signatures.conftest import dcmsign_verify, trust_for

    item = (b"\xfe\xff\x00\xe0\xff\xff\xff\xff" + struct.pack("<HHI", 0x0010, 0x0010, 2) + b"AB"
            + b"\xfe\xff\x0d\xe0\x00\x00\x00\x00")
    un = struct.pack("<HH", 0x0031, 0x1099) + b"UN\0\0\xff\xff\xff\xff" + item + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    data = bytearray(raw.serialise(raw.read(CT)))
    at = data.find(struct.pack("<HH", 0x0032, 0x1032))
    data[at:at] = un
    src = tmp_path / "un.dcm"
    src.write_bytes(bytes(data))
    assert raw.read(src).dataset.get(0x00311099).items is not None
    theirs, dump = tmp_path / "theirs.dcm", tmp_path / "dump.bin"
    assert dcmsign("+s", pki.signer_key, pki.signer_cert, "+m2", "+d", dump, src, theirs).returncode == 0
    f = raw.read(theirs)
    tags = at_tags(mac_parameters(f.dataset)[0].get(DATA_ELEMENTS_SIGNED).value)
    assert 0x00311099 in tags and tags == signable_tags(raw.read(src).dataset)
    assert mac_stream(f.dataset, tags, signature_items(f.dataset)[0]) == dump.read_bytes()
    ours = tmp_path / "ours.dcm"
    sign_file(src, ours, signer)
    assert dcmsign_verify(pki, ours).returncode == 0
    assert examine_file(ours, trust_for(pki)).status == "valid"
