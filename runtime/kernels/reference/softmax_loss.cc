// The plain-loop members of the softmax family: Hardmax (ONNX 1, 11, 13) and
// NegativeLogLikelihoodLoss (12, 13), and the helpers the oneDNN-backed Softmax, LogSoftmax
// and SoftmaxCrossEntropyLoss kernels (dnnl/softmax.cc) share with them (softmax_ref.h).
#include <algorithm>
#include <cmath>
#include <optional>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/reference/softmax_ref.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

SoftmaxView softmax_view(const Node& node, const Shape& shape, int64_t axis_attr) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  OT_CHECK(rank >= 1, "{}: the input is a scalar; it needs at least one axis", node.label());
  const size_t axis = static_cast<size_t>(normalize_axis(axis_attr, rank, "softmax axis"));
  SoftmaxView view;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < axis)
      view.outer *= shape[i];
    else if (i == axis || node.since_version < 13)
      view.n *= shape[i];
    else
      view.inner *= shape[i];
  }
  return view;
}

SoftmaxView checked_softmax_view(const Node& node, const Tensor& x, int64_t axis_attr) {
  OT_CHECK(dtype_is_float(x.dtype()), "{}: input {} must be floating point", node.label(), x.describe());
  return softmax_view(node, x.shape(), axis_attr);
}

int64_t softmax_axis(const Node& node) { return node.attr_int("axis", node.since_version >= 13 ? -1 : 1); }

LossReduction parse_reduction(const Node& node) {
  const std::string r = node.attr_string("reduction", "mean");
  if (r == "none") return LossReduction::None;
  if (r == "sum") return LossReduction::Sum;
  if (r == "mean") return LossReduction::Mean;
  OT_FAIL("{}: reduction '{}' is not one of none, sum, mean", node.label(), r);
}

void nll_loss(KernelContext& ctx, const Tensor& log_prob, const Tensor& target, const Tensor* weight,
              LossReduction reduction, std::optional<int64_t> ignore_index) {
  const Node& node = ctx.node();
  const Shape& xs = log_prob.shape();
  OT_CHECK(xs.size() >= 2, "{}: input {} must be at least 2-D [N, C, ...]", node.label(), log_prob.describe());
  Shape expected_target{xs[0]};
  expected_target.insert(expected_target.end(), xs.begin() + 2, xs.end());
  OT_CHECK(target.shape() == expected_target, "{}: target {} must have shape {} for input {}", node.label(),
           target.describe(), shape_str(expected_target), log_prob.describe());
  OT_CHECK(target.dtype() == DType::Int64 || target.dtype() == DType::Int32, "{}: target {} must be int32 or int64",
           node.label(), target.describe());
  const int64_t n = xs[0], c = xs[1], d = shape_numel(expected_target) / std::max<int64_t>(n, 1);
  if (weight)
    OT_CHECK(weight->shape() == Shape{c} && weight->dtype() == log_prob.dtype(),
             "{}: weight {} must be a [{}] tensor of the input's type {}", node.label(), weight->describe(), c,
             dtype_name(log_prob.dtype()));
  const std::vector<int64_t> labels = target.to_int64s();
  Tensor& loss = ctx.allocate_output(0, log_prob.dtype(), reduction == LossReduction::None ? expected_target : Shape{});
  visit_float(log_prob.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* lp = log_prob.data<T>();
    const T* w = weight ? weight->data<T>() : nullptr;
    T* out = loss.data<T>();
    double total = 0, total_weight = 0;
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t j = 0; j < d; ++j) {
        const int64_t t = labels[static_cast<size_t>(b * d + j)];
        double l = 0, wt = 0;
        if (!ignore_index || t != *ignore_index) {
          OT_CHECK(t >= 0 && t < c, "{}: target value {} at [{}, {}] is outside [0, {}) and is not ignore_index",
                   node.label(), t, b, j, c);
          wt = w ? static_cast<double>(to_compute(w[t])) : 1.0;
          l = -static_cast<double>(to_compute(lp[(b * c + t) * d + j])) * wt;
        }
        if (reduction == LossReduction::None) out[b * d + j] = from_compute<T>(l);
        total += l;
        total_weight += wt;
      }
    }
    if (reduction == LossReduction::Sum) out[0] = from_compute<T>(total);
    if (reduction == LossReduction::Mean) out[0] = from_compute<T>(total / total_weight);
  });
}

namespace {

// Hardmax: y = 1 at the first maximum along the normalized axis (block before opset 13),
// 0 elsewhere. Same shape as x.
template <typename T>
void hardmax(const T* x, T* y, const SoftmaxView& v) {
  for (int64_t o = 0; o < v.outer; ++o) {
    for (int64_t i = 0; i < v.inner; ++i) {
      const int64_t base = o * v.n * v.inner + i;
      int64_t best = 0;
      for (int64_t k = 1; k < v.n; ++k)
        if (to_compute(x[base + k * v.inner]) > to_compute(x[base + best * v.inner])) best = k;
      for (int64_t k = 0; k < v.n; ++k) y[base + k * v.inner] = from_compute<T>(k == best ? 1 : 0);
    }
  }
}

// Hardmax: y has x's shape, see hardmax. `axis` defaults to 1 before opset 13 and to -1
// from 13 (softmax_view).
class HardmaxKernel : public Kernel {
 public:
  explicit HardmaxKernel(const KernelInfo& info)
      : axis_(softmax_axis(info.node)) {}
  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const SoftmaxView v = checked_softmax_view(ctx.node(), x, axis_);
    Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
    if (x.numel() == 0) return;
    visit_float(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      hardmax<T>(x.data<T>(), y.data<T>(), v);
    });
  }

 private:
  int64_t axis_;
};

// NegativeLogLikelihoodLoss: inputs (input = log-probabilities [N, C, d...], target
// [N, d...], optional weight [C]); output loss, see nll_loss.
class NegativeLogLikelihoodLossKernel : public Kernel {
 public:
  explicit NegativeLogLikelihoodLossKernel(const KernelInfo& info) : reduction_(parse_reduction(info.node)) {
    if (info.node.has_attr("ignore_index")) ignore_index_ = info.node.attr_int("ignore_index");
  }
  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    OT_CHECK(dtype_is_float(x.dtype()), "{}: input {} must be floating point", ctx.node().label(), x.describe());
    nll_loss(ctx, x, ctx.input(1), ctx.has_input(2) ? &ctx.input(2) : nullptr, reduction_, ignore_index_);
  }

 private:
  LossReduction reduction_;
  std::optional<int64_t> ignore_index_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(softmax_loss) {
  registry.add<HardmaxKernel>("Hardmax", {1, 11, 13});
  registry.add<NegativeLogLikelihoodLossKernel>("NegativeLogLikelihoodLoss", {12, 13});
}

}  // namespace onnx_train
