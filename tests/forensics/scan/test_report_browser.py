"""The HTML scan report in a real browser (headless Chromium from Debian): the page parses, the flagged image
comes first, the thumbnails our own PNG writer makes are decoded and show the heatmap overlay, and thumbnails of
images not flagged are capped (the rest are table rows)."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pydicom
from PIL import Image

from radtrust.cli import main
from radtrust.forensics import report
from tests.conftest import require_tool


def _chromium(*args: str) -> subprocess.CompletedProcess:
    exe = require_tool("chromium")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"]
    return subprocess.run([exe, *flags, *args], capture_output=True, text=True, timeout=120, check=True)


def test_report_renders_in_chromium_with_the_flagged_image_first(tmp_path, sample_ct_files, monkeypatch):
    folder = tmp_path / "study"
    folder.mkdir()
    for p in sample_ct_files:
        shutil.copy(p, folder / p.name)
    ds = pydicom.dcmread(sample_ct_files[2])
    ds.decompress(generate_instance_uid=False)  # the same instance, its pixels edited in place
    arr = ds.pixel_array.copy()
    arr[200:248, 300:348] = arr[200:248, 150:198]  # copy-move
    ds.PixelData = arr.tobytes()
    ds.save_as(folder / sample_ct_files[2].name, enforce_file_format=True)
    monkeypatch.setattr(report, "AUTHENTIC_THUMBNAILS", 3)
    page = tmp_path / "report.html"
    assert main(["scan", str(folder), "--format", "html", "--out", str(page)]) == 1

    dom = _chromium("--dump-dom", page.as_uri()).stdout
    assert dom.index("Flagged images") < dom.index("Other images")
    flagged = dom[dom.index("Flagged images"): dom.index("Other images")]
    assert sample_ct_files[2].name in flagged and ("tampered" in flagged or "suspicious" in flagged)
    assert len(re.findall(r"<img ", dom)) == 4  # the flagged slice and the first 3 of the 5 others
    rest = dom[dom.index("2 more image(s) not flagged, without thumbnails"):]
    assert rest.count("<tr><td><code>") == 2

    shot = tmp_path / "shot.png"
    _chromium("--window-size=1400,1400", f"--screenshot={shot}", page.as_uri())
    rgb = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    overlay = (r > 200) & (g > 170) & (b < 90)  # the red-to-yellow heatmap over the copied square, in the thumbnail
    grey = (abs(r - g) < 4) & (abs(g - b) < 4) & (r > 60) & (r < 200)  # the CT slices decoded from our PNGs
    assert overlay.sum() > 100 and grey.sum() > 20_000, (int(overlay.sum()), int(grey.sum()))


def test_report_html_from_a_resumed_scans_journal(tmp_path, sample_ct_files):
    """A resumed scan cannot write the HTML report (--resume with --format html is refused); `radtrust report
    JOURNAL --html` writes it from the records, the files they name and the heatmaps the scan wrote. A file gone
    since gets its card without a thumbnail, saying why. Rendered in Chromium like the scan's own report."""
    folder = tmp_path / "study"
    folder.mkdir()
    for p in sample_ct_files:
        shutil.copy(p, folder / p.name)
    ds = pydicom.dcmread(sample_ct_files[2])
    ds.decompress(generate_instance_uid=False)
    arr = ds.pixel_array.copy()
    arr[200:248, 300:348] = arr[200:248, 150:198]
    ds.PixelData = arr.tobytes()
    ds.save_as(folder / sample_ct_files[2].name, enforce_file_format=True)
    journal = tmp_path / "archive.jsonl"
    assert main(["scan", str(folder), "--jsonl", str(journal), "--resume", "--heatmaps", str(tmp_path / "heat"),
                 "-q"]) == 1
    (folder / sample_ct_files[5].name).unlink()  # moved away since the scan
    page = tmp_path / "report.html"
    assert main(["report", str(journal), "--html", str(page), "-q"]) == 0
    dom = _chromium("--dump-dom", page.as_uri()).stdout
    flagged = dom[dom.index("Flagged images"): dom.index("Other images")]
    assert sample_ct_files[2].name in flagged and len(re.findall(r"<img ", flagged)) == 1
    assert len(re.findall(r"<img ", dom)) == 5 and "report: no thumbnail" in dom  # 6 slices, one file gone
    shot = tmp_path / "shot.png"
    _chromium("--window-size=1400,1400", f"--screenshot={shot}", page.as_uri())
    rgb = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    overlay = (rgb[..., 0] > 200) & (rgb[..., 1] > 170) & (rgb[..., 2] < 90)
    assert overlay.sum() > 100  # the heatmap the scan wrote, over the copied square
    assert main(["report", str(journal), "-q"]) == 2  # nothing to write: a usage error
