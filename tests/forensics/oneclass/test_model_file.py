"""The model file: round trip, newer-version refusal, no code execution on load, hostile archives."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from radtrust.forensics.oneclass import model_file
from radtrust.forensics.oneclass.model_file import FORMAT, ModelFileError, load, save


def _write_zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _npy(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def _meta(**extra: object) -> bytes:
    blob = json.dumps({"format": FORMAT, "format_version": 1, **extra}).encode()
    return _npy(np.frombuffer(blob, dtype=np.uint8))


def test_round_trip_is_exact(tmp_path: Path) -> None:
    arrays = {"a/b": np.arange(12, dtype=np.float64).reshape(3, 4), "c": np.array([1, 2], dtype=np.int64)}
    path = save(tmp_path / "m.npz", {"hello": "world"}, arrays)
    meta, back = load(path)
    assert meta["hello"] == "world" and meta["format_version"] == model_file.FORMAT_VERSION
    assert set(back) == set(arrays)
    for k in arrays:
        np.testing.assert_array_equal(back[k], arrays[k])


def test_same_content_gives_same_bytes(tmp_path: Path) -> None:
    arrays = {"x": np.linspace(0, 1, 50)}
    a = save(tmp_path / "a.npz", {"k": 1}, arrays).read_bytes()
    b = save(tmp_path / "b.npz", {"k": 1}, arrays).read_bytes()
    assert a == b


def test_newer_format_version_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "future.npz"
    blob = json.dumps({"format": FORMAT, "format_version": model_file.FORMAT_VERSION + 1}).encode()
    _write_zip(path, {"__meta__.npy": _npy(np.frombuffer(blob, dtype=np.uint8))})
    with pytest.raises(ModelFileError, match=r"format version 2 is newer than this radtrust reads \(up to 1\)") as exc:
        load(path)
    assert str(path) in str(exc.value)


class _Boom:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (Path.write_text, (Path(self.marker), "pwned"))


def test_loading_never_executes_pickled_code(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    evil = np.empty(1, dtype=object)
    evil[0] = _Boom(str(marker))
    armed = tmp_path / "armed"
    probe = np.empty(1, dtype=object)
    probe[0] = _Boom(str(armed))
    np.load(io.BytesIO(_npy(probe, allow_pickle=True)), allow_pickle=True)  # a careless loader runs the payload
    assert armed.read_text() == "pwned" and pickle.dumps(evil)
    path = tmp_path / "evil.npz"
    _write_zip(path, {"__meta__.npy": _meta(), "groups/0/2d/means.npy": _npy(evil, allow_pickle=True)})
    with pytest.raises(ModelFileError):
        load(path)
    assert not marker.exists()


def test_pickled_metadata_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil_meta.npz"
    evil = np.empty(1, dtype=object)
    evil[0] = _Boom(str(tmp_path / "marker"))
    _write_zip(path, {"__meta__.npy": _npy(evil, allow_pickle=True)})
    with pytest.raises(ModelFileError):
        load(path)
    assert not (tmp_path / "marker").exists()


@pytest.mark.parametrize("members, message", [
    ({"__meta__.npy": _meta(), "run.py": b"print('x')"}, "unexpected member"),
    ({"a.npy": _npy(np.zeros(2))}, "no metadata"),
    ({"__meta__.npy": _npy(np.frombuffer(b"{not json", dtype=np.uint8))}, "not JSON"),
    ({"__meta__.npy": _npy(np.frombuffer(json.dumps({"format": "other"}).encode(), dtype=np.uint8))}, "format"),
    ({"__meta__.npy": _npy(np.frombuffer(json.dumps({"format": FORMAT, "format_version": "1"}).encode(),
                                         dtype=np.uint8))}, "bad format version"),
    ({"__meta__.npy": _meta(), "../escape.npy": _npy(np.zeros(1))}, "unexpected member"),
])
def test_hostile_or_foreign_archives_are_refused(tmp_path: Path, members: dict[str, bytes], message: str) -> None:
    path = tmp_path / "bad.npz"
    _write_zip(path, members)
    with pytest.raises(ModelFileError, match=message):
        load(path)


def test_not_a_zip_and_missing_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(ModelFileError, match="not an .npz"):
        load(junk)
    with pytest.raises(ModelFileError, match="no such model file"):
        load(tmp_path / "absent.npz")


def test_archive_expanding_beyond_the_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save(tmp_path / "m.npz", {}, {"big": np.zeros(10_000)})
    monkeypatch.setattr(model_file, "MAX_TOTAL_BYTES", 1000)
    with pytest.raises(ModelFileError, match="expand"):
        load(path)


def test_object_arrays_are_never_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="numeric arrays only"):
        save(tmp_path / "m.npz", {}, {"x": np.array([{"a": 1}], dtype=object)})
    assert not list(tmp_path.iterdir())
