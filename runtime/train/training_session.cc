// TrainingSession: the model, its training graph and its eval graph, their plans, and the
// optimizer pass between steps. See onnx_train/training_session.h for what a step does.
#include "onnx_train/training_session.h"

#include <onnx/onnx_pb.h>

#ifdef __GLIBC__
#include <malloc.h>  // malloc_trim
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <set>

#include "gradients/autodiff.h"
#include "gradients/losses.h"
#include "importers/checkpoint_file.h"
#include "importers/model_source.h"
#include "importers/onnx_model.h"
#include "importers/proto_io.h"
#include "importers/raise_opset.h"
#include "onnx_train/clipping.h"
#include "runtime/core/dispatch.h"
#include "runtime/core/name_patterns.h"
#include "runtime/core/parallel.h"
#include "runtime/core/parallel_ranges.h"
#include "runtime/distributed/process_groups.h"
#include "runtime/exec/feeds.h"
#include "runtime/exec/plan.h"
#include "runtime/kernels/dnnl/dnnl_common.h"
#include "runtime/train/load_for_training.h"
#include "runtime/train/lora_adapter.h"
#include "runtime/train/nonfinite.h"
#include "runtime/train/parameters.h"
#include "runtime/train/session_impl.h"
#include "runtime/train/step_math.h"
#include "runtime/train/training_info.h"
#include "runtime/transforms/autocast.h"
#include "runtime/transforms/fuse_conv.h"
#include "runtime/transforms/recompute.h"
#include "runtime/transforms/sync_batchnorm.h"
#include "runtime/transforms/train_mode.h"
#include "runtime/transforms/transposed_matmul.h"

namespace onnx_train {

namespace {

// Checkpoint names (see the header).
constexpr const char* kParameterPrefix = "parameter/";
constexpr const char* kBufferPrefix = "buffer/";
constexpr const char* kRngPrefix = "rng/";
constexpr const char* kLoraKey = "lora";  // the adapters' options and base fingerprint

// What a checkpoint records of the adapters, to refuse a resume with others ("" without LoRA).
std::string lora_entry(const TrainingSession::Impl& s) {
  if (!s.lora.enabled()) return "";
  const LoraOptions& o = s.lora.options;
  return fmt::format("rank={} alpha={} dropout={} targets={} base={}", o.rank, o.alpha, o.dropout, o.targets,
                     s.lora.fingerprint(*s.model));
}

size_t output_index(const Graph& graph, const std::string& name) {
  for (size_t i = 0; i < graph.outputs.size(); ++i) {
    if (graph.outputs[i].name == name) return i;
  }
  OT_FAIL("internal: '{}' is not an output of the training graph", name);
}

}  // namespace

template <typename F>
void TrainingSession::Impl::timed_phase(const std::string& name, const std::string& op_type, int64_t bytes, F&& f) {
  if (!profiling) return f();
  const auto start = std::chrono::steady_clock::now();
  f();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  auto it = std::find_if(optimizer_phases.begin(), optimizer_phases.end(),
                         [&](const ProfileNode& n) { return n.name == name; });
  if (it == optimizer_phases.end()) it = optimizer_phases.insert(it, ProfileNode{name, op_type, 0, bytes});
  it->total_ms += ms;
}

int64_t TrainingSession::Impl::parameter_bytes() const {
  int64_t bytes = 0;
  for (const Parameter& p : parameters) bytes += static_cast<int64_t>(p.value.nbytes());
  return bytes;
}

std::vector<Tensor> TrainingSession::Impl::feed_vector(const std::map<std::string, Tensor>& feeds,
                                                       const std::vector<TensorSpec>& specs, size_t extra) const {
  std::vector<Tensor> ordered = order_feeds(feeds, specs, {}, source);
  ordered.resize(ordered.size() + extra);
  return ordered;
}

// The weight of this micro-batch in the accumulated gradient (see the header).
double TrainingSession::Impl::micro_batch_weight(const std::map<std::string, Tensor>& feeds) const {
  if (!options.model_loss.empty() || options.loss.reduction != "mean") return 1;
  const Tensor& t = feeds.at(label);
  return t.rank() >= 1 ? static_cast<double>(t.dim(0)) : 1.0;
}

// Points each Param at the gradient to step on. Without accumulation that is the plan's
// output itself, unless its storage is shared with another gradient, a parameter or a
// feed (an Identity-like backward can alias them): clipping and the optimizer write into
// gradients, so such a one is copied first.
void TrainingSession::Impl::use_plan_gradients(const std::map<std::string, Tensor>& feeds) {
  std::set<const void*> taken;
  for (const auto& p : parameters) taken.insert(p.value.raw_data());
  for (const auto& [name, t] : feeds) taken.insert(t.raw_data());
  for (size_t i = 0; i < parameters.size(); ++i) {
    Parameter& p = parameters[i];
    Tensor& g = last_outputs[p.grad_output];
    if (!taken.insert(g.raw_data()).second) {
      if (!p.own_grad.defined())
        p.own_grad = g.clone();
      else
        copy_into(p.own_grad, g, p.name);
      optimizer_params[i].grad = &p.own_grad;
    } else {
      optimizer_params[i].grad = &g;
    }
  }
}

void TrainingSession::Impl::accumulate_plan_gradients(double weight) {
  for (size_t i = 0; i < parameters.size(); ++i) {
    Parameter& p = parameters[i];
    const Tensor& g = last_outputs[p.grad_output];
    OT_CHECK(g.dtype() == p.value.dtype() && g.shape() == p.value.shape(),
             "{}: the gradient of '{}' is {} but the parameter is {}", source, p.name, g.describe(),
             p.value.describe());
    if (!p.accumulated.defined()) p.accumulated = Tensor(p.value.dtype(), p.value.shape());
  }
  // Reads g, reads and writes the sum.
  timed_phase("accumulate gradients", "accumulate", 3 * parameter_bytes(), [&] {
    for (size_t i = 0; i < parameters.size(); ++i) {
      Parameter& p = parameters[i];
      accumulate(p.accumulated, last_outputs[p.grad_output], weight, pending == 0);
      optimizer_params[i].grad = &p.accumulated;
    }
  });
}

// Averaging (times `scale`), clipping, the schedule's rate and the update, on the gradients
// optimizer_params point at.
double TrainingSession::Impl::run_optimizer(std::optional<double>* grad_norm, double scale) {
  // A NaN or Inf gradient (a finite loss can hide one: ReLU maps NaN to 0 forward but not
  // backward) would poison every parameter it touches: refuse the step. The global norm is
  // the check when clipping computes it anyway; otherwise a sum over the gradients, in the
  // pass that averages them.
  double norm = 0;
  if (options.clip_grad_norm > 0) {
    if (scale != 1)
      timed_phase("average gradients", "scale", 2 * parameter_bytes(), [&] {
        for (Tensor* g : clip_grads_now()) scale_in_place(*g, scale);
      });
    timed_phase("clip_grad_norm", "clip_grad_norm", parameter_bytes(),
                [&] { norm = clip_grad_norm(clip_grads_now(), options.clip_grad_norm); });
    if (grad_norm != nullptr) *grad_norm = norm;
  } else if (scale != 1) {
    timed_phase("average gradients + non-finite check", "scale+checksum", 2 * parameter_bytes(),
                [&] { norm = gradient_checksum(clip_grads_now(), scale); });
  } else {
    timed_phase("non-finite check", "checksum", parameter_bytes(), [&] { norm = gradient_checksum(clip_grads_now()); });
  }
  if (!std::isfinite(norm)) {
    pending = 0;
    pending_weight = 0;
    throw NonFiniteStep(fmt::format(
        "{}: the gradients hold NaN or Inf at step {}; nothing was updated (the parameters are those after step "
        "{}). A learning rate that is too high is the usual cause: lower it, or clip gradients",
        source, step + 1, step));
  }
  if (options.clip_grad_value > 0) {
    timed_phase("clip_grad_value", "clip_grad_value", 2 * parameter_bytes(), [&] {
      auto grads = clip_grads_now();
      clip_grad_value(grads, options.clip_grad_value);
    });
  }
  const double lr = onnx_train::learning_rate(schedule, step);
  // The update reads g and reads and writes p and every state slot.
  const int64_t accesses = 3 + 2 * static_cast<int64_t>(optimizer->slot_names().size());
  const std::string& kind = optimizer->options().kind;
  timed_phase(kind + " update", kind, accesses * parameter_bytes(), [&] { optimizer->step(optimizer_params, lr); });
  if (profiling) ++profiled_optimizer_steps;
  ++step;
  pending = 0;
  pending_weight = 0;
  return lr;
}

std::vector<Tensor*>& TrainingSession::Impl::clip_grads_now() {
  clip_grads.clear();
  for (const Param& p : optimizer_params) clip_grads.push_back(const_cast<Tensor*>(p.grad));
  return clip_grads;
}

// The factor that makes the accumulated gradients their weighted average (1: a sum is wanted,
// or one micro-batch of weight 1).
double TrainingSession::Impl::accumulation_scale() const {
  const bool average = !(options.model_loss.empty() && options.loss.reduction == "sum");
  return average && pending_weight != 1.0 ? 1.0 / pending_weight : 1.0;
}

TrainingSession::TrainingSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TrainingSession::~TrainingSession() = default;
TrainingSession::TrainingSession(TrainingSession&&) noexcept = default;
TrainingSession& TrainingSession::operator=(TrainingSession&&) noexcept = default;

namespace {

void check_options(const TrainingOptions& options) {
  OT_CHECK(options.accumulation_steps >= 0, "accumulation_steps is {}; it must be 0 (manual optimizer_step) or more",
           options.accumulation_steps);
  OT_CHECK(options.clip_grad_norm >= 0 && options.clip_grad_value >= 0,
           "gradient clipping thresholds must be positive (0 turns clipping off)");
  OT_CHECK(options.learning_rate >= 0, "learning rate {} is negative", options.learning_rate);
  OT_CHECK(options.precision == "fp32" || options.precision == "bf16",
           "precision '{}' is not known: use fp32 (the default) or bf16 (MatMul/Gemm/Conv in bfloat16)",
           options.precision);
}

// Every pattern option is a valid regex, checked before the model is read (OptionError).
void check_patterns(const TrainingOptions& options) {
  NamePatterns(options.freeze, "freeze");
  NamePatterns(options.train_only, "train_only");
  NamePatterns(options.no_decay.value_or(std::vector<std::string>{}), "no_decay");
}

// The schedule the options ask for; without one, learning_rate throughout.
ScheduleOptions initial_schedule(const TrainingOptions& options) {
  ScheduleOptions schedule;
  if (options.schedule) {
    schedule = *options.schedule;
    if (schedule.base_lr == 0 && schedule.kind != "onecycle") schedule.base_lr = options.learning_rate;
  } else {
    schedule.kind = "constant";
    schedule.base_lr = options.learning_rate;
  }
  validate_schedule(schedule);
  return schedule;
}

// The loss on the training graph: appended to a model output (with a label input), or the
// model's own loss output.
void add_loss(TrainingSession::Impl& s) {
  try {
    if (s.options.model_loss.empty()) {
      const AppendedLoss appended = append_loss(*s.train, s.options.loss);
      s.loss = appended.loss;
      s.label = appended.label;
    } else {
      std::vector<std::string> names;
      for (const auto& v : s.model->outputs) names.push_back(v.name);
      OT_CHECK(std::find(names.begin(), names.end(), s.options.model_loss) != names.end(),
               "the model has no output '{}' to use as its loss; its outputs are: {}", s.options.model_loss,
               fmt::join(names, ", "));
      s.loss = s.options.model_loss;
    }
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", s.source, e.what()), e.category());
  }
}

// --recompute / --max-activation-memory: the backward pass computes most saved activations
// again (runtime/transforms/recompute.h); what was chosen becomes a note.
void recompute_training_graph(TrainingSession::Impl& s) {
  int64_t batch = s.options.activation_batch;
  if (batch <= 0 && !s.model->inputs.empty() && s.model->inputs[0].shape && !s.model->inputs[0].shape->empty())
    batch = (*s.model->inputs[0].shape)[0];
  RecomputeResult r;
  try {
    r = recompute_activations(*s.train, s.forward_outputs,
                              {s.options.max_activation_memory, std::max<int64_t>(batch, 1)});
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", s.source, e.what()), e.category());
  }
  s.notes.insert(s.notes.end(), r.notes.begin(), r.notes.end());
  if (r.nodes_added > 0)
    s.notes.push_back(fmt::format(
        "recompute: {} checkpoints ({}); the backward pass recomputes {} nodes; saved activations about {:.1f} -> "
        "{:.1f} MiB at batch {}",
        r.checkpoints.size(), r.rule, r.nodes_added, r.saved_bytes_before / 1048576.0, r.saved_bytes_after / 1048576.0,
        std::max<int64_t>(batch, 1)));
}

// What the session builds its graphs from, before binding parameters and planning.
struct SessionGraphs {
  LoadedModel loaded;        // the edited model (moved into s.model)
  TrainingForm form;         // the training graph's running statistics and Dropout nodes
  ParameterSets parameters;  // what trains (decide_parameters on the model and the loss's value)
  GradientGraph gradients;   // where the training graph holds each parameter's gradient
};

// The model (eval form, at the loss's opset), the training graph (a copy sharing the
// initializers' storage, with the loss, in training form, with the backward graph of the
// trainable parameters) and the eval graph (the model with the same loss).
SessionGraphs build_graphs(TrainingSession::Impl& s) {
  SessionGraphs g;
  g.loaded = load_model_for_training(s.source, session_load_options(s.options));
  s.model = std::move(g.loaded.model);
  s.notes = g.loaded.notes;
  s.lora = g.loaded.lora;
  s.train = std::make_unique<Graph>(*s.model);
  add_loss(s);
  // Each rank draws its own Dropout masks; rank 0 those of one process.
  const int rank = s.options.distributed.communicator ? s.options.distributed.communicator->rank() : 0;
  g.form = to_training_form(*s.train, rank == 0 ? s.options.seed : s.options.seed ^ (0x9E3779B97F4A7C15ull * rank));
  // --sync-batchnorm: batch statistics over every rank's batch (a rewrite of the training form).
  const auto& group = s.options.distributed.communicator;
  if (s.options.distributed.sync_batchnorm && group && group->size() > 1)
    sync_batchnorm(*s.train, g.form, register_process_group(group));
  // --precision bf16: Casts around MatMul/Gemm/Conv in the forward part; the gradient builder
  // differentiates through them, so the backward products run in bfloat16 too.
  if (s.options.precision == "bf16") {
    autocast_bf16(*s.train);
    if (!dnnl_common::bf16_faster_than_float32())
      s.notes.push_back(fmt::format(
          "precision bf16: this CPU has no AMX (oneDNN dispatches {}), and its bfloat16 products run slower than "
          "float32 ones (build/sgemm_peak measures the ratio): expect about float32's step time or more; bf16 pays off "
          "on CPUs with AMX",
          dnnl_common::effective_isa_name()));
  }
  // MatMul(x, Transpose(W)) (torch's nn.Linear) reads W as stored: no transposed copy of each
  // weight before the forward and the backward pass, and dW comes in W's layout.
  if (s.options.fuse_transposed_weights) fuse_transposed_matmul(*s.train);
  // Everything so far is the forward pass (model and loss); the gradient builder appends.
  for (const Node& n : s.train->nodes)
    if (!n.outputs.empty()) s.forward_outputs.insert(n.outputs[0]);
  try {
    g.parameters =
        decide_parameters(*s.model, g.loaded.loss, s.options.freeze, s.options.train_only, s.lora.adapter_names());
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", s.source, e.what()), e.category());
  }
  OT_CHECK(!g.parameters.trainable.empty(),
           "{}: nothing to train: no float parameter reaches the loss '{}' (or freeze / train_only leave none)",
           s.source, s.loss);
  try {
    g.gradients = build_gradient_graph(*s.train, s.loss, g.parameters.trainable);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", s.source, e.what()), e.category());
  }
  s.rule_of = g.gradients.rule_of;
  if (s.options.recompute || s.options.max_activation_memory > 0) recompute_training_graph(s);
  s.eval = std::make_unique<Graph>(*s.model);
  if (s.options.model_loss.empty()) append_loss(*s.eval, s.options.loss);
  return g;
}

// The trainable parameters (with their gradient outputs and weight-decay choice), the running
// statistics the training graph updates, and the counts.
void bind_parameters(TrainingSession::Impl& s, const SessionGraphs& g) {
  const NamePatterns no_decay(s.options.no_decay.value_or(std::vector<std::string>{}), "no_decay");
  for (const auto& name : g.parameters.trainable) {
    TrainingSession::Impl::Parameter p;
    p.name = name;
    p.value = s.train->initializers.at(name);
    p.grad_output = output_index(*s.train, g.gradients.gradients.at(name));
    p.decays = s.options.no_decay ? !no_decay.matches(name) : p.value.rank() >= 2;
    s.parameters.push_back(std::move(p));
  }
  // `parameters` no longer grows: the optimizer's view of it points into it.
  for (auto& p : s.parameters) {
    s.optimizer_params.push_back(Param{p.name, &p.value, nullptr, p.decays});
    s.parameter_names.push_back(p.name);
    ++s.counts.trainable_tensors;
    s.counts.trainable_values += p.value.numel();
  }
  for (const auto& name : g.parameters.frozen) {
    ++s.counts.frozen_tensors;
    s.counts.frozen_values += s.model->initializers.at(name).numel();
  }
  std::map<std::string, std::string> updated;  // running statistic -> its updated value
  for (const RunningStat& stat : g.form.running_stats) {
    updated.emplace(stat.mean, stat.updated_mean);
    updated.emplace(stat.var, stat.updated_var);
  }
  for (const auto& name : g.parameters.buffers) {
    const auto it = updated.find(name);
    OT_CHECK(it != updated.end(), "internal: the running statistic '{}' has no update in the training graph", name);
    s.buffers.push_back({name, s.train->initializers.at(name), output_index(*s.train, it->second)});
    s.buffer_names.push_back(name);
  }
}

// A separate LoRA export writes the base as loaded beside the adapters: nothing else may change.
void check_separate_export(const TrainingSession::Impl& s) {
  if (!s.lora.enabled() || !s.options.lora.export_separate) return;
  const std::vector<std::string> adapters = s.lora.adapter_names();
  std::vector<std::string> changed;
  for (const auto& name : s.changed_values())
    if (std::find(adapters.begin(), adapters.end(), name) == adapters.end()) changed.push_back(name);
  OT_CHECK_OPTION(changed.empty(), "lora_export",
                  "a separate export writes the base model as given beside the adapters, but training also changes {} "
                  "(train_only, or BatchNormalization running statistics); export merged instead",
                  fmt::join(changed, ", "));
}

// The plans, and where the steps read the loss and the model's outputs.
void build_plans(TrainingSession::Impl& s) {
  s.loss_output = output_index(*s.train, s.loss);
  for (const auto& v : s.model->outputs) s.model_outputs.push_back(output_index(*s.train, v.name));
  s.eval_loss_output = output_index(*s.eval, s.loss);
  s.train_plan = std::make_unique<Plan>(*s.train, KernelRegistry::global(), s.source);
  s.has_rng = s.train_plan->has_kernel_states();
  if (s.options.detect_anomaly)
    s.train_plan->set_step_check(nonfinite_check({&s.forward_outputs, &s.rule_of}, &s.anomaly));
  // The eval graph shares the weights the optimizer updates in place: fused, not folded.
  fuse_conv(*s.eval, FuseConvOptions{/*constant_initializers=*/false});
  if (s.options.fuse_transposed_weights) fuse_transposed_matmul(*s.eval);
  s.eval_plan = std::make_unique<Plan>(*s.eval, KernelRegistry::global(), s.source);
  for (const auto& v : s.train->inputs) s.inputs.push_back(spec_of(v));
  for (const auto& v : s.model->inputs) s.model_inputs.push_back(spec_of(v));
  for (const auto& v : s.model->outputs) s.outputs.push_back(spec_of(v));
  s.overridable_count = s.train->overridable_initializers.size();
}

}  // namespace

TrainingSession TrainingSession::from_file(const std::string& model_path, const TrainingOptions& options) {
  check_options(options);
  auto impl = std::make_unique<Impl>();
  Impl& s = *impl;
  s.source = model_path;
  s.options = options;
  s.optimizer = make_optimizer(options.optimizer);
  s.schedule = initial_schedule(options);
  check_patterns(options);
  // Everything from here on is about the model file, unless said otherwise (an unsupported op).
  with_category(ErrorCategory::Model, [&] {
    const SessionGraphs graphs = build_graphs(s);
    bind_parameters(s, graphs);
    check_separate_export(s);
    build_plans(s);
    for (auto& note : parameter_notes(*s.model, s.source, graphs.parameters, s.options.freeze, s.options.train_only))
      s.notes.push_back(std::move(note));
    restore_training_info(s, model_path);
  });
  if (options.distributed.communicator && options.distributed.communicator->size() > 1) {
    s.group = options.distributed.communicator;
    s.start_data_parallel();
  }
  return TrainingSession(std::move(impl));
}

const std::vector<TensorSpec>& TrainingSession::inputs() const { return impl_->inputs; }
const std::vector<TensorSpec>& TrainingSession::outputs() const { return impl_->outputs; }
const std::string& TrainingSession::label_name() const { return impl_->label; }
const std::string& TrainingSession::loss_name() const { return impl_->loss; }
const std::vector<std::string>& TrainingSession::parameter_names() const { return impl_->parameter_names; }
const std::vector<std::string>& TrainingSession::notes() const { return impl_->notes; }
ParameterCounts TrainingSession::parameter_counts() const { return impl_->counts; }
const std::vector<std::string>& TrainingSession::buffer_names() const { return impl_->buffer_names; }
int64_t TrainingSession::step() const { return impl_->step; }
int TrainingSession::pending_micro_batches() const { return impl_->pending; }

StepResult TrainingSession::Impl::train_step(const std::map<std::string, Tensor>& feeds) {
  Impl& s = *this;
  // The last micro-batch's outputs (its gradients above all) go back to the pool before this
  // run takes storage, so that gradients are held once, not twice.
  s.last_outputs.clear();
  try {
    s.last_outputs = s.train_plan->run(s.feed_vector(feeds, s.inputs, s.overridable_count));
  } catch (const NonFiniteFound&) {  // detect_anomaly: the trace is s.anomaly
    throw NonFiniteStep(fmt::format("{}: a value turns NaN or Inf at step {} (detect_anomaly); nothing was updated\n{}",
                                    s.source, s.step + 1, s.anomaly.describe()));
  }
  StepResult result;
  result.loss = scalar_value(s.last_outputs[s.loss_output], s.loss);
  if (!std::isfinite(result.loss))
    throw NonFiniteStep(
        fmt::format("{}: the loss is {} at step {}; nothing was updated (the parameters are those after step {}). A "
                    "learning rate that is too high is the usual cause: lower it, or clip gradients",
                    s.source, result.loss, s.step + 1, s.step));
  for (size_t i : s.model_outputs) result.outputs.push_back(s.last_outputs[i]);
  for (auto& b : s.buffers) {
    std::vector<Tensor*> stat = {&s.last_outputs[b.updated_output]};
    if (!std::isfinite(gradient_checksum(stat)))
      throw NonFiniteStep(fmt::format("{}: the running statistic '{}' becomes NaN or Inf at step {}; nothing was updated",
                                      s.source, b.name, s.step + 1));
  }

  const double weight = s.micro_batch_weight(feeds);
  if (s.options.accumulation_steps == 1 && s.pending == 0) {
    s.use_plan_gradients(feeds);
  } else {
    s.accumulate_plan_gradients(weight);
  }
  ++s.pending;
  s.pending_weight += weight;
  if (s.options.accumulation_steps > 0 && s.pending >= s.options.accumulation_steps) {
    const double scale = s.options.accumulation_steps > 1 ? s.accumulation_scale() : 1.0;
    result.learning_rate = s.run_optimizer(&result.grad_norm, scale);
    result.stepped = true;
  }
  // Only now, when nothing above refused the batch: BatchNormalization's new statistics.
  for (auto& b : s.buffers)
    copy_into(b.value, s.last_outputs[b.updated_output], s.source + ": running statistic '" + b.name + "'");
  result.step = s.step;
  return result;
}

StepResult TrainingSession::train_step(const std::map<std::string, Tensor>& feeds) {
  Impl& s = *impl_;
  // A refused step leaves the Dropout generators as they were before it, as the rest.
  std::map<std::string, std::string> rng;
  if (s.has_rng) rng = s.train_plan->kernel_states();
  try {
    return s.group ? s.train_step_data_parallel(feeds) : s.train_step(feeds);
  } catch (const NonFiniteStep& e) {
    s.last_outputs.clear();
    if (s.has_rng) s.train_plan->set_kernel_states(rng);
    if (std::strstr(e.what(), "\nfirst non-finite value:") != nullptr) throw;  // detect_anomaly traced it
    const NonFiniteTrace trace = s.trace(feeds);
    std::string message = std::string(e.what()) + "\n" + trace.describe();
    if (!trace.found && s.options.accumulation_steps != 1)
      message += " (the NaN or Inf came from an earlier micro-batch of the accumulation, or from their sum)";
    throw NonFiniteStep(message);
  }
}

NonFiniteTrace TrainingSession::Impl::trace(const std::map<std::string, Tensor>& feeds) {
  std::map<std::string, std::string> rng;
  if (has_rng) rng = train_plan->kernel_states();
  NonFiniteTrace found;
  train_plan->set_step_check(nonfinite_check({&forward_outputs, &rule_of}, &found));
  train_plan->set_profiling(false);
  // Whatever happens, the plan gets its own check, profiling and random state back.
  struct Restore {
    Impl& s;
    const std::map<std::string, std::string>& rng;
    ~Restore() {
      s.train_plan->set_step_check(s.options.detect_anomaly ? nonfinite_check({&s.forward_outputs, &s.rule_of}, &s.anomaly)
                                                            : Plan::StepCheck());
      s.train_plan->set_profiling(s.profiling);
      if (s.has_rng) s.train_plan->set_kernel_states(rng);
    }
  } restore{*this, rng};
  try {
    train_plan->run(feed_vector(feeds, inputs, overridable_count));
  } catch (const NonFiniteFound&) {
  }
  return found;
}

NonFiniteTrace TrainingSession::trace_nonfinite(const std::map<std::string, Tensor>& feeds) { return impl_->trace(feeds); }

double TrainingSession::optimizer_step() {
  Impl& s = *impl_;
  if (s.pending == 0) return learning_rate();
  // With accumulation_steps == 1 a pending micro-batch steps at once, so here the gradients
  // are always the accumulated ones.
  if (s.group) return s.optimizer_step_data_parallel();
  return s.run_optimizer(nullptr, s.accumulation_scale());
}

void TrainingSession::zero_grad() {
  impl_->pending = 0;
  impl_->pending_weight = 0;
}

EvalResult TrainingSession::eval_step(const std::map<std::string, Tensor>& feeds) {
  Impl& s = *impl_;
  std::vector<Tensor> out = s.eval_plan->run(s.feed_vector(feeds, s.inputs, s.eval->overridable_initializers.size()));
  EvalResult result;
  result.loss = scalar_value(out[s.eval_loss_output], s.loss);
  for (size_t i = 0; i < s.model->outputs.size(); ++i)
    result.outputs.push_back(out[output_index(*s.eval, s.model->outputs[i].name)]);
  return result;
}

std::vector<Tensor> TrainingSession::predict(const std::map<std::string, Tensor>& feeds) {
  Impl& s = *impl_;
  if (!s.predict_plan) s.predict_plan = std::make_unique<Plan>(*s.model, KernelRegistry::global(), s.source);
  return s.predict_plan->run(s.feed_vector(feeds, s.model_inputs, s.model->overridable_initializers.size()));
}

Tensor TrainingSession::parameter(const std::string& name) const {
  for (const auto& p : impl_->parameters) {
    if (p.name == name) return p.value.clone();
  }
  for (const auto& b : impl_->buffers) {
    if (b.name == name) return b.value.clone();
  }
  OT_FAIL("{}: '{}' is not a trained parameter or buffer of the model (see parameter_names())", impl_->source, name);
}

void TrainingSession::set_parameter(const std::string& name, const Tensor& value) {
  const std::string what = fmt::format("{}: set_parameter('{}')", impl_->source, name);
  for (auto& p : impl_->parameters) {
    if (p.name == name) return copy_into(p.value, value, what);
  }
  for (auto& b : impl_->buffers) {
    if (b.name == name) return copy_into(b.value, value, what);
  }
  OT_FAIL("{}: '{}' is not a trained parameter or buffer of the model (see parameter_names())", impl_->source, name);
}

double TrainingSession::learning_rate() const { return onnx_train::learning_rate(impl_->schedule, impl_->step); }

void TrainingSession::set_schedule(const ScheduleOptions& schedule) {
  ScheduleOptions s = schedule;
  if (s.base_lr == 0 && s.kind != "onecycle") s.base_lr = impl_->options.learning_rate;
  validate_schedule(s);
  impl_->schedule = s;
}

void TrainingSession::set_learning_rate(double lr) {
  OT_CHECK(lr >= 0, "learning rate {} is negative", lr);
  ScheduleOptions constant;
  constant.kind = "constant";
  constant.base_lr = lr;
  impl_->schedule = constant;
}

void TrainingSession::save_checkpoint(const std::string& path, const std::map<std::string, std::string>& extra) const {
  const Impl& s = *impl_;
  s.require_no_pending(path, "saving a checkpoint");
  CheckpointFile file;
  for (const auto& p : s.parameters) file.tensors[kParameterPrefix + p.name] = p.value;
  for (const auto& b : s.buffers) file.tensors[kBufferPrefix + b.name] = b.value;
  for (const auto& [key, t] : s.optimizer->state()) file.tensors[kOptimizerStatePrefix + key] = t;
  file.metadata["step"] = std::to_string(s.step);
  file.metadata["optimizer"] = s.optimizer->options().kind;
  file.metadata["schedule"] = format_schedule(s.schedule);
  file.metadata["seed"] = std::to_string(s.options.seed);
  file.metadata["model"] = s.source;
  if (s.lora.enabled()) file.metadata[kLoraKey] = lora_entry(s);
  for (const auto& [output, state] : s.train_plan->kernel_states()) file.metadata[kRngPrefix + output] = state;
  for (const auto& [key, value] : extra) {
    OT_CHECK(!starts_with(key, "onnx_train") && file.metadata.count(key) == 0,
             "{}: checkpoint metadata key '{}' is reserved", path, key);
    file.metadata[key] = value;
  }
  write_checkpoint_file(file, path, s.options.external_data);
}

std::map<std::string, std::string> TrainingSession::read_checkpoint_metadata(const std::string& path) {
  return with_category(ErrorCategory::Checkpoint, [&] { return read_checkpoint_file(path).metadata; });
}

namespace {

// What a checkpoint holds for a session, checked against it before anything changes.
struct CheckpointState {
  std::map<std::string, Tensor> optimizer_state;  // "<param>/<slot>" -> tensor
  std::map<std::string, std::string> rng;         // Dropout output -> generator state
  int64_t step = 0;
  ScheduleOptions schedule;
};

const std::string& checkpoint_entry(const CheckpointFile& file, const std::string& path, const std::string& key) {
  const auto it = file.metadata.find(key);
  OT_CHECK(it != file.metadata.end(), "{}: the checkpoint has no '{}' entry", path, key);
  return it->second;
}

// Every parameter and buffer of the session is in the file with its dtype and shape, and the
// file holds nothing else but optimizer state (which it returns).
std::map<std::string, Tensor> checked_tensors(const TrainingSession::Impl& s, const CheckpointFile& file,
                                              const std::string& path) {
  std::map<std::string, Tensor> optimizer_state;
  std::set<std::string> expected;
  for (const auto& p : s.parameters) expected.insert(kParameterPrefix + p.name);
  for (const auto& b : s.buffers) expected.insert(kBufferPrefix + b.name);
  for (const auto& [name, t] : file.tensors) {
    if (starts_with(name, kOptimizerStatePrefix)) {
      optimizer_state[name.substr(std::strlen(kOptimizerStatePrefix))] = t;
    } else {
      OT_CHECK(expected.count(name) != 0,
               "{}: the checkpoint holds '{}', which this session does not train (another model, or different "
               "freeze options?)",
               path, name);
    }
  }
  auto check_tensor = [&](const std::string& key, const Tensor& current) {
    auto it = file.tensors.find(key);
    OT_CHECK(it != file.tensors.end(), "{}: the checkpoint has no '{}' (another model, or different freeze options?)",
             path, key);
    OT_CHECK(it->second.dtype() == current.dtype() && it->second.shape() == current.shape(),
             "{}: '{}' is {} in the checkpoint but {} in the model", path, key, it->second.describe(),
             current.describe());
  };
  for (const auto& p : s.parameters) check_tensor(kParameterPrefix + p.name, p.value);
  for (const auto& b : s.buffers) check_tensor(kBufferPrefix + b.name, b.value);
  return optimizer_state;
}

// The file's optimizer kind, tensors, Dropout states, step and schedule, checked against `s`.
CheckpointState checked_state(const TrainingSession::Impl& s, const CheckpointFile& file, const std::string& path) {
  const std::string& optimizer = checkpoint_entry(file, path, "optimizer");
  OT_CHECK(optimizer == s.optimizer->options().kind,
           "{}: the checkpoint was made with the {} optimizer, this session uses {}; its state cannot carry over", path,
           optimizer, s.optimizer->options().kind);
  const auto lora = file.metadata.find(kLoraKey);
  const std::string saved_lora = lora == file.metadata.end() ? "" : lora->second;
  OT_CHECK(saved_lora == lora_entry(s), "{}: the checkpoint was made with LoRA adapters '{}', this session has '{}'",
           path, saved_lora.empty() ? "none" : saved_lora, lora_entry(s).empty() ? "none" : lora_entry(s));
  CheckpointState state;
  state.optimizer_state = checked_tensors(s, file, path);
  const auto stateful = s.train_plan->kernel_states();
  for (const auto& [key, value] : file.metadata) {
    if (!starts_with(key, kRngPrefix)) continue;
    const std::string node_output = key.substr(std::strlen(kRngPrefix));
    OT_CHECK(stateful.count(node_output) != 0,
             "{}: the checkpoint holds the random state of '{}', which is no Dropout of this model's training graph",
             path, node_output);
    state.rng[node_output] = value;
  }
  const std::string& step = checkpoint_entry(file, path, "step");
  try {
    state.step = std::stoll(step);
  } catch (const std::exception&) {
    OT_FAIL("{}: step '{}' is not a number", path, step);
  }
  try {
    state.schedule = parse_schedule(checkpoint_entry(file, path, "schedule"));
  } catch (const Error& e) {
    OT_FAIL_AS(ErrorCategory::Checkpoint, "{}: {}", path, e.what());
  }
  return state;
}

}  // namespace

std::map<std::string, std::string> TrainingSession::load_checkpoint(const std::string& path) {
  Impl& s = *impl_;
  s.require_no_pending(path, "loading a checkpoint");
  CheckpointFile file;
  CheckpointState state;
  // Check everything before changing anything.
  with_category(ErrorCategory::Checkpoint, [&] {
    file = read_checkpoint_file(path);
    state = checked_state(s, file, path);
  });
  s.optimizer->load_state(state.optimizer_state);
  s.train_plan->set_kernel_states(state.rng);
  for (auto& p : s.parameters) copy_into(p.value, file.tensors.at(kParameterPrefix + p.name), path);
  for (auto& b : s.buffers) copy_into(b.value, file.tensors.at(kBufferPrefix + b.name), path);
  s.step = state.step;
  s.schedule = state.schedule;
  return file.metadata;
}

void TrainingSession::set_profiling(bool on) {
  Impl& s = *impl_;
  if (on && !s.profiling) {
    s.profile_start = s.train_plan->step_times();
    s.optimizer_phases.clear();
    s.profiled_optimizer_steps = 0;
  }
  s.profiling = on;
  s.train_plan->set_profiling(on);
}

// The training plan's steps since set_profiling(true), forward or backward by the node's
// first output; the optimizer's phases; the pool's and the process's peaks.
Profile TrainingSession::profile() const {
  const Impl& s = *impl_;
  Profile profile;
  ProfileSection forward{"forward", 0, {}}, backward{"backward", 0, {}};
  const std::vector<Plan::StepTime> times = s.train_plan->step_times();
  for (size_t i = 0; i < times.size(); ++i) {
    const Node& node = *times[i].node;
    const bool started = i < s.profile_start.size();
    const double ms = times[i].total_ms - (started ? s.profile_start[i].total_ms : 0.0);
    const int64_t runs = times[i].runs - (started ? s.profile_start[i].runs : 0);
    const std::string first = node.outputs.empty() ? "" : node.outputs[0];
    ProfileSection& section = s.forward_outputs.count(first) != 0 ? forward : backward;
    section.runs = std::max(section.runs, runs);
    section.nodes.push_back(ProfileNode{node.name.empty() ? first : node.name, node.op_type, ms, 0});
  }
  profile.sections = {std::move(forward), std::move(backward), ProfileSection{"optimizer", s.profiled_optimizer_steps, s.optimizer_phases}};
  profile.peak_pool_bytes = s.train_plan->pool().stats().peak_bytes_in_use;
  profile.peak_rss_bytes = peak_rss_bytes();
  return profile;
}

AllreduceStats TrainingSession::allreduce_stats() const { return impl_->allreduce_stats; }

MemoryStats TrainingSession::memory_stats() const {
  const auto stats = impl_->train_plan->pool().stats();
  return MemoryStats{stats.system_allocations, stats.peak_bytes_in_use};
}

size_t TrainingSession::release_memory() {
  size_t freed = impl_->train_plan->release_free_buffers();
  if (impl_->eval_plan) freed += impl_->eval_plan->release_free_buffers();
#ifdef __GLIBC__
  malloc_trim(0);  // the blocks below glibc's mmap threshold go back to the system too
#endif
  return freed;
}

// The training graph at the model file's own opset when it was lowered from a newer one
// (importers/raise_opset.h); an upgraded model's stays at the upgraded opset, which its loss needs.
void TrainingSession::export_training_graph(const std::string& path) const {
  const Graph& train = *impl_->train;
  const ExternalDataMode external_data = impl_->options.external_data;
  if (!train.source || train.source->opset() <= graph_opset(train)) return save_onnx_model(train, path, external_data);
  Graph raised = train;
  raise_from_opset17(raised, train.source->opset());
  save_onnx_model(raised, path, external_data);
}

std::vector<std::string> TrainingSession::Impl::changed_values() const {
  std::vector<std::string> changed = parameter_names;
  changed.insert(changed.end(), buffer_names.begin(), buffer_names.end());
  return changed;
}

// The user's file with the trained values (importers/model_source.h).
void TrainingSession::export_model(const std::string& path, const std::map<std::string, std::string>& metadata) const {
  const Impl& s = *impl_;
  TrainedModelOptions options;
  options.changed = s.changed_values();
  options.external_data = s.options.external_data;
  if (!s.lora.enabled()) return write_trained_model(*s.model, path, metadata, options);
  // The adapters are no values of the user's file: W + s A B takes W's place (merged), or the
  // base goes as loaded and the adapters to their own file (separate).
  const std::vector<std::string> adapters = s.lora.adapter_names();
  std::vector<std::string> changed;
  for (const auto& name : options.changed)
    if (std::find(adapters.begin(), adapters.end(), name) == adapters.end()) changed.push_back(name);
  options.changed = changed;
  if (s.options.lora.export_separate) {
    OT_CHECK(options.changed.empty(), "internal: {} changed beside the adapters", fmt::join(options.changed, ", "));
    write_trained_model(*s.model, path, metadata, options);
    return export_lora_adapter(lora_adapter_file(path));
  }
  options.deferred = merged_lora_values(*s.model, s.lora);
  write_trained_model(*s.model, path, metadata, options);
}

void TrainingSession::export_lora_adapter(const std::string& path) const {
  const Impl& s = *impl_;
  OT_CHECK(s.lora.enabled(), "{}: the session has no LoRA adapters to write", path);
  write_lora_adapter(s.lora, *s.model, s.source, path);
}

std::string TrainingSession::lora_adapter_file(const std::string& model_path) { return lora_adapter_path(model_path); }

LoraSummary TrainingSession::lora() const {
  LoraSummary summary;
  summary.options = impl_->lora.options;
  for (const auto& a : impl_->lora.adapters) summary.weights.push_back(a.weight);
  return summary;
}

}  // namespace onnx_train
