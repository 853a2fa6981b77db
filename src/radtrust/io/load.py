"""The one entry point for reading: a path of any supported kind becomes an :class:`Image`.

Folders are walked recursively in a stable order. Bad files do not stop the walk: callers get
each result or error in turn (see :func:`iter_images`) and report the bad ones at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from radtrust.config import Limits
from radtrust.errors import Error, InputError
from radtrust.io.dicom import load_dicom
from radtrust.io.files import check_regular
from radtrust.io.image import Image
from radtrust.io.metaimage import is_metaimage, load_metaimage
from radtrust.io.nifti import is_nifti, load_nifti
from radtrust.io.raster import FORMATS, load_raster

SKIPPED_NAMES = {"DICOMDIR", "DIRFILE", "LOCKFILE", "VERSION"}
# Companion files that live beside images (manifests, masks, reports, keys) are skipped in folder
# walks; a file named explicitly is always tried.
SKIPPED_SUFFIXES = {".tsv", ".csv", ".txt", ".md", ".json", ".jsonl", ".npy", ".npz", ".html", ".pem", ".der",
                    ".key", ".crt", ".p12", ".log", ".py", ".sh", ".yaml", ".yml", ".toml", ".c2pa", ".cose", ".radcred",
                    ".raw", ".zraw"}  # .raw/.zraw: a MetaImage header's pixel data, read through its .mhd


def is_headerless(path: Path) -> bool:
    """Whether the file is read without a DICOM header (a raster, NIfTI or MetaImage, by its name)."""
    return is_nifti(path) or is_metaimage(path) or path.suffix.lower() in FORMATS


def load_image(path: str | os.PathLike[str], *, limits: Limits | None = None) -> Image:
    """Read one file; the format comes from the extension for rasters, NIfTI and MetaImage, else DICOM."""
    path = Path(path)
    if path.is_dir():
        raise InputError("is a folder; use iter_images() or load_series() for folders", path)
    check_regular(path)  # a pipe or a device would block the read or never end
    if is_nifti(path):
        return load_nifti(path, limits=limits)
    if is_metaimage(path):
        return load_metaimage(path, limits=limits)
    if path.suffix.lower() in FORMATS:
        return load_raster(path, limits=limits)
    return load_dicom(path, limits=limits)


def iter_files(inputs: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Files named or found under folders (recursively, sorted), skipping hidden files and DICOMDIRs.

    A folder that cannot be read, or holds no file to try, is an :class:`~radtrust.errors.InputError` (a mistyped
    folder must not pass as a clean, empty result)."""
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            if not os.access(path, os.R_OK | os.X_OK):
                raise InputError("cannot read this folder: permission denied", path)
            found_any = False
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if (name.startswith(".") or name.upper() in SKIPPED_NAMES
                            or Path(name).suffix.lower() in SKIPPED_SUFFIXES):
                        continue
                    found = Path(root) / name
                    if found.is_file() or found.is_symlink():  # not pipes, sockets, devices; a broken link is named
                        found_any = True
                        yield found
            if not found_any:
                raise InputError("no files to read in this folder (hidden files, reports, keys and masks are "
                                 "skipped)", path)
        else:
            yield path


@dataclass(frozen=True)
class Loaded:
    """One input's outcome: an image, or the error that names the file."""

    path: Path
    image: Image | None = None
    error: Error | None = None


def iter_images(inputs: Iterable[str | os.PathLike[str]], *, limits: Limits | None = None) -> Iterator[Loaded]:
    """Load every file under the inputs, yielding errors instead of raising them."""
    limits = limits or Limits.from_env()
    for path in iter_files(inputs):
        try:
            yield Loaded(path, image=load_image(path, limits=limits))
        except Error as exc:
            yield Loaded(path, error=exc)
        except MemoryError:
            yield Loaded(path, error=InputError("out of memory while decoding", path))
