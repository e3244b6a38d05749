// Kernels of the loss and resampling gradients, in the project's own domain (ai.onnx_train):
// SoftmaxCrossEntropyLossGrad and NegativeLogLikelihoodLossGrad (plain loops here, but for the
// float32 softmax gradient's exponentials, which oneDNN's eltwise computes),
// ResizeGrad (next to the forward Resize in reference/resize.cc, which it shares the source
// indices and weights with) and GridSampleGrad (next to the forward GridSample in
// reference/vision_ops.cc).
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/core/dispatch.h"
#include "runtime/core/parallel.h"
#include "runtime/kernels/dnnl/eltwise.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"

namespace onnx_train {

// Defined in reference/resize.cc and reference/vision_ops.cc.
std::unique_ptr<Kernel> make_resize_grad_kernel(const KernelInfo& info);
std::unique_ptr<Kernel> make_grid_sample_grad_kernel(const KernelInfo& info);

namespace {

enum class Reduction { None, Sum, Mean };

Reduction parse_reduction(const Node& node) {
  const std::string r = node.attr_string("reduction", "mean");
  if (r == "none") return Reduction::None;
  if (r == "sum") return Reduction::Sum;
  if (r == "mean") return Reduction::Mean;
  OT_FAIL("{}: reduction '{}' is not one of none, sum, mean", node.label(), r);
}

// The gradients of the negative log-likelihood of `values` [N, C, d...] at labels [N, d...]
// with class weights w [C] (1 without), as both loss gradient ops need them. Per position p
// = (n, d) with label t (weight wt = w[t], 0 where t == ignore_index):
//   u[p] = -values[n, t, d]                       (the unweighted loss)
//   s[p] = dY[p] (none) | dY (sum) | dY / W (mean, W = sum of wt; 0 when W == 0)
//   softmax (SoftmaxCrossEntropyLossGrad, values = log_prob):
//     dValues[n, c, d] = (exp(values[n, c, d]) - [c == t]) * wt * s[p]
//   plain (NegativeLogLikelihoodLossGrad, values = the input):
//     dValues[n, c, d] = -[c == t] * wt * s[p]
//   dW[c] = sum over p with t = c of dY[p] * u[p] (none), dY * u[p] (sum), or
//           dY * (u[p] - L) / W with L = sum(wt * u) / W (mean).
class LossGradKernel : public Kernel {
 public:
  LossGradKernel(const KernelInfo& info, bool softmax) : softmax_(softmax), reduction_(parse_reduction(info.node)) {
    if (info.node.has_attr("ignore_index")) ignore_index_ = info.node.attr_int("ignore_index");
  }

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& dy = ctx.input(0);
    const Tensor& values = ctx.input(1);
    const Tensor& target = ctx.input(2);
    const Tensor* weight = ctx.has_input(3) ? &ctx.input(3) : nullptr;
    const Shape& xs = values.shape();
    OT_CHECK(xs.size() >= 2, "{}: input {} must be at least 2-D [N, C, ...]", node.label(), values.describe());
    Shape target_shape{xs[0]};
    target_shape.insert(target_shape.end(), xs.begin() + 2, xs.end());
    OT_CHECK(target.shape() == target_shape && (target.dtype() == DType::Int64 || target.dtype() == DType::Int32),
             "{}: target {} must be int32 or int64 of shape {} for input {}", node.label(), target.describe(),
             shape_str(target_shape), values.describe());
    const Shape dy_shape = reduction_ == Reduction::None ? target_shape : Shape{};
    OT_CHECK(dy.shape() == dy_shape && dy.dtype() == values.dtype(), "{}: dY {} must be {} of shape {}", node.label(),
             dy.describe(), dtype_name(values.dtype()), shape_str(dy_shape));
    const int64_t n = xs[0], c = xs[1];
    const int64_t d = n * c == 0 ? 0 : values.numel() / (n * c);
    if (weight)
      OT_CHECK(weight->shape() == Shape{c} && weight->dtype() == values.dtype(),
               "{}: weight {} must be a [{}] tensor of the input's type {}", node.label(), weight->describe(), c,
               dtype_name(values.dtype()));
    const std::vector<int64_t> labels = target.to_int64s();
    for (size_t p = 0; p < labels.size(); ++p)
      OT_CHECK((ignore_index_ && labels[p] == *ignore_index_) || (labels[p] >= 0 && labels[p] < c),
               "{}: target value {} at flat position {} is outside [0, {}) and is not ignore_index", node.label(),
               labels[p], p, c);
    // dValues [N, C, d...] in log_prob's own storage when nothing else reads log_prob (the loss
    // of a language model is its largest value): each element of log_prob is read right before
    // the same element of dValues is written. Not with dWeights, which reads log_prob after.
    Tensor* reused = softmax_ && !ctx.output_wanted(1) ? ctx.reuse_input_as_output(1, 0) : nullptr;
    Tensor& dx = reused != nullptr ? *reused : ctx.allocate_output(0, values.dtype(), xs);
    Tensor* dw = ctx.output_wanted(1) ? &ctx.allocate_output(1, values.dtype(), {c}) : nullptr;
    visit_float(values.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      compute<T>(dy.data<T>(), values.data<T>(), labels, weight ? weight->data<T>() : nullptr, n, c, d, dx.data<T>(),
                 dw ? dw->data<T>() : nullptr);
    });
  }

 private:
  template <typename T>
  void compute(const T* dy, const T* values, const std::vector<int64_t>& labels, const T* weight, int64_t n, int64_t c,
               int64_t d, T* dx, T* dw) {
    auto load = [](T v) { return static_cast<double>(to_compute(v)); };
    auto ignored = [&](int64_t t) { return ignore_index_ && t == *ignore_index_; };
    auto weight_of = [&](int64_t t) { return ignored(t) ? 0.0 : weight ? load(weight[t]) : 1.0; };
    auto unweighted_loss = [&](int64_t b, int64_t j, int64_t t) { return -load(values[(b * c + t) * d + j]); };
    // The mean's normalizer W and loss L.
    const int64_t positions = n * d;
    double total_weight = 0, total_loss = 0;
    for (int64_t p = 0; p < positions; ++p) {
      const int64_t t = labels[static_cast<size_t>(p)];
      const double wt = weight_of(t);
      total_weight += wt;
      if (wt != 0) total_loss += wt * unweighted_loss(p / d, p % d, t);
    }
    const double mean_scale = reduction_ == Reduction::Mean ? (total_weight == 0 ? 0.0 : 1.0 / total_weight) : 1.0;
    const double mean_loss = total_weight == 0 ? 0.0 : total_loss / total_weight;
    auto scale_at = [&](size_t p) { return load(dy[reduction_ == Reduction::None ? p : 0]) * mean_scale; };
    if constexpr (std::is_same_v<T, float>) {
      if (softmax_) {
        std::vector<float> factors(static_cast<size_t>(positions));
        for (int64_t p = 0; p < positions; ++p)
          factors[p] = static_cast<float>(weight_of(labels[p]) * scale_at(static_cast<size_t>(p)));
        softmax_grad_float32(values, factors, labels, n, c, d, dx);
        return write_weight_grad(labels, c, d, scale_at, unweighted_loss, mean_loss, dw);
      }
    }
    // dValues: every position writes its own elements, so positions run in parallel.
#pragma omp parallel for if (positions * c >= kParallelMinElements) schedule(static)
    for (int64_t p = 0; p < positions; ++p) {
      const int64_t b = p / d, j = p % d;
      const int64_t t = labels[static_cast<size_t>(p)];
      const double factor = weight_of(t) * scale_at(static_cast<size_t>(p));  // w[p] * s[p]
      if (softmax_) {
        for (int64_t k = 0; k < c; ++k) {
          const int64_t at = (b * c + k) * d + j;
          dx[at] = from_compute<T>((std::exp(load(values[at])) - (k == t ? 1.0 : 0.0)) * factor);
        }
      } else if (!ignored(t)) {
        dx[(b * c + t) * d + j] = from_compute<T>(-factor);
      }
    }
    write_weight_grad(labels, c, d, scale_at, unweighted_loss, mean_loss, dw);
  }

  // dWeights (see above), when wanted.
  template <typename T, typename ScaleAt, typename Loss>
  void write_weight_grad(const std::vector<int64_t>& labels, int64_t c, int64_t d, ScaleAt scale_at,
                         Loss unweighted_loss, double mean_loss, T* dw) const {
    if (!dw) return;
    std::vector<double> dw_sum(static_cast<size_t>(c), 0.0);
    for (size_t p = 0; p < labels.size(); ++p) {
      const int64_t t = labels[p];
      if (ignore_index_ && t == *ignore_index_) continue;
      const double u = unweighted_loss(static_cast<int64_t>(p) / d, static_cast<int64_t>(p) % d, t);
      dw_sum[static_cast<size_t>(t)] += scale_at(p) * (reduction_ == Reduction::Mean ? u - mean_loss : u);
    }
    for (size_t k = 0; k < dw_sum.size(); ++k) dw[k] = from_compute<T>(dw_sum[k]);
  }

  // The float32 softmax gradient, dx[b, k, j] = exp(log_prob[b, k, j]) f[b, j] - [k == t] f[b, j]
  // with f = factors (w[p] s[p]): the exponentials by oneDNN's vectorized eltwise, then one
  // scaling pass. (The double loop above takes 3-4x as long on a language model's [1024, 50257]
  // logits; running the two passes over cache-sized blocks of rows was no faster.)
  void softmax_grad_float32(const float* log_prob, const std::vector<float>& factors,
                            const std::vector<int64_t>& labels, int64_t n, int64_t c, int64_t d, float* dx) {
    exp_.run(log_prob, dx, n * c * d);
    if (d == 1) {  // [N, C]: one factor per row
#pragma omp parallel for if (n * c >= kParallelMinCheapElements) schedule(static)
      for (int64_t b = 0; b < n; ++b) {
        const float f = factors[static_cast<size_t>(b)];
        float* row = dx + b * c;
        for (int64_t k = 0; k < c; ++k) row[k] *= f;
      }
    } else {
#pragma omp parallel for collapse(2) if (n * c * d >= kParallelMinCheapElements) schedule(static)
      for (int64_t b = 0; b < n; ++b) {
        for (int64_t k = 0; k < c; ++k) {
          float* row = dx + (b * c + k) * d;
          const float* f = factors.data() + b * d;
          for (int64_t j = 0; j < d; ++j) row[j] *= f[j];
        }
      }
    }
    for (size_t p = 0; p < labels.size(); ++p) {
      const int64_t t = labels[p], b = static_cast<int64_t>(p) / d, j = static_cast<int64_t>(p) % d;
      if (!(ignore_index_ && t == *ignore_index_)) dx[(b * c + t) * d + j] -= factors[p];
    }
  }

  bool softmax_;
  Reduction reduction_;
  DnnlEltwise exp_{{{dnnl::algorithm::eltwise_exp}}};
  std::optional<int64_t> ignore_index_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(loss_resize_grad) {
  // SoftmaxCrossEntropyLossGrad(dY, log_prob, labels, [weights]) -> dScores, [dWeights];
  // attributes reduction, ignore_index (the forward's). See LossGradKernel.
  registry.add(
      "SoftmaxCrossEntropyLossGrad", {1},
      [](const KernelInfo& info) { return std::make_unique<LossGradKernel>(info, true); }, kProjectDomain);
  // NegativeLogLikelihoodLossGrad(dY, input, labels, [weights]) -> dInput, [dWeights];
  // attributes reduction, ignore_index (the forward's). See LossGradKernel.
  registry.add(
      "NegativeLogLikelihoodLossGrad", {1},
      [](const KernelInfo& info) { return std::make_unique<LossGradKernel>(info, false); }, kProjectDomain);
  registry.add("ResizeGrad", {1}, make_resize_grad_kernel, kProjectDomain);
  registry.add("GridSampleGrad", {1}, make_grid_sample_grad_kernel, kProjectDomain);
}

}  // namespace onnx_train
