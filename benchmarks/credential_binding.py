"""Benchmark: the content credential's extra cost over a PS3.15 signature, against the pixel decode time.

Run from the repository root (needs ../shared/data/ct/ge_head and ../shared/data/ct/siemens_abdomen):

    .venv/bin/python benchmarks/credential_binding.py --repeat 3

For every slice of two authentic CT series (GE head: uncompressed; Siemens abdomen: JPEG 2000 lossless), in one
process on one core, the median over ``--repeat`` runs of:

* ``sign``: a PS3.15 signature alone (``sign_bytes``, ECDSA P-256, SHA-256 MAC);
* ``sign+credential``: what ``radtrust sign`` does by default (``sign_with_credential``: bind, COSE-sign, embed,
  then the PS3.15 signature);
* ``decode``: decoding the pixel data through ``radtrust.io`` (pydicom + pylibjpeg), the floor of any binding
  over decoded pixels;
* ``binding``: ``compute_binding`` alone (decode + canonical values + per-frame and attribute hashes);
* ``verify credential``: read + decode + compare + chain walk of the signed file.

Prints a table (milliseconds per slice) and one JSON line.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "ct"
sys.path.insert(0, str(ROOT / "src"))


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def bench_series(files: list[Path], signer, trust, repeat: int) -> dict[str, float]:
    import pydicom

    from radtrust.config import Limits
    from radtrust.io.dicom import decode_pixels
    from radtrust.provenance.credential.binding import compute_binding
    from radtrust.provenance.credential.ps315 import sign_with_credential
    from radtrust.provenance.credential.verify import verify_dataset
    from radtrust.provenance.signatures.sign import sign_bytes

    limits = Limits()
    totals = {"sign": 0.0, "sign+credential": 0.0, "decode": 0.0, "binding": 0.0, "verify credential": 0.0}
    for f in files:
        data = f.read_bytes()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")

            def read():
                return pydicom.dcmread(io.BytesIO(data))

            totals["sign"] += _median_ms(lambda: sign_bytes(data, signer, mac="sha256"), repeat)
            totals["sign+credential"] += _median_ms(lambda: sign_with_credential(data, signer, path=f, mac="sha256"),
                                                    repeat)
            totals["decode"] += _median_ms(lambda: decode_pixels(read(), f, limits), repeat)
            totals["binding"] += _median_ms(lambda: compute_binding(read(), f), repeat)
            signed, _ = sign_with_credential(data, signer, path=f, mac="sha256")
            totals["verify credential"] += _median_ms(
                lambda: verify_dataset(pydicom.dcmread(io.BytesIO(signed)), f, trust=trust), repeat)
    n = len(files)
    out = {k: round(v / n, 2) for k, v in totals.items()}
    out["extra"] = round(out["sign+credential"] - out["sign"], 2)
    out["extra_over_decode"] = round(out["extra"] / out["decode"], 2)
    out["slices"] = n
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="runs per slice and measurement (median)")
    args = ap.parse_args()
    from radtrust.provenance.credential import load_certificates, load_signer
    from radtrust.provenance.signatures.pki import init_dev_pki

    series = {"ge_head (uncompressed)": sorted((DATA / "ge_head").glob("*.dcm")),
              "siemens_abdomen (JPEG 2000 lossless)": sorted((DATA / "siemens_abdomen").glob("CT.*"))}
    if not all(series.values()):
        sys.exit(f"needs {DATA}/ge_head and {DATA}/siemens_abdomen (see ../shared/data/README.md)")
    with tempfile.TemporaryDirectory() as tmp:
        pki = init_dev_pki(Path(tmp) / "pki", "ecdsa")
        signer = load_signer(pki.signer_key, pki.signer_cert, pki.chain)
        trust = load_certificates(pki.root)
        results = {name: bench_series(files, signer, trust, args.repeat) for name, files in series.items()}
    cols = ["sign", "sign+credential", "extra", "decode", "extra_over_decode", "binding", "verify credential"]
    print(f"{'ms per slice':38}" + "".join(f"{c:>18}" for c in cols))
    for name, r in results.items():
        print(f"{name + ' x' + str(r['slices']):38}" + "".join(f"{r[c]:>18}" for c in cols))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
