// Dropout (7, 10, 12, 13).
//
// Inference (Dropout-7/10, which have no training switch, and Dropout-12/13 unless the
// training_mode input is true, or the ratio is 0): output = data, a view without a copy;
// the optional mask is all true (Dropout-7: all ones of data's type).
//
// Training (Dropout-12/13 with training_mode true and ratio in (0, 1)): every element is
// kept with probability 1 - ratio, drawn from a deterministic generator seeded by the
// `seed` attribute (or a fixed default), whose state carries over from one run to the next:
//   mask = u >= ratio with u ~ U[0, 1),  output = data * mask / (1 - ratio).
// The generator's state is the kernel's state (Kernel::state), saved in checkpoints.
#include <algorithm>
#include <random>
#include <sstream>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/reference/norm_ref.h"

namespace onnx_train {

namespace {

// The seed used when the node has no `seed` attribute.
constexpr int64_t kDefaultDropoutSeed = 0x0d70;

class DropoutKernel : public Kernel {
 public:
  explicit DropoutKernel(const KernelInfo& info)
      : node_(info.node),
        ratio_attr_(info.node.attr_float("ratio", 0.5f)),
        rng_(static_cast<uint64_t>(info.node.attr_int("seed", kDefaultDropoutSeed))) {
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
    Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
    bool* mask = ctx.output_wanted(1) ? ctx.allocate_output(1, DType::Bool, x.shape()).data<bool>() : nullptr;
    visit_float(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = compute_t<T>;
      const C scale = static_cast<C>(1.0 / (1.0 - ratio));
      const T* in = x.data<T>();
      T* out = y.data<T>();
      for (int64_t i = 0; i < x.numel(); ++i) {
        const bool keep = uniform() >= ratio;
        out[i] = keep ? from_compute<T>(to_compute(in[i]) * scale) : from_compute<T>(C(0));
        if (mask != nullptr) mask[i] = keep;
      }
    });
  }

  std::string state() const override {
    std::ostringstream out;
    out << rng_;
    return out.str();
  }

  void set_state(const std::string& state) override {
    std::istringstream in(state);
    std::mt19937_64 restored;
    in >> restored;
    OT_CHECK(!in.fail(), "{}: the saved random-generator state is not valid", node_.label());
    rng_ = restored;
  }

 private:
  // A uniform draw in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

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
  std::mt19937_64 rng_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(dropout) { registry.add<DropoutKernel>("Dropout", {7, 10, 12, 13}); }

}  // namespace onnx_train
