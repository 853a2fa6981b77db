"""The credential manifest: binding + one action + the parent credential's hash, as deterministic CBOR.

Modelled on a C2PA claim (C2PA 2.x §10 ``c2pa.actions``): each credential records exactly one action
(what was done to produce *this* image, by which tool, when) and references its parent credential by
SHA-256 of the parent's COSE_Sign1 bytes. The history is the chain of manifests; removing,
reordering or forging an entry breaks a hash link. See ``docs/credential-format.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from radtrust.provenance.credential.binding import Binding

FORMAT = "radtrust-credential"
FORMAT_VERSION = 1

# The action vocabulary; the C2PA name each maps to on export, and whether it changes pixel values.
ACTIONS: dict[str, tuple[str, bool]] = {
    "acquired": ("c2pa.created", False),
    "signed": ("c2pa.published", False),
    "anonymized": ("c2pa.edited.metadata", False),  # c2pa.redacted needs a redacted-assertion URI
    "transcoded": ("c2pa.transcoded", False),
    "cropped": ("c2pa.cropped", True),
    "lossy-compressed": ("c2pa.transcoded", True),
    "annotated": ("c2pa.edited.metadata", False),
    "edited": ("c2pa.edited", True),
}


@dataclass(frozen=True)
class Action:
    """One step in an image's history."""

    action: str
    when: str  # ISO 8601 with UTC offset
    software: str  # the tool that performed it, e.g. "radtrust 0.1.0" or "DCMTK dcmcjpeg 3.6.7"
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r} (one of {', '.join(ACTIONS)})")

    @property
    def changes_pixels(self) -> bool:
        return ACTIONS[self.action][1]

    def to_cbor(self) -> dict[str, Any]:
        return {"action": self.action, "when": self.when, "software": self.software,
                "description": self.description, "parameters": dict(self.parameters)}

    @classmethod
    def from_cbor(cls, obj: Any) -> "Action":
        return cls(action=str(obj["action"]), when=str(obj["when"]), software=str(obj["software"]),
                   description=str(obj.get("description", "")), parameters=dict(obj.get("parameters", {})))


def iso_now(now: datetime | None = None) -> str:
    when = now or datetime.now(timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.isoformat(timespec="seconds")


@dataclass(frozen=True)
class Manifest:
    """What a credential's COSE_Sign1 payload holds."""

    binding: Binding
    action: Action
    parent: bytes | None  # SHA-256 of the parent credential's COSE_Sign1, None for the first one
    issued: str
    generator: str

    def to_bytes(self) -> bytes:
        import cbor2

        return cbor2.dumps({"format": FORMAT, "version": FORMAT_VERSION, "generator": self.generator,
                            "issued": self.issued, "action": self.action.to_cbor(), "parent": self.parent,
                            "binding": self.binding.to_cbor()}, canonical=True)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Manifest":
        import cbor2

        try:
            obj = cbor2.loads(data)
            if obj.get("format") != FORMAT or obj.get("version") != FORMAT_VERSION:
                raise ValueError(f"not a {FORMAT} v{FORMAT_VERSION} manifest")
            parent = obj["parent"]
            if parent is not None and not (isinstance(parent, bytes) and len(parent) == 32):
                raise ValueError("parent reference is not a SHA-256 digest")
            return cls(binding=Binding.from_cbor(obj["binding"]), action=Action.from_cbor(obj["action"]),
                       parent=parent, issued=str(obj["issued"]), generator=str(obj["generator"]))
        except ValueError:
            raise
        except Exception as exc:
            raise ValueError(f"malformed manifest ({type(exc).__name__}: {exc})") from None
