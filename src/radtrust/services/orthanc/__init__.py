"""radtrust inside Orthanc: the Python plugin (:mod:`.plugin`, run by Orthanc), its worker
(:mod:`.worker`) and the configuration snippet that installs it (:func:`orthanc_config`)."""

from radtrust.services.orthanc.config import orthanc_config, plugin_script

__all__ = ["orthanc_config", "plugin_script"]
