"""Content credentials: a signed binding of what a DICOM image means, and its chain of custody.

Safe recipes: :func:`issue_dataset` / :func:`issue_file` and :func:`verify_dataset` / :func:`verify_file`
(the latter raise :class:`CredentialError` with ``status``, ``changed`` and ``history`` unless the
credential is valid and trusted). Primitives: :mod:`.binding` (canonical form), :mod:`.container`
(COSE_Sign1), :mod:`.manifest`, :mod:`.store` (private block and sidecar), :mod:`.custody` (chain walking).
Format: ``docs/credential-format.md``.
"""

from radtrust.provenance.credential.issue import issue_dataset, issue_file, make_action
from radtrust.provenance.credential.store import Bundle
from radtrust.provenance.credential.trust import Signer, load_certificates, load_signer
from radtrust.provenance.credential.verify import CredentialError, CredentialResult, verify_dataset, verify_file

__all__ = ["Bundle", "CredentialError", "CredentialResult", "Signer", "issue_dataset", "issue_file",
           "load_certificates", "load_signer", "make_action", "verify_dataset", "verify_file"]
