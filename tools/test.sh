#!/usr/bin/env bash
# The whole test suite: set up, build, run every test (unit tests and ONNX conformance).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/tools/setup.sh"
cd "$ROOT/build"
set +e
ctest --output-on-failure --timeout 1800 "$@" | tee ctest.out
status=${PIPESTATUS[0]}
set -e
# The totals inside each test binary, then ctest's own verdict as the closing line.
echo
grep -h -E "^conformance: |^gradcheck: |^\[  PASSED  \] [0-9]+ tests|^\[  FAILED  \] [0-9]+ tests" Testing/Temporary/LastTest.log || true
grep -E "tests passed, [0-9]+ tests failed" ctest.out || true
exit "$status"
