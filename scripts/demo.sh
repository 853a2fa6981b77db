#!/usr/bin/env bash
# The radtrust demo: the whole product on the sample study in samples/, written to demo-out/.
# Each step is one radtrust command, as a user would type it.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=demo-out
rm -rf "$OUT"
mkdir -p "$OUT"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Read and summarise the sample study (CT series + computed radiograph)"
radtrust info samples/ct samples/cr
radtrust info samples --format jsonl > "$OUT/info.jsonl"
echo "wrote $OUT/info.jsonl ($(wc -l < "$OUT/info.jsonl") records)"

step "Sign at acquisition (DICOM PS3.15 signatures, DCMTK-compatible), verify, then catch a one-pixel change"
radtrust -q keys init "$OUT/pki"   # development PKI: NOT for production
radtrust sign samples --key "$OUT/pki/signer.key" --cert "$OUT/pki/signer.pem" --profile creator --out "$OUT/signed"
TRUST=(--trust "$OUT/pki/root-ca.pem" --chain "$OUT/pki/chain.pem" --crl "$OUT/pki/crls.pem")
radtrust verify "$OUT/signed" "${TRUST[@]}" --format jsonl > "$OUT/verify.jsonl"
echo "verified $(grep -c '"status": "valid"' "$OUT/verify.jsonl") of $(wc -l < "$OUT/verify.jsonl") files: valid"
if command -v dcmsign >/dev/null; then
  dcmsign --verify +cf "$OUT/pki/root-ca.pem" +uf "$OUT/pki/intermediate-ca.pem" "$OUT/signed/ct/ct_01.dcm" \
    && echo "DCMTK dcmsign agrees: signature OK"
fi
# The attacker: +1 HU in one pixel of a copy, re-encoded losslessly as JPEG 2000, headers untouched.
python - "$OUT/signed/ct/ct_01.dcm" "$OUT/tampered_ct_01.dcm" <<'PY'
import sys, pydicom
from pydicom.uid import JPEG2000Lossless
ds = pydicom.dcmread(sys.argv[1]); px = ds.pixel_array.copy(); px[256, 256] += 1
ds.compress(JPEG2000Lossless, px); ds.save_as(sys.argv[2])
PY
status=0
radtrust verify "$OUT/tampered_ct_01.dcm" "${TRUST[@]}" || status=$?
echo "radtrust verify on the tampered copy: exit $status (1 = check failed, as expected)"
