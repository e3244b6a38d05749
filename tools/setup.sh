#!/usr/bin/env bash
# Installs what onnx-train needs on a fresh Debian 12 machine (only what is missing) and
# builds it into build/. Called by tools/run.sh (the onnx-train binary only) and by
# tools/test.sh (`--tests`: also the test suite and its data); safe to run again.
# `--list-packages` prints the Debian packages it installs (tests/setup/ checks them).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
with_tests=0 list_only=0 build=1
for arg in "$@"; do
  case "$arg" in
    --tests) with_tests=1 ;;
    --list-packages) list_only=1 ;;  # print the packages it would install, and stop
    --no-build) build=0 ;;           # install what is missing, and stop
    *) echo "usage: $0 [--tests] [--list-packages] [--no-build]" >&2; exit 2 ;;
  esac
done

# NOTE: Debian's oneDNN is built with its OpenCL GPU runtime, and its dnnl-config.cmake
# requires OpenCL headers and the ICD loader: without ocl-icd-opencl-dev, configuration
# stops at "Could NOT find OpenCL" (a recommends-only dependency, so --no-install-recommends
# leaves it out).
PACKAGES=(cmake ninja-build g++ pkg-config
          libonnx-dev libprotobuf-dev protobuf-compiler libdnnl-dev ocl-icd-opencl-dev libfmt-dev
          zlib1g-dev libzip-dev libpng-dev libjpeg-dev nlohmann-json3-dev
          libopenmpi-dev openmpi-bin
          dataset-fashion-mnist)
# Open MPI: data-parallel training across processes (mpirun -np N onnx-train ...); a build
# without it trains in one process.
# The tests also run the benchmark at tiny size (tools/bench/compare.sh): PyTorch exports
# and times its workloads, onnx.helper writes its deep MLPs. Debian's PyTorch does its matrix
# products outside oneDNN through the system BLAS: OpenBLAS, not the reference libblas3, so the
# benchmark compares against the fastest PyTorch Debian offers.
# The sanitizer and fuzz build (tools/sanitized_tests.sh, tools/fuzz.sh) is clang's: its ASan, UBSan
# and libFuzzer runtimes (libclang-rt-14-dev, only a Recommends of clang), its OpenMP (libomp-14-dev),
# and llvm for llvm-symbolizer (stack traces with files and lines) and the llvm-ar CMake picks with
# clang; CMake also records lld's linker when it is present, though the build links with ld.
if [ "$with_tests" = 1 ]; then
  PACKAGES+=(libgtest-dev libonnx-testdata python3-torch python3-torchvision python3-onnx libopenblas0-pthread
             clang libclang-rt-14-dev libomp-14-dev llvm lld)
fi
if [ "$list_only" = 1 ]; then printf '%s\n' "${PACKAGES[@]}"; exit 0; fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "onnx-train setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "$build" = 0 ]; then exit 0; fi

# The main job needs only the command line; the tests build everything.
targets=(--target onnx-train)
if [ "$with_tests" = 1 ]; then targets=(); fi
cmake -S "$ROOT" -B "$ROOT/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$ROOT/build" -j "$(nproc)" "${targets[@]}"
