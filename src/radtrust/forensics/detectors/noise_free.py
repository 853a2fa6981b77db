"""Noise-free regions inside the patient: content that no CT scanner reconstructed.

Every reconstructed CT voxel inside the body carries quantum noise, whatever the tissue: the noise standard
deviation varies by a factor of two or three across a slice, never by a factor of five over a patch. Content
made by software carries none unless the editor adds it: a lesion removed by smooth in-painting, a region
filled from its boundary, a patch pasted from a denoised or synthetic image (CT-GAN's authors add noise back
precisely because this is visible; Mirsky et al., USENIX Security 2019, section 4). The noise-residual
detector compares 16x16 blocks with the image's noise-level function; a hole of a few hundred voxels
barely moves a block's median, so this detector looks at the finest scale instead:

1. the residual of each slice against its 3x3 mean, and its local RMS over 5x5 pixels (a 3x3 mean keeps
   more of CT's spatially correlated noise than the Immerkaer residual, which matters on low-noise head scans);
2. the series' reference noise: the median local RMS in soft tissue (-150..150 HU) inside the body;
3. voxels inside the body (lungs included: holes are filled), away from its edge, from unclipped values and
   from air, whose local RMS is below 0.15 of the reference: *noise-free*;
4. the largest connected noise-free region (3D for a series, per slice for one image); the score is a
   logistic of log2(size) centred at 48 voxels. In the authentic CT of ``../shared/data/ct`` (Siemens abdomen,
   GE head, the 133-slice chest volume; most of the Philips phantom's slices alone, and its top 16 slices, have
   too little soft tissue to judge) the largest region is 1 voxel; at 0.2 of the reference it would be 12, at 0.3
   up to 187, hence 0.15. Every no-noise removal, retouch and splice in the development benchmark leaves 200 to
   9,000 voxels.
5. a second, *quiet* tier for an edit whose editor re-added too little noise (or lowered a region's contrast):
   local RMS under 0.25 of the reference, logistic centred at 250 voxels (authentic regions reach 44; see
   ``TIERS``). Not judged where quiet regions are many and spread (``QUIET_*``: adaptive denoising smooths every
   uniform organ; an edit is one place); a series where they are does not have its slices judged alone either
   (``Finding.slices``): a slice cannot see that its quiet spots recur in every other. A biharmonic fill
   of a 20 mm disc on three slices of the Siemens samples, re-noised with white noise at 0.2 of the scan's noise,
   leaves a 269-voxel region there (score 0.55) and passes the 0.15 tier; at 0.25 of the scan's noise it passes
   both (146 voxels), as it should: that is as quiet as authentic tissue gets.
6. a third, *fine* tier for content that carries texture but not the scanner's finest noise: the second
   differences along rows and columns (the band at the corner of the spectrum, which a reconstruction kernel
   passes and interpolation, generators and blends do not), under 0.4 of their level in the 32 px around
   (``FINE_*``): a cube resampled to 1 mm and back as CT-GAN does, a learned in-painter's output with noise
   copied back, a rotated copy. Only where such dips are dense counts (a denoiser spreads them over the whole
   body, an edit packs them in one place), and only where that band holds the scanner's noise rather than
   rounding (smooth head kernels and phantoms here do not).

These tiers judge CT in HU. 8-bit radiograph pictures (and rasters without a modality) take their own path,
:mod:`radtrust.forensics.detectors.noise_free_picture`: a radiograph has collimated, saturated and JPEG-smoothed
areas without noise, so there a region counts only where it is quiet against the picture's own noise-level
function *and* its surroundings carry that noise up to its edge. 16-bit radiographs are not judged (one real
plate here cannot set that path's bounds). Lossy compression
(JPEG, JPEG-LS near-lossless, irreversible JPEG 2000, or LossyImageCompression "01") removes noise where the
anatomy is smooth: a CT stored at 10:1 JPEG 2000 shows regions of hundreds of voxels without noise, so such
images are not judged, nor is the body outside the scanner's data-collection field in an extended-field-of-view
reconstruction (extrapolated, smooth: :func:`measured_field`), nor a scan denoised throughout (an
edge-preserving denoiser or strong iterative reconstruction leaves more than 4% of the body under 0.3 of the
median noise; a local edit leaves at most a few percent). A constant fill counts (no tissue is constant; padding
lies outside the HU range judged).
A removal whose editor re-added noise (copied or synthesised) is not seen here; that is the noise-residual and
duplicated-noise detectors' job.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from radtrust.errors import EvidenceLost, NotApplicable
from radtrust.forensics.detectors.base import SHARE, Detector, Finding, Scope
from radtrust.forensics.detectors.jpeg_grid import picture_levels
from radtrust.forensics.detectors.noise_free_picture import picture_finding
from radtrust.forensics.detectors.physics import RADIOGRAPHY, body_mask
from radtrust.forensics.projection import settled, sliding_projection
from radtrust.forensics.residuals import box_mean, dilate, valid_mask
from radtrust.io.dicom import not_hounsfield
from radtrust.io.lossy import JPEG_DCT_SYNTAXES, lossy_reason, stored_lossy

if TYPE_CHECKING:
    from radtrust.io import Image, Series

WINDOW = 5  # pixels: the local RMS window
# (ratio, size): a region whose local RMS stays below ratio x the reference noise scores 0.5 at that many voxels.
# Noise-free (0.15): authentic CT's largest region is 1 voxel. Quiet (0.25: an edit re-noised at a quarter of the
# scan's level, or a contrast lowered to a quarter): authentic regions reach 44 voxels in the chest volume, 5 in
# the GE head, 3 in the Siemens abdomen, 1 in pydicom-data's CT; hence 250 (a 0.25 region of 44 voxels scores
# 0.007). At 0.3 authentic regions reach 187 voxels, at 0.4 7,000: no tier there.
TIERS = ((0.15, 48.0), (0.25, 250.0))
RATIO = TIERS[0][0]
# An adaptive denoiser (non-local means, an iterative or learned reconstruction blended with the filtered one)
# smooths uniform tissue more than texture, so the quiet tier finds quiet spots in every organ, not in one place.
# The quiet tier is not judged where its regions of QUIET_REGION voxels or more are many (QUIET_MANY) and dense
# (QUIET_PER_MILLION judged voxels). Measured with ``scripts/quiet_tier_check.py`` on 16-slice stretches: the
# development and held-out benchmarks' 22 authentic CT items at most 5 such regions (3.3 per million), their 77 CT
# edits at most 11 (7.3 per million: a learned in-painting; a retouch 9, a contrast-lowered region 7); the chest
# volume denoised by ``scripts/ct_benign_check.py``'s non-local means blended 50% 23-110 (14-80 per million; largest
# regions 2,488 and 4,021 voxels, flagged before), unblended 143-183; the GE head unblended 44-65 (34-49 per million).
QUIET_REGION, QUIET_MANY, QUIET_PER_MILLION = 20, 15, 20.0
# The fine tier: noise at the finest scale a reconstruction kernel passes (second differences along rows and
# columns: the band at the corner of the spectrum), its local RMS over 3x3 pixels against the same quantity's
# level in the 32 px around it (the mean of its log over judged pixels): a voxel under FINE_RATIO of that is a
# *dip*. Interpolated, generated or blended content (a cube resampled and pasted back, a generator's output, a
# blend that scales the scan's noise down towards a lesion's centre) lacks that band even when its coarser texture
# looks like noise, and the local reference makes a whole image resampled, or a scan whose noise varies across the
# field, no different from any other. Dips occur everywhere at a low rate (0.5-1% of the judged voxels of
# authentic CT), and an edge-preserving denoiser raises that rate everywhere (total-variation weight 2: 0.8-2.4%);
# an edit raises it in one place. So only dips where their density (over 5 slices x 32 x 32 px, or 48 x 48 px in
# one image) is at least FINE_DENSITY times the scan's median density count, and the largest connected region of
# them is scored like the noise-free tier. Measured with ``scripts/fine_tier_check.py`` (16-slice stretches, as
# the benchmark's series, and whole series): the density peaks at 2.9-8.3 times the median in authentic stretches
# (the whole 133-slice chest volume 10.4, largest region 7 voxels; every stretch 0), 3.3-8.2 after total-variation
# denoising at weights 1 and 2 (largest region 2 voxels), 10-104 over the development and held-out edits the tier
# finds, in regions of 64-14,098 voxels (resampled nodule cubes 64-2,789, a rotated copy 142, learned in-painting
# 925-1,543, removals 324-4,078, biharmonic in-painting 3,042-14,098).
FINE_RATIO, FINE_DENSITY = 0.4, 8.0
FINE_BIN = 4  # pixels: local reference and density are computed on bins of 4 x 4 pixels
FINE_SPAN = 8  # bins: the local reference's extent (32 px)
FINE_WINDOW_3D, FINE_WINDOW_2D = (5, 8, 8), (1, 12, 12)  # (slices, bins, bins): where dip density is measured
FINE_FLOOR = 0.05  # HU: a flat region's RMS is 0; its log stays finite
# The band is judged only where it carries the scanner's noise: its median in soft tissue at least FINE_MIN_STEPS
# times what rounding to the stored grid alone puts there (sqrt(36/12) = 1.73 stored steps). The chest volume and
# the Siemens abdomen have 19 and 17 times that, a CT slice of pydicom-data 23; the GE head (a smooth head
# kernel) 2.2, the Philips phantom 1.7, three other pydicom-data CT 1.0-2.3.
FINE_QUANTUM, FINE_MIN_STEPS = math.sqrt(3.0), 4.0
WIDTH_LOG2 = 0.5
# An edge-preserving denoiser (or strong iterative reconstruction) flattens noise throughout, not in one place:
# the share of the body under LOW x the median exceeds MAX_LOW_SHARE. Measured: authentic series <= 0.2% (slices
# <= 1.0%), every benchmark edit <= 1.5% (slices <= 2.7%), a Siemens series TV-denoised (weight 5) 6.7% (slices
# 5.2-8.6%), where noise-free had flagged it; weight 3 (2.3%) it did not.
LOW, MAX_LOW_SHARE = 0.3, 0.04
# a data-collection field smaller than either is not believed (measured_field): scanners measure 250 mm (head modes)
# to 500 mm; in the files here the field is as large as the reconstruction or larger, in the extended-field test 0.62
MIN_FIELD_MM, MIN_FIELD_SHARE = 200.0, 0.5
SOFT_TISSUE = (-150.0, 150.0)
TISSUE = (-950.0, 300.0)  # air, lung and dense bone limits: noise there is not judged
MIN_SOFT = 5000  # soft-tissue voxels needed for a reference (fewer are mostly edges, whose RMS is not noise)
# and, for a series, this many per slice on average: the 16 top slices of the Philips head phantom hold 950 per slice,
# mostly the edges between its inserts (a reference of 2.2 HU where the whole phantom's is 1.1, and its smooth
# plastic read as a 404-voxel quiet region); patients' slices here hold 44,000 to 96,000 (the crown of the GE head
# 9,800; series on average 68,000-70,000), the whole phantom 3,500 on average
MIN_SOFT_PER_SLICE = 2000


def _slice_maps(hu: np.ndarray, field: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(local RMS of the residual, judged voxels, soft-tissue voxels, log of the finest-scale noise) of one 2D
    slice; ``field``: where the scanner measured (None: everywhere)."""
    x = np.asarray(hu, dtype=np.float32)
    r = x - box_mean(x, 3)
    r *= r
    rms = box_mean(r, WINDOW)  # sqrt of the mean square, in place
    np.sqrt(rms, out=rms)
    body, _ = body_mask(x)
    inside = body & valid_mask(x) & (x > TISSUE[0]) & (x < TISSUE[1])
    if field is not None:
        inside &= field
    judged = ~dilate(~inside, WINDOW // 2)
    soft = judged & (x > SOFT_TISSUE[0]) & (x < SOFT_TISSUE[1])
    return rms, judged, soft, _fine_level(x)


def _fine_level(x: np.ndarray) -> np.ndarray:
    """log of the local RMS (3x3) of the second differences along rows and columns: the finest-scale noise."""
    d = x[:, :-2] - 2.0 * x[:, 1:-1] + x[:, 2:]
    d = d[:-2] - 2.0 * d[1:-1] + d[2:]
    r = np.pad(d, 1, mode="edge")
    r *= r
    level = box_mean(r, 3)  # log(sqrt(mean square) + floor), in place
    np.sqrt(level, out=level)
    level += np.float32(FINE_FLOOR)
    return np.log(level, out=level)


def _fine_dip(level: np.ndarray, judged: np.ndarray) -> np.ndarray:
    """Judged voxels whose finest-scale noise is under FINE_RATIO of its level in the 32 px around them."""
    b = FINE_BIN
    if min(level.shape) < 3 * b * FINE_SPAN // 2:
        return np.zeros(level.shape, bool)
    h, w = (level.shape[0] // b) * b, (level.shape[1] // b) * b
    counts = _bin_sums(judged[:h, :w], b)
    sums = _bin_sums(np.where(judged[:h, :w], level[:h, :w], np.float32(0)), b)
    den = ndimage.uniform_filter(counts, FINE_SPAN, mode="constant")
    ref = ndimage.uniform_filter(sums, FINE_SPAN, mode="constant") / np.maximum(den, np.float32(1e-3))
    # too little tissue around (under 30% of the 32 px judged) to judge against: no voxel there is a dip
    limit = np.where(den > 0.3 * b * b, ref + np.float32(math.log(FINE_RATIO)), -np.inf).astype(np.float32)
    out = np.zeros(level.shape, bool)
    out[:h, :w] = (level[:h, :w].reshape(h // b, b, w // b, b) < limit[:, None, :, None]).reshape(h, w)
    return out & judged


def _dense_dips(dips: np.ndarray, judged: np.ndarray, window: tuple[int, int, int]) -> np.ndarray:
    """The dips (a volume of slices) where their density over ``window`` (slices, bins, bins) is at least
    FINE_DENSITY times the scan's median density (over windows at least half judged)."""
    b = FINE_BIN
    n, rows, cols = dips.shape
    h, w = (rows // b) * b, (cols // b) * b
    if not h or not w:
        return np.zeros(dips.shape, bool)
    d = np.stack([_bin_sums(x[:h, :w], b) for x in dips])
    j = np.stack([_bin_sums(x[:h, :w], b) for x in judged])
    size = (min(window[0], n), window[1], window[2])
    nd = ndimage.uniform_filter(d, size, mode="constant")
    nj = ndimage.uniform_filter(j, size, mode="constant")
    ok = nj >= 0.5 * b * b
    if not ok.any():
        return np.zeros(dips.shape, bool)
    density = np.where(ok, nd / np.maximum(nj, np.float32(1e-3)), np.float32(0))
    base = max(float(np.median(density[ok])), 1e-3)  # a scan almost without dips: any cluster of them stands out
    dense = density >= np.float32(FINE_DENSITY * base)
    out = np.zeros(dips.shape, bool)
    out[:, :h, :w] = dense.repeat(b, axis=2).repeat(b, axis=1)  # columns first: the rows are then whole copies
    return out & dips


def region_sizes(voxels: np.ndarray, *, along_slices: bool) -> np.ndarray:
    """Sizes of the connected regions of ``voxels`` (slices, rows, cols; 4-connected in-plane, and across slices
    when ``along_slices``), in the order ``ndimage.label`` numbers them (by each region's first voxel in raster order).
    A sparse graph of the marked voxels: on a tier's few scattered voxels a third of the time of labelling all of
    them (0.4-0.7 ms against 1.2-2.4 ms a 512 x 512 slice)."""
    index = np.flatnonzero(voxels)
    if not index.size:
        return np.zeros(0, np.int64)
    _, rows, cols = voxels.shape
    steps = [(1, index % cols != cols - 1), (cols, index // cols % rows != rows - 1)]
    if along_slices:
        steps.append((rows * cols, np.ones(index.size, bool)))
    heads, tails = [], []
    for step, inside in steps:
        at = np.minimum(np.searchsorted(index, index + step), index.size - 1)
        linked = inside & (index[at] == index + step)
        heads.append(np.flatnonzero(linked))
        tails.append(at[linked])
    head, tail = np.concatenate(heads), np.concatenate(tails)
    graph = coo_matrix((np.ones(head.size, np.int8), (head, tail)), shape=(index.size, index.size))
    _, region = connected_components(graph, directed=False)
    return np.bincount(region)


def _bin_sums(a: np.ndarray, b: int) -> np.ndarray:
    """Sums over b x b bins (a's shape a multiple of b), as float32, by strided adds (fifteen times faster than
    summing a reshaped view over two axes)."""
    rows = a[0::b].astype(np.float32)
    for i in range(1, b):
        rows += a[i::b]
    out = rows[:, 0::b].copy()
    for i in range(1, b):
        out += rows[:, i::b]
    return out


def measured_field(image: Image) -> np.ndarray | None:
    """Pixels inside the scanner's data-collection field, when the image was reconstructed beyond it (extended
    field of view: ReconstructionDiameter > DataCollectionDiameter, PS3.3 C.8.2.1). Outside it the body is
    extrapolated, smoothly, and must not count as noise-free content. None when the whole image was measured or
    the header does not say."""
    ds, spacing = image.dataset, image.geometry.pixel_spacing
    if ds is None or spacing is None or image.pixels.ndim != 2:
        return None
    try:
        dcd, rd = float(ds.get("DataCollectionDiameter") or 0), float(ds.get("ReconstructionDiameter") or 0)
    except (TypeError, ValueError):
        return None
    if dcd <= 0 or rd <= 0 or dcd >= 0.98 * rd:
        return None
    if dcd < max(MIN_FIELD_MM, MIN_FIELD_SHARE * rd):  # no scanner measures so little: a header written to blind us
        return None
    rows, cols = image.pixels.shape
    cy, cx = (rows - 1) / 2.0, (cols - 1) / 2.0
    centre, position = ds.get("DataCollectionCenterPatient"), image.geometry.position
    orientation = image.geometry.orientation
    if centre is not None and position is not None and orientation is not None and len(centre) == 3:
        row_dir, col_dir = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
        offset = np.asarray([float(v) for v in centre]) - np.asarray(position, float)
        cx, cy = float(offset @ row_dir) / spacing[1], float(offset @ col_dir) / spacing[0]
    yy, xx = np.ogrid[:rows, :cols]
    radius = 0.95 * dcd / 2.0  # a margin: the field's edge is not sharp
    return ((yy - cy) * spacing[0]) ** 2 + ((xx - cx) * spacing[1]) ** 2 <= radius * radius


def _stored_step(image: Image) -> float:
    """The HU step of one stored value (RescaleSlope; 1 without a header or for a NIfTI volume)."""
    ds = image.dataset
    try:
        return abs(float(ds.get("RescaleSlope", 1) or 1)) if ds is not None else 1.0
    except (TypeError, ValueError):
        return 1.0


def _score(size: np.ndarray | int, centre: float = TIERS[0][1]) -> np.ndarray:
    """Logistic of log2(region size), 0.5 at ``centre`` voxels; 0 for no region."""
    size = np.asarray(size, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(size > 0, 1.0 / (1.0 + np.exp(-(np.log2(size) - math.log2(centre)) / WIDTH_LOG2)), 0.0)


def _picture(image: Image) -> Finding:
    """An 8-bit radiograph picture (2D): its own noise-level function, regions quiet in noisy surroundings."""
    levels = picture_levels(image)  # shared with jpeg-grid
    if levels == "small":
        raise NotApplicable("outside CT, noise-free regions are judged in 2D pictures of at least 64x64 pixels")
    if isinstance(levels, str):
        raise NotApplicable("outside CT, noise-free regions are judged in 8-bit pictures only")
    # the picture rules were set on JPEG pictures, whose 8 x 8 blocks flatten evenly; another lossy codec as the last
    # step leaves quiet regions of its own in noisy surroundings (JPEG 2000 at 8:1 made a 758 px one of an authentic
    # picture, 0.86): judged only when stored losslessly or as JPEG
    if (reason := stored_lossy(image)) and image.transfer_syntax not in JPEG_DCT_SYNTAXES:
        raise EvidenceLost(f"{reason}: that codec leaves quiet regions of its own, so noise-free regions prove nothing")
    return picture_finding(levels[0])


class NoiseFreeRegionDetector(Detector):
    name = "noise-free"
    version = "1"
    # a series denoised throughout, or whose quiet regions are spread (a denoiser's, not an edit's), settles its
    # slices: a slice alone cannot tell (a slice of a blended-denoised chest series held 7 quiet regions, one of 514
    # voxels, 0.89, where the series holds 97; scripts/ct_benign_check.py). Otherwise each slice is judged alone as
    # well: a copy rotated on one slice leaves its finest-scale dips dense in that slice only (0.30 alone, 0.008 in 3D).
    # Without the slices' own judgements a held-out benchmark's rotated CT copies fell 0.886 -> 0.864 AUC and CT nodule
    # injection 0.690 -> 0.643 leave-one-method-out (session 25), so the series pass makes them, from the maps it
    # computes anyway (Finding.slices). A sliding projection's slices are settled too (radtrust.forensics.projection)
    scope = Scope(modalities=frozenset({"CT", "", "OT", "SC", "XC"}) | RADIOGRAPHY, dims=frozenset({2, 3}))

    def run(self, image: Image) -> Finding:
        if (image.modality or "").upper() != "CT":
            return _picture(image)
        if reason := not_hounsfield(image.dataset, image.pixels):
            raise NotApplicable(f"a derived map, not a reconstructed CT image: {reason}")
        if reason := lossy_reason(image):
            raise EvidenceLost(f"{reason}: it removed noise, so noise-free regions prove nothing")
        px = image.pixels
        # a 2D image is passed as itself, so the body and clipping masks other detectors computed are reused
        slices = [px] if px.ndim == 2 else list(px)
        # the frames of a multi-frame CT are judged one by one, as a series' slices are, but those of a sliding
        # projection together, as its series would settle them (radtrust.forensics.projection)
        alone = px.ndim == 2 or sliding_projection(px) is None
        return self._analyse(slices, [measured_field(image)] * len(slices), per_slice=alone, squeeze=px.ndim == 2,
                             step=_stored_step(image))

    def run_series(self, series: Series) -> Finding:
        if (series.instances[0].modality or "").upper() != "CT":
            raise NotApplicable("noise-free regions in 3D are judged in CT only")
        if not series.is_volume():
            raise NotApplicable("noise-free regions need a stackable series of 2D slices")
        for im in series.instances:
            if reason := not_hounsfield(im.dataset, im.pixels):
                raise NotApplicable(f"a derived map, not a reconstructed CT image: {reason}")
            if reason := lossy_reason(im):
                raise EvidenceLost(f"{reason}: it removed noise, so noise-free regions prove nothing")
        maps = [_slice_maps(im.pixels, measured_field(im)) for im in series.instances]
        # each slice judged alone, as run() judges it, from the same maps: before the series judgement consumes them
        own = tuple(self._judge_alone(m, _stored_step(im)) for m, im in zip(maps, series.instances))
        found = settled(self._judge(maps, per_slice=False, squeeze=False,
                                    step=max(map(_stored_step, series.instances))), series)
        return found if found.slices is not None else replace(found, slices=own)

    def _analyse(self, slices: list[np.ndarray], fields: list[np.ndarray | None], *, per_slice: bool,
                 squeeze: bool, step: float) -> Finding:
        return self._judge([_slice_maps(s, f) for s, f in zip(slices, fields)], per_slice=per_slice, squeeze=squeeze,
                           step=step)

    def _judge_alone(self, maps: tuple[np.ndarray, ...], step: float) -> Finding | NotApplicable:
        """One slice judged from its maps as :meth:`run` judges it, or the NotApplicable (EvidenceLost) it raised."""
        try:
            return self._judge([maps], per_slice=True, squeeze=True, step=step)
        except NotApplicable as exc:
            return exc

    def _judge(self, maps: list[tuple[np.ndarray, ...]], *, per_slice: bool, squeeze: bool, step: float) -> Finding:
        """The finding on slices from their :func:`_slice_maps`; empties ``maps`` once it no longer needs them."""
        depth = len(maps)  # slices
        rms = np.stack([m[0] for m in maps])
        judged = np.stack([m[1] for m in maps])
        soft = np.stack([m[2] for m in maps])
        if int(soft.sum()) < max(MIN_SOFT, MIN_SOFT_PER_SLICE * depth):
            raise NotApplicable("too little soft tissue inside the body for a reference noise level")
        ref = float(np.median(rms[soft]))
        if ref <= 0.0:
            raise NotApplicable("the image has no noise at all (synthetic or fully denoised)")
        low_share = float(np.count_nonzero(judged & (rms < LOW * ref))) / max(int(np.count_nonzero(judged)), 1)
        if low_share > MAX_LOW_SHARE:
            raise EvidenceLost(
                f"{100 * low_share:.0f}% of the body has under {LOW:g} of the scan's median noise: denoised or "
                "iteratively reconstructed throughout, so noise-free regions prove nothing")
        structure = np.zeros((3, 3, 3), bool)
        structure[1] = ndimage.generate_binary_structure(2, 1)
        if not per_slice:
            structure[0, 1, 1] = structure[2, 1, 1] = True
        # The map, on slices that hold a region scoring over 0.2 (elsewhere 0, so a slice's share of a series
        # finding stays where the regions are): each region's score, grown by the window's half-width (a voxel
        # is only called noise-free when its whole 5x5 neighbourhood is, so the edit reaches further), over a
        # graded background, 0.2 * how far the local noise falls below half the reference.
        heat = np.zeros(rms.shape, np.float32) if not squeeze else None  # a slice's: made where something is drawn
        best = None  # (score, size, ratio, labels, label) of the tier whose largest region scores highest
        told = None  # (score, ...) of the first tier, in order, whose region scores 0.5 or more: the evidence names it
        tiers = [(judged & (rms < ratio * ref), ratio, centre) for ratio, centre in TIERS]
        fine = float(np.exp(np.median(np.concatenate([m[3][::2, ::2][m[2][::2, ::2]] for m in maps]))))
        if fine >= FINE_MIN_STEPS * FINE_QUANTUM * step:  # the band carries the scanner's noise, not rounding
            dips = np.stack([_fine_dip(m[3], m[1]) for m in maps])
            tiers.append((_dense_dips(dips, judged, FINE_WINDOW_2D if per_slice else FINE_WINDOW_3D), None,
                          TIERS[0][1]))
        maps.clear()
        spread = None  # the quiet tier's regions, when they are many and dense: adaptive denoising, not an edit
        for voxels, ratio, centre in tiers:
            sizes = region_sizes(voxels, along_slices=not per_slice)
            if not sizes.size:
                continue
            if ratio is not None and ratio != RATIO:
                many = int(np.count_nonzero(sizes >= QUIET_REGION))
                if many >= QUIET_MANY and many >= QUIET_PER_MILLION * 1e-6 * np.count_nonzero(judged):
                    spread = (many, int(sizes.max()), ratio)
                    continue
            region_score = np.concatenate([[0.0], _score(sizes, centre)]).astype(np.float32)
            top = 1 + int(np.argmax(sizes))
            # the full labelling only where a region scores (its map, and the evidence's place): not on authentic scans
            labels = ndimage.label(voxels, structure=structure)[0] if (region_score > 0.2).any() else None
            entry = (float(region_score[top]), int(sizes[top - 1]), ratio, labels, top)
            if best is None or entry[0] > best[0]:
                best = entry
            if told is None and entry[0] >= 0.5:
                told = entry
            if (region_score > 0.2).any():  # authentic scans stop here: no full-size map of region scores
                strong = (region_score > 0.2)[labels]
                heat = np.zeros(rms.shape, np.float32) if heat is None else heat
                for z in np.flatnonzero(strong.reshape(depth, -1).any(axis=1)):
                    graded = np.clip(rms[z] * np.float32(-0.4 / ref) + np.float32(0.2), 0.0, 0.2)
                    graded[~judged[z]] = 0.0
                    grown = ndimage.grey_dilation(region_score[labels[z]], size=(WINDOW, WINDOW))
                    heat[z] = np.maximum(heat[z], np.maximum(graded, grown))
        if best is None:
            score = 0.0
            evidence = f"every part of the body carries noise (reference {ref:.1f} HU at 5x5 pixels)"
            if spread:
                evidence += _spread_note(spread)
        else:
            score = best[0]
            _, size, ratio, labels, top = told or best
            if ratio is None:
                what = f"under {FINE_RATIO:g} of the finest-scale noise around it"
            else:
                what = "almost no noise" if ratio == RATIO else f"under {ratio:g} of the scan's noise"
            if score < 0.5:
                evidence = (f"largest region inside the body with {what}: {size} voxels, as in authentic scans "
                            f"(reference noise {ref:.1f} HU)")
            else:
                z, y, x = np.nonzero(labels == top)
                where = f"slices {z.min()}-{z.max()}, " if depth > 1 else ""
                level = ("second differences along rows and columns, which every reconstructed voxel carries, "
                         "measured over 3x3 pixels against the 32 px around" if ratio is None
                         else f"local noise under {ratio * ref:.1f} HU where the scan has {ref:.1f} HU")
                evidence = (f"a {size}-voxel region inside the body has {what} ({where}rows {y.min()}-{y.max()}, "
                            f"columns {x.min()}-{x.max()}: {level}): generated, in-painted, interpolated or "
                            "smoothed content")
        if spread and best is not None:
            evidence += _spread_note(spread)
        if heat is None:  # zeros that hold no memory: a series' slices keep their findings until the series is judged
            heat = np.broadcast_to(np.zeros((1, 1, 1), np.float32), rms.shape)
        return Finding(score, heat[0] if squeeze else heat, (evidence,),
                       slices=SHARE if spread and not per_slice else None)


def _spread_note(spread: tuple[int, int, float]) -> str:
    many, largest, ratio = spread
    return (f"; {many} separate regions under {ratio:g} of the scan's noise (the largest {largest} voxels) are spread "
            "through the body, as adaptive denoising leaves them, so that tier is not judged")
