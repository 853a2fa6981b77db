"""Reading the files a user names, and the small files an option names (keys, certificates, CRLs, policies, tag, password and secret files, fusion
parameters, records): a folder, a pipe or a device is refused by name before it is opened (a pipe with no writer
would block the read forever), and an unreadable one is an :class:`~radtrust.errors.InputError` naming it."""

from __future__ import annotations

import os
import stat

from radtrust.errors import InputError

MAX_SIDE_FILE = 64 * 1024 * 1024  # far above any key, certificate, CRL, policy or fusion file: a larger one is not one


def check_regular(path: str | os.PathLike[str], what: str = "", error: type[InputError] = InputError) -> int:
    """The size of the regular file at ``path``; ``error`` (an :class:`InputError`) for anything else. ``what`` names
    the file's role in the message ("cannot read the UID secret: no such file"). Every reader of a named file goes
    through here: images (``error`` InvalidDicom), the bytes PS3.15 signs, side files."""
    try:
        info = os.stat(path)
    except OSError as exc:
        problem = "no such file" if isinstance(exc, FileNotFoundError) else str(exc.strerror or exc)
    else:
        if stat.S_ISREG(info.st_mode):
            return info.st_size
        problem = "is a folder, not a file" if stat.S_ISDIR(info.st_mode) else "not a regular file (a pipe or a device)"
    raise error(f"cannot read {what}: {problem}" if what else problem, path)


def read_side_file(path: str | os.PathLike[str], limit: int | None = MAX_SIDE_FILE, what: str = "") -> bytes:
    """The bytes of the regular file at ``path`` (at most ``limit``; None for records, which grow with an archive)."""
    size = check_regular(path, what)
    if limit is not None and size > limit:
        raise InputError(f"too large for what it holds (over {limit // (1024 * 1024)} MB)", path)
    try:
        with open(path, "rb") as fh:
            return fh.read() if limit is None else fh.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read{' ' + what if what else ''}: {exc.strerror or exc}", path) from None

