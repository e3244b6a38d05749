// TrainingSession: the model, its training graph and its eval graph, their plans, and the
// optimizer pass between steps. See onnx_train/training_session.h for what a step does.
#include "onnx_train/training_session.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <regex>
#include <set>
#include <tuple>

#include "gradients/autodiff.h"
#include "runtime/transforms/classifier_head.h"
#include "gradients/losses.h"
#include "runtime/transforms/train_mode.h"
#include "importers/checkpoint_file.h"
#include "importers/onnx_model.h"
#include "importers/proto_io.h"
#include "onnx_train/clipping.h"
#include "runtime/core/dispatch.h"
#include "runtime/core/name_patterns.h"
#include "runtime/core/parallel.h"
#include "runtime/exec/feeds.h"
#include "runtime/exec/plan.h"
#include "runtime/train/session_impl.h"
#include "runtime/train/training_info.h"

namespace onnx_train {

namespace {

// Checkpoint names (see the header).
constexpr const char* kParameterPrefix = "parameter/";
constexpr const char* kBufferPrefix = "buffer/";
constexpr const char* kRngPrefix = "rng/";

size_t output_index(const Graph& graph, const std::string& name) {
  for (size_t i = 0; i < graph.outputs.size(); ++i) {
    if (graph.outputs[i].name == name) return i;
  }
  OT_FAIL("internal: '{}' is not an output of the training graph", name);
}

double scalar_value(const Tensor& t, const std::string& what) {
  OT_CHECK(t.numel() == 1, "the loss '{}' is {}; a loss must be a single number (reduce it in the model)", what,
           t.describe());
  double value = 0;
  visit_float(t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    value = static_cast<double>(to_compute(t.data<T>()[0]));
  });
  return value;
}

// Parameters and gradients are float32 or float64 (as the optimizers take).
template <typename F>
void visit_parameter_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::Float32: return f(TypeTag<float>{});
    case DType::Float64: return f(TypeTag<double>{});
    default: OT_FAIL("parameters must be float32 or float64, not {}", dtype_name(dtype));
  }
}

// out = scale * g (first micro-batch) or out += scale * g, element by element.
void accumulate(Tensor& out, const Tensor& g, double scale, bool first) {
  visit_parameter_dtype(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = out.data<T>();
    const T* x = g.data<T>();
    const T s = static_cast<T>(scale);
    if (first) {
      parallel_for(out.numel(), [&](int64_t i) { o[i] = s * x[i]; });
    } else {
      parallel_for(out.numel(), [&](int64_t i) { o[i] += s * x[i]; });
    }
  });
}

void scale_in_place(Tensor& t, double scale) {
  visit_parameter_dtype(t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = t.data<T>();
    const T s = static_cast<T>(scale);
    parallel_for(t.numel(), [&](int64_t i) { o[i] *= s; });
  });
}

// The sum of every element of float tensors (gradients, statistics; in double, per tensor on all threads): finite
// exactly when no element is NaN or Inf (barring overflow of finite values, which a float32 gradient cannot reach in
// double).
double gradient_checksum(const std::vector<Tensor*>& grads) {
  double total = 0;
  for (const Tensor* g : grads) {
    visit_parameter_dtype(g->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* x = g->data<T>();
      double sum = 0;
#pragma omp parallel for reduction(+ : sum) if (g->numel() >= (int64_t{1} << 15)) schedule(static)
      for (int64_t i = 0; i < g->numel(); ++i) sum += static_cast<double>(x[i]);
      total += sum;
    });
  }
  return total;
}

void copy_into(Tensor& destination, const Tensor& source, const std::string& what) {
  OT_CHECK(destination.dtype() == source.dtype() && destination.shape() == source.shape(), "{}: expected {}, got {}",
           what, destination.describe(), source.describe());
  if (destination.raw_data() != source.raw_data())
    std::memcpy(destination.raw_data(), source.raw_data(), source.nbytes());
}

int default_opset(const Graph& graph) {
  const auto it = graph.opsets.find("");
  return it == graph.opsets.end() ? kMinOpset : it->second;
}

// What every graph of the session starts from: the loaded model in eval form (whatever form it
// was exported in), with the new classifier head when asked for.
void to_session_model(Graph& graph, const TrainingOptions& options, const std::string& model_path) {
  expand_onnx_gradient_ops(graph);
  graph.separate_deduplicated_initializers();
  to_eval_form(graph);
  if (options.num_classes > 0) {
    try {
      replace_classifier_head(graph, options.loss.output, options.num_classes, options.seed);
    } catch (const Error& e) {
      OT_FAIL("{}: {}", model_path, e.what());
    }
  }
}

// Loads the model at the opset the loss needs. A model exported at an older opset (torch's
// opset_version=9..11 and a class loss, which is built from opset-12 ops) is upgraded with
// ONNX's version converter, and the user's own graph is kept in `original` for export_model.
std::unique_ptr<Graph> load_for_loss(TrainingSession::Impl& s, const std::string& model_path) {
  auto model = std::make_unique<Graph>(load_onnx_model(model_path));
  std::string op;
  const int needed = s.options.model_loss.empty() ? loss_min_opset(s.options.loss.kind, &op) : 0;
  const int opset = default_opset(*model);
  if (opset >= needed) return model;
  const std::string loss = loss_kind_name(s.options.loss.kind);
  LoadOptions upgrade;
  upgrade.min_opset = needed;
  upgrade.min_opset_reason = fmt::format("the {} loss ({})", loss, op);
  s.original = std::move(model);
  model = std::make_unique<Graph>(load_onnx_model(model_path, upgrade));
  s.notes.push_back(
      fmt::format("{} is at opset {}, but the {} loss needs opset {} ({}): upgraded it to opset {} with ONNX's version "
                  "converter for training",
                  model_path, opset, loss, needed, op, needed));
  return model;
}

// Lets the user's graph at its own opset (s.original) share the weights of the upgraded one, so
// that export_model writes it with the trained values. Every parameter and running statistic
// must be there under the same name, shape and type; otherwise export_model writes the
// upgraded graph (and a note says so).
void share_original_weights(TrainingSession::Impl& s, const std::vector<std::string>& promoted) {
  if (!s.original) return;
  const int opset = default_opset(*s.original), upgraded = default_opset(*s.model);
  std::string missing;
  try {
    to_session_model(*s.original, s.options, s.source);
    std::vector<std::string> present;
    for (const Node& n : s.original->nodes)
      if (n.op_type == "Constant" && n.outputs.size() == 1 &&
          std::find(promoted.begin(), promoted.end(), n.outputs[0]) != promoted.end())
        present.push_back(n.outputs[0]);
    s.original->promote_constants_to_initializers(present);
  } catch (const Error& e) {
    missing = e.what();
  }
  std::vector<std::string> changing = s.parameter_names;
  changing.insert(changing.end(), s.buffer_names.begin(), s.buffer_names.end());
  for (const auto& name : changing) {
    if (!missing.empty()) break;
    const auto mine = s.original->initializers.find(name);
    const Tensor& value = s.model->initializers.at(name);
    if (mine == s.original->initializers.end())
      missing = fmt::format("'{}' is no initializer of the opset-{} graph", name, opset);
    else if (mine->second.dtype() != value.dtype() || mine->second.shape() != value.shape())
      missing = fmt::format("'{}' is {} in the opset-{} graph but {} in the opset-{} one", name,
                            mine->second.describe(), opset, value.describe(), upgraded);
  }
  if (!missing.empty()) {
    s.original.reset();
    // load_for_loss's note is the last one so far.
    s.notes.back() += fmt::format("; the exported inference model is at opset {} too ({})", upgraded, missing);
    return;
  }
  for (auto& [name, t] : s.original->initializers) {
    const auto it = s.model->initializers.find(name);
    if (it != s.model->initializers.end() && it->second.dtype() == t.dtype() && it->second.shape() == t.shape())
      t = it->second;
  }
  s.notes.back() += fmt::format("; the exported inference model keeps opset {}", opset);
}

// Names torch.onnx.export gives the weights it computes at export (constant folding): folded
// BatchNormalization's Conv weight and bias ("onnx::Conv_193"), a transposed MatMul weight
// ("onnx::MatMul_45"); before torch 1.13 these were bare numbers ("193").
bool is_generated_weight_name(const std::string& name) {
  static const std::regex generated(R"(^(onnx::[A-Za-z]+_)?[0-9]+$)");
  return std::regex_match(name, generated);
}

// A model exported for inference with constant folding has lost what fine-tuning needs: the
// BatchNormalization layers (folded into the Conv before them: training then runs without
// batch statistics) and the layers' weight names (so freeze patterns cannot name them). Says so
// when the trainable weights show it.
void note_lost_training_structure(TrainingSession::Impl& s, const std::vector<std::string>& candidates) {
  std::vector<std::string> generated;
  for (const auto& name : candidates)
    if (is_generated_weight_name(name)) generated.push_back(name);
  if (generated.empty()) return;
  bool batch_norm = false, folded_conv = false;
  for (const Node& n : s.model->nodes) {
    batch_norm |= n.op_type == "BatchNormalization";
    folded_conv |= n.op_type == "Conv" && n.inputs.size() == 3 && is_generated_weight_name(n.inputs[1]) &&
                   is_generated_weight_name(n.inputs[2]);
  }
  const size_t shown = std::min<size_t>(generated.size(), 3);
  const std::string examples = fmt::format("{}{}", fmt::join(generated.begin(), generated.begin() + shown, ", "),
                                           generated.size() > shown ? ", ..." : "");
  const std::string what =
      folded_conv && !batch_norm
          ? fmt::format(
                "its BatchNormalization was folded into Conv (no BatchNormalization left; the Conv weights are named "
                "{}), so training runs without batch statistics",
                examples)
          : fmt::format("{} of its {} trainable weights have names the exporter generated ({})", generated.size(),
                        candidates.size(), examples);
  s.notes.push_back(fmt::format(
      "{} was exported for inference and lost its training structure: {}, and freeze patterns cannot name those "
      "layers. To fine-tune, export it with torch.onnx.export(..., training=torch.onnx.TrainingMode.TRAINING, "
      "do_constant_folding=False, opset_version=12 or more) (README: Exporting a model for fine-tuning)",
      s.source, what));
}

// A freeze or train_only pattern that matches no parameter is most likely a typo, or a name from
// another export of the model: say so, with some of the names there are.
void note_unmatched_patterns(TrainingSession::Impl& s, const std::vector<std::string>& candidates) {
  const size_t shown = std::min<size_t>(candidates.size(), 4);
  const std::string names = fmt::format("{}{}", fmt::join(candidates.begin(), candidates.begin() + shown, ", "),
                                        candidates.size() > shown ? ", ..." : "");
  for (const auto& [patterns, option, effect] : {std::tuple{&s.options.freeze, "freeze", "freezes nothing"},
                                                 std::tuple{&s.options.train_only, "train_only", "selects nothing"}}) {
    for (const auto& pattern : *patterns) {
      const NamePatterns one({pattern}, option);
      if (std::none_of(candidates.begin(), candidates.end(), [&](const std::string& n) { return one.matches(n); }))
        s.notes.push_back(fmt::format("{} pattern '{}' matches no parameter and {}; the {} parameters are named {}",
                                      option, pattern, effect, candidates.size(), names));
    }
  }
}

}  // namespace

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
    accumulate(p.accumulated, g, weight, pending == 0);
    optimizer_params[i].grad = &p.accumulated;
  }
}

// Clipping, the schedule's rate and the update, on the gradients optimizer_params point at.
double TrainingSession::Impl::run_optimizer(std::optional<double>* grad_norm) {
  // A NaN or Inf gradient (a finite loss can hide one: ReLU maps NaN to 0 forward but not
  // backward) would poison every parameter it touches: refuse the step. The global norm is
  // the check when clipping computes it anyway; otherwise a sum over the gradients.
  double norm = 0;
  if (options.clip_grad_norm > 0) {
    norm = clip_grad_norm(clip_grads_now(), options.clip_grad_norm);
    if (grad_norm != nullptr) *grad_norm = norm;
  } else {
    norm = gradient_checksum(clip_grads_now());
  }
  if (!std::isfinite(norm)) {
    pending = 0;
    pending_weight = 0;
    OT_FAIL(
        "{}: the gradients hold NaN or Inf at step {}; nothing was updated (the parameters are those after step "
        "{}). A learning rate that is too high is the usual cause: lower it, or clip gradients",
        source, step + 1, step);
  }
  if (options.clip_grad_value > 0) {
    auto grads = clip_grads_now();
    clip_grad_value(grads, options.clip_grad_value);
  }
  const double lr = onnx_train::learning_rate(schedule, step);
  optimizer->step(optimizer_params, lr);
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

// Finishes an accumulation: the weighted average (or sum) of the micro-batch gradients.
void TrainingSession::Impl::finish_accumulation() {
  const bool average = !(options.model_loss.empty() && options.loss.reduction == "sum");
  if (average && pending_weight != 1.0) {
    for (auto& p : parameters) scale_in_place(p.accumulated, 1.0 / pending_weight);
  }
}

TrainingSession::TrainingSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TrainingSession::~TrainingSession() = default;
TrainingSession::TrainingSession(TrainingSession&&) noexcept = default;
TrainingSession& TrainingSession::operator=(TrainingSession&&) noexcept = default;

TrainingSession TrainingSession::from_file(const std::string& model_path, const TrainingOptions& options) {
  OT_CHECK(options.accumulation_steps >= 0, "accumulation_steps is {}; it must be 0 (manual optimizer_step) or more",
           options.accumulation_steps);
  OT_CHECK(options.clip_grad_norm >= 0 && options.clip_grad_value >= 0,
           "gradient clipping thresholds must be positive (0 turns clipping off)");
  OT_CHECK(options.learning_rate >= 0, "learning rate {} is negative", options.learning_rate);
  auto impl = std::make_unique<Impl>();
  Impl& s = *impl;
  s.source = model_path;
  s.options = options;
  s.optimizer = make_optimizer(options.optimizer);
  if (options.schedule) {
    s.schedule = *options.schedule;
    if (s.schedule.base_lr == 0 && s.schedule.kind != "onecycle") s.schedule.base_lr = options.learning_rate;
  } else {
    s.schedule.kind = "constant";
    s.schedule.base_lr = options.learning_rate;
  }
  validate_schedule(s.schedule);
  const NamePatterns frozen(options.freeze, "freeze");
  const NamePatterns no_decay(options.no_decay.value_or(std::vector<std::string>{}), "no_decay");

  // The model, in eval form whatever form it was exported in, at an opset the loss can use.
  s.model = load_for_loss(s, model_path);
  to_session_model(*s.model, options, model_path);

  // The training graph: a copy (sharing the initializers' storage) with the loss.
  s.train = std::make_unique<Graph>(*s.model);
  try {
    if (options.model_loss.empty()) {
      const AppendedLoss appended = append_loss(*s.train, options.loss);
      s.loss = appended.loss;
      s.label = appended.label;
    } else {
      std::vector<std::string> names;
      for (const auto& v : s.model->outputs) names.push_back(v.name);
      OT_CHECK(std::find(names.begin(), names.end(), options.model_loss) != names.end(),
               "the model has no output '{}' to use as its loss; its outputs are: {}", options.model_loss,
               fmt::join(names, ", "));
      s.loss = options.model_loss;
    }
  } catch (const Error& e) {
    OT_FAIL("{}: {}", model_path, e.what());
  }
  const std::vector<std::string> promoted = promote_constant_weights(*s.train, s.loss);
  s.model->promote_constants_to_initializers(promoted);
  for (const auto& name : promoted) s.model->initializers[name] = s.train->initializers.at(name);

  const TrainingForm form = to_training_form(*s.train, options.seed);
  const NamePatterns only(options.train_only, "train_only");
  std::vector<std::string> trainable;
  const std::vector<std::string> candidates = trainable_initializers(*s.train, s.loss);
  for (const auto& name : candidates) {
    const int64_t values = s.train->initializers.at(name).numel();
    if (!frozen.matches(name) && (options.train_only.empty() || only.matches(name))) {
      trainable.push_back(name);
      ++s.counts.trainable_tensors;
      s.counts.trainable_values += values;
    } else {
      ++s.counts.frozen_tensors;
      s.counts.frozen_values += values;
    }
  }
  OT_CHECK(!trainable.empty(),
           "{}: nothing to train: no float parameter reaches the loss '{}' (or freeze / train_only leave none)",
           model_path, s.loss);
  GradientGraph gradients;
  try {
    gradients = build_gradient_graph(*s.train, s.loss, trainable);
  } catch (const Error& e) {
    OT_FAIL("{}: {}", model_path, e.what());
  }

  // Where the step reads everything from.
  s.loss_output = output_index(*s.train, s.loss);
  for (const auto& v : s.model->outputs) s.model_outputs.push_back(output_index(*s.train, v.name));
  for (const auto& name : trainable) {
    Impl::Parameter p;
    p.name = name;
    p.value = s.train->initializers.at(name);
    p.grad_output = output_index(*s.train, gradients.gradients.at(name));
    const bool decays = options.no_decay ? !no_decay.matches(name) : p.value.rank() >= 2;
    s.optimizer_params.push_back(Param{name, &p.value, nullptr, decays});
    s.parameters.push_back(std::move(p));
    s.parameter_names.push_back(name);
  }
  // Param::value points into `parameters`, which no longer grows.
  for (size_t i = 0; i < s.parameters.size(); ++i) s.optimizer_params[i].value = &s.parameters[i].value;
  for (const RunningStat& stat : form.running_stats) {
    for (const auto& [name, updated] :
         {std::pair{stat.mean, stat.updated_mean}, std::pair{stat.var, stat.updated_var}}) {
      auto it = s.train->initializers.find(name);
      if (it == s.train->initializers.end()) continue;  // statistics computed in the graph: nothing to keep
      s.buffers.push_back({name, it->second, output_index(*s.train, updated)});
      s.buffer_names.push_back(name);
    }
  }

  // The eval graph: the eval-form model with the same loss.
  s.eval = std::make_unique<Graph>(*s.model);
  if (options.model_loss.empty()) append_loss(*s.eval, options.loss);
  s.eval_loss_output = output_index(*s.eval, s.loss);

  s.train_plan = std::make_unique<Plan>(*s.train, KernelRegistry::global(), model_path);
  s.eval_plan = std::make_unique<Plan>(*s.eval, KernelRegistry::global(), model_path);
  for (const auto& v : s.train->inputs) s.inputs.push_back(spec_of(v));
  for (const auto& v : s.model->inputs) s.model_inputs.push_back(spec_of(v));
  for (const auto& v : s.model->outputs) s.outputs.push_back(spec_of(v));
  s.overridable_count = s.train->overridable_initializers.size();
  share_original_weights(s, promoted);
  note_lost_training_structure(s, candidates);
  note_unmatched_patterns(s, candidates);
  restore_training_info(s, model_path);
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

StepResult TrainingSession::train_step(const std::map<std::string, Tensor>& feeds) {
  Impl& s = *impl_;
  s.last_outputs = s.train_plan->run(s.feed_vector(feeds, s.inputs, s.overridable_count));
  StepResult result;
  result.loss = scalar_value(s.last_outputs[s.loss_output], s.loss);
  OT_CHECK(std::isfinite(result.loss),
           "{}: the loss is {} at step {}; nothing was updated (the parameters are those after step {}). A "
           "learning rate that is too high is the usual cause: lower it, or clip gradients",
           s.source, result.loss, s.step + 1, s.step);
  for (size_t i : s.model_outputs) result.outputs.push_back(s.last_outputs[i]);
  for (auto& b : s.buffers) {
    std::vector<Tensor*> stat = {&s.last_outputs[b.updated_output]};
    OT_CHECK(std::isfinite(gradient_checksum(stat)),
             "{}: the running statistic '{}' becomes NaN or Inf at step {}; nothing was updated", s.source, b.name,
             s.step + 1);
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
    if (s.options.accumulation_steps > 1) s.finish_accumulation();
    result.learning_rate = s.run_optimizer(&result.grad_norm);
    result.stepped = true;
  }
  // Only now, when nothing above refused the batch: BatchNormalization's new statistics.
  for (auto& b : s.buffers)
    copy_into(b.value, s.last_outputs[b.updated_output], s.source + ": running statistic '" + b.name + "'");
  result.step = s.step;
  return result;
}

double TrainingSession::optimizer_step() {
  Impl& s = *impl_;
  if (s.pending == 0) return learning_rate();
  // With accumulation_steps == 1 a pending micro-batch steps at once, so here the gradients
  // are always the accumulated ones.
  s.finish_accumulation();
  return s.run_optimizer(nullptr);
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
  OT_CHECK(s.pending == 0,
           "{}: {} micro-batches are accumulated but not stepped; call optimizer_step() or zero_grad() before "
           "saving a checkpoint",
           path, s.pending);
  CheckpointFile file;
  for (const auto& p : s.parameters) file.tensors[kParameterPrefix + p.name] = p.value;
  for (const auto& b : s.buffers) file.tensors[kBufferPrefix + b.name] = b.value;
  for (const auto& [key, t] : s.optimizer->state()) file.tensors[kOptimizerStatePrefix + key] = t;
  file.metadata["step"] = std::to_string(s.step);
  file.metadata["optimizer"] = s.optimizer->options().kind;
  file.metadata["schedule"] = format_schedule(s.schedule);
  file.metadata["seed"] = std::to_string(s.options.seed);
  file.metadata["model"] = s.source;
  for (const auto& [output, state] : s.train_plan->kernel_states()) file.metadata[kRngPrefix + output] = state;
  for (const auto& [key, value] : extra) {
    OT_CHECK(!starts_with(key, "onnx_train") && file.metadata.count(key) == 0,
             "{}: checkpoint metadata key '{}' is reserved", path, key);
    file.metadata[key] = value;
  }
  write_checkpoint_file(file, path);
}

std::map<std::string, std::string> TrainingSession::read_checkpoint_metadata(const std::string& path) {
  return read_checkpoint_file(path).metadata;
}

std::map<std::string, std::string> TrainingSession::load_checkpoint(const std::string& path) {
  Impl& s = *impl_;
  OT_CHECK(s.pending == 0,
           "{}: {} micro-batches are accumulated but not stepped; call optimizer_step() or zero_grad() before "
           "loading a checkpoint",
           path, s.pending);
  const CheckpointFile file = read_checkpoint_file(path);
  auto meta = [&](const std::string& key) -> const std::string& {
    auto it = file.metadata.find(key);
    OT_CHECK(it != file.metadata.end(), "{}: the checkpoint has no '{}' entry", path, key);
    return it->second;
  };
  OT_CHECK(meta("optimizer") == s.optimizer->options().kind,
           "{}: the checkpoint was made with the {} optimizer, this session uses {}; its state cannot carry over", path,
           meta("optimizer"), s.optimizer->options().kind);
  // Check everything before changing anything.
  std::map<std::string, Tensor> optimizer_state;
  std::map<std::string, std::string> rng;
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
  const auto stateful = s.train_plan->kernel_states();
  for (const auto& [key, value] : file.metadata) {
    if (!starts_with(key, kRngPrefix)) continue;
    const std::string node_output = key.substr(std::strlen(kRngPrefix));
    OT_CHECK(stateful.count(node_output) != 0,
             "{}: the checkpoint holds the random state of '{}', which is no Dropout of this model's training graph",
             path, node_output);
    rng[node_output] = value;
  }
  int64_t step = 0;
  try {
    step = std::stoll(meta("step"));
  } catch (const std::exception&) {
    OT_FAIL("{}: step '{}' is not a number", path, meta("step"));
  }
  const ScheduleOptions schedule = parse_schedule(meta("schedule"));

  s.optimizer->load_state(optimizer_state);
  s.train_plan->set_kernel_states(rng);
  for (auto& p : s.parameters) copy_into(p.value, file.tensors.at(kParameterPrefix + p.name), path);
  for (auto& b : s.buffers) copy_into(b.value, file.tensors.at(kBufferPrefix + b.name), path);
  s.step = step;
  s.schedule = schedule;
  return file.metadata;
}

MemoryStats TrainingSession::memory_stats() const {
  const auto stats = impl_->train_plan->pool().stats();
  return MemoryStats{stats.system_allocations, stats.peak_bytes_in_use};
}

void TrainingSession::export_training_graph(const std::string& path) const { save_onnx_model(*impl_->train, path); }

void TrainingSession::export_model(const std::string& path, const std::map<std::string, std::string>& metadata) const {
  const Graph& graph = impl_->original ? *impl_->original : *impl_->model;
  onnx::ModelProto model;
  model_to_proto(graph, graph.opsets, model);
  for (const auto& [key, value] : metadata) {
    auto* prop = model.add_metadata_props();
    prop->set_key(key);
    prop->set_value(value);
  }
  write_proto_file(model, path, "model");
}

}  // namespace onnx_train
