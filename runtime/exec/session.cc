// Session: load a model, build its plan, check feeds, run.
#include "onnx_train/session.h"

#include "gradients/autodiff.h"
#include "gradients/builder.h"
#include "importers/onnx_model.h"
#include "runtime/exec/feeds.h"
#include "runtime/exec/plan.h"

namespace onnx_train {

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
  return impl_->plan->run(order_feeds(feeds, impl_->inputs, impl_->overridable, impl_->source));
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
