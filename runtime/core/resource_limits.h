// The checks the importers make against onnx_train/limits.h before allocating from a size a
// file declares. Each throws Error of ErrorCategory::ResourceLimit naming `what` (the file and
// the tensor, array or field: "model.onnx: initializer 'w' float32[1000, 1000]").
#pragma once

#include <cstdint>
#include <string_view>

#include "onnx_train/limits.h"

namespace onnx_train {

// Throws when `bytes` exceed the memory limit: "<what>: 100 MiB (104857600 bytes) is more than
// the memory limit of 64 MiB (as set by --max-memory); if the machine has the memory, ...".
void check_memory_limit(uint64_t bytes, std::string_view what);

// Throws when `decompressed_bytes` (declared, or read so far) exceed the decompression caps for
// `compressed_bytes` of compressed input: the ratio cap first, then the memory limit.
void check_decompressed_size(uint64_t decompressed_bytes, uint64_t compressed_bytes, std::string_view what);

}  // namespace onnx_train
