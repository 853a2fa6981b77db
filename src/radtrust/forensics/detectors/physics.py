"""Physics against the acquisition parameters: do the pixels look like what this scanner, at these settings,
produces?

Checks (severity in [0, 1] each; the score is their noisy-OR; the heatmap marks hard-floor pixels):

* **HU calibration** (CT; IEC 61223-3-5 constancy: air -1000 HU, water 0 HU): air outside the body has its
  median near -1000 HU; the body holds soft tissue/water near 0 HU.
* **Hard floor or pile-up inside the body** (CT): a value shared by far more pixels than its neighbouring
  values (Poisson z-score on the histogram), other than the lowest value the stored bits can represent.
  CT-GAN (Mirsky et al. 2019) clips its cube at -1000 HU, which leaves exactly this.
* **Re-quantisation** (Popescu & Farid 2005, "Statistical tools for digital forensics": histogram gaps and
  periodic combs after rescaling integer data): empty bins inside the densely populated range, periodic
  structure in the histogram, or stored values using fewer bits than BitsStored declares. Not on radiographs
  stored in 8 bits: every radiography detector digitises 10-16 bits, so those are display renderings, windowed
  or contrast-stretched before storage (8 of the 160 published chest pictures here show gaps or a comb, up to
  89% of their grey values unused), and the evidence says the histogram was not judged.
* **Pixel spacing vs field of view and matrix** (PS3.3 C.8.2.1: ReconstructionDiameter ≈ PixelSpacing ×
  Columns) and plausible spacing for the modality.
* **Noise vs kVp, mAs, kernel and slice thickness** (CT): measured sigma in uniform tissue against the shipped
  model fitted on authentic data (:mod:`radtrust.forensics.ct_noise`). Not judged on a reformat or a localizer
  (:func:`reformatted`: a coronal, sagittal or oblique plane, ImageType DERIVED with MPR, REFORMATTED, MIP..., or
  LOCALIZER), whose SliceThickness is the reformat's and whose noise is the source slices' after interpolation and
  averaging (or a projection's): thin coronal and sagittal reformats of the Philips phantom read 0.52 HU where its
  header predicted 10.7 HU, 0.97 `tampered` (``scripts/ct_reformat_check.py``). A constant region ("spike") in a
  reformat counts at 0.3 of its severity: a slab averaged from a phantom's low-noise slices rounds a uniform insert
  to one value.
* **Lossy compression** (:func:`radtrust.io.lossy.lossy_reason`): a lossy codec removes noise and flattens
  uniform tissue into plateaus of one value, so on such an image neither the noise checks nor a constant
  region ("spike") are judged, and the evidence says so. Floors and ceilings still count.
* **Exposure indices** (radiographs; IEC 62494-1: DI = 10·log10(EI / EI_T)): the deviation index must agree
  with the exposure index and its target. A model of radiograph noise against exposure is not included:
  the one authentic DICOM radiograph available carries no exposure index to fit it on.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from radtrust.errors import NotApplicable
from radtrust.forensics.ct_noise import NoiseModel, uniform_noise_sigma
from radtrust.forensics.detectors.base import Detector, Finding, Scope
from radtrust.forensics.residuals import (
    dilate,
    dilate_cross,
    erode_cross,
    fill_holes,
    image_class,
    repeat_blocks,
    reuse,
)
from radtrust.io.dicom import not_hounsfield
from radtrust.io.lossy import lossy_reason

AIR_FLOOR = -1010  # floors at or below this are the scanner's own air clip; CT-GAN clips at -1000
SATURATION = 2000  # pile-ups at or above this are detector saturation (12-bit ceiling 3071 HU), not editing
RADIOGRAPHY = frozenset({"CR", "DX", "RG", "DR", "MG", "PX", "XA", "RF"})
# Digital X-Ray, Mammography and Intra-Oral X-Ray Image Storage - For Presentation (PS3.4 B.5)
FOR_PRESENTATION = frozenset({"1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1.2",
                              "1.2.840.10008.5.1.4.1.1.1.3"})


def body_mask(hu: np.ndarray, margin: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(body, outside): the patient or phantom (largest region above -400 HU, holes such as lungs and gas
    filled, edge eroded) and what lies more than ``margin`` pixels away from it. Computed on a grid of every 2nd or 4th pixel."""
    # physics, noise-free and duplicated-noise all ask, for the same slice (read-only results)
    return reuse("body-mask", hu, margin, lambda: _body_mask(hu, margin))


def near_body(hu: np.ndarray, radius: int) -> np.ndarray:
    """Pixels within ``radius`` of the body along both axes: ``dilate(body_mask(hu)[0], radius)``, the same pixels,
    grown on body_mask's grid where ``radius`` is a whole number of its cells (read-only)."""
    def compute() -> np.ndarray:
        step, _, inner = _inner(hu)
        if inner is None or radius % step:
            return dilate(body_mask(hu)[0], radius)
        # a box of whole cells grown by whole cells covers the same pixels as each pixel grown (edges included)
        return _up(dilate(inner, radius // step), step, hu.shape)
    return reuse("near-body", hu, radius, compute)


def _inner(hu: np.ndarray) -> tuple[int, np.ndarray, np.ndarray | None]:
    """(grid step, the body's region on that grid, that region's edge eroded; None where no region is found)."""
    step = 4 if min(hu.shape) >= 512 else 2 if min(hu.shape) >= 256 else 1
    filled = reuse("body", hu, step, lambda: _largest_region(hu, step))
    if not filled.any():
        return step, filled, None
    return step, filled, reuse("body-inner", hu, step,
                               lambda: erode_cross(filled, iterations=max(1, 4 // step)))


def _up(m: np.ndarray, step: int, shape: tuple[int, ...]) -> np.ndarray:
    """Each grid pixel over its step x step pixels (the grid has ceil(n / step) of them, enough), read-only."""
    if step != 1:
        m = repeat_blocks(m, step, shape)
    m.setflags(write=False)
    return m


def _body_mask(hu: np.ndarray, margin: int) -> tuple[np.ndarray, np.ndarray]:
    step, filled, inner = _inner(hu)
    if inner is None:
        z, everywhere = np.zeros(hu.shape, bool), np.ones(hu.shape, bool)
        z.setflags(write=False)
        everywhere.setflags(write=False)
        return z, everywhere
    outer = ~dilate_cross(filled, iterations=max(1, margin // step)) if margin else ~filled
    return _up(inner, step, hu.shape), _up(outer, step, hu.shape)


def _largest_region(hu: np.ndarray, step: int) -> np.ndarray:
    """The largest region above -400 HU on the grid of every ``step``-th pixel, holes filled (all False: none)."""
    small = dilate_cross(erode_cross(hu[::step, ::step] > -400))  # SciPy's binary_opening
    lab, n = ndi.label(small)
    if n == 0:
        return np.zeros(small.shape, bool)
    sizes = np.bincount(lab.ravel())[1:]
    return fill_holes(lab == (1 + int(np.argmax(sizes))))


def stored_range(image: Any) -> tuple[float, float] | None:
    """(min, max) in modality units that the stored bits can represent, from BitsStored, sign and rescale."""
    ds = image.dataset
    if ds is None or not image.bits_stored or image.rescale is None:
        return None
    bits = int(image.bits_stored)
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
    slope, intercept = image.rescale
    a, b = lo * slope + intercept, hi * slope + intercept
    return (min(a, b), max(a, b))


def _counts(values: np.ndarray, ints: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """(counts per value from the lowest, the lowest) of ``values`` rounded; ``ints``: them rounded, when at hand."""
    v = np.rint(np.ravel(values)).astype(np.int64) if ints is None else ints
    lo = int(v.min())
    return np.bincount(v - lo), lo


def pileups(values: np.ndarray, exclude: set[int], min_count: int = 10, min_z: float = 6.0, *,
            ints: np.ndarray | None = None) -> list[tuple[int, int, float, str]]:
    """Values that hold far more pixels than the values next to them: (value, count, Poisson z, kind), strongest first.

    ``kind`` is ``floor`` (nothing just below, a spike above: values were clipped from below), ``ceiling``
    (the mirror) or ``spike`` (one value stands alone: a region set to a constant). A narrow but smooth
    peak (air in a low-noise phantom) is none of these and is not reported. A value must stand out against the values
    of its own parity as well: averages rounded half to even (:func:`half_even_ratio`) hold up to 3 times as many
    values of one parity as of the other, and a narrow peak of a low-noise phantom then held "constants" at every
    other value (a slab of 2 slices: 0.97); a region set to one value, or clipped, stands out against both.
    """
    if values.size == 0:
        return []
    c, lo = _counts(values, ints)
    by_parity = {v for v, *_ in _pileups(c, lo, exclude, min_count, min_z, 2)}
    return [p for p in _pileups(c, lo, exclude, min_count, min_z, 1) if p[0] in by_parity]


def _pileups(c: np.ndarray, lo: int, exclude: set[int], min_count: int, min_z: float,
             stride: int) -> list[tuple[int, int, float, str]]:
    """:func:`pileups` with each value compared with the values ``stride`` apart."""
    cf = c.astype(float)
    med = np.zeros_like(cf)
    for phase in range(stride):
        med[phase::stride] = ndi.median_filter(cf[phase::stride], size=7, mode="constant", cval=0.0)
    z = (cf - med) / np.sqrt(med + 1.0)
    out = []
    for i in np.flatnonzero((c >= min_count) & (z >= min_z)):
        if int(i + lo) in exclude:
            continue
        below = cf[[j for j in range(i - 3 * stride, i, stride) if j >= 0]]  # the 3 values below, nearest last
        above = cf[[j for j in range(i + stride, i + 4 * stride, stride) if j < cf.size]]
        nb = float(below.sum()) if below.size else 0.0
        na = float(above.sum()) if above.size else 0.0
        first_b = float(below[-1]) if below.size else 0.0
        first_a = float(above[0]) if above.size else 0.0
        if nb <= 0.05 * cf[i] and cf[i] >= 3.0 * first_a and na > 0:
            kind = "floor"
        elif na <= 0.05 * cf[i] and cf[i] >= 3.0 * first_b and nb > 0:
            kind = "ceiling"
        elif cf[i] >= 4.0 * max(first_a, first_b) and z[i] >= 8.0 and c[i] >= 20:
            kind = "spike"
        else:
            continue
        out.append((int(i + lo), int(c[i]), float(z[i]), kind))
    return sorted(out, key=lambda t: -t[2])


def requantisation(values: np.ndarray, slope: float = 1.0, *, ints: np.ndarray | None = None
                   ) -> list[tuple[float, str]]:
    """Gaps and combs in the histogram of integer-valued data (values in stored units); ``ints``: the stored
    values (``values / slope`` rounded, raveled, 64-bit) when the caller has them."""
    out: list[tuple[float, str]] = []
    scaled = values if slope == 1.0 else values / slope
    v = np.rint(np.ravel(scaled)).astype(np.int64) if ints is None else ints  # rounded once for every test below
    if (hist := _Histogram.of(scaled, v)) is None:
        return out
    if hist.empty > 0.02:
        out.append((min(0.9, 0.3 + 2.0 * hist.empty), f"{100 * hist.empty:.0f}% of the values in the populated range "
                                                       "never occur (histogram gaps: the data were rescaled and "
                                                       "re-quantised)"))
    if (comb := hist.comb()) is not None:
        period, amp = comb
        if 1.9 <= period <= 2.1 and hist.empty == 0 and (ratio := half_even_ratio(scaled, v)) is not None:
            out.append((0.0, f"a period-2 comb in the histogram (one parity of values {ratio:.1f} times as frequent "
                             "as the other, none missing): values averaged over an even number of samples and "
                             "rounded half to even, processing of the whole image (a slab, an average projection), "
                             "not judged as an edit"))
        else:
            out.append((min(0.8, 0.3 + amp), f"periodic comb in the histogram (period {period:.1f} values, "
                                             f"amplitude {amp:.2f}): rescaled integer data"))
    g = int(np.gcd.reduce(np.abs(v[v != 0])[:200000])) if np.any(v) else 0
    if g >= 2:
        out.append((0.4, f"every stored value is a multiple of {g}: fewer bits in use than BitsStored declares"))
    return out


@dataclasses.dataclass(frozen=True)
class _Histogram:
    """The populated range of an integer histogram (counts, and where the local mean is at least 30) and the share
    of its values that never occur."""

    seg: np.ndarray
    smooth: np.ndarray  # the counts' running mean over 9 values
    ok: np.ndarray
    empty: float

    @classmethod
    def of(cls, values: np.ndarray, ints: np.ndarray | None = None) -> _Histogram | None:
        if values.size < 5000:
            return None
        c, _ = _counts(values, ints)
        smooth = ndi.uniform_filter1d(c.astype(float), 9)
        dense = np.flatnonzero(smooth >= 30)
        if dense.size < 64:
            return None
        seg = c[dense[0]: dense[-1] + 1].astype(float)
        sm = smooth[dense[0]: dense[-1] + 1]
        ok = sm >= 30
        return cls(seg, sm, ok, float(np.mean(seg[ok] == 0)))

    def comb(self) -> tuple[float, float] | None:
        """(period in values, amplitude) of a periodic comb, or None."""
        resid = np.where(self.ok, self.seg / np.maximum(self.smooth, 1e-9) - 1.0, 0.0)
        spec = np.abs(np.fft.rfft(resid - resid.mean()))[2:]
        if spec.size <= 16:
            return None
        peak, floor = float(spec.max()), float(np.median(spec)) + 1e-12
        amp = 2.0 * peak / max(1, int(self.ok.sum()))
        if peak / floor > 12.0 and amp > 0.15:
            return resid.size / (int(np.argmax(spec)) + 2), amp
        return None


def half_even_ratio(values: np.ndarray, ints: np.ndarray | None = None) -> float | None:
    """How many times the values of one parity outnumber the other's, where integer values (HU or stored) hold the
    comb of averages rounded half to even; else None.

    A mean of an even number n of integers (a slab of 2 or 4 slices, an average-intensity projection, a resampling by
    one half) ends in .5 for a share of voxels, and rounding half to even (numpy's ``rint``, C's ``rint`` and
    ``nearbyint`` in the default mode) sends all of them to one parity, which then holds (n + 1) / (n - 1) times the
    other's values: 3 for a mean of 2, 5/3 for 4, 7/5 for 6 (taken from 15% under to 10% over: a histogram's
    curvature pulls the measure towards 1, to 2.69 on a GE head slice), none missing, through the whole image.
    Measured per value as its count over the geometric mean of its two neighbours' (a slope cancels), the median over
    one parity against the other's (a peak's curvature cancels), over values held with both neighbours by at least
    10 voxels (12 or more of each parity), and no value missing where the counts' running mean over 9 values is 30
    or more: histograms too narrow for a comb's period to be read (a low-noise phantom's) are read too. A gain above
    1 empties values instead; a gain of 2/3 puts 2 and 1 input values on alternate outputs (ratio 2) and is not
    taken for this (a gain near 2/3 over most of an image, mixed with untouched values, could read as a mean of 4:
    not measured); a region's own comb is region-comb's. A CT series averaged over 2 slices this way scored physics
    0.98 (`tampered`) before."""
    if values.size < 5000:
        return None
    c, lo = _counts(values, ints)  # ``ints``: the values rounded, when the caller has them
    cf = c.astype(float)
    inner = np.arange(1, cf.size - 1)
    full = inner[(cf[inner] >= 10) & (cf[inner - 1] >= 10) & (cf[inner + 1] >= 10)]
    if np.any(cf[ndi.uniform_filter1d(cf, 9) >= 30] == 0):  # a value missing where values abound
        return None
    r = np.log(cf[full]) - 0.5 * (np.log(cf[full - 1]) + np.log(cf[full + 1]))
    parity = (full + lo) % 2 == 0
    if parity.sum() < 12 or (~parity).sum() < 12:
        return None
    ratio = float(np.exp(abs(np.median(r[parity]) - np.median(r[~parity])) / 2.0))
    return ratio if any(0.85 <= ratio / ((n + 1) / (n - 1)) <= 1.1 for n in (2, 4, 6)) else None


#: ImageType values (3 onwards) of a CT image computed from other slices: vendors' names for a multiplanar reformat,
#: a curved one and the projections and averages of a slab
REFORMATS = frozenset({"MPR", "REFORMATTED", "CURVED", "CPR", "MIP", "MINIP", "AVERAGE", "PROJECTION IMAGE"})
#: a slice whose normal lies further than this from the patient's long axis (|cos| under it: over 45 degrees) is not
#: an axial acquisition (gantry tilts reach about 30 degrees)
AXIAL_COS = 0.7


def reformatted(image: Any) -> str | None:
    """Why a CT image is not an axial slice reconstructed at its header's settings, or None: a localizer (a
    projection), a plane at more than 45 degrees to the axial, or an ImageType that declares a reformat. Its noise is
    then the source slices' after interpolation and averaging (or a projection's), not what its acquisition
    parameters and SliceThickness predict."""
    ds = image.dataset
    image_type = [str(v).strip().upper() for v in (ds.get("ImageType") or [])] if ds is not None else []
    if "LOCALIZER" in image_type[2:]:
        return "ImageType LOCALIZER: a projection that plans the scan, not a reconstructed slice"
    normal = image.geometry.normal
    if normal is not None and abs(float(normal[2])) < AXIAL_COS:
        return "a plane at more than 45 degrees to the axial (ImageOrientationPatient): a reformat of axial slices"
    if image_type[:1] == ["DERIVED"] and (kinds := sorted(REFORMATS.intersection(image_type[2:]))):
        return f"ImageType DERIVED, {kinds[0]}: computed from other slices"
    return None


def _declared(ds: Any, checks: list[tuple[float, str]]) -> list[tuple[float, str]]:
    """Re-quantisation that the header declares is processing, not tampering: DERIVED with a
    DerivationDescription, or a projection radiograph (DX, MG, IO) declared FOR PRESENTATION (Presentation Intent
    Type, Type 1 in those IODs, PS3.3 C.8.11.1, or the For Presentation SOP class): the modality has put it through
    its display processing (a tone curve, an equalisation), and such a curve leaves gaps wherever its slope exceeds
    1. The evidence is kept, at 0.3 of its severity."""
    if ds is None or not checks:
        return checks
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    if image_type[:1] == ["DERIVED"] and ds.get("DerivationDescription"):
        note = f" (declared: DERIVED, {str(ds.DerivationDescription)[:60]!r})"
    elif (str(ds.get("PresentationIntentType", "")).strip().upper() == "FOR PRESENTATION"
          or str(ds.get("SOPClassUID", "")) in FOR_PRESENTATION):
        note = " (declared: FOR PRESENTATION, processed by the modality for display)"
    else:
        return checks
    return [(0.3 * sev, text + note) for sev, text in checks]


class PhysicsCheck(Detector):
    """Physics vs acquisition parameters for CT and radiographs (see module docstring)."""

    name = "physics"
    version = "1"
    scope = Scope(modalities=frozenset({"CT"}) | RADIOGRAPHY, dims=frozenset({2, 3}))

    def __init__(self, noise_model: NoiseModel | None = None) -> None:
        self.noise_model = noise_model if noise_model is not None else NoiseModel.shipped()

    def run(self, image: Any) -> Finding:
        if (image.modality or "").upper() == "CT" and (reason := not_hounsfield(image.dataset, image.pixels)):
            raise NotApplicable(f"a derived map, not a reconstructed CT image: {reason}")
        if image.pixels.ndim == 3:
            if (image.modality or "").upper() == "CT":
                return self._frames(image)
            # cine and multi-frame fluoroscopy are processed and windowed frame by frame: none of these rules fits
            raise NotApplicable("multi-frame radiography (cine, fluoroscopy) is not judged by the physics checks")
        checks: list[tuple[float, str]] = []
        heat: np.ndarray | None = None
        modality = (image.modality or "").upper()
        if modality == "CT":
            heat = self._ct(image, checks)
        elif image.dataset is None:
            raise NotApplicable("radiograph physics checks need a DICOM header")
        else:
            self._radiograph(image, checks)
        self._geometry(image, checks)
        unique: dict[str, float] = {}
        for sev, text in checks:
            unique[text] = max(unique.get(text, 0.0), sev)
        score = 1.0 - float(np.prod([1.0 - s for s in unique.values()])) if unique else 0.0
        ordered = tuple(t for t, _ in sorted(unique.items(), key=lambda kv: -kv[1]))
        return Finding(min(1.0, max(0.0, score)), heat, ordered)

    def _frames(self, image: Any) -> Finding:
        """A multi-frame CT (Enhanced CT, or a legacy-converted one): each frame is a slice and is checked as one;
        the worst frame speaks for the image, the map keeps every frame's."""
        worst: tuple[float, int, Finding] | None = None
        heat = np.zeros(image.pixels.shape, np.float32)
        for i, frame in enumerate(image.pixels):
            try:
                f = self.run(dataclasses.replace(image, pixels=frame))
            except NotApplicable:
                continue
            if f.heatmap is not None:
                heat[i] = f.heatmap
            if worst is None or f.score > worst[0]:
                worst = (f.score, i, f)
        if worst is None:
            raise NotApplicable("no frame shows a patient or phantom for the CT physics checks")
        score, i, f = worst
        return Finding(score, heat, tuple(f"frame {i + 1} of {len(image.pixels)}: {e}" for e in f.evidence))

    # ------------------------------------------------------------------------------------------------ CT
    def _ct(self, image: Any, checks: list[tuple[float, str]]) -> np.ndarray:
        hu = image.pixels
        body, away = body_mask(hu, margin=6)
        heat = np.zeros(hu.shape, np.float32)
        rng = stored_range(image)
        pad = image.dataset.get("PixelPaddingValue") if image.dataset is not None else None
        exclude = {int(round(rng[0]))} if rng else {int(round(float(hu.min())))}
        if pad is not None and image.rescale is not None:
            pad_hu = int(round(float(pad) * image.rescale[0] + image.rescale[1]))
            if pad_hu <= AIR_FLOOR:  # padding lies outside the field of view, at or below the scanner's air clip
                exclude.add(pad_hu)
            else:  # a padding value among tissue values would hide a pile-up there (CT-GAN's floor at -1000 HU)
                checks.append((0.3, f"Pixel Padding Value is {pad_hu} HU, among tissue values: padding lies outside "
                                    "the field of view, below air; that value is judged like any other"))
        if body.sum() < 2000:
            raise NotApplicable("no patient or phantom found in the slice for the CT physics checks")
        inside = hu[body]
        lossy = lossy_reason(image)
        reformat = reformatted(image)
        if lossy:
            checks.append((0.0, f"noise and constant regions not judged: {lossy}, which removes noise and "
                                "flattens uniform tissue"))
        # HU calibration: air outside the body, and soft tissue / water inside it.
        outside = hu[away & (hu > -1200) & (hu < -500)]
        rounded, kept = np.rint(outside), np.ones(outside.shape, bool)
        for value in exclude:  # one or two values compared in turn: an eighth of np.isin's time (0.11 to 0.9 ms)
            kept &= rounded != value
        outside = outside[kept]
        if outside.size > 2000:
            air = float(np.median(outside))
            if abs(air + 1000.0) > 60.0:
                checks.append((min(0.9, (abs(air + 1000.0) - 60.0) / 150.0 + 0.3),
                               f"air outside the body is at {air:.0f} HU, not near -1000 HU (calibration altered)"))
        tissue = float(np.mean((inside > -200) & (inside < 200)))
        if inside.size > 20000 and tissue < 0.01:
            checks.append((0.4, f"only {100 * tissue:.1f}% of the body lies between -200 and 200 HU: no soft tissue "
                                "or water where there must be some"))
        # Hard floors and pile-ups inside the body.
        ints = np.rint(inside).astype(np.int64)  # the stored values in HU, for the pile-ups and histogram tests
        for value, count, z, kind in pileups(inside, exclude, ints=ints)[:2]:
            if value <= AIR_FLOOR or value >= SATURATION:
                continue  # scanners clip air near -1024 HU (GE at -1023) and saturate dense bone/metal (3071 HU)
            if lossy and kind == "spike":
                continue  # a lossy codec's plateau
            sev = min(0.95, 0.5 + 0.03 * (z - 6.0))
            if reformat and kind == "spike":  # a slab averaged from low-noise slices rounds a uniform material
                sev *= 0.3
            where = body & (np.rint(hu) == value)
            what = {"floor": "a hard floor (values clipped from below", "ceiling": "a hard ceiling (values clipped from above",
                    "spike": "a constant (a region set to one value"}[kind]
            checks.append((sev, f"{count} pixels inside the body sit exactly at {value} HU, {what}), as pasted "
                                f"and clipped regions leave (z={z:.0f})"
                                + (f" (declared: {reformat})" if reformat and kind == "spike" else "")))
            heat = np.maximum(heat, np.clip(ndi.gaussian_filter(where.astype(np.float32), 3.0) * 10.0, 0, 1))
        slope = image.rescale[0] if image.rescale else 1.0
        slope = slope if slope > 0 else 1.0
        checks.extend(_declared(image.dataset, requantisation(inside, slope, ints=ints if slope == 1.0 else None)))
        # Noise against the acquisition parameters.
        if self.noise_model is not None and not lossy:
            predicted = None if reformat else self.noise_model.predict(image.acquisition,
                                                                       image.geometry.slice_thickness)
            if reformat:
                checks.append((0.0, f"noise against kVp, mAs, kernel and slice thickness not judged: {reformat}"))
            if predicted is not None or reformat:
                sigma, _ = uniform_noise_sigma(hu)
                if predicted is not None and math.isfinite(sigma) and sigma > 0:
                    d = abs(math.log(sigma / predicted))
                    if d > self.noise_model.tolerance:
                        sev = min(0.8, 0.3 + (d - self.noise_model.tolerance) / math.log(4.0))
                        checks.append((sev, f"noise in uniform tissue is {sigma:.2f} HU where kVp, mAs, kernel and "
                                            f"slice thickness predict {predicted:.2f} HU"))
                elif sigma == 0:
                    checks.append((0.6, "no noise at all in uniform tissue: not a reconstructed CT slice"))
        return heat

    # ------------------------------------------------------------------------------------------------ radiographs
    def _radiograph(self, image: Any, checks: list[tuple[float, str]]) -> None:
        ds = image.dataset
        slope = image.rescale[0] if image.rescale and image.rescale[0] else 1.0
        px = image.pixels
        if px.size > 4_000_000:  # a 2k x 2k plate: the histogram of a quarter of the pixels says the same
            px = px[::2, ::2]
        if image_class(image.modality, image.source_format, image.bits_stored) == "picture":
            # Every radiography detector digitises 10-16 bits; 8-bit data were windowed or contrast-stretched
            # for display before they were stored, and that processing leaves the gaps this check reads.
            checks.append((0.0, "histogram not judged: 8-bit data are a display rendering (windowed before "
                                "storage), whose gaps say nothing about this file"))
        else:
            checks.extend(_declared(ds, requantisation(px - (image.rescale[1] if image.rescale else 0.0), slope)))
        try:
            ei = float(ds.get("ExposureIndex")) if ds.get("ExposureIndex") is not None else None
            target = float(ds.get("TargetExposureIndex")) if ds.get("TargetExposureIndex") is not None else None
            di = float(ds.get("DeviationIndex")) if ds.get("DeviationIndex") is not None else None
        except (TypeError, ValueError):
            checks.append((0.3, "ExposureIndex, TargetExposureIndex or DeviationIndex is not a number"))
            return
        if ei is not None and target and di is not None and ei > 0 and target > 0:
            expected = 10.0 * math.log10(ei / target)
            if abs(expected - di) > 0.5:
                checks.append((0.5, f"DeviationIndex {di:g} disagrees with ExposureIndex {ei:g} and its target "
                                    f"{target:g} (IEC 62494-1 gives {expected:.1f})"))

    # ------------------------------------------------------------------------------------------------ geometry
    def _geometry(self, image: Any, checks: list[tuple[float, str]]) -> None:
        ds = image.dataset
        spacing = image.geometry.pixel_spacing
        if ds is None or spacing is None:
            return
        cols, rows = int(ds.get("Columns", 0) or 0), int(ds.get("Rows", 0) or 0)
        modality = (image.modality or "").upper()
        if modality == "CT":
            if not (0.1 <= min(spacing) and max(spacing) <= 2.5):
                checks.append((0.3, f"pixel spacing {spacing[0]:g} x {spacing[1]:g} mm is implausible for CT"))
            try:
                fov = float(ds.get("ReconstructionDiameter")) if ds.get("ReconstructionDiameter") else None
            except (TypeError, ValueError):
                fov = None
            if fov and cols:
                implied = spacing[1] * cols
                if abs(implied - fov) / fov > 0.03:
                    checks.append((0.6, f"pixel spacing x columns gives a {implied:.0f} mm field of view, the header "
                                        f"says {fov:.0f} mm (resized without updating the header?)"))
        elif not (0.02 <= min(spacing) and max(spacing) <= 1.5):
            checks.append((0.3, f"pixel spacing {spacing[0]:g} x {spacing[1]:g} mm is implausible for a radiograph"))
        if rows and cols and image.pixels.shape[-2:] != (rows, cols):
            checks.append((0.5, "the pixel matrix differs from Rows x Columns"))
