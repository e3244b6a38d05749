// Train and eval forms of a graph (runtime/transforms/train_mode.h).
//
// to_training_form works on a copy of the graph and replaces the original only when every
// node could be converted, so a failure leaves the graph as it was. New nodes are appended
// and the graph re-sorted topologically (Dropout's Constant inputs must come first).
#include "runtime/transforms/train_mode.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "runtime/ir/editor.h"

namespace onnx_train {

namespace {

// Names of the nodes (and prefix of the values) the transform adds.
const std::string kPrefix = "train_mode/";

bool added_by_transform(const Node& n) { return n.name.compare(0, kPrefix.size(), kPrefix) == 0; }

// splitmix64: a well-mixed 64-bit hash, so nearby seeds and ordinals give unrelated masks.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The dropout seed of the `ordinal`-th Dropout node; non-negative, as an int64 attribute.
int64_t dropout_seed(uint64_t seed, size_t ordinal) { return static_cast<int64_t>(mix(mix(seed) ^ ordinal) >> 1); }

// Adds typed nodes of the default domain at the graph's opset through the graph editor: each
// named kPrefix + hint, its one output named as the node (to_eval_form finds them by name).
class Emitter {
 public:
  explicit Emitter(Graph& graph) : e_(graph, "train mode") {}

  std::string fresh_name(const std::string& hint) { return e_.fresh(hint); }

  std::string emit(const std::string& hint, const std::string& op, const std::vector<std::string>& inputs, DType dtype,
                   const std::optional<Shape>& shape, std::map<std::string, Attribute> attributes = {}) {
    const std::string name = e_.fresh(kPrefix + hint);
    e_.set_type(name, dtype, shape);
    e_.add(op, inputs, {name}, std::move(attributes), "", name);
    return name;
  }

  std::string constant(const std::string& hint, const Tensor& value) {
    return emit(hint, "Constant", {}, value.dtype(), value.shape(), {{"value", Attribute::of_tensor(value)}});
  }

  void add_value_info(const std::string& name, DType dtype, const std::optional<Shape>& shape) {
    e_.set_type(name, dtype, shape);
  }

 private:
  GraphEditor e_;
};

// Type and shape of a running statistic: from its initializer or its ValueInfo.
std::pair<DType, std::optional<Shape>> type_of(const Graph& graph, const std::string& name, const Node& node) {
  const auto it = graph.initializers.find(name);
  if (it != graph.initializers.end()) return {it->second.dtype(), it->second.shape()};
  const ValueInfo* info = graph.find_value_info(name);
  OT_CHECK(info != nullptr && info->dtype != DType::Undefined,
           "{}: the type of its running statistic '{}' is unknown; make it an initializer", node.label(), name);
  return {info->dtype, info->shape};
}

// The BatchNormalization node `bn` (graph.nodes[index]) to training form, plus the update
// nodes of its running statistics (see train_mode.h).
RunningStat batch_norm_to_training(Graph& graph, size_t index, Emitter& e) {
  Node& bn = graph.nodes[index];
  if (bn.name.empty()) bn.name = e.fresh_name("BatchNormalization");
  OT_CHECK(!batch_norm_in_training_mode(bn),
           "{} is already in training form (training_mode=1 or statistics outputs); call to_eval_form first",
           bn.label());
  OT_CHECK(bn.has_input(3) && bn.has_input(4), "{}: the running mean and variance inputs are missing", bn.label());
  RunningStat stat{bn.name, bn.inputs[3], bn.inputs[4], "", ""};
  const auto [dtype, shape] = type_of(graph, stat.mean, bn);
  OT_CHECK(dtype == DType::Float32 || dtype == DType::Float64,
           "{}: the running statistics are {}; training form supports float32 and float64 statistics", bn.label(),
           dtype_name(dtype));
  const double momentum = bn.attr_float("momentum", 0.9f);
  const std::string x = bn.inputs[0], scale = bn.inputs[1], name = bn.name;
  const std::string batch_mean = e.fresh_name(kPrefix + name + "/batch_mean");
  const std::string batch_var = e.fresh_name(kPrefix + name + "/batch_var");
  e.add_value_info(batch_mean, dtype, shape);
  e.add_value_info(batch_var, dtype, shape);
  if (bn.since_version >= 14) {
    bn.attributes["training_mode"] = Attribute::of_int(1);
    bn.attributes["momentum"] = Attribute::of_float(0);  // running outputs = batch statistics
    bn.outputs = {bn.outputs[0], batch_mean, batch_var};
  } else {
    bn.outputs = {bn.outputs[0], "", "", batch_mean, batch_var};
  }
  // Appending may move graph.nodes: `bn` is not used from here on.
  if (graph.nodes[index].since_version >= 14)  // kept for to_eval_form
    e.constant(name + "/momentum", Tensor::scalar<float>(static_cast<float>(momentum)));
  // M / (M - 1) with M = Size(X) / Size(scale), the values per channel.
  const std::string per_channel = e.emit(name + "/M", "Div",
                                         {e.emit(name + "/size_x", "Size", {x}, DType::Int64, Shape{}),
                                          e.emit(name + "/size_scale", "Size", {scale}, DType::Int64, Shape{})},
                                         DType::Int64, Shape{});
  const std::string m = e.emit(name + "/M_float", "Cast", {per_channel}, dtype, Shape{},
                               {{"to", Attribute::of_int(static_cast<int64_t>(dtype))}});
  const std::string bessel = e.emit(
      name + "/bessel", "Div",
      {m, e.emit(name + "/M_minus_1", "Sub", {m, e.constant(name + "/one", scalar_tensor(dtype, 1))}, dtype, Shape{})},
      dtype, Shape{});
  const std::string keep = e.constant(name + "/keep", scalar_tensor(dtype, momentum));
  const std::string take = e.constant(name + "/take", scalar_tensor(dtype, 1.0 - momentum));
  const std::string take_unbiased = e.emit(name + "/take_unbiased", "Mul", {bessel, take}, dtype, Shape{});
  auto update = [&, dtype = dtype, shape = shape](const std::string& running, const std::string& batch,
                                                    const std::string& weight, const std::string& hint) {
    return e.emit(name + "/" + hint, "Add",
                  {e.emit(name + "/" + hint + "_old", "Mul", {running, keep}, dtype, shape),
                   e.emit(name + "/" + hint + "_new", "Mul", {batch, weight}, dtype, shape)},
                  dtype, shape);
  };
  stat.updated_mean = update(stat.mean, batch_mean, take, "updated_mean");
  stat.updated_var = update(stat.var, batch_var, take_unbiased, "updated_var");
  for (const auto& out : {stat.updated_mean, stat.updated_var}) graph.outputs.push_back(graph.value_info.at(out));
  return stat;
}

// Whether any node or graph output reads `value`.
bool is_consumed(const Graph& graph, const std::string& value) {
  if (graph.uses_of(value) > 0) return true;
  for (const ValueInfo& v : graph.outputs)
    if (v.name == value) return true;
  return false;
}

// The Dropout node graph.nodes[index] to training form (see train_mode.h).
void dropout_to_training(Graph& graph, size_t index, int64_t seed, Emitter& e) {
  Node& node = graph.nodes[index];
  if (node.name.empty()) node.name = e.fresh_name("Dropout");
  const std::string name = node.name;
  std::string ratio;
  if (node.since_version < 12) {
    const bool mask_used = node.outputs.size() > 1 && !node.outputs[1].empty() && is_consumed(graph, node.outputs[1]);
    OT_CHECK(node.since_version >= 10 || !mask_used,
             "{}: its mask output '{}' is used, but in training form the node runs as Dropout-12, whose mask is "
             "bool where Dropout-7's has the data's type; convert the model to opset 12 or more "
             "(onnx.version_converter.convert_version(model, 13))",
             node.label(), node.outputs[1]);
    if (node.since_version < 10) node.outputs.resize(1);  // an unused mask of the data's type
    const float ratio_value = node.attr_float("ratio", 0.5f);
    node.attributes.erase("ratio");
    node.since_version = 12;
    ratio = e.constant(name + "/ratio", Tensor::scalar<float>(ratio_value));
  } else {
    OT_CHECK(!node.has_input(2),
             "{} already has a training_mode input; call to_eval_form first to convert an already-training model",
             node.label());
    if (node.has_input(1)) ratio = node.inputs[1];
  }
  graph.nodes[index].attributes["seed"] = Attribute::of_int(seed);
  const std::string training = e.constant(name + "/training_mode", Tensor::scalar<bool>(true));
  graph.nodes[index].inputs.resize(1);
  graph.nodes[index].inputs.push_back(ratio);
  graph.nodes[index].inputs.push_back(training);
}

// The Constant node producing `value` among the transform's nodes, or nullptr.
const Node* added_constant(const Graph& graph, const std::string& value) {
  for (const Node& n : graph.nodes)
    if (added_by_transform(n) && n.op_type == "Constant" && n.outputs[0] == value) return &n;
  return nullptr;
}

}  // namespace

TrainingForm to_training_form(Graph& graph, uint64_t seed) {
  Graph result = graph;
  Emitter e(result);
  TrainingForm form;
  const size_t original_nodes = result.nodes.size();
  for (size_t i = 0; i < original_nodes; ++i) {
    const Node& n = result.nodes[i];
    if (!n.domain.empty()) continue;
    if (n.op_type == "BatchNormalization") {
      form.running_stats.push_back(batch_norm_to_training(result, i, e));
    } else if (n.op_type == "Dropout") {
      dropout_to_training(result, i, dropout_seed(seed, form.dropout_nodes.size()), e);
      form.dropout_nodes.push_back(result.nodes[i].name);
    }
  }
  sort_topologically(result);
  graph = std::move(result);
  return form;
}

void to_eval_form(Graph& graph) {
  Graph result = graph;                     // replaces `graph` only when the conversion succeeds
  std::set<std::string> dropped;            // values no node produces any more
  std::set<std::string> training_switches;  // Dropout training_mode inputs removed
  auto drop_outputs_from = [&](Node& n, size_t keep) {
    for (size_t i = keep; i < n.outputs.size(); ++i)
      if (!n.outputs[i].empty()) dropped.insert(n.outputs[i]);
    n.outputs.resize(std::min(n.outputs.size(), keep));
  };
  for (Node& n : result.nodes) {
    if (!n.domain.empty() || added_by_transform(n)) continue;
    if (n.op_type == "BatchNormalization") {
      if (n.since_version >= 14) {
        n.attributes["training_mode"] = Attribute::of_int(0);
        if (const Node* m = added_constant(result, kPrefix + n.name + "/momentum"))
          n.attributes["momentum"] = Attribute::of_float(static_cast<float>(m->attr_tensor("value").to_doubles()[0]));
      }
      drop_outputs_from(n, 1);
    } else if (n.op_type == "Dropout" && n.since_version >= 12) {
      n.attributes.erase("seed");
      if (n.has_input(2)) training_switches.insert(n.inputs[2]);
      if (n.opset < 12) {  // a Dropout-7/10 that ran as Dropout-12: its own version again
        const Node* ratio = n.has_input(1) ? added_constant(result, n.inputs[1]) : nullptr;
        OT_CHECK(ratio != nullptr, "{}: the ratio Constant of its training form is missing", n.label());
        n.attributes["ratio"] = Attribute::of_float(static_cast<float>(ratio->attr_tensor("value").to_doubles()[0]));
        n.since_version = onnx_since_version("Dropout", n.opset);
        n.inputs.resize(1);
      } else {
        n.inputs.resize(std::min<size_t>(n.inputs.size(), 2));
        while (n.inputs.size() > 1 && n.inputs.back().empty()) n.inputs.pop_back();
      }
    }
  }
  // The transform's nodes, and the Constants that only fed a removed training_mode input
  // (as in torch's training-mode export), go.
  auto removed = [&](const Node& n) {
    return added_by_transform(n) || (n.op_type == "Constant" && n.domain.empty() &&
                                     training_switches.count(n.outputs[0]) && !is_consumed(result, n.outputs[0]));
  };
  std::vector<Node> kept;
  for (const Node& n : result.nodes) {
    if (!removed(n)) {
      kept.push_back(n);
      continue;
    }
    for (const auto& o : n.outputs) dropped.insert(o);
  }
  result.nodes = std::move(kept);
  result.outputs.erase(std::remove_if(result.outputs.begin(), result.outputs.end(),
                                      [&](const ValueInfo& v) { return dropped.count(v.name) != 0; }),
                       result.outputs.end());
  for (const auto& name : dropped) result.value_info.erase(name);
  for (const Node& n : result.nodes)
    for (const auto& in : n.inputs)
      OT_CHECK(in.empty() || !dropped.count(in),
               "{} reads '{}', a training-form value that the eval form removes; remove the node first", n.label(), in);
  graph = std::move(result);
}

}  // namespace onnx_train
