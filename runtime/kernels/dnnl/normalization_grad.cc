// Kernels of the normalization gradients, in the project's own domain (ai.onnx_train):
// BatchNormalizationGrad, InstanceNormalizationGrad, LayerNormalizationGrad and LRNGrad,
// the ops the rules of gradients/rules/normalization.cc emit.
//
// float32 (and float16/bfloat16, widened to float32) batch normalization in training and
// instance normalization run a two-pass loop over X and dY per channel (statistics and
// gradient sums in one pass, dX in the second: batch_norm_train_backward_f32); batch
// normalization in inference and layer normalization run oneDNN's backward primitives,
// built once per problem and cached in the kernel; float64 runs the plain-loop references
// of reference/normalization_grad_ref.h, and so does LRNGrad (the forward LRN is a
// reference loop too: its window for an even size differs from oneDNN's). Nothing is
// cached from the forward pass: the statistics the backward pass needs are recomputed from
// X (or, for BatchNormalizationGrad, passed as explicit inputs).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <type_traits>
#include <vector>

#include "runtime/core/dispatch.h"
#include "runtime/core/parallel.h"
#include "runtime/kernels/dnnl/dnnl_common.h"
#include "runtime/kernels/dnnl/normalization_common.h"
#include "runtime/kernels/dnnl/primitive.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/reference/norm_ref.h"
#include "runtime/kernels/reference/normalization_grad_ref.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

using dnnl::memory;
using dnnl_common::cpu_engine;
using dnnl_common::plain_f32_desc;
using normalization::batch_statistics_f32;
using normalization::ncs_dims;
using normalization::NcsDims;
using normalization::parameter_offsets;
using normalization::parameter_values;
using normalization::problem_key;
using normalization::write_output;

// A batch or layer normalization backward primitive bound, all plain, as
// run({x, dy, mean, var, scale, dx, dscale, dshift}): data descriptors for x, dy, dx, stat for
// mean and var, param for scale and the parameter gradients. oneDNN 2.6 wants a shift
// argument with use_shift, which it does not read: owned scratch memory.
DnnlPrimitive bound_backward(dnnl::primitive primitive, const memory::desc& data, const memory::desc& stat,
                             const memory::desc& param) {
  DnnlPrimitive p(std::move(primitive));
  p.bind_plain(DNNL_ARG_SRC, data);
  p.bind_plain(DNNL_ARG_DIFF_DST, data);
  p.bind_plain(DNNL_ARG_MEAN, stat);
  p.bind_plain(DNNL_ARG_VARIANCE, stat);
  p.bind_plain(DNNL_ARG_SCALE, param);
  p.bind_plain(DNNL_ARG_DIFF_SRC, data);
  p.bind_plain(DNNL_ARG_DIFF_SCALE, param);
  p.bind_plain(DNNL_ARG_DIFF_SHIFT, param);
  p.own(DNNL_ARG_SHIFT, memory(param, cpu_engine()));
  return p;
}

// oneDNN batch normalization backward over x [N, C, S] (plain), one primitive per problem,
// with scale and shift: diff_src, diff_scale [C] and diff_shift [C] from diff_dst, src, the
// statistics mean/var [C] and scale. Training: mean/var are the batch statistics of x (the
// full backward through them); inference: the given statistics (use_global_stats). x is
// described as 4-D nchw [N, C, S, 1], the plain layout oneDNN 2.6 has a fast implementation
// (ncsp_bnorm) for; 3-D ncw would fall back to its slow reference.
class DnnlBatchNormBackward {
 public:
  void run(int64_t n, int64_t c, int64_t s, bool training, float epsilon, const float* dy, const float* x,
           const float* scale, const float* mean, const float* var, float* dx, float* dscale, float* dshift) {
    auto key = problem_key({n, c, s, training ? 1 : 0}, epsilon);
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      const memory::desc data = plain_f32_desc({n, c, s, 1}), channel = plain_f32_desc({c});
      auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
      if (!training) flags |= dnnl::normalization_flags::use_global_stats;
      const dnnl::batch_normalization_forward::primitive_desc hint(
          dnnl::batch_normalization_forward::desc(dnnl::prop_kind::forward_training, data, epsilon, flags),
          cpu_engine());
      const dnnl::batch_normalization_backward::desc desc(dnnl::prop_kind::backward, data, data, epsilon, flags);
      it =
          cache_
              .emplace(std::move(key),
                       bound_backward(dnnl::batch_normalization_backward(
                                          dnnl::batch_normalization_backward::primitive_desc(desc, cpu_engine(), hint)),
                                      data, channel, channel))
              .first;
    }
    it->second.run({x, dy, mean, var, scale, dx, dscale, dshift});
  }

 private:
  std::map<std::vector<int64_t>, DnnlPrimitive> cache_;
};

// Batch statistics of x [N, C, S] (see batch_statistics_f32): the parallel loop for
// non-empty float32, the reference otherwise.
template <typename T>
void batch_statistics(const T* x, int64_t n, int64_t c, int64_t s, T* mean, T* var) {
  if constexpr (std::is_same_v<T, float>) {
    if (n * c * s > 0) {
      batch_statistics_f32(x, n, c, s, mean, var);
      return;
    }
  }
  batch_norm_statistics_ref(x, n, c, s, mean, var);
}

// Batch normalization training backward of non-empty float32 x, dy [N, C, S] in two
// passes per channel, channels in parallel (each channel's sums in a fixed order, so the
// result does not depend on the thread count): the float32 fast path of
// batch_norm_grad_ref in training. With M = N * S and the sums over n and s in double,
// d = x - shift (shift = the given mean, else x[0, c, 0], which keeps the variance free of
// cancellation when |mean| is large against the spread), m = sum(d) / M:
//   pass 1: sum(d), sum(d^2) (batch statistics, when mean/var are not given), sum(dy),
//           sum(dy * d); mean = shift + m, var = sum(d^2) / M - m^2 (or the given var),
//           inv_std = 1 / sqrt(var + epsilon),
//           dScale = sum(dy * xhat) = (sum(dy * d) - m * sum(dy)) * inv_std, dB = sum(dy)
//   pass 2: dx = k * (dy - dB / M - xhat * dScale / M), k = scale * inv_std, written as
//           dx = k * dy + b * x + c0 with b = -k * inv_std * dScale / M,
//           c0 = -b * mean - k * dB / M
// Reads x and dy twice and writes dx once; the statistics pass plus oneDNN's ncsp
// backward it replaces read them five times and ran 3-4x slower on MobileNetV2's shapes
// (100x on some, e.g. [16, 96, 32, 32]). mean/var null: batch statistics.
void batch_norm_train_backward_f32(const float* dy, const float* x, int64_t n, int64_t c, int64_t s, const float* scale,
                                   const float* mean, const float* var, float epsilon, float* dx, float* dscale,
                                   float* dbias) {
  const double count = static_cast<double>(n * s);
#pragma omp parallel for if (n * c * s >= kParallelMinElements) schedule(static)
  for (int64_t ch = 0; ch < c; ++ch) {
    const float shift = mean != nullptr ? mean[ch] : x[ch * s];
    double sum_d = 0, sum_dd = 0, sum_g = 0, sum_gd = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float* xr = x + (i * c + ch) * s;
      const float* gr = dy + (i * c + ch) * s;
#pragma omp simd reduction(+ : sum_d, sum_dd, sum_g, sum_gd)
      for (int64_t j = 0; j < s; ++j) {
        const double d = xr[j] - shift, g = gr[j];
        sum_d += d;
        sum_dd += d * d;
        sum_g += g;
        sum_gd += g * d;
      }
    }
    const double m = mean != nullptr ? 0.0 : sum_d / count;
    const double variance = var != nullptr ? var[ch] : std::max(0.0, sum_dd / count - m * m);
    const double inv_std = 1.0 / std::sqrt(variance + epsilon);
    const double dscale_c = (sum_gd - m * sum_g) * inv_std;
    dscale[ch] = static_cast<float>(dscale_c);
    dbias[ch] = static_cast<float>(sum_g);
    const double k = scale[ch] * inv_std, b = -k * inv_std * dscale_c / count;
    const float fk = static_cast<float>(k), fb = static_cast<float>(b),
                fc = static_cast<float>(-b * (shift + m) - k * sum_g / count);
    for (int64_t i = 0; i < n; ++i) {
      const float* xr = x + (i * c + ch) * s;
      const float* gr = dy + (i * c + ch) * s;
      float* out = dx + (i * c + ch) * s;
#pragma omp simd
      for (int64_t j = 0; j < s; ++j) out[j] = fk * gr[j] + fb * xr[j] + fc;
    }
  }
}

// oneDNN layer normalization backward of x [rows, cols] over cols, one primitive per
// problem: diff_src, diff_scale [cols] and diff_shift [cols] from diff_dst, src, the row
// statistics mean/var [rows] and scale [cols].
class DnnlLayerNormBackward {
 public:
  void run(int64_t rows, int64_t cols, float epsilon, const float* dy, const float* x, const float* scale,
           const float* mean, const float* var, float* dx, float* dscale, float* dshift) {
    auto key = problem_key({rows, cols}, epsilon);
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      const memory::desc data = plain_f32_desc({rows, cols}), stat = plain_f32_desc({rows});
      const memory::desc param = plain_f32_desc({cols});
      const auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
      const dnnl::layer_normalization_forward::primitive_desc hint(
          dnnl::layer_normalization_forward::desc(dnnl::prop_kind::forward_training, data, stat, epsilon, flags),
          cpu_engine());
      const dnnl::layer_normalization_backward::desc desc(dnnl::prop_kind::backward, data, data, stat, epsilon, flags);
      it =
          cache_
              .emplace(std::move(key),
                       bound_backward(dnnl::layer_normalization_backward(
                                          dnnl::layer_normalization_backward::primitive_desc(desc, cpu_engine(), hint)),
                                      data, stat, param))
              .first;
    }
    it->second.run({x, dy, mean, var, scale, dx, dscale, dshift});
  }

 private:
  std::map<std::vector<int64_t>, DnnlPrimitive> cache_;
};

// Runs `f(TypeTag<float> or TypeTag<double>, dy, x, dx)` on the values of dy and x (same
// shape and type), in float for float16, bfloat16 and float32 and in double for float64
// (normalization::in_float_or_double).
template <typename F>
void run_in_float_or_double(const Tensor& dy, const Tensor& x, Tensor& dx, const Node& node, F&& f) {
  OT_CHECK(dtype_is_float(x.dtype()), "{}: X is {}; a floating-point tensor is needed", node.label(), x.describe());
  OT_CHECK(dy.dtype() == x.dtype() && dy.shape() == x.shape(), "{}: the gradient dY {} must match X {}", node.label(),
           dy.describe(), x.describe());
  normalization::in_float_or_double(dx, f, dy, x);
}

// BatchNormalizationGrad (ai.onnx_train, 1): the backward pass of BatchNormalization.
//   inputs:  dY, X [N, C, D1..Dn] (or [N]: C = 1); scale [C]; mean, var [C] (optional in
//            training, where they are the batch statistics of X and are recomputed when
//            omitted; required in inference, where they are the forward node's inputs)
//   outputs: dX (X's shape and type), dScale, dB [C] (scale's type), and in inference only
//            the optional dMean, dVar [C] (mean's / var's type)
//   attributes: epsilon (1e-5), training_mode (0), spatial (1; 0 is BatchNormalization-7's
//            per-activation form: parameters [C x D1 x ... x Dn], statistics over N only)
//   math (inv_std = 1 / sqrt(var + epsilon), xhat = (X - mean) * inv_std, M = N * D1..Dn,
//   sums per channel over N and D1..Dn):
//     dScale = sum(dY * xhat), dB = sum(dY)
//     training:  dX = scale * inv_std / M * (M * dY - sum(dY) - xhat * sum(dY * xhat))
//     inference: dX = dY * scale * inv_std, dMean = -sum(dY) * scale * inv_std,
//                dVar = -0.5 * sum(dY * xhat) * scale * inv_std^2
class BatchNormGradKernel : public Kernel {
 public:
  explicit BatchNormGradKernel(const KernelInfo& info)
      : node_(info.node),
        epsilon_(info.node.attr_float("epsilon", 1e-5f)),
        training_(info.node.attr_int("training_mode", 0) != 0),
        spatial_(info.node.attr_int("spatial", 1) != 0) {
    OT_CHECK(epsilon_ >= 0.f, "{}: epsilon {} must not be negative", node_.label(), epsilon_);
    OT_CHECK(node_.has_input(3) == node_.has_input(4), "{}: give both mean and var, or neither", node_.label());
    OT_CHECK(training_ || node_.has_input(3), "{}: inference (training_mode=0) needs the mean and var inputs",
             node_.label());
    const bool stat_grads = node_.outputs.size() > 3 &&
                            (!node_.outputs[3].empty() || (node_.outputs.size() > 4 && !node_.outputs[4].empty()));
    OT_CHECK(!training_ || !stat_grads,
             "{}: dMean/dVar exist only in inference (training_mode=0); in training Y does not depend on the "
             "mean/var inputs",
             node_.label());
  }

  void run(KernelContext& ctx) override {
    const Tensor& dy = ctx.input(0);
    const Tensor& x = ctx.input(1);
    NcsDims d = ncs_dims(x.shape());
    if (!spatial_) {  // per-activation statistics: every (c, d1..dn) is its own channel
      d.c *= d.s;
      d.s = 1;
    }
    const bool given_stats = ctx.has_input(3);
    Tensor& dx = ctx.allocate_output(0, x.dtype(), x.shape());
    std::vector<double> dscale, dbias, dmean, dvar;
    run_in_float_or_double(dy, x, dx, node_, [&](auto tag, const auto* dyd, const auto* xd, auto* dxd) {
      using T = typename decltype(tag)::type;
      const std::vector<T> scale = parameter_values<T>(ctx.input(2), d.c, node_, "scale");
      std::vector<T> mean(d.c), var(d.c);
      if (given_stats) {
        mean = parameter_values<T>(ctx.input(3), d.c, node_, "mean");
        var = parameter_values<T>(ctx.input(4), d.c, node_, "var");
      }
      std::vector<T> ds(d.c), db(d.c), dm(d.c), dv(d.c);
      bool done = false;
      if constexpr (std::is_same_v<T, float>) {
        if (training_ && x.numel() > 0) {
          batch_norm_train_backward_f32(dyd, xd, d.n, d.c, d.s, scale.data(), given_stats ? mean.data() : nullptr,
                                        given_stats ? var.data() : nullptr, epsilon_, dxd, ds.data(), db.data());
          done = true;
        }
      }
      if (!given_stats && !done) batch_statistics(xd, d.n, d.c, d.s, mean.data(), var.data());
      if constexpr (std::is_same_v<T, float>) {
        if (!done && x.numel() > 0) {
          dnnl_.run(d.n, d.c, d.s, training_, epsilon_, dyd, xd, scale.data(), mean.data(), var.data(), dxd, ds.data(),
                    db.data());
          if (!training_) {  // dMean and dVar follow from dB and dScale
            for (int64_t ch = 0; ch < d.c; ++ch) {
              const double inv_std = 1.0 / std::sqrt(static_cast<double>(var[ch]) + epsilon_);
              const double a = scale[ch] * inv_std;
              dm[ch] = static_cast<T>(-db[ch] * a);
              dv[ch] = static_cast<T>(-0.5 * ds[ch] * a * inv_std);
            }
          }
          done = true;
        }
      }
      if (!done)
        batch_norm_grad_ref(dyd, xd, d.n, d.c, d.s, scale.data(), mean.data(), var.data(), epsilon_, training_, dxd,
                            ds.data(), db.data(), dm.data(), dv.data());
      dscale.assign(ds.begin(), ds.end());
      dbias.assign(db.begin(), db.end());
      dmean.assign(dm.begin(), dm.end());
      dvar.assign(dv.begin(), dv.end());
    });
    const Tensor& scale = ctx.input(2);
    if (ctx.output_wanted(1)) write_output(ctx, 1, scale.dtype(), scale.shape(), dscale);
    if (ctx.output_wanted(2)) write_output(ctx, 2, scale.dtype(), scale.shape(), dbias);
    if (ctx.output_wanted(3)) write_output(ctx, 3, ctx.input(3).dtype(), ctx.input(3).shape(), dmean);
    if (ctx.output_wanted(4)) write_output(ctx, 4, ctx.input(4).dtype(), ctx.input(4).shape(), dvar);
  }

 private:
  const Node& node_;
  const float epsilon_;
  const bool training_;
  const bool spatial_;
  DnnlBatchNormBackward dnnl_;
};

// InstanceNormalizationGrad (ai.onnx_train, 1): the backward pass of InstanceNormalization.
//   inputs:  dY, X [N, C, D1..Dn]; scale [C]
//   outputs: dX (X's shape), dScale, dB [C] (scale's type)
//   attributes: epsilon (1e-5)
//   math: batch normalization training backward with statistics per (n, c) over D1..Dn
//   (M = D1 * .. * Dn), then dScale[c] = sum over n of sum(dY * xhat), dB[c] = sum(dY).
// Both paths run it as a batch normalization over the [1, N * C, S] view (float32 on
// oneDNN's backward primitive, which has no instance normalization of its own).
class InstanceNormGradKernel : public Kernel {
 public:
  explicit InstanceNormGradKernel(const KernelInfo& info)
      : node_(info.node), epsilon_(info.node.attr_float("epsilon", 1e-5f)) {
    OT_CHECK(epsilon_ >= 0.f, "{}: epsilon {} must not be negative", node_.label(), epsilon_);
  }

  void run(KernelContext& ctx) override {
    const Tensor& dy = ctx.input(0);
    const Tensor& x = ctx.input(1);
    OT_CHECK(x.rank() >= 2, "{}: X is {}; it must be [N, C, D1, ..., Dn]", node_.label(), x.describe());
    const NcsDims d = ncs_dims(x.shape());
    const int64_t channels = d.n * d.c;  // every (n, c) is one batch normalization channel
    Tensor& dx = ctx.allocate_output(0, x.dtype(), x.shape());
    std::vector<double> dscale(d.c, 0.0), dbias(d.c, 0.0);
    run_in_float_or_double(dy, x, dx, node_, [&](auto tag, const auto* dyd, const auto* xd, auto* dxd) {
      using T = typename decltype(tag)::type;
      const std::vector<T> scale = parameter_values<T>(ctx.input(2), d.c, node_, "scale");
      std::vector<T> scale_nc(channels), mean(channels), var(channels), ds(channels), db(channels);
      for (int64_t i = 0; i < channels; ++i) scale_nc[i] = scale[i % d.c];
      bool done = false;
      if constexpr (std::is_same_v<T, float>) {
        if (x.numel() > 0) {
          batch_norm_train_backward_f32(dyd, xd, 1, channels, d.s, scale_nc.data(), nullptr, nullptr, epsilon_, dxd,
                                        ds.data(), db.data());
          done = true;
        }
      }
      if (!done) batch_statistics(xd, 1, channels, d.s, mean.data(), var.data());
      if (!done)
        batch_norm_grad_ref(dyd, xd, 1, channels, d.s, scale_nc.data(), mean.data(), var.data(), epsilon_, true, dxd,
                            ds.data(), db.data(), static_cast<T*>(nullptr), static_cast<T*>(nullptr));
      for (int64_t i = 0; i < channels; ++i) {
        dscale[i % d.c] += ds[i];
        dbias[i % d.c] += db[i];
      }
    });
    const Tensor& scale = ctx.input(2);
    if (ctx.output_wanted(1)) write_output(ctx, 1, scale.dtype(), scale.shape(), dscale);
    if (ctx.output_wanted(2)) write_output(ctx, 2, scale.dtype(), scale.shape(), dbias);
  }

 private:
  const Node& node_;
  const float epsilon_;
};

// LayerNormalizationGrad (ai.onnx_train, 1): the backward pass of LayerNormalization.
//   inputs:  dY, X [d0, ..., d(r-1)]; Scale; B (optional, read only for its shape)
//   outputs: dX (X's shape), dScale (Scale's shape and type), dB (B's shape and type; only
//            with B)
//   attributes: axis (-1; negative counts from the end), epsilon (1e-5)
//   math: X viewed as [rows, cols], cols = d(axis) * .. * d(r-1); per row mean and
//   population variance, inv_std = 1 / sqrt(var + epsilon), xhat = (X - mean) * inv_std,
//   g = dY * Scale (Scale broadcast to the normalized shape):
//     dX = inv_std * (g - mean_row(g) - xhat * mean_row(g * xhat))
//     dScale = sum over rows of dY * xhat, dB = sum over rows of dY, each then summed over
//     the normalized axes the parameter was broadcast along.
class LayerNormGradKernel : public Kernel {
 public:
  explicit LayerNormGradKernel(const KernelInfo& info)
      : node_(info.node), axis_(info.node.attr_int("axis", -1)), epsilon_(info.node.attr_float("epsilon", 1e-5f)) {
    OT_CHECK(epsilon_ >= 0.f, "{}: epsilon {} must not be negative", node_.label(), epsilon_);
  }

  void run(KernelContext& ctx) override {
    const Tensor& dy = ctx.input(0);
    const Tensor& x = ctx.input(1);
    const Tensor& scale = ctx.input(2);
    const int64_t rank = x.rank();
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    OT_CHECK(axis >= 0 && axis <= rank, "{}: axis {} is out of range for X {} (allowed [{}, {}])", node_.label(), axis_,
             x.describe(), -rank, rank);
    OT_CHECK(dtype_is_float(scale.dtype()), "{}: Scale is {}; it must be a floating-point tensor", node_.label(),
             scale.describe());
    const Shape normalized(x.shape().begin() + axis, x.shape().end());
    const int64_t cols = shape_numel(normalized);
    const int64_t rows = cols > 0 ? x.numel() / cols : shape_numel(Shape(x.shape().begin(), x.shape().begin() + axis));
    const std::vector<int64_t> scale_at = parameter_offsets(scale.shape(), normalized, axis_, node_, "Scale");
    Tensor& dx = ctx.allocate_output(0, x.dtype(), x.shape());
    std::vector<double> dscale_cols, dbias_cols;
    run_in_float_or_double(dy, x, dx, node_, [&](auto tag, const auto* dyd, const auto* xd, auto* dxd) {
      using T = typename decltype(tag)::type;
      const std::vector<double> scale_values = scale.to_doubles();
      std::vector<T> scale_cols(cols), ds(cols), db(cols);
      for (int64_t j = 0; j < cols; ++j) scale_cols[j] = static_cast<T>(scale_values[scale_at[j]]);
      bool done = false;
      if constexpr (std::is_same_v<T, float>) {
        if (x.numel() > 0) {
          std::vector<float> mean(rows), var(rows);
          for (int64_t r = 0; r < rows; ++r) {
            double m = 0, v = 0;
            for (int64_t j = 0; j < cols; ++j) m += xd[r * cols + j];
            m /= static_cast<double>(cols);
            for (int64_t j = 0; j < cols; ++j) v += (xd[r * cols + j] - m) * (xd[r * cols + j] - m);
            mean[r] = static_cast<float>(m);
            var[r] = static_cast<float>(v / static_cast<double>(cols));
          }
          dnnl_.run(rows, cols, epsilon_, dyd, xd, scale_cols.data(), mean.data(), var.data(), dxd, ds.data(),
                    db.data());
          done = true;
        }
      }
      if (!done) layer_norm_grad_ref(dyd, xd, rows, cols, scale_cols.data(), epsilon_, dxd, ds.data(), db.data());
      dscale_cols.assign(ds.begin(), ds.end());
      dbias_cols.assign(db.begin(), db.end());
    });
    if (ctx.output_wanted(1))
      write_output(ctx, 1, scale.dtype(), scale.shape(), sum_to_parameter(dscale_cols, scale_at, scale.numel()));
    if (ctx.output_wanted(2)) {
      const Tensor& bias = ctx.input(3);
      OT_CHECK(dtype_is_float(bias.dtype()), "{}: B is {}; it must be a floating-point tensor", node_.label(),
               bias.describe());
      const std::vector<int64_t> bias_at = parameter_offsets(bias.shape(), normalized, axis_, node_, "B");
      write_output(ctx, 2, bias.dtype(), bias.shape(), sum_to_parameter(dbias_cols, bias_at, bias.numel()));
    }
  }

 private:
  // Per-column values summed into the parameter values the columns read.
  static std::vector<double> sum_to_parameter(const std::vector<double>& per_column, const std::vector<int64_t>& at,
                                              int64_t count) {
    std::vector<double> sums(static_cast<size_t>(count), 0.0);
    for (size_t j = 0; j < per_column.size(); ++j) sums[static_cast<size_t>(at[j])] += per_column[j];
    return sums;
  }

  const Node& node_;
  const int64_t axis_;
  const float epsilon_;
  DnnlLayerNormBackward dnnl_;
};

// LRNGrad (ai.onnx_train, 1): the backward pass of LRN.
//   inputs:  dY, X [N, C, D1..Dn]
//   outputs: dX (X's shape)
//   attributes: size (required), alpha (1e-4), beta (0.75), bias (1), as on the LRN node
//   math (lrn_grad_ref): with d[c] = bias + alpha / size * (sum of X^2 over the window of c),
//     dX[k] = dY[k] * d[k]^-beta - 2 * alpha * beta / size * X[k] *
//             sum over the c whose window holds k of dY[c] * X[c] * d[c]^(-beta - 1)
class LrnGradKernel : public Kernel {
 public:
  explicit LrnGradKernel(const KernelInfo& info) : node_(info.node), lrn_(info.node) {}

  void run(KernelContext& ctx) override {
    const Tensor& dy = ctx.input(0);
    const Tensor& x = ctx.input(1);
    OT_CHECK(x.rank() >= 2, "{}: X is {}; it must be [N, C, D1, ..., Dn]", node_.label(), x.describe());
    const NcsDims d = ncs_dims(x.shape());
    Tensor& dx = ctx.allocate_output(0, x.dtype(), x.shape());
    run_in_float_or_double(dy, x, dx, node_, [&](auto, const auto* dyd, const auto* xd, auto* dxd) {
      lrn_grad_ref(dyd, xd, d.n, d.c, d.s, lrn_.size, lrn_.alpha, lrn_.beta, lrn_.bias, dxd);
    });
  }

 private:
  const Node& node_;
  const normalization::LrnAttributes lrn_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(normalization_grad) {
  registry.add<BatchNormGradKernel>("BatchNormalizationGrad", {1}, kProjectDomain);
  registry.add<InstanceNormGradKernel>("InstanceNormalizationGrad", {1}, kProjectDomain);
  registry.add<LayerNormGradKernel>("LayerNormalizationGrad", {1}, kProjectDomain);
  registry.add<LrnGradKernel>("LRNGrad", {1}, kProjectDomain);
}

}  // namespace onnx_train
