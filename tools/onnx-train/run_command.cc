// onnx-train run and ops: running a model once on inputs from files (or a deterministic ramp)
// and printing its outputs, timing further runs per op; listing every op with its kernel and
// gradient versions. Inference only: nothing here trains.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "onnx_train/profile.h"
#include "onnx_train/session.h"
#include "tools/onnx-train/commands.h"
#include "tools/onnx-train/subcommands.h"
#include "tools/onnx-train/train_common.h"
#include "tools/onnx-train/train_options.h"

namespace onnx_train::cli {

namespace {

// A deterministic, non-trivial input: values ramp through [-1, 1).
Tensor ramp_input(const TensorSpec& spec, int64_t batch) {
  Shape shape = spec.shape;
  for (auto& d : shape)
    if (d < 0) d = batch;
  const DType dtype = spec.dtype == DType::Undefined ? DType::Float32 : spec.dtype;
  Tensor t(dtype, shape);
  const int64_t n = t.numel();
  if (dtype == DType::Float32) {
    float* p = t.data<float>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>((i * 37) % 200) / 100.0f - 1.0f;
  } else if (dtype == DType::Int64) {
    int64_t* p = t.data<int64_t>();
    for (int64_t i = 0; i < n; ++i) p[i] = i % 2;
  }
  return t;
}

void print_tensor(const std::string& name, const Tensor& t) {
  const auto values = t.to_doubles();
  double sum = 0, lo = 0, hi = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    sum += values[i];
    lo = i == 0 ? values[i] : std::min(lo, values[i]);
    hi = i == 0 ? values[i] : std::max(hi, values[i]);
  }
  std::printf("%s: %s  min %.6g  max %.6g  mean %.6g\n", name.c_str(), t.describe().c_str(), lo, hi,
              values.empty() ? 0.0 : sum / static_cast<double>(values.size()));
  // Small outputs are printed whole, one row per line of the last dimension.
  if (values.size() <= 100 && t.rank() > 0) {
    const size_t row = static_cast<size_t>(std::max<int64_t>(t.shape().back(), 1));
    for (size_t i = 0; i < values.size(); i += row) {
      std::printf("  ");
      for (size_t j = i; j < i + row && j < values.size(); ++j) std::printf(" %9.5g", values[j]);
      std::printf("\n");
    }
    return;
  }
  std::printf("  first values:");
  for (size_t i = 0; i < values.size() && i < 10; ++i) std::printf(" %.6g", values[i]);
  std::printf("%s\n", values.size() > 10 ? " ..." : "");
}

// The inference profile in the one format of onnx_train/profile.h: time per op type, the
// slowest nodes, and peak memory.
void print_profile(const Session& session, int runs) {
  Profile profile;
  ProfileSection section{"inference", runs, {}};
  for (const auto& t : session.node_times()) section.nodes.push_back(ProfileNode{t.node, t.op_type, t.total_ms, 0});
  profile.sections.push_back(std::move(section));
  profile.peak_pool_bytes = session.memory_stats().peak_bytes_in_use;
  profile.peak_rss_bytes = peak_rss_bytes();
  std::fputs(format_profile(profile).c_str(), stdout);
}

struct RunArgs {
  std::string model;
  std::map<std::string, std::string> input_files;  // model input -> a TensorProto file
  int64_t batch = 1;                               // for dynamic dimensions
  int repeat = 0;                                  // timed runs after the first
  bool profile = false;
  std::string lora_adapter;  // LoRA adapters to merge into the model before it runs
};

RunArgs parse_run_args(const std::vector<std::string>& args) {
  RunArgs r;
  const std::vector<std::string> rest = take_own_flags(
      "run", args,
      {{"--input",
        [&](const std::string& spec) {
          const auto eq = spec.find('=');
          if (eq == std::string::npos) throw Error("--input takes NAME=FILE.pb, got '" + spec + "'");
          r.input_files[spec.substr(0, eq)] = spec.substr(eq + 1);
        }},
       {"--batch", [&](const std::string& v) { r.batch = parse_whole_number("--batch", v, 1); }},
       {"--repeat", [&](const std::string& v) { r.repeat = static_cast<int>(parse_whole_number("--repeat", v, 0)); }},
       {"--profile", [&](const std::string&) { r.profile = true; }},
       {kMaxMemoryFlag, set_max_memory},
       {"--lora-adapter", [&](const std::string& v) { r.lora_adapter = v; }}});
  r.model = the_one_argument(rest, "run needs a model file; see onnx-train run --help");
  return r;
}

// The feeds: every model input from its file or as a ramp, each printed beside what the model
// declares. A file for an input the model does not have is an Error listing its inputs.
std::map<std::string, Tensor> feeds_of(const Session& session, RunArgs& r) {
  std::map<std::string, Tensor> feeds;
  for (const auto& spec : session.inputs()) {
    auto it = r.input_files.find(spec.name);
    if (it != r.input_files.end()) {
      feeds[spec.name] = read_tensor_file(it->second);
      r.input_files.erase(it);
    } else {
      feeds[spec.name] = ramp_input(spec, r.batch);
    }
    std::printf("input  %s: %s (model declares %s)\n", spec.name.c_str(), feeds[spec.name].describe().c_str(),
                spec.describe().c_str());
  }
  if (!r.input_files.empty()) {
    std::string names;
    for (const auto& spec : session.inputs()) names += (names.empty() ? "" : ", ") + spec.name;
    throw Error("the model has no input named '" + r.input_files.begin()->first + "'; its inputs are: " + names);
  }
  return feeds;
}

}  // namespace

int run_command(const std::vector<std::string>& args) {
  RunArgs r = parse_run_args(args);
  const MergedLoraModel model(r.model, r.lora_adapter);  // with adapters, the model runs merged
  auto session = Session::from_file(model.path());
  const std::map<std::string, Tensor> feeds = feeds_of(session, r);
  const auto outputs = session.run(feeds);
  for (size_t i = 0; i < outputs.size(); ++i) print_tensor("output " + session.outputs()[i].name, outputs[i]);
  if (r.repeat > 0) {
    // The first run above built and cached every primitive; these are steady-state runs.
    session.set_profiling(r.profile);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < r.repeat; ++i) session.run(feeds);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / r.repeat;
    std::printf("timing: %.3f ms per run (mean of %d runs)\n", ms, r.repeat);
    if (r.profile) print_profile(session, r.repeat);
  }
  return 0;
}

int ops_command(const std::vector<std::string>& args) {
  reject_unknown_options("ops", args);
  OT_CHECK(args.empty(), "ops takes no arguments, got '{}'; see onnx-train ops --help", fmt::join(args, " "));
  for (const auto& op : supported_ops()) {
    std::printf("%s%s:", op.domain.empty() ? "" : (op.domain + ".").c_str(), op.op_type.c_str());
    for (int v : op.since_versions) std::printf(" %d", v);
    if (op.since_versions.empty()) {
      std::printf(" (lowered to opset-17 ops)  | gradient: the lowered ops'");
    } else if (op.not_differentiable) {
      std::printf("  | gradient: none (not differentiable)");
    } else if (op.gradient_versions.empty()) {
      std::printf("  | gradient: no rule");
    } else {
      std::printf("  | gradient:");
      for (int v : op.gradient_versions) std::printf(" %d", v);
    }
    for (size_t i = 0; i < op.newer_versions.size(); ++i)
      std::printf("%s%d %s", i == 0 ? "  | opsets 18-23: " : "; ", op.newer_versions[i].first,
                  op.newer_versions[i].second.c_str());
    if (!op.bfloat16.empty()) std::printf("  | --precision bf16: %s", op.bfloat16.c_str());
    std::printf("\n");
  }
  return 0;
}

}  // namespace onnx_train::cli
