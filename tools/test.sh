#!/usr/bin/env bash
# The whole test suite: set up, build, run every test (unit tests and ONNX conformance).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/tools/setup.sh"
cd "$ROOT/build"
ctest --output-on-failure --timeout 1800 "$@"
