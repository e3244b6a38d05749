#!/usr/bin/env bash
# The main job on bundled defaults: set up, build, and run the bundled model.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/tools/setup.sh"
exec "$ROOT/build/onnx-train" run "$ROOT/models/fashion_cnn/model.onnx" \
  --input "input=$ROOT/models/fashion_cnn/sample_input.pb" "$@"
