// The non-finite check of a training plan's steps (nonfinite.h) and the trace's text.
#include "runtime/train/nonfinite.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "runtime/core/dispatch.h"

namespace onnx_train {

NonFiniteValue summarize_value(const std::string& name, const Tensor& t) {
  NonFiniteValue v;
  v.name = name;
  v.type = t.describe();
  v.size = t.numel();
  if (!dtype_is_float(t.dtype())) return v;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  visit_float(t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = t.data<T>();
    for (int64_t i = 0; i < v.size; ++i) {
      const double d = static_cast<double>(to_compute(x[i]));
      if (std::isnan(d)) {
        ++v.nan;
      } else if (std::isinf(d)) {
        ++(d > 0 ? v.positive_inf : v.negative_inf);
      } else {
        lo = std::min(lo, d);
        hi = std::max(hi, d);
      }
    }
  });
  if (lo <= hi) {
    v.min = lo;
    v.max = hi;
  }
  return v;
}

namespace {

// Whether a float tensor holds NaN or Inf: the cheap pass every output gets (the counts are
// taken only for the node that is reported).
bool has_nonfinite(const Tensor& t) {
  if (!t.defined() || !dtype_is_float(t.dtype())) return false;
  bool bad = false;
  visit_float(t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = t.data<T>();
    const int64_t n = t.numel();
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      // x - x is 0 for finite x and NaN for NaN and Inf; the sum is NaN exactly when one is.
      T sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < n; ++i) sum += x[i] - x[i];
      bad = sum != 0 || std::isnan(sum);
    } else {
      for (int64_t i = 0; i < n && !bad; ++i) bad = !std::isfinite(static_cast<float>(x[i]));
    }
  });
  return bad;
}

std::string op_name(const Node& n) { return n.domain.empty() ? n.op_type : n.domain + "." + n.op_type; }

}  // namespace

Plan::StepCheck nonfinite_check(TraceContext context, NonFiniteTrace* trace) {
  return [context, trace](const Node& node, const Tensor* const* inputs, size_t num_inputs,
                          const std::vector<Tensor>& outputs) {
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (i >= node.outputs.size() || node.outputs[i].empty() || !has_nonfinite(outputs[i])) continue;
      NonFiniteTrace t;
      t.found = true;
      t.node_name = node.name;
      t.op_type = op_name(node);
      const std::string first = node.outputs.empty() ? "" : node.outputs[0];
      t.backward = context.forward_outputs != nullptr && context.forward_outputs->count(first) == 0;
      if (t.backward && context.rule_of != nullptr) {
        const auto it = context.rule_of->find(first);
        if (it != context.rule_of->end()) t.gradient_of = it->second;
      }
      t.output_index = i;
      t.output = summarize_value(node.outputs[i], outputs[i]);
      for (size_t j = 0; j < num_inputs && j < node.inputs.size(); ++j)
        if (inputs[j] != nullptr && inputs[j]->defined()) t.inputs.push_back(summarize_value(node.inputs[j], *inputs[j]));
      *trace = std::move(t);
      throw NonFiniteFound{};
    }
  };
}

std::string NonFiniteValue::describe() const {
  std::string text = fmt::format("'{}' {}: ", name, type);
  if (finite())
    text += "finite";
  else
    text += fmt::format("{} NaN, {} +Inf, {} -Inf of {}", nan, positive_inf, negative_inf, size);
  if (nan + positive_inf + negative_inf < size) text += fmt::format("; finite values in [{:.6g}, {:.6g}]", min, max);
  return text;
}

bool NonFiniteTrace::inputs_finite() const {
  return std::all_of(inputs.begin(), inputs.end(), [](const NonFiniteValue& v) { return v.finite(); });
}

std::string NonFiniteTrace::describe() const {
  if (!found) return "every node's outputs are finite on this batch";
  std::string pass = backward ? "backward pass" : "forward pass";
  if (!gradient_of.empty()) pass += ", gradient rule of " + gradient_of;
  std::string text = fmt::format("first non-finite value: node '{}' ({}), {}, output {} {}", node_name, op_type, pass,
                                 output_index, output.describe());
  for (const NonFiniteValue& input : inputs) text += "\n  input " + input.describe();
  if (inputs_finite())
    text += fmt::format("\n  its inputs are all finite: this {} made the non-finite values", op_type);
  else
    text += "\n  a non-finite input is a graph input or an initializer: the batch or the weights hold NaN or Inf";
  return text;
}

}  // namespace onnx_train
