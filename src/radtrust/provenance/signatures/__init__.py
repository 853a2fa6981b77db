"""DICOM digital signatures (PS3.15 Annex C, PS3.3 C.12.1), byte-compatible with DCMTK ``dcmsign``.

Safe recipes::

    from radtrust.provenance.signatures import load_signer, sign_file, verify_file, load_certificates
    signer = load_signer("signer.key", "signer.pem")
    sign_file("ct.dcm", "ct-signed.dcm", signer, mac="sha256", profile="base")
    result = verify_file("ct-signed.dcm", trust=load_certificates("root-ca.pem"),
                         chain=load_certificates("chain.pem"))     # raises VerificationError if anything fails

Primitives live underneath: :mod:`.mac_stream` (the signed byte stream), :mod:`.keys` (PEM/DER/PKCS#12/PKCS#11),
:mod:`.trust` (certificate paths, CRLs), :mod:`.timestamp` (RFC 3161), :mod:`.policy`, :mod:`.profiles`, :mod:`.pki`.
"""

from radtrust.provenance.signatures.keys import Signer, load_certificates, load_signer, read_password
from radtrust.provenance.signatures.policy import Policy, default_policy, load_policy
from radtrust.provenance.signatures.sign import SignatureCreated, sign_dataset, sign_file
from radtrust.provenance.signatures.timestamp import TsaClient, verify_token
from radtrust.provenance.signatures.trust import load_crls, validate_chain
from radtrust.provenance.signatures.verify import (
    SignatureReport, TrustConfig, VerificationResult, examine_file, verify_dataset, verify_file,
)

__all__ = [
    "Signer", "load_signer", "load_certificates", "read_password", "load_crls", "validate_chain",
    "TsaClient", "verify_token", "Policy", "default_policy", "load_policy",
    "SignatureCreated", "sign_file", "sign_dataset",
    "SignatureReport", "VerificationResult", "TrustConfig", "examine_file", "verify_file", "verify_dataset",
]
