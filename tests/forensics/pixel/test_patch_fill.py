"""Known answers for the patch-fill detector: a region filled by exemplar-based in-painting is found in place (CT
phantom, a real CT slice, a real picture); a copy-move (one displacement), the untouched images, a posterised picture
and the shared CT series stay quiet; each rule that keeps chance repeats out is shown to matter."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import radtrust.forensics.detectors.patch_fill as pf
from radtrust.errors import NotApplicable
from radtrust.forensics.detectors.patch_fill import (
    PatchFillDetector,
    displacement_counts,
)
from radtrust.io import load_image, load_series
from radtrust.simulation.exemplar import fill_plane

from .conftest import make_image, phantom

CENTRE, RADIUS = (260, 230), 22


def _disc(shape: tuple[int, int]) -> np.ndarray:
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return (yy - CENTRE[0]) ** 2 + (xx - CENTRE[1]) ** 2 <= RADIUS ** 2


def _peak(heat: np.ndarray) -> tuple[int, int]:
    return np.unravel_index(int(np.argmax(heat)), heat.shape)


def _near_disc(pt: tuple[int, int], margin: int = 2 * pf._CELL) -> bool:
    return abs(pt[0] - CENTRE[0]) <= RADIUS + margin and abs(pt[1] - CENTRE[1]) <= RADIUS + margin


def test_an_exemplar_fill_is_found_in_place(rng):
    x = np.rint(phantom(rng))
    filled = fill_plane(x, _disc(x.shape))
    det = PatchFillDetector()
    clean = det.run(make_image(x))
    found = det.run(make_image(filled))
    assert clean.score < 0.05, clean.evidence
    assert found.score > 0.9, found.evidence
    assert "exemplar-based in-painting" in found.evidence[0]
    assert found.heatmap.shape == x.shape and _near_disc(_peak(found.heatmap))


def test_an_exemplar_fill_in_a_16_bit_radiograph_is_found(rng):
    """Stored values of 0-4095 are compared as 16-bit integers (the narrowest type that holds them)."""
    x = np.clip(np.rint(phantom(rng) * 3 + 1500), 0, 4095)
    filled = fill_plane(x, _disc(x.shape))
    det = PatchFillDetector()
    assert det.run(make_image(x, modality="CR")).score < 0.05
    found = det.run(make_image(filled, modality="CR"))
    assert found.score > 0.9, found.evidence
    assert _near_disc(_peak(found.heatmap))


def test_a_copy_move_is_one_displacement_not_a_fill(rng):
    """A copy-move repeats everything at one displacement: duplicated-noise's case, not this detector's."""
    x = np.rint(phantom(rng))
    y = x.copy()
    y[240:290, 300:350] = x[140:190, 120:170]
    count, _ = displacement_counts(y, picture=False)
    assert count == 1
    assert PatchFillDetector().run(make_image(y)).score < 0.05


def test_real_ct_slice_filled_and_its_series_untouched(shared_data):
    series = load_series([shared_data / "ct" / "siemens_abdomen"])[0]
    det = PatchFillDetector()
    assert det.run_series(series).score < 0.05
    image = series.instances[10]
    filled = fill_plane(image.pixels, _disc(image.pixels.shape))
    found = det.run(dataclasses.replace(image, pixels=filled.astype(np.float32)))
    assert found.score > 0.9, found.evidence
    assert _near_disc(_peak(found.heatmap))


@pytest.mark.parametrize("folder", ["ge_head", "philips_phantom"])
def test_authentic_ct_series_are_quiet(shared_data, folder):
    assert PatchFillDetector().run_series(load_series([shared_data / "ct" / folder])[0]).score < 0.05


def _picture(path, tmp_path):
    """A development picture stored as 8-bit DICOM the way the benchmark writer stores pictures."""
    from radtrust.simulation.target import from_raster
    from radtrust.simulation.writer import write_dicom

    t = from_raster(path, patient="p")
    return load_image(write_dicom(t.datasets, t.pixels, tmp_path / "picture.dcm", syntax="explicit"))


def test_real_picture_filled_is_found_and_smooth_repeats_are_kept_out(shared_data, monkeypatch, tmp_path):
    """A development picture whose smooth, JPEG-blocked soft tissue repeats 4 x 4 blocks by chance at ~100
    displacements near one place: quiet with the rules, loud without the roughness floor; filled, it is found."""
    picture = _picture(shared_data / "cxr" / "16672_1_1.jpg", tmp_path)
    det = PatchFillDetector()
    assert det.run(picture).score < 0.05
    monkeypatch.setattr(pf, "_MIN_ROUGH_8BIT", 0.0)
    monkeypatch.setattr(pf, "_BORDER", 0)
    monkeypatch.setattr(pf, "_BACKGROUND", 0.0)
    assert det.run(picture).score > 0.5  # the rules are what keeps it quiet
    monkeypatch.setattr(pf, "_MIN_ROUGH_8BIT", 0.35)
    monkeypatch.setattr(pf, "_BORDER", 16)
    assert det.run(picture).score < 0.05  # the roughness floor alone does
    monkeypatch.undo()
    # a fill in a textured picture (in smooth soft tissue like this one's the fill's blocks are under the floor too)
    picture = _picture(shared_data / "cxr" / "radiol.2020200490.fig3.jpeg", tmp_path)
    assert det.run(picture).score < 0.05
    yy, xx = np.ogrid[: picture.pixels.shape[0], : picture.pixels.shape[1]]
    hole = (yy - 763) ** 2 + (xx - 861) ** 2 <= 90 ** 2
    filled = det.run(make_image(fill_plane(picture.pixels, hole), modality="DX", bits=8))
    assert filled.score > 0.9, filled.evidence
    py, px = _peak(filled.heatmap)
    assert abs(py - 763) <= 90 + 2 * pf._CELL and abs(px - 861) <= 90 + 2 * pf._CELL


def test_a_posterised_picture_is_not_judged(shared_data, tmp_path):
    with pytest.raises(NotApplicable, match="posterised"):
        PatchFillDetector().run(_picture(shared_data / "cxr" / "16745_6_1.png", tmp_path))


def test_processing_of_the_whole_picture_is_not_a_fill(shared_data, monkeypatch):
    """A picture resized as a whole (x0.75, bicubic) repeats near-identical blocks all over: 12 displacements in one
    window of the development picture that showed most, 3 in its 95th-percentile window. Judged against that
    background it is quiet; without it, it would be flagged. An equalised picture (a tone curve: 34 displacements
    in one window, 17 in its 95th percentile) is not judged at all."""
    from PIL import Image as PILImage
    from PIL import ImageOps

    from radtrust.errors import EvidenceLost

    grey = PILImage.open(shared_data / "cxr" / "16708_1_1.jpg").convert("L")
    resized = np.asarray(grey.resize((round(grey.width * 0.75), round(grey.height * 0.75)), PILImage.BICUBIC),
                         dtype=np.float32)
    det = PatchFillDetector()
    assert det.run(make_image(resized, modality="DX", bits=8)).score < 0.2
    monkeypatch.setattr(pf, "_BACKGROUND", 0.0)
    assert det.run(make_image(resized, modality="DX", bits=8)).score > 0.5
    monkeypatch.undo()
    equalised = np.asarray(ImageOps.equalize(PILImage.open(shared_data / "cxr" / "16672_1_1.jpg").convert("L")),
                           dtype=np.float32)
    with pytest.raises(EvidenceLost, match="tone curve"):
        det.run(make_image(equalised, modality="DX", bits=8))


def test_an_enlarged_posterised_picture_is_not_a_fill(shared_data, monkeypatch):
    """A figure of 13 grey levels (not judged as it is: posterised) enlarged by 1.5 has 209 levels and repeats its
    interpolated blocks everywhere: 111 displacements in one window against 44 in its 95th percentile, over twice
    that background. The square term of the background takes the longer tail of such a picture off."""
    from PIL import Image as PILImage

    grey = PILImage.open(shared_data / "cxr" / "16745_3_1.png").convert("L")
    enlarged = np.asarray(grey.resize((round(grey.width * 1.5), round(grey.height * 1.5)), PILImage.BICUBIC),
                          dtype=np.float32)
    det = PatchFillDetector()
    assert det.run(make_image(enlarged, modality="DX", bits=8)).score < 0.1
    monkeypatch.setattr(pf, "_BACKGROUND_SQUARE", float("inf"))
    assert det.run(make_image(enlarged, modality="DX", bits=8)).score > 0.5


def test_jpeg_grid_repeats_are_not_fills():
    """Identical coded blocks repeat at multiples of 8 px: in a picture they are left out."""
    rng = np.random.default_rng(4)
    tile = rng.integers(100, 180, (8, 8))
    x = rng.integers(100, 180, (256, 256))
    for by, bx in [(r, c) for r in range(5, 30, 3) for c in range(5, 30, 4)]:
        x[8 * by:8 * by + 8, 8 * bx:8 * bx + 8] = tile  # one coded block repeated all over, on the grid
    assert displacement_counts(x, picture=True)[0] == 0
    assert displacement_counts(x, picture=True, jpeg_grid=False)[0] >= 1


def test_test_pattern_bars_and_lossy_images_are_kept_out(monkeypatch):
    """pydicom-data's SMPTE test pattern (gratings and bars that repeat by design) scored 1.0 before two-level blocks
    were left out; its real head CT decoded from irreversible JPEG 2000 (693_UNCI, LossyImageCompression 01) 0.99 on
    the plateaus the codec left: a lossy history is not judged."""
    from radtrust.errors import EvidenceLost

    data_store = pytest.importorskip("data_store")  # pydicom-data, a dev dependency
    folder = Path(data_store.__file__).parent / "data"
    det = PatchFillDetector()
    pattern = load_image(folder / "vlut_04.dcm")
    assert det.run(pattern).score < 0.05
    monkeypatch.setattr(pf, "_MAX_EXTREME", 17)
    monkeypatch.setattr(pf, "_BACKGROUND", 0.0)
    assert det.run(pattern).score > 0.5
    monkeypatch.undo()
    with pytest.raises(EvidenceLost, match="lossy"):
        det.run(load_image(folder / "693_UNCI.dcm"))
    assert det.run(load_image(folder / "693_UNCR.dcm")).score < 0.05  # the same slice never compressed


def test_a_gamma_over_the_whole_picture_is_not_judged(shared_data, tmp_path):
    """A gamma of 0.8 leaves empty grey levels (jpeg-grid's tone-curve test) and, where its slope is under 1, merges
    near-identical blocks: three of 40 development pictures reached 8 displacements in one window as PNG."""
    from PIL import Image as PILImage

    from radtrust.errors import EvidenceLost

    grey = np.asarray(PILImage.open(shared_data / "cxr" / "16672_1_1.jpg").convert("L"), dtype=np.float64)
    curved = np.rint(255 * (grey / 255) ** 0.8).astype(np.float32)
    with pytest.raises(EvidenceLost, match="tone curve"):
        PatchFillDetector().run(make_image(curved, modality="DX", bits=8))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64])
def test_block_hashes_at_chosen_blocks_are_the_full_maps(dtype):
    """Hashing only the usable blocks (pictures, where few are) gives each block the full map's hash, wrap-around and
    negative values alike."""
    rng = np.random.default_rng(8)
    lo = -1024 if np.issubdtype(dtype, np.signedinteger) else 0
    hi = 256 if dtype == np.uint8 else 4000
    x = rng.integers(lo, hi, (40, 37)).astype(dtype)
    ny, nx = 40 - pf.BLOCK + 1, 37 - pf.BLOCK + 1
    full = pf._block_hashes(x.astype(np.int64), ny, nx, step=2)
    gy, gx = np.nonzero(rng.random(full.shape) < 0.3)
    assert np.array_equal(pf._hashes_at(x, gy * 2, gx), full[gy, gx])


def test_sparse_and_dense_hashing_count_the_same(rng, monkeypatch):
    """displacement_counts hashes blocks one by one where few are usable: the counts are those of the full maps."""
    img = rng.normal(1000, 30, (256, 256)).round().astype(np.float32)
    for k in range(30):
        y, x = 100 + (k // 6) * 8, 60 + (k % 6) * 8
        sy, sx = rng.integers(0, 240, 2)
        img[y:y + 8, x:x + 8] = img[sy:sy + 8, sx:sx + 8]
    results = []
    for sparse in (0, 1 << 30):  # every plane's blocks hashed one by one, then none
        monkeypatch.setattr(pf, "_SPARSE", sparse)
        results.append(displacement_counts(img, picture=False))
    assert results[0][0] == results[1][0] >= 10
    assert np.array_equal(results[0][1], results[1][1])


def test_negative_values_offset_into_16_bits_count_the_same(rng):
    """CT values below zero are offset by their minimum into 16 bits: the same blocks count as with the values made
    non-negative by hand (a fill of copies from many places, in HU)."""
    img = np.rint(rng.normal(-300, 40, (256, 256))).astype(np.float32)
    for k in range(30):
        y, x = 100 + (k // 6) * 8, 60 + (k % 6) * 8
        sy, sx = rng.integers(0, 240, 2)
        img[y:y + 8, x:x + 8] = img[sy:sy + 8, sx:sx + 8]
    got = displacement_counts(img, picture=False)
    want = displacement_counts(img + np.float32(1024 - img.min()), picture=False)
    assert got[0] == want[0] >= 10
    assert np.array_equal(got[1], want[1])
