// Session: load a model, build its plan, check feeds, run.
#include "onnx_train/session.h"

#include "gradients/autodiff.h"
#include "gradients/builder.h"
#include "importers/onnx_model.h"
#include "runtime/exec/plan.h"

namespace onnx_train {

namespace {

TensorSpec spec_of(const ValueInfo& v) {
  TensorSpec spec;
  spec.name = v.name;
  spec.dtype = v.dtype;
  spec.rank_known = v.shape.has_value();
  if (v.shape) spec.shape = *v.shape;
  spec.dim_names = v.dim_params;
  spec.dim_names.resize(spec.shape.size());
  return spec;
}

// Checks a fed tensor against what the model declares.
void check_feed(const TensorSpec& spec, const Tensor& t, const std::string& source) {
  OT_CHECK(t.defined(), "{}: input '{}' was given an empty tensor", source, spec.name);
  OT_CHECK(spec.dtype == DType::Undefined || t.dtype() == spec.dtype,
           "{}: input '{}' must be {}, got {}; convert the data to {}", source, spec.name, spec.describe(),
           t.describe(), dtype_name(spec.dtype));
  if (!spec.rank_known) return;
  OT_CHECK(t.rank() == static_cast<int>(spec.shape.size()), "{}: input '{}' must be {} (rank {}), got {}", source,
           spec.name, spec.describe(), spec.shape.size(), t.describe());
  for (size_t d = 0; d < spec.shape.size(); ++d)
    OT_CHECK(spec.shape[d] < 0 || spec.shape[d] == t.shape()[d],
             "{}: input '{}' must be {}, got {} (dimension {} must be {})", source, spec.name, spec.describe(),
             t.describe(), d, spec.shape[d]);
}

}  // namespace

std::string TensorSpec::describe() const {
  if (!rank_known) return fmt::format("{}[?]", dtype_name(dtype));
  std::vector<std::string> dims;
  for (size_t d = 0; d < shape.size(); ++d)
    dims.push_back(shape[d] >= 0 ? std::to_string(shape[d])
                                 : (d < dim_names.size() && !dim_names[d].empty() ? dim_names[d] : "?"));
  return fmt::format("{}[{}]", dtype_name(dtype), fmt::join(dims, ", "));
}

struct Session::Impl {
  std::string source;
  Graph graph;
  std::unique_ptr<Plan> plan;
  std::vector<TensorSpec> inputs, outputs, overridable;
};

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

Session Session::from_file(const std::string& model_path, const SessionOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->source = model_path;
  LoadOptions load;
  load.run_checker = options.run_checker;
  impl->graph = load_onnx_model(model_path, load);
  expand_onnx_gradient_ops(impl->graph);
  impl->plan = std::make_unique<Plan>(impl->graph, KernelRegistry::global(), model_path);
  for (const auto& v : impl->graph.inputs) impl->inputs.push_back(spec_of(v));
  for (const auto& v : impl->graph.outputs) impl->outputs.push_back(spec_of(v));
  for (const auto& v : impl->graph.overridable_initializers) impl->overridable.push_back(spec_of(v));
  return Session(std::move(impl));
}

const std::vector<TensorSpec>& Session::inputs() const { return impl_->inputs; }
const std::vector<TensorSpec>& Session::outputs() const { return impl_->outputs; }
const std::vector<TensorSpec>& Session::overridable_initializers() const { return impl_->overridable; }

std::vector<Tensor> Session::run(const std::map<std::string, Tensor>& feeds) {
  std::vector<Tensor> ordered;
  size_t used = 0;
  for (const auto& spec : impl_->inputs) {
    auto it = feeds.find(spec.name);
    OT_CHECK(it != feeds.end(), "{}: input '{}' ({}) was not given", impl_->source, spec.name, spec.describe());
    check_feed(spec, it->second, impl_->source);
    ordered.push_back(it->second);
    ++used;
  }
  for (const auto& spec : impl_->overridable) {
    auto it = feeds.find(spec.name);
    if (it == feeds.end()) {
      ordered.emplace_back();
    } else {
      check_feed(spec, it->second, impl_->source);
      ordered.push_back(it->second);
      ++used;
    }
  }
  if (used != feeds.size()) {
    for (const auto& [name, t] : feeds) {
      bool known = false;
      for (const auto& s : impl_->inputs) known |= s.name == name;
      for (const auto& s : impl_->overridable) known |= s.name == name;
      std::vector<std::string> names;
      for (const auto& s : impl_->inputs) names.push_back(s.name);
      OT_CHECK(known, "{}: the model has no input '{}'; its inputs are: {}", impl_->source, name,
               fmt::join(names, ", "));
    }
  }
  return impl_->plan->run(ordered);
}

MemoryStats Session::memory_stats() const {
  const auto stats = impl_->plan->pool().stats();
  return MemoryStats{stats.system_allocations, stats.peak_bytes_in_use};
}

void Session::set_profiling(bool on) { impl_->plan->set_profiling(on); }

std::vector<Session::NodeTime> Session::node_times() const {
  std::vector<NodeTime> out;
  for (const auto& t : impl_->plan->step_times()) out.push_back({t.node->name, t.node->op_type, t.total_ms, t.runs});
  return out;
}

std::vector<OpSupport> supported_ops() {
  std::vector<OpSupport> out;
  const KernelRegistry& registry = KernelRegistry::global();
  for (const auto& [domain, op] : registry.ops()) {
    OpSupport support{domain, op, registry.versions(domain, op), {}, false};
    for (const GradRuleEntry& rule : gradient_rules()) {
      if (rule.domain != domain || rule.op_type != op) continue;
      support.not_differentiable |= rule.rule == nullptr;
      support.gradient_versions.insert(support.gradient_versions.end(), rule.since_versions.begin(),
                                       rule.since_versions.end());
    }
    out.push_back(std::move(support));
  }
  // ONNX's Gradient op has no kernel: the gradient builder expands it when a model loads.
  out.push_back({kOnnxTrainingDomain, "Gradient", {1}, {}, true});
  std::sort(out.begin(), out.end(), [](const OpSupport& a, const OpSupport& b) {
    return std::tie(a.domain, a.op_type) < std::tie(b.domain, b.op_type);
  });
  return out;
}

Tensor read_tensor_file(const std::string& path, std::string* name) { return read_tensor_proto_file(path, name); }

}  // namespace onnx_train
