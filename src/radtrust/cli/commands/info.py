"""radtrust info: what was read from each file (modality, size, syntax, geometry, acquisition, signatures)."""

from __future__ import annotations

import argparse

from radtrust.cli.output import Reporter, add_format_option
from radtrust.io import group_series, iter_images
from radtrust.io.image import Image

NAME = "info"
HELP = "print what radtrust reads from images: modality, size, syntax, geometry, acquisition, signatures"
DESCRIPTION = HELP + "\n\nPATH may be files or folders (searched recursively). Series are summarised after their instances."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    add_format_option(parser)
    parser.add_argument("--no-series", action="store_true", help="do not summarise series")


def _signature_list(image: Image) -> list[dict]:
    """PS3.15 signature items (uid, signer, MAC, time), listed but not verified."""
    if not image.signature_count:
        return []
    from radtrust.errors import Error
    from radtrust.provenance.signatures.inspect import list_signatures

    try:
        return list_signatures(image.summary()["path"])
    except Error:
        return []


def _text(image: Image) -> str:
    s = image.summary()
    g = s["geometry"]
    lines = [f"{s['path']}",
             f"  {s['modality'] or '-'} {s['format']} {'x'.join(map(str, s['size']))}  {s['photometric']}"
             f"  bits {s['bits_stored'] or '-'}  syntax {s['transfer_syntax_name'] or '-'}"]
    if image.has_header:
        spacing = "x".join(f"{v:g}" for v in g["pixel_spacing"]) if g["pixel_spacing"] else "-"
        pos = ",".join(f"{v:g}" for v in g["position"]) if g["position"] else "-"
        lines.append(f"  spacing {spacing} mm  thickness {g['slice_thickness'] or '-'}  position {pos}")
        acq = ", ".join(f"{k}={v}" for k, v in s["acquisition"].items()) or "none"
        lines.append(f"  acquisition: {acq}")
        lines.append(f"  signatures: {s['signatures']}")
        for sig in _signature_list(image):
            lines.append(f"    {sig['uid']}: {sig['mac'] or '?'} by {sig['signer'] or '?'} at {sig['time']}"
                         f"{' (timestamped)' if sig['timestamped'] else ''}, {sig['elements']} elements"
                         f"{' in ' + sig['location'] if sig['location'] else ''} (not verified: radtrust verify)")
    else:
        lines.append("  no DICOM header: header-based checks are not applicable")
    lo, hi = s["value_range"] or (0, 0)
    lines.append(f"  values {lo:g} .. {hi:g}" + (f"  notes: {'; '.join(s['notes'])}" if s["notes"] else ""))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    rep = Reporter(fmt=args.format, quiet=args.quiet, verbose=args.verbose)
    images: list[Image] = []
    for loaded in iter_images(args.paths):
        if loaded.error is not None:
            rep.error(loaded.error)
            continue
        assert loaded.image is not None
        record = {"kind": "instance", **loaded.image.summary()}
        if loaded.image.signature_count:
            record["signature_list"] = _signature_list(loaded.image)
        rep.record(record, _text(loaded.image))
        images.append(loaded.image)
    if not args.no_series:
        for series in group_series(im for im in images if im.has_header):
            s = series.summary()
            if s["instances"] < 2 and not s["problems"]:
                continue
            text = (f"series {s['series_instance_uid']}: {s['modality']} {s['instances']} instances, "
                    f"slice spacing {s['slice_spacing'] or '-'} mm"
                    + ("".join(f"\n  problem: {p}" for p in s["problems"])))
            rep.record(s, text)
    return rep.exit_code()
