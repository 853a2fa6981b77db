"""Every method changes only inside its mask; injected nodules have the asked size and HU; removal is not thresholdable."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from radtrust.errors import NotApplicable
from radtrust.simulation import METHODS, AntiForensics, simulate
from tests.simulation.phantoms import ct_phantom, radiograph_phantom

CT = ct_phantom()
XR = radiograph_phantom()
DONORS = {"CT": ct_phantom(seed=1), "DX": radiograph_phantom(seed=1)}
AF_CASES = {"plain": AntiForensics(), "all": AntiForensics(noise="copy", histmatch=True, requantise=True, resample=True),
            "synth": AntiForensics(noise="synth", histmatch=True)}


def _cases():
    for name, spec in sorted(METHODS.items()):
        for target in (CT, XR):
            if spec.admits(target):
                yield pytest.param(name, target, id=f"{name}-{target.modality}")


@pytest.mark.parametrize(("method", "target"), list(_cases()))
@pytest.mark.parametrize("seed", [0, 1])
def test_changes_only_inside_mask(method, target, seed):
    donor = DONORS[target.modality]
    try:
        r = simulate(method, target, seed, donor=donor)
    except NotApplicable as exc:  # only metadata methods on a header that lacks the element
        assert METHODS[method].kind == "metadata", exc
        return
    assert r.mask.shape == target.pixels.shape and r.mask.dtype == bool
    changed = r.pixels != target.pixels
    assert not (changed & ~r.mask).any(), "pixels changed outside the mask"
    if METHODS[method].kind == "metadata":
        assert not r.mask.any() and not changed.any()
        assert r.datasets != target.datasets
    else:
        assert r.mask.any() and changed.any()
        assert changed[r.mask].mean() > 0.3, "the mask is much larger than the change"
        lo, hi = target.value_range
        assert r.pixels.min() >= lo and r.pixels.max() <= hi


@pytest.mark.parametrize("af", list(AF_CASES), ids=list(AF_CASES))
def test_ct_methods_with_antiforensics_respect_mask(af):
    for method in ("ct-inject-nodule", "ct-remove-nodule"):
        r = simulate(method, CT, 3, antiforensics=AF_CASES[af])
        assert not ((r.pixels != CT.pixels) & ~r.mask).any()
        assert r.params["antiforensics"] == AF_CASES[af].to_dict()


def test_the_whole_scan_rescaled_as_ct_gans_code_does():
    """'scan': every voxel outside CT-GAN's touch-up box zoomed to 1 mm and back and truncated to the stored grid,
    not only the lesion's; inside the box the original scan blended back (its corners the original's own voxels);
    the mask still marks the lesion and the sidecar says the scan was rescaled and where the box lies; 2D targets
    refuse it."""
    from radtrust.errors import UsageError
    from radtrust.forensics.detectors.whole_resample import line_strength

    af = AntiForensics(noise="copy", scan=True)
    plain = simulate("ct-inject-nodule", CT, 4, antiforensics=AntiForensics(noise="copy"))
    r = simulate("ct-inject-nodule", CT, 4, antiforensics=af)
    assert np.array_equal(r.mask, plain.mask)
    (z0, z1), (y0, y1), (x0, x1) = r.params["touch_up_box"]
    assert y1 - y0 == x1 - x0 == 64 and (z0, z1) == (0, CT.pixels.shape[0])  # 64 voxels, cut at the volume's ends
    box = np.zeros(CT.pixels.shape, bool)
    box[z0:z1, y0:y1, x0:x1] = True
    assert (r.pixels != CT.pixels)[~box].mean() > 0.5  # the whole scan moved
    corners = r.pixels[:, [y0, y0, y1 - 1, y1 - 1], [x0, x1 - 1, x0, x1 - 1]]
    assert np.array_equal(corners, CT.pixels[:, [y0, y0, y1 - 1, y1 - 1], [x0, x1 - 1, x0, x1 - 1]])
    z, y, x = r.params["center"]
    core = (slice(z, z + 1), slice(y - 1, y + 2), slice(x - 1, x + 2))
    lift = r.pixels[core].mean() - CT.pixels[core].mean()  # the lesion is there, damped by the sigmoid blend
    assert lift > 0.25 * (plain.pixels[core].mean() - CT.pixels[core].mean()) > 20
    assert np.array_equal(r.pixels, np.trunc(r.pixels))  # on the stored grid (slope 1 here)
    assert r.params["whole_scan_rescaled_mm"] == 1.0 and r.params["antiforensics"]["scan"] is True
    if abs(CT.spacing[-1] % 1.0 - 0.5) < 0.45:  # a zoom factor away from a whole number leaves its period
        assert line_strength(list(r.pixels))[0] > line_strength(list(plain.pixels))[0]
    with pytest.raises(UsageError, match="CT volumes only"):
        simulate("xr-inject-nodule", XR, 4, antiforensics=af)


def test_ct_gans_touch_up_windows():
    """The touch-up's windows as CT-GAN's kern01 draws them: 1 at the centre, 0 at the corners; the injection's
    bell (3 standard deviations) falls off far faster than the removal's nearly flat paraboloid."""
    from radtrust.simulation.antiforensics import window01

    bell, flat = window01(64, 3.0), window01(64, 0.1)
    for k in (bell, flat):
        assert k.max() == pytest.approx(1.0) and k[0, 0] == pytest.approx(0.0) and np.allclose(k, k.T)
    assert bell[32, 0] < 0.15 < 0.4 < flat[32, 0] and bell[32, 16] < flat[32, 16]  # an edge's middle; halfway


# (kind, diameter mm, HU range of the core, HU level that delimits the whole nodule) from the
# module's literature table; the outline of ground-glass parts is taken just above the -850 HU lung.
NODULES = [("solid", 8.0, (0, 80), -400), ("solid", 16.0, (0, 80), -400), ("ground-glass", 12.0, (-750, -300), -790),
           ("part-solid", 16.0, (0, 80), -790), ("spiculated", 12.0, (0, 80), -400)]


@pytest.mark.parametrize(("kind", "diameter", "hu", "level"), NODULES, ids=[f"{k}-{d:g}mm" for k, d, *_ in NODULES])
def test_injected_nodule_size_and_hu(kind, diameter, hu, level):
    at = (12, 64, 64 - 28)  # centre of the left lung
    r = simulate("ct-inject-nodule", CT, 5, at=at, size_mm=diameter, kind=kind, antiforensics=AntiForensics())
    core = r.pixels[at[0], at[1] - 1:at[1] + 2, at[2] - 1:at[2] + 2].mean()
    assert hu[0] - 15 <= core <= hu[1] + 15, f"core {core:.0f} HU outside {hu}"
    # in-plane extent through the centre: voxels above the outline level
    row = ndi.gaussian_filter1d(r.pixels[at[0], at[1], :], 0.8) > level
    lab, _ = ndi.label(row)
    width = int((lab == lab[at[2]]).sum()) * CT.spacing[2]
    tol = 0.3 * diameter + 2.0 + (6.0 if kind == "spiculated" else 0.0)
    assert abs(width - diameter) <= tol, f"{kind}: in-plane width {width} mm for {diameter} mm"
    assert r.params["diameter_mm"] == pytest.approx(diameter)


def test_nodule_size_range_enforced():
    with pytest.raises(ValueError):
        simulate("ct-inject-nodule", CT, 0, size_mm=3.0)
    with pytest.raises(ValueError):
        simulate("ct-inject-nodule", CT, 0, size_mm=31.0)


def test_random_nodules_are_inside_the_lungs():
    for seed in range(6):
        r = simulate("ct-inject-nodule", CT, seed, antiforensics=AntiForensics())
        assert CT.lungs[tuple(r.params["center"])]
        assert 4.0 <= r.params["diameter_mm"] <= 30.0


@pytest.mark.parametrize("af", ["plain", "synth", "all"])
def test_removed_nodule_not_thresholdable(af):
    at = (12, 64, 64 + 28)
    injected = simulate("ct-inject-nodule", CT, 7, at=at, size_mm=10.0, kind="solid", antiforensics=AntiForensics())
    before = CT.with_pixels(injected.pixels)
    assert (ndi.gaussian_filter(before.pixels, 1.0)[injected.mask] > -300).sum() > 50
    r = simulate("ct-remove-nodule", before, 8, at=at, size_mm=10.0, antiforensics=AF_CASES[af])
    sm = ndi.gaussian_filter(r.pixels, (0, 1.0, 1.0))
    hole = r.mask & injected.mask
    assert hole.sum() >= 0.9 * injected.mask.sum() * 0.5
    # no threshold between lung and nodule separates the removed region from the lung around it any more
    assert (sm[injected.mask] > -500).mean() < 0.02
    shell = ndi.binary_dilation(r.mask, iterations=4) & ~r.mask & CT.lungs & ~(CT.pixels > -500)
    assert abs(float(np.median(r.pixels[hole])) - float(np.median(r.pixels[shell]))) < 40


def test_radiograph_injection_follows_photometric():
    r = simulate("xr-inject-nodule", XR, 2)
    assert (r.pixels - XR.pixels)[r.mask].mean() > 0  # MONOCHROME2: denser is brighter
    mono1 = XR.with_pixels(XR.pixels, brighter=-1)
    r1 = simulate("xr-inject-nodule", mono1, 2)
    assert (r1.pixels - XR.pixels)[r1.mask].mean() < 0


def test_splice_needs_a_donor():
    from radtrust.errors import UsageError

    with pytest.raises(UsageError):
        simulate("splice", XR, 0)
