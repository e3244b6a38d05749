#!/usr/bin/env bash
# The set-up half of tools/test.sh, checked quickly (tools/fresh_root_check.sh packages runs it in
# a new Debian 12 root): installs what the tests need, configures the Release build and the
# clang sanitizer and fuzz build, checks that every file either configuration found comes from a
# package tools/setup.sh installs (tests/setup/setup_packages_test.sh), and that clang compiles,
# links and runs a program with AddressSanitizer, UndefinedBehaviorSanitizer, libFuzzer and
# OpenMP, as the sanitizer build's programs are.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup.sh" --tests --no-build
cmake -S "$ROOT" -B "$ROOT/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake -S "$ROOT" -B "$ROOT/build-sanitize" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
  -DONNX_TRAIN_SANITIZE=ON -DONNX_TRAIN_FUZZ=ON >/dev/null
bash "$ROOT/tests/setup/setup_packages_test.sh" "$ROOT" "$ROOT/build"
bash "$ROOT/tests/setup/setup_packages_test.sh" "$ROOT" "$ROOT/build-sanitize"
probe="$(mktemp -d)"
cat >"$probe/fuzz.cc" <<'CC'
#include <cstddef>
#include <cstdint>
#include <vector>
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<int> v(size + 1);
#pragma omp parallel for
  for (int i = 0; i < static_cast<int>(size); ++i) v[i] = data[i];
  return v[size];
}
CC
clang++ -O1 -g -fsanitize=address,undefined,fuzzer -fopenmp "$probe/fuzz.cc" -o "$probe/fuzz"
"$probe/fuzz" -runs=2000 >"$probe/fuzz.log" 2>&1 || { cat "$probe/fuzz.log"; exit 1; }
grep -h "Done 2000 runs" "$probe/fuzz.log"
echo "fresh root packages: both builds configure, their files come from listed packages, clang fuzzes with ASan+UBSan"
