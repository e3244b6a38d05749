// onnx_train/limits.h: the memory limit every input is checked against before memory is
// taken for it, and the caps on decompressed data.
//
// A file states its sizes (a model's initializer dims, an IDX or npy header, an image's width
// and height, a zip member's recorded size); the importers compare what a file declares with
// the bytes present and with this limit before allocating, and refuse with an Error of
// ErrorCategory::ResourceLimit that names the file, the tensor or field, the size and the
// limit. The limit is process-wide: set it once, before loading.
#pragma once

#include <cstdint>
#include <string>

namespace onnx_train {

// The memory limit in bytes: the one set_memory_limit gave, else default_memory_limit().
uint64_t memory_limit();

// Sets the memory limit to `bytes`; 0 goes back to the default.
void set_memory_limit(uint64_t bytes);

// The default limit: the smallest of the memory available on the machine (/proc/meminfo's
// MemAvailable, else the physical memory), the cgroup's memory.max, and the process's
// RLIMIT_AS and RLIMIT_DATA. Measured once, at first use.
uint64_t default_memory_limit();

// Where the current limit comes from, for messages: "--max-memory / set_memory_limit",
// "the memory available (MemAvailable)", "RLIMIT_AS", ...
std::string memory_limit_source();

// Parses a size as people write it: "512M", "4G", "1.5GiB", "64KB", "1000000" (bytes). K, M,
// G and T are powers of 1024 with or without "iB"/"B", in any case. "auto" is 0 (the default).
// Throws Error (ErrorCategory::Usage) for anything else, naming `what` ("--max-memory").
uint64_t parse_byte_size(const std::string& text, const std::string& what = "a size");

// `bytes` for people: "512 B", "95.4 MiB", "2 GiB".
std::string format_bytes(uint64_t bytes);

// Decompression caps: a compressed file or member of `compressed_bytes` may inflate to at most
// max(kMinDecompressedCap, kMaxDecompressionRatio x compressed_bytes) bytes, and never past the
// memory limit. Real data compresses 2-20-fold (Fashion-MNIST's .gz files 2-6-fold, numpy's
// savez_compressed labels about 10-fold); deflate's ceiling is about 1032-fold, which only
// runs of one byte reach: a bomb.
constexpr uint64_t kMaxDecompressionRatio = 200;
constexpr uint64_t kMinDecompressedCap = uint64_t{16} << 20;  // 16 MiB: small files are never capped by ratio

// The cap for `compressed_bytes` by ratio alone (the memory limit is checked separately).
uint64_t decompression_ratio_cap(uint64_t compressed_bytes);

}  // namespace onnx_train
