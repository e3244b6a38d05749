// Quantization kernels: linear (de)quantization and the integer / quantized matrix
// products and convolutions (QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
// QLinearMatMul, ConvInteger, QLinearConv). MatMulInteger is in dnnl/matmul.cc.
//
// A quantized value q (uint8 or int8) stands for the real value (q - zero_point) * scale.
// Quantizing rounds x / scale to the nearest integer, ties to even, adds the zero point and
// saturates to the range of the type. The integer products accumulate
// (q_a - zp_a) * (q_b - zp_b) in int32 (wrapping on 32-bit overflow, which ONNX allows);
// the QLinear ops then requantize the accumulator with the multiplier
// a_scale * b_scale / y_scale, computed in float32 like the scales themselves.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

// ---------------------------------------------------------------------------------------
// Rounding, saturation and the quantization parameters.

// Rounds to the nearest integer with ties to even (the default floating-point rounding
// mode); NaN becomes 0 so that it quantizes to the zero point.
template <typename F>
F round_half_even(F v) {
  return std::isnan(v) ? F(0) : std::nearbyint(v);
}

// v clamped to the range of the integer type Q and converted to it.
template <typename Q, typename F>
Q saturate(F v) {
  const F lo = static_cast<F>(std::numeric_limits<Q>::min());
  const F hi = static_cast<F>(std::numeric_limits<Q>::max());
  return static_cast<Q>(std::min(std::max(v, lo), hi));
}

// Calls f(TypeTag<Q>) for the 8-bit quantized types; anything else is an error naming
// the node and the operand.
template <typename F>
void visit_8bit(const Node& node, const char* what, DType dtype, F&& f) {
  switch (dtype) {
    case DType::UInt8: f(TypeTag<uint8_t>{}); return;
    case DType::Int8: f(TypeTag<int8_t>{}); return;
    default:
      OT_FAIL("{}: {} has element type {}; this op takes uint8 or int8 there", node.label(), what, dtype_name(dtype));
  }
}

// The values of a float32 scale input.
std::vector<float> scale_values(const Node& node, const char* what, const Tensor& scale) {
  OT_CHECK(scale.dtype() == DType::Float32, "{}: {} must be float32, got {}", node.label(), what, scale.describe());
  const float* p = scale.data<float>();
  return std::vector<float>(p, p + scale.numel());
}

// The values of a zero-point input as int32 (zero points are 8-bit, or 0 for int32 data).
std::vector<int32_t> zero_point_values(const Tensor& zero_point) {
  std::vector<int32_t> values;
  for (int64_t v : zero_point.to_int64s()) values.push_back(static_cast<int32_t>(v));
  return values;
}

// A per-tensor or per-axis parameter: `count` values (count 1: one for the whole tensor).
// Data of shape [..., d_axis, ...] is walked as [outer, count, inner] with
// count == d_axis in the per-axis case.
struct AxisLayout {
  int64_t outer = 1, count = 1, inner = 1;
};

// The layout for (De)QuantizeLinear: `scale` holds one value (a scalar or a 1-element
// 1-D tensor, per tensor) or, from opset 13, a 1-D tensor of x.shape[axis] values (per
// axis). `zero_point`, when given, must have the shape of `scale` and the right type.
AxisLayout linear_quant_layout(const Node& node, const Tensor& x, const Tensor& scale, const Tensor* zero_point,
                               bool per_axis_allowed, int64_t axis_attr) {
  AxisLayout layout;
  if (zero_point != nullptr)
    OT_CHECK(zero_point->shape() == scale.shape(), "{}: the scale {} and zero point {} must have the same shape",
             node.label(), scale.describe(), zero_point->describe());
  if (scale.rank() <= 1 && scale.numel() == 1) {
    layout.inner = x.numel();
    return layout;
  }
  OT_CHECK(per_axis_allowed,
           "{}: the scale {} must be a scalar at this opset (per-axis quantization needs opset 13 or later)",
           node.label(), scale.describe());
  OT_CHECK(scale.rank() == 1, "{}: the scale {} must be a scalar or a 1-D tensor", node.label(), scale.describe());
  const int64_t axis = normalize_axis(axis_attr, x.rank(), "axis");
  OT_CHECK(scale.numel() == x.shape()[static_cast<size_t>(axis)],
           "{}: the per-axis scale {} needs one value per index of axis {} of the input {}", node.label(),
           scale.describe(), axis, x.describe());
  for (int64_t i = 0; i < x.rank(); ++i) {
    const int64_t d = x.shape()[static_cast<size_t>(i)];
    if (i < axis)
      layout.outer *= d;
    else if (i == axis)
      layout.count = d;
    else
      layout.inner *= d;
  }
  return layout;
}

// ---------------------------------------------------------------------------------------
// QuantizeLinear-10/13: y = saturate(round_half_even(x / y_scale) + y_zero_point).
// x float32 (float64 too) or int32, any shape; y has x's shape and the zero point's type
// (uint8 when the zero point is omitted). Opset 10: per-tensor scale and zero point;
// opset 13: also 1-D per-axis ones along `axis` (default 1).
class QuantizeLinearKernel : public Kernel {
 public:
  explicit QuantizeLinearKernel(const KernelInfo& info)
      : per_axis_(info.node.since_version >= 13), axis_(per_axis_ ? info.node.attr_int("axis", 1) : 1) {}

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    const Tensor& scale = ctx.input(1);
    const Tensor* zero_point = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    const AxisLayout layout = linear_quant_layout(node, x, scale, zero_point, per_axis_, axis_);
    const std::vector<float> scales = scale_values(node, "y_scale", scale);
    for (float s : scales)
      OT_CHECK(s != 0.0f && std::isfinite(s), "{}: y_scale {} holds {}; scales must be finite and nonzero",
               node.label(), scale.describe(), s);
    const std::vector<int32_t> zero_points =
        zero_point != nullptr ? zero_point_values(*zero_point) : std::vector<int32_t>(scales.size(), 0);
    const DType out_type = zero_point != nullptr ? zero_point->dtype() : DType::UInt8;
    visit_8bit(node, "y_zero_point", out_type, [&](auto qtag) {
      using Q = typename decltype(qtag)::type;
      Q* y = ctx.allocate_output(0, out_type, x.shape()).template data<Q>();
      switch (x.dtype()) {
        case DType::Float32: quantize<float, float>(x.data<float>(), scales, zero_points, layout, y); break;
        case DType::Float64: quantize<double, double>(x.data<double>(), scales, zero_points, layout, y); break;
        case DType::Int32: quantize<int32_t, float>(x.data<int32_t>(), scales, zero_points, layout, y); break;
        default:
          OT_FAIL("{}: input x {} is not supported (QuantizeLinear takes float32, float64 or int32)", node.label(),
                  x.describe());
      }
    });
  }

 private:
  // C: the type the division and rounding happen in (float32, or float64 for float64 x).
  template <typename X, typename C, typename Q>
  static void quantize(const X* x, const std::vector<float>& scales, const std::vector<int32_t>& zero_points,
                       const AxisLayout& layout, Q* y) {
    int64_t i = 0;
    for (int64_t o = 0; o < layout.outer; ++o)
      for (int64_t c = 0; c < layout.count; ++c) {
        const C scale = static_cast<C>(scales[static_cast<size_t>(c)]);
        const C zero_point = static_cast<C>(zero_points[static_cast<size_t>(c)]);
        for (int64_t j = 0; j < layout.inner; ++j, ++i)
          y[i] = saturate<Q>(round_half_even(static_cast<C>(x[i]) / scale) + zero_point);
      }
  }

  bool per_axis_;
  int64_t axis_;
};

// ---------------------------------------------------------------------------------------
// DequantizeLinear-10/13: y = (x - x_zero_point) * x_scale, float32, x's shape.
// x uint8, int8 or int32 (int32 has no zero point: it must be omitted or 0). Opset 10:
// per-tensor scale and zero point; opset 13: also 1-D per-axis ones along `axis`.
class DequantizeLinearKernel : public Kernel {
 public:
  explicit DequantizeLinearKernel(const KernelInfo& info)
      : per_axis_(info.node.since_version >= 13), axis_(per_axis_ ? info.node.attr_int("axis", 1) : 1) {}

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    const Tensor& scale = ctx.input(1);
    const Tensor* zero_point = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    const AxisLayout layout = linear_quant_layout(node, x, scale, zero_point, per_axis_, axis_);
    const std::vector<float> scales = scale_values(node, "x_scale", scale);
    std::vector<int32_t> zero_points(scales.size(), 0);
    if (zero_point != nullptr) {
      OT_CHECK(zero_point->dtype() == x.dtype(), "{}: x_zero_point {} must have the element type of x {}", node.label(),
               zero_point->describe(), x.describe());
      zero_points = zero_point_values(*zero_point);
      if (x.dtype() == DType::Int32)
        for (int32_t z : zero_points)
          OT_CHECK(z == 0, "{}: int32 input has no zero point, but x_zero_point holds {}", node.label(), z);
    }
    float* y = ctx.allocate_output(0, DType::Float32, x.shape()).data<float>();
    switch (x.dtype()) {
      case DType::UInt8: dequantize(x.data<uint8_t>(), scales, zero_points, layout, y); break;
      case DType::Int8: dequantize(x.data<int8_t>(), scales, zero_points, layout, y); break;
      case DType::Int32: dequantize(x.data<int32_t>(), scales, zero_points, layout, y); break;
      default:
        OT_FAIL("{}: input x {} is not supported (DequantizeLinear takes uint8, int8 or int32)", node.label(),
                x.describe());
    }
  }

 private:
  template <typename Q>
  static void dequantize(const Q* x, const std::vector<float>& scales, const std::vector<int32_t>& zero_points,
                         const AxisLayout& layout, float* y) {
    int64_t i = 0;
    for (int64_t o = 0; o < layout.outer; ++o)
      for (int64_t c = 0; c < layout.count; ++c) {
        const float scale = scales[static_cast<size_t>(c)];
        const float zero_point = static_cast<float>(zero_points[static_cast<size_t>(c)]);
        for (int64_t j = 0; j < layout.inner; ++j, ++i) y[i] = (static_cast<float>(x[i]) - zero_point) * scale;
      }
  }

  bool per_axis_;
  int64_t axis_;
};

// ---------------------------------------------------------------------------------------
// DynamicQuantizeLinear-11: uint8 quantization of a float32 x with parameters from x's
// range widened to include 0:
//   lo = min(0, min x), hi = max(0, max x), y_scale = (hi - lo) / 255,
//   y_zero_point = saturate(round_half_even(-lo / y_scale)),
//   y = saturate(round_half_even(x / y_scale) + y_zero_point).
// Outputs y (x's shape, uint8), y_scale (float32 scalar), y_zero_point (uint8 scalar).
// An all-zero (or empty) x gives y_scale 0, y_zero_point 0 and y = 0.
class DynamicQuantizeLinearKernel : public Kernel {
 public:
  explicit DynamicQuantizeLinearKernel(const KernelInfo&) {}

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    OT_CHECK(x.dtype() == DType::Float32, "{}: input x {} must be float32", node.label(), x.describe());
    const float* xs = x.data<float>();
    const int64_t n = x.numel();
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      OT_CHECK(std::isfinite(xs[i]), "{}: input x {} holds the non-finite value {} at flat index {}", node.label(),
               x.describe(), xs[i], i);
      lo = std::min(lo, xs[i]);
      hi = std::max(hi, xs[i]);
    }
    const float scale = (hi - lo) / 255.0f;
    const uint8_t zero_point = scale == 0.0f ? 0 : saturate<uint8_t>(round_half_even((0.0f - lo) / scale));
    uint8_t* y = ctx.allocate_output(0, DType::UInt8, x.shape()).data<uint8_t>();
    if (scale != 0.0f)
      for (int64_t i = 0; i < n; ++i)
        y[i] = saturate<uint8_t>(round_half_even(xs[i] / scale) + static_cast<float>(zero_point));
    if (ctx.output_wanted(1)) ctx.allocate_output(1, DType::Float32, {}).data<float>()[0] = scale;
    if (ctx.output_wanted(2)) ctx.allocate_output(2, DType::UInt8, {}).data<uint8_t>()[0] = zero_point;
  }
};

// ---------------------------------------------------------------------------------------
// Integer matrix products.

// The numpy.matmul geometry of A [..., M, K] times B [..., K, N]: a 1-D A is [1, K] with M
// dropped from the output, a 1-D B is [K, 1] with N dropped; the batch axes broadcast.
struct MatMulGeometry {
  int64_t m = 0, k = 0, n = 0;
  Shape out;
  std::vector<int64_t> a_offsets, b_offsets;  // per output matrix: where its A and B matrices start
};

MatMulGeometry matmul_geometry(const Node& node, const Tensor& a, const Tensor& b) {
  OT_CHECK(a.rank() >= 1 && b.rank() >= 1, "{}: the operands {} and {} must have rank 1 or more", node.label(),
           a.describe(), b.describe());
  const Shape a2 = a.rank() == 1 ? Shape{1, a.shape()[0]} : a.shape();
  const Shape b2 = b.rank() == 1 ? Shape{b.shape()[0], 1} : b.shape();
  MatMulGeometry g;
  g.m = a2[a2.size() - 2];
  g.k = a2[a2.size() - 1];
  g.n = b2[b2.size() - 1];
  OT_CHECK(b2[b2.size() - 2] == g.k, "{}: the inner dimensions of {} and {} differ", node.label(), a.describe(),
           b.describe());
  const Shape a_batch(a2.begin(), a2.end() - 2), b_batch(b2.begin(), b2.end() - 2);
  Shape batch;
  try {
    batch = broadcast_shapes(a_batch, b_batch);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: the batch dimensions of {} and {} do not broadcast ({})", node.label(), a.describe(),
                            b.describe(), e.what()),
                e.category());
  }
  StridedWalk walk(batch, {broadcast_strides(a_batch, batch), broadcast_strides(b_batch, batch)});
  for (int64_t i = 0, count = shape_numel(batch); i < count; ++i, walk.next()) {
    g.a_offsets.push_back(walk.offset(0) * g.m * g.k);
    g.b_offsets.push_back(walk.offset(1) * g.k * g.n);
  }
  g.out = batch;
  if (a.rank() > 1) g.out.push_back(g.m);
  if (b.rank() > 1) g.out.push_back(g.n);
  return g;
}

// A per-tensor or per-row / per-column parameter of a matrix product as `count` values:
// absent (`fallback`), one value for all, or exactly `count` values (one per row of A or
// column of B, shared by all batch matrices).
template <typename V>
std::vector<V> per_row_values(const Node& node, const char* what, const std::vector<V>& values, const Shape& shape,
                              int64_t count) {
  if (values.size() == 1) return std::vector<V>(static_cast<size_t>(count), values[0]);
  OT_CHECK(static_cast<int64_t>(values.size()) == count,
           "{}: {} has shape {}; it must hold 1 value or {} (one per row of A / column of B, the same for every "
           "batch matrix)",
           node.label(), what, shape_str(shape), count);
  return values;
}

// acc[i][j] = sum_l (a[i][l] - a_zp[i]) * (b[l][j] - b_zp[j]) over one M x K and one K x N
// matrix, accumulated modulo 2^32 (ONNX allows the 32-bit accumulator to wrap).
template <typename TA, typename TB>
void integer_matmul(const TA* a, const TB* b, const std::vector<int32_t>& a_zp, const std::vector<int32_t>& b_zp,
                    int64_t m, int64_t k, int64_t n, int32_t* acc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      uint32_t sum = 0;
      for (int64_t l = 0; l < k; ++l) {
        const int32_t da = static_cast<int32_t>(a[i * k + l]) - a_zp[static_cast<size_t>(i)];
        const int32_t db = static_cast<int32_t>(b[l * n + j]) - b_zp[static_cast<size_t>(j)];
        sum += static_cast<uint32_t>(da * db);
      }
      acc[i * n + j] = static_cast<int32_t>(sum);
    }
}

// The int32 products of every batch matrix, written to `acc` (shape g.out).
void integer_matmul_all(const Node& node, const Tensor& a, const Tensor& b, const std::vector<int32_t>& a_zp,
                        const std::vector<int32_t>& b_zp, const MatMulGeometry& g, int32_t* acc) {
  visit_8bit(node, "A", a.dtype(), [&](auto atag) {
    using TA = typename decltype(atag)::type;
    visit_8bit(node, "B", b.dtype(), [&](auto btag) {
      using TB = typename decltype(btag)::type;
      for (size_t i = 0; i < g.a_offsets.size(); ++i)
        integer_matmul(a.data<TA>() + g.a_offsets[i], b.data<TB>() + g.b_offsets[i], a_zp, b_zp, g.m, g.k, g.n,
                       acc + static_cast<int64_t>(i) * g.m * g.n);
    });
  });
}

// A zero-point input of the type of its data operand, as int32 values.
std::vector<int32_t> checked_zero_points(const Node& node, const char* what, const Tensor& zero_point,
                                         const Tensor& data) {
  OT_CHECK(zero_point.dtype() == data.dtype(), "{}: {} {} must have the element type of its operand {}", node.label(),
           what, zero_point.describe(), data.describe());
  return zero_point_values(zero_point);
}

// QLinearMatMul-10: y = saturate(round_half_even(acc * a_scale * b_scale / y_scale) +
// y_zero_point) with acc = (a - a_zero_point) @ (b - b_zero_point) in int32, numpy.matmul
// shapes. a_scale / a_zero_point per tensor or per row of a ([M]); b_scale / b_zero_point
// per tensor or per column of b ([N]); y_scale / y_zero_point per tensor; y has the type of
// y_zero_point.
class QLinearMatMulKernel : public Kernel {
 public:
  explicit QLinearMatMulKernel(const KernelInfo&) {}

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(3);
    const MatMulGeometry g = matmul_geometry(node, a, b);
    const std::vector<float> a_scale =
        per_row_values(node, "a_scale", scale_values(node, "a_scale", ctx.input(1)), ctx.input(1).shape(), g.m);
    const std::vector<int32_t> a_zp = per_row_values(
        node, "a_zero_point", checked_zero_points(node, "a_zero_point", ctx.input(2), a), ctx.input(2).shape(), g.m);
    const std::vector<float> b_scale =
        per_row_values(node, "b_scale", scale_values(node, "b_scale", ctx.input(4)), ctx.input(4).shape(), g.n);
    const std::vector<int32_t> b_zp = per_row_values(
        node, "b_zero_point", checked_zero_points(node, "b_zero_point", ctx.input(5), b), ctx.input(5).shape(), g.n);
    const Tensor& y_scale_t = ctx.input(6);
    const Tensor& y_zp_t = ctx.input(7);
    OT_CHECK(y_scale_t.numel() == 1 && y_zp_t.numel() == 1,
             "{}: y_scale {} and y_zero_point {} must be per tensor (one value each)", node.label(),
             y_scale_t.describe(), y_zp_t.describe());
    const float y_scale = scale_values(node, "y_scale", y_scale_t)[0];
    OT_CHECK(y_scale != 0.0f && std::isfinite(y_scale), "{}: y_scale is {}; it must be finite and nonzero",
             node.label(), y_scale);
    const float y_zp = static_cast<float>(zero_point_values(y_zp_t)[0]);

    std::vector<int32_t> acc(static_cast<size_t>(shape_numel(g.out)));
    integer_matmul_all(node, a, b, a_zp, b_zp, g, acc.data());
    visit_8bit(node, "y_zero_point", y_zp_t.dtype(), [&](auto qtag) {
      using Q = typename decltype(qtag)::type;
      Q* y = ctx.allocate_output(0, y_zp_t.dtype(), g.out).template data<Q>();
      int64_t i = 0;
      for (size_t batch = 0; batch < g.a_offsets.size(); ++batch)
        for (int64_t r = 0; r < g.m; ++r)
          for (int64_t c = 0; c < g.n; ++c, ++i) {
            const float multiplier = a_scale[static_cast<size_t>(r)] * b_scale[static_cast<size_t>(c)] / y_scale;
            y[i] = saturate<Q>(round_half_even(static_cast<float>(acc[static_cast<size_t>(i)]) * multiplier) + y_zp);
          }
    });
  }
};

// ---------------------------------------------------------------------------------------
// Integer convolutions.

// Conv window attributes (auto_pad, kernel_shape, strides, dilations, pads, group) as
// written on the node; empty vectors take their defaults once the spatial rank is known.
struct ConvAttrs {
  std::string auto_pad;
  std::vector<int64_t> kernel_shape, strides, dilations, pads;
  int64_t group = 1;
};

ConvAttrs read_conv_attrs(const Node& node) {
  ConvAttrs a;
  a.auto_pad = node.attr_string("auto_pad", "NOTSET");
  OT_CHECK(a.auto_pad == "NOTSET" || a.auto_pad == "VALID" || a.auto_pad == "SAME_UPPER" || a.auto_pad == "SAME_LOWER",
           "{}: auto_pad '{}' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER", node.label(), a.auto_pad);
  a.kernel_shape = node.attr_ints("kernel_shape", {});
  a.strides = node.attr_ints("strides", {});
  a.dilations = node.attr_ints("dilations", {});
  a.pads = node.attr_ints("pads", {});
  a.group = node.attr_int("group", 1);
  OT_CHECK(a.group >= 1, "{}: group must be positive, got {}", node.label(), a.group);
  for (int64_t v : a.strides) OT_CHECK(v >= 1, "{}: strides must be positive", node.label());
  for (int64_t v : a.dilations) OT_CHECK(v >= 1, "{}: dilations must be positive", node.label());
  for (int64_t v : a.pads) OT_CHECK(v >= 0, "{}: pads must be non-negative", node.label());
  OT_CHECK(a.pads.empty() || a.auto_pad == "NOTSET", "{}: pads and auto_pad '{}' cannot both be given", node.label(),
           a.auto_pad);
  return a;
}

// The geometry of one convolution: sizes of x [N, C, in...] and w [M, C / group, k...],
// per spatial axis the stride, dilation, leading pad and output size, and for every
// (output position, kernel position) pair the offset of the input element inside one
// channel plane, or -1 where the window reads padding.
struct ConvGeometry {
  int64_t batch = 0, in_channels = 0, out_channels = 0, group = 1;
  int64_t in_size = 1, out_size = 1, kernel_size = 1;
  Shape out_shape;
  std::vector<int64_t> taps;  // [out_size, kernel_size]
};

ConvGeometry conv_geometry(const Node& node, const ConvAttrs& attrs, const Tensor& x, const Tensor& w) {
  OT_CHECK(x.rank() >= 3 && w.rank() == x.rank(),
           "{}: x {} must be [N, C, spatial...] and w {} [M, C / group, kernel...] of the same rank", node.label(),
           x.describe(), w.describe());
  const size_t rank = static_cast<size_t>(x.rank() - 2);
  ConvGeometry g;
  g.batch = x.shape()[0];
  g.in_channels = x.shape()[1];
  g.out_channels = w.shape()[0];
  g.group = attrs.group;
  OT_CHECK(g.in_channels % g.group == 0 && g.out_channels % g.group == 0 && w.shape()[1] * g.group == g.in_channels,
           "{}: x {} and w {} do not fit group = {} (C and M must divide by it and w.shape[1] must be C / group)",
           node.label(), x.describe(), w.describe(), g.group);
  const Shape in(x.shape().begin() + 2, x.shape().end());
  const Shape kernel(w.shape().begin() + 2, w.shape().end());
  if (!attrs.kernel_shape.empty())
    OT_CHECK(attrs.kernel_shape == kernel, "{}: kernel_shape {} does not match w {}", node.label(),
             shape_str(attrs.kernel_shape), w.describe());
  auto per_axis = [&](const std::vector<int64_t>& v, size_t length, const char* name, int64_t fallback) {
    if (v.empty()) return std::vector<int64_t>(length, fallback);
    OT_CHECK(v.size() == length, "{}: {} has {} values; {} expected for the {}-D input {}", node.label(), name,
             v.size(), length, rank, x.describe());
    return v;
  };
  const std::vector<int64_t> strides = per_axis(attrs.strides, rank, "strides", 1);
  const std::vector<int64_t> dilations = per_axis(attrs.dilations, rank, "dilations", 1);
  const std::vector<int64_t> pads = per_axis(attrs.pads, 2 * rank, "pads", 0);

  std::vector<int64_t> pad_begin(rank), out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t extent = (kernel[i] - 1) * dilations[i] + 1;
    if (attrs.auto_pad == "SAME_UPPER" || attrs.auto_pad == "SAME_LOWER") {
      out[i] = (in[i] + strides[i] - 1) / strides[i];
      const int64_t total = std::max<int64_t>(0, (out[i] - 1) * strides[i] + extent - in[i]);
      pad_begin[i] = attrs.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    } else {
      const bool valid = attrs.auto_pad == "VALID";
      pad_begin[i] = valid ? 0 : pads[i];
      const int64_t padded = in[i] + (valid ? 0 : pads[i] + pads[i + rank]);
      OT_CHECK(padded >= extent, "{}: the kernel {} (dilated) is larger than the padded input {}", node.label(),
               w.describe(), x.describe());
      out[i] = (padded - extent) / strides[i] + 1;
    }
  }
  g.out_shape = {g.batch, g.out_channels};
  for (size_t i = 0; i < rank; ++i) {
    g.in_size *= in[i];
    g.out_size *= out[i];
    g.kernel_size *= kernel[i];
    g.out_shape.push_back(out[i]);
  }

  g.taps.assign(static_cast<size_t>(g.out_size * g.kernel_size), -1);
  const std::vector<int64_t> in_strides = strides_of(in);
  std::vector<int64_t> o(rank, 0);
  for (int64_t oi = 0; oi < g.out_size; ++oi) {
    std::vector<int64_t> kk(rank, 0);
    for (int64_t ki = 0; ki < g.kernel_size; ++ki) {
      int64_t offset = 0;
      bool inside = true;
      for (size_t d = 0; d < rank; ++d) {
        const int64_t pos = o[d] * strides[d] - pad_begin[d] + kk[d] * dilations[d];
        inside = inside && pos >= 0 && pos < in[d];
        offset += pos * in_strides[d];
      }
      if (inside) g.taps[static_cast<size_t>(oi * g.kernel_size + ki)] = offset;
      for (size_t d = rank; d-- > 0;) {  // next kernel position, row-major
        if (++kk[d] < kernel[d]) break;
        kk[d] = 0;
      }
    }
    for (size_t d = rank; d-- > 0;) {  // next output position, row-major
      if (++o[d] < out[d]) break;
      o[d] = 0;
    }
  }
  return g;
}

// acc[n][m][o] = sum over the input channels c of m's group and kernel positions p of
//   (x[n][c][tap(o, p)] - x_zp) * (w[m][c - group start][p] - w_zp[m]),
// taps in the padding contributing nothing (padding holds the zero point), modulo 2^32.
template <typename TX, typename TW>
void integer_conv(const TX* x, const TW* w, int32_t x_zp, const std::vector<int32_t>& w_zp, const ConvGeometry& g,
                  int32_t* acc) {
  const int64_t channels_per_group = g.in_channels / g.group;
  const int64_t outputs_per_group = g.out_channels / g.group;
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t m = 0; m < g.out_channels; ++m) {
      const int64_t first_channel = (m / outputs_per_group) * channels_per_group;
      const int32_t wz = w_zp[static_cast<size_t>(m)];
      int32_t* out = acc + (n * g.out_channels + m) * g.out_size;
      for (int64_t oi = 0; oi < g.out_size; ++oi) {
        const int64_t* taps = g.taps.data() + oi * g.kernel_size;
        uint32_t sum = 0;
        for (int64_t c = 0; c < channels_per_group; ++c) {
          const TX* plane = x + (n * g.in_channels + first_channel + c) * g.in_size;
          const TW* kernel = w + (m * channels_per_group + c) * g.kernel_size;
          for (int64_t ki = 0; ki < g.kernel_size; ++ki)
            if (taps[ki] >= 0) {
              const int32_t dx = static_cast<int32_t>(plane[taps[ki]]) - x_zp;
              const int32_t dw = static_cast<int32_t>(kernel[ki]) - wz;
              sum += static_cast<uint32_t>(dx * dw);
            }
        }
        out[oi] = static_cast<int32_t>(sum);
      }
    }
}

// Checks a per-tensor operand (one value).
void check_per_tensor(const Node& node, const char* what, const Tensor& t) {
  OT_CHECK(t.numel() == 1, "{}: {} {} must hold a single value (per tensor)", node.label(), what, t.describe());
}

// The int32 convolution accumulators of x and w (shape g.out_shape) into `acc`.
void integer_conv_all(const Node& node, const Tensor& x, const Tensor& w, int32_t x_zp,
                      const std::vector<int32_t>& w_zp, const ConvGeometry& g, int32_t* acc) {
  visit_8bit(node, "x", x.dtype(), [&](auto xtag) {
    using TX = typename decltype(xtag)::type;
    visit_8bit(node, "w", w.dtype(), [&](auto wtag) {
      using TW = typename decltype(wtag)::type;
      integer_conv(x.data<TX>(), w.data<TW>(), x_zp, w_zp, g, acc);
    });
  });
}

// ConvInteger-10: y = conv(x - x_zero_point, w - w_zero_point) in int32, with Conv's window
// attributes. x [N, C, spatial...] and w [M, C / group, kernel...] uint8 or int8;
// x_zero_point per tensor, w_zero_point per tensor or per output channel ([M]); both
// optional (0). y [N, M, out...].
class ConvIntegerKernel : public Kernel {
 public:
  explicit ConvIntegerKernel(const KernelInfo& info) : attrs_(read_conv_attrs(info.node)) {}

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    const ConvGeometry g = conv_geometry(node, attrs_, x, w);
    int32_t x_zp = 0;
    if (ctx.has_input(2)) {
      check_per_tensor(node, "x_zero_point", ctx.input(2));
      x_zp = checked_zero_points(node, "x_zero_point", ctx.input(2), x)[0];
    }
    std::vector<int32_t> w_zp(static_cast<size_t>(g.out_channels), 0);
    if (ctx.has_input(3)) {
      const Tensor& z = ctx.input(3);
      w_zp = per_row_values(node, "w_zero_point", checked_zero_points(node, "w_zero_point", z, w), z.shape(),
                            g.out_channels);
    }
    int32_t* y = ctx.allocate_output(0, DType::Int32, g.out_shape).data<int32_t>();
    integer_conv_all(node, x, w, x_zp, w_zp, g, y);
  }

 private:
  ConvAttrs attrs_;
};

// QLinearConv-10: y = saturate(round_half_even((acc + B[m]) * x_scale * w_scale[m] / y_scale)
// + y_zero_point), acc = conv(x - x_zero_point, w - w_zero_point) in int32, Conv's window
// attributes. x_scale / x_zero_point and y_scale / y_zero_point per tensor; w_scale /
// w_zero_point per tensor or per output channel ([M]); optional int32 bias B [M]; y has the
// type of y_zero_point, shape [N, M, out...].
class QLinearConvKernel : public Kernel {
 public:
  explicit QLinearConvKernel(const KernelInfo& info) : attrs_(read_conv_attrs(info.node)) {}

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(3);
    const ConvGeometry g = conv_geometry(node, attrs_, x, w);
    check_per_tensor(node, "x_scale", ctx.input(1));
    check_per_tensor(node, "x_zero_point", ctx.input(2));
    check_per_tensor(node, "y_scale", ctx.input(6));
    check_per_tensor(node, "y_zero_point", ctx.input(7));
    const float x_scale = scale_values(node, "x_scale", ctx.input(1))[0];
    const int32_t x_zp = checked_zero_points(node, "x_zero_point", ctx.input(2), x)[0];
    const std::vector<float> w_scale = per_row_values(node, "w_scale", scale_values(node, "w_scale", ctx.input(4)),
                                                      ctx.input(4).shape(), g.out_channels);
    const std::vector<int32_t> w_zp =
        per_row_values(node, "w_zero_point", checked_zero_points(node, "w_zero_point", ctx.input(5), w),
                       ctx.input(5).shape(), g.out_channels);
    const float y_scale = scale_values(node, "y_scale", ctx.input(6))[0];
    OT_CHECK(y_scale != 0.0f && std::isfinite(y_scale), "{}: y_scale is {}; it must be finite and nonzero",
             node.label(), y_scale);
    const Tensor& y_zp_t = ctx.input(7);
    const float y_zp = static_cast<float>(zero_point_values(y_zp_t)[0]);
    std::vector<int32_t> bias(static_cast<size_t>(g.out_channels), 0);
    if (ctx.has_input(8)) {
      const Tensor& b = ctx.input(8);
      OT_CHECK(b.dtype() == DType::Int32 && b.rank() == 1 && b.numel() == g.out_channels,
               "{}: bias B {} must be int32 [{}] (one value per output channel)", node.label(), b.describe(),
               g.out_channels);
      bias.assign(b.data<int32_t>(), b.data<int32_t>() + g.out_channels);
    }

    std::vector<int32_t> acc(static_cast<size_t>(shape_numel(g.out_shape)));
    integer_conv_all(node, x, w, x_zp, w_zp, g, acc.data());
    visit_8bit(node, "y_zero_point", y_zp_t.dtype(), [&](auto qtag) {
      using Q = typename decltype(qtag)::type;
      Q* y = ctx.allocate_output(0, y_zp_t.dtype(), g.out_shape).template data<Q>();
      int64_t i = 0;
      for (int64_t n = 0; n < g.batch; ++n)
        for (int64_t m = 0; m < g.out_channels; ++m) {
          const float multiplier = x_scale * w_scale[static_cast<size_t>(m)] / y_scale;
          const int32_t b = bias[static_cast<size_t>(m)];
          for (int64_t oi = 0; oi < g.out_size; ++oi, ++i) {
            const int32_t value =
                static_cast<int32_t>(static_cast<uint32_t>(acc[static_cast<size_t>(i)]) + static_cast<uint32_t>(b));
            y[i] = saturate<Q>(round_half_even(static_cast<float>(value) * multiplier) + y_zp);
          }
        }
    });
  }

 private:
  ConvAttrs attrs_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(quantization) {
  registry.add<QuantizeLinearKernel>("QuantizeLinear", {10, 13});
  registry.add<DequantizeLinearKernel>("DequantizeLinear", {10, 13});
  registry.add<DynamicQuantizeLinearKernel>("DynamicQuantizeLinear", {11});
  registry.add<QLinearMatMulKernel>("QLinearMatMul", {10});
  registry.add<ConvIntegerKernel>("ConvInteger", {10});
  registry.add<QLinearConvKernel>("QLinearConv", {10});
}

}  // namespace onnx_train
