"""What an authentic verdict cannot vouch for: one evidence line, first after the signature, when the image lacks the
traces most edits are found by.

"authentic" means no detector found anything, which says little where the detectors could not look. Two such cases
are measured (README, "Detection: measured figures"): an image stored lossy-compressed, whose coder erased the noise
and the JPEG lattice (edits made before it are found at about chance after JPEG 2000 10:1), and an 8-bit picture
with no JPEG lattice to read (never JPEG-compressed, or resized since: on methods nothing was tuned on, 3 of 24 edits
in such pictures were found, against 92 of 96 where the lattice is read). The line says so in the record, the HTML
report and the SR, so that a reader does not take "authentic" for more than it is. A flagged or signed image needs no
such line: something was found, or the signature decides.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from radtrust.io import Image
from radtrust.io.lossy import lossy_reason

LATTICE = "jpeg-grid"
PREFIX = "limits of this verdict: "


def verdict_limits(image: Image, judged: Collection[str], available: Collection[str]) -> str | None:
    """The limits line for an image found authentic, or None. ``judged``: the detectors that gave a finding;
    ``available``: the detectors the scan ran."""
    if image.source_format == "jpeg":
        return (f"{PREFIX}a JPEG file: an edit saved with its last compression leaves no lattice to read, so only a "
                "double-compression trace (jpeg-double), the header or copies can show one")
    if reason := lossy_reason(image):
        if LATTICE in judged:  # a picture stored as JPEG 2000 whose lattice was read through the codec's rounding
            return (f"{PREFIX}{reason}: that coder erased the fine noise and weakened the JPEG lattice by which most "
                    "pixel edits are found, so fewer edits are found than in a picture stored losslessly")
        return (f"{PREFIX}{reason}: that coder erased the fine noise, and any JPEG lattice, by which most pixel edits "
                "are found, so an edit made before it is rarely found; this verdict rests mainly on the header, "
                "signatures and copies")
    if LATTICE in available and LATTICE not in judged and eight_bit_picture(image):
        return (f"{PREFIX}no JPEG compression lattice could be read in this 8-bit picture (never JPEG-compressed, "
                "or resized, filtered or tone-curved since; the jpeg-grid line says which): most edits in pictures are "
                "found by that lattice, few without it")
    return None


def eight_bit_picture(image: Image) -> bool:
    """A single 2D picture that holds 8-bit levels, as jpeg-grid reads them (CT and 12-16-bit plates are rejected by a
    sparse sample, cheaply)."""
    from radtrust.forensics.detectors.jpeg_grid import eight_bit_levels

    px = np.asarray(image.pixels)
    return px.ndim == 2 and min(px.shape) >= 64 and eight_bit_levels(px) is not None
