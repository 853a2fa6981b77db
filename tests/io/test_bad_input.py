"""Hostile and broken files: each gives exit 2 and one line naming the file and the problem, no traceback.

Each case is data (a name and a builder) plus one shared check, after pydicom's reference tables.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from radtrust.cli import main

Builder = Callable[[Path, Path], Path]


def _base(src: Path, dst: Path) -> bytes:
    ds = pydicom.dcmread(src)
    ds.decompress()
    ds.save_as(dst, enforce_file_format=True)
    return dst.read_bytes()


def _minimal(rows: int = 4, cols: int = 4, **attrs: object) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    for key, value in attrs.items():
        setattr(ds, key, value)
    return ds


def _write(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def _offset_of(data: bytes, group: int, elem: int) -> int:
    return data.index(struct.pack("<HH", group, elem), 132 + 12)


def truncated(fraction: float) -> Builder:
    def build(base: Path, out: Path) -> Path:
        data = base.read_bytes()
        out.write_bytes(data[: int(len(data) * fraction)])
        return out
    return build


def truncated_at(nbytes: int) -> Builder:
    def build(base: Path, out: Path) -> Path:
        out.write_bytes(base.read_bytes()[:nbytes])
        return out
    return build


def zero_length(base: Path, out: Path) -> Path:
    out.write_bytes(b"")
    return out


def random_with_preamble(base: Path, out: Path) -> Path:
    out.write_bytes(b"\0" * 128 + b"DICM" + np.random.default_rng(1).bytes(4096))
    return out


def random_bytes(base: Path, out: Path) -> Path:
    out.write_bytes(np.random.default_rng(2).bytes(10_000))
    return out


def text_file(base: Path, out: Path) -> Path:
    out.write_text("PatientName,PatientID\nDoe^John,123\n")
    return out


def wrong_vr_length(base: Path, out: Path) -> Path:
    data = bytearray(base.read_bytes())
    at = _offset_of(data, 0x0028, 0x0010)  # Rows, US: length must be 2
    data[at + 6 : at + 8] = struct.pack("<H", 3)
    out.write_bytes(bytes(data))
    return out


def huge_length(base: Path, out: Path) -> Path:
    data = bytearray(base.read_bytes())
    at = _offset_of(data, 0x0018, 0x0060)  # KVP, DS: claim a value longer than the file
    data[at + 6 : at + 8] = struct.pack("<H", 0xFFF0)
    out.write_bytes(bytes(data[: at + 8 + 200]))
    return out


def huge_dimensions(base: Path, out: Path) -> Path:
    ds = _minimal(65535, 65535)
    ds.PixelData = b"\0" * 32
    return _write(ds, out)


def huge_frame_count(base: Path, out: Path) -> Path:
    ds = _minimal(512, 512, NumberOfFrames=100000)
    ds.PixelData = b"\0" * 32
    return _write(ds, out)


def zero_rows(base: Path, out: Path) -> Path:
    ds = _minimal(0, 512)
    ds.PixelData = b""
    return _write(ds, out)


def pixel_data_short(base: Path, out: Path) -> Path:
    ds = _minimal(64, 64)
    ds.PixelData = b"\0" * 100
    return _write(ds, out)


def missing_pixel_data(base: Path, out: Path) -> Path:
    ds = pydicom.dcmread(base)
    del ds.PixelData
    return _write(ds, out)


def deep_sequences(base: Path, out: Path) -> Path:
    ds = _minimal()
    ds.PixelData = b"\0" * 32
    _write(ds, out)
    data = out.read_bytes()
    depth = 1000
    sq_open = struct.pack("<HH", 0x0040, 0xA730) + b"SQ\0\0" + struct.pack("<I", 0xFFFFFFFF)
    item_open = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    item_close = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    sq_close = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    nested = (sq_open + item_open) * depth + (item_close + sq_close) * depth
    at = _offset_of(data, 0x7FE0, 0x0010)
    out.write_bytes(data[:at] + nested + data[at:])
    return out


def garbage_in_sequence(base: Path, out: Path) -> Path:
    ds = _minimal()
    item = Dataset()
    item.CodeValue = "X"
    ds.ReferencedImageSequence = Sequence([item])
    ds.PixelData = b"\0" * 32
    _write(ds, out)
    data = bytearray(out.read_bytes())
    at = _offset_of(data, 0x0008, 0x1140)
    # Overwrite the item's content with random bytes, keeping the declared lengths.
    data[at + 12 + 8 : at + 12 + 8 + 14] = np.random.default_rng(3).bytes(14)
    out.write_bytes(bytes(data))
    return out


def unknown_transfer_syntax(base: Path, out: Path) -> Path:
    ds = pydicom.dcmread(base)
    ds.file_meta.TransferSyntaxUID = "1.2.3.4.5.6.7"
    ds.save_as(out, enforce_file_format=True)
    return out


def syntax_says_rle(base: Path, out: Path) -> Path:
    data = base.read_bytes()
    explicit, rle = b"1.2.840.10008.1.2.1\0", b"1.2.840.10008.1.2.5\0"  # same length: only the label changes
    assert data.count(explicit) == 1
    out.write_bytes(data.replace(explicit, rle))
    return out


def corrupt_jpeg2000(base: Path, out: Path) -> Path:
    from pydicom.encaps import encapsulate

    ds = pydicom.dcmread(Path(__file__).parents[2] / "samples" / "ct" / "ct_01.dcm")
    ds.PixelData = encapsulate([np.random.default_rng(4).bytes(5000)])
    ds.save_as(out, enforce_file_format=True)
    return out


def jpeg2000_size_bomb(base: Path, out: Path) -> Path:
    """The sample's JPEG 2000 codestream with its SIZ segment claiming 60000 x 60000 (the decoder would allocate it)."""
    data = bytearray((Path(__file__).parents[2] / "samples" / "ct" / "ct_01.dcm").read_bytes())
    at = data.index(b"\xff\x4f\xff\x51")
    data[at + 8:at + 16] = struct.pack(">II", 60000, 60000)
    out.write_bytes(bytes(data))
    return out


def truncated_jpeg2000(base: Path, out: Path) -> Path:
    data = (Path(__file__).parents[2] / "samples" / "ct" / "ct_01.dcm").read_bytes()
    out.write_bytes(data[: len(data) - 60_000])
    return out


def dicomdir_named(base: Path, out: Path) -> Path:
    from pydicom.fileset import FileSet

    fs = FileSet()
    ds = pydicom.dcmread(base)
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", 1, 1
    fs.add(ds)
    fs.write(out.parent / "fileset")
    return out.parent / "fileset" / "DICOMDIR"


def _sequence_with_item(base: Path, out: Path, patch: Callable[[bytearray, int], None]) -> Path:
    """The base file with one defined-length sequence holding one item, whose first item header ``patch`` breaks."""
    ds = pydicom.dcmread(base)
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "X1", "99RT", "test"
    ds.ProcedureCodeSequence = Sequence([item])
    _write(ds, out)
    data = bytearray(out.read_bytes())
    at = data.index(b"\x08\x00\x32\x10SQ") + 12  # explicit VR: tag, 'SQ', 2 reserved, 4-byte length
    assert data[at:at + 4] == b"\xfe\xff\x00\xe0"  # defined length, so pydicom reads it leniently
    patch(data, at)
    out.write_bytes(bytes(data))
    return out


def item_tag_garbage(base: Path, out: Path) -> Path:
    return _sequence_with_item(base, out, lambda d, at: d.__setitem__(slice(at, at + 4), b"\x12\x34\x56\x78"))


def item_longer_than_sequence(base: Path, out: Path) -> Path:
    return _sequence_with_item(base, out, lambda d, at: d.__setitem__(slice(at + 4, at + 8),
                                                                      struct.pack("<I", 0x7FFFFFF0)))


def pixel_length_past_end(base: Path, out: Path) -> Path:
    data = bytearray(base.read_bytes())
    at = data.rindex(b"\xe0\x7f\x10\x00")
    data[at + 8:at + 12] = struct.pack("<I", 0x7FFFFFFE)  # the pixels all there, the length a lie
    out.write_bytes(bytes(data))
    return out


def rescale_not_a_number(base: Path, out: Path) -> Path:
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    ds = pydicom.dcmread(base)
    tag = Tag(0x00281053)
    ds._dict[tag] = RawDataElement(tag, "DS", 4, b"abc ", 0, False, True)  # what a broken writer leaves
    return _write(ds, out)


def broken_png(base: Path, out: Path) -> Path:
    png = out.with_suffix(".png")
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    return png


def broken_nifti(base: Path, out: Path) -> Path:
    nii = out.with_suffix(".nii.gz")
    nii.write_bytes(b"\x1f\x8b\x08\x00garbage")
    return nii


CASES: dict[str, tuple[Builder, str]] = {
    "zero-length": (zero_length, "empty file"),
    "random-bytes-with-preamble": (random_with_preamble, ""),
    "random-bytes": (random_bytes, "not a DICOM file"),
    "text-file": (text_file, "not a DICOM file"),
    "truncated-in-preamble": (truncated_at(100), ""),
    "truncated-in-file-meta": (truncated_at(200), ""),
    "truncated-at-10pct": (truncated(0.10), ""),
    "truncated-at-50pct": (truncated(0.50), "Pixel Data"),
    "truncated-at-99pct": (truncated(0.99), "Pixel Data"),
    "wrong-vr-length": (wrong_vr_length, ""),
    "length-beyond-end-of-file": (huge_length, ""),
    "65535x65535-claimed": (huge_dimensions, "over the limit"),
    "100000-frames-claimed": (huge_frame_count, "over the limit"),
    "zero-rows": (zero_rows, "impossible image size"),
    "pixel-data-shorter-than-header": (pixel_data_short, "Pixel Data has 100 bytes"),
    "missing-pixel-data": (missing_pixel_data, "no Pixel Data"),
    "sequences-1000-deep": (deep_sequences, "nested"),
    "garbage-in-sequence": (garbage_in_sequence, ""),
    "sequence-item-tag-garbage": (item_tag_garbage, "where an item must be"),
    "sequence-item-past-its-end": (item_longer_than_sequence, "runs past the sequence's end"),
    "pixel-data-length-past-end-of-file": (pixel_length_past_end, "declares 2147483646 bytes"),
    "rescale-slope-not-a-number": (rescale_not_a_number, "RescaleSlope is not a finite number"),
    "unknown-transfer-syntax-uid": (unknown_transfer_syntax, "transfer syntax"),
    "native-data-labelled-rle": (syntax_says_rle, ""),
    "corrupt-jpeg2000-codestream": (corrupt_jpeg2000, "pixel data"),
    "truncated-jpeg2000": (truncated_jpeg2000, "truncated"),
    "jpeg2000-claiming-60000x60000": (jpeg2000_size_bomb, "codestream is 60000x60000, the header says 512x512"),
    "dicomdir-named-explicitly": (dicomdir_named, "DICOMDIR"),
    "broken-png": (broken_png, "cannot read as png"),
    "broken-nifti": (broken_nifti, "cannot read as NIfTI"),
}


@pytest.fixture(scope="module")
def base_file(tmp_path_factory: pytest.TempPathFactory, sample_ct_files: list[Path]) -> Path:
    path = tmp_path_factory.mktemp("base") / "base.dcm"
    _base(sample_ct_files[0], path)
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_one_line_and_exit_2(case: str, base_file: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    builder, expected = CASES[case]
    path = builder(base_file, tmp_path / f"{case}.dcm")
    before = path.read_bytes()
    code = main(["info", str(path)])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured
    assert len(lines) == 1, lines
    assert str(path) in lines[0]
    assert expected.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert path.read_bytes() == before  # never modified


def test_folder_with_bad_files_processes_good_ones(base_file: Path, tmp_path: Path, sample_ct_files: list[Path],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "study"
    folder.mkdir()
    for src in sample_ct_files[:2]:
        (folder / src.name).write_bytes(src.read_bytes())
    random_bytes(base_file, folder / "junk.dcm")
    zero_length(base_file, folder / "empty.dcm")
    code = main(["info", "--format", "jsonl", str(folder)])
    captured = capsys.readouterr()
    import json

    records = [json.loads(line) for line in captured.out.splitlines()]
    kinds = [r["kind"] for r in records]
    assert kinds.count("instance") == 2 and kinds.count("error") == 2 and kinds.count("series") == 1
    assert code == 2
    assert len(captured.err.strip().splitlines()) == 2


def test_memory_limit_is_configurable(sample_ct_files: list[Path], capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RADTRUST_MAX_PIXEL_BYTES", str(512 * 512 * 2))
    assert main(["info", str(sample_ct_files[0])]) == 2
    assert "RADTRUST_MAX_PIXEL_BYTES" in capsys.readouterr().err


def test_library_raises_the_error_class(tmp_path: Path) -> None:
    from radtrust.errors import InputError, InvalidDicom
    from radtrust.io import load_image

    path = tmp_path / "x.dcm"
    path.write_bytes(b"")
    with pytest.raises(InvalidDicom, match="empty file") as info:
        load_image(path)
    assert isinstance(info.value, InputError) and info.value.exit_code == 2
    assert str(info.value) == f"{path}: empty file (0 bytes)"


def test_verbose_shows_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.dcm"
    path.write_bytes(b"")
    assert main(["-v", "info", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1] == f"radtrust: error: {path}: empty file (0 bytes)"
    assert main(["info", "-v", str(tmp_path / "missing.dcm")]) == 2
    assert "no such file" in capsys.readouterr().err


def _mutations(data: bytes, seed: int, count: int) -> list[bytes]:
    """Seeded random damage past the preamble: truncation, flipped bytes (header or anywhere), inserted noise."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        b = bytearray(data)
        head = min(len(b), 3000)  # the header of the sample ends well before byte 3000
        kind = i % 4
        if kind == 0:
            b = b[: int(rng.integers(132, len(b)))]
        elif kind == 1:
            for at in rng.integers(132, head, size=int(rng.integers(1, 6))):
                b[int(at)] = int(rng.integers(0, 256))
        elif kind == 2:
            for at in rng.integers(132, len(b), size=int(rng.integers(1, 20))):
                b[int(at)] = int(rng.integers(0, 256))
        else:
            at = int(rng.integers(132, head))
            b[at:at] = rng.integers(0, 256, size=int(rng.integers(1, 32))).astype(np.uint8).tobytes()
        out.append(bytes(b))
    return out


def test_randomly_damaged_files_never_crash_scan(base_file: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A regression guard for the fuzzing of session 7 (120 damaged files through scan and info): whatever
    the damage, scan exits 0, 1 or 2, an error is one line naming the file, nothing raises, no file is modified."""
    for i, data in enumerate(_mutations(base_file.read_bytes(), seed=7, count=24)):
        path = tmp_path / f"damaged-{i}.dcm"
        path.write_bytes(data)
        code = main(["scan", "--format", "jsonl", str(path)])
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert code in (0, 1, 2), (i, captured)
        assert "Traceback" not in captured.err + captured.out
        if code == 2:
            assert len(lines) == 1 and str(path) in lines[0], (i, lines)
        else:
            assert lines == [], (i, lines)
        assert path.read_bytes() == data


def test_a_pipe_is_refused_by_name_and_skipped_in_folders(base_file: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A named pipe would block the read forever: named, it is an error; in a folder walk it is not a file."""
    import os
    import shutil

    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(base_file, folder / "good.dcm")
    os.mkfifo(folder / "pipe.dcm")
    assert main(["info", str(folder / "pipe.dcm")]) == 2
    assert capsys.readouterr().err.strip().endswith("pipe.dcm: not a regular file (a pipe or a device)")
    assert main(["info", str(folder)]) == 0
    assert "pipe.dcm" not in capsys.readouterr().out


@pytest.mark.parametrize("command", [["info"], ["scan"]])
def test_an_empty_folder_is_an_error_not_a_clean_result(command: list[str], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.txt").write_text("only a note")  # skipped by the walk: nothing to read either
    for folder in ("empty", "notes"):
        assert main([*command, str(tmp_path / folder)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].endswith("no files to read in this folder (hidden files, reports, keys and "
                                                 "masks are skipped)"), err
