"""Scanner/protocol groups: which one-class model an image belongs to.

A group is the image's modality plus the acquisition fields named by ``--group-by`` (default manufacturer, model and
kernel), normalised (whitespace collapsed, upper case). Images whose group was not in the training data are *out of
group*: the site model does not judge them and the zero-shot detectors decide alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from radtrust.errors import UsageError
from radtrust.io.image import Acquisition, Image

DEFAULT_GROUP_BY: tuple[str, ...] = ("manufacturer", "model", "kernel")
ALLOWED = tuple(sorted(set(Acquisition.__dataclass_fields__) | {"source_format", "bits_stored", "photometric"}))
MISSING = "-"


def parse_group_by(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """Validate a comma-separated field list (an empty string means: modality only)."""
    if text is None:
        return DEFAULT_GROUP_BY
    items = [t.strip() for t in (text.split(",") if isinstance(text, str) else text)]
    fields = tuple(dict.fromkeys(t for t in items if t))
    unknown = [f for f in fields if f not in ALLOWED]
    if unknown:
        raise UsageError(f"--group-by: unknown field {unknown[0]!r}; choose from {', '.join(ALLOWED)}")
    return fields


def _norm(value: object) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return MISSING
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split()).upper()


def group_fields(image: Image, group_by: Sequence[str]) -> dict[str, str]:
    out = {"modality": _norm(image.modality)}
    for name in group_by:
        value = getattr(image.acquisition, name) if name in Acquisition.__dataclass_fields__ else getattr(image, name)
        out[name] = _norm(value)
    return out


def group_key(image: Image, group_by: Sequence[str]) -> str:
    return "|".join(group_fields(image, group_by).values())
