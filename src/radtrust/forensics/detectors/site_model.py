"""Site model detector: a one-class model of the site's authentic images (issue 7; :mod:`radtrust.forensics.oneclass`).

PaDiM-style Gaussians (Defard et al. 2020) over noise-residual and spectral window features per scanner/protocol
group, the CT acquisition-to-noise model and radiography detector fingerprints (Chen-Fridrich 2008), all learned from
authentic images only with ``radtrust train``. An image from a group the model was not trained on is *not applicable*
(with a note saying so): the zero-shot detectors then decide alone. Scores are 0.5 for an unremarkable image and rise
towards 1 as the image departs from the site's authentic data, so the model only adds evidence to the fusion.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from radtrust.errors import UsageError
from radtrust.forensics.detectors.base import Detector, Finding, Scope

if TYPE_CHECKING:
    from radtrust.forensics.oneclass.model import SiteModel
    from radtrust.io import Image, Series


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, size: int) -> SiteModel:
    from radtrust.forensics.oneclass.model import SiteModel

    return SiteModel.load(path)


class SiteModelDetector(Detector):
    name = "site-model"
    version = "1"
    scope = Scope(dims=frozenset({2, 3}))

    def __init__(self, model_path: str | os.PathLike[str] | None = None) -> None:
        if model_path is None:
            raise UsageError("detector site-model needs a model file: radtrust scan --model MODEL")
        path = Path(model_path)
        if not path.is_file():
            raise UsageError(f"no such model file: {path}")
        st = path.stat()
        self.model = _load(str(path.resolve()), st.st_mtime_ns, st.st_size)

    def run(self, image: Image) -> Finding:
        return self.model.score_image(image)

    def run_series(self, series: Series) -> Finding:
        return self.model.score_series(series)
