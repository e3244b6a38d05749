#!/usr/bin/env bash
# The whole test suite under AddressSanitizer (with LeakSanitizer) and UndefinedBehaviorSanitizer,
# every report fatal, then the fuzz targets for a short while (tools/fuzz.sh, when present).
#
#   tools/sanitized_tests.sh [--build DIR (default build-sanitize)] [--skip-fuzz]
#
# Configures DIR with clang, -DONNX_TRAIN_SANITIZE=ON and -DONNX_TRAIN_FUZZ=ON (ccache as the
# compiler launcher when it is installed), builds everything, runs ctest there with the options
# below and the suppressions of tests/sanitizer/ (third-party code only, each entry says why),
# then `tools/fuzz.sh --build DIR`. Prints how long each part took ("sanitized: build 9m12s")
# and exits non-zero when any part fails. Installs nothing: it needs clang, libclang-rt-14-dev
# (the sanitizer and libFuzzer runtimes), libomp-14-dev (clang's OpenMP) and llvm
# (llvm-symbolizer, for stack traces with file and line), which tools/setup.sh --tests installs.
# Extra arguments after `--` go to ctest (`-- -R unit_tests`).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build-sanitize"
skip_fuzz=0
ctest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD="$2"; shift 2 ;;
    --build=*) BUILD="${1#*=}"; shift ;;
    --skip-fuzz) skip_fuzz=1; shift ;;
    --) shift; ctest_args=("$@"); break ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "sanitized_tests.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac

# What the build needs and nothing installs here: name the packages instead of failing later.
missing=()
command -v clang++ >/dev/null 2>&1 || missing+=(clang)
for p in libclang-rt-14-dev libomp-14-dev llvm; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "sanitized_tests.sh: missing ${missing[*]}; install them with tools/setup.sh --tests" \
    "(or apt-get install ${missing[*]})" >&2
  exit 2
fi

duration() {  # seconds -> "9m12s"
  printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
}

launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

status=0
start=$SECONDS
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
  -DONNX_TRAIN_SANITIZE=ON -DONNX_TRAIN_FUZZ=ON "${launcher[@]}" >/dev/null &&
  cmake --build "$BUILD" -j "$(nproc)"
build_status=$?
build_time=$((SECONDS - start))
echo "sanitized: build $(duration $build_time)"
if [ $build_status -ne 0 ]; then
  echo "sanitized: the build FAILED" >&2
  exit 1
fi

# Every sanitizer report ends the process with a non-zero status, and LeakSanitizer runs at exit.
# detect_stack_use_after_return stays off: oneDNN's JIT kernels and the OpenMP runtimes switch
# stacks, which the fake stacks of that mode mistake for errors, and it doubles the run time.
SUPP="$ROOT/tests/sanitizer"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=0:symbolize=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$SUPP/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:report_error_type=1:suppressions=$SUPP/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
if ! command -v llvm-symbolizer >/dev/null 2>&1 && [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
  export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
fi
# ONNX Runtime for the CLI tests that compare exports with it (tools/test.sh installs it).
if [ -d "$ROOT/tests/cli/node_modules" ]; then
  export NODE_PATH="$ROOT/tests/cli/node_modules${NODE_PATH:+:$NODE_PATH}"
fi

start=$SECONDS
# Two tests at a time: the unit tests (the longest) overlap the conformance suite.
(cd "$BUILD" && ctest --output-on-failure --no-tests=error --timeout 3600 -j 2 "${ctest_args[@]}") 2>&1 |
  tee "$BUILD/sanitized-ctest.out"
test_status=${PIPESTATUS[0]}
test_time=$((SECONDS - start))
echo "sanitized: tests $(duration $test_time)"
if [ "$test_status" -ne 0 ]; then
  echo "sanitized: tests FAILED (the sanitizer reports are in $BUILD/Testing/Temporary/LastTest.log)" >&2
  status=1
fi

if [ $skip_fuzz = 0 ] && [ -f "$ROOT/tools/fuzz.sh" ]; then
  start=$SECONDS
  bash "$ROOT/tools/fuzz.sh" --build "$BUILD"
  fuzz_status=$?
  echo "sanitized: fuzz $(duration $((SECONDS - start)))"
  if [ $fuzz_status -ne 0 ]; then
    echo "sanitized: fuzzing FAILED (tools/fuzz.sh exit $fuzz_status)" >&2
    status=1
  fi
fi

echo "sanitized: build $(duration $build_time), tests $(duration $test_time)$([ "$status" = 0 ] && echo ", all passed" || echo ", FAILED")"
exit $status
