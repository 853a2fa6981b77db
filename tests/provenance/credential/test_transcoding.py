"""Credentials survive every lossless path through the real DCMTK and GDCM tools; lossy compression breaks them.

The credentialed file is also PS3.15-signed (radtrust's signer, credential issued first so the signature covers
it). After each tool, radtrust's PS3.15 verdict must agree with ``dcmsign --verify``, and the content credential
must stay valid whatever happened to the signature.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from radtrust.errors import Error
from radtrust.provenance.credential.ps315 import sign_with_credential
from radtrust.provenance.credential.verify import CredentialError, verify_file
from radtrust.provenance.signatures.verify import verify_file as verify_signature
from tests.conftest import require_tool

# (name, steps): each step is a tool and its options; input and output files are appended.
LOSSLESS_PATHS = [
    ("dcmconv_explicit_le", [("dcmconv", "+te")]),
    ("dcmconv_implicit_le", [("dcmconv", "+ti")]),
    ("dcmconv_big_endian", [("dcmconv", "+tb")]),
    ("dcmconv_big_endian_then_implicit", [("dcmconv", "+tb"), ("dcmconv", "+ti")]),
    ("dcmcrle", [("dcmcrle",)]),
    ("dcmcrle_then_dcmdrle", [("dcmcrle",), ("dcmdrle",)]),
    ("dcmcjpls_lossless", [("dcmcjpls",)]),
    ("dcmcjpls_then_dcmdjpls", [("dcmcjpls",), ("dcmdjpls",)]),
    ("dcmcjpeg_lossless_sv1", [("dcmcjpeg", "+e1")]),
    ("gdcmconv_j2k_lossless", [("gdcmconv", "--j2k")]),
    ("gdcmconv_j2k_then_raw", [("gdcmconv", "--j2k"), ("gdcmconv", "--raw")]),
    ("gdcmconv_rle_then_dcmdrle", [("gdcmconv", "--rle"), ("dcmdrle",)]),
    ("dcmcrle_fragmented", [("dcmcrle", "+fs", "16")]),
]


def _run(steps, src: Path, workdir: Path) -> Path:
    current = src
    for i, (tool, *opts) in enumerate(steps):
        exe = require_tool(tool)
        out = workdir / f"step{i}.dcm"
        proc = subprocess.run([exe, *opts, str(current), str(out)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{tool} failed: {proc.stderr}"
        current = out
    return current


@pytest.fixture(scope="module")
def signed_acquired(tmp_path_factory, sample_ct_files, cred_signer):
    """ct_01 (decompressed) with a credential and a PS3.15 signature, as `radtrust sign` makes them."""
    from tests.provenance.credential.conftest import read, to_bytes

    ds = read(sample_ct_files[0])
    ds.decompress(generate_instance_uid=False)
    signed, _ = sign_with_credential(to_bytes(ds), cred_signer, path=sample_ct_files[0], mac="sha256",
                                     profile="none")
    out = tmp_path_factory.mktemp("signed") / "signed.dcm"
    out.write_bytes(signed)
    return out


def _signature_verdict(path: Path, pki, trust) -> bool | None:
    from radtrust.provenance.credential import load_certificates

    try:
        verify_signature(path, trust=trust, chain=load_certificates(pki.chain))
        return True
    except Error as exc:
        if exc.exit_code == 1:
            return False
        return None  # radtrust could not read the encoding (reported as an error, not a verdict)


def _dcmsign_verdict(path: Path, pki) -> bool:
    exe = require_tool("dcmsign")
    proc = subprocess.run([exe, "--verify", "+cf", str(pki.root), "+uf", str(pki.intermediate), str(path)],
                          capture_output=True, text=True, timeout=60)
    return proc.returncode == 0


@pytest.mark.parametrize("name,steps", LOSSLESS_PATHS, ids=[p[0] for p in LOSSLESS_PATHS])
def test_credential_survives_lossless_path(tmp_path, signed_acquired, cred_trust, name, steps):
    out = _run(steps, signed_acquired, tmp_path)
    result = verify_file(out, trust=cred_trust)
    assert result.summary == "pixels and bound metadata unchanged since acquisition"


@pytest.mark.parametrize("name,steps", LOSSLESS_PATHS, ids=[p[0] for p in LOSSLESS_PATHS])
def test_signature_verdict_matches_dcmsign(tmp_path, signed_acquired, cred_pki, cred_trust, name, steps):
    """radtrust's PS3.15 verdict equals DCMTK's; for the retired big-endian syntax it may decline to read
    the file (an error, exit 2), never give the opposite verdict."""
    out = _run(steps, signed_acquired, tmp_path)
    ours, dcmtk = _signature_verdict(out, cred_pki, cred_trust), _dcmsign_verdict(out, cred_pki)
    allowed = (dcmtk, None) if steps[-1][1:] == ("+tb",) else (dcmtk,)
    assert ours in allowed, f"radtrust says signature {ours}, dcmsign {dcmtk}"


def test_signature_fate_is_as_expected(tmp_path, signed_acquired, cred_pki, cred_trust):
    """Uncompressed re-encodings keep the PS3.15 signature; encapsulation breaks it; the credential survives all."""
    assert _dcmsign_verdict(signed_acquired, cred_pki)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    implicit = _run([("dcmconv", "+ti")], signed_acquired, tmp_path / "a")
    assert _dcmsign_verdict(implicit, cred_pki)
    rle = _run([("dcmcrle",)], signed_acquired, tmp_path / "b")
    assert not _dcmsign_verdict(rle, cred_pki)
    assert _signature_verdict(rle, cred_pki, cred_trust) is False
    assert verify_file(rle, trust=cred_trust).status == "valid"


LOSSY_PATHS = [
    ("dcmcjpeg_extended_lossy", [("dcmcjpeg", "+ee")]),
    ("dcmcjpls_near_lossless", [("dcmcjpls", "+en", "+md", "3")]),
]


@pytest.mark.parametrize("name,steps", LOSSY_PATHS, ids=[p[0] for p in LOSSY_PATHS])
def test_lossy_compression_breaks_the_binding(tmp_path, acquired, cred_trust, name, steps):
    out = _run(steps, acquired, tmp_path)
    with pytest.raises(CredentialError) as info:
        verify_file(out, trust=cred_trust)
    assert info.value.status == "invalid"
    assert "frame 1 of 1 (pixel values changed)" in info.value.changed


def test_original_jpeg2000_sample_through_gdcm_raw(tmp_path, sample_ct_files, cred_signer, cred_trust):
    """The credential is issued on the vendor's JPEG 2000 file as is; GDCM decompresses it; still valid."""
    from tests.provenance.credential.conftest import credentialed

    src = credentialed(sample_ct_files[2], tmp_path / "j2k.dcm", cred_signer, decompress=False)
    out = _run([("gdcmconv", "--raw")], src, tmp_path)
    assert verify_file(out, trust=cred_trust).status == "valid"


OTHER_PATHS = [("implicit", [("dcmconv", "+ti")]), ("big_endian", [("dcmconv", "+tb")]), ("rle", [("dcmcrle",)]),
               ("jpeg_ls", [("dcmcjpls",)]), ("j2k_gdcm", [("gdcmconv", "--j2k")])]


@pytest.fixture(scope="module")
def cr_acquired(tmp_path_factory, sample_cr_file, cred_signer):
    from tests.provenance.credential.conftest import credentialed

    return credentialed(sample_cr_file, tmp_path_factory.mktemp("cr") / "cr.dcm", cred_signer)


@pytest.mark.parametrize("name,steps", OTHER_PATHS, ids=[p[0] for p in OTHER_PATHS])
@pytest.mark.parametrize("which", ["cr", "multiframe"])
def test_cr_and_multiframe_survive(tmp_path, cr_acquired, multiframe, cred_trust, which, name, steps):
    src = cr_acquired if which == "cr" else multiframe
    out = _run(steps, src, tmp_path)
    assert verify_file(out, trust=cred_trust).summary == "pixels and bound metadata unchanged since acquisition"
