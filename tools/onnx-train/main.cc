// onnx-train: the command line. `onnx-train MODEL.onnx DATA_DIR` fine-tunes a model
// (tools/onnx-train/train_command.cc); eval, inspect, graph and export are in commands.cc;
// run, training-graph and ops (running a model, writing the gradient graph of any value,
// listing op support) are here. --help documents everything.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <new>
#include <string>
#include <vector>

#include "onnx_train/session.h"
#include "onnx_train/training.h"
#include "runtime/core/printable.h"
#include "tools/onnx-train/commands.h"
#include "tools/onnx-train/train_options.h"

namespace {

using onnx_train::DType;
using onnx_train::Tensor;

void print_usage() {
  std::cout
      << "usage: onnx-train MODEL.onnx DATA_DIR [options]     fine-tune MODEL on the data in DATA_DIR\n"
         "       onnx-train eval MODEL.onnx DATA_DIR [options] loss and accuracy (on DATA_DIR's val split if any)\n"
         "       onnx-train inspect MODEL.onnx [options]       inputs, outputs, parameters, ops and their support\n"
         "       onnx-train graph MODEL.onnx -o OUT.onnx [options]  write the training graph (forward, loss, "
         "backward)\n"
         "       onnx-train export CHECKPOINT -o OUT.onnx      the inference model with a checkpoint's weights\n"
         "       onnx-train run MODEL.onnx [--input NAME=FILE.pb ...] [--batch N] [--repeat N [--profile]]\n"
         "       onnx-train training-graph MODEL.onnx --loss VALUE -o OUT.onnx [--freeze REGEX]... [--input-grad "
         "NAME]...\n"
         "       onnx-train ops                                every supported op: kernel and gradient versions\n"
         "\n"
         "DATA_DIR holds train/ and optionally val/ (or the files themselves): NAME.npy per model input and for the\n"
         "label (first axis = samples), .npz, ONNX test_data_set_*/ folders, CSV with a header, MNIST-style IDX files\n"
         "(also .gz), or image classification folders (train/<class>/*.png|jpg). Files are matched to the model's\n"
         "input names and to the label.\n"
         "\n"
         "training options (also taken by eval, inspect, graph):\n"
      << onnx_train::cli::train_options_help()
      << "\n"
         "run: load MODEL.onnx, run it once on inputs from files (or a deterministic ramp) and print its outputs;\n"
         "     dynamic dimensions take --batch; --repeat N times N more runs, --profile adds time per op.\n"
         "training-graph: the forward + backward graph of any value of the model (gradients of every float\n"
         "     initializer that reaches it, except --freeze matches).\n";
}

// A deterministic, non-trivial input: values ramp through [-1, 1).
Tensor ramp_input(const onnx_train::TensorSpec& spec, int64_t batch) {
  onnx_train::Shape shape = spec.shape;
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

// training-graph MODEL --loss NAME -o OUT [--freeze REGEX]... [--input-grad NAME]...
int training_graph_command(const std::vector<std::string>& args) {
  std::string model, out;
  onnx_train::TrainingGraphOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    const bool has_value = i + 1 < args.size();
    if (args[i] == "--loss" && has_value)
      options.loss = args[++i];
    else if (args[i] == "-o" && has_value)
      out = args[++i];
    else if (args[i] == "--freeze" && has_value)
      options.freeze.push_back(args[++i]);
    else if (args[i] == "--input-grad" && has_value)
      options.input_gradients.push_back(args[++i]);
    else if (model.empty() && args[i].rfind("-", 0) != 0)
      model = args[i];
    else
      throw onnx_train::Error("unexpected argument '" + args[i] + "'; see onnx-train --help");
  }
  if (model.empty() || out.empty() || options.loss.empty())
    throw onnx_train::Error("training-graph needs MODEL.onnx, --loss NAME and -o OUT.onnx; see onnx-train --help");
  const auto info = onnx_train::write_training_graph(model, out, options);
  std::printf("wrote %s: %zu forward + %zu backward nodes (backward built in %.1f ms), gradients of %zu values:\n",
              out.c_str(), info.forward_nodes, info.backward_nodes, info.build_seconds * 1e3, info.gradients.size());
  for (const auto& [value, grad] : info.gradients) std::printf("  %s -> %s\n", value.c_str(), grad.c_str());
  if (!info.promoted_constants.empty())
    std::printf("weights held in Constant nodes, made trainable initializers: %s\n",
                fmt::format("{}", fmt::join(info.promoted_constants, ", ")).c_str());
  return 0;
}

// Time per op type, then the slowest nodes, per run.
void print_profile(const std::vector<onnx_train::Session::NodeTime>& times, int runs) {
  std::map<std::string, std::pair<double, int>> by_op;
  for (const auto& t : times) {
    by_op[t.op_type].first += t.total_ms / runs;
    ++by_op[t.op_type].second;
  }
  std::vector<std::pair<double, std::string>> ops;
  for (const auto& [op, v] : by_op) ops.emplace_back(v.first, op);
  std::sort(ops.rbegin(), ops.rend());
  std::printf("profile: ms per run by op type (nodes)\n");
  for (const auto& [ms, op] : ops) std::printf("  %-28s %9.3f  (%d)\n", op.c_str(), ms, by_op[op].second);
  std::vector<onnx_train::Session::NodeTime> nodes = times;
  std::sort(nodes.begin(), nodes.end(), [](const auto& a, const auto& b) { return a.total_ms > b.total_ms; });
  std::printf("profile: slowest nodes, ms per run\n");
  for (size_t i = 0; i < nodes.size() && i < 10; ++i)
    std::printf("  %-40s %-20s %9.3f\n", nodes[i].node.c_str(), nodes[i].op_type.c_str(), nodes[i].total_ms / runs);
}

// A whole number for option `flag`, at least `min`; a clear error otherwise.
int64_t parse_count(const std::string& flag, const std::string& text, int64_t min) {
  size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || value < min)
    throw onnx_train::Error(flag + " takes a whole number of at least " + std::to_string(min) + ", got '" + text + "'");
  return value;
}

int run_command(const std::vector<std::string>& args) {
  std::string model;
  std::map<std::string, std::string> input_files;
  int64_t batch = 1;
  int repeat = 0;
  bool profile = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--input" && i + 1 < args.size()) {
      const std::string spec = args[++i];
      const auto eq = spec.find('=');
      if (eq == std::string::npos) throw onnx_train::Error("--input takes NAME=FILE.pb, got '" + spec + "'");
      input_files[spec.substr(0, eq)] = spec.substr(eq + 1);
    } else if (args[i] == "--batch" && i + 1 < args.size()) {
      batch = parse_count("--batch", args[++i], 1);
    } else if (args[i] == "--profile") {
      profile = true;
    } else if (args[i] == "--repeat" && i + 1 < args.size()) {
      repeat = static_cast<int>(parse_count("--repeat", args[++i], 0));
    } else if (model.empty() && args[i].rfind("--", 0) != 0) {
      model = args[i];
    } else {
      throw onnx_train::Error("unexpected argument '" + args[i] + "'; see onnx-train --help");
    }
  }
  if (model.empty()) throw onnx_train::Error("run needs a model file; see onnx-train --help");

  auto session = onnx_train::Session::from_file(model);
  std::map<std::string, Tensor> feeds;
  for (const auto& spec : session.inputs()) {
    auto it = input_files.find(spec.name);
    if (it != input_files.end()) {
      feeds[spec.name] = onnx_train::read_tensor_file(it->second);
      input_files.erase(it);
    } else {
      feeds[spec.name] = ramp_input(spec, batch);
    }
    std::printf("input  %s: %s (model declares %s)\n", spec.name.c_str(), feeds[spec.name].describe().c_str(),
                spec.describe().c_str());
  }
  if (!input_files.empty()) {
    std::string names;
    for (const auto& spec : session.inputs()) names += (names.empty() ? "" : ", ") + spec.name;
    throw onnx_train::Error("the model has no input named '" + input_files.begin()->first +
                            "'; its inputs are: " + names);
  }
  const auto outputs = session.run(feeds);
  for (size_t i = 0; i < outputs.size(); ++i) print_tensor("output " + session.outputs()[i].name, outputs[i]);
  if (repeat > 0) {
    // The first run above built and cached every primitive; these are steady-state runs.
    session.set_profiling(profile);
    const auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < repeat; ++r) session.run(feeds);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / repeat;
    std::printf("timing: %.3f ms per run (mean of %d runs)\n", ms, repeat);
    if (profile) print_profile(session.node_times(), repeat);
  }
  return 0;
}

}  // namespace

// OpenMP's worker threads spin while waiting for work by default. Training runs a data
// thread beside them (batches are decoded while the step computes), and spinning workers
// starve it: on the 2-core machine the Fashion-MNIST run went from 41 to 244 samples/s with
// passive waiting. libgomp reads the policy when it loads, before main(), so the process
// re-executes itself once with it set (unless the user chose a policy).
void wait_passively_in_openmp(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  ::execv("/proc/self/exe", argv);  // returns only on failure: then run as we are
}

int main(int argc, char** argv) {
  // A write past the file-size limit (`ulimit -f`, a quota set that way) raises SIGXFSZ,
  // whose default action kills the process with no word, a half-written `.partial` file and
  // the checkpoint folder's lock left behind. Ignored, the write fails with EFBIG instead, and
  // the failure is reported like a full disk's: the file named, the training not lost.
  std::signal(SIGXFSZ, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  // `onnx-train eval --help` (or --help anywhere) is a request for help, not a bad option.
  const bool wants_help =
      std::any_of(args.begin(), args.end(), [](const std::string& a) { return a == "--help" || a == "-h"; });
  if (!args.empty() && args[0] != "run" && args[0] != "ops" && args[0] != "training-graph" && !wants_help)
    wait_passively_in_openmp(argv);
  if (args.empty() || wants_help) {
    print_usage();
    return args.empty() ? 2 : 0;
  }
  try {
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    if (args[0] == "eval") return onnx_train::cli::eval_command(rest);
    if (args[0] == "inspect") return onnx_train::cli::inspect_command(rest);
    if (args[0] == "graph") return onnx_train::cli::graph_command(rest);
    if (args[0] == "export") return onnx_train::cli::export_command(rest);
    if (args[0] == "train") return onnx_train::cli::train_command(rest);
    if (args[0] == "run") return run_command({args.begin() + 1, args.end()});
    if (args[0] == "training-graph") return training_graph_command({args.begin() + 1, args.end()});
    if (args[0] == "ops") {
      for (const auto& op : onnx_train::supported_ops()) {
        std::printf("%s%s:", op.domain.empty() ? "" : (op.domain + ".").c_str(), op.op_type.c_str());
        for (int v : op.since_versions) std::printf(" %d", v);
        if (op.not_differentiable) {
          std::printf("  | gradient: none (not differentiable)");
        } else if (op.gradient_versions.empty()) {
          std::printf("  | gradient: no rule");
        } else {
          std::printf("  | gradient:");
          for (int v : op.gradient_versions) std::printf(" %d", v);
        }
        std::printf("\n");
      }
      return 0;
    }
    if (args[0].rfind("-", 0) != 0) return onnx_train::cli::train_command(args);  // MODEL.onnx DATA_DIR
    std::cerr << "onnx-train: unknown option '" << args[0] << "'; see onnx-train --help\n";
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << "onnx-train: error: out of memory (std::bad_alloc); try a smaller batch (--batch-size; --batch for run)\n";
    return 1;
  } catch (const std::exception& e) {
    // Escaped, so that bytes of a damaged file that reach a message cannot drive the terminal.
    std::cerr << "onnx-train: error: " << onnx_train::printable_message(e.what()) << "\n";
    return 1;
  }
}
