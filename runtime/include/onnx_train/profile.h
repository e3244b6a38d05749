// onnx_train/profile.h: where the time and memory of a run go, and the one text form of it
// that `onnx-train run --profile`, `onnx-train train --profile` and `train_step_bench
// --profile` print.
//
//   session.set_profiling(true);              // TrainingSession (or Session, for inference)
//   for (...) session.train_step(feeds);
//   std::fputs(onnx_train::format_profile(session.profile()).c_str(), stdout);
//
// A profile is split into sections: "forward" (the nodes of the model and its loss),
// "backward" (the nodes the gradient builder appended), "optimizer" (the optimizer pass:
// gradient accumulation, the non-finite check or clipping, the update), or "inference". Each
// section counts the passes it timed (runs); its nodes' times are totals over those runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace onnx_train {

struct ProfileNode {
  std::string name;     // the node's name (its first output when unnamed), or the optimizer phase
  std::string op_type;  // the node's op type, or what the phase is ("adamw", "clip_grad_norm", ...)
  double total_ms = 0;  // wall time summed over the section's runs
  int64_t bytes = 0;    // bytes a phase reads and writes per run (0: not known), for GB/s
};

struct ProfileSection {
  std::string name;  // "forward", "backward", "optimizer", "inference"
  int64_t runs = 0;  // passes timed: plan runs (micro-batches), or optimizer steps
  std::vector<ProfileNode> nodes;  // in execution order
  double total_ms() const;         // summed over nodes and runs
};

struct Profile {
  std::vector<ProfileSection> sections;
  size_t peak_pool_bytes = 0;  // high-water mark of intermediates in the plans' buffer pools (0: not known)
  size_t peak_rss_bytes = 0;   // the process's peak resident set size (0: not known)
};

// The report: a summary line per section (ms per run and share of the total), then per
// section the time per op type (with node counts) and the `top_nodes` slowest nodes, then the
// peak memory. Times are per run of their section.
std::string format_profile(const Profile& profile, size_t top_nodes = 10);

// The peak resident set size of this process so far, in bytes (getrusage; 0 where unknown).
size_t peak_rss_bytes();

}  // namespace onnx_train
