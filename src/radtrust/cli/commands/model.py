"""radtrust model info: what a site model covers (groups with counts, noise model, fingerprints)."""

from __future__ import annotations

import argparse
import json

NAME = "model"
HELP = "inspect one-class site models (radtrust model info MODEL)"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="model_command", metavar="SUBCOMMAND", required=True)
    info = sub.add_parser("info", help="print the groups a model covers, with counts, and its parts")
    info.add_argument("model", metavar="MODEL", help="model file written by radtrust train")
    info.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")


def _text(d: dict) -> str:
    t = d["training"]
    lines = [f"{d['path']}: radtrust site model, format {d['format_version']}, features {d['feature_set']}",
             f"  trained {t.get('created', '-')} with radtrust {t.get('radtrust', '-')}, seed {t.get('seed')}, "
             f"epochs {t.get('epochs')}, {t.get('files')} file(s)",
             f"  groups by {', '.join(d['group_by'])}:"]
    for g in d["groups"]:
        lines.append(f"    {g['key']}: {g['images']} image(s), {g['series']} series, "
                     f"{'+'.join(g['dims'])}, windows {', '.join(f'{k} {v}' for k, v in g['windows'].items())}")
    nm = d["noise_model"]
    if nm:
        s = nm["slopes"]
        lines.append(f"  CT noise model: {nm['slices']} slices, kernels {', '.join(nm['kernels'])}; log sigma slopes "
                     f"mAs {s['log_mAs']:.2f}, kVp {s['log_kVp']:.2f}, thickness {s['log_thickness']:.2f}; "
                     f"residual sd {nm['residual_sd']:.2f}")
    else:
        lines.append("  CT noise model: none (no CT slices with kVp, mAs, kernel and thickness)")
    if d["fingerprints"]:
        for f in d["fingerprints"]:
            lines.append(f"  detector fingerprint {f['serial_sha256'][:12]}…: {f['images']} images "
                         f"{f['shape'][0]}x{f['shape'][1]}")
    else:
        lines.append("  detector fingerprints: none (needs >= 8 radiographs of one detector serial and size)")
    ic = d.get("identifier_conventions")
    if ic:
        shapes = ", ".join(f"{f} {n} shape(s)" for f, n in ic["shapes"].items())
        lines.append(f"  identifier conventions: {ic['units']} images or series ({shapes}; shapes only, no values)")
    else:
        lines.append("  identifier conventions: none (no DICOM headers in the training data)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from radtrust.forensics.oneclass import SiteModel

    described = SiteModel.load(args.model).describe()
    print(json.dumps(described, indent=2) if args.format == "json" else _text(described))
    return 0
