#!/usr/bin/env bash
# The whole test suite: set up, build, run every test (unit tests and ONNX conformance), the
# benchmark once at tiny size, then the same suite in a clang AddressSanitizer +
# UndefinedBehaviorSanitizer build and every fuzz target for a minute (tools/sanitized_tests.sh;
# README "Reliability"). Prints how long each part took.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
minutes() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
part_start=$SECONDS
"$ROOT/tools/setup.sh" --tests
setup_time=$((SECONDS - part_start))

# ONNX Runtime for tests/cli/cli_e2e_test.cc (it runs tests/cli/ort_compare.js): Node.js and npm
# from Debian when missing, then onnxruntime-node from the npm registry into tests/cli/node_modules
# (--ignore-scripts: the package ships its CPU binaries; its install script only fetches GPU ones).
# Only what is missing; a failed install leaves the test to fail and say how to install.
node_missing=()
command -v node >/dev/null 2>&1 || node_missing+=(nodejs)
command -v npm >/dev/null 2>&1 || node_missing+=(npm)
if [ ${#node_missing[@]} -gt 0 ]; then
  echo "onnx-train tests: installing ${node_missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${node_missing[@]}"
fi
# 1.31.1 runs opsets up to 23 (Attention, RMSNormalization, RotaryEmbedding); an older copy
# left by an earlier run is replaced.
ORT_VERSION=1.31.1
ort_package="$ROOT/tests/cli/node_modules/onnxruntime-node/package.json"
if ! grep -q "\"version\": \"$ORT_VERSION\"" "$ort_package" 2>/dev/null; then
  echo "onnx-train tests: installing onnxruntime-node@$ORT_VERSION into tests/cli/node_modules"
  npm install --prefix "$ROOT/tests/cli" --ignore-scripts --no-save --no-package-lock --no-audit --no-fund \
    "onnxruntime-node@$ORT_VERSION" ||
    echo "onnx-train tests: could not install onnxruntime-node; the ONNX Runtime tests will fail"
fi
export NODE_PATH="$ROOT/tests/cli/node_modules${NODE_PATH:+:$NODE_PATH}"

cd "$ROOT/build"
set +e
part_start=$SECONDS
ctest --output-on-failure --no-tests=error --timeout 1800 "$@" | tee ctest.out
status=${PIPESTATUS[0]}
ctest_time=$((SECONDS - part_start))
# The benchmark once at tiny size (a few minutes): proves the one command of the README's
# "Performance" section works end to end; its numbers mean nothing at this size.
echo
echo "onnx-train tests: the benchmark at tiny size (tools/bench/compare.sh --tiny)"
part_start=$SECONDS
bash "$ROOT/tools/bench/compare.sh" --tiny --out "$ROOT/build/bench-tiny"
bench_status=$?
bench_time=$((SECONDS - part_start))
# The sanitizer build of everything, its whole suite, and every fuzz target (about 1 minute
# each): a finding anywhere fails the run.
echo
echo "onnx-train tests: the suite under ASan+UBSan, then the fuzzers (tools/sanitized_tests.sh)"
part_start=$SECONDS
bash "$ROOT/tools/sanitized_tests.sh"
sanitized_status=$?
sanitized_time=$((SECONDS - part_start))
set -e
# The totals inside each test binary, then ctest's own verdict as the closing line.
echo
grep -h -E "^conformance: |^gradcheck: |^kill test: |^\[  PASSED  \] [0-9]+ tests|^\[  FAILED  \] [0-9]+ tests" Testing/Temporary/LastTest.log || true
if [ "$bench_status" -ne 0 ]; then echo "onnx-train tests: the tiny benchmark FAILED (build/bench-tiny/logs)"; fi
if [ -f "$ROOT/build-sanitize/fuzz-summary.txt" ]; then cat "$ROOT/build-sanitize/fuzz-summary.txt"; fi
if [ "$sanitized_status" -ne 0 ]; then echo "onnx-train tests: the sanitizer build, its tests or the fuzzers FAILED (above)"; fi
echo "onnx-train tests: set-up and build $(minutes $setup_time), tests $(minutes $ctest_time)," \
  "tiny benchmark $(minutes $bench_time), sanitizers and fuzzing $(minutes $sanitized_time)"
grep -E "tests passed, [0-9]+ tests failed" ctest.out || true
if [ "$status" -eq 0 ]; then status=$bench_status; fi
if [ "$status" -eq 0 ]; then status=$sanitized_status; fi
exit "$status"
