#include "runtime/exec/plan.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <set>

#include "runtime/core/checked_math.h"
#include "runtime/core/resource_limits.h"

namespace onnx_train {

namespace {

std::string op_name(const Node& n) { return n.domain.empty() ? n.op_type : n.domain + "." + n.op_type; }

std::string versions_str(const std::vector<int>& versions) { return fmt::format("{}", fmt::join(versions, ", ")); }

// Ops whose output is a cheap, deterministic function of their inputs alone (a copy or a view):
// computed from weights, they are worth running twice rather than holding in between.
bool is_cheap_recomputable(const Node& n) {
  static const std::set<std::string> ops = {"Constant", "Transpose", "Cast",    "Slice",   "Squeeze",
                                            "Unsqueeze", "Reshape",  "Flatten", "Identity"};
  return n.domain.empty() && n.outputs.size() == 1 && ops.count(n.op_type) != 0;
}

// A value derived from weights that is read again more than this many steps after its previous
// reader is computed again there instead of being held.
constexpr size_t kRecomputeDistance = 16;

}  // namespace

int Plan::slot_of(const std::string& name) {
  auto it = slots_.find(name);
  if (it != slots_.end()) return it->second;
  const int slot = static_cast<int>(values_.size());
  slots_[name] = slot;
  values_.emplace_back();
  return slot;
}

Plan::Plan(const Graph& graph, const KernelRegistry& registry, const std::string& source)
    : graph_(graph), source_(source) {
  std::vector<std::string> problems;
  std::set<std::string> unsupported_ops;
  size_t unsupported_problems = 0;  // an op, version or type the runtime does not implement

  for (const auto& [name, tensor] : graph.initializers) {
    values_[slot_of(name)] = tensor;
    initializer_values_.emplace_back(slots_.at(name), tensor);
  }
  // A shape that shape inference (or the file) states with dims whose product overflows is
  // corrupt: said here, before a kernel computes a wrapped size from it.
  auto check_static_shape = [&](const ValueInfo& v, const char* what) {
    if (!v.shape) return;
    Shape known;
    for (int64_t d : *v.shape)
      if (d >= 0) known.push_back(d);  // -1: not known until run time
    try {
      checked_numel(known, "");
    } catch (const Error&) {
      problems.push_back(fmt::format("{} '{}' has shape {}, whose element count overflows a 64-bit count", what,
                                     v.name, shape_str(*v.shape)));
    }
  };
  for (const auto& [name, v] : graph.value_info) check_static_shape(v, "value");
  auto check_value = [&](const ValueInfo& v, const char* what) {
    check_static_shape(v, what);
    if (!v.is_tensor)
      problems.push_back(
          fmt::format("{} '{}' is a {}: onnx-train handles tensors only", what, v.name, v.type_description));
    else if (v.dtype != DType::Undefined && !dtype_is_supported(v.dtype))
      problems.push_back(
          fmt::format("{} '{}' has element type {}, which onnx-train cannot hold", what, v.name, dtype_name(v.dtype)));
  };
  for (const auto& v : graph.inputs) {
    check_value(v, "graph input");
    feed_slots_.push_back(slot_of(v.name));
  }
  for (const auto& v : graph.overridable_initializers) feed_slots_.push_back(slot_of(v.name));

  std::set<std::string> produced;
  for (const auto& v : graph.inputs) produced.insert(v.name);
  for (const auto& [name, t] : graph.initializers) produced.insert(name);

  for (const Node& node : graph.nodes) {
    Step step;
    step.node = &node;
    KernelInfo info{node, {}};
    for (const auto& in : node.inputs) {
      if (in.empty()) {
        step.inputs.push_back(-1);
        info.input_infos.push_back(nullptr);
        continue;
      }
      if (!produced.count(in))
        problems.push_back(
            fmt::format("{} reads '{}', which is not a graph input, an initializer or the output "
                        "of an earlier node",
                        node.label(), in));
      step.inputs.push_back(slot_of(in));
      const ValueInfo* vi = graph.find_value_info(in);
      info.input_infos.push_back(vi);
      if (vi != nullptr && vi->is_tensor && vi->dtype != DType::Undefined && !dtype_is_supported(vi->dtype))
        problems.push_back(fmt::format("{}: input '{}' has element type {}, which onnx-train cannot hold", node.label(),
                                       in, dtype_name(vi->dtype)));
      else if (vi != nullptr && !vi->is_tensor)
        problems.push_back(fmt::format("{}: input '{}' is a {}: onnx-train handles tensors only", node.label(), in,
                                       vi->type_description));
      else
        continue;
      ++unsupported_problems;
    }
    for (const auto& out : node.outputs) {
      step.outputs.push_back(out.empty() ? -1 : slot_of(out));
      if (!out.empty()) produced.insert(out);
    }

    const KernelFactory* factory = registry.find(node.domain, node.op_type, node.since_version);
    if (factory == nullptr) {
      const std::vector<int> versions = registry.versions(node.domain, node.op_type);
      const std::string domain = node.domain.empty() ? "ai.onnx" : node.domain;
      if (versions.empty()) {
        problems.push_back(
            fmt::format("{}: op {} (domain '{}') is not supported", node.label(), op_name(node), domain));
        unsupported_ops.insert(op_name(node));
        ++unsupported_problems;
      } else {
        problems.push_back(fmt::format(
            "{}: {} as defined in opset {} (schema version {}) is not supported; supported schema versions: {}. "
            "Re-export the model with another opset or convert it with onnx.version_converter.",
            node.label(), op_name(node), node.opset, node.since_version, versions_str(versions)));
        unsupported_ops.insert(fmt::format("{}-{}", op_name(node), node.since_version));
        ++unsupported_problems;
      }
    } else {
      try {
        step.kernel = (*factory)(info);
      } catch (const Error& e) {
        problems.push_back(e.what());
      }
    }
    steps_.push_back(std::move(step));
  }

  for (const auto& v : graph.outputs) {
    check_value(v, "graph output");
    if (!produced.count(v.name))
      problems.push_back(fmt::format("graph output '{}' is not produced by any node, input or initializer", v.name));
    output_slots_.push_back(slot_of(v.name));
  }

  if (!problems.empty()) {
    std::string message = fmt::format("{}: the model cannot run ({} problem{}):", source, problems.size(),
                                      problems.size() == 1 ? "" : "s");
    for (const auto& p : problems) message += "\n  - " + p;
    if (!unsupported_ops.empty()) message += fmt::format("\nUnsupported ops: {}.", fmt::join(unsupported_ops, ", "));
    // Only what the runtime lacks: the model itself may be fine (Unsupported); else it is not (Model).
    throw Error(message, unsupported_problems == problems.size() ? ErrorCategory::Unsupported : ErrorCategory::Model);
  }

  std::vector<bool> pinned(values_.size(), false);
  for (const auto& [name, t] : graph.initializers) pinned[slots_.at(name)] = true;
  for (int slot : feed_slots_) pinned[slot] = true;
  for (int slot : output_slots_) pinned[slot] = true;
  recompute_weight_values(graph, registry, pinned);
  plan_releases(pinned);
  for (Step& step : steps_) {
    for (int slot : step.inputs) step.input_values.push_back(slot >= 0 ? &values_[slot] : nullptr);
    // An input this step is the last to read (and reads at one position only) may become its
    // output's storage (KernelContext::reuse_input_as_output).
    for (int slot : step.inputs)
      step.dying_inputs.push_back(slot >= 0 &&
                                  std::count(step.release.begin(), step.release.end(), slot) > 0 &&
                                  std::count(step.inputs.begin(), step.inputs.end(), slot) == 1);
  }
}

// A step of the same node as `original`, with a kernel of its own.
Plan::Step Plan::copy_step(const Step& original, const KernelRegistry& registry) const {
  Step copy;
  copy.node = original.node;
  copy.inputs = original.inputs;
  copy.outputs = original.outputs;
  KernelInfo info{*copy.node, {}};
  for (const auto& in : copy.node->inputs)
    info.input_infos.push_back(in.empty() ? nullptr : graph_.find_value_info(in));
  copy.kernel = (*registry.find(copy.node->domain, copy.node->op_type, copy.node->since_version))(info);
  return copy;
}

// A training graph reads values computed from the weights alone (an exported Linear layer's
// Transpose(W), the slices of a fused attention projection) in the forward pass and again in
// the backward pass; held in between they cost as much as a second copy of the weights. Such a
// value is computed again (with the chain of cheap steps it comes from) right before a reader
// more than kRecomputeDistance steps after its previous reader, and dies in between
// (plan_releases ends each definition at its last reader). Recomputing a copy or a view gives
// the same bits, so results do not change.
void Plan::recompute_weight_values(const Graph& graph, const KernelRegistry& registry,
                                   const std::vector<bool>& pinned) {
  std::vector<bool> from_weights(values_.size(), false);
  for (const auto& [name, t] : graph.initializers) from_weights[slots_.at(name)] = true;
  std::vector<int> producer(values_.size(), -1);  // the step defining a weight-derived slot
  for (size_t s = 0; s < steps_.size(); ++s) {
    const Step& step = steps_[s];
    bool derived = is_cheap_recomputable(*step.node) && step.outputs[0] >= 0;
    for (int slot : step.inputs) derived = derived && (slot < 0 || from_weights[slot]);
    if (!derived) continue;
    from_weights[step.outputs[0]] = true;
    producer[step.outputs[0]] = static_cast<int>(s);
  }
  // The steps (in order) that define `slot` from initializers.
  std::function<void(int, std::vector<int>&)> chain = [&](int slot, std::vector<int>& out) {
    if (slot < 0 || producer[slot] < 0) return;
    for (int in : steps_[producer[slot]].inputs) chain(in, out);
    out.push_back(producer[slot]);
  };
  std::map<size_t, std::vector<int>> inserts;  // step -> steps to copy right before it
  std::vector<size_t> previous_reader(values_.size());
  for (size_t slot = 0; slot < values_.size(); ++slot) previous_reader[slot] = static_cast<size_t>(producer[slot]);
  for (size_t s = 0; s < steps_.size(); ++s)
    for (int slot : steps_[s].inputs) {
      if (slot < 0 || producer[slot] < 0 || pinned[slot]) continue;
      if (s > previous_reader[slot] + kRecomputeDistance) chain(slot, inserts[s]);
      previous_reader[slot] = s;
    }
  if (inserts.empty()) return;
  std::map<size_t, std::vector<Step>> copies;  // made before any step moves
  for (const auto& [s, originals] : inserts)
    for (int original : originals) copies[s].push_back(copy_step(steps_[original], registry));
  std::vector<Step> steps;
  for (size_t s = 0; s < steps_.size(); ++s) {
    const auto it = copies.find(s);
    if (it != copies.end())
      for (Step& copy : it->second) steps.push_back(std::move(copy));
    steps.push_back(std::move(steps_[s]));
  }
  steps_ = std::move(steps);
}

// Each definition of a slot dies right after its last reader (a slot defined twice, by a
// recomputed step, dies after each of its readers' runs); initializers, feeds and outputs are
// never released (they live across steps and runs); a value nobody reads dies right away.
void Plan::plan_releases(const std::vector<bool>& pinned) {
  std::vector<int> last_use(values_.size(), -1);
  auto finish = [&](int slot) {
    if (!pinned[slot] && last_use[slot] >= 0) steps_[last_use[slot]].release.push_back(slot);
    last_use[slot] = -1;
  };
  for (size_t s = 0; s < steps_.size(); ++s) {
    for (int slot : steps_[s].inputs)
      if (slot >= 0) last_use[slot] = static_cast<int>(s);
    for (int slot : steps_[s].outputs) {
      if (slot < 0) continue;
      if (last_use[slot] >= 0) finish(slot);  // defined again: the previous value's life ends
      last_use[slot] = static_cast<int>(s);
    }
  }
  for (size_t slot = 0; slot < values_.size(); ++slot) finish(static_cast<int>(slot));
}

namespace {

// a + b, saturating at 2^63 (an estimate of impossible size stays one, never wraps).
uint64_t add_bytes(uint64_t a, uint64_t b) { return std::min<uint64_t>(a + std::min<uint64_t>(b, 1ull << 63), 1ull << 63); }

}  // namespace

uint64_t value_bytes(const ValueInfo* v, int64_t batch) {
  if (v == nullptr || !v->is_tensor || !v->shape || !dtype_is_supported(v->dtype)) return 0;
  long double bytes = static_cast<long double>(dtype_size(v->dtype));
  for (int64_t d : *v->shape) bytes *= static_cast<long double>(d >= 0 ? d : batch);
  return bytes >= 0x1p63L ? 1ull << 63 : static_cast<uint64_t>(bytes);
}

Plan::MemoryEstimate Plan::estimate_memory(int64_t batch) const {
  MemoryEstimate e;
  std::vector<const ValueInfo*> info(values_.size(), nullptr);
  for (const auto& [name, slot] : slots_) info[slot] = graph_.find_value_info(name);
  std::vector<bool> initializer(values_.size(), false);
  for (const auto& [slot, tensor] : initializer_values_) {
    initializer[slot] = true;
    e.initializers = add_bytes(e.initializers, tensor.nbytes());
  }
  for (const auto& v : graph_.inputs) e.inputs = add_bytes(e.inputs, value_bytes(&v, batch));
  uint64_t live = 0;
  for (const Step& step : steps_) {
    for (int slot : step.outputs)
      if (slot >= 0 && !initializer[slot]) live = add_bytes(live, value_bytes(info[slot], batch));
    e.intermediates = std::max(e.intermediates, live);
    for (int slot : step.release) live -= std::min(live, value_bytes(info[slot], batch));
  }
  return e;
}

// Once per batch size, before any step runs: a plan that cannot fit is refused with its figures
// instead of failing part-way through with a bare out-of-memory.
void Plan::check_memory(const std::vector<Tensor>& feeds) {
  int64_t batch = 1;
  for (size_t i = 0; i < graph_.inputs.size() && i < feeds.size(); ++i)
    if (feeds[i].defined() && feeds[i].rank() >= 1) {
      batch = feeds[i].dim(0);
      break;
    }
  if (batch == batch_checked_) return;
  const MemoryEstimate e = estimate_memory(batch);
  if (e.total() > memory_limit())
    check_memory_limit(e.total(),
                       fmt::format("{}: running the model on a batch of {} (by its plan: {} of initializers, {} of "
                                   "inputs, {} of intermediates at their peak; a smaller batch needs less)",
                                   source_, batch, format_bytes(e.initializers), format_bytes(e.inputs),
                                   format_bytes(e.intermediates)));
  batch_checked_ = batch;
}

std::vector<Plan::StepTime> Plan::step_times() const {
  std::vector<StepTime> out;
  for (const Step& step : steps_) out.push_back({step.node, step.profiled_ms, step.profiled_runs});
  return out;
}

std::map<std::string, std::string> Plan::kernel_states() const {
  std::map<std::string, std::string> states;
  for (const Step& step : steps_) {
    std::string state = step.kernel->state();
    if (!state.empty()) states[step.node->outputs.at(0)] = std::move(state);
  }
  return states;
}

bool Plan::has_kernel_states() const {
  return std::any_of(steps_.begin(), steps_.end(), [](const Step& step) { return !step.kernel->state().empty(); });
}

void Plan::set_kernel_states(const std::map<std::string, std::string>& states) {
  size_t restored = 0;
  for (Step& step : steps_) {
    if (step.kernel->state().empty()) continue;
    auto it = states.find(step.node->outputs.at(0));
    if (it == states.end()) continue;
    step.kernel->set_state(it->second);
    ++restored;
  }
  if (restored == states.size()) return;
  for (const auto& [output, state] : states) {
    bool found = false;
    for (const Step& step : steps_) found |= !step.kernel->state().empty() && step.node->outputs.at(0) == output;
    OT_CHECK(found, "{}: saved kernel state for '{}', but no node of the model with that output keeps state", source_,
             output);
  }
}

void Plan::reset_values() {
  for (Tensor& v : values_) v = Tensor();
  for (const auto& [slot, tensor] : initializer_values_) values_[slot] = tensor;
}

std::vector<Tensor> Plan::run(const std::vector<Tensor>& feeds) {
  OT_CHECK(feeds.size() == feed_slots_.size(), "{}: {} feeds given, the plan takes {}", source_, feeds.size(),
           feed_slots_.size());
  // Whatever happens, the slot table ends as it started (initializers only), so a failed
  // run holds no memory and an overridden initializer gets its stored value back.
  struct ResetOnExit {
    Plan& plan;
    ~ResetOnExit() { plan.reset_values(); }
  } reset_on_exit{*this};

  check_memory(feeds);
  for (size_t i = 0; i < feeds.size(); ++i)
    if (feeds[i].defined()) values_[feed_slots_[i]] = feeds[i];

  for (Step& step : steps_) {
    step_outputs_.resize(step.outputs.size());
    KernelContext ctx(*step.node, step.input_values.data(), step.input_values.size(), step_outputs_, &pool_);
    // A step check reads the step's inputs after it ran: then none may be overwritten.
    if (!check_) ctx.set_dying_inputs(step.dying_inputs.data());
    const auto start = profiling_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    try {
      step.kernel->run(ctx);
    } catch (const std::exception& e) {
      std::vector<std::string> shapes;
      for (int slot : step.inputs) shapes.push_back(slot >= 0 ? values_[slot].describe() : "(none)");
      const auto* error = dynamic_cast<const Error*>(&e);
      OT_FAIL_AS(error != nullptr ? error->category() : ErrorCategory::Unspecified, "{}: {} failed on inputs ({}): {}",
                 source_, step.node->label(), fmt::join(shapes, ", "), e.what());
    }
    if (check_) check_(*step.node, step.input_values.data(), step.input_values.size(), step_outputs_);
    for (size_t i = 0; i < step.outputs.size(); ++i) {
      if (step.outputs[i] < 0) continue;
      OT_CHECK(step_outputs_[i].defined(), "{}: {} did not produce its output '{}'", source_, step.node->label(),
               step.node->outputs[i]);
      values_[step.outputs[i]] = std::move(step_outputs_[i]);
    }
    for (Tensor& unused : step_outputs_) unused = Tensor();  // optional outputs nobody reads
    for (int slot : step.release) values_[slot] = Tensor();
    if (profiling_) {
      step.profiled_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      ++step.profiled_runs;
    }
    if (after_) after_(static_cast<size_t>(&step - steps_.data()));
  }

  std::vector<Tensor> outputs;
  outputs.reserve(output_slots_.size());
  for (int slot : output_slots_) outputs.push_back(values_[slot]);
  return outputs;
}

int64_t Plan::step_of_output(size_t i) const {
  const int slot = output_slots_.at(i);
  for (size_t k = steps_.size(); k-- > 0;)
    if (std::find(steps_[k].outputs.begin(), steps_[k].outputs.end(), slot) != steps_[k].outputs.end())
      return static_cast<int64_t>(k);
  return -1;
}

}  // namespace onnx_train
