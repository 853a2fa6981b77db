"""One-class site models: learn what is authentic at a site, flag what departs from it (issue 7).

Trained on authentic images only, so they do not depend on examples of any particular forgery:

- :mod:`.features`: multi-scale noise-residual and spectral window features (2D, high bit depth, 3D);
- :mod:`.padim`: PaDiM-style Gaussians per intensity bin over those features;
- :mod:`.noise_model`: the CT acquisition-to-noise model (kVp, mAs, kernel, thickness, HU);
- :mod:`.fingerprint`: radiography detector fixed-pattern noise (Chen-Fridrich 2008);
- :mod:`.model_file`: the versioned, pickle-free model file;
- :mod:`.model`: :class:`SiteModel` (scoring, save/load); :mod:`.train`: :func:`train`.

>>> from radtrust.forensics.oneclass import train, SiteModel
>>> train(["authentic/"]).save("site.npz")
>>> SiteModel.load("site.npz").score_image(image)
"""

from radtrust.forensics.oneclass.model import SiteModel
from radtrust.forensics.oneclass.train import TrainOptions, train

__all__ = ["SiteModel", "TrainOptions", "train"]
