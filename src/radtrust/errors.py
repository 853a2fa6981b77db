"""One error hierarchy for all of radtrust.

Every error carries a one-line message that names the file it concerns. The CLI catches
:class:`Error`, prints that line and exits with :attr:`Error.exit_code`: 2 for bad input or usage,
1 for a check that failed (a broken signature, a tampered verdict).
"""

from __future__ import annotations

from pathlib import Path


class Error(Exception):
    """Base class: a one-line, user-facing problem, optionally tied to a file."""

    exit_code = 2

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None

    def __str__(self) -> str:
        line = " ".join(self.message.split())
        return f"{self.path}: {line}" if self.path else line


class UsageError(Error):
    """The command line or an argument is wrong."""


class InputError(Error):
    """An input cannot be read as what it claims to be."""


class InvalidDicom(InputError):
    """Not DICOM, truncated, malformed elements or sequences, missing pixel data."""


class UnsupportedSyntax(InputError):
    """A transfer syntax or pixel encoding radtrust cannot decode."""


class CorruptPixelData(InputError):
    """Pixel data is present but cannot be decoded to the size the header declares."""


class TooLarge(InputError):
    """Decoding would need more memory than the configured limit."""


class NotApplicable(Error):
    """A check needs something this input lacks (a DICOM header, a 3D volume, ...).

    It is not a failure: callers report the check as "not applicable".
    """

    exit_code = 0


class EvidenceLost(NotApplicable):
    """The check applies to this kind of image, but what was done to this image (lossy compression, resizing,
    re-quantisation) removed what it reads. Worth telling the user: "nothing found" then means less."""


class VerificationError(Error):
    """A check failed: the reasons travel with the exception, never as an ignorable boolean."""

    exit_code = 1

    def __init__(self, message: str, path: str | Path | None = None, reasons: list[str] | None = None) -> None:
        super().__init__(message, path)
        self.reasons = list(reasons or [message])
