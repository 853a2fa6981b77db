"""radtrust: protect medical images against tampering and deepfakes.

The public entry points live in the subpackages, named for what they do:

- :mod:`radtrust.io`: the one way to read images (DICOM, PNG/JPEG/TIFF, NIfTI) and series.
- :mod:`radtrust.errors`: the error hierarchy every part raises.
"""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
