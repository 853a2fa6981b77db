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
# (DICOM only: the JPEG picture in samples/picture has nowhere to hold a PS3.15 signature)
for part in ct cr; do
  radtrust sign "samples/$part" --key "$OUT/pki/signer.key" --cert "$OUT/pki/signer.pem" --profile creator \
    --out "$OUT/signed/$part"
done
TRUST=(--trust "$OUT/pki/root-ca.pem" --intermediate "$OUT/pki/chain.pem" --crl "$OUT/pki/crls.pem")
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
ds.compress(JPEG2000Lossless, px, generate_instance_uid=False); ds.save_as(sys.argv[2])
PY
status=0
radtrust verify "$OUT/tampered_ct_01.dcm" "${TRUST[@]}" || status=$?
echo "radtrust verify on the tampered copy: exit $status (1 = check failed, as expected)"

step "Content credentials: survive a PACS re-encoding, record a chain of custody, export to C2PA"
# `radtrust sign` above also issued a content credential (decoded pixels + critical metadata, COSE_Sign1-signed).
KEY=(--key "$OUT/pki/signer.key" --cert "$OUT/pki/signer.pem" --chain "$OUT/pki/chain.pem")
mkdir -p "$OUT/pacs"
if command -v gdcmconv >/dev/null; then   # what a PACS does: JPEG 2000 -> uncompressed, not one pixel changed
  gdcmconv --raw "$OUT/signed/ct/ct_02.dcm" "$OUT/pacs/ct_02.dcm"
else
  radtrust -q derive transcode "$OUT/signed/ct/ct_02.dcm" --to explicit-le "${KEY[@]}" --out "$OUT/pacs"
fi
radtrust verify "$OUT/pacs/ct_02.dcm" "${TRUST[@]}"
radtrust derive anonymize "$OUT/signed/ct" "${KEY[@]}" --pseudonym DEMO-001 --out "$OUT/anon"
radtrust derive compress "$OUT/anon/ct_03.dcm" --ratio 15 "${KEY[@]}" --out "$OUT/lossy"
radtrust verify "$OUT/lossy/ct_03.dcm" "${TRUST[@]}" --chain
radtrust credential export --c2pa "$OUT/lossy/ct_03.dcm" "${KEY[@]}"
python - "$OUT/lossy/ct_03.dcm" "$OUT/pki/root-ca.pem" <<'PY'
import sys
from radtrust.provenance.credential.c2pa_export import read_c2pa
r = read_c2pa(sys.argv[1], sys.argv[1] + ".c2pa", anchors_pem=open(sys.argv[2]).read())
print(f"C2PA Reader (c2pa-python) on {sys.argv[1]}.c2pa: {r['state']}")
PY

step "Red team (for evaluation only): CT-GAN style tampering of a copy of the sample study, with ground-truth masks"
# A lesion removed from the CT series by 3D in-painting (noise copied back, as CT-GAN does) and a nodule injected into
# the radiographs. Each writes the DICOM, NAME.mask.npy (True where pixels changed) and NAME.json: only the sidecar
# says the image is synthetic. New UIDs here so the copies sit beside the originals in the scan below.
radtrust simulate ct-remove-nodule samples/ct --out "$OUT/simulated" --seed 1 --antiforensics copy,histmatch \
  --name ct_removed --new-uids
radtrust simulate xr-inject-nodule samples/cr/RG1_crop.dcm --out "$OUT/simulated" --seed 1 --size 18 \
  --name cr_injected --new-uids
# The same edit on a JPEG picture of a radiograph (how most radiographs travel outside a PACS), stored losslessly
# as DICOM: the injected blocks leave the picture's JPEG quantisation lattice, which the jpeg-grid detector reads.
radtrust simulate xr-inject-nodule samples/picture/4d98e1de.jpg --out "$OUT/simulated" --seed 1 --size 18 \
  --name picture_injected
ls "$OUT/simulated"

step "Scan for tampering: the sample study and its tampered copies (forensics), then signed copies (signatures first)"
# The simulated copies carry new UIDs, so they form their own series beside the originals.
TAMPERED=()
for p in "$OUT"/simulat* "$OUT"/attack*; do [ -e "$p" ] && TAMPERED+=("$p"); done
status=0
radtrust scan samples "${TAMPERED[@]}" --format html --out "$OUT/scan-report.html" --jsonl "$OUT/scan.jsonl" \
  --heatmaps "$OUT/heatmaps" || status=$?
echo "scan exit $status (1 = something suspicious or tampered found); verdicts:"
python - "$OUT/scan.jsonl" <<'PY'
import json, sys
for r in (json.loads(l) for l in open(sys.argv[1])):
    if r["kind"] == "instance":
        print(f"  {r['verdict']:<10} {r['score']:.3f} {r['path']}" + (f": {r['evidence'][0][:90]}" if r["verdict"] != "authentic" and r["evidence"] else ""))
PY
echo "wrote $OUT/scan-report.html (thumbnails with heatmap overlays) and $(ls "$OUT/heatmaps" | wc -l) heatmaps in $OUT/heatmaps/"
# Signatures come first: the signed study is signed-authentic; the one-pixel copy is tampered, whatever forensics says.
radtrust scan "$OUT/signed/ct" --trust "$OUT/pki/root-ca.pem" --trust "$OUT/pki/chain.pem" || true
radtrust scan "$OUT/tampered_ct_01.dcm" --trust "$OUT/pki/root-ca.pem" --trust "$OUT/pki/chain.pem" || true

step "An archive that holds the original too: copies of one instance that disagree"
# The same CT removal with its UIDs kept, as a tampered copy in the PACS would sit beside the original in a backup.
# No detector sees this removal in the copy alone (noise copied back in); comparing the two copies finds it, and
# with --copies flag (an archive audit) marks the region in both and flags both (which one is the original, only a
# signature could say). By default a scan notes such copies in the evidence and leaves the verdicts to the detectors.
radtrust simulate ct-remove-nodule samples/ct --out "$OUT/archive/pacs" --seed 1 --antiforensics copy,histmatch \
  --name ct_removed
radtrust scan samples/ct "$OUT/archive/pacs" --copies flag --jsonl "$OUT/archive/scan.jsonl" -q || true
python - "$OUT/archive/scan.jsonl" <<'PY'
import json, sys
for r in (json.loads(l) for l in open(sys.argv[1])):
    if r["kind"] == "instance" and "archive" in r["path"]:
        copies = [e for e in r["evidence"] if e.startswith("copies:")]
        print(f"  {r['verdict']:<10} {r['path']}: {copies[0].split('differs: ')[-1] if copies else 'no copy differs'}")
PY

step "The same pixels under another patient: an identity swap filed as a new study, every UID new"
# Nothing in the swapped file contradicts itself; its pixels do, against the original's: two acquisitions never share
# their noise. The fingerprints go to a pixel index file, which later scans (or the gateway) compare against.
radtrust simulate meta-identity-swap samples/ct --out "$OUT/archive/refiled" --seed 2 --name ct_swapped
python - "$OUT/archive/refiled" <<'PY'
import sys
from pathlib import Path
import pydicom
from pydicom.uid import generate_uid
study, series, frame = generate_uid(), generate_uid(), generate_uid()
for f in sorted(Path(sys.argv[1]).rglob("*.dcm")):
    ds = pydicom.dcmread(f)
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.save_as(f, enforce_file_format=True)
PY
rm -f "$OUT/archive/pixels.sqlite"
radtrust scan samples/ct --pixel-index "$OUT/archive/pixels.sqlite" -q || true
radtrust scan "$OUT/archive/refiled" --copies flag --pixel-index "$OUT/archive/pixels.sqlite" \
  --jsonl "$OUT/archive/refiled.jsonl" -q || true
python - "$OUT/archive/refiled.jsonl" <<'PY'
import json, sys
for r in (json.loads(l) for l in open(sys.argv[1])):
    if r["kind"] == "instance":
        notes = [e for e in r["evidence"] if "holds" in e and e.startswith("copies:")]
        print(f"  {r['verdict']:<10} {r['path']}: {notes[0][:150] if notes else 'no note'}")
PY

step "Results as DICOM for the PACS: a Comprehensive SR (TID 1500) and a fractional SEG carrying the heatmaps"
radtrust report "$OUT/scan.jsonl" --dicom "$OUT/results"
if command -v dciodvfy >/dev/null; then
  for f in "$OUT"/results/*.dcm; do
    errors=$(dciodvfy "$f" 2>&1 | grep -c '^Error' || true)
    echo "  dciodvfy $(basename "$f"): $errors error(s)"
  done
fi
