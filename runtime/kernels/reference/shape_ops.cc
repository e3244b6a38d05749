// Shape and data-movement ops: values are copied or viewed, never computed.
//
// This file has the ops that only change or report a shape (Identity, Reshape, Flatten,
// Squeeze, Unsqueeze: views, no copy; Shape, Size) and the ops that make a tensor from
// attributes and shape data (Constant, ConstantOfShape, Range, EyeLike). The copying ops
// are in shape_movement.cc.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <type_traits>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

// Identity: y = x, a view (no copy).
class IdentityKernel : public Kernel {
 public:
  explicit IdentityKernel(const KernelInfo&) {}
  void run(KernelContext& ctx) override { ctx.set_output(0, ctx.input(0)); }
};

// Constant: the tensor held in the node (value, or one of the value_* scalar/list forms).
class ConstantKernel : public Kernel {
 public:
  explicit ConstantKernel(const KernelInfo& info) {
    const Node& n = info.node;
    if (n.has_attr("value"))
      value_ = n.attr_tensor("value");
    else if (n.has_attr("value_float"))
      value_ = Tensor::scalar<float>(n.attr_float("value_float"));
    else if (n.has_attr("value_int"))
      value_ = Tensor::scalar<int64_t>(n.attr_int("value_int"));
    else if (n.has_attr("value_floats")) {
      auto v = n.attr_floats("value_floats");
      value_ = Tensor::from<float>({static_cast<int64_t>(v.size())}, v);
    } else if (n.has_attr("value_ints")) {
      auto v = n.attr_ints("value_ints");
      value_ = Tensor::from<int64_t>({static_cast<int64_t>(v.size())}, v);
    } else {
      OT_FAIL("{}: needs a 'value' attribute (string and sparse constants are not supported)", n.label());
    }
  }
  void run(KernelContext& ctx) override { ctx.set_output(0, value_); }

 private:
  Tensor value_;
};

// Reshape: a view of x with the shape given by the `shape` input. An entry -1 is inferred
// from the element count (at most one); an entry 0 copies x's dimension at that index,
// unless allowzero = 1 (opset 14) where 0 means an empty dimension.
class ReshapeKernel : public Kernel {
 public:
  explicit ReshapeKernel(const KernelInfo& info)
      : allow_zero_(info.node.since_version >= 14 && info.node.attr_int("allowzero", 0) != 0) {}
  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    const std::vector<int64_t> spec = ctx.input(1).to_int64s();
    Shape out(spec.size());
    // known: the product of the given entries, counted without its zeros so that an overflow is
    // found whatever their order (a hostile spec's entries can multiply past int64).
    int64_t inferred = -1, nonzero = 1;
    bool zero = false;
    for (size_t i = 0; i < spec.size(); ++i) {
      int64_t v = spec[i];
      if (v == -1) {
        OT_CHECK(inferred < 0, "{}: shape {} has more than one -1", node.label(), shape_str(spec));
        inferred = static_cast<int64_t>(i);
        continue;
      }
      if (v == 0 && !allow_zero_) {
        OT_CHECK(static_cast<int>(i) < x.rank(), "{}: shape {} has 0 at index {} but input {} has only rank {}",
                 node.label(), shape_str(spec), i, x.describe(), x.rank());
        v = x.shape()[i];
      }
      OT_CHECK(v >= 0, "{}: shape {} has the invalid entry {}", node.label(), shape_str(spec), v);
      out[i] = v;
      zero = zero || v == 0;
      OT_CHECK(!__builtin_mul_overflow(nonzero, v == 0 ? 1 : v, &nonzero),
               "{}: shape {} has more elements than int64 can count (input {})", node.label(), shape_str(spec),
               x.describe());
    }
    const int64_t known = zero ? 0 : nonzero;
    if (inferred >= 0) {
      OT_CHECK(known != 0 && x.numel() % known == 0, "{}: cannot infer the -1 in shape {} for input {}", node.label(),
               shape_str(spec), x.describe());
      out[static_cast<size_t>(inferred)] = x.numel() / known;
    }
    OT_CHECK(shape_numel(out) == x.numel(), "{}: cannot reshape input {} to {} (from shape {}): element counts differ",
             node.label(), x.describe(), shape_str(out), shape_str(spec));
    ctx.set_output(0, x.reshaped(out));
  }

 private:
  bool allow_zero_;
};

// Flatten: a view of x [d0, ..., dn] as [d0 * ... * d(axis-1), d(axis) * ... * dn].
class FlattenKernel : public Kernel {
 public:
  explicit FlattenKernel(const KernelInfo& info) : axis_(info.node.attr_int("axis", 1)) {
    // An axis out of range for an input of known rank is the model's fault: said while the
    // plan is built, not at the first step.
    const ValueInfo* x = info.input_infos.empty() ? nullptr : info.input_infos[0];
    if (x == nullptr || !x->shape) return;
    const auto rank = static_cast<int64_t>(x->shape->size());
    OT_CHECK(axis_ >= -rank && axis_ <= rank, "{}: axis {} is out of range [-{}, {}] for its rank-{} input '{}'",
             info.node.label(), axis_, rank, rank, rank, x->name);
  }
  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const int64_t rank = x.rank();
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    OT_CHECK(axis >= 0 && axis <= rank, "{}: axis {} is out of range [-{}, {}] for input {}", ctx.node().label(), axis_,
             rank, rank, x.describe());
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < rank; ++i) (i < axis ? outer : inner) *= x.shape()[static_cast<size_t>(i)];
    ctx.set_output(0, x.reshaped({outer, inner}));
  }

 private:
  int64_t axis_;
};

// Squeeze: a view of x without the listed size-1 axes (all size-1 axes when none are
// given). Axes: attribute before opset 13, optional input from 13.
class SqueezeKernel : public Kernel {
 public:
  explicit SqueezeKernel(const KernelInfo& info) {
    if (info.node.since_version < 13) axes_ = info.node.attr_ints("axes", {});
  }
  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    std::vector<int64_t> axes = axes_;
    if (ctx.node().since_version >= 13 && ctx.has_input(1)) axes = ctx.input(1).to_int64s();
    std::vector<bool> drop(x.shape().size(), false);
    if (axes.empty()) {
      for (size_t i = 0; i < drop.size(); ++i) drop[i] = x.shape()[i] == 1;
    }
    OT_CHECK(x.rank() > 0 || axes.empty(), "{}: cannot squeeze axes {} of the scalar {}", ctx.node().label(),
             shape_str(axes), x.describe());
    for (int64_t a : axes) {
      const size_t i = static_cast<size_t>(normalize_axis(a, x.rank(), "Squeeze axis"));
      OT_CHECK(x.shape()[i] == 1, "{}: cannot squeeze axis {} of input {}: its size is not 1", ctx.node().label(), a,
               x.describe());
      drop[i] = true;
    }
    Shape out;
    for (size_t i = 0; i < drop.size(); ++i)
      if (!drop[i]) out.push_back(x.shape()[i]);
    ctx.set_output(0, x.reshaped(out));
  }

 private:
  std::vector<int64_t> axes_;
};

// Unsqueeze: a view of x with size-1 axes inserted at `axes` (indices into the output,
// rank(x) + len(axes)). Axes: attribute before opset 13, input from 13.
class UnsqueezeKernel : public Kernel {
 public:
  explicit UnsqueezeKernel(const KernelInfo& info) {
    if (info.node.since_version < 13) axes_ = info.node.attr_ints("axes");
  }
  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const std::vector<int64_t> axes = ctx.node().since_version >= 13 ? ctx.input(1).to_int64s() : axes_;
    const int64_t out_rank = x.rank() + static_cast<int64_t>(axes.size());
    std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
    for (int64_t a : axes) {
      const size_t i = static_cast<size_t>(normalize_axis(a, out_rank, "Unsqueeze axis"));
      OT_CHECK(!inserted[i], "{}: axes {} lists axis {} twice", ctx.node().label(), shape_str(axes), i);
      inserted[i] = true;
    }
    Shape out;
    size_t next = 0;
    for (size_t i = 0; i < inserted.size(); ++i) out.push_back(inserted[i] ? 1 : x.shape()[next++]);
    ctx.set_output(0, x.reshaped(out));
  }

 private:
  std::vector<int64_t> axes_;
};

// Shape: the int64 vector x.shape[start:end] (start/end from opset 15; negative values
// count from the end, both clamped to [0, rank]).
class ShapeKernel : public Kernel {
 public:
  explicit ShapeKernel(const KernelInfo& info) {
    if (info.node.since_version >= 15) {
      start_ = info.node.attr_int("start", 0);
      if (info.node.has_attr("end")) end_ = info.node.attr_int("end");
    }
  }
  void run(KernelContext& ctx) override {
    const Shape& shape = ctx.input(0).shape();
    const int64_t rank = static_cast<int64_t>(shape.size());
    auto clamp_index = [rank](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank); };
    const int64_t start = clamp_index(start_);
    const int64_t end = end_ ? clamp_index(*end_) : rank;
    const int64_t n = std::max<int64_t>(0, end - start);
    Tensor& y = ctx.allocate_output(0, DType::Int64, {n});
    std::copy(shape.begin() + start, shape.begin() + start + n, y.data<int64_t>());
  }

 private:
  int64_t start_ = 0;
  std::optional<int64_t> end_;  // rank when absent
};

// Size: the int64 scalar element count of x.
class SizeKernel : public Kernel {
 public:
  explicit SizeKernel(const KernelInfo&) {}
  void run(KernelContext& ctx) override {
    Tensor& y = ctx.allocate_output(0, DType::Int64, {});
    y.data<int64_t>()[0] = ctx.input(0).numel();
  }
};

// Range: y[i] = start + i * delta for i < max(ceil((limit - start) / delta), 0); start,
// limit and delta are scalars of one type (float, double, int16, int32 or int64).
class RangeKernel : public Kernel {
 public:
  explicit RangeKernel(const KernelInfo&) {}
  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& start_t = ctx.input(0);
    const DType dtype = start_t.dtype();
    for (size_t i = 0; i < 3; ++i)
      OT_CHECK(ctx.input(i).numel() == 1 && ctx.input(i).dtype() == dtype,
               "{}: start, limit and delta must be scalars of one type; input {} is {} (start is {})", node.label(), i,
               ctx.input(i).describe(), start_t.describe());
    switch (dtype) {
      case DType::Float32: fill<float>(ctx); return;
      case DType::Float64: fill<double>(ctx); return;
      case DType::Int16: fill<int16_t>(ctx); return;
      case DType::Int32: fill<int32_t>(ctx); return;
      case DType::Int64: fill<int64_t>(ctx); return;
      default:
        OT_FAIL("{}: type {} is not supported (use float, double, int16, int32 or int64)", node.label(),
                dtype_name(dtype));
    }
  }

 private:
  template <typename T>
  static void fill(KernelContext& ctx) {
    const T start = ctx.input(0).data<T>()[0], limit = ctx.input(1).data<T>()[0], delta = ctx.input(2).data<T>()[0];
    OT_CHECK(delta != T(0), "{}: delta is 0", ctx.node().label());
    // The length max(ceil((limit - start) / delta), 0), computed where it cannot overflow: in
    // 128-bit integers for the integer types (int64 limit - start can take 65 bits), in double
    // for the float types, and refused past int64 before any allocation (the memory limit
    // refuses what is merely large).
    int64_t n;
    if constexpr (std::is_integral_v<T>) {
      const __int128 diff = static_cast<__int128>(limit) - static_cast<__int128>(start), d = delta;
      const __int128 count = d > 0 ? (diff > 0 ? (diff + d - 1) / d : 0) : (diff < 0 ? (diff + d + 1) / d : 0);
      OT_CHECK(count <= std::numeric_limits<int64_t>::max(), "{}: start {}, limit {}, delta {} give a length past 2^63",
               ctx.node().label(), static_cast<int64_t>(start), static_cast<int64_t>(limit), static_cast<int64_t>(delta));
      n = static_cast<int64_t>(count);
    } else {
      const double count = std::ceil((static_cast<double>(limit) - start) / delta);
      OT_CHECK(std::isfinite(count) && count < 9.2e18, "{}: start {}, limit {}, delta {} give no length below 2^63",
               ctx.node().label(), start, limit, delta);
      n = std::max<int64_t>(0, static_cast<int64_t>(count));
    }
    Tensor& y = ctx.allocate_output(0, dtype_of<T>(), {n});
    T* out = y.data<T>();
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (std::is_integral_v<T>)  // start + i * delta lies between start and limit: it fits T
        out[i] = static_cast<T>(static_cast<__int128>(start) + static_cast<__int128>(i) * delta);
      else
        out[i] = static_cast<T>(start + static_cast<double>(i) * delta);
    }
  }
};

// ConstantOfShape: a tensor of the shape given by the int64 input, every element equal to
// the one-element `value` attribute (default float32 0).
class ConstantOfShapeKernel : public Kernel {
 public:
  explicit ConstantOfShapeKernel(const KernelInfo& info) {
    const Node& n = info.node;
    value_ = n.has_attr("value") ? n.attr_tensor("value") : Tensor::scalar<float>(0.0f);
    OT_CHECK(value_.numel() == 1, "{}: value {} must hold exactly one element", n.label(), value_.describe());
  }
  void run(KernelContext& ctx) override {
    const Shape shape = ctx.input(0).to_int64s();
    for (int64_t d : shape)
      OT_CHECK(d >= 0, "{}: shape {} has a negative dimension", ctx.node().label(), shape_str(shape));
    Tensor& y = ctx.allocate_output(0, value_.dtype(), shape);
    const size_t elem = dtype_size(value_.dtype());
    char* out = static_cast<char*>(y.raw_data());
    for (int64_t i = 0; i < y.numel(); ++i) std::memcpy(out + i * static_cast<int64_t>(elem), value_.raw_data(), elem);
  }

 private:
  Tensor value_;
};

// EyeLike: a 2-D tensor shaped like x with ones where column - row == k, zeros elsewhere;
// its type is the `dtype` attribute, else x's type.
class EyeLikeKernel : public Kernel {
 public:
  explicit EyeLikeKernel(const KernelInfo& info) : k_(info.node.attr_int("k", 0)) {
    if (info.node.has_attr("dtype")) {
      dtype_ = static_cast<DType>(info.node.attr_int("dtype"));
      OT_CHECK(dtype_is_supported(dtype_), "{}: dtype {} is not supported", info.node.label(), dtype_name(dtype_));
    }
  }
  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    OT_CHECK(x.rank() == 2, "{}: input {} must be 2-D", ctx.node().label(), x.describe());
    const DType dtype = dtype_ == DType::Undefined ? x.dtype() : dtype_;
    Tensor& y = ctx.allocate_output(0, dtype, x.shape());
    const int64_t rows = x.shape()[0], cols = x.shape()[1];
    visit_dtype(dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* out = y.data<T>();
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t j = i + k_;
        if (j >= 0 && j < cols) out[i * cols + j] = from_compute<T>(1);
      }
    });
  }

 private:
  int64_t k_;
  DType dtype_ = DType::Undefined;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(shape) {
  registry.add<IdentityKernel>("Identity", {1, 13, 14, 16});
  registry.add<ConstantKernel>("Constant", {1, 9, 11, 12, 13});
  registry.add<ReshapeKernel>("Reshape", {5, 13, 14});
  registry.add<FlattenKernel>("Flatten", {1, 9, 11, 13});
  registry.add<SqueezeKernel>("Squeeze", {1, 11, 13});
  registry.add<UnsqueezeKernel>("Unsqueeze", {1, 11, 13});
  registry.add<ShapeKernel>("Shape", {1, 13, 15});
  registry.add<SizeKernel>("Size", {1, 13});
  registry.add<RangeKernel>("Range", {11});
  registry.add<ConstantOfShapeKernel>("ConstantOfShape", {9});
  registry.add<EyeLikeKernel>("EyeLike", {9});
}

}  // namespace onnx_train
