// Backward data + backward weights of one convolution sharing reordered operands, see
// conv_grad_plan.h.
#include "runtime/kernels/dnnl/conv_grad_plan.h"

#include <string>

#include "runtime/kernels/dnnl/dnnl_common.h"

namespace onnx_train {

using dnnl::memory;
using namespace dnnl_common;

ConvGradPlan::ConvGradPlan(const DnnlConvGeometry& c, bool want_dx, bool want_dw, bool want_db)
    : dy_(unbound_memory(plain_f32_desc(to_dims(c.dst)))),
      x_(unbound_memory(plain_f32_desc(to_dims(c.src)))),
      w_(unbound_memory(plain_f32_desc(to_dims(c.weights)))),
      dx_(unbound_memory(plain_f32_desc(to_dims(c.src)))),
      dw_(unbound_memory(plain_f32_desc(to_dims(c.weights)))),
      db_(unbound_memory(plain_f32_desc({c.dst[1]}))) {
  if (want_dx) {
    try {
      build_data(c, c.forward_pd(false));
    } catch (const dnnl::error&) {
      data_.reset();
    }
  }
  if (want_dw) {
    try {
      build_weights(c, want_db);
    } catch (const dnnl::error&) {
      weights_.reset();
    }
  }
}

// The memory a primitive uses for `user`: `user` itself when the layouts agree, else the
// staged copy, shared with an earlier primitive that wanted the same input in the same
// layout (diff_dst for backward data and backward weights).
ConvGradPlan::Operand& ConvGradPlan::stage(const memory& user, const memory::desc& wanted, bool output) {
  auto& list = output ? outputs_ : inputs_;
  for (auto& op : list)
    if (op->user.get() == user.get() && op->used.get_desc() == wanted) return *op;
  auto op = std::make_unique<Operand>();
  op->user = user;
  op->reorder_needed = wanted != user.get_desc();
  if (op->reorder_needed) {
    op->used = memory(wanted, cpu_engine());
    op->reorder = output ? dnnl::reorder(op->used, op->user) : dnnl::reorder(op->user, op->used);
  } else {
    op->used = user;
  }
  list.push_back(std::move(op));
  return *list.back();
}

// diff_src = backward data (diff_dst, weights).
void ConvGradPlan::build_data(const DnnlConvGeometry& c, const dnnl::convolution_forward::primitive_desc& hint) {
  const dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, c.any(c.src), c.any(c.weights),
                                                c.any(c.dst), c.strides, c.dilates, c.pad_l, c.pad_r);
  const dnnl::convolution_backward_data::primitive_desc pd(d, cpu_engine(), hint);
  data_ = std::make_unique<dnnl::primitive>(dnnl::convolution_backward_data(pd));
  data_args_ = {{DNNL_ARG_DIFF_DST, stage(dy_, pd.diff_dst_desc(), false).used},
                {DNNL_ARG_WEIGHTS, stage(w_, pd.weights_desc(), false).used},
                {DNNL_ARG_DIFF_SRC, stage(dx_, pd.diff_src_desc(), true).used}};
}

// The backward-weights descriptor with src and diff_dst in `layout` (weights: any).
static dnnl::convolution_backward_weights::primitive_desc weights_pd(const DnnlConvGeometry& c, bool want_db,
                                                                     memory::format_tag layout) {
  const auto alg = dnnl::algorithm::convolution_direct;
  const memory::desc src(to_dims(c.src), memory::data_type::f32, layout);
  const memory::desc dst(to_dims(c.dst), memory::data_type::f32, layout);
  const memory::desc bias = plain_f32_desc({c.dst[1]});
  const dnnl::convolution_backward_weights::desc d =
      want_db ? dnnl::convolution_backward_weights::desc(alg, src, c.any(c.weights), bias, dst, c.strides, c.dilates,
                                                         c.pad_l, c.pad_r)
              : dnnl::convolution_backward_weights::desc(alg, src, c.any(c.weights), dst, c.strides, c.dilates, c.pad_l,
                                                         c.pad_r);
  return {d, cpu_engine(), c.forward_pd(want_db)};
}

// Whether oneDNN fell back to an implementation we avoid: "gemm" (im2col + one small GEMM
// per group: a depthwise convolution becomes C GEMMs of 1 x k*k x out) or "ref".
static bool slow_impl(const dnnl::primitive_desc_base& pd) {
  const std::string impl = pd.impl_info_str();
  return impl.find("gemm") != std::string::npos || impl.find("ref") != std::string::npos;
}

// diff_weights (and diff_bias) = backward weights (src, diff_dst). NOTE: oneDNN 2.6's
// blocked depthwise backward weights (jit_dw) rejects 5x5 kernels (EfficientNet-B0) and
// images smaller than the kernel (the 2x2 maps of MobileNetV2's last blocks) and falls back
// to gemm; its nhwc jit implementation takes them, 1.3-3.3x faster on those shapes with the
// nhwc copies of src and diff_dst included (one thread). The first run of each such
// primitive is slow (code generation), once per shape. The choice depends on the geometry
// only, never on timing, so results are the same run to run.
void ConvGradPlan::build_weights(const DnnlConvGeometry& c, bool want_db) {
  auto pd = weights_pd(c, want_db, memory::format_tag::any);
  if (slow_impl(pd) && c.src.size() == 4) {
    try {
      auto nhwc = weights_pd(c, want_db, memory::format_tag::nhwc);
      if (!slow_impl(nhwc)) pd = nhwc;
    } catch (const dnnl::error&) {  // keep the first choice
    }
  }
  weights_ = std::make_unique<dnnl::primitive>(dnnl::convolution_backward_weights(pd));
  weights_args_ = {{DNNL_ARG_SRC, stage(x_, pd.src_desc(), false).used},
                   {DNNL_ARG_DIFF_DST, stage(dy_, pd.diff_dst_desc(), false).used},
                   {DNNL_ARG_DIFF_WEIGHTS, stage(dw_, pd.diff_weights_desc(), true).used}};
  if (want_db) weights_args_[DNNL_ARG_DIFF_BIAS] = stage(db_, pd.diff_bias_desc(), true).used;
}

void ConvGradPlan::run(const float* dy, const float* x, const float* w, float* dx, float* dw, float* db) {
  dy_.set_data_handle(const_cast<float*>(dy));
  x_.set_data_handle(const_cast<float*>(x));
  w_.set_data_handle(const_cast<float*>(w));
  if (data_) dx_.set_data_handle(dx);
  if (weights_) dw_.set_data_handle(dw);
  if (weights_ && db != nullptr) db_.set_data_handle(db);
  dnnl::stream& stream = cpu_stream();
  for (auto& op : inputs_)
    if (op->reorder_needed) op->reorder.execute(stream, op->user, op->used);
  if (data_) data_->execute(stream, data_args_);
  if (weights_) weights_->execute(stream, weights_args_);
  for (auto& op : outputs_)
    if (op->reorder_needed) op->reorder.execute(stream, op->used, op->user);
  stream.wait();
}

}  // namespace onnx_train
