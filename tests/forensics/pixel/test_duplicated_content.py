"""Known answers for duplicated-noise's coarse scale (radtrust.forensics.band_signs): copies found after a lossy
codec removed their fine noise, and the content that repeats by construction (text boxes, uniform inserts) not."""

from __future__ import annotations

import io

import numpy as np
import pydicom
from PIL import Image as PILImage
from PIL import ImageFilter
from scipy import ndimage

from radtrust.benchmarking.robustness import transform_file
from radtrust.forensics import band_signs
from radtrust.forensics.detectors import duplicated_noise as dn
from radtrust.io import load_image

from .conftest import make_image


def _picture(rng: np.random.Generator, shape: tuple[int, int] = (600, 700)) -> np.ndarray:
    """An 8-bit radiograph-like picture: smooth anatomy, correlated grain, rounded to grey levels."""
    anatomy = ndimage.gaussian_filter(rng.normal(0, 1, shape), 25)
    anatomy = 128 + 60 * anatomy / anatomy.std()
    grain = ndimage.gaussian_filter(rng.normal(0, 1, shape), 0.8)
    return np.clip(np.round(anatomy + 3.0 * grain / grain.std()), 0, 255).astype(np.float32)


def _jpeg(x: np.ndarray, quality: int = 90) -> np.ndarray:
    buf = io.BytesIO()
    PILImage.fromarray(x.astype(np.uint8)).save(buf, "JPEG", quality=quality)
    return np.asarray(PILImage.open(io.BytesIO(buf.getvalue())), dtype=np.float32)


def _picture_image(x: np.ndarray):
    return make_image(x, modality="OT", bits=8)


def test_copy_in_a_picture_found_after_a_jpeg_resave(rng):
    x = _picture(rng)
    x[380:460, 420:500] = x[100:180, 150:230]
    resaved = _jpeg(x)
    fine = dn.DuplicatedNoiseDetector(scales=(dn.FINE,)).run(_picture_image(resaved))
    assert fine.score < 0.5  # the codec took the fine noise: the fine scale is blind
    finding = dn.DuplicatedNoiseDetector().run(_picture_image(resaved))
    assert finding.score > 0.95, finding.evidence
    assert any("band-passed content" in e and "rows +280, cols +270" in e for e in finding.evidence), finding.evidence
    heat = finding.heatmap
    assert heat[390:450, 430:490].mean() > 0.5 and heat[110:170, 160:220].mean() > 0.5  # both copies marked
    outside = heat.copy()
    outside[95:185, 145:235] = 0
    outside[375:465, 415:505] = 0
    assert outside.max() == 0


def test_untouched_picture_after_jpeg_is_quiet(rng):
    assert dn.DuplicatedNoiseDetector().run(_picture_image(_jpeg(_picture(rng)))).score < 0.05


def test_ct_copy_found_after_lossy_jpeg2000(tmp_path, sample_ct_files):
    """A real Siemens slice with a 64 px copy-move, stored as irreversible JPEG 2000 at 10:1: the coarse scale finds it
    (the fine scale may too, where the codec left enough of the noise)."""
    ds = pydicom.dcmread(sample_ct_files[0])
    stored = ds.pixel_array.copy()
    stored[300:364, 260:324] = stored[180:244, 120:184]
    ds.PixelData = stored.tobytes()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    edited, lossy = tmp_path / "edited.dcm", tmp_path / "lossy.dcm"
    ds.save_as(edited, enforce_file_format=True)
    transform_file(edited, lossy, "j2k-lossy")
    image = load_image(lossy)
    assert image.transfer_syntax == pydicom.uid.JPEG2000
    finding = dn.DuplicatedNoiseDetector(scales=(dn.COARSE,)).run(image)
    assert finding.score > 0.95
    assert finding.heatmap[305:359, 265:319].mean() > 0.5 and finding.heatmap[185:239, 125:179].mean() > 0.5


def test_repeated_text_boxes_are_not_copies(rng):
    """Burned-in text boxes repeat by construction: two grey bars holding the same low-contrast lettering (the
    coarse scale's rules; the fine scale's bar for pictures is its own)."""
    x = _picture(rng)
    bar = np.full((40, 240), 90.0, np.float32)
    for left in range(10, 222, 12):  # "glyphs" 40 grey levels over the bar: two or three 1-2 px strokes each
        cell = bar[12:28, left:left + 8]
        cell[rng.integers(0, 14), :] += 40.0
        cell[:, rng.integers(0, 6):][:, :2] += 40.0
        if rng.random() < 0.5:
            cell[np.arange(16), np.arange(16) // 2] += 40.0
    x[40:80, 30:270] = bar
    x[520:560, 400:640] = bar
    coarse = dn.DuplicatedNoiseDetector(scales=(dn.COARSE,))
    assert coarse.run(_picture_image(x)).score < 0.1
    # without the picture rules the bars match: the test can fail
    h, usable = band_signs.band_signs(x, picture=False)
    votes = dn.vote_displacements(h, np.ones_like(usable), min_votes=4)
    assert votes and votes[0][0] > 64 and votes[0][1] == (480, 370)


def test_footprints_without_noise_are_not_hashed_in_ct(rng, monkeypatch):
    """A uniform insert holding a sparse pattern of rounding dots (as a phantom's inserts and padding do): its band
    is not noise, so its footprints are not hashed, while the noisy tissue around is."""
    from .conftest import phantom

    x = phantom(rng)
    insert = np.full((64, 64), 100.0, np.float32)
    insert[::9, ::7] += 1.0  # sparse dots: the band is never exactly zero, most 3 x 3 neighbourhoods are flat
    x[100:164, 150:214] = insert
    usable = band_signs.usable_positions(x, picture=False)
    assert not usable[104:148, 154:198].any()
    assert usable[300:340, 300:340].mean() > 0.9
    monkeypatch.setitem(band_signs.FLAT_SHARE, False, 1.1)  # without the rule the insert would be hashed
    assert band_signs.usable_positions(x, picture=False)[104:148, 154:198].mean() > 0.5


def test_real_pictures_resaved_as_jpeg_stay_quiet(shared_data):
    """Authentic pictures whose text boxes, markers or repeated grain drew the most chance matches during
    development (up to 121 votes before the picture rules), resaved as JPEG at quality 90."""
    names = ("covid-19-pneumonia-19.jpg", "pneumococcal-pneumonia-day35.jpg",
             "67d668e570c242404ba82c7cbe2ca8f2-05be-0.jpg")
    for name in names:
        image = load_image(shared_data / "cxr" / name)
        x = np.asarray(image.pixels, dtype=np.float32)
        if x.ndim == 3:
            x = x.mean(axis=-1).round()
        finding = dn.DuplicatedNoiseDetector().run(_picture_image(_jpeg(x)))
        assert finding.score < 0.3, (name, finding.evidence)


def test_lettering_over_the_anatomy_is_not_a_copy(shared_data, monkeypatch):
    """A real picture with semi-transparent lettering over the anatomy ("... erect 85/3.6"), resized by 0.75 as a
    teaching file might be: its repeated letters match at one displacement, with no plateau and a small range, so
    only their sharp edges tell them from a copy."""
    im = PILImage.open(shared_data / "cxr" / "pneumococcal-pneumonia-day35.jpg").convert("L")
    im = im.resize((round(im.width * 0.75), round(im.height * 0.75)), PILImage.BICUBIC)
    x = np.asarray(im, dtype=np.float32)
    coarse = dn.DuplicatedNoiseDetector(scales=(dn.COARSE,))
    assert coarse.run(_picture_image(x)).score < 0.1
    monkeypatch.setattr(band_signs, "EDGE", 1e9)  # without the edge rule the letters match
    finding = coarse.run(_picture_image(x))
    assert finding.score > 0.5 and "cols +46" in finding.evidence[0], finding.evidence


def test_sparse_matches_at_a_displacement_are_reported_without_a_region(rng):
    """After a codec a copy may match at scattered positions only (a real copy-move in a JPEG 2000 10:1 picture:
    139 positions, 0.16 of each 5 x 5 patch). Too sparse to mark, they are still the evidence: the vote is reported
    at its displacement, without a region (this raised on an empty region before)."""
    shape = (256, 256)
    hashes = rng.integers(0, 2**62, size=shape, dtype=np.uint64)
    usable = np.ones(shape, bool)
    ys, xs = np.mgrid[40:120:4, 40:140:4]  # 500 planted matches, one in 16 positions: under every density bar
    hashes[ys + 100, xs + 60] = hashes[ys, xs]
    heat = np.zeros(shape, np.float32)
    best, evidence = dn.DuplicatedNoiseDetector()._vote(
        dn.COARSE, hashes, usable, heat, None, "picture", _picture(rng, shape), set())
    assert best == 500
    assert len(evidence) == 1 and "repeats at displacement (rows +100, cols +60)" in evidence[0]
    assert not heat.any()


def test_burned_in_letters_are_not_copies_at_the_fine_scale(shared_data, monkeypatch):
    """A real picture whose burned-in label ("portable", "semi-erect") repeats letters, blurred and saved as JPEG as a
    teaching file might be: the repeated "e"s matched sign for sign 56 times at the fine scale (0.77). The fine scale
    leaves glyphs out of 8-bit pictures as the coarse one does."""
    im = PILImage.open(shared_data / "cxr" / "covid-19-pneumonia-23-day9.jpg").convert("L")
    x = _jpeg(np.asarray(im.filter(ImageFilter.GaussianBlur(0.8)), dtype=np.float32))
    fine = dn.DuplicatedNoiseDetector(scales=(dn.FINE,))
    assert fine.run(_picture_image(x)).score < 0.1
    monkeypatch.setattr(dn, "picture_positions", lambda x, r, usable, footprint: usable)
    finding = fine.run(_picture_image(x))
    assert finding.score > 0.5 and "cols +40" in finding.evidence[0], finding.evidence


def test_blocky_repeats_on_the_jpeg_grid_are_not_copies(shared_data, monkeypatch):
    """A real JPEG picture enlarged by 1.5 and saved as PNG: its smooth stretches carry the JPEG blocks, now 12 px,
    whose band-passed content repeats at many multiples of 12 (83, 46, 44 and 31 votes at four of them). The best one,
    (24, -36), loses what the lattice's next best gets over chance (83 -> 41) and no longer reads as a copy."""
    im = PILImage.open(shared_data / "cxr" / "67d668e570c242404ba82c7cbe2ca8f2-05be-0.jpg").convert("L")
    x = np.asarray(im.resize((round(im.width * 1.5), round(im.height * 1.5)), PILImage.BICUBIC), dtype=np.float32)
    assert dn.DuplicatedNoiseDetector().run(_picture_image(x)).score < 0.3
    monkeypatch.setattr(dn, "_MIN_PERIOD", 10**9)
    finding = dn.DuplicatedNoiseDetector().run(_picture_image(x))
    assert finding.score > 0.5 and "rows +24, cols -36" in finding.evidence[0], finding.evidence


def test_copy_moved_by_whole_jpeg_blocks_is_still_found(rng):
    """A copy moved by (48, 96) px (on the JPEG grid) in a picture then saved as JPEG: the lattice rule takes the
    grid's chance votes off, and the copy's own votes stand far above them."""
    x = _picture(rng)
    x[300:364, 400:464] = x[252:316, 304:368]
    finding = dn.DuplicatedNoiseDetector().run(_picture_image(_jpeg(x)))
    assert finding.score > 0.95, finding.evidence
    assert "rows +48, cols +96" in finding.evidence[0] or "rows -48, cols -96" in finding.evidence[0]


def test_picture_rules_on_tiles_are_scipys_filters_and_repeats():
    """A footprint's reach over aligned tiles is SciPy's maximum (minimum) filter with the tile first and 'nearest'
    edges; the tiles go back to pixels as repeats, the remainder past the last whole tile filled."""
    rng = np.random.default_rng(6)
    for shape in [(9, 7), (64, 50), (3, 2)]:
        tiles = rng.integers(0, 256, shape).astype(np.float32)
        for footprint in (6, 12):
            span = footprint // band_signs.TILE + 1
            for op, flt in ((np.maximum, ndimage.maximum_filter), (np.minimum, ndimage.minimum_filter)):
                want = flt(tiles, size=span, origin=-(span // 2), mode="nearest")
                assert np.array_equal(band_signs._footprint(tiles, op, footprint), want)
        mask = tiles > 128
        pixels = (shape[0] * 4 + 3, shape[1] * 4 + 1)
        for fill in (False, True):
            want = np.full(pixels, fill)
            want[: shape[0] * 4, : shape[1] * 4] = np.kron(mask, np.ones((4, 4), bool))
            assert np.array_equal(band_signs.repeat_blocks(mask, 4, pixels, fill), want)
