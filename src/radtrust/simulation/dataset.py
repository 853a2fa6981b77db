"""Building a benchmark folder (:mod:`radtrust.benchmarking.format`) from authentic images.

Every authentic item is written through the same decode/encode path as its tampered copies (same
writer, same transfer syntax), so only the content differs. CT volumes are cut into disjoint slabs of
``slab`` slices, each written as its own series folder. Items are split into train/test by patient or
by series (a slab, or a single image), stratified by CT/2D, and a tampered copy always lands in its
authentic item's split. Methods are drawn so that each is used about equally often; a splice donor is
another patient's item from the same split. Randomness: one seed; each (item, copy) gets its own
child seed, so the same seed gives the same bytes.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radtrust.benchmarking.format import Row, mask_path, sidecar_path, write_labels
from radtrust.errors import Error, InputError, NotApplicable, UsageError
from radtrust.io import group_series, iter_files, load_image, metaimage, nifti
from radtrust.io.raster import FORMATS
from radtrust.simulation import writer
from radtrust.simulation.methods import HELD_OUT, METHODS, get_method
from radtrust.simulation.simulate import simulate
from radtrust.simulation.target import Target, from_image, from_volume, from_raster, from_series

log = logging.getLogger(__name__)

# Methods drawn by default: everything except the held-out methods (the learned in-painter, which also
# needs the torch extra, and simulation/holdout.py), kept for measuring methods nothing was tuned on.
DEFAULT_EXCLUDED = HELD_OUT


@dataclass(frozen=True)
class Source:
    """A lazily loaded authentic item: ``load()`` gives its target."""

    name: str
    patient: str
    kind: str  # "ct" | "2d"
    origin: str
    load: Callable[[], Target]


def _manifest_patients(path: Path) -> dict[str, str]:
    """file name -> 'patient N' from a MANIFEST.tsv above ``path`` (../shared/data has one)."""
    for parent in [path.parent, *path.parents]:
        manifest = parent / "MANIFEST.tsv"
        if manifest.is_file():
            out = {}
            for line in manifest.read_text(errors="replace").splitlines()[1:]:
                cols = line.split("\t")
                if len(cols) >= 2:
                    m = re.search(r"patient (\w+)", cols[1])
                    if m:
                        out[Path(cols[0]).name] = f"cxr-patient-{m.group(1)}"
            return out
    return {}


def discover(paths: Iterable[str | Path], *, slab: int = 16, max_side: int | None = None) -> list[Source]:
    """Authentic items under ``paths``: CT slabs (DICOM series, NIfTI or MetaImage volumes) and single 2D images."""
    sources: list[Source] = []
    dicom_images = []
    manifests: dict[Path, dict[str, str]] = {}
    for f in iter_files([Path(p) for p in paths]):
        name = f.name.lower()
        if nifti.is_nifti(f):
            if name.startswith("mask."):
                continue
            # one volume per folder, as the shared chest CT: slabs named by the folder
            sources.extend(_volume_slabs(f, slab, nifti.slice_count(f), f.parent.name))
        elif metaimage.is_metaimage(f):
            # many volumes per folder, as LUNA16's subsets: slabs named by the file (a series UID there)
            sources.extend(_volume_slabs(f, slab, metaimage.slice_count(f), f.stem))
        elif f.suffix.lower() in FORMATS:
            pats = manifests.setdefault(f.parent, _manifest_patients(f))
            patient = pats.get(f.name, f.stem)
            sources.append(Source(f.stem, patient, "2d", str(f), lambda f=f, p=patient: from_raster(f, patient=p, max_side=max_side)))
        else:
            try:
                dicom_images.append(load_image(f))
            except Error as exc:
                log.warning("skipped %s", exc)
    for series in group_series(dicom_images):
        first = series.instances[0]
        folder = first.path.parent.name if first.path else "series"
        patient = str(first.patient_id or folder)
        if len(series) > 1 and series.is_volume():
            n = len(series) // slab
            for i in range(max(n, 0)):
                z0 = (len(series) - n * slab) // 2 + i * slab
                nm = f"{folder}_z{z0:03d}"
                sources.append(Source(nm, patient, "ct", str(first.path.parent),
                                      lambda s=series, z0=z0, nm=nm: from_series(s).slab(z0, z0 + slab, nm)))
        else:
            for im in series.instances:
                if im.pixels.ndim == 2:
                    stem = im.path.stem if im.path else "image"
                    sources.append(Source(stem, str(im.patient_id or stem), "2d", str(im.path),
                                          lambda im=im, stem=stem: from_image(im, name=stem)))
    names = Counter(s.name for s in sources)
    dup = [n for n, c in names.items() if c > 1]
    if dup:
        raise InputError(f"two authentic items share the name {dup[0]!r}; rename one")
    return sources


def _volume_slabs(path: Path, slab: int, z: int, base: str) -> list[Source]:
    """Slabs of ``slab`` slices from the middle of a volume file of ``z`` slices, named ``<base>_z<first slice>``."""
    n = z // slab
    cache: dict[str, Target] = {}

    def volume() -> Target:
        if "v" not in cache:
            cache.clear()
            cache["v"] = from_volume(path)
        return cache["v"]

    out = []
    for i in range(n):
        z0 = (z - n * slab) // 2 + i * slab
        nm = f"{base}_z{z0:03d}"
        out.append(Source(nm, base, "ct", str(path), lambda z0=z0, nm=nm: volume().slab(z0, z0 + slab, nm)))
    return out


def assign_splits(sources: list[Source], rng: np.random.Generator, *, split_by: str = "patient",
                  test_fraction: float = 0.5) -> dict[str, str]:
    """item name -> train/test, grouping by patient or series (item), stratified by CT/2D."""
    if split_by not in ("patient", "series"):
        raise UsageError("--split-by must be patient or series")
    split: dict[str, str] = {}
    for kind in ("ct", "2d"):
        members = [s for s in sources if s.kind == kind]
        groups = sorted({s.patient if split_by == "patient" else s.name for s in members})
        order = [groups[i] for i in rng.permutation(len(groups))]
        n_test = int(round(len(groups) * test_fraction))
        if len(groups) >= 2:
            n_test = min(max(n_test, 1), len(groups) - 1)
        test = set(order[:n_test])
        for s in members:
            key = s.patient if split_by == "patient" else s.name
            split[s.name] = "test" if key in test else "train"
    return split


def _variant(params: dict) -> str:
    af = params.get("antiforensics")
    if not af:
        return "plain"
    steps = [af["noise"] + "-noise"] if af.get("noise", "none") != "none" else []
    steps += [k for k in ("histmatch", "requantise", "resample") if af.get(k)]
    return "+".join(steps) or "plain"


# CT-GAN's own attacks are drawn twice as often as the generic ones on CT volumes.
WEIGHTS = {"ct-inject-nodule": 2.0, "ct-remove-nodule": 2.0}


def _pick(methods: list[str], target: Target, counts: Counter, rng: np.random.Generator) -> list[str]:
    """Applicable methods, least used (per CT/2D kind, relative to their weight) first, ties in random order."""
    ok = [m for m in methods if get_method(m).admits(target)]
    kind = "ct" if target.is_ct else "2d"
    tiebreak = {m: float(rng.random()) for m in ok}
    return sorted(ok, key=lambda m: (counts[(kind, m)] / WEIGHTS.get(m, 1.0), tiebreak[m]))


def build(authentic: Iterable[str | Path], out: str | Path, *, methods: list[str] | None = None, per_image: int = 2,
          seed: int = 0, split_by: str = "patient", slab: int = 16, max_2d: int | None = None,
          test_fraction: float = 0.5, syntax: str = "explicit", max_side: int | None = None) -> list[Row]:
    """Write a benchmark folder at ``out`` and return its rows (see the module docstring)."""
    out = Path(out)
    methods = list(methods) if methods else [m for m in METHODS if m not in DEFAULT_EXCLUDED]
    for m in methods:
        get_method(m)
    sources = discover(authentic, slab=slab, max_side=max_side)
    if not sources:
        raise InputError("no authentic images found", ", ".join(str(p) for p in authentic))
    rng = np.random.default_rng(seed)
    if max_2d is not None:
        sources = _limit_2d(sources, max_2d, rng)
    split = assign_splits(sources, rng, split_by=split_by, test_fraction=test_fraction)
    counts: Counter = Counter()
    rows: list[Row] = []
    loaded: dict[str, Target] = {}
    for idx, src in enumerate(sources):
        target = src.load()
        sub = "ct" if src.kind == "ct" else "xr"
        ext = "" if target.pixels.ndim == 3 else ".dcm"
        # Opaque names: the variant number says nothing about the label or the method.
        variants = [int(v) for v in rng.permutation(per_image + 1)]
        rel = f"{sub}/{src.name}_v{variants[0]}{ext}"
        writer.write_dicom(target.datasets, target.pixels, out / rel, syntax=syntax)
        rows.append(Row(rel, 0, "", split[src.name], target.modality, src.patient, src.origin, ""))
        made = 0
        for k in range(per_image):
            child = np.random.default_rng(np.random.SeedSequence([seed, idx, k]))
            for method in _pick(methods, target, counts, child):
                donor = None
                if get_method(method).needs_donor:
                    donor = _donor(sources, src, split, loaded, child)
                    if donor is None:
                        continue
                try:
                    result = simulate(method, target, child, donor=donor)
                except NotApplicable as exc:
                    log.info("%s: %s not applicable (%s)", src.name, method, exc.message)
                    continue
                rel_t = f"{sub}/{src.name}_v{variants[k + 1]}{ext}"
                writer.write_dicom(result.datasets, result.pixels, out / rel_t, syntax=syntax)
                row = Row(rel_t, 1, method, split[src.name], target.modality, src.patient, src.origin,
                          _variant(result.params) if get_method(method).kind == "pixels" else "metadata")
                writer.write_npy(result.mask, mask_path(out, row))
                writer.write_json(writer.sidecar(method, result.params, seed=seed, source=src.origin,
                                                 mask_file=f"masks/{row.stem}.npy", image_file=rel_t),
                                  sidecar_path(out, row))
                rows.append(row)
                counts[("ct" if target.is_ct else "2d", method)] += 1
                made += 1
                break
        log.info("%s: authentic + %d tampered", src.name, made)
        if src.kind == "2d" and len(loaded) < 64:
            loaded[src.name] = target
    write_labels(out, rows)
    return rows


def _donor(sources: list[Source], src: Source, split: dict[str, str], cache: dict[str, Target],
           rng: np.random.Generator) -> Target | None:
    """Another patient's item of the same kind and split."""
    cands = [s for s in sources if s.kind == src.kind and s.patient != src.patient and split[s.name] == split[src.name]]
    if not cands:
        return None
    pick = cands[int(rng.integers(0, len(cands)))]
    if pick.name not in cache:
        cache[pick.name] = pick.load()
    return cache[pick.name]


def _limit_2d(sources: list[Source], max_2d: int, rng: np.random.Generator) -> list[Source]:
    """Keep at most ``max_2d`` 2D items, one per patient first (DICOM radiographs always kept)."""
    two_d = [s for s in sources if s.kind == "2d"]
    if len(two_d) <= max_2d:
        return sources
    keep: list[Source] = [s for s in two_d if not Path(s.origin).suffix.lower() in FORMATS]
    rest = [s for s in two_d if s not in keep]
    order = [rest[i] for i in rng.permutation(len(rest))]
    seen: set[str] = set()
    for s in order:
        if len(keep) >= max_2d:
            break
        if s.patient not in seen:
            keep.append(s)
            seen.add(s.patient)
    names = {s.name for s in keep}
    return [s for s in sources if s.kind == "ct" or s.name in names]


def iter_summary(rows: list[Row]) -> Iterator[str]:
    by = Counter((r.split, r.label, r.modality) for r in rows)
    for (sp, lab, mod), n in sorted(by.items()):
        yield f"{sp:5s} {'tampered' if lab else 'authentic':9s} {mod:3s} {n}"
