// inspect_model: the model as a training session would load it, its parameters split by
// decide_parameters, and the runtime's support for each of its ops. inspect_checkpoint: a
// checkpoint's tensors named by their role in the session that wrote it.
#include "onnx_train/inspect.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "importers/checkpoint_file.h"
#include "importers/lower_opset.h"
#include "importers/training_info_io.h"
#include "runtime/ir/schema.h"
#include "runtime/exec/feeds.h"
#include "runtime/train/load_for_training.h"
#include "runtime/train/parameters.h"
#include "runtime/train/session_impl.h"

namespace onnx_train {

namespace {

ParameterRole role_of(const std::string& name, const Tensor& value, const ParameterSets& sets) {
  const auto has = [&](const std::vector<std::string>& names) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  if (!dtype_is_float(value.dtype())) return ParameterRole::NotFloat;
  if (has(sets.trainable)) return ParameterRole::Trainable;
  if (has(sets.frozen)) return ParameterRole::Frozen;
  if (has(sets.buffers)) return ParameterRole::Buffer;
  return ParameterRole::NotTrained;
}

// The graph's op types, by "domain.op_type" ("op_type" in the default domain), with the
// kernels and gradient rules the runtime has for them.
std::vector<OpReport> op_reports(const Graph& graph) {
  const auto key = [](const std::string& domain, const std::string& op) {
    return domain.empty() ? op : domain + "." + op;
  };
  std::map<std::string, OpSupport> support;
  for (auto& op : supported_ops()) support[key(op.domain, op.op_type)] = op;
  std::map<std::string, OpReport> used;
  std::map<std::string, std::set<int>> versions;
  for (const Node& n : graph.nodes) {
    OpReport& r = used[key(n.domain, n.op_type)];
    r.domain = n.domain;
    r.op_type = n.op_type;
    ++r.nodes;
    versions[key(n.domain, n.op_type)].insert(n.since_version);
  }
  std::vector<OpReport> out;
  for (auto& [name, r] : used) {
    r.versions.assign(versions[name].begin(), versions[name].end());
    const auto it = support.find(name);
    if (it != support.end()) {
      const std::vector<int>& have = it->second.since_versions;
      r.known = true;
      r.kernel = std::all_of(r.versions.begin(), r.versions.end(),
                             [&](int v) { return std::find(have.begin(), have.end(), v) != have.end(); });
      r.gradient_rule = !it->second.gradient_versions.empty();
      r.not_differentiable = it->second.not_differentiable;
    }
    out.push_back(r);
  }
  return out;
}

}  // namespace

ModelReport inspect_model(const std::string& model_path, const TrainingOptions& options) {
  const LoadedModel loaded = load_model_for_training(model_path, session_load_options(options));
  const Graph& graph = *loaded.model;
  const ParameterSets sets =
      decide_parameters(graph, loaded.loss, options.freeze, options.train_only, loaded.lora.adapter_names());
  ModelReport report;
  for (const auto& v : graph.inputs) report.inputs.push_back(spec_of(v));
  for (const auto& v : graph.outputs) report.outputs.push_back(spec_of(v));
  for (const auto& [name, t] : graph.initializers) {
    TensorSpec spec;
    spec.name = name;
    spec.dtype = t.dtype();
    spec.rank_known = true;
    spec.shape = t.shape();
    const bool new_head = loaded.head.new_classes > 0 && (name == loaded.head.weight || name == loaded.head.bias);
    report.initializers.push_back({name, spec, t.numel(), role_of(name, t, sets), new_head});
  }
  if (loaded.head.new_classes > 0)
    report.head = {loaded.head.node, loaded.loss, loaded.head.old_classes, loaded.head.new_classes};
  report.loss = loaded.loss;
  report.trainable = sets.trainable;
  report.frozen = sets.frozen;
  report.buffers = sets.buffers;
  report.ops = op_reports(graph);
  report.notes = loaded.notes;
  for (auto& note : parameter_notes(graph, model_path, sets, options.freeze, options.train_only))
    report.notes.push_back(std::move(note));
  return report;
}

std::map<std::string, std::string> read_model_metadata(const std::string& path) {
  return read_model_file_info(path).metadata;
}

SupportedOpsets supported_opsets() { return {kMinOpset, kMaxOpset, kMaxLoweredOpset}; }

bool is_checkpoint(const std::map<std::string, std::string>& metadata) {
  // The key write_checkpoint_file marks every checkpoint with (importers/checkpoint_file.cc).
  return metadata.count("onnx_train.checkpoint_format") != 0;
}

bool is_checkpoint(const std::string& path) { return is_checkpoint(read_model_metadata(path)); }

std::string optimizer_slot_description(const std::string& optimizer, const std::string& slot) {
  // PyTorch's state_dict slot names (onnx_train/optimizers.h) and what each holds.
  static const std::map<std::string, std::string> meaning = {
      {"exp_avg", "first moment"},                  // adam, adamw, lamb: EMA of gradients
      {"exp_avg_sq", "second moment"},              // EMA of squared gradients
      {"max_exp_avg_sq", "largest second moment"},  // amsgrad
      {"momentum_buffer", "momentum buffer"},       // sgd, rmsprop with momentum
      {"sum", "sum of squared gradients"},          // adagrad
      {"square_avg", "mean of squared gradients"},  // rmsprop
      {"grad_avg", "mean of gradients"},            // centered rmsprop
      {"step", "step count"},
  };
  const auto it = meaning.find(slot);
  return it == meaning.end() ? fmt::format("{} state '{}'", optimizer, slot)
                             : fmt::format("{} {} ({})", optimizer, it->second, slot);
}

CheckpointReport inspect_checkpoint(const std::string& path) {
  const CheckpointFile file = read_checkpoint_file(path);
  CheckpointReport report;
  report.metadata = file.metadata;
  const auto entry = [&](const char* key) {
    const auto it = file.metadata.find(key);
    return it == file.metadata.end() ? std::string() : it->second;
  };
  const std::string step = entry("step");
  report.step = step.empty() ? 0 : std::stoll(step);
  report.optimizer = entry("optimizer");
  report.schedule = entry("schedule");
  report.seed = entry("seed");
  report.model = entry("model");
  // The session's names (training_session.h, "Checkpoints"): parameter/<name>, buffer/<name>
  // (BatchNormalization's running statistics), optimizer/<parameter>/<slot>; parameter names
  // may hold '/', a slot name never does.
  using Kind = CheckpointTensorReport::Kind;
  const auto starts = [](const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; };
  for (const auto& [key, t] : file.tensors) {
    CheckpointTensorReport r;
    r.key = key;
    r.spec.name = key;
    r.spec.dtype = t.dtype();
    r.spec.rank_known = true;
    r.spec.shape = t.shape();
    r.values = t.numel();
    if (starts(key, "parameter/")) {
      r.kind = Kind::Parameter;
      r.of = key.substr(std::strlen("parameter/"));
      r.describe = "parameter";
    } else if (starts(key, "buffer/")) {
      r.kind = Kind::RunningStatistic;
      r.of = key.substr(std::strlen("buffer/"));
      r.describe = "running statistic (BatchNormalization; updated by training, not trained)";
    } else if (starts(key, kOptimizerStatePrefix) && key.rfind('/') > std::strlen(kOptimizerStatePrefix)) {
      r.kind = Kind::OptimizerState;
      const size_t slash = key.rfind('/');
      r.of = key.substr(std::strlen(kOptimizerStatePrefix), slash - std::strlen(kOptimizerStatePrefix));
      r.slot = key.substr(slash + 1);
      r.describe =
          optimizer_slot_description(report.optimizer.empty() ? "optimizer" : report.optimizer, r.slot) + " of " + r.of;
    } else {
      r.of = key;
      r.describe = "not a tensor a training session writes";
    }
    report.tensors.push_back(std::move(r));
  }
  std::stable_sort(report.tensors.begin(), report.tensors.end(),
                   [](const auto& a, const auto& b) { return static_cast<int>(a.kind) < static_cast<int>(b.kind); });
  return report;
}

}  // namespace onnx_train
