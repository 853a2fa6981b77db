"""The radtrust Orthanc plugin script (orthanc-python 4.0 on Orthanc 1.10).

Orthanc runs this file (configuration key ``"PythonScript"``) in its embedded Python. It reads the
``"RadTrust"`` section of Orthanc's configuration, puts radtrust's environment on ``sys.path``, then
registers: an on-change callback that only queues (new instances, stable studies), the REST routes
``/radtrust/instances/{id}`` and ``/radtrust/studies/{id}``, and optionally an incoming C-STORE filter
that refuses instances with a broken signature. Generate the configuration with
``radtrust orthanc-config``; the work itself is in :mod:`radtrust.services.orthanc.worker`.
"""

import json
import sys

import orthanc  # provided by Orthanc's Python plugin

_settings = json.loads(orthanc.GetConfiguration()).get("RadTrust", {})
for _p in reversed(_settings.get("PythonPath", [])):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from radtrust.services.analysis import Analyzer  # noqa: E402
from radtrust.services.orthanc.worker import PluginWorker  # noqa: E402


def _register() -> PluginWorker:
    analyzer = Analyzer(_settings.get("Trust", []), model=_settings.get("Model"),
                        scan=_settings.get("Scan", True), fpr=float(_settings.get("Fpr", 0.01)))
    worker = PluginWorker(orthanc, analyzer, store_results=_settings.get("StoreResults", True),
                          pixel_index=_settings.get("PixelIndex"), pixel_memory_days=_settings.get("PixelIndexDays"))
    worker.start()
    orthanc.RegisterOnChangeCallback(worker.on_change)
    orthanc.RegisterRestCallback("/radtrust/instances/(.*)", worker.rest_instance)
    orthanc.RegisterRestCallback("/radtrust/studies/(.*)", worker.rest_study)
    if _settings.get("FilterIncoming", False):
        orthanc.RegisterIncomingCStoreInstanceFilter(worker.incoming_filter)
    orthanc.LogWarning("radtrust plugin ready (scan %s, trust anchors %d, incoming filter %s, pixel index %s)" % (
        analyzer.scan, len(analyzer.trust), bool(_settings.get("FilterIncoming", False)),
        _settings.get("PixelIndex") or "off"))
    return worker


WORKER = _register()
