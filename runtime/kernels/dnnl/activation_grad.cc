// Kernels of the fused activation, softmax and gather gradients, in the project's own domain
// (ai.onnx_train), emitted by gradients/rules/activations.cc and shape_ops.cc.
//
// Elementwise activation gradients (<Op>Grad(dY, V [, min, max]) -> dX, V = X or Y as each
// op says): float32 through oneDNN eltwise_backward where oneDNN 2.6 has the algorithm
// (one primitive per element count and alpha/beta, cached), everything else (float64,
// float16/bfloat16 computing in float, and Selu / HardSigmoid, which oneDNN 2.6 has no
// backward algorithm for) through the templated plain loop activation_grad<Op>().
// Softmax / LogSoftmax gradients: float32 through oneDNN softmax_backward /
// logsoftmax_backward (cached per [outer, n, inner]) where oneDNN has an optimised
// implementation, the rest through softmax_grad_reference.
// Gather / GatherElements gradients: one scatter-add pass, multi-threaded over disjoint
// parts of dX (no atomics, so results do not depend on the thread count).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <string>
#include <tuple>

#include "runtime/core/dispatch.h"
#include "runtime/core/parallel.h"
#include "runtime/kernels/dnnl/dnnl_common.h"
#include "runtime/kernels/families.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

// Below this many elements a loop stays on one thread: starting the team costs more.
constexpr int64_t kParallelThreshold = 1 << 16;

// ---- elementwise activation gradients ---------------------------------------------------------

enum class Act { Relu, LeakyRelu, Elu, Selu, Sigmoid, Tanh, HardSigmoid, HardSwish, Softplus, Clip };

// Attribute values (with the forward op's ONNX defaults) and, for Clip, the bounds.
struct ActParams {
  float alpha = 0;
  float beta = 0;
  float gamma = 0;
  double min = -INFINITY;
  double max = INFINITY;
};

template <Act Op>
ActParams read_params(const Node& node) {
  ActParams p;
  if constexpr (Op == Act::LeakyRelu) p.alpha = node.attr_float("alpha", 0.01f);
  if constexpr (Op == Act::Elu) p.alpha = node.attr_float("alpha", 1.0f);
  if constexpr (Op == Act::Selu) {
    p.alpha = node.attr_float("alpha", 1.67326319217681884765625f);
    p.gamma = node.attr_float("gamma", 1.05070102214813232421875f);
  }
  if constexpr (Op == Act::HardSigmoid) {
    p.alpha = node.attr_float("alpha", 0.2f);
    p.beta = node.attr_float("beta", 0.5f);
  }
  return p;
}

// dx for one element: v is the forward input x or output y (see the register list).
//   Relu(y):           y > 0 ? dy : 0
//   LeakyRelu(x):      x > 0 ? dy : alpha dy
//   Elu(x):            x > 0 ? dy : alpha e^x dy
//   Selu(x):           x > 0 ? gamma dy : gamma alpha e^x dy
//   Sigmoid(y):        dy y (1 - y)
//   Tanh(y):           dy (1 - y^2)
//   HardSigmoid(x):    0 < alpha x + beta < 1 ? alpha dy : 0
//   HardSwish(x):      x < -3 ? 0 : x > 3 ? dy : dy (x / 3 + 1/2)
//   Softplus(x):       dy sigmoid(x)
//   Clip(x):           min <= x <= max ? dy : 0
template <Act Op, typename C>
C activation_grad(C dy, C v, const ActParams& p) {
  const C zero{0};
  const C one{1};
  if constexpr (Op == Act::Relu) {
    return v > zero ? dy : zero;
  } else if constexpr (Op == Act::LeakyRelu) {
    return v > zero ? dy : static_cast<C>(p.alpha) * dy;
  } else if constexpr (Op == Act::Elu) {
    return v > zero ? dy : static_cast<C>(p.alpha) * std::exp(v) * dy;
  } else if constexpr (Op == Act::Selu) {
    const C gamma = static_cast<C>(p.gamma);
    return v > zero ? gamma * dy : gamma * static_cast<C>(p.alpha) * std::exp(v) * dy;
  } else if constexpr (Op == Act::Sigmoid) {
    return dy * v * (one - v);
  } else if constexpr (Op == Act::Tanh) {
    return dy * (one - v * v);
  } else if constexpr (Op == Act::HardSigmoid) {
    const C alpha = static_cast<C>(p.alpha);
    const C u = alpha * v + static_cast<C>(p.beta);
    return u > zero && u < one ? alpha * dy : zero;
  } else if constexpr (Op == Act::HardSwish) {
    if (v < C{-3}) return zero;
    if (v > C{3}) return dy;
    return dy * (v / C{3} + C{0.5});
  } else if constexpr (Op == Act::Softplus) {
    const C sigmoid = v >= zero ? one / (one + std::exp(-v)) : std::exp(v) / (one + std::exp(v));
    return dy * sigmoid;
  } else if constexpr (Op == Act::Clip) {
    return v >= static_cast<C>(p.min) && v <= static_cast<C>(p.max) ? dy : zero;
  }
}

// The oneDNN eltwise backward algorithm of Op (and whether it reads dst = y rather than src
// = x), or nothing when oneDNN 2.6 has none.
struct DnnlAlgorithm {
  dnnl::algorithm algorithm;
  bool uses_dst;
};

template <Act Op>
std::optional<DnnlAlgorithm> dnnl_algorithm() {
  using dnnl::algorithm;
  if constexpr (Op == Act::Relu) return DnnlAlgorithm{algorithm::eltwise_relu_use_dst_for_bwd, true};
  if constexpr (Op == Act::LeakyRelu) return DnnlAlgorithm{algorithm::eltwise_relu, false};
  if constexpr (Op == Act::Elu) return DnnlAlgorithm{algorithm::eltwise_elu, false};
  if constexpr (Op == Act::Sigmoid) return DnnlAlgorithm{algorithm::eltwise_logistic_use_dst_for_bwd, true};
  if constexpr (Op == Act::Tanh) return DnnlAlgorithm{algorithm::eltwise_tanh_use_dst_for_bwd, true};
  if constexpr (Op == Act::HardSwish) return DnnlAlgorithm{algorithm::eltwise_hardswish, false};
  if constexpr (Op == Act::Softplus) return DnnlAlgorithm{algorithm::eltwise_soft_relu, false};
  if constexpr (Op == Act::Clip) return DnnlAlgorithm{algorithm::eltwise_clip, false};
  return std::nullopt;
}

// oneDNN eltwise_backward on flat float32 buffers, one primitive per (count, alpha, beta).
// Described as 1 x count, as the forward (dnnl/eltwise.cc) does.
class DnnlEltwiseGrad {
 public:
  explicit DnnlEltwiseGrad(DnnlAlgorithm algorithm) : algorithm_(algorithm) {}

  // dx[i] = algorithm'(v[i]) dy[i] for i < count.
  void run(const float* dy, const float* v, float* dx, int64_t count, float alpha, float beta) {
    if (count == 0) return;
    const dnnl::memory::desc md({1, count}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
    std::lock_guard<std::mutex> lock(mutex_);
    const auto key = std::make_tuple(count, alpha, beta);
    auto it = primitives_.find(key);
    if (it == primitives_.end()) {
      const dnnl::engine& engine = dnnl_common::cpu_engine();
      const dnnl::eltwise_forward::desc forward(dnnl::prop_kind::forward_training, algorithm_.algorithm, md, alpha,
                                                beta);
      const dnnl::eltwise_forward::primitive_desc hint(forward, engine);
      const dnnl::eltwise_backward::desc backward(algorithm_.algorithm, md, md, alpha, beta);
      it = primitives_
               .emplace(key, dnnl::eltwise_backward(dnnl::eltwise_backward::primitive_desc(backward, engine, hint)))
               .first;
    }
    dnnl::stream& stream = dnnl_common::cpu_stream();
    it->second.execute(stream, {{algorithm_.uses_dst ? DNNL_ARG_DST : DNNL_ARG_SRC, dnnl_common::wrap_f32(md, v)},
                                {DNNL_ARG_DIFF_DST, dnnl_common::wrap_f32(md, dy)},
                                {DNNL_ARG_DIFF_SRC, dnnl_common::wrap_f32(md, dx)}});
    stream.wait();
  }

 private:
  DnnlAlgorithm algorithm_;
  std::mutex mutex_;
  std::map<std::tuple<int64_t, float, float>, dnnl::eltwise_backward> primitives_;
};

// <Op>Grad(dY, V [, min, max]) -> dX, in the project domain.
//   dY: gradient of the forward output; V: the forward input X or output Y (per Op, see
//   activation_grad); both of one float type and shape. ClipGrad only: optional scalar
//   inputs min and max (the bounds, as Clip-11 takes them; absent = unbounded).
//   Attributes: those of the forward op, with its defaults (alpha, beta, gamma).
//   dX: V's shape and type, dX = activation_grad<Op>(dY, V) elementwise.
template <Act Op>
class ActivationGradKernel : public Kernel {
 public:
  explicit ActivationGradKernel(const KernelInfo& info) : node_(info.node), params_(read_params<Op>(info.node)) {
    if (auto algorithm = dnnl_algorithm<Op>()) dnnl_ = std::make_unique<DnnlEltwiseGrad>(*algorithm);
  }

  void run(KernelContext& ctx) override {
    const Tensor& dy = ctx.input(0);
    const Tensor& v = ctx.input(1);
    OT_CHECK(dtype_is_float(dy.dtype()) && dy.dtype() == v.dtype() && dy.shape() == v.shape(),
             "{}: gradient {} and forward value {} must be floating-point tensors of one type and shape", node_.label(),
             dy.describe(), v.describe());
    ActParams p = params_;
    if constexpr (Op == Act::Clip) {
      if (ctx.has_input(2)) p.min = read_bound(ctx.input(2), "min");
      if (ctx.has_input(3)) p.max = read_bound(ctx.input(3), "max");
    }
    Tensor& dx = ctx.allocate_output(0, dy.dtype(), dy.shape());
    if (dy.dtype() == DType::Float32 && dnnl_) {
      float alpha = p.alpha, beta = p.beta;
      if constexpr (Op == Act::Clip) {
        alpha = static_cast<float>(std::max<double>(p.min, -std::numeric_limits<float>::max()));
        beta = static_cast<float>(std::min<double>(p.max, std::numeric_limits<float>::max()));
      }
      dnnl_->run(dy.data<float>(), v.data<float>(), dx.data<float>(), dy.numel(), alpha, beta);
      return;
    }
    visit_float(dy.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* g = dy.data<T>();
      const T* in = v.data<T>();
      T* out = dx.data<T>();
      parallel_for(
          dy.numel(),
          [&](int64_t i) { out[i] = from_compute<T>(activation_grad<Op>(to_compute(g[i]), to_compute(in[i]), p)); },
          kParallelThreshold);
    });
  }

 private:
  double read_bound(const Tensor& bound, const char* what) const {
    OT_CHECK(dtype_is_float(bound.dtype()) && bound.numel() == 1, "{}: {} is {}; it must be a floating-point scalar",
             node_.label(), what, bound.describe());
    return bound.to_doubles()[0];
  }

  const Node& node_;
  ActParams params_;
  std::unique_ptr<DnnlEltwiseGrad> dnnl_;
};

// ---- softmax gradients ---------------------------------------------------------------------

// Over the axis of [outer, n, inner] (sums in double):
//   softmax:     dx = y (dy - sum_k dy_k y_k)
//   log-softmax: dx = dy - e^y sum_k dy_k
template <bool Log, typename T>
void softmax_grad_reference(const T* dy, const T* y, T* dx, int64_t outer, int64_t n, int64_t inner) {
  const int64_t lines = outer * inner;
  const auto line = [&](int64_t l) {
    const int64_t o = l / inner, i = l % inner;
    const int64_t base = o * n * inner + i;
    double sum = 0;
    for (int64_t k = 0; k < n; ++k) {
      const double g = to_compute(dy[base + k * inner]);
      sum += Log ? g : g * static_cast<double>(to_compute(y[base + k * inner]));
    }
    for (int64_t k = 0; k < n; ++k) {
      const int64_t at = base + k * inner;
      const double g = to_compute(dy[at]);
      if constexpr (Log) {
        // e^y in the compute type (expf for float32): y <= 0, so it cannot overflow.
        dx[at] = from_compute<T>(g - static_cast<double>(std::exp(to_compute(y[at]))) * sum);
      } else {
        dx[at] = from_compute<T>(static_cast<double>(to_compute(y[at])) * (g - sum));
      }
    }
  };
  if (lines * n >= kParallelThreshold) {
#pragma omp parallel for schedule(static)
    for (int64_t l = 0; l < lines; ++l) line(l);
  } else {
    for (int64_t l = 0; l < lines; ++l) line(l);
  }
}

// oneDNN softmax_backward / logsoftmax_backward on float32, one primitive per shape. The
// tensor is described as [outer, n] when inner == 1 (the common last-axis case, which has
// oneDNN's fast kernels) and as [outer, n, inner] otherwise. Where oneDNN only has its
// generic implementation for the shape and machine (oneDNN 2.6 has jit softmax backward
// kernels for AVX-512 only; "ref:any" elsewhere, measured 2-3x slower than
// softmax_grad_reference on an AVX2 machine), run() returns false and the caller runs the
// loop instead.
class DnnlSoftmaxGrad {
 public:
  explicit DnnlSoftmaxGrad(bool log) : log_(log) {}

  // dx from dy and y over axis 1 of [outer, n, inner]; false (nothing done) when oneDNN has
  // no optimised implementation for it.
  bool run(const float* dy, const float* y, float* dx, int64_t outer, int64_t n, int64_t inner) {
    if (outer == 0 || n == 0 || inner == 0) return true;
    std::lock_guard<std::mutex> lock(mutex_);
    const auto key = std::make_tuple(outer, n, inner);
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      const dnnl::memory::desc desc =
          inner == 1
              ? dnnl::memory::desc({outer, n}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab)
              : dnnl::memory::desc({outer, n, inner}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::abc);
      const dnnl::engine& engine = dnnl_common::cpu_engine();
      Entry entry{desc, dnnl::primitive(), false};
      std::string implementation;
      if (log_) {
        const dnnl::logsoftmax_forward::primitive_desc hint(
            dnnl::logsoftmax_forward::desc(dnnl::prop_kind::forward_training, desc, 1), engine);
        const dnnl::logsoftmax_backward::primitive_desc pd(dnnl::logsoftmax_backward::desc(desc, desc, 1), engine,
                                                           hint);
        implementation = pd.impl_info_str();
        entry.primitive = dnnl::logsoftmax_backward(pd);
      } else {
        const dnnl::softmax_forward::primitive_desc hint(
            dnnl::softmax_forward::desc(dnnl::prop_kind::forward_training, desc, 1), engine);
        const dnnl::softmax_backward::primitive_desc pd(dnnl::softmax_backward::desc(desc, desc, 1), engine, hint);
        implementation = pd.impl_info_str();
        entry.primitive = dnnl::softmax_backward(pd);
      }
      entry.optimized = implementation.rfind("ref", 0) != 0;
      it = entries_.emplace(key, std::move(entry)).first;
    }
    if (!it->second.optimized) return false;
    const dnnl::memory::desc& desc = it->second.desc;
    dnnl::stream& stream = dnnl_common::cpu_stream();
    it->second.primitive.execute(stream, {{DNNL_ARG_DST, dnnl_common::wrap_f32(desc, y)},
                                          {DNNL_ARG_DIFF_DST, dnnl_common::wrap_f32(desc, dy)},
                                          {DNNL_ARG_DIFF_SRC, dnnl_common::wrap_f32(desc, dx)}});
    stream.wait();
    return true;
  }

 private:
  struct Entry {
    dnnl::memory::desc desc;
    dnnl::primitive primitive;
    bool optimized;  // not oneDNN's generic "ref" implementation
  };
  bool log_;
  std::mutex mutex_;
  std::map<std::tuple<int64_t, int64_t, int64_t>, Entry> entries_;
};

// SoftmaxGrad(dY, Y) -> dX and LogSoftmaxGrad(dY, Y) -> dX, in the project domain.
//   dY, Y: the gradient and the forward output (Softmax: probabilities; LogSoftmax: log
//   probabilities), one float type and shape; dX has it too.
//   Attributes: axis (int, required, may be negative); coerce_2d (int, default 0): 1 for the
//   Softmax-1/11 form (the tensor is viewed as 2-D [prod(d[:axis]), prod(d[axis:])] and each
//   row is one softmax), 0 for the Softmax-13 form (one softmax along the single axis).
//   Math: see softmax_grad_reference.
template <bool Log>
class SoftmaxGradKernel : public Kernel {
 public:
  explicit SoftmaxGradKernel(const KernelInfo& info)
      : node_(info.node), axis_(info.node.attr_int("axis")), coerce_2d_(info.node.attr_int("coerce_2d", 0) != 0) {}

  void run(KernelContext& ctx) override {
    const Tensor& dy = ctx.input(0);
    const Tensor& y = ctx.input(1);
    OT_CHECK(dtype_is_float(dy.dtype()) && dy.dtype() == y.dtype() && dy.shape() == y.shape(),
             "{}: gradient {} and output {} must be floating-point tensors of one type and shape", node_.label(),
             dy.describe(), y.describe());
    OT_CHECK(y.rank() >= 1, "{}: softmax of a scalar {} has no axis", node_.label(), y.describe());
    const size_t axis = static_cast<size_t>(normalize_axis(axis_, y.rank(), "SoftmaxGrad axis"));
    const Shape& s = y.shape();
    int64_t outer = 1, n = 1, inner = 1;
    for (size_t d = 0; d < s.size(); ++d) (d < axis ? outer : d == axis || coerce_2d_ ? n : inner) *= s[d];
    Tensor& dx = ctx.allocate_output(0, dy.dtype(), s);
    if (dy.dtype() == DType::Float32 && dnnl_.run(dy.data<float>(), y.data<float>(), dx.data<float>(), outer, n, inner))
      return;
    visit_float(dy.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      softmax_grad_reference<Log, T>(dy.data<T>(), y.data<T>(), dx.data<T>(), outer, n, inner);
    });
  }

 private:
  const Node& node_;
  int64_t axis_;
  bool coerce_2d_;
  DnnlSoftmaxGrad dnnl_{Log};
};

// ---- gather gradients ----------------------------------------------------------------------

// The int64 values of an int32/int64 index tensor, mapped into [0, size) (negative indices
// count from the end); an index outside [-size, size - 1] is an error.
std::vector<int64_t> resolved_indices(const Tensor& indices, int64_t size, const Node& node) {
  OT_CHECK(indices.dtype() == DType::Int32 || indices.dtype() == DType::Int64,
           "{}: indices must be int32 or int64, got {}", node.label(), indices.describe());
  std::vector<int64_t> values = indices.to_int64s();
  for (int64_t& k : values) {
    OT_CHECK(k >= -size && k < size, "{}: index {} is out of range [{}, {}]", node.label(), k, -size, size - 1);
    if (k < 0) k += size;
  }
  return values;
}

// The data shape input (int64 1-D) of the gather gradients.
Shape read_data_shape(const Tensor& shape, const Node& node) {
  OT_CHECK(shape.dtype() == DType::Int64 && shape.rank() == 1, "{}: data_shape must be an int64 1-D tensor, got {}",
           node.label(), shape.describe());
  Shape s = shape.to_int64s();
  for (int64_t d : s) OT_CHECK(d >= 0, "{}: data_shape {} has a negative dimension", node.label(), shape_str(s));
  return s;
}

// dst[i] += src[i] for i < n, in the compute type of T.
template <typename T>
void add_row(T* __restrict dst, const T* __restrict src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = from_compute<T>(to_compute(dst[i]) + to_compute(src[i]));
}

// GatherGrad(dY, indices, data_shape) -> dX, in the project domain: the adjoint of Gather.
//   data_shape: int64 [r], the shape d of Gather's data; indices: int32/int64, any shape I
//   (negative values count from the end of the axis); dY: d[:axis] + I + d[axis+1:];
//   attribute axis (default 0, may be negative). dX: shape d, dY's type, zero except
//     dX[o, indices[j], p] += dY[o, j, p]   (repeated indices accumulate)
//   with o over d[:axis], j over I, p over d[axis+1:]. One pass over dY; the rows
//   [o, k, :] of dX are split into one contiguous range per thread, each thread adding only
//   the rows it owns (so for an embedding table, every thread reads the indices and adds
//   the dY rows that land in its part of the vocabulary).
class GatherGradKernel : public Kernel {
 public:
  explicit GatherGradKernel(const KernelInfo& info) : node_(info.node), axis_(info.node.attr_int("axis", 0)) {}

  void run(KernelContext& ctx) override {
    const Tensor& dy = ctx.input(0);
    const Tensor& index_tensor = ctx.input(1);
    const Shape data_shape = read_data_shape(ctx.input(2), node_);
    OT_CHECK(!data_shape.empty(), "{}: Gather data must have rank >= 1", node_.label());
    const size_t axis = static_cast<size_t>(normalize_axis(axis_, static_cast<int64_t>(data_shape.size())));
    Shape expected(data_shape.begin(), data_shape.begin() + axis);
    expected.insert(expected.end(), index_tensor.shape().begin(), index_tensor.shape().end());
    expected.insert(expected.end(), data_shape.begin() + axis + 1, data_shape.end());
    OT_CHECK(dtype_is_float(dy.dtype()) && dy.shape() == expected,
             "{}: gradient {} must be a floating-point tensor of shape {} (data {}, indices {}, axis {})",
             node_.label(), dy.describe(), shape_str(expected), shape_str(data_shape), index_tensor.describe(), axis);
    const int64_t size = data_shape[axis];
    const std::vector<int64_t> indices = resolved_indices(index_tensor, size, node_);
    int64_t outer = 1, inner = 1;
    for (size_t d = 0; d < data_shape.size(); ++d)
      if (d != axis) (d < axis ? outer : inner) *= data_shape[d];
    const int64_t count = static_cast<int64_t>(indices.size());
    Tensor& dx = ctx.allocate_output(0, dy.dtype(), data_shape);
    if (count == 0 || dx.numel() == 0) return;
    visit_float(dy.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* g = dy.data<T>();
      T* out = dx.data<T>();
      const int64_t rows = outer * size;
      const int threads = outer * count * inner >= kParallelThreshold ? omp_get_max_threads() : 1;
#pragma omp parallel num_threads(threads)
      {
        const int64_t parts = omp_get_num_threads(), part = omp_get_thread_num();
        const int64_t begin = rows * part / parts, end = rows * (part + 1) / parts;
        for (int64_t o = begin / size; o < outer && o * size < end; ++o) {
          for (int64_t j = 0; j < count; ++j) {
            const int64_t row = o * size + indices[static_cast<size_t>(j)];
            if (row >= begin && row < end) add_row(out + row * inner, g + (o * count + j) * inner, inner);
          }
        }
      }
    });
  }

 private:
  const Node& node_;
  int64_t axis_;
};

// Data offsets of every position of shape[begin:end] (row-major), read with `strides`.
std::vector<int64_t> offsets_of(const Shape& shape, const std::vector<int64_t>& strides, size_t begin, size_t end) {
  const Shape part(shape.begin() + begin, shape.begin() + end);
  std::vector<int64_t> offsets(static_cast<size_t>(shape_numel(part)));
  StridedWalk walk(part, {std::vector<int64_t>(strides.begin() + begin, strides.begin() + end)});
  for (size_t i = 0; i < offsets.size(); ++i, walk.next()) offsets[i] = walk.offset(0);
  return offsets;
}

// GatherElementsGrad(dY, indices, data_shape) -> dX, in the project domain: the adjoint of
// GatherElements.
//   data_shape: int64 [r], the shape d of the data; indices: int32/int64 of rank r, no
//   larger than d except along the axis (negative values count from the end); dY: the
//   indices' shape; attribute axis (default 0). dX: shape d, dY's type, zero except
//     dX[p with p[axis] = indices[p]] += dY[p]   for every position p of indices.
//   Positions that differ outside the axis write different elements of dX, so the work is
//   split over (dims before the axis) x (blocks of the dims after it), race-free.
class GatherElementsGradKernel : public Kernel {
 public:
  explicit GatherElementsGradKernel(const KernelInfo& info) : node_(info.node), axis_(info.node.attr_int("axis", 0)) {}

  void run(KernelContext& ctx) override {
    const Tensor& dy = ctx.input(0);
    const Tensor& index_tensor = ctx.input(1);
    const Shape data_shape = read_data_shape(ctx.input(2), node_);
    const Shape& ishape = index_tensor.shape();
    OT_CHECK(!data_shape.empty() && ishape.size() == data_shape.size(),
             "{}: indices {} must have the rank (>= 1) of the data {}", node_.label(), index_tensor.describe(),
             shape_str(data_shape));
    const size_t axis = static_cast<size_t>(normalize_axis(axis_, static_cast<int64_t>(data_shape.size())));
    for (size_t d = 0; d < data_shape.size(); ++d)
      OT_CHECK(d == axis || ishape[d] <= data_shape[d], "{}: indices {} are larger than the data {} along axis {}",
               node_.label(), index_tensor.describe(), shape_str(data_shape), d);
    OT_CHECK(dtype_is_float(dy.dtype()) && dy.shape() == ishape,
             "{}: gradient {} must be a floating-point tensor of the indices' shape {}", node_.label(), dy.describe(),
             shape_str(ishape));
    const std::vector<int64_t> indices = resolved_indices(index_tensor, data_shape[axis], node_);
    const std::vector<int64_t> strides = strides_of(data_shape);
    const std::vector<int64_t> outer_offsets = offsets_of(ishape, strides, 0, axis);
    const std::vector<int64_t> inner_offsets = offsets_of(ishape, strides, axis + 1, ishape.size());
    const int64_t outer = static_cast<int64_t>(outer_offsets.size());
    const int64_t inner = static_cast<int64_t>(inner_offsets.size());
    const int64_t along = ishape[axis], axis_stride = strides[axis];
    constexpr int64_t kBlock = 256;
    const int64_t blocks = (inner + kBlock - 1) / kBlock;
    Tensor& dx = ctx.allocate_output(0, dy.dtype(), data_shape);
    visit_float(dy.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* g = dy.data<T>();
      T* out = dx.data<T>();
      const bool parallel = dy.numel() >= kParallelThreshold;
#pragma omp parallel for collapse(2) if (parallel) schedule(static)
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t b = 0; b < blocks; ++b) {
          const int64_t first = b * kBlock, last = std::min(inner, first + kBlock);
          for (int64_t k = 0; k < along; ++k) {
            const int64_t position = (o * along + k) * inner;
            for (int64_t i = first; i < last; ++i) {
              T& target =
                  out[outer_offsets[o] + inner_offsets[i] + indices[static_cast<size_t>(position + i)] * axis_stride];
              target = from_compute<T>(to_compute(target) + to_compute(g[position + i]));
            }
          }
        }
      }
    });
  }

 private:
  const Node& node_;
  int64_t axis_;
};

}  // namespace

void register_activation_grad_kernels(KernelRegistry& registry) {
  registry.add<ActivationGradKernel<Act::Relu>>("ReluGrad", {1}, kProjectDomain);                // (dY, Y)
  registry.add<ActivationGradKernel<Act::LeakyRelu>>("LeakyReluGrad", {1}, kProjectDomain);      // (dY, X)
  registry.add<ActivationGradKernel<Act::Elu>>("EluGrad", {1}, kProjectDomain);                  // (dY, X)
  registry.add<ActivationGradKernel<Act::Selu>>("SeluGrad", {1}, kProjectDomain);                // (dY, X)
  registry.add<ActivationGradKernel<Act::Sigmoid>>("SigmoidGrad", {1}, kProjectDomain);          // (dY, Y)
  registry.add<ActivationGradKernel<Act::Tanh>>("TanhGrad", {1}, kProjectDomain);                // (dY, Y)
  registry.add<ActivationGradKernel<Act::HardSigmoid>>("HardSigmoidGrad", {1}, kProjectDomain);  // (dY, X)
  registry.add<ActivationGradKernel<Act::HardSwish>>("HardSwishGrad", {1}, kProjectDomain);      // (dY, X)
  registry.add<ActivationGradKernel<Act::Softplus>>("SoftplusGrad", {1}, kProjectDomain);        // (dY, X)
  registry.add<ActivationGradKernel<Act::Clip>>("ClipGrad", {1}, kProjectDomain);                // (dY, X, min?, max?)
  registry.add<SoftmaxGradKernel<false>>("SoftmaxGrad", {1}, kProjectDomain);
  registry.add<SoftmaxGradKernel<true>>("LogSoftmaxGrad", {1}, kProjectDomain);
  registry.add<GatherGradKernel>("GatherGrad", {1}, kProjectDomain);
  registry.add<GatherElementsGradKernel>("GatherElementsGrad", {1}, kProjectDomain);
}

}  // namespace onnx_train
