"""The Orthanc configuration snippet that installs the radtrust plugin, generated from code.

The numbers of the user metadata and attachment types come from :mod:`.worker`, the plugin path from
this package and the Python path from the running interpreter, so the snippet always matches the
installed radtrust. Merge it into Orthanc's configuration (Debian: ``/etc/orthanc/``) and restart.
"""

from __future__ import annotations

import site
import sysconfig
from pathlib import Path
from typing import Any

from radtrust.services.orthanc.worker import USER_CONTENT_TYPES, USER_METADATA

PYTHON_PLUGIN = "/usr/share/orthanc/plugins/libOrthancPython.so"


def plugin_script() -> Path:
    return Path(__file__).with_name("plugin.py")


def python_path() -> list[str]:
    """Where radtrust and its dependencies are importable from (this interpreter's site-packages and src)."""
    paths = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    paths += [p for p in site.getsitepackages() if p not in paths]
    src = str(Path(__file__).resolve().parents[3])  # .../src for an editable install
    import radtrust

    if Path(radtrust.__file__).resolve().is_relative_to(src):
        paths.insert(0, src)
    return list(dict.fromkeys(paths))


def orthanc_config(*, trust: list[str] | None = None, model: str | None = None, scan: bool = True,
                   filter_incoming: bool = False, store_results: bool = True, fpr: float = 0.01,
                   pixel_index: str | None = None, pixel_memory_days: float | None = None,
                   plugin: str = PYTHON_PLUGIN) -> dict[str, Any]:
    """The configuration keys to merge into Orthanc's JSON configuration."""
    return {
        "Plugins": [plugin],
        "PythonScript": str(plugin_script()),
        "PythonVerbose": False,
        "UserMetadata": dict(USER_METADATA),
        "UserContentType": {name: [number, "application/json" if name == "RadTrust" else "application/octet-stream"]
                            for name, number in USER_CONTENT_TYPES.items()},
        "RadTrust": {
            "PythonPath": python_path(),
            "Trust": [str(Path(t).resolve()) for t in (trust or [])],
            "Model": str(Path(model).resolve()) if model else None,
            "Scan": scan,
            "Fpr": fpr,
            "FilterIncoming": filter_incoming,
            "StoreResults": store_results,
            "PixelIndex": str(Path(pixel_index).resolve()) if pixel_index else None,
            "PixelIndexDays": pixel_memory_days,
        },
    }
