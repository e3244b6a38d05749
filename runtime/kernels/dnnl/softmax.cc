// Softmax and LogSoftmax (ONNX 1, 11, 13) and SoftmaxCrossEntropyLoss (12, 13): float32
// through oneDNN's softmax_forward / logsoftmax_forward (DnnlSoftmax, softmax.h), the other
// floating types through the loops of reference/softmax_ref.h, which also holds the
// [outer, n, inner] view and the negative log-likelihood core the loss shares with
// NegativeLogLikelihoodLoss (reference/softmax_loss.cc).
#include "runtime/kernels/dnnl/softmax.h"

#include <map>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>

#include "onnx_train/tensor.h"
#include "runtime/kernels/dnnl/dnnl_common.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/reference/softmax_ref.h"

namespace onnx_train {

struct DnnlSoftmax::Cache {
  struct Entry {
    dnnl::memory::desc desc;
    dnnl::primitive primitive;
  };
  std::map<std::tuple<int64_t, int64_t, int64_t>, Entry> entries;
};

DnnlSoftmax::DnnlSoftmax(bool log) : log_(log), cache_(std::make_unique<Cache>()) {}
DnnlSoftmax::~DnnlSoftmax() = default;

void DnnlSoftmax::run(const float* x, float* y, int64_t outer, int64_t n, int64_t inner) {
  if (outer == 0 || n == 0 || inner == 0) return;
  const auto key = std::make_tuple(outer, n, inner);
  auto it = cache_->entries.find(key);
  if (it == cache_->entries.end()) {
    const dnnl::memory::desc desc({outer, n, inner}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::abc);
    Cache::Entry entry{desc, dnnl::primitive()};
    if (log_) {
      const dnnl::logsoftmax_forward::desc d(dnnl::prop_kind::forward_inference, desc, 1);
      entry.primitive =
          dnnl::logsoftmax_forward(dnnl::logsoftmax_forward::primitive_desc(d, dnnl_common::cpu_engine()));
    } else {
      const dnnl::softmax_forward::desc d(dnnl::prop_kind::forward_inference, desc, 1);
      entry.primitive = dnnl::softmax_forward(dnnl::softmax_forward::primitive_desc(d, dnnl_common::cpu_engine()));
    }
    it = cache_->entries.emplace(key, std::move(entry)).first;
  }
  const dnnl::memory::desc& desc = it->second.desc;
  dnnl::stream& stream = dnnl_common::cpu_stream();
  it->second.primitive.execute(
      stream, {{DNNL_ARG_SRC, dnnl_common::wrap_f32(desc, x)}, {DNNL_ARG_DST, dnnl_common::wrap_f32(desc, y)}});
  stream.wait();
}

void softmax_any(DnnlSoftmax& dnnl, const Tensor& x, Tensor& y, int64_t outer, int64_t n, int64_t inner, bool log) {
  if (x.dtype() == DType::Float32) {
    dnnl.run(x.data<float>(), y.data<float>(), outer, n, inner);
    return;
  }
  visit_float(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    softmax_reference<T>(x.data<T>(), y.data<T>(), outer, n, inner, log);
  });
}

namespace {

// Softmax / LogSoftmax: y has x's shape; see softmax_reference in reference/softmax_ref.h
// for the math and softmax_axis for the axis.
template <bool Log>
class SoftmaxKernel : public Kernel {
 public:
  explicit SoftmaxKernel(const KernelInfo& info)
      : axis_(softmax_axis(info.node)), dnnl_(Log) {}
  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const SoftmaxView v = checked_softmax_view(ctx.node(), x, axis_);
    Tensor& y = ctx.allocate_output_to_overwrite(0, x.dtype(), x.shape());  // softmax_any writes every row
    if (x.numel() == 0) return;
    softmax_any(dnnl_, x, y, v.outer, v.n, v.inner, Log);
  }

 private:
  int64_t axis_;
  DnnlSoftmax dnnl_;
};

// SoftmaxCrossEntropyLoss: log_prob = LogSoftmax over axis 1 of scores [N, C, d...], then
// the negative log-likelihood loss of log_prob (see nll_loss). Output 0 is the loss,
// optional output 1 is log_prob (scores' shape).
class SoftmaxCrossEntropyLossKernel : public Kernel {
 public:
  explicit SoftmaxCrossEntropyLossKernel(const KernelInfo& info) : reduction_(parse_reduction(info.node)), dnnl_(true) {
    if (info.node.has_attr("ignore_index")) ignore_index_ = info.node.attr_int("ignore_index");
  }
  void run(KernelContext& ctx) override {
    const Tensor& scores = ctx.input(0);
    OT_CHECK(dtype_is_float(scores.dtype()), "{}: scores {} must be floating point", ctx.node().label(),
             scores.describe());
    OT_CHECK(scores.rank() >= 2, "{}: scores {} must be at least 2-D [N, C, ...]", ctx.node().label(),
             scores.describe());
    const int64_t n = scores.shape()[0], c = scores.shape()[1];
    const int64_t d = c == 0 || n == 0 ? 0 : scores.numel() / (n * c);
    // softmax_any writes every element: no zero fill first.
    Tensor log_prob = ctx.output_wanted(1) ? ctx.allocate_output_to_overwrite(1, scores.dtype(), scores.shape())
                                           : Tensor::uninitialized(scores.dtype(), scores.shape());
    if (scores.numel() > 0) softmax_any(dnnl_, scores, log_prob, n, c, d, true);
    nll_loss(ctx, log_prob, ctx.input(1), ctx.has_input(2) ? &ctx.input(2) : nullptr, reduction_, ignore_index_);
  }

 private:
  LossReduction reduction_;
  std::optional<int64_t> ignore_index_;
  DnnlSoftmax dnnl_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(softmax) {
  registry.add<SoftmaxKernel<false>>("Softmax", {1, 11, 13});
  registry.add<SoftmaxKernel<true>>("LogSoftmax", {1, 11, 13});
  registry.add<SoftmaxCrossEntropyLossKernel>("SoftmaxCrossEntropyLoss", {12, 13});
}

}  // namespace onnx_train
