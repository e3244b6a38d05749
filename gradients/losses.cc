// Losses appended to an inference graph as ONNX nodes (gradients/losses.h).
//
// Every new value gets a ValueInfo (type and, where known, shape): the gradient builder
// reads them to type the constants of the backward graph. The nodes are made with the graph
// editor (runtime/ir/editor.h) on a copy of the graph, which replaces the graph only when all
// of them could be made, so a failure leaves the graph as it was.
#include "gradients/losses.h"

#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "runtime/ir/editor.h"

namespace onnx_train {

namespace {

const char* const kLossNames[] = {"cross-entropy", "nll", "mse", "l1", "huber", "bce-with-logits"};

bool is_class_loss(LossKind kind) { return kind == LossKind::CrossEntropy || kind == LossKind::NLL; }

// Emits the loss nodes through the graph editor, typing every output.
class LossEmitter {
 public:
  LossEmitter(Graph& graph, DType dtype) : e_(graph, "cannot append the loss", "loss/"), dtype_(dtype) {}

  std::string fresh_name(const std::string& hint) { return e_.fresh(hint); }

  // One node `op`(inputs) whose outputs are named `outs` (fresh names when empty), each typed
  // `dtype` with `shape` (nullopt: unknown).
  std::vector<std::string> emit_multi(const std::string& op, const std::vector<std::string>& inputs,
                                      std::map<std::string, Attribute> attributes,
                                      const std::vector<std::pair<DType, std::optional<Shape>>>& types,
                                      std::vector<std::string> outs = {}) {
    outs.resize(types.size());
    for (size_t i = 0; i < types.size(); ++i) {
      if (outs[i].empty()) outs[i] = out_name(op);
      e_.set_type(outs[i], types[i].first, types[i].second);
    }
    return e_.add(op, inputs, outs, std::move(attributes)).outputs;
  }

  std::string emit(const std::string& op, const std::vector<std::string>& inputs,
                   std::map<std::string, Attribute> attributes = {}, std::optional<Shape> shape = std::nullopt,
                   std::optional<DType> dtype = std::nullopt) {
    return emit_multi(op, inputs, std::move(attributes), {{dtype.value_or(dtype_), shape}}).front();
  }

  // A Constant node holding `value`.
  std::string constant(Tensor value) { return e_.constant(std::move(value), out_name("Constant")); }
  // A scalar of the loss's float type.
  std::string scalar(double value) { return constant(scalar_tensor(dtype_, value)); }

  // `op` (ReduceMean, ReduceSum) of `v` over `axes` (empty: all), keepdims=0, of shape `shape`.
  std::string reduce(const std::string& op, const std::string& v, const std::vector<int64_t>& axes,
                     std::optional<Shape> shape) {
    const std::string out = out_name(op);
    e_.set_type(out, dtype_, shape);
    return e_.reduce(op, v, axes, false, out);
  }

  // mean or sum of every element of `v`, a scalar.
  std::string reduce(const std::string& v, const std::string& reduction) {
    return reduce(reduction == "mean" ? "ReduceMean" : "ReduceSum", v, {}, Shape{});
  }

 private:
  std::string out_name(const std::string& op) { return e_.fresh(fmt::format("loss/{}_out", op)); }

  GraphEditor e_;
  DType dtype_;
};

// The target's type: class indices of the output's shape without the class axis, or
// the output's own type for the regression losses and BCE.
ValueInfo label_info(const ValueInfo& output, const LossOptions& options) {
  ValueInfo label = output;
  label.name = options.label;
  if (is_class_loss(options.kind)) {
    const int64_t axis = resolved_class_axis(options, output.shape->size());
    label.dtype = options.label_dtype;
    label.shape->erase(label.shape->begin() + axis);
    if (label.dim_params.size() > static_cast<size_t>(axis)) label.dim_params.erase(label.dim_params.begin() + axis);
  }
  return label;
}

void check_options(const Graph& graph, const ValueInfo& output, const LossOptions& options) {
  const std::string kind = loss_kind_name(options.kind);
  OT_CHECK(options.reduction == "mean" || options.reduction == "sum",
           "{} loss: reduction '{}' is not supported; use mean or sum", kind, options.reduction);
  OT_CHECK(options.label_smoothing == 0 || options.kind == LossKind::CrossEntropy,
           "label smoothing applies to the cross-entropy loss only, not to {}", kind);
  OT_CHECK(options.label_smoothing >= 0 && options.label_smoothing <= 1, "label smoothing must lie in [0, 1], not {}",
           options.label_smoothing);
  OT_CHECK(options.huber_delta > 0, "the Huber loss's delta must be positive, not {}", options.huber_delta);
  OT_CHECK(output.is_tensor, "{} loss: the output '{}' is {}, not a tensor", kind, output.name,
           output.type_description);
  OT_CHECK(output.dtype == DType::Float32 || output.dtype == DType::Float64,
           "{} loss: the output '{}' is {}; the loss needs a float32 or float64 output", kind, output.name,
           dtype_name(output.dtype));
  OT_CHECK(output.shape.has_value(),
           "{} loss: the rank of the output '{}' is unknown; give the model's output a shape (run ONNX shape "
           "inference on it)",
           kind, output.name);
  if (is_class_loss(options.kind)) {
    OT_CHECK(output.shape->size() >= 2,
             "{} loss: the output '{}' has shape {}, but the loss needs scores of shape [N, C], [N, C, d1, ...] "
             "or [N, d1, ..., C]; pick an output with a batch and a class axis or use a regression loss",
             kind, output.name, shape_str(*output.shape));
    resolved_class_axis(options, output.shape->size());
    OT_CHECK(options.label_dtype == DType::Int64 || options.label_dtype == DType::Int32,
             "{} loss: class labels are int64 or int32, not {}", kind, dtype_name(options.label_dtype));
    const int opset = graph_opset(graph);
    std::string op;
    const int needed = loss_min_opset(options.kind, &op);
    OT_CHECK(opset >= needed,
             "{} loss: the model is at opset {}, but the loss is built from {} which ONNX defines from opset {}; "
             "convert the model first (load it with LoadOptions::min_opset = {}, as TrainingSession does)",
             kind, opset, op, needed, needed);
  }
}

// Cross-entropy and NLL: the ONNX loss op, plus PyTorch's label-smoothing term for
// cross-entropy (see losses.h).
std::string class_loss(LossEmitter& e, const ValueInfo& output, const ValueInfo& label, const LossOptions& options,
                       const std::string& loss) {
  std::string target = label.name;
  if (label.dtype != DType::Int64)
    target = e.emit("Cast", {target}, {{"to", Attribute::of_int(static_cast<int64_t>(DType::Int64))}}, label.shape,
                    DType::Int64);
  // Classes on the last axis of a rank >= 3 output: scored as [M, C] against [M] (M the product
  // of the other axes), as PyTorch's y.view(-1, C), t.view(-1); both are views, not copies.
  ValueInfo scores = output;
  std::optional<Shape> positions = label.shape;
  const size_t rank = output.shape->size();
  if (rank >= 3 && resolved_class_axis(options, rank) == static_cast<int64_t>(rank) - 1) {
    int64_t m = 1;
    for (size_t d = 0; d + 1 < rank; ++d) m = (*output.shape)[d] >= 0 && m >= 0 ? m * (*output.shape)[d] : -1;
    positions = Shape{m};
    scores.shape = Shape{m, output.shape->back()};
    scores.name = e.emit("Flatten", {output.name}, {{"axis", Attribute::of_int(static_cast<int64_t>(rank) - 1)}},
                         scores.shape, output.dtype);
    target = e.emit("Reshape", {target, e.constant(Tensor::from<int64_t>({1}, {-1}))}, {}, positions, DType::Int64);
  }
  const std::map<std::string, Attribute> attrs{{"reduction", Attribute::of_string(options.reduction)},
                                               {"ignore_index", Attribute::of_int(options.ignore_index)}};
  if (options.kind == LossKind::NLL)
    return e.emit_multi("NegativeLogLikelihoodLoss", {scores.name, target}, attrs, {{output.dtype, Shape{}}}, {loss})
        .front();
  const float eps = options.label_smoothing;
  if (eps == 0)
    return e.emit_multi("SoftmaxCrossEntropyLoss", {scores.name, target}, attrs, {{output.dtype, Shape{}}}, {loss})
        .front();
  // nll and log_softmax(y) [N, C, d...] from one op; m = mean_c log_softmax [N, d...];
  // valid = [t != ignore_index]; smooth = -reduce(m * valid) (mean: over the valid targets).
  const auto outs = e.emit_multi("SoftmaxCrossEntropyLoss", {scores.name, target}, attrs,
                                 {{output.dtype, Shape{}}, {output.dtype, scores.shape}});
  const std::string class_mean = e.reduce("ReduceMean", outs[1], {1}, positions);
  const std::string ignore_index = e.constant(Tensor::scalar<int64_t>(options.ignore_index));
  const std::string ignored = e.emit("Equal", {target, ignore_index}, {}, positions, DType::Bool);
  const std::string valid = e.emit("Cast", {e.emit("Not", {ignored}, {}, positions, DType::Bool)},
                                   {{"to", Attribute::of_int(static_cast<int64_t>(output.dtype))}}, positions);
  std::string total = e.reduce(e.emit("Mul", {class_mean, valid}, {}, positions), "sum");
  if (options.reduction == "mean") total = e.emit("Div", {total, e.reduce(valid, "sum")}, {}, Shape{});
  // (1 - eps) * nll - eps * total
  const std::string kept = e.emit("Mul", {outs[0], e.scalar(1.0 - eps)}, {}, Shape{});
  const std::string smooth = e.emit("Mul", {total, e.scalar(eps)}, {}, Shape{});
  return e.emit_multi("Sub", {kept, smooth}, {}, {{output.dtype, Shape{}}}, {loss}).front();
}

// MSE, L1, Huber and BCE with logits: an elementwise term of y and t, then reduced.
std::string elementwise_loss(LossEmitter& e, const ValueInfo& output, const ValueInfo& label,
                             const LossOptions& options, const std::string& loss) {
  const auto& y = output.name;
  const auto& shape = output.shape;
  std::string term;
  switch (options.kind) {
    case LossKind::MSE: {
      const std::string d = e.emit("Sub", {y, label.name}, {}, shape);
      term = e.emit("Mul", {d, d}, {}, shape);
      break;
    }
    case LossKind::L1: term = e.emit("Abs", {e.emit("Sub", {y, label.name}, {}, shape)}, {}, shape); break;
    case LossKind::Huber: {
      // a = |y - t|, q = min(a, delta): q * (a - q / 2)
      const std::string a = e.emit("Abs", {e.emit("Sub", {y, label.name}, {}, shape)}, {}, shape);
      const std::string q = e.emit("Min", {a, e.scalar(options.huber_delta)}, {}, shape);
      term = e.emit("Mul", {q, e.emit("Sub", {a, e.emit("Mul", {q, e.scalar(0.5)}, {}, shape)}, {}, shape)}, {}, shape);
      break;
    }
    case LossKind::BCEWithLogits:
      // softplus(y) - y * t
      term = e.emit("Sub", {e.emit("Softplus", {y}, {}, shape), e.emit("Mul", {y, label.name}, {}, shape)}, {}, shape);
      break;
    default: OT_FAIL("internal: {} is not an elementwise loss", loss_kind_name(options.kind));
  }
  return e
      .emit_multi(options.reduction == "mean" ? "ReduceMean" : "ReduceSum", {term},
                  {{"keepdims", Attribute::of_int(0)}}, {{output.dtype, Shape{}}}, {loss})
      .front();
}

}  // namespace

LossKind parse_loss_kind(const std::string& name) {
  for (size_t i = 0; i < std::size(kLossNames); ++i)
    if (name == kLossNames[i]) return static_cast<LossKind>(i);
  OT_FAIL("unknown loss '{}'; the losses are: {}", name, fmt::join(std::begin(kLossNames), std::end(kLossNames), ", "));
}

std::string loss_kind_name(LossKind kind) { return kLossNames[static_cast<size_t>(kind)]; }

int64_t resolved_class_axis(const LossOptions& options, size_t rank) {
  const int64_t r = static_cast<int64_t>(rank);
  if (!options.class_axis) return r == 3 ? 2 : 1;
  const int64_t axis = *options.class_axis < 0 ? *options.class_axis + r : *options.class_axis;
  OT_CHECK_OPTION(axis == 1 || axis == r - 1, "loss.class_axis",
                  "{} does not fit an output of rank {}: the classes are on axis 1 ([N, C, ...]) or on the last axis "
                  "(-1: [N, ..., C])",
                  *options.class_axis, r);
  return axis;
}

int loss_min_opset(LossKind kind, std::string* op) {
  if (!is_class_loss(kind)) return 0;
  if (op != nullptr) *op = kind == LossKind::NLL ? "NegativeLogLikelihoodLoss" : "SoftmaxCrossEntropyLoss";
  return 12;
}

AppendedLoss append_loss(Graph& graph, const LossOptions& options) {
  const std::string kind = loss_kind_name(options.kind);
  std::string output_name = options.output;
  if (output_name.empty()) {
    OT_CHECK(!graph.outputs.empty(), "{} loss: the graph has no outputs; name the value the loss reads", kind);
    output_name = graph.outputs.front().name;
  }
  const std::set<std::string> names = value_names(graph);
  if (!names.count(output_name)) {
    std::vector<std::string> outputs;
    for (const auto& v : graph.outputs) outputs.push_back(v.name);
    OT_FAIL("{} loss: '{}' is not a value of the graph; name one of its outputs: {}", kind, output_name,
            fmt::join(outputs, ", "));
  }
  const ValueInfo* found = graph.find_value_info(output_name);
  OT_CHECK(found != nullptr,
           "{} loss: the type of '{}' is unknown; give it a value_info (run ONNX shape inference) or name a graph "
           "output",
           kind, output_name);
  const ValueInfo output = *found;
  check_options(graph, output, options);
  OT_CHECK(!options.label.empty(), "{} loss: name the label input", kind);
  OT_CHECK(!names.count(options.label),
           "{} loss: the label name '{}' is already a value of the graph; choose another label name", kind,
           options.label);

  const ValueInfo label = label_info(output, options);
  Graph result = graph;  // replaces `graph` only when every node could be made
  LossEmitter e(result, output.dtype);
  e.fresh_name(label.name);
  const std::string loss = e.fresh_name("loss");
  if (is_class_loss(options.kind))
    class_loss(e, output, label, options, loss);
  else
    elementwise_loss(e, output, label, options, loss);

  result.value_info.erase(loss);
  result.inputs.push_back(label);
  ValueInfo loss_info;
  loss_info.name = loss;
  loss_info.dtype = output.dtype;
  loss_info.shape = Shape{};
  result.outputs.push_back(loss_info);
  graph = std::move(result);
  return {loss, label.name};
}

}  // namespace onnx_train
