// Conv chains into FusedConv nodes, see fuse_conv.h.
#include "runtime/transforms/fuse_conv.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "runtime/ir/editor.h"

namespace onnx_train {

namespace {

// Who reads each value (node indices), and which values the graph outputs.
struct Readers {
  std::map<std::string, std::vector<size_t>> of;
  std::set<std::string> graph_outputs;

  explicit Readers(const Graph& graph) {
    for (size_t i = 0; i < graph.nodes.size(); ++i)
      for (const std::string& in : graph.nodes[i].inputs)
        if (!in.empty()) of[in].push_back(i);
    for (const ValueInfo& v : graph.outputs) graph_outputs.insert(v.name);
  }

  // The index of the one node reading `value` (once), or nullopt.
  std::optional<size_t> only_reader(const std::string& value) const {
    const auto it = of.find(value);
    if (graph_outputs.count(value) != 0 || it == of.end() || it->second.size() != 1) return std::nullopt;
    return it->second[0];
  }
};

// One Conv chain to rewrite.
struct Chain {
  size_t conv = 0;
  std::vector<size_t> absorbed;  // node indices that disappear
  std::string weights, bias;     // the FusedConv's W and B (B may be "")
  std::string sum;               // z, or ""
  std::string activation;        // "", Relu, Clip, Sigmoid, Swish
  std::vector<float> activation_params;
  std::string output;
  bool folded_batch_norm = false;
};

class ConvFuser {
 public:
  ConvFuser(Graph& graph, const FuseConvOptions& options)
      : graph_(graph), options_(options), readers_(graph), editor_(graph, "fuse conv", "", ConstantForm::Initializer) {
    for (const ValueInfo& v : graph.overridable_initializers) overridable_.insert(v.name);
  }

  FusedConvs run();

 private:
  bool is(size_t i, const char* op) const {
    const Node& n = graph_.nodes[i];
    return n.op_type == op && n.domain.empty() && !removed_.count(i);
  }
  // The initializer `name` when its value never changes while the plan lives.
  const Tensor* constant_initializer(const std::string& name) const {
    if (!options_.constant_initializers || overridable_.count(name)) return nullptr;
    const auto it = graph_.initializers.find(name);
    return it == graph_.initializers.end() ? nullptr : &it->second;
  }
  // The float32 scalar value of `name`: a Constant node's output or a constant initializer.
  std::optional<float> scalar_constant(const std::string& name) const;
  std::optional<Chain> chain_from(size_t conv);
  bool fold_batch_norm(size_t bn, Chain& chain);
  bool take_sum(size_t add, Chain& chain) const;
  bool take_activation(size_t act, Chain& chain) const;
  void take_swish(Chain& chain) const;
  Node fused_node(const Chain& chain);

  Graph& graph_;
  FuseConvOptions options_;
  Readers readers_;
  GraphEditor editor_;
  std::set<std::string> overridable_;
  std::set<size_t> removed_;
};

std::optional<float> ConvFuser::scalar_constant(const std::string& name) const {
  const Tensor* t = constant_initializer(name);
  const Node* producer = t == nullptr ? graph_.producer_of(name) : nullptr;
  if (producer != nullptr && producer->op_type == "Constant" && producer->domain.empty() && producer->has_attr("value"))
    t = &producer->attr_tensor("value");
  if (t == nullptr || t->dtype() != DType::Float32 || t->numel() != 1) return std::nullopt;
  return t->data<float>()[0];
}

// BatchNormalization(y, scale, beta, mean, var) in inference form folded into the chain's
// weights: w' = w * s, b' = (b - mean) * s + beta, s = scale / sqrt(var + epsilon), per
// output channel m (w [M, C / group, k...]).
bool ConvFuser::fold_batch_norm(size_t bn, Chain& chain) {
  const Node& n = graph_.nodes[bn];
  if (n.outputs.size() != 1 || n.attr_int("training_mode", 0) != 0 || n.inputs.size() != 5) return false;
  const Tensor* w = constant_initializer(chain.weights);
  const Tensor* b = chain.bias.empty() ? nullptr : constant_initializer(chain.bias);
  std::vector<const Tensor*> stats;
  for (size_t i = 1; i < 5; ++i) stats.push_back(constant_initializer(n.inputs[i]));
  if (w == nullptr || w->dtype() != DType::Float32 || (!chain.bias.empty() && b == nullptr)) return false;
  const int64_t maps = w->dim(0), per_map = w->numel() / maps;
  for (const Tensor* s : stats)
    if (s == nullptr || s->dtype() != DType::Float32 || s->numel() != maps) return false;
  const double epsilon = n.attr_float("epsilon", 1e-5f);
  Tensor folded_w(DType::Float32, w->shape()), folded_b(DType::Float32, {maps});
  for (int64_t m = 0; m < maps; ++m) {
    const double s = stats[0]->data<float>()[m] / std::sqrt(double(stats[3]->data<float>()[m]) + epsilon);
    for (int64_t k = 0; k < per_map; ++k)
      folded_w.data<float>()[m * per_map + k] = float(w->data<float>()[m * per_map + k] * s);
    const double bias = b != nullptr ? b->data<float>()[m] : 0.0;
    folded_b.data<float>()[m] = float((bias - stats[2]->data<float>()[m]) * s + stats[1]->data<float>()[m]);
  }
  chain.weights = editor_.constant(folded_w, chain.weights + "_bn_folded");
  chain.bias = editor_.constant(folded_b, n.outputs[0] + "_bias_bn_folded");
  chain.folded_batch_norm = true;
  return true;
}

// Add(y, z) or Add(z, y) with z of y's shape where both are known (the kernel still
// broadcasts a z the shapes did not settle).
bool ConvFuser::take_sum(size_t add, Chain& chain) const {
  const Node& n = graph_.nodes[add];
  if (n.inputs.size() != 2 || n.inputs[0] == n.inputs[1]) return false;
  const std::string& z = n.inputs[0] == chain.output ? n.inputs[1] : n.inputs[0];
  const auto y_shape = graph_.shape_of(chain.output), z_shape = graph_.shape_of(z);
  if (!y_shape || !z_shape || y_shape->size() != z_shape->size()) return false;
  for (size_t d = 0; d < y_shape->size(); ++d)
    if ((*y_shape)[d] != (*z_shape)[d] && (*y_shape)[d] >= 0 && (*z_shape)[d] >= 0) return false;
  if (graph_.dtype_of(z) != graph_.dtype_of(chain.output)) return false;
  chain.sum = z;
  return true;
}

// Relu, Sigmoid, or Clip with constant bounds (min <= max).
bool ConvFuser::take_activation(size_t act, Chain& chain) const {
  const Node& n = graph_.nodes[act];
  if (is(act, "Relu") || is(act, "Sigmoid")) {
    chain.activation = n.op_type;
  } else if (is(act, "Clip")) {
    float low = n.attr_float("min", std::numeric_limits<float>::lowest());
    float high = n.attr_float("max", std::numeric_limits<float>::max());
    for (size_t i = 1; i < 3; ++i) {
      if (!n.has_input(i)) continue;
      const std::optional<float> v = scalar_constant(n.inputs[i]);
      if (!v) return false;
      (i == 1 ? low : high) = *v;
    }
    if (!(low <= high)) return false;
    chain.activation = "Clip";
    chain.activation_params = {low, high};
  } else {
    return false;
  }
  chain.absorbed.push_back(act);
  chain.output = n.outputs[0];
  return true;
}

// SiLU: y read by exactly Sigmoid(y) and Mul(y, sigmoid(y)), the sigmoid by that Mul alone.
void ConvFuser::take_swish(Chain& chain) const {
  const auto it = readers_.of.find(chain.output);
  if (it == readers_.of.end() || it->second.size() != 2 || readers_.graph_outputs.count(chain.output)) return;
  size_t sig = it->second[0], mul = it->second[1];
  if (is(mul, "Sigmoid")) std::swap(sig, mul);
  if (!is(sig, "Sigmoid") || !is(mul, "Mul") || readers_.only_reader(graph_.nodes[sig].outputs[0]) != mul) return;
  chain.activation = "Swish";
  chain.absorbed.insert(chain.absorbed.end(), {sig, mul});
  chain.output = graph_.nodes[mul].outputs[0];
}

std::optional<Chain> ConvFuser::chain_from(size_t conv) {
  const Node& c = graph_.nodes[conv];
  Chain chain;
  chain.conv = conv;
  chain.weights = c.inputs.at(1);
  chain.bias = c.has_input(2) ? c.inputs[2] : "";
  chain.output = c.outputs.at(0);
  std::optional<size_t> next = readers_.only_reader(chain.output);
  if (next && is(*next, "BatchNormalization") && fold_batch_norm(*next, chain)) {
    chain.absorbed.push_back(*next);
    chain.output = graph_.nodes[*next].outputs[0];
    next = readers_.only_reader(chain.output);
  }
  if (next && is(*next, "Add") && take_sum(*next, chain)) {
    chain.absorbed.push_back(*next);
    chain.output = graph_.nodes[*next].outputs[0];
    next = readers_.only_reader(chain.output);
  }
  if (!(next && take_activation(*next, chain))) take_swish(chain);
  const bool constant_weights = constant_initializer(chain.weights) != nullptr &&
                                (chain.bias.empty() || constant_initializer(chain.bias) != nullptr);
  if (chain.absorbed.empty() && !constant_weights) return std::nullopt;
  return chain;
}

Node ConvFuser::fused_node(const Chain& chain) {
  Node n = graph_.nodes[chain.conv];
  n.op_type = "FusedConv";
  n.domain = kProjectDomain;
  n.opset = editor_.opset(kProjectDomain);
  n.since_version = 1;
  n.inputs = {n.inputs[0], chain.weights, chain.bias};
  if (!chain.sum.empty()) n.inputs.push_back(chain.sum);
  n.outputs = {chain.output};
  if (!chain.activation.empty()) n.attributes["activation"] = Attribute::of_string(chain.activation);
  if (!chain.activation_params.empty())
    n.attributes["activation_params"] = Attribute::of_floats(chain.activation_params);
  const bool constant_weights = constant_initializer(chain.weights) != nullptr &&
                                (chain.bias.empty() || constant_initializer(chain.bias) != nullptr);
  if (constant_weights) n.attributes["constant_weights"] = Attribute::of_int(1);
  return n;
}

FusedConvs ConvFuser::run() {
  FusedConvs result;
  std::vector<Chain> chains;
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    const Node& n = graph_.nodes[i];
    if (!is(i, "Conv") || n.inputs.size() < 2 || n.outputs.size() != 1) continue;
    std::optional<Chain> chain = chain_from(i);
    if (!chain) continue;
    removed_.insert(chain->absorbed.begin(), chain->absorbed.end());
    chains.push_back(std::move(*chain));
  }
  if (chains.empty()) return result;
  editor_.import_domain(kProjectDomain, 1);
  std::map<size_t, Node> fused;
  for (const Chain& c : chains) {
    fused.emplace(c.conv, fused_node(c));
    result.batch_norms_folded += c.folded_batch_norm ? 1 : 0;
  }
  std::vector<Node> nodes;
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    if (removed_.count(i)) continue;
    const auto it = fused.find(i);
    nodes.push_back(it != fused.end() ? std::move(it->second) : std::move(graph_.nodes[i]));
  }
  result.fused = chains.size();
  result.nodes_removed = removed_.size();
  graph_.nodes = std::move(nodes);
  sort_topologically(graph_);
  return result;
}

}  // namespace

FusedConvs fuse_conv(Graph& graph, const FuseConvOptions& options) { return ConvFuser(graph, options).run(); }

}  // namespace onnx_train
