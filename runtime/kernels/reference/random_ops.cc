// Random-number ops (default domain): RandomUniform-1, RandomNormal-1, RandomUniformLike-1,
// RandomNormalLike-1, Bernoulli-15, Multinomial-7.
//
// Generator: Philox4x32-10 (random_ops_philox.h), one stream per kernel. Its key comes from
// the node's `seed` attribute when given, else from a hash of the node's first output name
// (fixed when the kernel is built: reproducible from session to session, and different for
// two unseeded nodes of a graph). The stream position carries over from one run to the
// next, so each step draws fresh numbers; a new session replays the same sequence.
// Element i of an output takes its bits from block (first block of the run + i / 2), so the
// values do not depend on the order they are computed in.
//
// ONNX leaves the generator to the runtime: no runtime reproduces the numbers of another
// (ONNX's own test data come from numpy's generator), only their distribution.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/reference/random_ops_philox.h"

namespace onnx_train {

namespace {

constexpr double kTwoPi = 6.283185307179586476925286766559;

// Significand bits of an output type: uniform draws for it use that many random bits.
template <typename T>
constexpr int significand_bits() {
  if constexpr (std::is_same_v<T, float>)
    return 24;
  else if constexpr (std::is_same_v<T, Float16>)
    return 11;
  else if constexpr (std::is_same_v<T, BFloat16>)
    return 8;
  else
    return 53;
}

// Calls emit(i, u) for i in [0, n) with u uniform in [0, 1) on a 2^-bits grid; reserves
// ceil(n / 2) blocks of the stream (two 64-bit draws per block).
template <typename Emit>
void draw_uniforms(PhiloxStream& stream, int64_t n, int bits, Emit&& emit) {
  const uint64_t blocks = static_cast<uint64_t>(n + 1) / 2;
  const uint64_t first = stream.take(blocks);
  for (uint64_t b = 0; b < blocks; ++b) {
    const PhiloxCounter w = stream.block(first + b);
    const auto i = static_cast<int64_t>(2 * b);
    emit(i, unit_uniform(w[0], w[1], bits));
    if (i + 1 < n) emit(i + 1, unit_uniform(w[2], w[3], bits));
  }
}

// Calls emit(i, z) for i in [0, n) with z standard normal, by the Box-Muller transform: block
// k gives u1 in (0, 1] and u2 in [0, 1), and elements 2k, 2k+1 get
//   z = sqrt(-2 ln u1) * (cos, sin)(2 pi u2).
template <typename Emit>
void draw_normals(PhiloxStream& stream, int64_t n, Emit&& emit) {
  const uint64_t blocks = static_cast<uint64_t>(n + 1) / 2;
  const uint64_t first = stream.take(blocks);
  for (uint64_t b = 0; b < blocks; ++b) {
    const PhiloxCounter w = stream.block(first + b);
    const double u1 = 1.0 - unit_uniform(w[0], w[1]);
    const double u2 = unit_uniform(w[2], w[3]);
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const auto i = static_cast<int64_t>(2 * b);
    emit(i, radius * std::cos(kTwoPi * u2));
    if (i + 1 < n) emit(i + 1, radius * std::sin(kTwoPi * u2));
  }
}

// The seed of a kernel's stream: the `seed` attribute, else the node's own (see the top).
uint64_t kernel_seed(const Node& node) {
  if (node.has_attr("seed")) return seed_from_attribute(node.attr_float("seed"));
  return seed_from_name(node.outputs.empty() ? node.name : node.outputs[0]);
}

// The `dtype` attribute as a DType, checked to be a type a tensor can hold.
DType dtype_attribute(const Node& node) {
  const int64_t code = node.attr_int("dtype");
  const auto dtype = static_cast<DType>(code);
  OT_CHECK(dtype_is_supported(dtype), "{}: dtype {} ({}) is not a supported tensor element type", node.label(), code,
           dtype_name(dtype));
  return dtype;
}

// The Random* ops produce float16, float32 or float64 only.
void check_random_output_dtype(const Node& node, DType dtype, const char* source) {
  OT_CHECK(dtype == DType::Float16 || dtype == DType::Float32 || dtype == DType::Float64,
           "{}: the output type ({}) is {}; {} produces float16, float32 or float64 (set the 'dtype' attribute)",
           node.label(), source, dtype_name(dtype), node.op_type);
}

enum class Distribution { Uniform, Normal };

// RandomUniform / RandomNormal (shape from the `shape` attribute) and RandomUniformLike /
// RandomNormalLike (shape, and type unless `dtype` is set, from the input):
//   uniform: y = low + (high - low) * u,  u ~ U[0, 1)   (attributes low = 0, high = 1)
//   normal:  y = mean + scale * z,        z ~ N(0, 1)   (attributes mean = 0, scale = 1)
// Output type: `dtype` (default float32 for RandomUniform/RandomNormal); float16/32/64.
class RandomFillKernel : public Kernel {
 public:
  RandomFillKernel(const KernelInfo& info, Distribution distribution, bool like)
      : node_(info.node), distribution_(distribution), like_(like), stream_(kernel_seed(info.node)) {
    const Node& n = info.node;
    if (distribution_ == Distribution::Uniform) {
      a_ = n.attr_float("low", 0.f);
      b_ = n.attr_float("high", 1.f);
      OT_CHECK(std::isfinite(a_) && std::isfinite(b_) && a_ <= b_,
               "{}: low = {} and high = {} must be finite with low <= high", n.label(), a_, b_);
    } else {
      a_ = n.attr_float("mean", 0.f);
      b_ = n.attr_float("scale", 1.f);
      OT_CHECK(std::isfinite(a_) && std::isfinite(b_) && b_ >= 0,
               "{}: mean = {} and scale = {} must be finite with scale >= 0 (scale is a standard deviation)", n.label(),
               a_, b_);
    }
    if (!like_) {
      shape_ = n.attr_ints("shape");
      for (int64_t d : shape_) OT_CHECK(d >= 0, "{}: shape {} has a negative dimension", n.label(), shape_str(shape_));
      dtype_ = n.has_attr("dtype") ? dtype_attribute(n) : DType::Float32;
      check_random_output_dtype(n, dtype_, "the 'dtype' attribute");
    } else if (n.has_attr("dtype")) {
      dtype_ = dtype_attribute(n);
      check_random_output_dtype(n, dtype_, "the 'dtype' attribute");
    } else if (info.input_dtype(0) != DType::Undefined) {
      check_random_output_dtype(n, info.input_dtype(0), "the input's type, as 'dtype' is not set");
    }
  }

  void run(KernelContext& ctx) override {
    Shape shape = shape_;
    DType dtype = dtype_;
    if (like_) {
      const Tensor& x = ctx.input(0);
      shape = x.shape();
      if (dtype == DType::Undefined) {
        dtype = x.dtype();
        check_random_output_dtype(node_, dtype, "the input's type, as 'dtype' is not set");
      }
    }
    Tensor& y = ctx.allocate_output(0, dtype, shape);
    visit_float(dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* out = y.data<T>();
      if (distribution_ == Distribution::Uniform)
        draw_uniforms(stream_, y.numel(), significand_bits<T>(),
                      [&](int64_t i, double u) { out[i] = uniform_value<T>(u); });
      else
        draw_normals(stream_, y.numel(), [&](int64_t i, double z) { out[i] = from_compute<T>(a_ + b_ * z); });
    });
  }

 private:
  // low + (high - low) * u in T, kept below high where rounding to T would reach it.
  template <typename T>
  T uniform_value(double u) const {
    T value = from_compute<T>(a_ + (b_ - a_) * u);
    if constexpr (std::is_floating_point_v<T>) {
      if (value >= static_cast<T>(b_) && a_ < b_) value = std::nextafter(static_cast<T>(b_), static_cast<T>(a_));
    }
    return value;
  }

  const Node& node_;
  const Distribution distribution_;
  const bool like_;
  double a_ = 0, b_ = 0;            // low, high (uniform) or mean, scale (normal)
  Shape shape_;                     // RandomUniform / RandomNormal
  DType dtype_ = DType::Undefined;  // Undefined: the input's (the *Like ops without 'dtype')
  PhiloxStream stream_;
};

// Bernoulli-15: y[i] = 1 with probability p[i], else 0 (y[i] = u[i] < p[i], u ~ U[0, 1)).
// Input: probabilities in [0, 1] (float16/32/64, any shape). Output: same shape, type
// `dtype` if set (any numeric type or bool) else the input's.
// (This follows the operator's documentation; the function body ONNX 1.12 gives Bernoulli,
// Cast(Greater(RandomUniformLike(p), p)), would give 1 with probability 1 - p.)
class BernoulliKernel : public Kernel {
 public:
  explicit BernoulliKernel(const KernelInfo& info) : node_(info.node), stream_(kernel_seed(info.node)) {
    if (node_.has_attr("dtype")) dtype_ = dtype_attribute(node_);
  }

  void run(KernelContext& ctx) override {
    const Tensor& p = ctx.input(0);
    OT_CHECK(dtype_is_float(p.dtype()), "{}: input is {}; Bernoulli takes floating-point probabilities", node_.label(),
             p.describe());
    const DType out_dtype = dtype_ == DType::Undefined ? p.dtype() : dtype_;
    Tensor& y = ctx.allocate_output(0, out_dtype, p.shape());
    visit_float(p.dtype(), [&](auto in_tag) {
      using P = typename decltype(in_tag)::type;
      const P* prob = p.data<P>();
      for (int64_t i = 0; i < p.numel(); ++i) {
        const double pi = static_cast<double>(to_compute(prob[i]));
        OT_CHECK(pi >= 0 && pi <= 1, "{}: input {} has the value {} at index {}; probabilities must be in [0, 1]",
                 node_.label(), p.describe(), pi, i);
      }
      visit_dtype(out_dtype, [&](auto out_tag) {
        using T = typename decltype(out_tag)::type;
        T* out = y.data<T>();
        const T one = from_compute<T>(1), zero = from_compute<T>(0);
        draw_uniforms(stream_, p.numel(), 53,
                      [&](int64_t i, double u) { out[i] = u < static_cast<double>(to_compute(prob[i])) ? one : zero; });
      });
    });
  }

 private:
  const Node& node_;
  DType dtype_ = DType::Undefined;  // Undefined: the input's
  PhiloxStream stream_;
};

// Multinomial-7: input [batch, classes] of unnormalized log-probabilities x (float16/32/64);
// output [batch, sample_size] of class indices (int32 by default, or int64 per `dtype`),
// each drawn independently with P(class j) = exp(x[b, j]) / sum_k exp(x[b, k]).
// Drawing: u ~ U[0, 1), the first class j whose cumulative weight exceeds u * total.
class MultinomialKernel : public Kernel {
 public:
  explicit MultinomialKernel(const KernelInfo& info)
      : node_(info.node), sample_size_(info.node.attr_int("sample_size", 1)), stream_(kernel_seed(info.node)) {
    OT_CHECK(sample_size_ >= 1, "{}: sample_size is {}; it must be at least 1", node_.label(), sample_size_);
    if (node_.has_attr("dtype")) dtype_ = dtype_attribute(node_);
    OT_CHECK(dtype_ == DType::Int32 || dtype_ == DType::Int64, "{}: dtype is {}; Multinomial produces int32 or int64",
             node_.label(), dtype_name(dtype_));
  }

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    OT_CHECK(dtype_is_float(x.dtype()) && x.rank() == 2 && x.dim(1) >= 1,
             "{}: input is {}; Multinomial takes a floating-point [batch, classes] tensor with classes >= 1",
             node_.label(), x.describe());
    const int64_t batch = x.dim(0), classes = x.dim(1);
    Tensor& y = ctx.allocate_output(0, dtype_, {batch, sample_size_});
    cumulative_.resize(static_cast<size_t>(classes));
    const uint64_t first_block = stream_.take(static_cast<uint64_t>(batch * sample_size_ + 1) / 2);
    visit_float(x.dtype(), [&](auto in_tag) {
      using X = typename decltype(in_tag)::type;
      visit_integer(dtype_, [&](auto out_tag) {
        using I = typename decltype(out_tag)::type;
        for (int64_t b = 0; b < batch; ++b) {
          const double total = cumulative_weights(x.data<X>() + b * classes, classes, b);
          I* out = y.data<I>() + b * sample_size_;
          for (int64_t s = 0; s < sample_size_; ++s) {
            const int64_t draw = b * sample_size_ + s;
            const PhiloxCounter w = stream_.block(first_block + static_cast<uint64_t>(draw / 2));
            const double u = draw % 2 == 0 ? unit_uniform(w[0], w[1]) : unit_uniform(w[2], w[3]);
            out[s] = static_cast<I>(pick_class(u * total));
          }
        }
      });
    });
  }

 private:
  // Fills cumulative_ with the running sums of exp(x[j] - max x) and returns the total.
  template <typename X>
  double cumulative_weights(const X* logits, int64_t classes, int64_t row) {
    double max_logit = -INFINITY;
    for (int64_t j = 0; j < classes; ++j) {
      const double v = static_cast<double>(to_compute(logits[j]));
      OT_CHECK(!std::isnan(v) && v != INFINITY, "{}: row {} has the log-probability {} (class {}); it must be < +inf",
               node_.label(), row, v, j);
      max_logit = std::max(max_logit, v);
    }
    OT_CHECK(max_logit > -INFINITY, "{}: every class of row {} has log-probability -inf: nothing can be drawn",
             node_.label(), row);
    double sum = 0;
    for (int64_t j = 0; j < classes; ++j) {
      sum += std::exp(static_cast<double>(to_compute(logits[j])) - max_logit);
      cumulative_[static_cast<size_t>(j)] = sum;
    }
    return sum;
  }

  // The first class whose cumulative weight exceeds target (classes of weight 0 never are);
  // the last class of positive weight if rounding puts target at the total.
  int64_t pick_class(double target) const {
    auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), target);
    if (it == cumulative_.end()) it = std::lower_bound(cumulative_.begin(), cumulative_.end(), cumulative_.back());
    return it - cumulative_.begin();
  }

  const Node& node_;
  const int64_t sample_size_;
  DType dtype_ = DType::Int32;
  PhiloxStream stream_;
  std::vector<double> cumulative_;  // per row, reused across rows and runs
};

template <Distribution D, bool Like>
std::unique_ptr<Kernel> make_random_fill(const KernelInfo& info) {
  return std::make_unique<RandomFillKernel>(info, D, Like);
}

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(random) {
  registry.add("RandomUniform", {1}, make_random_fill<Distribution::Uniform, false>);
  registry.add("RandomNormal", {1}, make_random_fill<Distribution::Normal, false>);
  registry.add("RandomUniformLike", {1}, make_random_fill<Distribution::Uniform, true>);
  registry.add("RandomNormalLike", {1}, make_random_fill<Distribution::Normal, true>);
  registry.add<BernoulliKernel>("Bernoulli", {15});
  registry.add<MultinomialKernel>("Multinomial", {7});
}

}  // namespace onnx_train
