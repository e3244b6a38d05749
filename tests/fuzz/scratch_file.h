// The fuzz targets' scratch file: the readers under test take a path (and resolve external
// data next to it), so each input is written to a file in a private folder in memory
// (/dev/shm when there is one), made once per process and removed at exit.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "onnx_train/limits.h"

namespace fuzz {

// tools/fuzz.sh runs the targets with -malloc_limit_mb=2048, which reports any allocation over
// 2 GiB as a finding. The runtime's own memory limit is set to the same 2 GiB (as --max-memory 2G
// would), so a model that asks for more (a Pad of huge pads computed at run time) is refused by
// the runtime's check with an Error naming the tensor, as on a machine with that much memory,
// instead of reaching malloc. Set once, before the first input.
inline const bool kMemoryLimitSet = [] {
  onnx_train::set_memory_limit(uint64_t{2} << 30);
  return true;
}();

inline const std::string& scratch_dir() {
  // Never destroyed: the exit handler that removes the folder runs after static destructors.
  static const std::string& dir = *new std::string([] {
    const char* base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string d = std::string(base) + "/onnx-train-fuzz-" + std::to_string(getpid());
    std::filesystem::create_directories(d);
    std::atexit([] { std::error_code ec; std::filesystem::remove_all(scratch_dir(), ec); });
    return d;
  }());
  return dir;
}

// Writes `size` bytes to scratch_dir()/name and returns the path.
inline std::string write_scratch(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

}  // namespace fuzz

// Under ASan an allocation the allocator cannot serve fails as it does without it (std::bad_alloc,
// which the code under test must turn into an onnx_train::Error) instead of aborting; libFuzzer's
// -malloc_limit_mb still reports a single allocation over the limit that succeeds.
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1"; }
