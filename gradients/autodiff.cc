#include "gradients/autodiff.h"

#include <algorithm>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "gradients/builder.h"
#include "importers/onnx_model.h"

namespace onnx_train {

namespace {

// The element type of a value: an initializer's, else shape inference's (Undefined if unknown).
DType value_dtype(const Graph& graph, const std::string& value) {
  if (auto it = graph.initializers.find(value); it != graph.initializers.end()) return it->second.dtype();
  const ValueInfo* vi = graph.find_value_info(value);
  return vi != nullptr ? vi->dtype : DType::Undefined;
}

}  // namespace

// The driver's state while one backward graph is built; GradContext emits through it.
class GradientBuilder {
 public:
  explicit GradientBuilder(Graph& graph) : graph_(graph) {
    graph_.opsets.emplace(kGradientDomain, 1);
    const auto it = graph_.opsets.find("");
    opset_ = it == graph_.opsets.end() ? kMinOpset : it->second;
    // Every name in use, so that fresh names are found in constant time.
    for (const auto& [name, t] : graph_.initializers) names_.insert(name);
    for (const auto* list : {&graph_.inputs, &graph_.outputs, &graph_.overridable_initializers})
      for (const auto& v : *list) names_.insert(v.name);
    for (const auto& [name, v] : graph_.value_info) names_.insert(name);
    for (const Node& n : graph_.nodes) names_.insert(n.outputs.begin(), n.outputs.end());
  }

  std::string fresh_name(const std::string& hint) {
    std::string name;
    do name = fmt::format("{}__grad{}", hint, counter_++);
    while (taken(name));
    names_.insert(name);
    return name;
  }

  std::string emit(const std::string& op, const std::vector<std::string>& inputs,
                   std::map<std::string, Attribute> attributes, const std::string& domain, const std::string& out) {
    return emit_multi(op, inputs, std::move(attributes), domain, {out}).front();
  }

  std::vector<std::string> emit_multi(const std::string& op, const std::vector<std::string>& inputs,
                                      std::map<std::string, Attribute> attributes, const std::string& domain,
                                      std::vector<std::string> outs) {
    Node node;
    node.op_type = op;
    node.domain = domain;
    node.name = fmt::format("grad/{}_{}", op, counter_++);
    node.inputs = inputs;
    node.outputs = outs;
    node.attributes = std::move(attributes);
    node.opset = domain.empty() ? opset_ : 1;
    node.since_version = domain.empty() ? onnx_since_version(op, opset_) : 1;
    OT_CHECK(node.since_version > 0, "gradient builder: ONNX has no op {} at opset {}", op, opset_);
    names_.insert(outs.begin(), outs.end());
    graph_.nodes.push_back(std::move(node));
    ++added_;
    return outs;
  }

  std::string constant(Tensor value, const std::string& hint) {
    const std::string out = fresh_name(hint);
    return emit("Constant", {}, {{"value", Attribute::of_tensor(std::move(value))}}, "", out);
  }

  DType dtype_of(const std::string& value) const { return value_dtype(graph_, value); }

  int rank_of(const std::string& value) const {
    if (auto it = graph_.initializers.find(value); it != graph_.initializers.end()) return it->second.rank();
    const ValueInfo* vi = graph_.find_value_info(value);
    return vi != nullptr && vi->shape ? static_cast<int>(vi->shape->size()) : -1;
  }

  std::optional<Shape> shape_of(const std::string& value) const {
    if (auto it = graph_.initializers.find(value); it != graph_.initializers.end()) return it->second.shape();
    const ValueInfo* vi = graph_.find_value_info(value);
    return vi != nullptr ? vi->shape : std::nullopt;
  }

  // A tensor of `value` with the shape and type of `like` (a forward value), named `out`:
  // a constant when the shape is fixed, else built from Shape(like) at run time.
  std::string filled_like(const std::string& like, double value, const std::string& out) {
    const DType dtype = dtype_of(like);
    OT_CHECK(dtype == DType::Float32 || dtype == DType::Float64, "gradients need float32 or float64 values; '{}' is {}",
             like, dtype_name(dtype));
    auto filled = [&](const Shape& shape) {
      Tensor t(dtype, shape);
      for (int64_t i = 0; i < t.numel(); ++i) {
        if (dtype == DType::Float64)
          t.data<double>()[i] = value;
        else
          t.data<float>()[i] = static_cast<float>(value);
      }
      return t;
    };
    const auto shape = shape_of(like);
    if (shape && std::all_of(shape->begin(), shape->end(), [](int64_t d) { return d >= 0; }))
      return emit("Constant", {}, {{"value", Attribute::of_tensor(filled(*shape))}}, "", out);
    if (opset_ >= 9) {
      const std::string s = fresh_name(like + "_shape");
      emit("Shape", {like}, {}, "", s);
      return emit("ConstantOfShape", {s}, {{"value", Attribute::of_tensor(filled({1}))}}, "", out);
    }
    // ConstantOfShape needs opset 9: like * 0 + value.
    Tensor zero_scalar(dtype, {});
    const std::string zero_const = fresh_name("zero");
    emit("Constant", {}, {{"value", Attribute::of_tensor(zero_scalar)}}, "", zero_const);
    const std::string value_const = fresh_name("value");
    emit("Constant", {}, {{"value", Attribute::of_tensor(filled({}))}}, "", value_const);
    const std::string zeros = fresh_name(like + "_zeros");
    emit("Mul", {like, zero_const}, {}, "", zeros);
    return emit("Add", {zeros, value_const}, {}, "", out);
  }

  // Names the optional output i of forward node `index`, which the model left out.
  std::string add_forward_output(size_t index, size_t i, const std::string& hint) {
    Node& node = graph_.nodes[index];
    if (node.outputs.size() <= i) node.outputs.resize(i + 1);
    if (node.outputs[i].empty()) node.outputs[i] = fresh_name(hint + "_saved" + std::to_string(i));
    return node.outputs[i];
  }

  size_t added() const { return added_; }
  int opset() const { return opset_; }

  bool taken(const std::string& name) const { return names_.count(name) != 0; }

 private:
  Graph& graph_;
  std::unordered_set<std::string> names_;
  int opset_ = kMinOpset;
  int counter_ = 0;
  size_t added_ = 0;
};

// ---- GradContext: the rules' view -------------------------------------------------------

GradContext::GradContext(GradientBuilder& builder, const Node& node, size_t node_index, std::vector<std::string> dys,
                         std::vector<bool> wanted)
    : builder_(builder), node_(node), node_index_(node_index), dys_(std::move(dys)), wanted_(std::move(wanted)) {}

std::string GradContext::forward_output(size_t i) {
  if (i < node_.outputs.size() && !node_.outputs[i].empty()) return node_.outputs[i];
  return builder_.add_forward_output(node_index_, i, node_.name.empty() ? node_.op_type : node_.name);
}

const std::string& GradContext::x(size_t i) const {
  OT_CHECK(i < node_.inputs.size(), "gradient rule of {}: no input {}", node_.label(), i);
  return node_.inputs[i];
}

const std::string& GradContext::y(size_t i) const {
  OT_CHECK(i < node_.outputs.size(), "gradient rule of {}: no output {}", node_.label(), i);
  return node_.outputs[i];
}

const std::string& GradContext::dy(size_t i) const {
  static const std::string none;
  return i < dys_.size() ? dys_[i] : none;
}

void GradContext::set_dx(size_t i, const std::string& grad, bool broadcast) {
  if (wants_dx(i)) results_[i] = Set{grad, broadcast};
}

std::string GradContext::emit(const std::string& op, const std::vector<std::string>& inputs,
                              std::map<std::string, Attribute> attributes, const std::string& domain) {
  return builder_.emit(op, inputs, std::move(attributes), domain, builder_.fresh_name(node_.name + "/" + op));
}

std::vector<std::string> GradContext::emit_multi(const std::string& op, const std::vector<std::string>& inputs,
                                                 size_t num_outputs, std::map<std::string, Attribute> attributes,
                                                 const std::string& domain) {
  std::vector<std::string> outs;
  for (size_t i = 0; i < num_outputs; ++i) outs.push_back(builder_.fresh_name(node_.name + "/" + op));
  return builder_.emit_multi(op, inputs, std::move(attributes), domain, outs);
}

std::vector<std::string> GradContext::emit_optional(const std::string& op, const std::vector<std::string>& inputs,
                                                    const std::vector<bool>& wanted,
                                                    std::map<std::string, Attribute> attributes,
                                                    const std::string& domain) {
  std::vector<std::string> outs;
  for (bool w : wanted) outs.push_back(w ? builder_.fresh_name(node_.name + "/" + op) : "");
  while (!outs.empty() && outs.back().empty()) outs.pop_back();  // trailing omitted outputs are left off
  OT_CHECK(!outs.empty(), "gradient rule of {}: emits {} with no wanted output", node_.label(), op);
  builder_.emit_multi(op, inputs, std::move(attributes), domain, outs);
  outs.resize(wanted.size());
  return outs;
}

std::string GradContext::unsqueeze(const std::string& v, const std::vector<int64_t>& axes) {
  if (opset() >= 13) return emit("Unsqueeze", {v, ints(axes)});
  return emit("Unsqueeze", {v}, {{"axes", Attribute::of_ints(axes)}});
}

std::string GradContext::squeeze(const std::string& v, const std::vector<int64_t>& axes) {
  if (opset() >= 13) return emit("Squeeze", {v, ints(axes)});
  return emit("Squeeze", {v}, {{"axes", Attribute::of_ints(axes)}});
}

std::string GradContext::reduce_sum(const std::string& v, const std::vector<int64_t>& axes, bool keepdims) {
  std::map<std::string, Attribute> attrs{{"keepdims", Attribute::of_int(keepdims ? 1 : 0)}};
  if (opset() >= 13) return axes.empty() ? emit("ReduceSum", {v}, attrs) : emit("ReduceSum", {v, ints(axes)}, attrs);
  if (!axes.empty()) attrs["axes"] = Attribute::of_ints(axes);
  return emit("ReduceSum", {v}, attrs);
}

std::string GradContext::cast_like(const std::string& v, const std::string& like) {
  return emit("Cast", {v}, {{"to", Attribute::of_int(static_cast<int64_t>(dtype_of(like)))}});
}

std::string GradContext::constant(Tensor value) { return builder_.constant(std::move(value), node_.name + "/const"); }

std::string GradContext::scalar(double value, const std::string& like) {
  const DType dtype = builder_.dtype_of(like);
  Tensor t;
  if (dtype == DType::Float64)
    t = Tensor::scalar<double>(value);
  else if (dtype == DType::Float32)
    t = Tensor::scalar<float>(static_cast<float>(value));
  else
    OT_FAIL("gradient rule of {}: '{}' has element type {}; gradients need float32 or float64 (or a known type)",
            node_.label(), like, dtype_name(dtype));
  return builder_.constant(t, node_.name + "/const");
}

std::string GradContext::ints(const std::vector<int64_t>& values) {
  return builder_.constant(Tensor::from<int64_t>({static_cast<int64_t>(values.size())}, values), node_.name + "/ints");
}

DType GradContext::dtype_of(const std::string& value) const { return builder_.dtype_of(value); }
int GradContext::rank_of(const std::string& value) const { return builder_.rank_of(value); }
int GradContext::opset() const { return builder_.opset(); }

// ---- the driver ---------------------------------------------------------------------------

namespace {

bool carries_gradient(DType dtype) { return dtype_is_float(dtype) || dtype == DType::Undefined; }

}  // namespace

std::set<std::string> values_feeding(const Graph& graph, const std::string& loss) {
  bool known = graph.initializers.count(loss) != 0;
  for (const Node& n : graph.nodes)
    for (const auto& o : n.outputs) known |= o == loss;
  for (const auto& v : graph.inputs) known |= v.name == loss;
  OT_CHECK(known, "the loss '{}' is not a value of the graph; name one of its outputs", loss);
  std::set<std::string> feeds_loss{loss};
  for (size_t k = graph.nodes.size(); k-- > 0;) {
    const Node& n = graph.nodes[k];
    bool reaches = false;
    for (const auto& o : n.outputs) reaches |= feeds_loss.count(o) != 0;
    if (!reaches) continue;
    const GradRuleEntry* entry = find_gradient_rule(n);
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const std::string& in = n.inputs[i];
      if (!in.empty() && input_takes_gradient(entry, i) && carries_gradient(value_dtype(graph, in)))
        feeds_loss.insert(in);
    }
  }
  return feeds_loss;
}

std::vector<std::string> promote_constant_weights(Graph& graph, const std::string& loss) {
  const std::set<std::string> feeds_loss = values_feeding(graph, loss);
  std::vector<std::string> promoted;
  for (const Node* n : graph.constant_weight_nodes())
    if (feeds_loss.count(n->outputs[0])) promoted.push_back(n->outputs[0]);
  graph.promote_constants_to_initializers(promoted);
  return promoted;
}

std::vector<std::string> trainable_initializers(const Graph& graph, const std::string& loss) {
  const std::set<std::string> feeds_loss = values_feeding(graph, loss);
  // Not weights, though their gradient can be asked for: BatchNormalization's running mean
  // and variance (inputs 3 and 4; state the forward pass updates, buffers in PyTorch) and a
  // built-in loss's class weights (input 2; a setting, as in torch's cross_entropy).
  std::set<std::string> not_weights;
  for (const Node& n : graph.nodes) {
    if (!n.domain.empty()) continue;
    if (n.op_type == "BatchNormalization")
      for (size_t i = 3; i < n.inputs.size() && i < 5; ++i) not_weights.insert(n.inputs[i]);
    if ((n.op_type == "SoftmaxCrossEntropyLoss" || n.op_type == "NegativeLogLikelihoodLoss") && n.inputs.size() > 2)
      not_weights.insert(n.inputs[2]);
  }
  std::vector<std::string> out;
  for (const auto& [name, tensor] : graph.initializers)
    if (dtype_is_float(tensor.dtype()) && feeds_loss.count(name) && !not_weights.count(name)) out.push_back(name);
  return out;
}

namespace {

// The backward graph of d loss / d wrt[i], its result named names[i] (or "<wrt>_grad").
GradientGraph append_gradients(Graph& graph, const std::string& loss, const std::vector<std::string>& wrt,
                               const std::vector<std::string>& names) {
  GradientBuilder builder(graph);
  const size_t forward_nodes = graph.nodes.size();

  // Values that the loss depends on (walking back through float edges only) ...
  const std::set<std::string> feeds_loss = values_feeding(graph, loss);
  // ... and values that depend on a wrt value: the gradient flows where both hold.
  std::set<std::string> from_wrt;
  for (const auto& w : wrt) {
    OT_CHECK(carries_gradient(builder.dtype_of(w)), "cannot differentiate with respect to '{}': it is {}", w,
             dtype_name(builder.dtype_of(w)));
    from_wrt.insert(w);
  }
  for (size_t k = 0; k < forward_nodes; ++k) {
    const Node& n = graph.nodes[k];
    bool reached = false;
    for (const auto& in : n.inputs) reached |= from_wrt.count(in) != 0;
    if (!reached) continue;
    for (const auto& o : n.outputs)
      if (carries_gradient(builder.dtype_of(o))) from_wrt.insert(o);
  }
  auto on_path = [&](const std::string& v) { return !v.empty() && feeds_loss.count(v) && from_wrt.count(v); };

  // Every node on a path needs a rule: report all that lack one before emitting anything.
  std::vector<std::string> missing;
  for (size_t k = 0; k < forward_nodes; ++k) {
    const Node& n = graph.nodes[k];
    bool needed = false;
    for (const auto& o : n.outputs) needed |= on_path(o);
    if (needed && find_gradient_rule(n) == nullptr) missing.push_back(n.label());
  }
  OT_CHECK(missing.empty(), "no gradient rule for {} node{} on the path from the trainable values to the loss:\n  - {}",
           missing.size(), missing.size() == 1 ? "" : "s", fmt::join(missing, "\n  - "));

  // Gradient contributions per value, summed when first read.
  std::map<std::string, std::vector<std::string>> contributions;
  auto gradient_of = [&](const std::string& v) -> std::string {
    auto it = contributions.find(v);
    if (it == contributions.end() || it->second.empty()) return "";
    if (it->second.size() > 1) {
      const std::string sum = builder.fresh_name(v + "_grad_sum");
      builder.emit("Sum", it->second, {}, "", sum);
      it->second = {sum};
    }
    return it->second.front();
  };

  // The seed: d loss / d loss = 1 everywhere (a scalar loss gives a scalar 1).
  contributions[loss].push_back(builder.filled_like(loss, 1.0, loss + "_grad_seed"));

  for (size_t k = forward_nodes; k-- > 0;) {
    const Node node = graph.nodes[k];  // a copy: emitting appends to graph.nodes
    std::vector<std::string> dys;
    bool any = false;
    for (const auto& o : node.outputs) {
      dys.push_back(on_path(o) ? gradient_of(o) : "");
      any |= !dys.back().empty();
    }
    if (!any) continue;
    const GradRuleEntry* entry = find_gradient_rule(node);
    std::vector<bool> wanted;
    bool wants_any = false;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      wanted.push_back(on_path(node.inputs[i]) && input_takes_gradient(entry, i));
      wants_any |= wanted.back();
    }
    if (!wants_any) continue;
    GradContext ctx(builder, node, k, dys, wanted);
    try {
      entry->rule(ctx);
    } catch (const Error& e) {
      OT_FAIL("building the gradient of {}: {}", node.label(), e.what());
    }
    for (const auto& [i, set] : ctx.results()) {
      std::string grad = set.grad;
      if (set.broadcast) {
        // Sum the broadcast gradient back to the input's shape, unless both shapes are
        // known, fixed and equal.
        const auto in_shape = builder.shape_of(node.inputs[i]);
        const auto out_shape = builder.shape_of(node.outputs[0]);
        const bool fixed_equal = in_shape && out_shape && *in_shape == *out_shape &&
                                 std::all_of(in_shape->begin(), in_shape->end(), [](int64_t d) { return d >= 0; });
        if (!fixed_equal) {
          const std::string shape = builder.fresh_name(node.inputs[i] + "_shape");
          builder.emit("Shape", {node.inputs[i]}, {}, "", shape);
          const std::string reduced = builder.fresh_name(node.inputs[i] + "_grad_part");
          builder.emit("SumToShape", {grad, shape}, {}, kGradientDomain, reduced);
          grad = reduced;
        }
      }
      contributions[node.inputs[i]].push_back(grad);
    }
  }

  GradientGraph result;
  for (size_t i = 0; i < wrt.size(); ++i) {
    const std::string& w = wrt[i];
    std::string grad = gradient_of(w);
    std::string name = i < names.size() ? names[i] : w + "_grad";
    if (i >= names.size() && builder.taken(name)) name = builder.fresh_name(name);
    if (grad.empty()) {
      builder.filled_like(w, 0.0, name);  // not connected to the loss: a zero gradient
    } else {
      builder.emit("Identity", {grad}, {}, "", name);
    }
    ValueInfo info;
    info.name = name;
    info.dtype = builder.dtype_of(w);
    info.shape = builder.shape_of(w);
    graph.value_info[name] = info;
    result.gradients[w] = name;
  }
  result.nodes_added = builder.added();
  return result;
}

}  // namespace

GradientGraph build_gradient_graph(Graph& graph, const std::string& loss, const std::vector<std::string>& wrt) {
  GradientGraph result = append_gradients(graph, loss, wrt, {});
  for (const auto& w : wrt) {
    auto it = graph.value_info.find(result.gradients.at(w));
    graph.outputs.push_back(it->second);
    graph.value_info.erase(it);
  }
  return result;
}

bool is_onnx_gradient_op(const std::string& domain, const std::string& op_type) {
  return domain == kOnnxTrainingDomain && op_type == "Gradient";
}

size_t expand_onnx_gradient_ops(Graph& graph) {
  size_t expanded = 0;
  for (;;) {
    auto it = std::find_if(graph.nodes.begin(), graph.nodes.end(),
                           [](const Node& n) { return is_onnx_gradient_op(n.domain, n.op_type); });
    if (it == graph.nodes.end()) break;
    const Node node = *it;
    graph.nodes.erase(it);
    const std::vector<std::string> xs = node.attr_strings("xs", {});
    const std::vector<std::string> zs = node.attr_strings("zs", {});
    OT_CHECK(node.has_attr("y") && !xs.empty(), "{}: a Gradient node needs the attributes 'xs' and 'y'", node.label());
    const std::string y = node.attr_string("y");
    OT_CHECK(node.inputs.size() == xs.size() + zs.size(),
             "{}: a Gradient node's inputs are the values of 'xs' then 'zs' ({} names), but it has {} inputs",
             node.label(), xs.size() + zs.size(), node.inputs.size());
    for (size_t i = 0; i < xs.size(); ++i)
      OT_CHECK(node.inputs[i] == xs[i],
               "{}: input {} is '{}' but xs[{}] is '{}'; onnx-train differentiates the graph's own values, so a "
               "Gradient node must take the tensors named in 'xs' as its inputs",
               node.label(), i, node.inputs[i], i, xs[i]);
    OT_CHECK(node.outputs.size() == xs.size(), "{}: a Gradient node has one output per name in 'xs' ({}), not {}",
             node.label(), xs.size(), node.outputs.size());
    try {
      append_gradients(graph, y, xs, node.outputs);
    } catch (const Error& e) {
      OT_FAIL("{}: {}", node.label(), e.what());
    }
    ++expanded;
  }
  if (expanded > 0) sort_topologically(graph);
  return expanded;
}

}  // namespace onnx_train
