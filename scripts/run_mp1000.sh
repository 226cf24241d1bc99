#!/usr/bin/env bash
# Every Table I preset, AE-CGCNN without plane waves, and GeoCGNN on the same 1,000 MEGNet-train crystals,
# 500 MEGNet-val crystals for model selection, the full standard MEGNet test set; 50 epochs, seed 0.
# Usage: scripts/run_mp1000.sh [OUT_DIR] [extra aecgcnn train args]
set -euo pipefail
out=${1:-runs/mp1000}; shift || true
common=(--dataset mp-megnet-2018 --split file --train-size 1000 --val-size 500 --epochs 50 --seed 0 "$@")
for preset in cgcnn edge attention cg atten2 ae-cgcnn; do
  aecgcnn train "${common[@]}" --preset "$preset" --compile --out "$out/$preset"
done
aecgcnn train "${common[@]}" --preset ae-cgcnn --geo-features radial --compile --out "$out/ae-cgcnn-radial"
aecgcnn train "${common[@]}" --model geocgnn --compile --out "$out/geocgnn"
