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
