// inspect_model: the model as a training session would load it, its parameters split by
// decide_parameters, and the runtime's support for each of its ops.
#include "onnx_train/inspect.h"

#include <algorithm>
#include <map>
#include <set>

#include "importers/training_info_io.h"
#include "runtime/exec/feeds.h"
#include "runtime/train/load_for_training.h"
#include "runtime/train/parameters.h"

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
  const ParameterSets sets = decide_parameters(graph, loaded.loss, options.freeze, options.train_only);
  ModelReport report;
  for (const auto& v : graph.inputs) report.inputs.push_back(spec_of(v));
  for (const auto& v : graph.outputs) report.outputs.push_back(spec_of(v));
  for (const auto& [name, t] : graph.initializers) {
    TensorSpec spec;
    spec.name = name;
    spec.dtype = t.dtype();
    spec.rank_known = true;
    spec.shape = t.shape();
    report.initializers.push_back({name, spec, t.numel(), role_of(name, t, sets)});
  }
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

bool is_checkpoint(const std::string& path) {
  // The key write_checkpoint_file marks every checkpoint with (importers/checkpoint_file.cc).
  return read_model_metadata(path).count("onnx_train.checkpoint_format") != 0;
}

}  // namespace onnx_train
