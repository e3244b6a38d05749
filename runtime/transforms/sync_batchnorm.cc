// Synchronised BatchNormalization (runtime/transforms/sync_batchnorm.h).
//
// Works on a copy of the graph and replaces the original only when every node could be
// rewritten. Each BatchNormalization node is removed and its replacement appended; the graph
// is sorted topologically at the end.
#include "runtime/transforms/sync_batchnorm.h"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "runtime/ir/editor.h"
#include "runtime/ir/schema.h"

namespace onnx_train {

namespace {

const std::string kPrefix = "sync_batchnorm/";

// Index of the node named `name` in `graph`, or throws.
size_t node_index(const Graph& graph, const std::string& name) {
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (graph.nodes[i].name == name) return i;
  OT_FAIL("sync BatchNorm: the training graph has no node '{}' (pass the TrainingForm of this graph)", name);
}

// The index of the node that produces each node output.
std::map<std::string, size_t> producers(const Graph& graph) {
  std::map<std::string, size_t> out;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    for (const auto& o : graph.nodes[i].outputs)
      if (!o.empty()) out[o] = i;
  return out;
}

// The Cast node of to_training_form's running-statistic update that computes the local
// M = float(Size(X) / Size(scale)) for the update of `stat` (train_mode.h): found among the
// values updated_var is computed from, without walking into the model through X, scale or the
// batch statistics.
size_t sample_count_node(const Graph& graph, const RunningStat& stat, const Node& bn) {
  const std::string &x = bn.inputs[0], &scale = bn.inputs[1];
  const std::map<std::string, size_t> producer = producers(graph);
  auto produced_by = [&](const std::string& value, const char* op) -> const Node* {
    const auto it = producer.find(value);
    if (it == producer.end()) return nullptr;
    const Node& n = graph.nodes[it->second];
    return n.op_type == op && n.domain.empty() ? &n : nullptr;
  };
  auto is_size_of = [&](const std::string& value, const std::string& of) {
    const Node* n = produced_by(value, "Size");
    return n != nullptr && n->inputs.size() == 1 && n->inputs[0] == of;
  };
  std::set<std::string> seen{x, scale};
  for (const auto& o : bn.outputs) seen.insert(o);
  std::vector<std::string> todo{stat.updated_var};
  while (!todo.empty()) {
    const std::string value = todo.back();
    todo.pop_back();
    if (!seen.insert(value).second) continue;
    const auto it = producer.find(value);
    if (it == producer.end()) continue;
    const Node& n = graph.nodes[it->second];
    if (n.op_type == "Cast" && n.domain.empty() && n.inputs.size() == 1) {
      const Node* div = produced_by(n.inputs[0], "Div");
      if (div != nullptr && div->inputs.size() == 2 && is_size_of(div->inputs[0], x) &&
          is_size_of(div->inputs[1], scale))
        return it->second;
    }
    for (const auto& in : n.inputs)
      if (!in.empty()) todo.push_back(in);
  }
  OT_FAIL(
      "sync BatchNorm: {}: its running-variance update '{}' does not compute M = Size(X) / Size(scale) as "
      "to_training_form does; call sync_batchnorm on the graph and TrainingForm that to_training_form returned",
      bn.label(), stat.updated_var);
}

// Rewrites one BatchNormalization node; see sync_batchnorm.h for the math.
class SyncBatchNorm {
 public:
  SyncBatchNorm(Graph& graph, int64_t group) : graph_(graph), e_(graph, "sync BatchNorm"), group_(group) {
    e_.import_domain(kProjectDomain, 1);
  }

  void rewrite(const RunningStat& stat) {
    const size_t index = node_index(graph_, stat.node);
    const Node bn = graph_.nodes[index];  // a copy: the node is erased below
    OT_CHECK(bn.op_type == "BatchNormalization" && bn.domain.empty(), "sync BatchNorm: {} is not a BatchNormalization",
             bn.label());
    OT_CHECK(batch_norm_in_training_mode(bn),
             "sync BatchNorm: {} is in inference form; call to_training_form first and pass its TrainingForm",
             bn.label());
    const std::string &x = bn.inputs[0], &y = bn.outputs[0];
    const DType dtype = graph_.dtype_of(x);
    OT_CHECK(dtype != DType::Undefined,
             "sync BatchNorm: {}: the type of its input '{}' is unknown; export the model with input shapes (or run "
             "onnx.shape_inference on it)",
             bn.label(), x);
    OT_CHECK(dtype == DType::Float32 || dtype == DType::Float64,
             "sync BatchNorm: {}: its input '{}' is {}; synchronised BatchNormalization supports float32 and float64",
             bn.label(), x, dtype_name(dtype));
    const std::optional<Shape> x_shape = graph_.shape_of(x);
    OT_CHECK(x_shape.has_value(),
             "sync BatchNorm: {}: the rank of its input '{}' is unknown, so the axes of its statistics are too; "
             "export the model with input shapes (or run onnx.shape_inference on it)",
             bn.label(), x);
    const int rank = static_cast<int>(x_shape->size());
    OT_CHECK(rank >= 2, "sync BatchNorm: {}: its input '{}' has shape {}; BatchNormalization needs [N, C, D1..Dn]",
             bn.label(), x, shape_str(*x_shape));
    // The batch statistics outputs: 1 and 2 from version 14 (training_mode=1), saved_mean and
    // saved_var (3 and 4) before.
    const size_t first_stat = bn.since_version >= 14 ? 1 : 3;
    const std::string batch_mean = bn.outputs.size() > first_stat ? bn.outputs[first_stat] : "";
    const std::string batch_var = bn.outputs.size() > first_stat + 1 ? bn.outputs[first_stat + 1] : "";

    // Statistics over every axis but C (spatial), or over N only (BatchNormalization-7 with
    // spatial=0: per activation). The same axes unsqueeze scale and B ([C] or [C, D1..Dn]) to
    // the statistics' shape, which broadcasts against X.
    const bool spatial = bn.since_version >= 9 || bn.attr_int("spatial", 1) != 0;
    std::vector<int64_t> axes{0};
    for (int64_t a = 2; spatial && a < rank; ++a) axes.push_back(a);
    Shape stat_shape = *x_shape;
    for (int64_t a : axes) stat_shape[static_cast<size_t>(a)] = 1;

    graph_.nodes.erase(graph_.nodes.begin() + static_cast<std::ptrdiff_t>(index));
    name_ = bn.name;
    e_.set_node_prefix(kPrefix + name_ + "/");

    // M over every rank: the update's local M (to_training_form's Cast) gets a new name, and
    // its old name is now AllReduceSum of it, so the running-statistic update reads the
    // global M too. No gradient flows here (Size is an integer count).
    Node& count = graph_.nodes[sample_count_node(graph_, stat, bn)];
    const std::string m = count.outputs[0];
    const DType m_dtype = graph_.dtype_of(m);
    const std::string m_local = e_.fresh(kPrefix + name_ + "/M_local");
    count.outputs[0] = m_local;
    e_.set_type(m_local, m_dtype, Shape{});
    all_reduce_sum(m_local, m);
    const std::string m_x = cast(m, dtype, Shape{}, "M_cast");

    // mean = AllReduceSum(ReduceSum(X)) / M, var = AllReduceSum(ReduceSum(d * d)) / M  [stat]
    const std::string sum_x = typed(e_.reduce("ReduceSum", x, axes, true, value("sum_x")), dtype, stat_shape);
    const std::string mean =
        emit("Div", {all_reduce_sum(sum_x, value("global_sum_x")), m_x}, "mean", dtype, stat_shape);
    const std::string d = emit("Sub", {x, mean}, "centered", dtype, *x_shape);
    const std::string d2 = emit("Mul", {d, d}, "centered_squared", dtype, *x_shape);
    const std::string sum_d2 =
        typed(e_.reduce("ReduceSum", d2, axes, true, value("sum_centered_squared")), dtype, stat_shape);
    const std::string var =
        emit("Div", {all_reduce_sum(sum_d2, value("global_sum_centered_squared")), m_x}, "var", dtype, stat_shape);

    // Y = d / Sqrt(var + epsilon) * scale + B, scale and B unsqueezed to [stat]
    const std::string epsilon =
        e_.constant(scalar_tensor(dtype, bn.attr_float("epsilon", 1e-5f)), kPrefix + name_ + "/epsilon");
    const std::string stddev =
        emit("Sqrt", {emit("Add", {var, epsilon}, "var_plus_epsilon", dtype, stat_shape)}, "std", dtype, stat_shape);
    const std::string normalized = emit("Div", {d, stddev}, "normalized", dtype, *x_shape);
    const std::string scaled =
        emit("Mul", {normalized, parameter(bn.inputs[1], "scale", dtype, stat_shape, axes)}, "scaled", dtype, *x_shape);
    e_.add1("Add", {scaled, parameter(bn.inputs[2], "B", dtype, stat_shape, axes)}, y);
    if (!graph_.find_value_info(y)) e_.set_type(y, dtype, *x_shape);

    // The batch statistics under their own names, [C] (or [C, D1..Dn]) in their own type.
    squeezed(mean, batch_mean, axes);
    squeezed(var, batch_var, axes);
  }

 private:
  // A fresh value name "sync_batchnorm/<node>/<hint>".
  std::string value(const std::string& hint) { return e_.fresh(kPrefix + name_ + "/" + hint); }

  std::string typed(const std::string& v, DType dtype, std::optional<Shape> shape) {
    e_.set_type(v, dtype, std::move(shape));
    return v;
  }

  std::string emit(const std::string& op, const std::vector<std::string>& inputs, const std::string& hint, DType dtype,
                   const Shape& shape) {
    return typed(e_.add1(op, inputs, value(hint)), dtype, shape);
  }

  // `output` = AllReduceSum(v) over the group; the type of v.
  std::string all_reduce_sum(const std::string& v, const std::string& output) {
    e_.add1("AllReduceSum", {v}, output, {{"group", Attribute::of_int(group_)}}, kProjectDomain);
    const ValueInfo* info = graph_.find_value_info(v);
    if (!graph_.find_value_info(output) && info != nullptr) e_.set_type(output, info->dtype, info->shape);
    return output;
  }

  // v as `dtype` (a Cast only when its type differs).
  std::string cast(const std::string& v, DType dtype, const std::optional<Shape>& shape, const std::string& hint) {
    if (graph_.dtype_of(v) == dtype) return v;
    return typed(e_.add1("Cast", {v}, value(hint), {{"to", Attribute::of_int(static_cast<int64_t>(dtype))}}), dtype,
                 shape);
  }

  // A parameter (scale or B: [C], or [C, D1..Dn] per activation) in X's type, unsqueezed at
  // `axes` to [stat].
  std::string parameter(const std::string& p, const std::string& hint, DType dtype, const Shape& stat_shape,
                        const std::vector<int64_t>& axes) {
    const std::string same_type = cast(p, dtype, graph_.shape_of(p), hint + "_cast");
    return typed(e_.unsqueeze(same_type, axes, value(hint + "_unsqueezed")), dtype, stat_shape);
  }

  // `output` (a batch statistics output of the node; "" when omitted) = Squeeze(v, axes), in
  // its own type (the running statistics' type, which ValueInfo records).
  void squeezed(const std::string& v, const std::string& output, const std::vector<int64_t>& axes) {
    if (output.empty()) return;
    const ValueInfo* info = graph_.find_value_info(output);
    OT_CHECK(info != nullptr && info->dtype != DType::Undefined,
             "sync BatchNorm: the type of the batch statistic '{}' is unknown (to_training_form records it)", output);
    const DType out_dtype = info->dtype;
    const DType dtype = graph_.dtype_of(v);
    Shape shape = *graph_.shape_of(v);
    for (auto a = axes.rbegin(); a != axes.rend(); ++a) shape.erase(shape.begin() + *a);
    if (out_dtype == dtype) {
      e_.squeeze(v, axes, output);
      return;
    }
    const std::string s = typed(e_.squeeze(v, axes, value("squeezed")), dtype, shape);
    e_.add1("Cast", {s}, output, {{"to", Attribute::of_int(static_cast<int64_t>(out_dtype))}});
  }

  Graph& graph_;
  GraphEditor e_;
  int64_t group_;
  std::string name_;  // the node being rewritten
};

}  // namespace

void sync_batchnorm(Graph& train, const TrainingForm& form, int64_t group) {
  if (form.running_stats.empty()) return;
  OT_CHECK(group >= 0, "sync BatchNorm: process group {} is not a group number", group);
  Graph result = train;
  SyncBatchNorm rewriter(result, group);
  for (const RunningStat& stat : form.running_stats) rewriter.rewrite(stat);
  sort_topologically(result);
  train = std::move(result);
}

}  // namespace onnx_train
