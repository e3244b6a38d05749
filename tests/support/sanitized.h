// tests/support/sanitized.h: what the tests change when the build runs them under AddressSanitizer
// (CMake's ONNX_TRAIN_SANITIZE compiles the tests with ONNX_TRAIN_SANITIZED=1; tools/sanitized_tests.sh).
// ASan reserves terabytes of address space for its shadow memory, so an address-space limit
// (RLIMIT_AS) stops it before main; its allocator keeps freed memory in a quarantine and its
// shadow adds to every page touched, so resident memory is larger. The tests that use either
// keep their meaning with ASan's own allocation limits and a wider memory bound.
#pragma once

#include <string>

namespace onnx_train::testing {

#ifdef ONNX_TRAIN_SANITIZED
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

// What ASan adds to a run's peak resident memory: mostly a fixed amount (its runtime, the
// instrumented binary, six times larger, and the shadow of what they touch), measured with
// onnx-train on models/fashion_cnn: inspect peaks at 21 MB plain and 81 MB sanitized, run at 27 MB
// and 88 MB; the hostile-input refusals at 57-85 MB. A bound on a plain run's peak is that bound
// plus this (not a multiple, which would hide a refusal that reads a few hundred MB first).
// 100 MB until the binary linked Open MPI, whose libraries took the npz bomb's sanitized refusal
// from about 250 to 268 MB.
inline constexpr long kResidentExtraKb = kSanitized ? 160 * 1024 : 0;

// How much slower instrumented code runs, for the few tests that bound a time: the CLI tests took
// 3.8x as long sanitized as plain (234 s against 62 s for the same 61 runs of onnx-train).
inline constexpr double kSlowdown = kSanitized ? 5 : 1;

// The ASAN_OPTIONS that stand in for an address-space limit of `bytes` under ASan: any single
// allocation above it fails (malloc and aligned_alloc return null, which the runtime turns into
// its "out of memory" errors; operator new, which cannot return null, ends the process with ASan's
// out-of-memory report, as an uncaught std::bad_alloc would; a refused allocation also puts one
// "WARNING: AddressSanitizer failed to allocate" line on stderr), and the process is stopped once
// its resident memory passes `bytes` (a bound the address-space limit implied).
inline std::string asan_limit_options(long bytes) {
  const std::string mb = std::to_string(bytes >> 20);
  return "max_allocation_size_mb=" + mb + ":allocator_may_return_null=1:hard_rss_limit_mb=" + mb;
}

}  // namespace onnx_train::testing
