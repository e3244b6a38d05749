// TrainingSession::export_training_model and restore_training_info: the model with ONNX's
// TrainingInfoProto and continuing from it. The format is documented in training_info.h.
#include "runtime/train/training_info.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>

#include "importers/model_source.h"
#include "importers/raise_opset.h"
#include "importers/training_info_io.h"
#include "runtime/exec/plan.h"
#include "runtime/ir/editor.h"

namespace onnx_train {

namespace {

// Names in the file (training_info.h).
constexpr const char* kUpdateCount = "training/update_count";
constexpr const char* kLearningRate = "training/learning_rate";
constexpr const char* kFormatKey = "onnx_train.training_info";
constexpr const char* kFormatVersion = "1";
constexpr const char* kRngKeyPrefix = "onnx_train.rng/";
constexpr int kOnnxTrainingOpset = 1;

// The metadata key of `name`.
std::string key(const std::string& name) { return "onnx_train." + name; }

// The training graph's copy of a value or node the inference graph has: "train/<name>"
// ("train/0/Conv" for torch's "/0/Conv").
std::string training_copy_name(const std::string& name) { return (name[0] == '/' ? "train" : "train/") + name; }

Tensor filled_like(const Tensor& like, double value) {
  Tensor t(like.dtype(), like.shape());
  if (like.dtype() == DType::Float32) {
    std::fill_n(t.data<float>(), t.numel(), static_cast<float>(value));
  } else {
    OT_CHECK(like.dtype() == DType::Float64, "parameters must be float32 or float64, not {}", like.describe());
    std::fill_n(t.data<double>(), t.numel(), value);
  }
  return t;
}

ValueInfo value_info(const std::string& name, DType dtype, const Shape& shape) {
  ValueInfo v;
  v.name = name;
  v.dtype = dtype;
  v.shape = shape;
  return v;
}

// The optimizer's options the kind reads (with its defaults filled in), for the metadata.
std::vector<std::pair<std::string, std::string>> optimizer_option_entries(const OptimizerOptions& o) {
  std::vector<std::pair<std::string, std::string>> out;
  auto add = [&](const char* name, auto value) { out.emplace_back(name, fmt::format("{}", value)); };
  add("weight_decay", *o.weight_decay);
  if (o.kind == "sgd") {
    add("momentum", o.momentum);
    add("dampening", o.dampening);
    add("nesterov", o.nesterov ? 1 : 0);
  }
  if (o.kind == "adam" || o.kind == "adamw" || o.kind == "lamb") {
    add("beta1", o.beta1);
    add("beta2", o.beta2);
  }
  if (o.kind == "adam" || o.kind == "adamw") add("amsgrad", o.amsgrad ? 1 : 0);
  if (o.kind == "adagrad") {
    add("lr_decay", o.lr_decay);
    add("initial_accumulator_value", o.initial_accumulator_value);
  }
  if (o.kind == "rmsprop") {
    add("alpha", o.alpha);
    add("momentum", o.momentum);
    add("centered", o.centered ? 1 : 0);
  }
  if (o.kind != "sgd") add("eps", *o.eps);
  return out;
}

// Builds the TrainingInfoProto's algorithm graph of a session (see training_info.h): the
// training graph copied under names that do not clash with the inference graph, then
// clipping and the update.
class AlgorithmBuilder {
 public:
  // The algorithm is edited at the training graph's opsets (they are not written: the model's
  // opset imports serve both graphs); its constants are initializers.
  // `file_names`: the names of the inference graph as the file holds it (the user's graph, whose
  // names are not all in `inference`), taken as value and node names alike.
  AlgorithmBuilder(const TrainingSession::Impl& s, const Graph& inference, const std::set<std::string>& file_names,
                   TrainingInfoModel& out)
      : s_(s),
        out_(out),
        e_(with_opsets(out.algorithm, s.train->opsets), "training algorithm", "training/", ConstantForm::Initializer) {
    main_names_ = value_names(inference);
    main_names_.insert(file_names.begin(), file_names.end());
    e_.reserve(kLearningRate);
    // Every name of the inference and training graphs is taken, so that new names clash with neither.
    for (const auto& name : main_names_) e_.reserve(name);
    for (const auto& name : value_names(*s.train)) e_.reserve(name);
    for (const Node& n : inference.nodes) main_node_names_.insert(n.name);
    main_node_names_.insert(file_names.begin(), file_names.end());
    out_.algorithm.name = "training_step";
  }

  // Every name the inference graph has (the algorithm's new ones avoid them).
  const std::set<std::string>& main_names() const { return main_names_; }

  void build() {
    copy_training_graph();
    const OptimizerOptions& o = s_.optimizer->options();
    std::vector<std::string> grads;
    for (const auto& p : s_.parameters) grads.push_back(renamed(s_.train->outputs[p.grad_output].name));
    if (s_.options.clip_grad_norm > 0) clip_by_norm(grads);
    if (s_.options.clip_grad_value > 0) clip_by_value(grads);

    if (o.kind == "sgd") {
      update_with("Momentum", {"momentum_buffer"}, grads, [&](Node& n) {
        n.attributes["alpha"] = Attribute::of_float(static_cast<float>(o.momentum));
        n.attributes["beta"] = Attribute::of_float(static_cast<float>(1 - o.dampening));
        n.attributes["mode"] = Attribute::of_string(o.nesterov ? "nesterov" : "standard");
      });
      update_note_ = "Momentum (ai.onnx.preview.training): torch.optim.SGD";
    } else if (o.kind == "adam" && !o.amsgrad) {
      update_with("Adam", {"exp_avg", "exp_avg_sq"}, grads, [&](Node& n) {
        n.attributes["alpha"] = Attribute::of_float(static_cast<float>(o.beta1));
        n.attributes["beta"] = Attribute::of_float(static_cast<float>(o.beta2));
        n.attributes["epsilon"] = Attribute::of_float(static_cast<float>(*o.eps));
        n.attributes["norm_coefficient_post"] = Attribute::of_float(0.f);
      });
      update_note_ =
          "Adam (ai.onnx.preview.training): torch.optim.Adam up to where epsilon is added (ONNX: before the bias "
          "correction of the second moment, torch: after it)";
    } else if (o.kind == "adagrad") {
      update_with("Adagrad", {"sum"}, grads, [&](Node& n) {
        n.attributes["decay_factor"] = Attribute::of_float(static_cast<float>(o.lr_decay));
        n.attributes["epsilon"] = Attribute::of_float(static_cast<float>(*o.eps));
      });
      update_note_ = "Adagrad (ai.onnx.preview.training): torch.optim.Adagrad";
    } else {
      // No ONNX operator: the gradients are the result, the update is onnx-train's.
      for (size_t i = 0; i < grads.size(); ++i) {
        const ValueInfo& g = s_.train->outputs[s_.parameters[i].grad_output];
        out_.algorithm.outputs.push_back(value_info(grads[i], g.dtype, s_.parameters[i].value.shape()));
      }
      update_note_ = fmt::format(
          "none: ONNX has no operator for {}{}; the algorithm computes the gradients (its outputs after the loss) and "
          "the parameter update is onnx-train's (runtime/optim, options in onnx_train.optimizer.*)",
          o.kind, o.amsgrad ? " with amsgrad" : "");
    }
    for (const auto& b : s_.buffers) {
      const ValueInfo& updated = s_.train->outputs[b.updated_output];
      const std::string name = renamed(updated.name);
      out_.algorithm.outputs.push_back(value_info(name, updated.dtype, b.value.shape()));
      out_.update_binding.emplace_back(b.name, name);
    }
  }

  // The algorithm's name for a value of the training graph.
  std::string renamed(const std::string& name) const {
    const auto it = renames_.find(name);
    return it == renames_.end() ? name : it->second;
  }
  const std::string& update_note() const { return update_note_; }
  // Whether an ONNX optimizer op updates the parameters (and reads the learning rate).
  bool updates() const { return updates_; }

 private:
  // The training graph's nodes, the initializers and inputs the inference graph lacks, the
  // intermediates' types, and the loss as the first output.
  void copy_training_graph() {
    const Graph& train = *s_.train;
    Graph& alg = out_.algorithm;
    for (const Node& n : train.nodes)
      for (const auto& o : n.outputs)
        if (!o.empty() && main_names_.count(o)) renames_[o] = e_.fresh(training_copy_name(o));
    for (const Node& n : train.nodes) {
      Node copy = n;
      for (auto& i : copy.inputs) i = renamed(i);
      for (auto& o : copy.outputs) o = renamed(o);
      if (main_node_names_.count(copy.name)) copy.name = training_copy_name(copy.name);
      e_.reserve(copy.name);
      alg.nodes.push_back(std::move(copy));
    }
    for (const auto& [name, t] : train.initializers) {
      const auto shared = s_.model->initializers.find(name);
      if (shared != s_.model->initializers.end()) {
        OT_CHECK(shared->second.raw_data() == t.raw_data(),
                 "internal: initializer '{}' of the training graph differs from the model's", name);
        continue;
      }
      OT_CHECK(!main_names_.count(name), "internal: training-graph initializer '{}' clashes with a model value", name);
      alg.initializers[name] = t;
    }
    std::set<std::string> model_inputs;
    for (const auto& v : s_.model->inputs) model_inputs.insert(v.name);
    for (const auto& v : train.inputs)
      if (!model_inputs.count(v.name)) alg.inputs.push_back(v);
    std::set<std::string> produced;
    for (const Node& n : alg.nodes) produced.insert(n.outputs.begin(), n.outputs.end());
    for (const auto& [name, v] : train.value_info) {
      ValueInfo info = v;
      info.name = renamed(name);
      if (produced.count(info.name) && !main_names_.count(info.name)) alg.value_info[info.name] = info;
    }
    ValueInfo loss = train.outputs[s_.loss_output];
    loss.name = renamed(loss.name);
    alg.outputs.push_back(loss);
  }

  static Graph& with_opsets(Graph& graph, const std::map<std::string, int>& opsets) {
    graph.opsets = opsets;
    return graph;
  }

  // A node with fresh output names from `output_hints`; it is the algorithm's last node.
  std::vector<std::string> add_node(const std::string& op, std::vector<std::string> inputs,
                                    const std::vector<std::string>& output_hints,
                                    std::map<std::string, Attribute> attributes = {}, const std::string& domain = "") {
    std::vector<std::string> outputs;
    for (const auto& hint : output_hints) outputs.push_back(e_.fresh(hint));
    return e_.add(op, std::move(inputs), outputs, std::move(attributes), domain).outputs;
  }
  std::string add_node1(const std::string& op, std::vector<std::string> inputs, const std::string& output_hint,
                        std::map<std::string, Attribute> attributes = {}) {
    return e_.add1(op, std::move(inputs), e_.fresh(output_hint), std::move(attributes));
  }
  std::string constant(const std::string& hint, const Tensor& value) { return e_.constant(value, hint); }
  std::string one() {
    if (one_.empty()) one_ = constant("training/one", Tensor::scalar<int64_t>(1));
    return one_;
  }

  // clip_grad_norm as the session does it (onnx_train/clipping.h, torch's clip_grad_norm_):
  // total = sqrt(sum of every gradient's squares), in float64; every gradient is multiplied
  // (in float64, rounded back to its type) by min(max_norm / (total + 1e-6), 1).
  void clip_by_norm(std::vector<std::string>& grads) {
    const Attribute to_double = Attribute::of_int(static_cast<int64_t>(DType::Float64));
    std::vector<std::string> as_double, squares;
    for (size_t i = 0; i < grads.size(); ++i) {
      const DType dtype = s_.parameters[i].value.dtype();
      const std::string g =
          dtype == DType::Float64 ? grads[i] : add_node1("Cast", {grads[i]}, grads[i] + "/f64", {{"to", to_double}});
      as_double.push_back(g);
      squares.push_back(add_node1("ReduceSumSquare", {g}, grads[i] + "/sum_sq", {{"keepdims", Attribute::of_int(0)}}));
    }
    const std::string sum = add_node1("Sum", squares, "training/clip/sum_sq");
    const std::string norm = add_node1("Sqrt", {sum}, "training/clip/norm");
    const std::string denominator = add_node1(
        "Add", {norm, constant("training/clip/epsilon", Tensor::scalar<double>(1e-6))}, "training/clip/norm_eps");
    const std::string ratio = add_node1(
        "Div", {constant("training/clip/max_norm", Tensor::scalar<double>(s_.options.clip_grad_norm)), denominator},
        "training/clip/ratio");
    const std::string coefficient = add_node1(
        "Min", {ratio, constant("training/clip/one", Tensor::scalar<double>(1.0))}, "training/clip/coefficient");
    for (size_t i = 0; i < grads.size(); ++i) {
      const DType dtype = s_.parameters[i].value.dtype();
      const std::string scaled = add_node1("Mul", {as_double[i], coefficient}, grads[i] + "/clipped");
      grads[i] = dtype == DType::Float64 ? scaled
                                         : add_node1("Cast", {scaled}, grads[i] + "/clipped_f32",
                                                     {{"to", Attribute::of_int(static_cast<int64_t>(dtype))}});
    }
  }

  // clip_grad_value: Clip to [-v, v] (at the opset's form of Clip: bounds as inputs from 11).
  void clip_by_value(std::vector<std::string>& grads) {
    const double v = s_.options.clip_grad_value;
    for (size_t i = 0; i < grads.size(); ++i)
      grads[i] = e_.clip(grads[i], -v, v, s_.parameters[i].value.dtype(), e_.fresh(grads[i] + "/value_clipped"));
  }

  // One `op` node per weight-decay group over its parameters: inputs R, T, X..., G..., then
  // each state slot's tensors; outputs X_new..., then the new state tensors. Also counts the
  // steps (update_count and every parameter's step) and binds everything.
  template <typename SetAttributes>
  void update_with(const std::string& op, const std::vector<std::string>& slots, const std::vector<std::string>& grads,
                   SetAttributes set_attributes) {
    const OptimizerOptions& o = s_.optimizer->options();
    updates_ = true;
    out_.opsets[kOnnxTrainingDomain] = kOnnxTrainingOpset;
    out_.algorithm.opsets[kOnnxTrainingDomain] = kOnnxTrainingOpset;
    out_.algorithm.inputs.push_back(value_info(kLearningRate, DType::Float64, {}));
    const std::string count_next = add_node1("Add", {kUpdateCount, one()}, std::string(kUpdateCount) + "_new");
    // Adam corrects the bias by T, torch by its step t counted from 1; the others count from 0.
    const std::string count = op == "Adam" ? count_next : kUpdateCount;
    const double wd = *o.weight_decay;
    const bool momentum_free = op == "Momentum" && o.momentum == 0;
    std::vector<std::vector<size_t>> groups(2);  // decaying, not decaying
    for (size_t i = 0; i < s_.parameters.size(); ++i)
      groups[wd != 0 && s_.optimizer_params[i].decay ? 0 : 1].push_back(i);
    for (size_t g = 0; g < groups.size(); ++g) {
      if (groups[g].empty()) continue;
      std::vector<std::string> inputs = {kLearningRate, count}, hints;
      std::vector<std::pair<std::string, const Tensor*>> bound;  // initializer -> like what
      for (size_t i : groups[g]) {
        inputs.push_back(s_.parameters[i].name);
        hints.push_back(s_.parameters[i].name + "_new");
        bound.emplace_back(s_.parameters[i].name, &s_.parameters[i].value);
      }
      for (size_t i : groups[g]) inputs.push_back(grads[i]);
      for (const auto& slot : slots) {
        for (size_t i : groups[g]) {
          const auto& p = s_.parameters[i];
          if (momentum_free) {
            // alpha = 0 makes V irrelevant; torch keeps no buffer: V = X * 0, nothing bound.
            const std::string zero =
                constant("training/zero_" + dtype_name(p.value.dtype()), scalar_tensor(p.value.dtype(), 0));
            inputs.push_back(add_node1("Mul", {p.name, zero}, "training/" + p.name + "/zero_velocity"));
            hints.push_back("training/" + p.name + "/velocity_unused");
          } else {
            const std::string state = kOptimizerStatePrefix + p.name + "/" + slot;
            inputs.push_back(state);
            hints.push_back(state + "_new");
            bound.emplace_back(state, &p.value);
          }
        }
      }
      const std::vector<std::string> outputs = add_node(op, inputs, hints, {}, kOnnxTrainingDomain);
      Node& node = out_.algorithm.nodes.back();
      node.attributes["norm_coefficient"] = Attribute::of_float(static_cast<float>(g == 0 ? wd : 0.0));
      set_attributes(node);
      for (size_t k = 0; k < bound.size(); ++k) {
        out_.algorithm.outputs.push_back(value_info(outputs[k], bound[k].second->dtype(), bound[k].second->shape()));
        out_.update_binding.emplace_back(bound[k].first, outputs[k]);
      }
    }
    for (const auto& p : s_.parameters) {
      const std::string step = kOptimizerStatePrefix + p.name + "/step";
      const std::string next = add_node1("Add", {step, one()}, step + "_new");
      out_.algorithm.outputs.push_back(value_info(next, DType::Int64, {}));
      out_.update_binding.emplace_back(step, next);
    }
    out_.algorithm.outputs.push_back(value_info(count_next, DType::Int64, {}));
    out_.update_binding.emplace_back(kUpdateCount, count_next);
  }

  const TrainingSession::Impl& s_;
  TrainingInfoModel& out_;
  GraphEditor e_;
  std::set<std::string> main_names_, main_node_names_;
  std::map<std::string, std::string> renames_;
  std::string one_, update_note_;
  bool updates_ = false;
};

// The metadata of training_info.h.
std::map<std::string, std::string> training_metadata(const TrainingSession::Impl& s,
                                                     const AlgorithmBuilder& algorithm) {
  std::map<std::string, std::string> m;
  m[kFormatKey] = kFormatVersion;
  const TrainingOptions& o = s.options;
  if (o.model_loss.empty()) {
    m[key("loss")] = loss_kind_name(o.loss.kind);
    m[key("loss_output")] = o.loss.output.empty() ? s.model->outputs.at(0).name : o.loss.output;
    m[key("loss_label")] = s.label;
    m[key("loss_reduction")] = o.loss.reduction;
    m[key("label_smoothing")] = fmt::format("{}", o.loss.label_smoothing);
    m[key("ignore_index")] = std::to_string(o.loss.ignore_index);
    m[key("huber_delta")] = fmt::format("{}", o.loss.huber_delta);
    m[key("label_dtype")] = dtype_name(o.loss.label_dtype);
  } else {
    m[key("model_loss")] = o.model_loss;
  }
  m[key("loss_value")] = algorithm.renamed(s.loss);
  const OptimizerOptions& opt = s.optimizer->options();
  m[key("optimizer")] = opt.kind;
  for (const auto& [name, value] : optimizer_option_entries(opt)) m[key("optimizer." + name)] = value;
  std::vector<std::string> no_decay;
  for (const Param& p : s.optimizer_params)
    if (!p.decay) no_decay.push_back(p.name);
  m[key("no_decay")] = fmt::format("{}", fmt::join(no_decay, ","));
  m[key("update")] = algorithm.update_note();
  if (algorithm.updates()) m[key("learning_rate_input")] = kLearningRate;
  m[key("next_learning_rate")] = fmt::format("{}", learning_rate(s.schedule, s.step));
  m[key("schedule")] = format_schedule(s.schedule);
  m[key("step")] = std::to_string(s.step);
  m[key("seed")] = std::to_string(o.seed);
  m[key("clip_grad_norm")] = fmt::format("{}", o.clip_grad_norm);
  m[key("clip_grad_value")] = fmt::format("{}", o.clip_grad_value);
  m[key("accumulation_steps")] = std::to_string(o.accumulation_steps);
  for (const auto& [output, state] : s.train_plan->kernel_states()) m[kRngKeyPrefix + output] = state;
  return m;
}

// The inference graph of the file is the user's file with the trained values (out.base;
// importers/model_source.h), unless the model was upgraded for its loss: the algorithm holds the
// loss, which the user's opset lacks, so that file is at the upgraded opset throughout (the
// session's graph written out). Returns the names the user's graph has (none for the other).
std::set<std::string> use_users_file(const TrainingSession::Impl& s, TrainingInfoModel& out, const std::string& path,
                                     ExternalData* data) {
  const ModelSource* source = s.model->source.get();
  if (source == nullptr || source->opset() < graph_opset(*s.model)) return {};
  TrainedModelOptions written;
  written.changed = s.changed_values();
  written.constants_as_initializers = true;  // update_binding names initializers
  try {
    out.base = trained_model_proto(*s.model, written, data);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path, e.what()), e.category());
  }
  return source->names();
}

// Every value name a node or graph output of `graph` reads.
void add_read_names(const Graph& graph, std::set<std::string>& out) {
  for (const Node& n : graph.nodes) out.insert(n.inputs.begin(), n.inputs.end());
  for (const auto& v : graph.outputs) out.insert(v.name);
}

}  // namespace

void TrainingSession::export_training_model(const std::string& path,
                                            const std::map<std::string, std::string>& metadata) const {
  const Impl& s = *impl_;
  s.require_no_pending(path, "exporting the training model");
  TrainingInfoModel out;
  // External data as for export_model, the optimizer state counted too: the model's weights and
  // one tensor the size of each parameter per optimizer slot.
  uint64_t bytes = 0;
  for (const auto& [name, t] : s.model->initializers) bytes += t.nbytes();
  for (const auto& p : s.parameters) bytes += p.value.nbytes() * s.optimizer->slot_names().size();
  std::optional<ExternalData> data;
  if (use_external_data(s.options.external_data, s.model->source && s.model->source->had_external_data(), bytes, path,
                        "model"))
    data.emplace(path);
  const std::set<std::string> file_names = use_users_file(s, out, path, data ? &*data : nullptr);
  out.inference = *s.model;
  out.opsets = s.model->opsets;
  for (const auto& [domain, version] : s.train->opsets) out.opsets.emplace(domain, version);

  // The optimizer state (the initial one for parameters not stepped yet) and the step count.
  std::map<std::string, Tensor> state = s.optimizer->state();
  const std::vector<std::string> slots = s.optimizer->slot_names();
  for (const auto& p : s.parameters) {
    if (state.count(p.name + "/step")) continue;
    state[p.name + "/step"] = Tensor::scalar<int64_t>(0);
    for (size_t i = 0; i < slots.size(); ++i)
      state[p.name + "/" + slots[i]] = filled_like(p.value, s.optimizer->slot_init(i));
  }
  std::set<std::string> taken = value_names(*s.model);
  taken.insert(file_names.begin(), file_names.end());
  auto add_initializer = [&](const std::string& name, const Tensor& value) {
    OT_CHECK(!taken.count(name),
             "{}: the model already has a value named '{}', a name the training information needs; rename it in "
             "the model",
             path, name);
    out.inference.initializers[name] = value;
  };
  for (const auto& [name, t] : state) add_initializer(kOptimizerStatePrefix + name, t);
  add_initializer(kUpdateCount, Tensor::scalar<int64_t>(s.step));
  OT_CHECK(!taken.count(kLearningRate), "{}: the model already has a value named '{}'; rename it in the model", path,
           kLearningRate);

  AlgorithmBuilder algorithm(s, out.inference, file_names, out);
  try {
    algorithm.build();
    // A lowered model's algorithm is at opset 17: valid at the file's opset once raised.
    const int file_opset = out.base ? s.model->source->opset() : 0;
    if (file_opset > graph_opset(out.algorithm)) raise_from_opset17(out.algorithm, file_opset, algorithm.main_names());
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path, e.what()), e.category());
  }
  out.metadata = training_metadata(s, algorithm);
  for (const auto& [name, value] : metadata) {
    OT_CHECK(!starts_with(name, "onnx_train"), "{}: metadata key '{}' is reserved for the training information", path,
             name);
    out.metadata[name] = value;
  }
  save_training_info_model(out, path, data ? &*data : nullptr);
}

namespace {

// Takes the stored state (optimizer slots, update count) out of the session's graphs, where no
// node reads it: it is no part of the inference model. Also drops the training domains the
// model imports only for its TrainingInfo. Returns the state by initializer name.
std::map<std::string, Tensor> take_stored_state(TrainingSession::Impl& s, const std::string& model_path) {
  std::set<std::string> read;
  for (const Graph* g : {s.model.get(), s.train.get(), s.eval.get()}) add_read_names(*g, read);
  std::map<std::string, Tensor> stored;
  for (const auto& [name, t] : s.model->initializers)
    if ((starts_with(name, kOptimizerStatePrefix) || name == kUpdateCount) && !read.count(name)) stored[name] = t;
  if (!stored.empty()) {
    for (Graph* g : {s.model.get(), s.train.get(), s.eval.get()})
      for (const auto& [name, t] : stored) g->initializers.erase(name);
    // The plans hold the initializers they were built with: rebuilt, they drop the state.
    s.train_plan = std::make_unique<Plan>(*s.train, KernelRegistry::global(), model_path);
    s.eval_plan = std::make_unique<Plan>(*s.eval, KernelRegistry::global(), model_path);
    s.predict_plan.reset();
  }
  for (const char* domain : {kOnnxTrainingDomain, kProjectDomain}) {
    bool used = false;
    for (const Node& n : s.model->nodes) used |= n.domain == domain;
    if (!used) s.model->opsets.erase(domain);
  }
  return stored;
}

// The optimizer state of every parameter from `stored`, keyed as Optimizer::load_state reads
// it, or nullopt when it does not fit this session after `step` steps.
std::optional<std::map<std::string, Tensor>> optimizer_state_of(const TrainingSession::Impl& s,
                                                                const std::map<std::string, Tensor>& stored,
                                                                int64_t step) {
  std::map<std::string, Tensor> state;
  for (const auto& p : s.parameters) {
    const auto count = stored.find(kOptimizerStatePrefix + p.name + "/step");
    if (count == stored.end() || count->second.dtype() != DType::Int64 || count->second.numel() != 1)
      return std::nullopt;
    // A parameter stepped as often as the session (as train_step does), or never before step 1.
    if ((count->second.data<int64_t>()[0] > 0) != (step > 0)) return std::nullopt;
    state[p.name + "/step"] = count->second;
    for (const auto& slot : s.optimizer->slot_names()) {
      const auto it = stored.find(kOptimizerStatePrefix + p.name + "/" + slot);
      if (it == stored.end() || it->second.dtype() != p.value.dtype() || it->second.shape() != p.value.shape())
        return std::nullopt;
      state[p.name + "/" + slot] = it->second;
    }
  }
  return state;
}

// The Dropout generators' states from the metadata, when they are all for this session's
// training plan (none otherwise).
std::map<std::string, std::string> rng_states_of(const TrainingSession::Impl& s,
                                                 const std::map<std::string, std::string>& meta) {
  std::map<std::string, std::string> rng;
  const auto stateful = s.train_plan->kernel_states();
  for (const auto& [name, value] : meta) {
    if (!starts_with(name, kRngKeyPrefix)) continue;
    const std::string output = name.substr(std::strlen(kRngKeyPrefix));
    if (!stateful.count(output)) return {};
    rng[output] = value;
  }
  return rng;
}

}  // namespace

void restore_training_info(TrainingSession::Impl& s, const std::string& model_path) {
  const ModelFileInfo file = read_model_file_info(model_path);
  const auto& meta = file.metadata;
  const auto format = meta.find(kFormatKey);
  if (format == meta.end()) return;
  OT_CHECK(format->second == kFormatVersion,
           "{}: the training information is in format {}; this onnx-train reads format {} (update onnx-train)",
           model_path, format->second, kFormatVersion);
  auto entry = [&](const std::string& name) -> const std::string& {
    const auto it = meta.find(key(name));
    OT_CHECK(it != meta.end(), "{}: the training information has no '{}' entry", model_path, key(name));
    return it->second;
  };
  const std::map<std::string, Tensor> stored = take_stored_state(s, model_path);

  // The optimizer state, step and schedule carry over when they fit this session.
  if (entry("optimizer") != s.optimizer->options().kind) return;
  int64_t step = 0;
  try {
    step = std::stoll(entry("step"));
  } catch (const std::exception&) {
    OT_FAIL("{}: step '{}' is not a number", model_path, entry("step"));
  }
  OT_CHECK(step >= 0, "{}: step {} is negative", model_path, step);
  const auto state = optimizer_state_of(s, stored, step);
  if (!state) return;
  ScheduleOptions schedule;
  try {
    schedule = parse_schedule(entry("schedule"));
  } catch (const Error& e) {
    throw Error(fmt::format("{}: schedule: {}", model_path, e.what()), e.category());
  }
  // The Dropout generators, when the masks are drawn from the same seed.
  const std::map<std::string, std::string> rng =
      entry("seed") == std::to_string(s.options.seed) ? rng_states_of(s, meta) : std::map<std::string, std::string>{};
  if (step > 0) s.optimizer->load_state(*state);
  s.train_plan->set_kernel_states(rng);
  s.step = step;
  s.schedule = schedule;
}

}  // namespace onnx_train
