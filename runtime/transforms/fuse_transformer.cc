// Rewrites of exported transformer patterns (runtime/transforms/fuse_transformer.h).
#include "runtime/transforms/fuse_transformer.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "runtime/ir/editor.h"

namespace onnx_train {

namespace {

using Ints = std::vector<int64_t>;

// The values of small integer tensors the graph computes from constants and static
// dimensions (the shape arithmetic exporters write), or nullopt when a value depends on
// anything else (an input, a dynamic dimension, an op this does not evaluate).
class StaticInts {
 public:
  explicit StaticInts(const Graph& graph) : graph_(graph) {
    for (const Node& n : graph.nodes)
      for (const std::string& out : n.outputs) producer_[out] = &n;
  }

  std::optional<Ints> of(const std::string& name, int depth = 0) {
    if (name.empty() || depth > 32) return std::nullopt;
    if (auto it = graph_.initializers.find(name); it != graph_.initializers.end()) return of_tensor(it->second);
    auto it = producer_.find(name);
    if (it == producer_.end()) return std::nullopt;
    const Node& n = *it->second;
    if (n.outputs.size() != 1 || !n.domain.empty()) return std::nullopt;
    return of_node(n, depth + 1);
  }

 private:
  static std::optional<Ints> of_tensor(const Tensor& t) {
    if ((t.dtype() != DType::Int64 && t.dtype() != DType::Int32) || t.numel() > 64) return std::nullopt;
    Ints values;
    for (double v : t.to_doubles()) values.push_back(static_cast<int64_t>(v));
    return values;
  }

  // dims[i] of `x` for each i in `at` (negative: from the end), when all are static.
  std::optional<Ints> static_dims(const std::string& x, const Ints& at) const {
    const std::optional<Shape> shape = graph_.shape_of(x);
    if (!shape) return std::nullopt;
    const auto rank = static_cast<int64_t>(shape->size());
    Ints dims;
    for (int64_t i : at) {
      const int64_t k = i < 0 ? i + rank : i;
      if (k < 0 || k >= rank || (*shape)[k] < 0) return std::nullopt;
      dims.push_back((*shape)[k]);
    }
    return dims;
  }

  std::optional<Ints> of_node(const Node& n, int depth) {
    const std::string& op = n.op_type;
    if (op == "Constant") {
      if (n.has_attr("value")) return of_tensor(n.attr_tensor("value"));
      if (n.has_attr("value_ints")) return n.attr_ints("value_ints");
      if (n.has_attr("value_int")) return Ints{n.attr_int("value_int")};
      return std::nullopt;
    }
    if (op == "Shape") {
      if (n.has_attr("start") || n.has_attr("end")) return std::nullopt;
      const std::optional<Shape> shape = graph_.shape_of(n.inputs[0]);
      if (!shape) return std::nullopt;
      Ints all(shape->size());
      for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
      return static_dims(n.inputs[0], all);
    }
    if (op == "Gather") return gather(n, depth);
    if (op == "Identity" || op == "Unsqueeze" || op == "Squeeze" || op == "Reshape") return of(n.inputs[0], depth);
    if (op == "Cast") {
      const int64_t to = n.attr_int("to", 0);
      if (to != static_cast<int64_t>(DType::Int64) && to != static_cast<int64_t>(DType::Int32)) return std::nullopt;
      return of(n.inputs[0], depth);
    }
    if (op == "Concat") {
      Ints all;
      for (const std::string& in : n.inputs) {
        std::optional<Ints> part = of(in, depth);
        if (!part) return std::nullopt;
        all.insert(all.end(), part->begin(), part->end());
      }
      return all;
    }
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") return arithmetic(n, depth);
    return std::nullopt;
  }

  // Gather(data, indices) along axis 0 of a 1-D data: Shape(x) gathered needs only the
  // gathered dimensions of x to be static.
  std::optional<Ints> gather(const Node& n, int depth) {
    if (n.attr_int("axis", 0) != 0) return std::nullopt;
    const std::optional<Ints> at = of(n.inputs[1], depth);
    if (!at) return std::nullopt;
    auto p = producer_.find(n.inputs[0]);
    if (p != producer_.end() && p->second->op_type == "Shape" && p->second->domain.empty() &&
        !p->second->has_attr("start") && !p->second->has_attr("end"))
      return static_dims(p->second->inputs[0], *at);
    const std::optional<Ints> data = of(n.inputs[0], depth);
    if (!data) return std::nullopt;
    Ints out;
    const auto size = static_cast<int64_t>(data->size());
    for (int64_t i : *at) {
      const int64_t k = i < 0 ? i + size : i;
      if (k < 0 || k >= size) return std::nullopt;
      out.push_back((*data)[k]);
    }
    return out;
  }

  // Elementwise integer arithmetic, one side of size 1 broadcast; Div truncates toward 0.
  std::optional<Ints> arithmetic(const Node& n, int depth) {
    const std::optional<Ints> a = of(n.inputs[0], depth), b = of(n.inputs[1], depth);
    if (!a || !b || (a->size() != b->size() && a->size() != 1 && b->size() != 1)) return std::nullopt;
    const size_t count = std::max(a->size(), b->size());
    Ints out(count);
    for (size_t i = 0; i < count; ++i) {
      const int64_t x = (*a)[a->size() == 1 ? 0 : i], y = (*b)[b->size() == 1 ? 0 : i];
      if (n.op_type == "Add")
        out[i] = x + y;
      else if (n.op_type == "Sub")
        out[i] = x - y;
      else if (n.op_type == "Mul")
        out[i] = x * y;
      else if (y == 0)
        return std::nullopt;
      else
        out[i] = x / y;
    }
    return out;
  }

  const Graph& graph_;
  std::unordered_map<std::string, const Node*> producer_;
};

// One Slice with constant bounds: x[..., begin:end, ...] along `axis` of a static dimension.
struct Cut {
  size_t node;
  int64_t axis, begin, end, dim;
};

// The Slice at `index` as a Cut, when it is one (Slice-10+, one axis, step 1, static bounds).
std::optional<Cut> static_cut(const Graph& graph, size_t index, StaticInts& ints) {
  const Node& n = graph.nodes[index];
  if (n.op_type != "Slice" || !n.domain.empty() || n.since_version < 10 || n.inputs.size() < 3) return std::nullopt;
  const std::optional<Shape> shape = graph.shape_of(n.inputs[0]);
  const std::optional<Ints> starts = ints.of(n.inputs[1]), ends = ints.of(n.inputs[2]);
  if (!shape || !starts || !ends || starts->size() != 1 || ends->size() != 1) return std::nullopt;
  std::optional<Ints> axes = n.has_input(3) ? ints.of(n.inputs[3]) : Ints{0};
  if (!axes || axes->size() != 1) return std::nullopt;
  if (n.has_input(4)) {
    const std::optional<Ints> steps = ints.of(n.inputs[4]);
    if (!steps || steps->size() != 1 || (*steps)[0] != 1) return std::nullopt;
  }
  const auto rank = static_cast<int64_t>(shape->size());
  const int64_t axis = (*axes)[0] < 0 ? (*axes)[0] + rank : (*axes)[0];
  if (axis < 0 || axis >= rank || (*shape)[axis] < 0) return std::nullopt;
  const int64_t dim = (*shape)[axis];
  // ONNX's clamping: negative bounds count from the end, then [0, dim].
  auto clamp = [dim](int64_t v) { return std::clamp(v < 0 ? v + dim : v, int64_t{0}, dim); };
  return Cut{index, axis, clamp((*starts)[0]), clamp((*ends)[0]), dim};
}

// The cuts of one value along one axis, sorted, when they tile [0, dim) without gap or overlap.
bool tiles(std::vector<Cut>& cuts) {
  std::sort(cuts.begin(), cuts.end(), [](const Cut& a, const Cut& b) { return a.begin < b.begin; });
  int64_t at = 0;
  for (const Cut& c : cuts) {
    if (c.begin != at || c.end <= c.begin) return false;
    at = c.end;
  }
  return at == cuts.front().dim;
}

// Pure ops whose outputs nobody reads any more are dropped, starting from `roots` (the
// bounds of the Slices that became Splits) and going up the graph.
void drop_unread(Graph& graph, std::vector<std::string> roots) {
  std::unordered_map<std::string, size_t> reads;
  for (const Node& n : graph.nodes)
    for (const std::string& in : n.inputs) ++reads[in];
  for (const ValueInfo& out : graph.outputs) ++reads[out.name];
  static const std::set<std::string> pure = {"Constant", "Shape",   "Gather", "Identity", "Unsqueeze",
                                             "Squeeze",  "Reshape", "Cast",   "Concat",   "Add",
                                             "Sub",      "Mul",     "Div"};
  std::set<const Node*> dropped;
  std::unordered_map<std::string, const Node*> producer;
  for (const Node& n : graph.nodes)
    for (const std::string& out : n.outputs) producer[out] = &n;
  while (!roots.empty()) {
    const std::string name = roots.back();
    roots.pop_back();
    auto p = producer.find(name);
    if (p == producer.end() || dropped.count(p->second) || !p->second->domain.empty() ||
        !pure.count(p->second->op_type))
      continue;
    const Node& n = *p->second;
    if (std::any_of(n.outputs.begin(), n.outputs.end(), [&](const std::string& o) { return reads[o] > 0; })) continue;
    dropped.insert(&n);
    for (const std::string& in : n.inputs)
      if (!in.empty() && --reads[in] == 0) roots.push_back(in);
  }
  std::vector<Node> kept;
  for (Node& n : graph.nodes)
    if (!dropped.count(&n))
      kept.push_back(std::move(n));
    else
      for (const std::string& out : n.outputs) graph.value_info.erase(out);
  graph.nodes = std::move(kept);
}

// Replaces each group of tiling Slices by one Split; returns how many Splits.
size_t fuse_chunks(Graph& graph) {
  StaticInts ints(graph);
  std::map<std::pair<std::string, int64_t>, std::vector<Cut>> groups;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (std::optional<Cut> cut = static_cut(graph, i, ints))
      groups[{graph.nodes[i].inputs[0], cut->axis}].push_back(*cut);
  std::vector<size_t> removed;
  std::vector<std::string> bounds;
  std::vector<std::pair<std::vector<Cut>, std::string>> splits;
  for (auto& [key, cuts] : groups)
    if (cuts.size() >= 2 && tiles(cuts)) splits.emplace_back(cuts, key.first);
  if (splits.empty()) return 0;
  GraphEditor editor(graph, "transformer fusion", "fused/");
  for (auto& [cuts, x] : splits) {
    Ints sizes;
    std::vector<std::string> outputs;
    for (const Cut& c : cuts) {
      const Node& slice = graph.nodes[c.node];
      sizes.push_back(c.end - c.begin);
      outputs.push_back(slice.outputs[0]);
      bounds.insert(bounds.end(), slice.inputs.begin() + 1, slice.inputs.end());
      removed.push_back(c.node);
    }
    const Attribute axis = Attribute::of_int(cuts.front().axis);
    if (editor.opset() >= 13)
      editor.add("Split", {x, editor.ints(sizes, "split_sizes")}, outputs, {{"axis", axis}});
    else
      editor.add("Split", {x}, outputs, {{"axis", axis}, {"split", Attribute::of_ints(sizes)}});
  }
  std::sort(removed.rbegin(), removed.rend());
  for (size_t i : removed) graph.nodes.erase(graph.nodes.begin() + static_cast<std::ptrdiff_t>(i));
  drop_unread(graph, bounds);
  sort_topologically(graph);
  return splits.size();
}

}  // namespace

TransformerFusions fuse_transformer_patterns(Graph& graph) {
  TransformerFusions done;
  done.chunk_splits = fuse_chunks(graph);
  return done;
}

}  // namespace onnx_train
