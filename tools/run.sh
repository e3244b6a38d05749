#!/usr/bin/env bash
# The main job on bundled defaults: set up, build, and fine-tune the bundled Fashion-MNIST CNN
# (models/fashion_cnn) for one epoch on Debian's dataset-fashion-mnist package, validating on
# its test set. Writes the trained model, a loss/accuracy plot, a JSON Lines log and
# checkpoints to runs/fashion_cnn/ (or $ONNX_TRAIN_RUN_DIR). Extra arguments go to onnx-train
# (e.g. --epochs 3).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/tools/setup.sh"
OUT="${ONNX_TRAIN_RUN_DIR:-$ROOT/runs/fashion_cnn}"
mkdir -p "$OUT"
exec "$ROOT/build/onnx-train" "$ROOT/models/fashion_cnn/model.onnx" /usr/share/datasets/fashion-mnist \
  --epochs 1 --batch-size 64 --lr 2e-3 \
  --export "$OUT/model.trained.onnx" --plot "$OUT/curves.svg" --log "$OUT/log.jsonl" \
  --checkpoint-dir "$OUT/checkpoints" "$@"
