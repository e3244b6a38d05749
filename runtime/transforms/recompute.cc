// Activation recomputation: the rewrite described in recompute.h.
#include "runtime/transforms/recompute.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "runtime/exec/plan.h"
#include "runtime/ir/editor.h"

namespace onnx_train {

namespace {

// Ops whose outputs are drawn from a generator: running them again would draw new values.
bool is_random_op(const Node& n) {
  static const std::set<std::string> ops = {"RandomNormal",      "RandomUniform", "RandomNormalLike",
                                            "RandomUniformLike", "Bernoulli",     "Multinomial"};
  return n.domain.empty() && ops.count(n.op_type) != 0;
}

// Bytes of `value` at `batch`, as the plan counts them (capped at 2^52, so that sums of them
// cannot wrap).
uint64_t bytes_of(const Graph& g, const std::string& value, int64_t batch) {
  return std::min<uint64_t>(value_bytes(g.find_value_info(value), batch), 1ull << 52);
}

// How a recomputed Dropout node is run again (see recompute.h).
struct DropoutForm {
  enum Kind { Keep, Identity, Masked } kind = Keep;
  double scale = 1;  // Masked: float(1 / (1 - ratio)), as the Dropout kernel computes it
};

// What the rewrite knows about the forward pass of one training graph.
class Analysis {
 public:
  Analysis(const Graph& g, const std::set<std::string>& forward_outputs, int64_t batch) : g_(g), batch_(batch) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      for (const auto& o : n.outputs)
        if (!o.empty()) producer_[o] = i;
      if (!n.outputs.empty() && forward_outputs.count(n.outputs[0]) != 0) forward_.push_back(i);
    }
    for (size_t p = 0; p < forward_.size(); ++p)
      for (const auto& o : g.nodes[forward_[p]].outputs)
        if (!o.empty()) position_[o] = p;
    for (const auto& v : g.outputs) graph_outputs_.insert(v.name);
    // Activations: float values that depend on a graph input.
    std::unordered_set<std::string>& from_input = from_input_;
    for (const auto& v : g.inputs) from_input.insert(v.name);
    for (size_t i : forward_) {
      const Node& n = g.nodes[i];
      if (std::none_of(n.inputs.begin(), n.inputs.end(), [&](const std::string& v) { return from_input.count(v); }))
        continue;
      for (const auto& o : n.outputs) {
        if (o.empty()) continue;
        from_input.insert(o);
        if (dtype_is_float(g.dtype_of(o))) activations_.insert(o);
      }
    }
    // Saved values: forward values that depend on a graph input (activations, masks, indices;
    // not the weights' transposes, which the plan handles) read by backward nodes, with their
    // first such reader.
    std::unordered_set<size_t> is_forward(forward_.begin(), forward_.end());
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (is_forward.count(i) != 0) continue;
      for (const auto& v : g.nodes[i].inputs)
        if (position_.count(v) != 0 && from_input.count(v) != 0 && first_backward_reader_.emplace(v, i).second)
          saved_.push_back(v);
    }
    std::sort(saved_.begin(), saved_.end(),
              [&](const std::string& a, const std::string& b) { return position_.at(a) < position_.at(b); });
    find_candidates();
  }

  const Graph& graph() const { return g_; }
  const std::vector<std::string>& candidates() const { return candidates_; }
  const std::vector<std::string>& saved() const { return saved_; }
  size_t position(const std::string& v) const { return position_.at(v); }
  size_t forward_node(size_t p) const { return forward_[p]; }
  size_t first_backward_reader(const std::string& v) const { return first_backward_reader_.at(v); }
  uint64_t bytes(const std::string& v) const { return bytes_of(g_, v, batch_); }
  const Node* producer(const std::string& v) const {
    const auto it = producer_.find(v);
    return it == producer_.end() ? nullptr : &g_.nodes[it->second];
  }
  bool is_forward_value(const std::string& v) const { return position_.count(v) != 0; }
  bool is_activation(const std::string& v) const { return activations_.count(v) != 0; }

  // Whether `v` may be computed again (before asking whether it lies in a segment): an
  // activation, no graph output, made by a node that gives the same values when run again.
  bool recomputable(const std::string& v) const {
    if (activations_.count(v) == 0 || graph_outputs_.count(v) != 0) return false;
    const Node& n = *producer(v);
    if (is_random_op(n)) return false;
    if (n.op_type == "Dropout" && n.domain.empty())
      return dropout_form(n).kind != DropoutForm::Keep && v == n.outputs[0];
    return true;
  }

  DropoutForm dropout_form(const Node& n) const {
    DropoutForm f;
    if (n.since_version < 12 || !n.has_input(2)) {
      f.kind = DropoutForm::Identity;  // no training switch: the node passes its input through
      return f;
    }
    const Tensor* training = constant(n.inputs[2]);
    if (training == nullptr || training->dtype() != DType::Bool || training->numel() != 1) return f;
    if (!training->data<bool>()[0]) {
      f.kind = DropoutForm::Identity;
      return f;
    }
    double ratio = 0.5;
    if (n.has_input(1)) {
      const Tensor* r = constant(n.inputs[1]);
      if (r == nullptr || !dtype_is_float(r->dtype()) || r->numel() != 1) return f;
      ratio = r->to_doubles()[0];
    }
    const DType dtype = g_.dtype_of(n.inputs[0]);
    const bool has_mask = n.outputs.size() > 1 && !n.outputs[1].empty();
    if (ratio == 0) {
      f.kind = DropoutForm::Identity;
    } else if (has_mask && ratio > 0 && ratio < 1 && (dtype == DType::Float32 || dtype == DType::Float64)) {
      f.kind = DropoutForm::Masked;
      f.scale = 1.0 / (1.0 - ratio);
    }
    return f;
  }

 private:
  // An initializer's value, or a Constant node's `value`; nullptr for anything else.
  const Tensor* constant(const std::string& v) const {
    const auto it = g_.initializers.find(v);
    if (it != g_.initializers.end()) return &it->second;
    const Node* n = producer(v);
    if (n != nullptr && n->op_type == "Constant" && n->domain.empty() && n->has_attr("value"))
      return &n->attr_tensor("value");
    return nullptr;
  }

  // With the forward nodes in order, after node p the activations still to be read by a later
  // forward node are those made at or before p and last read after p. When that set is one
  // value, every path from the inputs to the loss passes through it.
  void find_candidates() {
    std::unordered_map<std::string, size_t> last_use;
    for (size_t p = 0; p < forward_.size(); ++p)
      for (const auto& v : g_.nodes[forward_[p]].inputs)
        if (activations_.count(v) != 0) last_use[v] = p;
    std::set<std::string> live;
    for (size_t p = 0; p < forward_.size(); ++p) {
      const Node& n = g_.nodes[forward_[p]];
      for (const auto& v : n.inputs)
        if (activations_.count(v) != 0 && last_use.at(v) == p) live.erase(v);
      for (const auto& o : n.outputs) {
        const auto it = last_use.find(o);
        if (it != last_use.end() && it->second > p) live.insert(o);
      }
      if (live.size() == 1 && (candidates_.empty() || candidates_.back() != *live.begin()))
        candidates_.push_back(*live.begin());
    }
  }

  const Graph& g_;
  int64_t batch_;
  std::vector<size_t> forward_;                       // graph indices of the forward nodes, in order
  std::unordered_map<std::string, size_t> producer_;  // value -> graph index of its node
  std::unordered_map<std::string, size_t> position_;  // forward value -> its node's forward position
  std::unordered_set<std::string> from_input_, activations_, graph_outputs_;
  std::vector<std::string> saved_;                                 // in forward order
  std::unordered_map<std::string, size_t> first_backward_reader_;  // saved value -> graph index
  std::vector<std::string> candidates_;
};

// The saved activations per region between candidates, for choosing segments: region k holds
// the forward positions (pos[c(k-1)], pos[c(k)]] (region 0 starts at the graph inputs), and
// region m, past the last candidate, is never recomputed.
struct Regions {
  std::vector<uint64_t> inside;           // recomputable saved bytes in region k, its candidate excluded
  std::vector<uint64_t> candidate;        // bytes of candidate k (what keeping it costs)
  std::vector<uint64_t> candidate_saved;  // bytes of candidate k if it is saved and recomputable, else 0
  std::vector<bool> candidate_kept;       // candidate k is saved and not recomputable: kept in any case
  uint64_t kept = 0;                      // other saved bytes never recomputed (not activations, region m)
  uint64_t all_saved = 0;                 // every saved value's bytes: the estimate without recomputation
};

Regions measure(const Analysis& a) {
  const auto& cands = a.candidates();
  const size_t m = cands.size();
  Regions r;
  r.inside.assign(m, 0);
  r.candidate.assign(m, 0);
  r.candidate_saved.assign(m, 0);
  r.candidate_kept.assign(m, false);
  std::unordered_map<std::string, size_t> candidate_index;
  std::vector<size_t> positions(m);
  for (size_t k = 0; k < m; ++k) {
    candidate_index[cands[k]] = k;
    r.candidate[k] = a.bytes(cands[k]);
    positions[k] = a.position(cands[k]);
  }
  for (const auto& v : a.saved()) {
    const uint64_t b = a.bytes(v);
    r.all_saved += b;
    const auto c = candidate_index.find(v);
    if (c != candidate_index.end()) {
      if (a.recomputable(v))
        r.candidate_saved[c->second] = b;
      else
        r.candidate_kept[c->second] = true;
      continue;
    }
    const auto k =
        static_cast<size_t>(std::lower_bound(positions.begin(), positions.end(), a.position(v)) - positions.begin());
    if (k == m || !a.recomputable(v))
      r.kept += b;
    else
      r.inside[k] += b;
  }
  return r;
}

// A choice of checkpoints (candidate indices, increasing) and of segments kept as they are.
struct Choice {
  std::vector<size_t> checkpoints;
  std::vector<bool> kept;  // per segment (one per checkpoint)
};

// Per segment, the saved bytes it recomputes (its regions, and its candidates that are not
// checkpoints).
std::vector<uint64_t> segment_bytes(const Regions& r, const std::vector<size_t>& checkpoints) {
  std::vector<uint64_t> out;
  size_t k = 0;
  for (size_t end : checkpoints) {
    uint64_t b = 0;
    for (; k <= end; ++k) b += r.inside[k] + (k < end ? r.candidate_saved[k] : 0);
    out.push_back(b);
  }
  return out;
}

// kept saved values + checkpoints (+ kept segments, + what follows the last checkpoint) + the
// largest recomputed segment.
uint64_t estimate(const Regions& r, const Choice& c) {
  const size_t m = r.inside.size();
  std::vector<bool> checkpoint(m, false);
  for (size_t k : c.checkpoints) checkpoint[k] = true;
  const size_t last = c.checkpoints.empty() ? 0 : c.checkpoints.back();
  uint64_t total = r.kept, largest = 0;
  for (size_t k = 0; k < m; ++k) {
    if (checkpoint[k] || r.candidate_kept[k])
      total += r.candidate[k];
    else if (c.checkpoints.empty() || k > last)
      total += r.candidate_saved[k];  // not in any segment: kept
    if (c.checkpoints.empty() || k > last) total += r.inside[k];
  }
  const std::vector<uint64_t> seg = segment_bytes(r, c.checkpoints);
  for (size_t j = 0; j < seg.size(); ++j)
    if (!c.kept.empty() && c.kept[j])
      total += seg[j];
    else
      largest = std::max(largest, seg[j]);
  return total + largest;
}

// Chen's greedy segmentation: a segment grows until its recomputed bytes would pass `limit`.
std::vector<size_t> greedy_checkpoints(const Regions& r, uint64_t limit) {
  const size_t m = r.inside.size();
  std::vector<size_t> chosen;
  uint64_t acc = 0;
  for (size_t k = 0; k < m; ++k) {
    acc += r.inside[k];
    if (k + 1 == m || acc + r.candidate_saved[k] + r.inside[k + 1] > limit) {
      chosen.push_back(k);
      acc = 0;
    } else {
      acc += r.candidate_saved[k];
    }
  }
  return chosen;
}

std::vector<size_t> sqrt_checkpoints(size_t first, size_t units, size_t unit_size) {
  const size_t group = std::max<size_t>(1, static_cast<size_t>(std::lround(std::sqrt(static_cast<double>(units)))));
  std::vector<size_t> out;
  for (size_t u = group; u < units; u += group) out.push_back(first + u * unit_size);
  return out;
}

// The default segmentation (recompute.h): per transformer block, else sqrt(n) layers.
Choice default_choice(const Analysis& a, std::string& rule) {
  const auto& cands = a.candidates();
  const Graph& g = a.graph();
  const size_t m = cands.size();
  // Signature of gap k (k = 0 .. m-2): positions (pos[c(k)], pos[c(k+1)]].
  std::vector<std::vector<std::string>> sig(m > 0 ? m - 1 : 0);
  for (size_t k = 0; k + 1 < m; ++k)
    for (size_t p = a.position(cands[k]) + 1; p <= a.position(cands[k + 1]); ++p) {
      const Node& n = g.nodes[a.forward_node(p)];
      if (std::any_of(n.outputs.begin(), n.outputs.end(), [&](const std::string& o) { return a.is_activation(o); }))
        sig[k].push_back(n.op_type);
    }
  const size_t gaps = sig.size();
  size_t best_p = 0, best_start = 0, best_units = 0;
  for (size_t p = 1; p <= 8; ++p)
    for (size_t k = 0; k + p < gaps;) {
      if (sig[k] != sig[k + p]) {
        ++k;
        continue;
      }
      const size_t start = k;
      while (k + p < gaps && sig[k] == sig[k + p]) ++k;
      const size_t units = (k - start + p) / p;
      if (units >= 2 && units * p > best_units * best_p) best_p = p, best_start = start, best_units = units;
    }
  Choice c;
  if (best_units == 0) {
    c.checkpoints = sqrt_checkpoints(0, m, 1);
    for (auto& k : c.checkpoints) --k;  // candidate index of each group's last
    c.checkpoints.push_back(m - 1);
    rule = fmt::format("sqrt(n) segments of the chain of {} articulation values (no repeating structure)", m);
    return c;
  }
  bool block = false;
  for (size_t k = best_start; k < best_start + best_p; ++k)
    block = block || std::find(sig[k].begin(), sig[k].end(), "Softmax") != sig[k].end();
  for (size_t k = 0; k <= best_start; ++k) c.checkpoints.push_back(k);  // before the repeating run
  const size_t end = best_start + best_units * best_p;                  // the run's last candidate
  if (block) {
    for (size_t u = 1; u <= best_units; ++u) c.checkpoints.push_back(best_start + u * best_p);
    rule = fmt::format("one segment per transformer block: {} blocks of {} articulation gaps", best_units, best_p);
  } else {
    for (size_t k : sqrt_checkpoints(best_start, best_units, best_p)) c.checkpoints.push_back(k);
    c.checkpoints.push_back(end);
    rule = fmt::format("sqrt(n) segments of a chain of {} layers ({} articulation gaps each)", best_units, best_p);
  }
  c.checkpoints.erase(std::unique(c.checkpoints.begin(), c.checkpoints.end()), c.checkpoints.end());
  return c;
}

std::string mib(uint64_t bytes) { return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20)); }

// The budgeted choice (recompute.h): Chen's greedy at the segment size whose estimate is
// smallest, then kept segments while the budget allows.
Choice budget_choice(const Regions& r, uint64_t budget, int64_t batch, std::string& rule) {
  uint64_t total = 0;
  for (size_t k = 0; k < r.inside.size(); ++k) total += r.inside[k] + r.candidate_saved[k];
  Choice best;
  uint64_t best_estimate = UINT64_MAX;
  for (int i = 0; i <= 64; ++i) {
    Choice c;
    c.checkpoints = greedy_checkpoints(r, total / 64 * static_cast<uint64_t>(i));
    const uint64_t e = estimate(r, c);
    if (e < best_estimate || (e == best_estimate && c.checkpoints.size() < best.checkpoints.size()))
      best = c, best_estimate = e;
  }
  OT_CHECK(best_estimate <= budget,
           "max activation memory {} (--max-activation-memory): the saved activations cannot be made that small at "
           "batch {}: the smallest "
           "estimate with recomputation is {} ({} bytes; {} without recomputation); raise the budget or lower the "
           "batch size",
           mib(budget), batch, mib(best_estimate), best_estimate, mib(r.all_saved));
  // Keep whole segments, the smallest first, while the estimate stays within the budget.
  const std::vector<uint64_t> seg = segment_bytes(r, best.checkpoints);
  std::vector<size_t> order(seg.size());
  for (size_t j = 0; j < order.size(); ++j) order[j] = j;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return seg[x] < seg[y]; });
  best.kept.assign(seg.size(), false);
  for (size_t j : order) {
    best.kept[j] = true;
    if (estimate(r, best) > budget) best.kept[j] = false;
  }
  rule = fmt::format("Chen's greedy segmentation for a budget of {} at batch {}", mib(budget), batch);
  return best;
}

}  // namespace

RecomputeResult recompute_activations(Graph& graph, const std::set<std::string>& forward_outputs,
                                      const RecomputeOptions& options) {
  RecomputeResult result;
  const int64_t batch = std::max<int64_t>(1, options.batch);
  const Analysis a(graph, forward_outputs, batch);
  const Regions regions = measure(a);
  result.candidates = a.candidates();
  result.saved_bytes_before = result.saved_bytes_after = regions.all_saved;
  const auto& cands = a.candidates();
  if (cands.size() < 2) {
    result.notes.push_back("recompute: the forward pass has no chain of articulation values; nothing is recomputed");
    return result;
  }
  if (options.max_activation_memory > 0 && regions.all_saved <= options.max_activation_memory) {
    result.notes.push_back(fmt::format(
        "recompute: the saved activations (about {} at batch {}) fit in --max-activation-memory {}; nothing is "
        "recomputed",
        mib(regions.all_saved), batch, mib(options.max_activation_memory)));
    return result;
  }
  Choice choice = options.max_activation_memory > 0
                      ? budget_choice(regions, options.max_activation_memory, batch, result.rule)
                      : default_choice(a, result.rule);
  if (choice.kept.empty()) choice.kept.assign(choice.checkpoints.size(), false);
  result.saved_bytes_after = estimate(regions, choice);
  for (size_t k : choice.checkpoints) result.checkpoints.push_back(cands[k]);

  GraphEditor e(graph, "recompute", "recompute/");
  const std::unordered_set<std::string> checkpoints(result.checkpoints.begin(), result.checkpoints.end());
  std::map<size_t, std::vector<Node>> inserts;           // graph index -> clones to run right before it
  std::unordered_map<std::string, std::string> rewired;  // saved value -> its clone
  const std::vector<uint64_t> seg_bytes = segment_bytes(regions, choice.checkpoints);
  for (size_t j = 0; j < choice.checkpoints.size(); ++j) {
    RecomputeSegment seg;
    seg.begin = j == 0 ? "" : cands[choice.checkpoints[j - 1]];
    seg.end = cands[choice.checkpoints[j]];
    seg.recomputed = !choice.kept[j];
    seg.recomputed_bytes = seg.recomputed ? seg_bytes[j] : 0;
    const size_t lo = j == 0 ? 0 : a.position(seg.begin) + 1, hi = a.position(seg.end);
    const auto inside = [&](const std::string& v) {
      if (!a.is_forward_value(v) || checkpoints.count(v) != 0 || !a.recomputable(v)) return false;
      const size_t p = a.position(v);
      return p >= lo && p <= hi;
    };
    std::vector<std::string> targets;
    for (const auto& v : a.saved())
      if (seg.recomputed && inside(v)) targets.push_back(v);
    if (targets.empty()) {
      seg.recomputed = false;
      result.segments.push_back(seg);
      continue;
    }
    // The forward positions of the nodes to clone: those the targets depend on inside the segment.
    std::set<size_t> clone;
    std::function<void(const std::string&)> visit = [&](const std::string& v) {
      if (!inside(v) || !clone.insert(a.position(v)).second) return;
      const Node& n = *a.producer(v);
      const size_t reads = n.op_type == "Dropout" && n.domain.empty() ? 1 : n.inputs.size();
      for (size_t i = 0; i < reads; ++i) visit(n.inputs[i]);
    };
    for (const auto& v : targets) visit(v);
    std::unordered_map<std::string, std::string> clone_of;  // original -> clone, within this segment
    const auto input = [&](const std::string& v) {
      const auto it = clone_of.find(v);
      return it == clone_of.end() ? v : it->second;
    };
    size_t at = graph.nodes.size();
    for (const auto& v : targets) at = std::min(at, a.first_backward_reader(v));
    std::vector<Node>& out = inserts[at];
    for (size_t p : clone) {
      const Node& n = graph.nodes[a.forward_node(p)];
      auto name_clone = [&](const std::string& o) {
        if (o.empty()) return o;
        const std::string c = e.fresh(o + "_recomputed");
        const ValueInfo* info = graph.find_value_info(o);
        if (info != nullptr) {
          ValueInfo copy = *info;
          copy.name = c;
          graph.value_info[c] = std::move(copy);
        }
        clone_of[o] = c;
        return c;
      };
      if (n.op_type == "Dropout" && n.domain.empty()) {
        const DropoutForm f = a.dropout_form(n);
        const size_t before = graph.nodes.size();
        const std::string x = input(n.inputs[0]);
        const std::string y = name_clone(n.outputs[0]);
        if (f.kind == DropoutForm::Masked) {
          // y = mask ? x * scale : 0, the forward kernel's float(1 / (1 - ratio)) and its mask.
          const std::string scale =
              e.constant(scalar_tensor(graph.dtype_of(n.inputs[0]), f.scale), n.outputs[0] + "_scale");
          e.add("DropoutGrad", {x, n.outputs[1], scale}, {y}, {}, kProjectDomain, e.fresh("recompute/" + n.name));
        } else {
          e.add("Identity", {x}, {y}, {}, "", e.fresh("recompute/" + n.name));
        }
        seg.nodes_cloned += graph.nodes.size() - before;
        for (size_t i = before; i < graph.nodes.size(); ++i) out.push_back(std::move(graph.nodes[i]));
        graph.nodes.resize(before);
        continue;
      }
      Node c = n;
      c.name = e.fresh("recompute/" + (n.name.empty() ? n.op_type : n.name));
      for (auto& v : c.inputs) v = input(v);
      for (auto& o : c.outputs) o = name_clone(o);
      out.push_back(std::move(c));
      ++seg.nodes_cloned;
    }
    for (const auto& v : targets) rewired[v] = clone_of.at(v);
    result.nodes_added += seg.nodes_cloned;
    result.segments.push_back(seg);
  }
  // Backward nodes read the clones; the clones run right before the first of them.
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (!graph.nodes[i].outputs.empty() && forward_outputs.count(graph.nodes[i].outputs[0]) == 0)
      for (auto& v : graph.nodes[i].inputs) {
        const auto it = rewired.find(v);
        if (it != rewired.end()) v = it->second;
      }
  std::vector<Node> nodes;
  nodes.reserve(graph.nodes.size() + result.nodes_added);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const auto it = inserts.find(i);
    if (it != inserts.end())
      for (Node& c : it->second) nodes.push_back(std::move(c));
    nodes.push_back(std::move(graph.nodes[i]));
  }
  graph.nodes = std::move(nodes);
  return result;
}

}  // namespace onnx_train
