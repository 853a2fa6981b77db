"""Chain of custody: walk a credential bundle from the current credential back to acquisition.

Each credential names its parent by SHA-256 of the parent's COSE_Sign1 bytes; the bundle keeps the
parent credentials. Walking checks every signature, every hash link and that nothing is left over, and
compares each step's binding with its parent's (the salt is inherited along a chain, so attribute
digests are comparable): which step changed pixel values, which changed which bound attributes, who
signed it and with what tool. This is the C2PA ingredient/actions idea applied to DICOM content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from radtrust.provenance.credential.container import ContainerError, Opened, message_digest, open1
from radtrust.provenance.credential.manifest import Manifest
from radtrust.provenance.credential.store import Bundle


MAX_HISTORY = 256  # ancestors walked at most (each costs a signature check)


@dataclass(frozen=True)
class Step:
    """One verified credential in a chain, oldest first once walked."""

    manifest: Manifest
    opened: Opened
    digest: bytes  # SHA-256 of its COSE_Sign1
    pixels_changed: bool = False  # measured against the parent's binding
    metadata_changed: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def signer(self) -> str:
        return self.opened.chain[0].subject.rfc4514_string()

    @property
    def signer_name(self) -> str:
        cn = self.opened.chain[0].subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return str(cn[0].value) if cn else self.signer

    def to_json(self) -> dict[str, Any]:
        a = self.manifest.action
        return {"action": a.action, "when": a.when, "software": a.software, "signer": self.signer,
                "signer_name": self.signer_name,
                "description": a.description, "parameters": a.parameters, "pixels_changed": self.pixels_changed,
                "metadata_changed": list(self.metadata_changed), "credential": self.digest.hex(),
                "parent": self.manifest.parent.hex() if self.manifest.parent else None,
                "timestamped": self.opened.timestamp_token is not None, "notes": list(self.notes)}


@dataclass(frozen=True)
class Chain:
    """A walked chain, oldest (acquisition) first; ``problems`` empty when every link holds."""

    steps: tuple[Step, ...]
    problems: tuple[str, ...] = field(default=())

    @property
    def current(self) -> Step:
        return self.steps[-1]

    @property
    def acquisition(self) -> Step | None:
        return self.steps[0] if self.steps and self.steps[0].manifest.action.action == "acquired" else None

    def pixel_changes(self) -> list[Step]:
        return [s for s in self.steps[1:] if s.pixels_changed]

    def summary(self) -> str:
        """One line: what is still as acquired and what changed, by whom."""
        root = "acquisition" if self.acquisition else f"the first credential ({self.steps[0].manifest.action.action})"
        changes = self.pixel_changes()
        if changes:
            parts = [f"{s.manifest.action.action} by {s.signer_name} with {s.manifest.action.software} at "
                     f"{s.manifest.action.when}" + (f" ({s.manifest.action.description})"
                                                    if s.manifest.action.description else "") for s in changes]
            pixel_text = f"pixels are NO LONGER those of {root}: " + "; ".join(parts)
        else:
            pixel_text = f"pixels unchanged since {root}"
        meta = [(s, s.metadata_changed) for s in self.steps[1:] if s.metadata_changed]
        if meta:
            meta_text = "bound metadata changed: " + "; ".join(
                f"{_names(kws)} by {s.manifest.action.action} ({s.signer_name}, {s.manifest.action.when})"
                for s, kws in meta)
        else:
            meta_text = f"bound metadata unchanged since {root}"
        if not changes and not meta:
            return f"pixels and bound metadata unchanged since {root}"
        return f"{pixel_text}; {meta_text}"


def _names(keywords: tuple[str, ...], limit: int = 5) -> str:
    shown = ", ".join(keywords[:limit])
    return shown + (f" and {len(keywords) - limit} more" if len(keywords) > limit else "")


def _open(message: bytes, what: str) -> tuple[Opened, Manifest]:
    try:
        opened = open1(message)
    except ContainerError as exc:
        raise ValueError(f"{what}: {exc}") from None
    try:
        manifest = Manifest.from_bytes(opened.payload)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
    return opened, manifest


def walk(bundle: Bundle) -> Chain:
    """Open every credential in the bundle and check the hash links, newest to oldest.

    The current credential must open (else ValueError). Problems further back are collected in
    ``Chain.problems`` and the walk stops at the first broken link.
    """
    if len(bundle.ancestors) > MAX_HISTORY:
        raise ValueError(f"history of {len(bundle.ancestors)} credentials is longer than {MAX_HISTORY}")
    opened, manifest = _open(bundle.credential, "credential")
    newest = Step(manifest=manifest, opened=opened, digest=message_digest(bundle.credential))
    steps = [newest]
    problems: list[str] = []
    remaining = list(bundle.ancestors)
    expected = manifest.parent
    depth = 0
    while expected is not None:
        depth += 1
        if not remaining:
            problems.append(f"history incomplete: parent credential {expected.hex()[:16]}… of "
                            f"'{steps[-1].manifest.action.action}' is missing")
            break
        message = remaining.pop(0)
        digest = message_digest(message)
        if digest != expected:
            problems.append(f"history broken: '{steps[-1].manifest.action.action}' names parent "
                            f"{expected.hex()[:16]}… but the next credential in the bundle is {digest.hex()[:16]}… "
                            "(entry removed, reordered or parent hash forged)")
            break
        try:
            o, m = _open(message, f"ancestor credential {depth}")
        except ValueError as exc:
            problems.append(str(exc))
            break
        steps.append(Step(manifest=m, opened=o, digest=digest))
        expected = m.parent
    if not problems and remaining:
        problems.append(f"{len(remaining)} credential(s) in the bundle are not part of the history")
    ordered = list(reversed(steps))
    return Chain(steps=tuple(_compare_steps(ordered)), problems=tuple(problems))


def _compare_steps(steps: list[Step]) -> list[Step]:
    out = [steps[0]]
    for parent, child in zip(steps, steps[1:]):
        pb, cb = parent.manifest.binding, child.manifest.binding
        notes: list[str] = []
        pixels_changed = pb.pixels != cb.pixels
        if pb.salt == cb.salt:
            changed = tuple(k for k in cb.keywords if pb.attributes.get(k) != cb.attributes.get(k))
        else:
            changed = ("(not comparable: the binding salt changed)",) if pb.metadata != cb.metadata else ()
        claimed = child.manifest.action.changes_pixels
        if pixels_changed and not claimed:
            notes.append(f"'{child.manifest.action.action}' is a pixel-preserving action but pixel values changed")
        if claimed and not pixels_changed:
            notes.append(f"'{child.manifest.action.action}' left the pixel values identical")
        out.append(Step(manifest=child.manifest, opened=child.opened, digest=child.digest,
                        pixels_changed=pixels_changed, metadata_changed=changed, notes=tuple(notes)))
    return out


def history_lines(history: list[dict[str, Any]]) -> list[str]:
    """Readable lines for a history (the ``to_json`` form of each step), oldest first."""
    lines = []
    for i, h in enumerate(history, 1):
        flags = []
        if h["pixels_changed"]:
            flags.append("PIXELS CHANGED")
        if h["metadata_changed"]:
            flags.append("metadata changed: " + ", ".join(h["metadata_changed"]))
        who = h.get("signer_name") or h["signer"]
        lines.append(f"    {i}. {h['action']:<16} {h['when']}  by {who}  with {h['software']}"
                     + (" [timestamped]" if h.get("timestamped") else ""))
        if h["description"]:
            lines.append(f"       {h['description']}")
        for text in flags + list(h.get("notes", [])):
            lines.append(f"       {text}")
    return lines
