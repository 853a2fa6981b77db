"""The key of a pixel index file (:mod:`radtrust.forensics.pixel_store`): what keeps the file alone from telling whom it
saw.

The attribute hashes of a fingerprint derive from patient identifiers, and a birth date or a seven-digit patient ID is
found again from a plain 8-byte SHA-256 by trying them all; the name an instance is remembered by (a file's path, which
often holds the patient's name) and its SOPInstanceUID are identifiers too. So the file keeps the hashes as HMAC-SHA-256
and the names AES-256-GCM-encrypted (:mod:`cryptography`; two keys derived with HKDF-SHA-256 from 32 random bytes), the
key kept beside it in ``FILE.key``, owner-only, never in the database. A key check value in the database tells the
right key file from another.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets

from radtrust.errors import InputError
from radtrust.forensics.same_pixels import _H

KEY_SUFFIX = ".key"
_KEY_CHECK = b"radtrust pixel index key check"


def key_file(index: str | os.PathLike[str]) -> str:
    """Where the key of the index file ``index`` is kept."""
    return os.fspath(index) + KEY_SUFFIX


def missing_key(index: str | os.PathLike[str]) -> InputError:
    return InputError(f"its key file {key_file(index)} is missing: the index cannot be read without it (restore it, "
                      "or start a new index)", index)


class IndexKey:
    """An index file's key: attribute hashes sealed (HMAC-SHA-256), names encrypted (AES-256-GCM)."""

    def __init__(self, key: bytes) -> None:
        from cryptography.hazmat.primitives import hashes, hmac
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        def derive(info: bytes) -> bytes:
            return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)

        self._proto = hmac.HMAC(derive(b"radtrust pixel index attributes"), hashes.SHA256())
        self._aead = AESGCM(derive(b"radtrust pixel index names"))
        self.check = self._mac(_KEY_CHECK).hex()[:32]

    def _mac(self, data: bytes) -> bytes:
        h = self._proto.copy()
        h.update(data)
        return h.finalize()

    def seal(self, header: bytes) -> bytes:
        """Each attribute's hash keyed, with its position (equal values of two attributes do not show either)."""
        return b"".join(self._mac(bytes([i]) + header[i:i + _H])[:_H] for i in range(0, len(header), _H))

    def encrypt_names(self, name: str, sop: str | None) -> bytes:
        """The name an instance is remembered by and its SOPInstanceUID, encrypted (a random 12-byte nonce first)."""
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, json.dumps([name, sop]).encode("utf-8"), None)

    def decrypt_names(self, blob: bytes) -> tuple[str, str | None] | None:
        """What :meth:`encrypt_names` sealed; None for bytes it did not write with this key."""
        from cryptography.exceptions import InvalidTag

        try:
            name, sop = json.loads(self._aead.decrypt(blob[:12], blob[12:], None))
        except (InvalidTag, ValueError, TypeError):
            return None
        if not isinstance(name, str) or not isinstance(sop, (str, type(None))):
            return None
        return name, sop

    @classmethod
    def for_index(cls, index: str, create: bool) -> IndexKey:
        """The key in ``index`` + :data:`KEY_SUFFIX`, made (owner-only, atomically: two processes opening a new index
        get the same) when ``create`` and there is none."""
        path = key_file(index)
        if create and not os.path.lexists(path):
            tmp = f"{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
            try:
                fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
                with os.fdopen(fd, "w", encoding="ascii") as fh:
                    fh.write(secrets.token_hex(32) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                with contextlib.suppress(FileExistsError):
                    os.link(tmp, path)
            except OSError as exc:
                raise InputError(f"cannot write the key file {path}: {exc.strerror or exc}", index) from exc
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        try:
            with open(path, encoding="ascii") as fh:
                text = fh.read(200).strip()
        except FileNotFoundError:
            raise missing_key(index) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read its key file {path}: {getattr(exc, 'strerror', None) or exc}", index) from exc
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise InputError(f"its key file {path} is not a radtrust key file (64 hex digits)", index)
        return cls(key)
