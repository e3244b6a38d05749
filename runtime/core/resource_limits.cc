// The process-wide memory limit (onnx_train/limits.h) and the checks against it
// (runtime/core/resource_limits.h).
#include "runtime/core/resource_limits.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>

#include "onnx_train/error.h"

namespace onnx_train {

namespace {

std::atomic<uint64_t> g_set_limit{0};  // 0: the default

struct DefaultLimit {
  uint64_t bytes = UINT64_MAX;
  std::string source;
  void take(uint64_t candidate, const std::string& what) {
    if (candidate > 0 && candidate < bytes) {
      bytes = candidate;
      source = what;
    }
  }
};

// MemAvailable from /proc/meminfo in bytes, or 0.
uint64_t mem_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return kb * 1024;
  }
  return 0;
}

// The cgroup (v2) memory.max of this process's group, or 0 when there is none ("max").
uint64_t cgroup_memory_max() {
  std::ifstream in("/sys/fs/cgroup/memory.max");
  std::string text;
  if (!(in >> text) || text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return 0;
  return std::strtoull(text.c_str(), nullptr, 10);
}

uint64_t rlimit_of(int resource) {
  rlimit limit{};
  if (getrlimit(resource, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 0;
  return static_cast<uint64_t>(limit.rlim_cur);
}

const DefaultLimit& measured_default() {
  static const DefaultLimit limit = [] {
    DefaultLimit d;
    if (const uint64_t available = mem_available(); available > 0) {
      d.take(available, "the memory available on this machine (MemAvailable)");
    } else {
      const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
      if (pages > 0 && page > 0)
        d.take(static_cast<uint64_t>(pages) * static_cast<uint64_t>(page), "the machine's physical memory");
    }
    d.take(cgroup_memory_max(), "the cgroup's memory.max");
    d.take(rlimit_of(RLIMIT_AS), "the process's address-space limit (RLIMIT_AS, ulimit -v)");
    d.take(rlimit_of(RLIMIT_DATA), "the process's data limit (RLIMIT_DATA, ulimit -d)");
    if (d.source.empty()) d.source = "no limit found";
    return d;
  }();
  return limit;
}

}  // namespace

uint64_t default_memory_limit() { return measured_default().bytes; }

uint64_t memory_limit() {
  const uint64_t set = g_set_limit.load(std::memory_order_relaxed);
  return set != 0 ? set : default_memory_limit();
}

void set_memory_limit(uint64_t bytes) { g_set_limit.store(bytes, std::memory_order_relaxed); }

std::string memory_limit_source() {
  if (g_set_limit.load(std::memory_order_relaxed) != 0) return "as set by --max-memory";
  return "by default " + measured_default().source;
}

uint64_t parse_byte_size(const std::string& text, const std::string& what) {
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto bad = [&]() -> Error {
    return Error(fmt::format("{} takes a size such as 512M, 4G or 1.5GiB (K, M, G, T: powers of 1024), or auto; "
                             "got '{}'",
                             what, text),
                 ErrorCategory::Usage);
  };
  if (lower == "auto") return 0;
  size_t end = 0;
  while (end < lower.size() && (std::isdigit(static_cast<unsigned char>(lower[end])) || lower[end] == '.')) ++end;
  const std::string number = lower.substr(0, end);
  std::string unit = lower.substr(end);
  if (number.empty() || std::count(number.begin(), number.end(), '.') > 1 || number == ".") throw bad();
  if (unit.size() > 1 && unit.back() == 'b') unit.pop_back();   // MB, MiB
  if (unit.size() == 2 && unit.back() == 'i') unit.pop_back();  // Mi
  int shift = 0;
  if (unit == "" || unit == "b")
    shift = 0;
  else if (unit == "k")
    shift = 10;
  else if (unit == "m")
    shift = 20;
  else if (unit == "g")
    shift = 30;
  else if (unit == "t")
    shift = 40;
  else
    throw bad();
  const long double value = std::strtold(number.c_str(), nullptr) * std::ldexp(1.0L, shift);
  if (!(value >= 1) || value >= 0x1p63L)
    throw Error(fmt::format("{} {}: the size must be at least 1 byte and below 8 EiB", what, text),
                ErrorCategory::Usage);
  return static_cast<uint64_t>(std::llroundl(value));
}

std::string format_bytes(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  int unit = 0;
  long double value = static_cast<long double>(bytes);
  while (value >= 1024 && unit < 6) {
    value /= 1024;
    ++unit;
  }
  std::string number = fmt::format("{:.1f}", static_cast<double>(value));
  if (number.size() > 2 && number.compare(number.size() - 2, 2, ".0") == 0) number.resize(number.size() - 2);
  return number + " " + kUnits[unit];
}

uint64_t decompression_ratio_cap(uint64_t compressed_bytes) {
  const uint64_t by_ratio = compressed_bytes > UINT64_MAX / kMaxDecompressionRatio
                                ? UINT64_MAX
                                : compressed_bytes * kMaxDecompressionRatio;
  return std::max(kMinDecompressedCap, by_ratio);
}

void check_memory_limit(uint64_t bytes, std::string_view what) {
  const uint64_t limit = memory_limit();
  if (bytes <= limit) return;
  OT_FAIL_AS(ErrorCategory::ResourceLimit,
             "{}: {} ({} bytes) is more than the memory limit of {} ({}); if the machine has the memory, raise the "
             "limit (--max-memory SIZE, or onnx_train::set_memory_limit)",
             what, format_bytes(bytes), bytes, format_bytes(limit), memory_limit_source());
}

void check_decompressed_size(uint64_t decompressed_bytes, uint64_t compressed_bytes, std::string_view what) {
  const uint64_t cap = decompression_ratio_cap(compressed_bytes);
  if (decompressed_bytes > cap)
    OT_FAIL_AS(ErrorCategory::ResourceLimit,
               "{}: {} ({} bytes) decompressed from {} is more than the decompression cap of {} (at most {}-fold, or "
               "{} for any file); real data does not compress so well: this looks like a decompression bomb (store "
               "the data uncompressed if it is real)",
               what, format_bytes(decompressed_bytes), decompressed_bytes, format_bytes(compressed_bytes),
               format_bytes(cap), kMaxDecompressionRatio, format_bytes(kMinDecompressedCap));
  check_memory_limit(decompressed_bytes, what);
}

}  // namespace onnx_train
