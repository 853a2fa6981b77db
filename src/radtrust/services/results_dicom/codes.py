"""radtrust's private coding scheme ``99RADTRUST`` (PS3.16 Section 8: private schemes start with "99").

No standard code exists for image tampering, so the concepts of a radtrust result (tamper score,
verdict, signature status, detector scores, evidence) are coded here, once. The SR and SEG builders
use only these; the scheme is declared in each object's Coding Scheme Identification Sequence.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from highdicom.sr import CodedConcept

SCHEME = "99RADTRUST"
SCHEME_NAME = "radtrust image integrity concepts"
SCHEME_UID_ROOT = "2.25.160331229358463093715316359427380457711"  # fixed UUID-derived root of the scheme


def _c(value: str, meaning: str) -> CodedConcept:
    return CodedConcept(value, SCHEME, meaning)


PROCEDURE = _c("RT000", "Image integrity analysis")
FINDING_TYPE = _c("RT001", "Image integrity finding")
TAMPER_SCORE = _c("RT002", "Tamper probability")
VERDICT = _c("RT003", "Tamper verdict")
SIGNATURE_STATUS = _c("RT004", "Digital signature status")
EVIDENCE = _c("RT005", "Forensic evidence")
SIGNATURE_REASON = _c("RT006", "Signature verification finding")
SERIES_SUMMARY = _c("RT007", "Series integrity summary")

VERDICTS: dict[str, CodedConcept] = {
    "authentic": _c("RT010", "Authentic"),
    "suspicious": _c("RT011", "Suspicious"),
    "tampered": _c("RT012", "Tampered"),
    "signed-authentic": _c("RT013", "Signed authentic"),
    "error": _c("RT014", "Analysis error"),
    "unverified": _c("RT015", "Not verified"),
}

SIGNATURE_STATUSES: dict[str, CodedConcept] = {
    "valid": _c("RT020", "Valid trusted signature"),
    "invalid": _c("RT021", "Invalid signature"),
    "untrusted": _c("RT022", "Untrusted signature"),
    "unsigned": _c("RT023", "Unsigned"),
    "policy-failed": _c("RT024", "Signature policy failed"),
    "not-checked": _c("RT025", "Signature not checked"),
    "error": _c("RT026", "Signature check error"),
}

CREDENTIAL_STATUS = _c("RT008", "Content credential status")
CREDENTIAL_STATUSES: dict[str, CodedConcept] = {
    "valid": _c("RT040", "Valid trusted content credential"),
    "invalid": _c("RT041", "Invalid content credential"),
    "untrusted": _c("RT042", "Untrusted content credential"),
    "absent": _c("RT043", "No content credential"),
    "not-checked": _c("RT044", "Content credential not checked"),
    "error": _c("RT045", "Content credential check error"),
}

SEG_CATEGORY = _c("RT030", "Image integrity finding")
SEG_TYPE = _c("RT031", "Suspected tampering")

# UCUM "no units": scores are probabilities in [0, 1].
UNITLESS = CodedConcept("1", "UCUM", "no units")


def detector_score(name: str) -> CodedConcept:
    """The concept "score of detector NAME" (long names go to Long Code Value, as PS3.3 allows)."""
    return _c(f"RTD:{name}", f"{name} detector score")


def verdict_code(verdict: str) -> CodedConcept:
    return VERDICTS.get(verdict, VERDICTS["error"])


def signature_code(status: str) -> CodedConcept:
    return SIGNATURE_STATUSES.get(status, SIGNATURE_STATUSES["error"])


def credential_code(status: str) -> CodedConcept:
    return CREDENTIAL_STATUSES.get(status, CREDENTIAL_STATUSES["error"])


def scheme_identification() -> Dataset:
    """One item of the Coding Scheme Identification Sequence (0008,0110) declaring 99RADTRUST."""
    item = Dataset()
    item.CodingSchemeDesignator = SCHEME
    item.CodingSchemeName = SCHEME_NAME
    item.CodingSchemeResponsibleOrganization = "radtrust developers"
    item.CodingSchemeUID = SCHEME_UID_ROOT
    return item
