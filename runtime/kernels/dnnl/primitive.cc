// oneDNN primitives bound to plain tensors and the window ops' descriptors, see primitive.h.
#include "runtime/kernels/dnnl/primitive.h"

#include <algorithm>
#include <cstring>

#include "runtime/kernels/dnnl/dnnl_common.h"

namespace onnx_train {

using dnnl::memory;
using namespace dnnl_common;

void DnnlPrimitive::bind(int arg, const memory::desc& user_desc, const memory::desc& wanted, bool output) {
  Operand t;
  t.arg = arg;
  t.output = output;
  t.user = unbound_memory(user_desc);
  t.reorder_needed = wanted != user_desc;
  if (t.reorder_needed) {
    t.used = memory(wanted, cpu_engine());
    t.reorder = output ? dnnl::reorder(t.used, t.user) : dnnl::reorder(t.user, t.used);
  } else {
    t.used = t.user;
  }
  tensors_.push_back(std::move(t));
}

void DnnlPrimitive::bind_constant(int arg, const memory::desc& user_desc, const memory::desc& wanted) {
  bind(arg, user_desc, wanted, false);
  tensors_.back().constant = tensors_.back().reorder_needed;
}

void DnnlPrimitive::bind_accumulated(const memory::desc& user_desc, int dst_arg) {
  const auto dst = std::find_if(tensors_.begin(), tensors_.end(), [&](const Operand& t) { return t.arg == dst_arg; });
  OT_CHECK(dst != tensors_.end() && dst->output, "internal: bind_accumulated before its output {} is bound", dst_arg);
  Operand t;
  t.arg = dst_arg;
  t.accumulate_into = static_cast<int>(dst - tensors_.begin());
  t.user = unbound_memory(user_desc);
  t.used = dst->used;
  t.reorder_needed = user_desc != dst->used.get_desc();
  if (t.reorder_needed) t.reorder = dnnl::reorder(t.user, t.used);
  tensors_.push_back(std::move(t));
}

// Brings input `t` (its user handle set) into the memory the primitive reads.
void DnnlPrimitive::load_input(Operand& t, dnnl::stream& stream) {
  if (t.accumulate_into >= 0) {
    if (t.reorder_needed) {
      t.reorder.execute(stream, t.user, t.used);
    } else if (t.used.get_data_handle() != t.user.get_data_handle()) {
      std::memcpy(t.used.get_data_handle(), t.user.get_data_handle(), t.used.get_desc().get_size());
    }
    return;
  }
  if (!t.reorder_needed) return;
  if (t.constant && t.reordered == t.user.get_data_handle()) return;
  t.reorder.execute(stream, t.user, t.used);
  t.reordered = t.user.get_data_handle();
}

void DnnlPrimitive::run(const float* const* data, size_t count) {
  OT_CHECK(count == tensors_.size(), "a oneDNN primitive bound to {} tensors was run with {}", tensors_.size(), count);
  dnnl::stream& stream = cpu_stream();
  std::unordered_map<int, memory> args = internal_;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    Operand& t = tensors_[i];
    t.user.set_data_handle(const_cast<float*>(data[i]));
    if (t.accumulate_into >= 0) continue;  // after every output's handle is set
    if (!t.output) load_input(t, stream);
    args[t.arg] = t.used;
  }
  for (Operand& t : tensors_)
    if (t.accumulate_into >= 0) load_input(t, stream);
  primitive_.execute(stream, args);
  for (Operand& t : tensors_)
    if (t.output && t.reorder_needed) t.reorder.execute(stream, t.used, t.user);
  stream.wait();
}

int64_t dnnl_end_padding(int64_t in, int64_t out, int64_t dk, int64_t s, int64_t pad_begin, bool exact) {
  const int64_t least = (out - 1) * s + dk - in - pad_begin;
  if (exact || least >= 0) return least;
  return std::min<int64_t>(0, least + s - 1);
}

DnnlConvGeometry::DnnlConvGeometry(const Shape& src_shape, const Shape& w_shape, const Shape& dst_shape, int64_t group,
                                   const WindowGeometry& g)
    : src(src_shape), weights(w_shape), dst(dst_shape) {
  if (group > 1) {
    weights[0] /= group;
    weights.insert(weights.begin(), group);
  }
  for (size_t i = 0; i < g.rank(); ++i) {
    const int64_t dk = (g.kernel[i] - 1) * g.dilations[i] + 1;
    strides.push_back(g.strides[i]);
    dilates.push_back(g.dilations[i] - 1);  // oneDNN counts the gaps: 0 = dense
    pad_l.push_back(g.pads_begin[i]);
    pad_r.push_back(dnnl_end_padding(src_shape[i + 2], dst_shape[i + 2], dk, g.strides[i], g.pads_begin[i]));
  }
}

memory::desc DnnlConvGeometry::any(const Shape& s) {
  return memory::desc(to_dims(s), memory::data_type::f32, memory::format_tag::any);
}

dnnl::convolution_forward::primitive_desc DnnlConvGeometry::forward_pd(bool with_bias,
                                                                       const dnnl::primitive_attr& attr) const {
  const auto prop = dnnl::prop_kind::forward_training;
  const auto alg = dnnl::algorithm::convolution_direct;
  const memory::desc bias = plain_f32_desc({dst[1]});
  const dnnl::convolution_forward::desc d =
      with_bias ? dnnl::convolution_forward::desc(prop, alg, any(src), any(weights), bias, any(dst), strides, dilates,
                                                  pad_l, pad_r)
                : dnnl::convolution_forward::desc(prop, alg, any(src), any(weights), any(dst), strides, dilates, pad_l,
                                                  pad_r);
  return {d, attr, cpu_engine()};
}

DnnlPoolGeometry::DnnlPoolGeometry(const Shape& x_shape, const WindowGeometry& g)
    : src(plain_f32_desc(to_dims(x_shape))),
      dst(plain_f32_desc(to_dims(window_output_shape(x_shape[0], x_shape[1], g)))) {
  for (size_t i = 0; i < g.rank(); ++i) {
    const int64_t dk = (g.kernel[i] - 1) * g.dilations[i] + 1;
    strides.push_back(g.strides[i]);
    kernel.push_back(g.kernel[i]);
    dilation.push_back(g.dilations[i] - 1);
    pad_l.push_back(g.pads_begin[i]);
    pad_r.push_back(dnnl_end_padding(x_shape[i + 2], g.out[i], dk, g.strides[i], g.pads_begin[i]));
  }
}

dnnl::pooling_v2_forward::primitive_desc DnnlPoolGeometry::forward_pd(dnnl::algorithm alg, dnnl::prop_kind prop) const {
  const dnnl::pooling_v2_forward::desc d(prop, alg, src, dst, strides, kernel, dilation, pad_l, pad_r);
  return {d, cpu_engine()};
}

dnnl::pooling_v2_backward::primitive_desc DnnlPoolGeometry::backward_pd(
    dnnl::algorithm alg, const dnnl::pooling_v2_forward::primitive_desc& hint) const {
  const dnnl::pooling_v2_backward::desc d(alg, src, dst, strides, kernel, dilation, pad_l, pad_r);
  return {d, cpu_engine(), hint};
}

}  // namespace onnx_train
