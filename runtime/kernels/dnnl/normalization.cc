// Normalization kernels: BatchNormalization, InstanceNormalization, LayerNormalization, LRN
// (Dropout is in reference/dropout.cc).
//
// float32 (and float16/bfloat16, widened to float32) runs on oneDNN's batch and layer
// normalization primitives, built once per shape and cached in the kernel; float64 runs
// the plain-loop references of reference/norm_ref.h, and so does LRN (whose window for an
// even size differs from oneDNN's). Per-channel parameters are read in any floating type.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "runtime/core/dispatch.h"
#include "runtime/ir/schema.h"
#include "runtime/kernels/dnnl/dnnl_common.h"
#include "runtime/kernels/dnnl/normalization_common.h"
#include "runtime/kernels/dnnl/primitive.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/reference/norm_ref.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

using dnnl::memory;
using dnnl_common::cpu_engine;
using dnnl_common::plain_f32_desc;
using normalization::ncs_dims;
using normalization::NcsDims;
using normalization::parameter_values;
using normalization::problem_key;
using normalization::write_output;

// oneDNN batch normalization over x [N, C, S] (plain), one primitive per problem.
// Inference: y = (x - mean) / sqrt(var + eps) * scale + shift with the given mean/var.
// Training: mean/var are outputs, the batch statistics (population variance), and y uses them.
// x is described to oneDNN as 4-D nchw [N, C, S, 1]: oneDNN 2.6 has its fast plain-layout
// implementation (ncsp_bnorm) for 4-D nchw, while 3-D ncw falls back to its slow reference.
class DnnlBatchNorm {
 public:
  void run(int64_t n, int64_t c, int64_t s, bool training, float epsilon, const float* x, const float* scale,
           const float* shift, float* mean, float* var, float* y) {
    auto key = problem_key({n, c, s, training ? 1 : 0}, epsilon);
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      const memory::desc data = plain_f32_desc({n, c, s, 1}), channel = plain_f32_desc({c});
      auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
      if (!training) flags |= dnnl::normalization_flags::use_global_stats;
      const dnnl::batch_normalization_forward::desc desc(
          training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference, data, epsilon, flags);
      DnnlPrimitive p(
          dnnl::batch_normalization_forward(dnnl::batch_normalization_forward::primitive_desc(desc, cpu_engine())));
      p.bind_plain(DNNL_ARG_SRC, data);
      p.bind_plain(DNNL_ARG_DST, data);
      for (int arg : {DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE}) p.bind_plain(arg, channel);
      it = cache_.emplace(std::move(key), std::move(p)).first;
    }
    it->second.run({x, y, scale, shift, mean, var});
  }

 private:
  std::map<std::vector<int64_t>, DnnlPrimitive> cache_;
};

// oneDNN layer normalization of x [rows, cols] over cols, one primitive per problem:
// y = (x - mean) / sqrt(var + eps) * scale + shift; mean/var [rows] are written when given.
class DnnlLayerNorm {
 public:
  void run(int64_t rows, int64_t cols, float epsilon, const float* x, const float* scale, const float* shift, float* y,
           float* mean, float* var) {
    const bool with_stats = mean != nullptr;
    auto key = problem_key({rows, cols, with_stats ? 1 : 0}, epsilon);
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      const memory::desc data = plain_f32_desc({rows, cols}), stat = plain_f32_desc({rows});
      const memory::desc param = plain_f32_desc({cols});
      const dnnl::layer_normalization_forward::desc desc(
          with_stats ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference, data, stat, epsilon,
          dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift);
      DnnlPrimitive p(
          dnnl::layer_normalization_forward(dnnl::layer_normalization_forward::primitive_desc(desc, cpu_engine())));
      p.bind_plain(DNNL_ARG_SRC, data);
      p.bind_plain(DNNL_ARG_DST, data);
      p.bind_plain(DNNL_ARG_SCALE, param);
      p.bind_plain(DNNL_ARG_SHIFT, param);
      if (with_stats) {
        p.bind_plain(DNNL_ARG_MEAN, stat);
        p.bind_plain(DNNL_ARG_VARIANCE, stat);
      }
      it = cache_.emplace(std::move(key), std::move(p)).first;
    }
    if (with_stats)
      it->second.run({x, y, scale, shift, mean, var});
    else
      it->second.run({x, y, scale, shift});
  }

 private:
  std::map<std::vector<int64_t>, DnnlPrimitive> cache_;
};

// Runs `f(TypeTag<float> or TypeTag<double>, x, y)` on x's values, in float for float16,
// bfloat16 and float32 and in double for float64 (normalization::in_float_or_double).
template <typename F>
void run_in_float_or_double(const Tensor& x, Tensor& y, const Node& node, F&& f) {
  OT_CHECK(dtype_is_float(x.dtype()), "{}: input is {}; a floating-point tensor is needed", node.label(), x.describe());
  normalization::in_float_or_double(y, f, x);
}

// BatchNormalization (7, 9, 14, 15). X [N, C, D1..Dn] (or [N], C = 1); scale, B, mean, var [C].
//   inference: Y = (X - mean) / sqrt(var + epsilon) * scale + B
//   training:  the same with the batch statistics (mean and population variance over N and
//              D1..Dn per channel), and running = input * momentum + batch * (1 - momentum).
// Training is training_mode=1 from version 14 on (outputs Y, running_mean, running_var); in
// versions 7 and 9 it is any of the optional outputs being present (Y, running mean, running
// var, saved_mean = batch mean, saved_var = batch variance). BatchNormalization-7 with
// spatial=0 normalizes each activation: parameters are [C x D1 x ... x Dn], statistics over N.
// Version 15 lets scale/B and mean/var have their own floating types.
class BatchNormKernel : public Kernel {
 public:
  explicit BatchNormKernel(const KernelInfo& info)
      : node_(info.node),
        epsilon_(info.node.attr_float("epsilon", 1e-5f)),
        momentum_(info.node.attr_float("momentum", 0.9f)),
        spatial_(info.node.since_version >= 9 || info.node.attr_int("spatial", 1) != 0) {
    training_ = batch_norm_in_training_mode(node_);
    bool extra_outputs = false;  // any of the optional statistics outputs listed
    for (size_t i = 1; i < node_.outputs.size(); ++i) extra_outputs |= !node_.outputs[i].empty();
    OT_CHECK(training_ || !extra_outputs,
             "{}: outputs running_mean/running_var are only valid with training_mode=1; drop them or set "
             "training_mode=1",
             node_.label());
    OT_CHECK(epsilon_ >= 0.f, "{}: epsilon {} must not be negative", node_.label(), epsilon_);
  }

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    NcsDims d = ncs_dims(x.shape());
    if (!spatial_) {  // per-activation statistics: every (c, d1..dn) is its own channel
      d.c *= d.s;
      d.s = 1;
    }
    const Tensor& mean_in = ctx.input(3);
    const Tensor& var_in = ctx.input(4);
    std::vector<double> batch_mean, batch_var;
    Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
    run_in_float_or_double(x, y, node_, [&](auto tag, const auto* xd, auto* yd) {
      using T = typename decltype(tag)::type;
      const std::vector<T> scale = parameter_values<T>(ctx.input(1), d.c, node_, "scale");
      const std::vector<T> bias = parameter_values<T>(ctx.input(2), d.c, node_, "B");
      std::vector<T> mean = parameter_values<T>(mean_in, d.c, node_, "mean");
      std::vector<T> var = parameter_values<T>(var_in, d.c, node_, "var");
      bool done = false;
      if constexpr (std::is_same_v<T, float>) {
        if (x.numel() > 0 && training_) {
          // Not oneDNN's: its plain-layout (ncsp) training forward is slow on many shapes
          // ([16, 96, 32, 32] several times this two-pass loop).
          normalization::batch_norm_training_f32(xd, d.n, d.c, d.s, scale.data(), bias.data(), epsilon_, mean.data(),
                                                 var.data(), yd);
          done = true;
        } else if (x.numel() > 0) {
          dnnl_.run(d.n, d.c, d.s, training_, epsilon_, xd, scale.data(), bias.data(), mean.data(), var.data(), yd);
          done = true;
        }
      }
      if (!done) {
        if (training_) batch_norm_statistics_ref(xd, d.n, d.c, d.s, mean.data(), var.data());
        batch_norm_ref(xd, d.n, d.c, d.s, scale.data(), bias.data(), mean.data(), var.data(), epsilon_, yd);
      }
      batch_mean.assign(mean.begin(), mean.end());
      batch_var.assign(var.begin(), var.end());
    });
    if (!training_) return;

    // Running statistics: input * momentum + batch * (1 - momentum).
    const std::vector<double> mean_prev = mean_in.to_doubles(), var_prev = var_in.to_doubles();
    std::vector<double> running_mean(batch_mean.size()), running_var(batch_var.size());
    for (size_t i = 0; i < batch_mean.size(); ++i) {
      running_mean[i] = mean_prev[i] * momentum_ + batch_mean[i] * (1.0 - momentum_);
      running_var[i] = var_prev[i] * momentum_ + batch_var[i] * (1.0 - momentum_);
    }
    const DType stat_dtype = node_.since_version >= 14 ? mean_in.dtype() : x.dtype();
    if (ctx.output_wanted(1)) write_output(ctx, 1, stat_dtype, mean_in.shape(), running_mean);
    if (ctx.output_wanted(2)) write_output(ctx, 2, stat_dtype, var_in.shape(), running_var);
    if (ctx.output_wanted(3)) write_output(ctx, 3, stat_dtype, mean_in.shape(), batch_mean);
    if (ctx.output_wanted(4)) write_output(ctx, 4, stat_dtype, var_in.shape(), batch_var);
  }

 private:
  const Node& node_;
  const float epsilon_;
  const float momentum_;
  const bool spatial_;
  bool training_ = false;
  DnnlBatchNorm dnnl_;
};

// InstanceNormalization (6): for every sample n and channel c of X [N, C, D1..Dn],
//   Y[n, c] = (X[n, c] - mean[n, c]) / sqrt(var[n, c] + epsilon) * scale[c] + B[c]
// with mean and population variance over D1..Dn. float32 runs as a oneDNN batch
// normalization over [1, N * C, S] in training mode (statistics per (n, c)).
class InstanceNormKernel : public Kernel {
 public:
  explicit InstanceNormKernel(const KernelInfo& info)
      : node_(info.node), epsilon_(info.node.attr_float("epsilon", 1e-5f)) {
    OT_CHECK(epsilon_ >= 0.f, "{}: epsilon {} must not be negative", node_.label(), epsilon_);
  }

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    OT_CHECK(x.rank() >= 2, "{}: input is {}; it must be [N, C, D1, ..., Dn]", node_.label(), x.describe());
    const NcsDims d = ncs_dims(x.shape());
    Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
    run_in_float_or_double(x, y, node_, [&](auto tag, const auto* xd, auto* yd) {
      using T = typename decltype(tag)::type;
      const std::vector<T> scale = parameter_values<T>(ctx.input(1), d.c, node_, "scale");
      const std::vector<T> bias = parameter_values<T>(ctx.input(2), d.c, node_, "B");
      if constexpr (std::is_same_v<T, float>) {
        if (x.numel() > 0) {
          const int64_t channels = d.n * d.c;  // every (n, c) is one oneDNN channel
          std::vector<float> scale_nc(channels), bias_nc(channels), mean(channels), var(channels);
          for (int64_t i = 0; i < channels; ++i) {
            scale_nc[i] = scale[i % d.c];
            bias_nc[i] = bias[i % d.c];
          }
          dnnl_.run(1, channels, d.s, true, epsilon_, xd, scale_nc.data(), bias_nc.data(), mean.data(), var.data(), yd);
          return;
        }
      }
      instance_norm_ref(xd, d.n, d.c, d.s, scale.data(), bias.data(), epsilon_, yd);
    });
  }

 private:
  const Node& node_;
  const float epsilon_;
  DnnlBatchNorm dnnl_;
};

// LayerNormalization (17): X [d0, ..., d(r-1)] is normalized over its dimensions from `axis`
// on (viewed as [rows, cols], rows = d0 * .. * d(axis-1)):
//   Mean = mean(X[row]), InvStdDev = 1 / sqrt(mean((X[row] - Mean)^2) + epsilon)
//   Y = (X - Mean) * InvStdDev * Scale + B
// Scale and B (optional) broadcast unidirectionally to [d(axis), ..., d(r-1)]. The optional
// outputs Mean and InvStdDev have shape [d0, ..., d(axis-1), 1, ..., 1] and type float32
// (stash_type 1). Statistics are computed in float32 (float64 for a float64 X).
class LayerNormKernel : public Kernel {
 public:
  explicit LayerNormKernel(const KernelInfo& info)
      : node_(info.node), axis_(info.node.attr_int("axis", -1)), epsilon_(info.node.attr_float("epsilon", 1e-5f)) {
    const int64_t stash_type = node_.attr_int("stash_type", 1);
    OT_CHECK(stash_type == 1, "{}: stash_type {} is not supported (only 1, float32 statistics)", node_.label(),
             stash_type);
    OT_CHECK(epsilon_ >= 0.f, "{}: epsilon {} must not be negative", node_.label(), epsilon_);
  }

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const int64_t rank = x.rank();
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    OT_CHECK(axis >= 0 && axis <= rank, "{}: axis {} is out of range for input {} (allowed [{}, {}])", node_.label(),
             axis_, x.describe(), -rank, rank);
    const Shape normalized(x.shape().begin() + axis, x.shape().end());
    const int64_t cols = shape_numel(normalized);
    const int64_t rows = cols > 0 ? x.numel() / cols : shape_numel(Shape(x.shape().begin(), x.shape().begin() + axis));
    Shape stat_shape(x.shape().begin(), x.shape().begin() + axis);
    stat_shape.resize(rank, 1);

    Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
    const bool want_stats = ctx.output_wanted(1) || ctx.output_wanted(2);
    std::vector<double> mean, inv_std_dev;
    run_in_float_or_double(x, y, node_, [&](auto tag, const auto* xd, auto* yd) {
      using T = typename decltype(tag)::type;
      const std::vector<T> scale = expand_parameter<T>(ctx.input(1), normalized, "Scale");
      const std::vector<T> bias =
          ctx.has_input(2) ? expand_parameter<T>(ctx.input(2), normalized, "B") : std::vector<T>(cols, T(0));
      std::vector<T> m(want_stats ? rows : 0), v(want_stats ? rows : 0);
      bool done = false;
      if constexpr (std::is_same_v<T, float>) {
        if (x.numel() > 0) {  // oneDNN returns the variance: InvStdDev = 1 / sqrt(var + epsilon)
          dnnl_.run(rows, cols, epsilon_, xd, scale.data(), bias.data(), yd, want_stats ? m.data() : nullptr,
                    want_stats ? v.data() : nullptr);
          for (auto& var : v) var = 1.f / std::sqrt(var + epsilon_);
          done = true;
        }
      }
      if (!done)
        layer_norm_ref(xd, rows, cols, scale.data(), bias.data(), epsilon_, yd, want_stats ? m.data() : nullptr,
                       want_stats ? v.data() : nullptr);
      mean.assign(m.begin(), m.end());
      inv_std_dev.assign(v.begin(), v.end());
    });
    if (ctx.output_wanted(1)) write_output(ctx, 1, DType::Float32, stat_shape, mean);
    if (ctx.output_wanted(2)) write_output(ctx, 2, DType::Float32, stat_shape, inv_std_dev);
  }

 private:
  // Scale or B broadcast (unidirectionally) to the normalized shape, as one value per column.
  template <typename T>
  std::vector<T> expand_parameter(const Tensor& p, const Shape& normalized, const char* name) const {
    OT_CHECK(dtype_is_float(p.dtype()), "{}: {} is {}; it must be a floating-point tensor", node_.label(), name,
             p.describe());
    const std::vector<int64_t> at = normalization::parameter_offsets(p.shape(), normalized, axis_, node_, name);
    const std::vector<double> values = p.to_doubles();
    std::vector<T> out(at.size());
    for (size_t j = 0; j < at.size(); ++j) out[j] = static_cast<T>(values[static_cast<size_t>(at[j])]);
    return out;
  }

  const Node& node_;
  const int64_t axis_;
  const float epsilon_;
  DnnlLayerNorm dnnl_;
};

// LRN (1, 13): local response normalization across channels of X [N, C, D1..Dn]:
//   Y = X / (bias + alpha / size * square_sum)^beta, square_sum over the channel window
//   [c - floor((size - 1) / 2), c + ceil((size - 1) / 2)] clipped to [0, C - 1].
class LrnKernel : public Kernel {
 public:
  explicit LrnKernel(const KernelInfo& info) : node_(info.node), lrn_(info.node) {}

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    OT_CHECK(x.rank() >= 2, "{}: input is {}; it must be [N, C, D1, ..., Dn]", node_.label(), x.describe());
    const NcsDims d = ncs_dims(x.shape());
    Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
    run_in_float_or_double(x, y, node_, [&](auto, const auto* xd, auto* yd) {
      lrn_ref(xd, d.n, d.c, d.s, lrn_.size, lrn_.alpha, lrn_.beta, lrn_.bias, yd);
    });
  }

 private:
  const Node& node_;
  const normalization::LrnAttributes lrn_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(normalization) {
  registry.add<BatchNormKernel>("BatchNormalization", {7, 9, 14, 15});
  registry.add<InstanceNormKernel>("InstanceNormalization", {6});
  registry.add<LayerNormKernel>("LayerNormalization", {17});
  registry.add<LrnKernel>("LRN", {1, 13});
}

}  // namespace onnx_train
