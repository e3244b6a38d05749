#include "gradients/autodiff.h"

#include <algorithm>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "gradients/builder.h"
#include "runtime/ir/editor.h"

namespace onnx_train {

// The driver's state while one backward graph is built: the editor every node goes through
// (gradient-only ops in the project's domain, names "grad/<op>"), and the forward node
// outputs a backward pass asks for.
class GradientBuilder {
 public:
  explicit GradientBuilder(Graph& graph) : editor_(graph, "gradient builder", "grad/") {
    editor_.import_domain(kGradientDomain, 1);
  }

  GraphEditor& editor() { return editor_; }
  // Backward nodes by first output -> the forward node they differentiate (GradientGraph::rule_of).
  std::map<std::string, std::string> rule_of;

  // Names the optional output i of forward node `index`, which the model left out.
  std::string add_forward_output(size_t index, size_t i, const std::string& hint) {
    Node& node = editor_.graph().nodes[index];
    if (node.outputs.size() <= i) node.outputs.resize(i + 1);
    if (node.outputs[i].empty()) node.outputs[i] = editor_.fresh(hint + "_saved" + std::to_string(i));
    return node.outputs[i];
  }

 private:
  GraphEditor editor_;
};

// ---- GradContext: the rules' view -------------------------------------------------------

GradContext::GradContext(GradientBuilder& builder, const Node& node, size_t node_index, std::vector<std::string> dys,
                         std::vector<bool> wanted)
    : builder_(builder),
      editor_(builder.editor()),
      node_(node),
      node_index_(node_index),
      dys_(std::move(dys)),
      wanted_(std::move(wanted)) {}

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

std::string GradContext::fresh(const std::string& op) { return editor_.fresh(node_.name + "/" + op); }

std::string GradContext::emit(const std::string& op, const std::vector<std::string>& inputs,
                              std::map<std::string, Attribute> attributes, const std::string& domain) {
  return editor_.add1(op, inputs, fresh(op), std::move(attributes), domain);
}

std::vector<std::string> GradContext::emit_multi(const std::string& op, const std::vector<std::string>& inputs,
                                                 size_t num_outputs, std::map<std::string, Attribute> attributes,
                                                 const std::string& domain) {
  std::vector<std::string> outs;
  for (size_t i = 0; i < num_outputs; ++i) outs.push_back(fresh(op));
  return editor_.add(op, inputs, outs, std::move(attributes), domain).outputs;
}

std::vector<std::string> GradContext::emit_optional(const std::string& op, const std::vector<std::string>& inputs,
                                                    const std::vector<bool>& wanted,
                                                    std::map<std::string, Attribute> attributes,
                                                    const std::string& domain) {
  std::vector<std::string> outs;
  for (bool w : wanted) outs.push_back(w ? fresh(op) : "");
  while (!outs.empty() && outs.back().empty()) outs.pop_back();  // trailing omitted outputs are left off
  OT_CHECK(!outs.empty(), "gradient rule of {}: emits {} with no wanted output", node_.label(), op);
  editor_.add(op, inputs, outs, std::move(attributes), domain);
  outs.resize(wanted.size());
  return outs;
}

std::string GradContext::unsqueeze(const std::string& v, const std::vector<int64_t>& axes) {
  return editor_.unsqueeze(v, axes, fresh("Unsqueeze"));
}

std::string GradContext::squeeze(const std::string& v, const std::vector<int64_t>& axes) {
  return editor_.squeeze(v, axes, fresh("Squeeze"));
}

std::string GradContext::reduce_sum(const std::string& v, const std::vector<int64_t>& axes, bool keepdims) {
  return editor_.reduce("ReduceSum", v, axes, keepdims, fresh("ReduceSum"));
}

std::string GradContext::cast_like(const std::string& v, const std::string& like) {
  return emit("Cast", {v}, {{"to", Attribute::of_int(static_cast<int64_t>(dtype_of(like)))}});
}

std::string GradContext::constant(Tensor value) { return editor_.constant(std::move(value), node_.name + "/const"); }

std::string GradContext::scalar(double value, const std::string& like) {
  const DType dtype = dtype_of(like);
  OT_CHECK(dtype == DType::Float32 || dtype == DType::Float64,
           "gradient rule of {}: '{}' has element type {}; gradients need float32 or float64 (or a known type)",
           node_.label(), like, dtype_name(dtype));
  return constant(scalar_tensor(dtype, value));
}

std::string GradContext::ints(const std::vector<int64_t>& values) { return editor_.ints(values, node_.name + "/ints"); }

DType GradContext::dtype_of(const std::string& value) const { return editor_.dtype_of(value); }
int GradContext::rank_of(const std::string& value) const { return editor_.rank_of(value); }
int GradContext::opset() const { return editor_.opset(); }

// ---- the driver ---------------------------------------------------------------------------

namespace {

bool carries_gradient(DType dtype) { return dtype_is_float(dtype) || dtype == DType::Undefined; }

// A gradient of `like`'s type and shape filled with `value`, named `out`: the seed of the
// loss, or the zero gradient of a value the loss does not depend on.
std::string filled_gradient(GraphEditor& e, const std::string& like, double value, const std::string& out) {
  const DType dtype = e.dtype_of(like);
  OT_CHECK(dtype == DType::Float32 || dtype == DType::Float64, "gradients need float32 or float64 values; '{}' is {}",
           like, dtype_name(dtype));
  return e.filled_like(like, value, out);
}

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
      if (!in.empty() && input_takes_gradient(entry, i) && carries_gradient(graph.dtype_of(in))) feeds_loss.insert(in);
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
  // and variance (inputs 3 and 4; state the forward pass updates, buffers in PyTorch), a
  // built-in loss's class weights (input 2; a setting, as in torch's cross_entropy) and what the
  // loader found the model reads as settings (Graph::settings: rotary caches, attention masks).
  std::set<std::string> not_weights = graph.settings;
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

// The values a gradient flows through: those the loss depends on (walking back through float
// edges only) that also depend on a wrt value. Throws when a wrt value cannot carry one.
std::set<std::string> gradient_path(const Graph& graph, const std::string& loss, const std::vector<std::string>& wrt) {
  const std::set<std::string> feeds_loss = values_feeding(graph, loss);
  std::set<std::string> from_wrt;
  for (const auto& w : wrt) {
    OT_CHECK(carries_gradient(graph.dtype_of(w)), "cannot differentiate with respect to '{}': it is {}", w,
             dtype_name(graph.dtype_of(w)));
    from_wrt.insert(w);
  }
  for (const Node& n : graph.nodes) {
    bool reached = false;
    for (const auto& in : n.inputs) reached |= from_wrt.count(in) != 0;
    if (!reached) continue;
    for (const auto& o : n.outputs)
      if (carries_gradient(graph.dtype_of(o))) from_wrt.insert(o);
  }
  std::set<std::string> path;
  for (const auto& v : from_wrt)
    if (!v.empty() && feeds_loss.count(v)) path.insert(v);
  return path;
}

// Every node on the path needs a rule: reports all that lack one before anything is emitted.
void check_rules_on_path(const Graph& graph, const std::set<std::string>& path) {
  std::vector<std::string> missing;
  for (const Node& n : graph.nodes) {
    bool needed = false;
    for (const auto& o : n.outputs) needed |= path.count(o) != 0;
    if (needed && find_gradient_rule(n) == nullptr) missing.push_back(n.label());
  }
  OT_CHECK(missing.empty(), "no gradient rule for {} node{} on the path from the trainable values to the loss:\n  - {}",
           missing.size(), missing.size() == 1 ? "" : "s", fmt::join(missing, "\n  - "));
}

// The gradient contributions that reach each value, summed (one Sum node) when first read.
class Contributions {
 public:
  explicit Contributions(GraphEditor& e) : e_(e) {}
  void add(const std::string& value, const std::string& grad) { parts_[value].push_back(grad); }
  // The gradient of `value`, or "" when none reached it.
  std::string sum(const std::string& value) {
    auto it = parts_.find(value);
    if (it == parts_.end() || it->second.empty()) return "";
    if (it->second.size() > 1) it->second = {e_.add1("Sum", it->second, e_.fresh(value + "_grad_sum"))};
    return it->second.front();
  }

 private:
  GraphEditor& e_;
  std::map<std::string, std::vector<std::string>> parts_;
};

// A gradient of the shape of `node`'s broadcast output summed back to the shape of its input
// i, unless both shapes are known, fixed and equal.
std::string unbroadcast(GraphEditor& e, const Node& node, size_t i, const std::string& grad) {
  const std::string& input = node.inputs[i];
  const auto in_shape = e.shape_of(input);
  const auto out_shape = e.shape_of(node.outputs[0]);
  const bool fixed_equal = in_shape && out_shape && *in_shape == *out_shape &&
                           std::all_of(in_shape->begin(), in_shape->end(), [](int64_t d) { return d >= 0; });
  if (fixed_equal) return grad;
  const std::string shape = e.add1("Shape", {input}, e.fresh(input + "_shape"));
  return e.add1("SumToShape", {grad, shape}, e.fresh(input + "_grad_part"), {}, kGradientDomain);
}

// Asks the rule of forward node `k` for the gradients of its inputs on the path, given the
// gradients of its outputs, and records them.
void differentiate_node(GradientBuilder& builder, size_t k, const std::set<std::string>& path,
                        Contributions& contributions) {
  const Node node = builder.editor().graph().nodes[k];  // a copy: emitting appends to graph.nodes
  std::vector<std::string> dys;
  bool any = false;
  for (const auto& o : node.outputs) {
    dys.push_back(path.count(o) ? contributions.sum(o) : "");
    any |= !dys.back().empty();
  }
  if (!any) return;
  const GradRuleEntry* entry = find_gradient_rule(node);
  std::vector<bool> wanted;
  bool wants_any = false;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    wanted.push_back(path.count(node.inputs[i]) && input_takes_gradient(entry, i));
    wants_any |= wanted.back();
  }
  if (!wants_any) return;
  GradContext ctx(builder, node, k, dys, wanted);
  const Graph& graph = builder.editor().graph();
  const size_t first_new = graph.nodes.size();
  try {
    entry->rule(ctx);
  } catch (const Error& e) {
    throw Error(fmt::format("building the gradient of {}: {}", node.label(), e.what()), e.category());
  }
  for (const auto& [i, set] : ctx.results())
    contributions.add(node.inputs[i], set.broadcast ? unbroadcast(builder.editor(), node, i, set.grad) : set.grad);
  for (size_t j = first_new; j < graph.nodes.size(); ++j)
    if (!graph.nodes[j].outputs.empty()) builder.rule_of[graph.nodes[j].outputs[0]] = node.label();
}

// The backward graph of d loss / d wrt[i], its result named names[i] (or "<wrt>_grad").
GradientGraph append_gradients(Graph& graph, const std::string& loss, const std::vector<std::string>& wrt,
                               const std::vector<std::string>& names) {
  const std::set<std::string> path = gradient_path(graph, loss, wrt);
  check_rules_on_path(graph, path);
  GradientBuilder builder(graph);
  GraphEditor& e = builder.editor();
  for (const auto& name : names) e.reserve(name);

  const size_t forward_nodes = graph.nodes.size();

  // The seed: d loss / d loss = 1 everywhere (a scalar loss gives a scalar 1); then the
  // forward nodes in reverse.
  Contributions contributions(e);
  contributions.add(loss, filled_gradient(e, loss, 1.0, e.fresh(loss + "_grad_seed")));
  for (size_t k = forward_nodes; k-- > 0;) differentiate_node(builder, k, path, contributions);

  GradientGraph result;
  for (size_t i = 0; i < wrt.size(); ++i) {
    const std::string& w = wrt[i];
    const std::string grad = contributions.sum(w);
    const std::string name = i < names.size() ? names[i] : e.fresh(w + "_grad");
    if (grad.empty()) {
      filled_gradient(e, w, 0.0, name);  // not connected to the loss: a zero gradient
    } else {
      e.add1("Identity", {grad}, name);
    }
    ValueInfo info;
    info.name = name;
    info.dtype = e.dtype_of(w);
    info.shape = e.shape_of(w);
    graph.value_info[name] = info;
    result.gradients[w] = name;
  }
  result.nodes_added = e.nodes_added();
  result.rule_of = std::move(builder.rule_of);
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
      throw Error(fmt::format("{}: {}", node.label(), e.what()), e.category());
    }
    ++expanded;
  }
  if (expanded > 0) sort_topologically(graph);
  return expanded;
}

}  // namespace onnx_train
