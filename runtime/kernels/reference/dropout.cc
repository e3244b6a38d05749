// Dropout (7, 10, 12, 13).
//
// Inference (Dropout-7/10, which have no training switch, and Dropout-12/13 unless the
// training_mode input is true, or the ratio is 0): output = data, a view without a copy;
// the optional mask is all true (Dropout-7: all ones of data's type).
//
// Training (Dropout-12/13 with training_mode true and ratio in (0, 1)): every element is
// kept with probability 1 - ratio, drawn from a counter-based generator (Philox4x32-10,
// random_ops_philox.h) keyed by the `seed` attribute (or a fixed default), whose position
// carries over from one run to the next:
//   element i of a run reads 32-bit word i % 4 of block first + i / 4, w ~ U{0 .. 2^32 - 1},
//   mask = w >= t with t = round(ratio * 2^32),  output = data * mask / (1 - ratio).
// Each element's draw depends only on its index, so the tensor is filled in parallel chunks
// with the same result at any thread count. The generator's position is the kernel's state
// (Kernel::state), saved in checkpoints.
//
// DropoutGrad (project domain, 1), Dropout's backward pass in one pass over the data:
//   inputs: dY, mask (bool, dY's shape: the forward node's mask), scale (a scalar of dY's
//   type: 1 / (1 - ratio) in training, else 1);  output: dX = mask ? dY * scale : 0.
#include <algorithm>
#include <cmath>
#include <sstream>
#include <type_traits>

#include "runtime/core/dispatch.h"
#include "runtime/core/parallel.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/reference/dropout_mask.h"
#include "runtime/kernels/reference/norm_ref.h"
#include "runtime/kernels/registry.h"

namespace onnx_train {

namespace {

// The seed used when the node has no `seed` attribute.
constexpr int64_t kDefaultDropoutSeed = 0x0d70;

class DropoutKernel : public Kernel {
 public:
  explicit DropoutKernel(const KernelInfo& info)
      : node_(info.node),
        ratio_attr_(info.node.attr_float("ratio", 0.5f)),
        stream_(static_cast<uint64_t>(info.node.attr_int("seed", kDefaultDropoutSeed))) {
    if (node_.since_version < 12)
      OT_CHECK(ratio_attr_ >= 0.f && ratio_attr_ < 1.f, "{}: ratio {} is out of range; it must be in [0, 1)",
               node_.label(), ratio_attr_);
  }

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    OT_CHECK(dtype_is_float(x.dtype()), "{}: data is {}; Dropout takes a floating-point tensor", node_.label(),
             x.describe());
    const bool training = node_.since_version >= 12 && training_mode(ctx);
    const double ratio = node_.since_version >= 12 ? ratio_input(ctx) : ratio_attr_;
    if (!training || ratio == 0) {
      ctx.set_output(0, x);
      if (ctx.output_wanted(1)) fill_all_kept_mask(ctx, x);
      return;
    }
    // Both written element by element below, every chunk whole.
    Tensor& y = ctx.allocate_output_to_overwrite(0, x.dtype(), x.shape());
    bool* mask =
        ctx.output_wanted(1) ? ctx.allocate_output_to_overwrite(1, DType::Bool, x.shape()).data<bool>() : nullptr;
    const int64_t n = x.numel();
    const uint64_t first = stream_.take(static_cast<uint64_t>(n + 3) / 4);
    const uint32_t threshold = dropout_threshold(ratio);
    visit_float(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = compute_t<T>;
      const C scale = static_cast<C>(1.0 / (1.0 - ratio));
      const T* in = x.data<T>();
      T* out = y.data<T>();
      // Chunks of whole blocks: chunk c holds elements [c * kDropoutChunk, ...).
      const int64_t chunks = (n + kDropoutChunk - 1) / kDropoutChunk;
      parallel_for(
          chunks,
          [&](int64_t c) {
            const int64_t begin = c * kDropoutChunk, count = std::min(kDropoutChunk, n - begin);
            uint32_t words[kDropoutChunk];
            philox_words(stream_.key(), first + static_cast<uint64_t>(begin / 4), (count + 3) / 4, words);
            bool keep[kDropoutChunk];
            if constexpr (std::is_same_v<T, float>) {
              dropout_chunk_f32(words, threshold, scale, in + begin, out + begin, keep, count);
            } else {
              for (int64_t i = 0; i < count; ++i) {
                keep[i] = words[i] >= threshold;
                out[begin + i] = keep[i] ? from_compute<T>(to_compute(in[begin + i]) * scale) : from_compute<T>(C(0));
              }
            }
            if (mask != nullptr) std::copy(keep, keep + count, mask + begin);
          },
          kParallelMinCheapElements / kDropoutChunk);
    });
  }

  // "philox BLOCK": the generator's position (the key comes from the node's seed).
  std::string state() const override { return "philox " + std::to_string(stream_.position()); }

  void set_state(const std::string& state) override {
    std::istringstream in(state);
    std::string tag;
    uint64_t block = 0;
    in >> tag >> block;
    // NOTE: older checkpoints saved a Mersenne-Twister state; such a state resumes with
    // fresh masks from a position of its own (its hash) instead of failing.
    if (tag != "philox" || in.fail()) block = seed_from_name(state) >> 16;
    stream_.seek(block);
  }

 private:
  bool training_mode(const KernelContext& ctx) const {
    if (!ctx.has_input(2)) return false;
    const Tensor& t = ctx.input(2);
    OT_CHECK(t.dtype() == DType::Bool && t.numel() == 1, "{}: training_mode is {}; it must be a bool scalar",
             node_.label(), t.describe());
    return t.data<bool>()[0];
  }

  double ratio_input(const KernelContext& ctx) const {
    if (!ctx.has_input(1)) return 0.5;
    const Tensor& r = ctx.input(1);
    OT_CHECK(dtype_is_float(r.dtype()) && r.numel() == 1, "{}: ratio is {}; it must be a floating-point scalar",
             node_.label(), r.describe());
    const double ratio = r.to_doubles()[0];
    OT_CHECK(ratio >= 0 && ratio < 1, "{}: ratio {} is out of range; it must be in [0, 1)", node_.label(), ratio);
    return ratio;
  }

  // The mask when nothing is dropped: bool true (Dropout-10+) or ones of data's type (Dropout-7).
  void fill_all_kept_mask(KernelContext& ctx, const Tensor& x) const {
    if (node_.since_version >= 10) {
      bool* m = ctx.allocate_output(1, DType::Bool, x.shape()).data<bool>();
      std::fill(m, m + x.numel(), true);
      return;
    }
    Tensor& mask = ctx.allocate_output(1, x.dtype(), x.shape());
    visit_float(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* m = mask.data<T>();
      std::fill(m, m + x.numel(), from_compute<T>(1.0f));
    });
  }

  const Node& node_;
  const float ratio_attr_;  // Dropout-7/10 only (12+ takes the ratio as an input)
  PhiloxStream stream_;
};

class DropoutGradKernel : public Kernel {
 public:
  explicit DropoutGradKernel(const KernelInfo& info) : node_(info.node) {}

  void run(KernelContext& ctx) override {
    const Tensor& dy = ctx.input(0);
    const Tensor& mask = ctx.input(1);
    const Tensor& scale = ctx.input(2);
    OT_CHECK(dtype_is_float(dy.dtype()) && mask.dtype() == DType::Bool && mask.shape() == dy.shape(),
             "{}: dY {} and mask {} must be a floating-point tensor and a bool tensor of its shape", node_.label(),
             dy.describe(), mask.describe());
    OT_CHECK(scale.numel() == 1, "{}: scale {} must be a scalar", node_.label(), scale.describe());
    Tensor& dx = ctx.allocate_output(0, dy.dtype(), dy.shape());
    const bool* keep = mask.data<bool>();
    const int64_t n = dy.numel();
    visit_float(dy.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = compute_t<T>;
      const auto s = static_cast<C>(scale.to_doubles()[0]);
      const T* in = dy.data<T>();
      T* out = dx.data<T>();
      parallel_for((n + kDropoutChunk - 1) / kDropoutChunk,
                   [&](int64_t c) {
                     const int64_t begin = c * kDropoutChunk, count = std::min(kDropoutChunk, n - begin);
                     if constexpr (std::is_same_v<T, float>) {
                       dropout_grad_chunk_f32(in + begin, keep + begin, s, out + begin, count);
                     } else {
                       for (int64_t i = begin; i < begin + count; ++i)
                         out[i] = keep[i] ? from_compute<T>(to_compute(in[i]) * s) : from_compute<T>(C(0));
                     }
                   },
                   kParallelMinCheapElements / kDropoutChunk);
    });
  }

 private:
  const Node& node_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(dropout) {
  registry.add<DropoutKernel>("Dropout", {7, 10, 12, 13});
  registry.add<DropoutGradKernel>("DropoutGrad", {1}, kProjectDomain);
}

}  // namespace onnx_train
