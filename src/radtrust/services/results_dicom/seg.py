"""A series' tamper heatmap as a fractional DICOM Segmentation (PS3.3 A.51, SegmentationType FRACTIONAL,
SegmentationFractionalType PROBABILITY), built with highdicom.

One segment, "Suspected tampering" (private scheme :mod:`.codes`); each frame is the heatmap of one
source instance, values clipped to [0, 1] and stored as 0..255. A viewer shows it as an overlay on the
source series. Sources must belong to one series (a SEG references one image series).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from radtrust import __version__
from radtrust.errors import InputError
from radtrust.services.results_dicom import codes
from radtrust.services.results_dicom.sr import MANUFACTURER, complete_type2


def _geometry_ready(ds: Dataset) -> Dataset:
    """highdicom needs a Frame of Reference and plane geometry; projection images may lack them."""
    if "ImageOrientationPatient" in ds and "ImagePositionPatient" in ds and "FrameOfReferenceUID" in ds:
        return ds
    def usable(value: Any) -> bool:
        try:
            return value is not None and len(value) == 2 and all(float(v) > 0 for v in value)
        except (TypeError, ValueError):
            return False

    if not usable(ds.get("PixelSpacing")):
        if usable(ds.get("ImagerPixelSpacing")):
            ds.PixelSpacing = ds.ImagerPixelSpacing
        elif "PixelSpacing" in ds:
            del ds.PixelSpacing  # a zero spacing (seen in real CR files) would make the SEG invalid
    return ds


def build_seg(records: Sequence[Mapping[str, Any]], sources: Mapping[str, Dataset],
              heatmaps: Mapping[str, np.ndarray], *, series_number: int = 9902, instance_number: int = 1,
              sop_instance_uid: str | None = None, series_instance_uid: str | None = None) -> Dataset:
    """Build the fractional SEG of one series from per-instance heatmaps (Rows x Columns each)."""
    pairs = []
    for rec in records:
        uid = rec.get("sop_instance_uid", "")
        if rec.get("kind", "instance") != "instance" or uid not in sources or uid not in heatmaps:
            continue
        src = sources[uid]
        heat = np.asarray(heatmaps[uid], dtype=np.float32)
        if heat.shape != (int(src.Rows), int(src.Columns)):
            raise InputError(f"heatmap of {uid} is {heat.shape}, the image is {src.Rows}x{src.Columns}",
                             rec.get("path"))
        pairs.append((src, heat))
    if not pairs:
        raise InputError("no instance has both a readable source and a heatmap; nothing to segment")
    series = {str(src.SeriesInstanceUID) for src, _ in pairs}
    if len(series) != 1:
        raise InputError(f"heatmaps span {len(series)} series; build one SEG per series")
    pairs.sort(key=lambda p: int(p[0].get("InstanceNumber", 0) or 0))
    import highdicom as hd
    from highdicom.seg import Segmentation, SegmentDescription

    src_ds = [_geometry_ready(complete_type2(src)) for src, _ in pairs]
    stack = np.stack([np.nan_to_num(np.clip(h, 0.0, 1.0)) for _, h in pairs]).astype(np.float32)
    segment = SegmentDescription(
        segment_number=1, segment_label="Suspected tampering",
        segmented_property_category=codes.SEG_CATEGORY, segmented_property_type=codes.SEG_TYPE,
        algorithm_type="AUTOMATIC",
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name="radtrust", family=codes.FINDING_TYPE, version=__version__))
    seg = Segmentation(
        source_images=src_ds, pixel_array=stack,
        segmentation_type="FRACTIONAL", fractional_type="PROBABILITY", max_fractional_value=255,
        segment_descriptions=[segment],
        series_instance_uid=series_instance_uid or generate_uid(), series_number=series_number,
        sop_instance_uid=sop_instance_uid or generate_uid(), instance_number=instance_number,
        manufacturer=MANUFACTURER, manufacturer_model_name="radtrust", software_versions=__version__,
        device_serial_number="radtrust", content_description="radtrust tamper probability heatmap",
        content_label="TAMPER", omit_empty_frames=False, series_description="radtrust tamper heatmap")
    seg.CodingSchemeIdentificationSequence = [codes.scheme_identification()]
    if "FrameOfReferenceUID" not in seg:  # projection images: General Image Type 2C
        seg.PatientOrientation = src_ds[0].get("PatientOrientation") or None
    return seg
