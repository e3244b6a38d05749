// Session: load a model, build its plan, check feeds, run. A plain model needs nothing from
// gradients/ (load_model expands ONNX's Gradient op only in models that contain one).
#include "onnx_train/session.h"

#include "runtime/exec/feeds.h"
#include "runtime/exec/plan.h"
#include "runtime/transforms/fuse_conv.h"
#include "runtime/transforms/load_model.h"

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
  // Everything here is about the model file, unless said otherwise (an unsupported op).
  with_category(ErrorCategory::Model, [&] {
    impl->graph = load_model(model_path, load);
    // A Session never changes its initializers: BatchNormalization folds into the weights.
    fuse_conv(impl->graph, FuseConvOptions{/*constant_initializers=*/true});
    impl->plan = std::make_unique<Plan>(impl->graph, KernelRegistry::global(), model_path);
  });
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

Tensor read_tensor_file(const std::string& path, std::string* name) {
  return with_category(ErrorCategory::Data, [&] { return read_tensor_proto_file(path, name); });
}

}  // namespace onnx_train
