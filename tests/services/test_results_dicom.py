"""SR (TID 1500) and fractional SEG results: valid per dciodvfy, carrying what the scan found (issue 8)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from radtrust.cli import main
from radtrust.services.results_dicom import objects_from_records, write_objects
from tests.conftest import require_tool

VERDICTS = ["authentic", "suspicious", "tampered", "signed-authentic", "error", "unverified"]
SIGNATURES = ["unsigned", "valid", "invalid", "untrusted", "policy-failed", "not-checked"]


def dciodvfy_errors(path: Path) -> list[str]:
    out = subprocess.run([require_tool("dciodvfy"), str(path)], capture_output=True, text=True)
    return [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]


def iter_all(ds: pydicom.Dataset):
    for elem in ds:
        yield elem
        if elem.VR == "SQ":
            for item in elem.value:
                yield from iter_all(item)


def records_for(files: list[Path], rng: np.random.Generator) -> tuple[list[dict], dict[str, np.ndarray]]:
    records, heats = [], {}
    for i, f in enumerate(files):
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        heats[ds.SOPInstanceUID] = rng.random((ds.Rows, ds.Columns)).astype(np.float32)
        records.append({"kind": "instance", "path": str(f), "sop_instance_uid": ds.SOPInstanceUID,
                        "series_instance_uid": ds.SeriesInstanceUID, "modality": ds.Modality,
                        "score": round(float(rng.random()), 4), "verdict": VERDICTS[i % len(VERDICTS)],
                        "detectors": {"noise-residual": 0.25, "duplicated-noise": float("nan"),
                                      "a-detector-with-a-long-name": 0.5},
                        "evidence": [f"finding {i}: noise too low at rows 10-40"],
                        "signature": {"status": SIGNATURES[i % len(SIGNATURES)], "reasons": ["because"]},
                        "credential": {"status": "valid" if i % 2 else "absent", "reasons": []}})
    records.append({"kind": "series", "series_instance_uid": records[0]["series_instance_uid"], "score": 0.9,
                    "verdict": "suspicious", "detectors": {"spectral": 0.9}, "evidence": ["z-resampling period 2"]})
    return records, heats


def source_sets(samples: Path, shared: Path | None) -> dict[str, list[Path]]:
    sets = {"ct-j2k": sorted((samples / "ct").glob("*.dcm"))[:4], "cr": [samples / "cr" / "RG1_crop.dcm"]}
    if shared is not None and (shared / "ct" / "ge_head").is_dir():
        sets["ct-ge-no-type2"] = sorted((shared / "ct" / "ge_head").iterdir())[:3]
    return sets


@pytest.mark.parametrize("which", ["ct-j2k", "cr", "ct-ge-no-type2"])
def test_sr_and_seg_pass_dciodvfy(which: str, samples_dir: Path, tmp_path: Path,
                                  request: pytest.FixtureRequest) -> None:
    shared = request.getfixturevalue("shared_data") if which == "ct-ge-no-type2" else None
    files = source_sets(samples_dir, shared)[which]
    records, heats = records_for(files, np.random.default_rng(1))
    objects = objects_from_records(records, heatmaps=heats)
    assert [o.Modality for o in objects] == ["SR", "SEG"]
    for path in write_objects(objects, tmp_path):
        assert dciodvfy_errors(path) == [], path.name
    sr, seg = (pydicom.dcmread(p) for p in sorted(tmp_path.glob("*.dcm"), key=lambda p: p.name[:3] != "SR_"))
    # The SR references every source and codes verdict, signature status, scores and evidence.
    refs = {i.ReferencedSOPInstanceUID for e in sr.CurrentRequestedProcedureEvidenceSequence
            for s in e.ReferencedSeriesSequence for i in s.ReferencedSOPSequence}
    assert refs == {r["sop_instance_uid"] for r in records if r["kind"] == "instance"}
    assert sr.StudyInstanceUID == pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID
    assert sr.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == "99RADTRUST"
    text = "\n".join(str(e.value) for e in iter_all(sr) if e.keyword in ("TextValue", "CodeMeaning", "LongCodeValue"))
    for meaning in ("Tamper probability", "Tamper verdict", "Digital signature status", "Content credential status",
                    "noise-residual detector score",
                    "a-detector-with-a-long-name detector score", "finding 0: noise too low", "z-resampling period 2"):
        assert meaning in text
    assert "duplicated-noise detector score" not in text  # NaN = not applicable: not measured
    # The SEG carries the heatmaps as fractional probability frames, one per source instance.
    assert seg.SegmentationType == "FRACTIONAL" and seg.SegmentationFractionalType == "PROBABILITY"
    frames = seg.pixel_array.reshape(len(files), seg.Rows, seg.Columns)
    order = [str(f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
             for f in seg.PerFrameFunctionalGroupsSequence]
    for frame, uid in zip(frames, order):
        np.testing.assert_allclose(frame / 255.0, heats[uid], atol=1 / 255 + 1e-6)


def test_uid_seed_makes_objects_reproducible(sample_ct_files: list[Path]) -> None:
    records, heats = records_for(sample_ct_files[:2], np.random.default_rng(2))
    a = objects_from_records(records, heatmaps=heats, uid_seed="study/2")
    b = objects_from_records(records, heatmaps=heats, uid_seed="study/2")
    c = objects_from_records(records, heatmaps=heats, uid_seed="study/3")
    assert [o.SOPInstanceUID for o in a] == [o.SOPInstanceUID for o in b]
    assert not {o.SOPInstanceUID for o in a} & {o.SOPInstanceUID for o in c}


def test_report_cli_from_scan_jsonl(sample_ct_files: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    scan = tmp_path / "scan.jsonl"
    assert main(["scan", *map(str, sample_ct_files[:3]), "--format", "jsonl", "--heatmaps", str(tmp_path / "heat"),
                 "--out", str(scan)]) in (0, 1)
    capsys.readouterr()
    assert main(["report", str(scan), "--dicom", str(tmp_path / "out"), "--format", "jsonl"]) == 0
    written = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(w["modality"] for w in written) == ["SEG", "SR"]
    for w in written:
        assert dciodvfy_errors(Path(w["path"])) == []


def test_report_cli_bad_input_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "error", "path": "x.dcm", "message": "not DICOM"}\nnot json\n')
    assert main(["report", str(bad), "--dicom", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "line 2" in err[0]
    assert not (tmp_path / "out").exists()


def _one_record(src: Path, heatmap: Path | None = None, **changes) -> dict:
    ds = pydicom.dcmread(src, stop_before_pixels=True)
    rec = {"kind": "instance", "path": str(src), "sop_instance_uid": ds.SOPInstanceUID,
           "series_instance_uid": ds.SeriesInstanceUID, "modality": ds.Modality, "score": 0.07,
           "verdict": "authentic", "detectors": {"noise-residual": 0.0016}, "evidence": ["noise-residual: fine"],
           "heatmap": str(heatmap) if heatmap else None}
    rec.update(changes)
    return rec


def _one_error_line(capsys: pytest.CaptureFixture, *names: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("radtrust: error: ") and "Traceback" not in err[0], err
    assert all(n in err[0] for n in names), err
    return err[0]


@pytest.mark.parametrize("line", [
    b"\xff\xfe\x00garbage\n", b"[" * 100_000 + b"]" * 100_000 + b"\n",
    {"detectors": "x", "evidence": 5}, {"path": None}, {"score": "high"}, b"SCORE_NAN", {"verdict": "weird"},
    {"kind": "zzz"}, {"signature": "valid"}])
@pytest.mark.parametrize("outputs", [["--dicom"], ["--html"], ["--html", "--dicom"]])
def test_report_cli_a_bad_record_is_one_line_and_nothing_is_written(
        sample_ct_files: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture, line, outputs) -> None:
    good = json.dumps(_one_record(sample_ct_files[0])).encode() + b"\n"
    if isinstance(line, dict):
        line = json.dumps(_one_record(sample_ct_files[1], **line)).encode() + b"\n"
    elif line == b"SCORE_NAN":
        line = json.dumps(_one_record(sample_ct_files[1], score=float("nan"))).encode() + b"\n"
    jsonl = tmp_path / "scan.jsonl"
    jsonl.write_bytes(good + line)
    args = {"--dicom": str(tmp_path / "out"), "--html": str(tmp_path / "r.html")}
    assert main(["report", str(jsonl), *[a for o in outputs for a in (o, args[o])]]) == 2
    _one_error_line(capsys, str(jsonl))
    assert not (tmp_path / "out").exists() and not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("heat", [np.full((512, 512), np.nan, np.float32), np.ones((512, 512), np.int64),
                                  np.full((512, 512), 0.5, np.float32)[:3, :3]])
@pytest.mark.parametrize("outputs", [["--dicom"], ["--html"]])
def test_report_cli_a_heatmap_that_is_not_one_is_an_input_error(
        sample_ct_files: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture, heat, outputs) -> None:
    np.save(tmp_path / "h.npy", heat)
    jsonl = tmp_path / "scan.jsonl"
    jsonl.write_text(json.dumps(_one_record(sample_ct_files[0], tmp_path / "h.npy")) + "\n")
    out = tmp_path / "out"
    assert main(["report", str(jsonl), outputs[0], str(out)]) == 2
    line = _one_error_line(capsys)
    assert "h.npy" in line or str(sample_ct_files[0]) in line  # the SEG names the image whose map does not fit
    assert not out.exists()


def test_report_cli_writes_nothing_when_one_output_fails(sample_ct_files: list[Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    """--dicom needs every source: a missing one is an error before the HTML report is written, not after."""
    jsonl = tmp_path / "scan.jsonl"
    jsonl.write_text(json.dumps(_one_record(sample_ct_files[0])) + "\n"
                     + json.dumps(_one_record(sample_ct_files[1], path=str(tmp_path / "gone.dcm"))) + "\n")
    assert main(["report", str(jsonl), "--html", str(tmp_path / "r.html"), "--dicom", str(tmp_path / "out")]) == 2
    _one_error_line(capsys, "gone.dcm")
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "out").exists()
    text = tmp_path / "text.dcm"  # there, but not an image: for --html too an error, not a card
    text.write_text("not dicom")
    jsonl.write_text(json.dumps(_one_record(sample_ct_files[0], path=str(text))) + "\n")
    assert main(["report", str(jsonl), "--html", str(tmp_path / "r.html")]) == 2
    _one_error_line(capsys, str(text))
    assert not (tmp_path / "r.html").exists()


def test_report_cli_refuses_to_replace_its_input(sample_ct_files: list[Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    jsonl = tmp_path / "scan.jsonl"
    jsonl.write_text(json.dumps(_one_record(sample_ct_files[0])) + "\n")
    before = jsonl.read_bytes()
    assert main(["report", str(jsonl), "--html", str(jsonl)]) == 2
    _one_error_line(capsys, str(jsonl), "--html")
    assert jsonl.read_bytes() == before
