// Low-rank adapters (runtime/transforms/lora.h).
#include "runtime/transforms/lora.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <regex>
#include <set>
#include <type_traits>

#include "runtime/ir/editor.h"
#include "runtime/transforms/weight_init.h"

namespace onnx_train {

namespace {

bool is_adaptable_initializer(const Graph& g, const std::string& name) {
  const auto it = g.initializers.find(name);
  return it != g.initializers.end() &&
         (it->second.dtype() == DType::Float32 || it->second.dtype() == DType::Float64) && !g.settings.count(name);
}

// A found layer: the node, W, and how W reaches it.
struct Site {
  size_t node = 0;
  std::string weight;
  LoraWeightForm form = LoraWeightForm::Direct;
  int64_t in = 0, out = 0;
};

// Whether node `k` is an eligible layer (lora.h), and where its weight is.
bool eligible_site(const Graph& g, size_t k, Site& site) {
  const Node& n = g.nodes[k];
  if (!n.domain.empty() || n.inputs.size() < 2) return false;
  const std::string& input = n.inputs[1];
  site.node = k;
  if (n.op_type == "MatMul") {
    if (is_adaptable_initializer(g, input)) {
      site.weight = input;
      site.form = LoraWeightForm::Direct;
    } else {
      const Node* t = g.producer_of(input);
      if (t == nullptr || t->op_type != "Transpose" || !t->domain.empty() || g.uses_of(input) != 1 ||
          !is_adaptable_initializer(g, t->inputs.at(0)) || t->attr_ints("perm", {1, 0}) != std::vector<int64_t>{1, 0})
        return false;
      site.weight = t->inputs[0];
      site.form = LoraWeightForm::Transposed;
    }
    const Tensor& w = g.initializers.at(site.weight);
    if (w.rank() != 2) return false;
    const bool t = site.form == LoraWeightForm::Transposed;
    site.in = w.dim(t ? 1 : 0);
    site.out = w.dim(t ? 0 : 1);
    return g.uses_of(site.weight) == 1;
  }
  if (n.op_type == "Gemm") {
    if (!is_adaptable_initializer(g, input) || g.initializers.at(input).rank() != 2) return false;
    site.weight = input;
    site.form = n.attr_int("transB", 0) != 0 ? LoraWeightForm::Transposed : LoraWeightForm::Direct;
    const Tensor& w = g.initializers.at(input);
    const bool t = site.form == LoraWeightForm::Transposed;
    site.in = w.dim(t ? 1 : 0);
    site.out = w.dim(t ? 0 : 1);
    return g.uses_of(input) == 1;
  }
  if (n.op_type == "Conv") {
    if (!is_adaptable_initializer(g, input) || n.attr_int("group", 1) != 1) return false;
    const Tensor& w = g.initializers.at(input);
    if (w.rank() < 3) return false;
    for (int d = 2; d < w.rank(); ++d)
      if (w.dim(d) != 1) return false;
    site.weight = input;
    site.form = LoraWeightForm::Conv;
    site.in = w.dim(1);
    site.out = w.dim(0);
    return g.uses_of(input) == 1;
  }
  return false;
}

std::vector<Site> eligible_sites(const Graph& g) {
  std::vector<Site> sites;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    Site site;
    if (eligible_site(g, k, site)) sites.push_back(site);
  }
  return sites;
}

// The weight of the layer computing `output` (through ops that keep its values: Identity,
// Dropout, Softmax, LogSoftmax, Sigmoid, Flatten, Reshape, Squeeze, and an Add of an
// initializer bias), or "" when the walk meets anything else.
std::string head_weight(const Graph& g, const std::vector<Site>& sites, std::string value) {
  static const std::set<std::string> kPassThrough = {"Identity", "Dropout", "Softmax", "LogSoftmax", "Sigmoid",
                                                     "Flatten",  "Reshape", "Squeeze"};
  for (size_t steps = 0; steps < g.nodes.size(); ++steps) {
    const Node* n = g.producer_of(value);
    if (n == nullptr || !n->domain.empty()) return "";
    for (const Site& s : sites)
      if (&g.nodes[s.node] == n) return s.weight;
    if (kPassThrough.count(n->op_type)) {
      value = n->inputs.at(0);
    } else if (n->op_type == "Add" && n->inputs.size() == 2 && g.initializers.count(n->inputs[1])) {
      value = n->inputs[0];
    } else if (n->op_type == "Add" && n->inputs.size() == 2 && g.initializers.count(n->inputs[0])) {
      value = n->inputs[1];
    } else {
      return "";
    }
  }
  return "";
}

std::string list_names(const std::vector<std::string>& names) {
  return names.empty() ? "(none)" : fmt::format("{}", fmt::join(names, ", "));
}

void check_options(const LoraOptions& o) {
  OT_CHECK_OPTION(o.rank >= 1, "lora", "rank {} is not a positive whole number", o.rank);
  OT_CHECK_OPTION(std::isfinite(o.alpha) && o.alpha >= 0, "lora_alpha", "{} is not a positive number", o.alpha);
  OT_CHECK_OPTION(o.dropout >= 0 && o.dropout < 1, "lora_dropout", "{} is not a probability in [0, 1)", o.dropout);
}

// Adds the adapter nodes of `site` (lora.h), reading its A and B; returns the adapter.
LoraAdapter add_adapter(GraphEditor& e, const Site& site, const LoraOptions& o, const std::string& a,
                        const std::string& b) {
  Graph& g = e.graph();
  const Node node = g.nodes[site.node];  // a copy: adding nodes moves them
  const std::string y = node.outputs.at(0);
  const DType dtype = g.initializers.at(site.weight).dtype();
  const std::optional<Shape> y_shape = e.shape_of(y);
  LoraAdapter adapter{site.weight, a, b, node.name, node.op_type, site.form, o.scale(), o.scale(), site.in, site.out};

  // The op's own output gets a new name; the sum below takes the old one.
  const std::string base = e.fresh(y + "_base");
  g.nodes[site.node].outputs[0] = base;
  e.set_type(base, dtype, y_shape);

  std::string x = node.inputs[0];
  if (node.op_type == "Gemm" && node.attr_int("transA", 0) != 0) {
    x = e.add1("Transpose", {x}, e.fresh(site.weight + ".lora_input"), {{"perm", Attribute::of_ints({1, 0})}});
  }
  if (node.op_type == "Gemm") adapter.scale *= node.attr_float("alpha", 1.0f);
  if (o.dropout > 0) {
    const std::string dropped = e.fresh(site.weight + ".lora_dropout");
    if (e.opset() >= 12)
      e.add1("Dropout", {x, e.constant(scalar_tensor(dtype, o.dropout), site.weight + ".lora_dropout_ratio")}, dropped);
    else
      e.add1("Dropout", {x}, dropped, {{"ratio", Attribute::of_float(static_cast<float>(o.dropout))}});
    e.set_type(dropped, dtype, e.shape_of(x));
    x = dropped;
  }
  // x A: [..., r] (Conv: [N, r, H', W'] with the op's strides and pads); then (x A) B: y's shape.
  std::optional<Shape> low_shape = y_shape;
  if (low_shape && !low_shape->empty()) (site.form == LoraWeightForm::Conv ? (*low_shape)[1] : low_shape->back()) = o.rank;
  const std::string xa = e.fresh(site.weight + ".lora_xa");
  const std::string xab = e.fresh(site.weight + ".lora_xab");
  if (site.form == LoraWeightForm::Conv) {
    std::map<std::string, Attribute> attrs = node.attributes;
    attrs.erase("group");
    e.add1("Conv", {x, a}, xa, attrs);
    std::map<std::string, Attribute> pointwise;
    if (node.has_attr("kernel_shape")) pointwise["kernel_shape"] = node.attributes.at("kernel_shape");
    e.add1("Conv", {xa, b}, xab, pointwise);
  } else {
    e.add1("MatMul", {x, a}, xa);
    e.add1("MatMul", {xa, b}, xab);
  }
  e.set_type(xa, dtype, low_shape);
  e.set_type(xab, dtype, y_shape);
  std::string delta = xab;
  if (adapter.scale != 1.0) {
    delta = e.fresh(site.weight + ".lora_delta");
    e.add1("Mul", {xab, e.constant(scalar_tensor(dtype, adapter.scale), site.weight + ".lora_scale")}, delta);
    e.set_type(delta, dtype, y_shape);
  }
  e.add1("Add", {base, delta}, y);
  return adapter;
}

}  // namespace

namespace {

// 811008 -> "811,008"
std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (n < 0 ? "-" : "") + out;
}

}  // namespace

std::string LoraSummary::describe(int64_t trained_values, int64_t frozen_values) const {
  const size_t shown = std::min<size_t>(weights.size(), 3);
  const std::string names = fmt::format("{}{}", fmt::join(weights.begin(), weights.begin() + shown, ", "),
                                        weights.size() > shown ? ", ..." : "");
  const int64_t total = trained_values + frozen_values;
  return fmt::format("LoRA r={} alpha={:g} on {} weight{} ({}): {} values trained ({:.2f}%), {} frozen", options.rank,
                     options.alpha, weights.size(), weights.size() == 1 ? "" : "s", names,
                     with_commas(trained_values), total > 0 ? 100.0 * trained_values / total : 0.0,
                     with_commas(frozen_values));
}

std::vector<std::string> LoraInfo::adapter_names() const {
  std::vector<std::string> names;
  for (const auto& a : adapters) {
    names.push_back(a.a);
    names.push_back(a.b);
  }
  return names;
}

// FNV-1a over "name:shape;" of every adapted base weight, in adapter order.
std::string LoraInfo::fingerprint(const Graph& graph) const {
  uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&](const std::string& s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 0x100000001b3ull;
    }
  };
  for (const auto& a : adapters) {
    const auto it = graph.initializers.find(a.weight);
    mix(a.weight + ":" + (it == graph.initializers.end() ? "missing" : it->second.describe()) + ";");
  }
  return fmt::format("lora-v1:{:016x}", h);
}

std::vector<std::string> lora_eligible_weights(const Graph& graph) {
  std::vector<std::string> names;
  for (const Site& s : eligible_sites(graph)) names.push_back(s.weight);
  return names;
}

LoraInfo apply_lora(Graph& graph, const LoraOptions& options, uint64_t seed, const std::string& loss_output) {
  check_options(options);
  std::regex targets;
  if (!options.targets.empty()) {
    try {
      targets = std::regex(options.targets);
    } catch (const std::regex_error& e) {
      throw OptionError("lora_targets",
                        fmt::format("pattern '{}' is not a valid regular expression: {}", options.targets, e.what()));
    }
  }
  const std::vector<Site> sites = eligible_sites(graph);
  LoraInfo info;
  info.options = options;
  info.options.alpha = options.effective_alpha();
  for (const Site& s : sites) info.eligible.push_back(s.weight);
  OT_CHECK_OPTION(!sites.empty(), "lora",
                  "the model has no layer to adapt: LoRA adapts MatMul and Gemm layers whose weight is a 2-D float "
                  "initializer (directly or through Transpose), and 1x1 Conv layers of group 1, whose weight no other "
                  "node reads");
  std::vector<Site> chosen;
  if (options.targets.empty()) {
    info.head = head_weight(graph, sites, loss_output.empty() && !graph.outputs.empty() ? graph.outputs[0].name : loss_output);
    for (const Site& s : sites)
      if (s.weight != info.head) chosen.push_back(s);
    OT_CHECK_OPTION(!chosen.empty(), "lora_targets",
                    "the only eligible weight, '{}', computes the output the loss reads (the head), which LoRA leaves "
                    "out by default; name it with a pattern to adapt it",
                    info.head);
  } else {
    for (const Site& s : sites)
      if (std::regex_search(s.weight, targets)) chosen.push_back(s);
    OT_CHECK_OPTION(!chosen.empty(), "lora_targets",
                    "pattern '{}' matches no eligible weight; the eligible weights are: {} (a weight other nodes also "
                    "read, such as a tied embedding, cannot take an adapter)",
                    options.targets, list_names(info.eligible));
  }

  // A and B of every chosen layer first, drawn in graph order, then the nodes.
  GraphEditor e(graph, "lora", "lora/");
  std::mt19937_64 rng(seed ^ 0x6c6f726100000000ull);
  std::vector<std::pair<std::string, std::string>> names;
  for (const Site& s : chosen) {
    const Tensor& w = graph.initializers.at(s.weight);
    const std::string a = e.fresh(s.weight + ".lora_A"), b = e.fresh(s.weight + ".lora_B");
    Shape a_shape{s.in, options.rank}, b_shape{options.rank, s.out};
    if (s.form == LoraWeightForm::Conv) {
      a_shape = w.shape();
      a_shape[0] = options.rank;
      b_shape = w.shape();
      b_shape[1] = options.rank;
    }
    const double bound = 1.0 / std::sqrt(static_cast<double>(s.in));
    e.set_initializer(a, uniform_tensor(w.dtype(), a_shape, bound, rng));
    e.set_initializer(b, Tensor(w.dtype(), b_shape));
    names.emplace_back(a, b);
  }
  for (size_t i = 0; i < chosen.size(); ++i)
    info.adapters.push_back(add_adapter(e, chosen[i], options, names[i].first, names[i].second));
  sort_topologically(graph);
  return info;
}

Tensor merged_lora_weight(const LoraAdapter& ad, const std::map<std::string, Tensor>& values) {
  const Tensor& w = values.at(ad.weight);
  const std::vector<double> a = values.at(ad.a).to_doubles(), b = values.at(ad.b).to_doubles();
  const int64_t r = values.at(ad.a).numel() / ad.in_features, in = ad.in_features, out = ad.out_features;
  Tensor merged = Tensor::uninitialized(w.dtype(), w.shape());
  // W'[at] = W[at] + s * delta[i][o], delta[i][o] = sum_j A(i, j) B(j, o) in double, with A(i, j),
  // B(j, o) read from each form's layout and `at` W's own index of (i, o).
  auto merge = [&](auto* dst, const auto* src) {
    for (int64_t i = 0; i < in; ++i) {
      for (int64_t o = 0; o < out; ++o) {
        double sum = 0;
        for (int64_t j = 0; j < r; ++j) {
          const double aij = ad.form == LoraWeightForm::Conv ? a[j * in + i] : a[i * r + j];
          const double bjo = ad.form == LoraWeightForm::Conv ? b[o * r + j] : b[j * out + o];
          sum += aij * bjo;
        }
        const int64_t at = ad.form == LoraWeightForm::Direct ? i * out + o : o * in + i;
        using T = std::remove_pointer_t<decltype(dst)>;
        dst[at] = static_cast<T>(static_cast<double>(src[at]) + ad.merge_scale * sum);
      }
    }
  };
  if (w.dtype() == DType::Float64)
    merge(merged.data<double>(), w.data<double>());
  else
    merge(merged.data<float>(), w.data<float>());
  return merged;
}

}  // namespace onnx_train
