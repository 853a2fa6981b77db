"""radtrust in the imaging workflow: checks that run where images flow, results the PACS can show.

- :mod:`radtrust.services.analysis`: the one analysis the services run on an instance (signature
  verification first, then the forensic scan), behind :class:`~radtrust.services.analysis.Analyzer`.
- :mod:`radtrust.services.results_dicom`: results as DICOM objects (Comprehensive SR on TID 1500,
  fractional Segmentation carrying the heatmap).
- :mod:`radtrust.services.gateway`: a DICOM C-STORE gateway in front of the PACS with a durable spool.
- :mod:`radtrust.services.orthanc`: the Orthanc Python plugin and its configuration snippet.
"""
