"""An authentic verdict says what it cannot vouch for (radtrust.forensics.limits): a lossy-compressed image, a JPEG
file and an 8-bit picture with no JPEG lattice carry one "limits of this verdict" line, first after any signature;
a lossless CT slice, a picture whose lattice is read and a flagged image do not, nor does CT stored as JPEG 2000 mild
enough to keep its noise (radtrust.io.lossy.near_lossless), whose edits are still found; a picture stored as JPEG 2000
whose lattice jpeg-grid reads through it says the lattice was weakened, not erased."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from radtrust.benchmarking.robustness import transform
from radtrust.cli import main
from tests.conftest import SAMPLES

PICTURE = SAMPLES / "picture" / "4d98e1de.jpg"


def _records(capsys, *paths: Path) -> dict[str, dict]:
    main(["scan", *map(str, paths), "--format", "jsonl", "-q"])
    return {Path(o["path"]).name: o for o in map(json.loads, capsys.readouterr().out.splitlines())
            if o["kind"] == "instance"}


def _limits(rec: dict) -> list[str]:
    return [e for e in rec["evidence"] if e.startswith("limits of this verdict: ")]


def test_authentic_verdicts_say_where_the_detectors_could_not_look(tmp_path, capsys, sample_ct_files):
    lossy = transform(sample_ct_files[0], tmp_path / "lossy.dcm", "j2k-lossy")
    grey = np.asarray(PILImage.open(PICTURE).convert("L"))
    lattice = tmp_path / "lattice.png"  # the JPEG picture's decoded pixels, stored losslessly: its lattice is read
    PILImage.fromarray(grey).save(lattice)
    resized = tmp_path / "resized.png"  # the same picture resized since: no lattice left
    PILImage.fromarray(grey).resize((grey.shape[1] * 3 // 4, grey.shape[0] * 3 // 4), PILImage.BICUBIC).save(resized)
    edited = grey.copy()  # an edit after the last compression: flagged, so no limits line
    h, w = edited.shape
    edited[h // 3:h // 3 + 96, w // 3:w // 3 + 96] = np.clip(
        edited[h // 3:h // 3 + 96, w // 3:w // 3 + 96].astype(float) * 0.8 + 20, 0, 255).astype(np.uint8)
    flagged = tmp_path / "edited.png"
    PILImage.fromarray(edited).save(flagged)

    recs = _records(capsys, sample_ct_files[0], lossy, PICTURE, lattice, resized, flagged)
    assert recs["lossy.dcm"]["verdict"] == "authentic"
    (line,) = _limits(recs["lossy.dcm"])
    assert "irreversible 9-7 wavelet" in line and "rests mainly on the header" in line
    assert recs["lossy.dcm"]["evidence"][0] == line
    assert "a JPEG file" in _limits(recs[PICTURE.name])[0]
    assert "no JPEG compression lattice could be read" in _limits(recs["resized.png"])[0]
    assert "jpeg-grid" in recs["lattice.png"]["detectors"] and not _limits(recs["lattice.png"])
    assert not _limits(recs[sample_ct_files[0].name])
    assert recs["edited.png"]["verdict"] in ("suspicious", "tampered") and not _limits(recs["edited.png"])


def test_the_text_report_shows_the_limits_line_under_an_authentic_verdict(tmp_path, capsys, sample_ct_files):
    lossy = transform(sample_ct_files[0], tmp_path / "lossy.dcm", "j2k-lossy")
    assert main(["scan", str(lossy), str(sample_ct_files[0])]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.endswith("lossy.dcm"))
    assert lines[at].startswith("authentic") and lines[at + 1].startswith("  - limits of this verdict: stored lossy")
    assert not lines[at + 2].startswith("  - ")  # that line only, not the detectors' evidence
    clean = next(i for i, line in enumerate(lines) if line.endswith(sample_ct_files[0].name))
    assert not lines[clean + 1].startswith("  - ")


def test_a_series_stored_near_losslessly_is_judged_and_says_so(tmp_path, capsys, sample_ct_files):
    """JPEG 2000 at 2:1 of 12 stored bits: no limits line, the noise checks judged, the record says why."""
    mild = [transform(f, tmp_path / "mild" / f.name, "j2k-lossy:2") for f in sample_ct_files]
    assert main(["scan", str(tmp_path / "mild"), "--format", "jsonl", "-q"]) == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    inst = [r for r in recs if r["kind"] == "instance"]
    (series,) = [r for r in recs if r["kind"] == "series"]
    assert len(inst) == len(mild) and all(r["verdict"] == "authentic" and not _limits(r) for r in inst)
    assert all(any(e.startswith("input: stored as irreversible JPEG 2000 at") and "judged as if lossless" in e
                   for e in r["evidence"]) and r["detectors"].get("noise-free") is not None for r in inst)
    assert any(e.startswith("series: every slice stored as irreversible JPEG 2000") for e in series["evidence"])
    assert all(series["detectors"].get(name) is not None for name in ("noise-free", "region-comb", "patch-fill"))


def test_an_edit_stored_near_losslessly_is_still_found(tmp_path, capsys, sample_ct_files):
    """Storing an edited CT slice as JPEG 2000 at 2:1 no longer turns the noise checks off (before session 29 it was
    `authentic` with a limits line, as it still is at 10:1, where the codec erases the evidence)."""
    import pydicom
    from scipy import ndimage

    ds = pydicom.dcmread(sample_ct_files[0])
    x = ds.pixel_array.astype(np.float64)
    sl = (slice(246, 270), slice(294, 318))  # a removal's hole: the region's smooth trend, no noise
    x[sl] = np.round(ndimage.gaussian_filter(x, 4.0)[sl])
    ds.PixelData = x.astype(ds.pixel_array.dtype).tobytes()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.save_as(tmp_path / "edited.dcm", enforce_file_format=True)
    mild = transform(tmp_path / "edited.dcm", tmp_path / "mild.dcm", "j2k-lossy:2")
    strong = transform(tmp_path / "edited.dcm", tmp_path / "strong.dcm", "j2k-lossy")
    recs = _records(capsys, mild, strong)
    assert recs["mild.dcm"]["verdict"] == "tampered" and recs["mild.dcm"]["detectors"]["noise-free"] > 0.9
    assert recs["strong.dcm"]["verdict"] == "authentic" and _limits(recs["strong.dcm"])


def test_a_picture_stored_as_jpeg2000_says_its_lattice_was_read_through_the_codec(tmp_path, capsys, shared_data):
    """jpeg-grid reads a JPEG-born picture's lattice through JPEG 2000 at 2:1: the limits line says the lattice was
    weakened, not erased; at 10:1 (lattice not read) it says erased."""
    import pydicom
    from pydicom.uid import JPEG2000

    from radtrust.simulation import writer
    from radtrust.simulation.target import from_raster

    target = from_raster(shared_data / "cxr" / "16663_1_1.jpg")  # the sample picture's lattice does not survive 2:1
    writer.write_dicom(target.datasets, target.pixels, tmp_path / "raw.dcm", syntax="explicit")
    for ratio in (2, 10):
        ds = pydicom.dcmread(tmp_path / "raw.dcm")
        ds.compress(JPEG2000, j2k_cr=[ratio], generate_instance_uid=False)
        ds.save_as(tmp_path / f"j2k{ratio}.dcm", enforce_file_format=True)
    recs = _records(capsys, tmp_path / "j2k2.dcm", tmp_path / "j2k10.dcm")
    mild, strong = recs["j2k2.dcm"], recs["j2k10.dcm"]
    assert mild["verdict"] == strong["verdict"] == "authentic"
    assert "jpeg-grid" in mild["detectors"] and "weakened the JPEG lattice" in _limits(mild)[0]
    assert "jpeg-grid" not in strong["detectors"] and "and any JPEG lattice" in _limits(strong)[0]
