"""Held-out methods: each does what it says, and the development benchmark never draws them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from radtrust.cli.commands.simulate import _methods
from radtrust.simulation import METHODS, simulate
from radtrust.simulation.dataset import DEFAULT_EXCLUDED
from radtrust.simulation.methods import HELD_OUT
from tests.simulation.phantoms import ct_phantom, radiograph_phantom

XR = radiograph_phantom(seed=3, shape=(320, 320))
CT = ct_phantom(seed=3)


def _residual(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    return x - ndi.uniform_filter(x, 3)


def test_held_out_methods_are_never_drawn_by_default():
    assert {"ho-inpaint-biharmonic", "ho-copy-move-affine", "ho-healing-brush", "ho-contrast-region",
            "ho-noise-region", "ho-inpaint-exemplar", "ct-inpaint-learned", "xr-inpaint-learned",
            "ho-sharpen-region", "ho-median-region", "ho-offset-region", "ho-lesion-add"} == set(HELD_OUT)
    assert set(DEFAULT_EXCLUDED) == set(HELD_OUT)
    assert not set(_methods("pixels")) & set(HELD_OUT)
    assert set(_methods("holdout")) == set(HELD_OUT)


def test_methods_option_mixes_groups_and_names_each_once():
    both = _methods("pixels,holdout")
    assert both == _methods("pixels") + _methods("holdout")
    assert _methods(" retouch, holdout,retouch , ho-noise-region") == ["retouch"] + _methods("holdout")
    assert _methods("all") is None


def test_contrast_region_scales_the_region_about_its_mean():
    r = simulate("ho-contrast-region", XR, 0, size_mm=40.0)
    gain = r.params["gain"]
    core = ndi.binary_erosion(r.mask, iterations=8)
    before, after = XR.pixels[core], r.pixels[core]
    assert np.std(after) / np.std(before) == pytest.approx(gain, rel=0.05)
    assert float(np.abs(after - after.round()).max()) == 0.0  # re-quantised


def test_noise_region_raises_the_noise_inside():
    r = simulate("ho-noise-region", XR, 1, size_mm=40.0)
    core = ndi.binary_erosion(r.mask, iterations=8)
    rel = r.params["relative_sigma"]
    ratio = _residual(r.pixels)[core].std() / _residual(XR.pixels)[core].std()
    assert ratio == pytest.approx(np.sqrt(1 + rel ** 2), rel=0.15)


def test_biharmonic_fill_without_noise_is_smooth():
    for seed in range(6):
        r = simulate("ho-inpaint-biharmonic", XR, seed, size_mm=40.0)
        if not r.params["noise_readded"]:
            break
    else:
        pytest.fail("no noise-free draw in six seeds")
    core = ndi.binary_erosion(r.mask, iterations=8)
    assert _residual(r.pixels)[core].std() < 0.3 * _residual(XR.pixels)[core].std()


def test_copy_move_affine_pastes_a_rotated_copy_of_the_source():
    r = simulate("ho-copy-move-affine", XR, 2, size_mm=40.0)
    angle, scale = r.params["angle_deg"], r.params["scale"]
    sy, sx = r.params["source"]
    dy, dx = r.params["center"]
    # rotating the pasted disc back about its centre brings back the source's pixels
    half = 30
    pasted = r.pixels[dy - half: dy + half + 1, dx - half: dx + half + 1]
    source = XR.pixels[sy - half: sy + half + 1, sx - half: sx + half + 1]
    th = np.deg2rad(angle)
    m = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]) / scale
    c = np.array([half, half], dtype=float)
    undone = ndi.affine_transform(source, m, offset=c - m @ c, order=3)
    inner = (np.hypot(*np.mgrid[-half:half + 1, -half:half + 1]) < half * 0.6)
    assert np.corrcoef(undone[inner], pasted[inner])[0, 1] > 0.95


def test_healing_brush_carries_the_source_detail():
    r = simulate("ho-healing-brush", XR, 4, size_mm=40.0)
    sy, sx = r.params["source"]
    dy, dx = r.params["center"]
    half = 14
    got = _residual(r.pixels)[dy - half: dy + half, dx - half: dx + half]
    src = _residual(XR.pixels)[sy - half: sy + half, sx - half: sx + half]
    own = _residual(XR.pixels)[dy - half: dy + half, dx - half: dx + half]
    assert np.corrcoef(got.ravel(), src.ravel())[0, 1] > 0.8
    assert abs(np.corrcoef(got.ravel(), own.ravel())[0, 1]) < 0.3


def test_sharpen_region_raises_the_noise_by_the_mask_amount():
    r = simulate("ho-sharpen-region", XR, 6, size_mm=40.0)
    core = ndi.binary_erosion(r.mask, iterations=8)
    ratio = _residual(r.pixels)[core].std() / _residual(XR.pixels)[core].std()
    assert 1.0 + 0.6 * r.params["amount"] < ratio < 1.0 + 1.1 * r.params["amount"]  # the blur keeps little of it
    assert np.array_equal(r.pixels[~r.mask], XR.pixels[~r.mask])


def test_median_region_removes_the_noise_inside():
    r = simulate("ho-median-region", XR, 7, size_mm=40.0)
    core = ndi.binary_erosion(r.mask, iterations=8)
    assert _residual(r.pixels)[core].std() < 0.7 * _residual(XR.pixels)[core].std()


def test_offset_region_shifts_the_region_by_its_constant():
    r = simulate("ho-offset-region", XR, 8, size_mm=40.0)
    core = ndi.binary_erosion(r.mask, iterations=8)
    assert np.abs(r.pixels[core] - XR.pixels[core] - r.params["offset"]).max() <= 0.5 + 1e-3  # then rounded
    assert float(np.abs(r.pixels - np.round(r.pixels)).max()) == 0.0


@pytest.mark.parametrize("target", [XR, CT], ids=["radiograph", "ct"])
def test_lesion_add_is_a_smooth_denser_bump_over_the_same_noise(target):
    r = simulate("ho-lesion-add", target, 9, size_mm=30.0)
    added = (r.pixels - target.pixels)[r.mask] * target.brighter
    assert added.max() == pytest.approx(r.params["amplitude"], rel=0.1) and added.min() >= -0.5  # denser only
    core = ndi.binary_erosion(r.mask, iterations=4)
    # the pixels keep their own noise: the residual of the result is the original's plus a smooth bump's
    got, own = _residual(r.pixels)[core], _residual(target.pixels)[core]
    assert np.corrcoef(got, own)[0, 1] > 0.9


@pytest.mark.parametrize("method", [m for m in HELD_OUT if not METHODS[m].target.endswith("inpaint_learned")])
def test_ct_volumes_are_edited_in_every_slice_of_the_ball(method):
    r = simulate(method, CT, 5, size_mm=16.0)
    changed = np.flatnonzero((r.pixels != CT.pixels).any(axis=(1, 2)))
    assert changed.size >= 3 and np.all(np.diff(changed) == 1)


def test_exemplar_fill_rebuilds_a_regular_texture_exactly():
    """Criminisi's known answer: in a texture that repeats with a period, every patch at the fill front has an exact
    match one period away, so the hole is filled with what was there, value for value."""
    from radtrust.simulation.exemplar import fill_plane

    tile = np.random.default_rng(5).integers(0, 200, (12, 12)).astype(np.float32)
    image = np.tile(tile, (16, 16))
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    hole = (yy - 96) ** 2 + (xx - 90) ** 2 < 15 ** 2
    damaged = np.where(hole, 0.0, image)
    filled = fill_plane(damaged, hole)
    assert np.array_equal(filled, image)
    assert np.array_equal(filled[~hole], damaged[~hole])


@pytest.mark.parametrize("target", [XR, CT], ids=["radiograph", "ct"])
def test_exemplar_fill_is_a_mosaic_of_exact_copies(target):
    """The filled region's pixels are copied from elsewhere in the same plane at many displacements (unlike a
    copy-move's one); nothing outside the mask changes; values stay on the stored grid."""
    r = simulate("ho-inpaint-exemplar", target, 0, size_mm=30.0)
    assert r.method == "ho-inpaint-exemplar" and r.mask.any()
    assert np.array_equal(r.pixels[~r.mask], target.pixels[~r.mask])
    assert float(np.abs(r.pixels - np.round(r.pixels)).max()) == 0.0
    core = ndi.binary_erosion(r.mask, iterations=3)
    assert not np.array_equal(r.pixels[core], target.pixels[core])
    plane = r.pixels if r.pixels.ndim == 2 else r.pixels[int(np.argmax(core.sum(axis=(1, 2))))]
    core2 = core if core.ndim == 2 else core[int(np.argmax(core.sum(axis=(1, 2))))]
    ys, xs = np.nonzero(core2)
    found = set()
    for y, x in list(zip(ys, xs))[:: max(1, len(ys) // 40)]:  # where a sampled 3x3 neighbourhood has its exact twin
        block = plane[y - 1:y + 2, x - 1:x + 2]
        hits = np.argwhere(np.all(np.lib.stride_tricks.sliding_window_view(plane, (3, 3)) == block, axis=(2, 3)))
        far = [(int(a + 1 - y), int(b + 1 - x)) for a, b in hits if max(abs(a + 1 - y), abs(b + 1 - x)) > 2]
        if far:
            found.add(far[0])
    assert len(found) >= 3
