// The text form of a Profile (onnx_train/profile.h), and the process's peak RSS.
#include "onnx_train/profile.h"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <map>

namespace onnx_train {

double ProfileSection::total_ms() const {
  double total = 0;
  for (const ProfileNode& n : nodes) total += n.total_ms;
  return total;
}

size_t peak_rss_bytes() {
  struct rusage usage {};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<size_t>(usage.ru_maxrss) * 1024;  // Linux reports kilobytes
}

namespace {

double per_run(double total_ms, int64_t runs) { return runs > 0 ? total_ms / static_cast<double>(runs) : 0.0; }

std::string megabytes(size_t bytes) { return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6); }

// "forward    12.345 ms  (41.2%)  per micro-batch, 9 runs, 57 nodes", one line per section.
void append_summary(std::string& out, const Profile& profile) {
  double total = 0;
  for (const ProfileSection& s : profile.sections) total += per_run(s.total_ms(), s.runs);
  out += "profile: ms per run of each section\n";
  for (const ProfileSection& s : profile.sections) {
    const double ms = per_run(s.total_ms(), s.runs);
    out += fmt::format("  {:<28} {:9.3f}  ({:5.1f}%)  {} runs, {} nodes\n", s.name, ms,
                       total > 0 ? 100 * ms / total : 0.0, s.runs, s.nodes.size());
  }
  out += fmt::format("  {:<28} {:9.3f}\n", "total", total);
}

// Time per op type, slowest first, with how many nodes have it.
void append_op_types(std::string& out, const ProfileSection& s) {
  std::map<std::string, std::pair<double, int>> by_op;
  for (const ProfileNode& n : s.nodes) {
    by_op[n.op_type].first += per_run(n.total_ms, s.runs);
    ++by_op[n.op_type].second;
  }
  std::vector<std::pair<double, std::string>> ops;
  for (const auto& [op, v] : by_op) ops.emplace_back(v.first, op);
  std::sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  out += fmt::format("{}: ms per run by op type (nodes)\n", s.name);
  for (const auto& [ms, op] : ops) out += fmt::format("  {:<28} {:9.3f}  ({})\n", op, ms, by_op[op].second);
}

// The `top` slowest nodes; a phase that knows its bytes also shows its bandwidth.
void append_slowest(std::string& out, const ProfileSection& s, size_t top) {
  std::vector<const ProfileNode*> nodes;
  for (const ProfileNode& n : s.nodes) nodes.push_back(&n);
  std::stable_sort(nodes.begin(), nodes.end(), [](auto* a, auto* b) { return a->total_ms > b->total_ms; });
  out += fmt::format("{}: slowest nodes, ms per run\n", s.name);
  for (size_t i = 0; i < nodes.size() && i < top; ++i) {
    const ProfileNode& n = *nodes[i];
    const double ms = per_run(n.total_ms, s.runs);
    out += fmt::format("  {:<40} {:<20} {:9.3f}", n.name, n.op_type, ms);
    if (n.bytes > 0 && ms > 0) out += fmt::format("  {:.1f} GB/s", static_cast<double>(n.bytes) / (ms * 1e6));
    out += "\n";
  }
}

}  // namespace

std::string format_profile(const Profile& profile, size_t top_nodes) {
  std::string out;
  append_summary(out, profile);
  for (const ProfileSection& s : profile.sections) {
    append_op_types(out, s);
    append_slowest(out, s, top_nodes);
  }
  if (profile.peak_pool_bytes > 0 || profile.peak_rss_bytes > 0) {
    out += "memory:";
    if (profile.peak_pool_bytes > 0) out += " peak intermediates " + megabytes(profile.peak_pool_bytes) + " (buffer pool)";
    if (profile.peak_pool_bytes > 0 && profile.peak_rss_bytes > 0) out += ",";
    if (profile.peak_rss_bytes > 0) out += " peak RSS " + megabytes(profile.peak_rss_bytes);
    out += "\n";
  }
  return out;
}

}  // namespace onnx_train
