// bfloat16 autocast of a training graph's forward part (see autocast.h for the rules).
#include "runtime/transforms/autocast.h"

#include <map>
#include <set>
#include <utility>
#include <vector>

#include "runtime/ir/editor.h"

namespace onnx_train {

namespace {

const std::set<std::string>& lowered_ops() {
  static const std::set<std::string> ops = {"MatMul", "Gemm", "Conv", "ConvTranspose"};
  return ops;
}

// Ops that only move or reinterpret the elements of input 0 (their kernels copy bytes of any
// element type), through which a bfloat16 value can travel instead of its float32 copy.
const std::set<std::string>& layout_ops() {
  static const std::set<std::string> ops = {"Reshape", "Transpose", "Squeeze", "Unsqueeze",
                                            "Flatten", "Split",     "Slice",   "Identity"};
  return ops;
}

bool is_cast_to(const Node& n, DType to) {
  return n.op_type == "Cast" && n.domain.empty() && n.inputs.size() == 1 && n.outputs.size() == 1 &&
         n.attr_int("to", 0) == static_cast<int64_t>(to);
}

// Whether a node holds a subgraph (If, Loop, Scan), whose nodes may read outer values without
// listing them as inputs: then no Cast is removed or moved (a hidden reader could lose its value).
bool has_subgraphs(const Graph& g) {
  for (const Node& n : g.nodes)
    for (const auto& [name, a] : n.attributes)
      if (a.kind == Attribute::Kind::Graph) return true;
  return false;
}

// The float inputs of a lowered node that become bfloat16 (Gemm's C is handled apart).
std::vector<size_t> lowered_inputs(const Node& n) {
  if (n.op_type == "MatMul") return {0, 1};
  if (n.op_type == "Gemm") return n.since_version < 11 ? std::vector<size_t>{0, 1, 2} : std::vector<size_t>{0, 1};
  return {0, 1, 2};  // Conv, ConvTranspose: X, W, B
}

class Autocast {
 public:
  explicit Autocast(Graph& graph) : graph_(graph), e_(graph, "autocast", "autocast/") {
    for (const auto& v : graph.outputs) graph_outputs_.insert(v.name);
  }

  AutocastReport run() {
    std::vector<Node> nodes = std::move(graph_.nodes);
    graph_.nodes.clear();
    graph_.nodes.reserve(nodes.size() * 2);
    for (Node& n : nodes) {
      if (!rewritable(n)) {
        graph_.nodes.push_back(std::move(n));
        continue;
      }
      rewrite(std::move(n));
      ++report_.rewritten;
    }
    if (!has_subgraphs(graph_)) {
      remove_round_trips();
      while (cast_before_layout()) ++report_.casts_moved;
    }
    for (const Node& n : graph_.nodes)
      if (n.op_type == "Cast" && n.name.rfind("autocast/", 0) == 0) ++report_.casts;
    return report_;
  }

 private:
  bool rewritable(const Node& n) const {
    if (!n.domain.empty() || lowered_ops().count(n.op_type) == 0 || n.outputs.empty()) return false;
    for (size_t i : lowered_inputs(n))
      if (n.has_input(i) && graph_.dtype_of(n.inputs[i]) != DType::Float32) return false;
    if (n.op_type == "Gemm" && n.has_input(2) && graph_.dtype_of(n.inputs[2]) != DType::Float32) return false;
    return n.has_input(0) && n.has_input(1);
  }

  // The bfloat16 copy of `value`, made (once) just here, before its first reader.
  std::string bf16_of(const std::string& value) {
    const auto it = bf16_.find(value);
    if (it != bf16_.end()) return it->second;
    const std::string out = e_.fresh(value + "_bf16");
    e_.add1("Cast", {value}, out, {{"to", Attribute::of_int(static_cast<int64_t>(DType::BFloat16))}});
    e_.set_type(out, DType::BFloat16, graph_.shape_of(value));
    bf16_.emplace(value, out);
    return out;
  }

  void rewrite(Node n) {
    for (size_t i : lowered_inputs(n))
      if (n.has_input(i)) n.inputs[i] = bf16_of(n.inputs[i]);
    // Gemm-11+: C leaves the node and is added in float32 after the Cast back.
    std::string bias;
    float beta = 1.f;
    if (n.op_type == "Gemm" && n.since_version >= 11 && n.has_input(2)) {
      bias = n.inputs[2];
      beta = n.attr_float("beta", 1.f);
      n.inputs.resize(2);
      n.attributes.erase("beta");
    }
    if (n.op_type == "Gemm" && n.since_version >= 11 && !n.has_input(2) && n.inputs.size() > 2) n.inputs.resize(2);
    const std::string y = n.outputs[0];
    const std::optional<Shape> y_shape = graph_.shape_of(y);
    const std::string y_bf16 = e_.fresh(y + "_bf16");
    n.outputs[0] = y_bf16;
    e_.set_type(y_bf16, DType::BFloat16, y_shape);
    graph_.nodes.push_back(std::move(n));
    const std::string cast_out = bias.empty() ? y : e_.fresh(y + "_product");
    e_.add1("Cast", {y_bf16}, cast_out, {{"to", Attribute::of_int(static_cast<int64_t>(DType::Float32))}});
    if (bias.empty()) return;
    e_.set_type(cast_out, DType::Float32, y_shape);
    std::string scaled = bias;
    if (beta != 1.f) {
      scaled = e_.fresh(bias + "_scaled");
      Tensor b = scalar_tensor(DType::Float32, beta);
      e_.add1("Mul", {bias, e_.constant(b, "beta")}, scaled);
      e_.set_type(scaled, DType::Float32, graph_.shape_of(bias));
    }
    e_.add1("Add", {cast_out, scaled}, y);
  }

  // Readers of each value: (node index, input index).
  std::map<std::string, std::vector<std::pair<size_t, size_t>>> readers() const {
    std::map<std::string, std::vector<std::pair<size_t, size_t>>> r;
    for (size_t i = 0; i < graph_.nodes.size(); ++i)
      for (size_t j = 0; j < graph_.nodes[i].inputs.size(); ++j)
        if (!graph_.nodes[i].inputs[j].empty()) r[graph_.nodes[i].inputs[j]].emplace_back(i, j);
    return r;
  }

  // Cast(bf16 -> f32) -> layout ops -> Cast(f32 -> bf16) chains: the layout ops move the
  // bfloat16 value and both Casts go.
  void remove_round_trips() {
    std::set<size_t> removed;
    auto r = readers();
    for (size_t c = 0; c < graph_.nodes.size(); ++c) {
      const Node& cast = graph_.nodes[c];
      if (!is_cast_to(cast, DType::Float32) || graph_.dtype_of(cast.inputs[0]) != DType::BFloat16) continue;
      std::vector<size_t> layout, ends;
      if (!closed_chain(cast.outputs[0], r, layout, ends)) continue;
      // The layout ops read the bfloat16 value; their outputs become bfloat16.
      for (auto [node, input] : r[cast.outputs[0]]) graph_.nodes[node].inputs[input] = cast.inputs[0];
      for (size_t l : layout)
        for (const auto& out : graph_.nodes[l].outputs)
          if (!out.empty()) e_.set_type(out, DType::BFloat16, graph_.shape_of(out));
      // Each Cast to bfloat16 at the end goes: its readers read its input.
      for (size_t end : ends) {
        const std::string from = graph_.nodes[end].inputs[0], to = graph_.nodes[end].outputs[0];
        for (auto [node, input] : r[to]) graph_.nodes[node].inputs[input] = from;
        // A value cast once, read again later: later readers find it under `from` too.
        for (auto& [value, bf16] : bf16_)
          if (bf16 == to) bf16 = from;
        removed.insert(end);
      }
      removed.insert(c);
      ++report_.round_trips_removed;
      r = readers();
    }
    std::vector<Node> kept;
    kept.reserve(graph_.nodes.size() - removed.size());
    for (size_t i = 0; i < graph_.nodes.size(); ++i)
      if (removed.count(i) == 0) kept.push_back(std::move(graph_.nodes[i]));
    graph_.nodes = std::move(kept);
  }

  // Cast(Transpose(W), to=bfloat16) -> Transpose(Cast(W, to=bfloat16)) (any layout op whose
  // output only that Cast reads): the layout op then moves 2 bytes per element instead of 4,
  // forward and (its gradient) backward. torch writes nn.Linear as MatMul(x, Transpose(W)), so
  // this is every weight of a transformer. Moves one Cast; false when none is left to move.
  bool cast_before_layout() {
    const auto r = readers();
    std::map<std::string, size_t> producer;
    for (size_t i = 0; i < graph_.nodes.size(); ++i)
      for (const auto& out : graph_.nodes[i].outputs) producer[out] = i;
    for (size_t c = 0; c < graph_.nodes.size(); ++c) {
      const Node& cast = graph_.nodes[c];
      if (!is_cast_to(cast, DType::BFloat16)) continue;
      const std::string v = cast.inputs[0];
      const auto p = producer.find(v);
      if (p == producer.end() || graph_outputs_.count(v) != 0 || r.at(v).size() != 1) continue;
      const Node& layout = graph_.nodes[p->second];
      if (!layout.domain.empty() || layout_ops().count(layout.op_type) == 0 || layout.outputs.size() != 1 ||
          layout.inputs.empty() || graph_.dtype_of(layout.inputs[0]) != DType::Float32)
        continue;
      const size_t at = p->second;
      const std::string source = layout.inputs[0], cast_out = cast.outputs[0];
      // The new Cast goes just before the layout op (the editor appends; moved into place).
      const std::string source_bf16 = e_.fresh(source + "_bf16");
      e_.add1("Cast", {source}, source_bf16, {{"to", Attribute::of_int(static_cast<int64_t>(DType::BFloat16))}});
      e_.set_type(source_bf16, DType::BFloat16, graph_.shape_of(source));
      Node moved = std::move(graph_.nodes.back());
      graph_.nodes.pop_back();
      graph_.nodes.erase(graph_.nodes.begin() + static_cast<std::ptrdiff_t>(c));  // c > at: it reads v
      graph_.nodes.insert(graph_.nodes.begin() + static_cast<std::ptrdiff_t>(at), std::move(moved));
      Node& l = graph_.nodes[at + 1];
      l.inputs[0] = source_bf16;
      e_.set_type(v, DType::BFloat16, graph_.shape_of(v));
      for (Node& n : graph_.nodes)
        for (auto& in : n.inputs)
          if (in == cast_out) in = v;
      for (auto& [value, bf16] : bf16_)
        if (bf16 == cast_out) bf16 = v;
      return true;
    }
    return false;
  }

  // Whether every reader of `value`, transitively through layout ops (data input 0), is a
  // layout op or a Cast to bfloat16, and nothing along the way is a graph output.
  bool closed_chain(const std::string& value, const std::map<std::string, std::vector<std::pair<size_t, size_t>>>& r,
                    std::vector<size_t>& layout, std::vector<size_t>& ends) const {
    std::vector<std::string> pending{value};
    std::set<size_t> seen;
    while (!pending.empty()) {
      const std::string v = pending.back();
      pending.pop_back();
      if (graph_outputs_.count(v) != 0) return false;
      const auto it = r.find(v);
      if (it == r.end()) return false;  // unread: nothing to gain (and it may be fetched)
      for (auto [node, input] : it->second) {
        const Node& n = graph_.nodes[node];
        if (!seen.insert(node).second) return false;  // read twice by one node
        if (is_cast_to(n, DType::BFloat16)) {
          ends.push_back(node);
        } else if (n.domain.empty() && layout_ops().count(n.op_type) != 0 && input == 0) {
          layout.push_back(node);
          for (const auto& out : n.outputs)
            if (!out.empty()) pending.push_back(out);
        } else {
          return false;
        }
      }
    }
    return !ends.empty();
  }

  Graph& graph_;
  GraphEditor e_;
  std::set<std::string> graph_outputs_;
  std::map<std::string, std::string> bf16_;  // float32 value -> its bfloat16 Cast
  AutocastReport report_;
};

}  // namespace

bool autocast_lowers(const std::string& op_type) { return lowered_ops().count(op_type) != 0; }

AutocastReport autocast_bf16(Graph& graph) { return Autocast(graph).run(); }

}  // namespace onnx_train
