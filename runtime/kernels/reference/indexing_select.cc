// Indexing ops that select or order elements along an axis: TopK, ArgMax, ArgMin, CumSum,
// NonZero, Compress and ReverseSequence. NaN orders above every number in TopK (numpy's sort
// puts it last); ArgMax and ArgMin both pick a NaN, as numpy's argmax and argmin do.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/reference/indexing_common.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

using indexing::dims_product;
using indexing::read_indices;
using indexing::resolve_axis;

// Rejects a statically known bool input 0 when the kernel is built (these ops need numbers).
void check_numeric_input(const KernelInfo& info) {
  OT_CHECK(info.input_dtype(0) != DType::Bool, "{}: input 0 is bool, but {} needs a numeric tensor", info.node.label(),
           info.node.op_type);
}

// a > b, with NaN above every number and equal to NaN (a strict weak order).
template <typename C>
bool greater_with_nan(C a, C b) {
  const bool a_nan = a != a, b_nan = b != b;  // NOLINT: the NaN test, false for integers
  if (a_nan || b_nan) return a_nan && !b_nan;
  return a > b;
}

// TopK: x [..., n, ...] (axis a), k -> values and int64 indices, both [..., k, ...]:
// the k largest (largest = 1) or smallest elements along the axis, in order (ties: the
// lower index first). k is an attribute in TopK-1 and a one-element int64 input from 10;
// largest and sorted come with TopK-11 (the output is always sorted here, which
// sorted = 0 allows).
class TopKKernel : public Kernel {
 public:
  explicit TopKKernel(const KernelInfo& info) : axis_(info.node.attr_int("axis", -1)) {
    check_numeric_input(info);
    const Node& node = info.node;
    if (node.since_version < 10) {
      k_ = node.attr_int("k");
      OT_CHECK(k_ >= 0, "{}: k = {} must be >= 0", node.label(), k_);
    }
    if (node.since_version >= 11) largest_ = node.attr_int("largest", 1) != 0;
  }
  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    int64_t k = k_;
    if (node.since_version >= 10) {
      const Tensor& k_tensor = ctx.input(1);
      OT_CHECK(k_tensor.numel() == 1, "{}: K {} must hold one value", node.label(), k_tensor.describe());
      k = read_indices(k_tensor, node, "K")[0];
    }
    const size_t axis = static_cast<size_t>(resolve_axis(axis_, x.rank(), x, node));
    const int64_t n = x.shape()[axis];
    OT_CHECK(k >= 0 && k <= n, "{}: k = {} is out of range [0, {}] for input {} along axis {}", node.label(), k, n,
             x.describe(), axis);
    Shape out_shape = x.shape();
    out_shape[axis] = k;
    Tensor& values = ctx.allocate_output(0, x.dtype(), out_shape);
    Tensor indices =
        ctx.output_wanted(1) ? ctx.allocate_output(1, DType::Int64, out_shape) : Tensor(DType::Int64, out_shape);
    const int64_t outer = dims_product(x.shape(), 0, axis);
    const int64_t inner = dims_product(x.shape(), axis + 1, x.shape().size());
    visit_numeric(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = compute_t<T>;
      const T* src = x.data<T>();
      T* out_values = values.data<T>();
      int64_t* out_indices = indices.data<int64_t>();
      std::vector<C> row(static_cast<size_t>(n));
      std::vector<int64_t> order(static_cast<size_t>(n));
      const auto before = [&](int64_t i, int64_t j) {
        const C a = row[static_cast<size_t>(i)], b = row[static_cast<size_t>(j)];
        if (largest_ ? greater_with_nan(a, b) : greater_with_nan(b, a)) return true;
        if (largest_ ? greater_with_nan(b, a) : greater_with_nan(a, b)) return false;
        return i < j;
      };
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          const T* line = src + o * n * inner + i;
          for (int64_t j = 0; j < n; ++j) row[static_cast<size_t>(j)] = to_compute(line[j * inner]);
          std::iota(order.begin(), order.end(), int64_t{0});
          std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
          for (int64_t j = 0; j < k; ++j) {
            const int64_t at = o * k * inner + j * inner + i;
            const int64_t from = order[static_cast<size_t>(j)];
            out_values[at] = line[from * inner];
            out_indices[at] = from;
          }
        }
    });
  }

 private:
  int64_t axis_;
  int64_t k_ = 0;
  bool largest_ = true;
};

// ArgMax / ArgMin: x [..., n, ...] -> int64 [..., 1, ...] (keepdims = 1) or the shape
// without the axis: the index of the largest / smallest element along the axis; among
// equal ones the first, or the last with select_last_index = 1 (opset 12).
class ArgExtremeKernel : public Kernel {
 public:
  explicit ArgExtremeKernel(const KernelInfo& info)
      : axis_(info.node.attr_int("axis", 0)),
        keepdims_(info.node.attr_int("keepdims", 1) != 0),
        select_last_(info.node.since_version >= 12 && info.node.attr_int("select_last_index", 0) != 0),
        is_max_(info.node.op_type == "ArgMax") {
    check_numeric_input(info);
  }
  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    const size_t axis = static_cast<size_t>(resolve_axis(axis_, x.rank(), x, node));
    const int64_t n = x.shape()[axis];
    OT_CHECK(n > 0, "{}: input {} is empty along axis {}: there is no {}", node.label(), x.describe(), axis,
             is_max_ ? "maximum" : "minimum");
    Shape out_shape = x.shape();
    if (keepdims_)
      out_shape[axis] = 1;
    else
      out_shape.erase(out_shape.begin() + static_cast<std::ptrdiff_t>(axis));
    Tensor& out = ctx.allocate_output(0, DType::Int64, out_shape);
    const int64_t outer = dims_product(x.shape(), 0, axis);
    const int64_t inner = dims_product(x.shape(), axis + 1, x.shape().size());
    visit_numeric(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = compute_t<T>;
      const T* src = x.data<T>();
      int64_t* dst = out.data<int64_t>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          const T* line = src + o * n * inner + i;
          int64_t best = 0;
          C best_value = to_compute(line[0]);
          for (int64_t j = 1; j < n; ++j) {
            const C v = to_compute(line[j * inner]);
            // A NaN beats every number for both ops (as numpy's argmax and argmin).
            const bool v_nan = v != v, best_nan = best_value != best_value;  // NOLINT: NaN tests
            bool better, tied;
            if (v_nan || best_nan) {
              better = v_nan && !best_nan;
              tied = v_nan && best_nan;
            } else {
              better = is_max_ ? v > best_value : v < best_value;
              tied = v == best_value;
            }
            if (better || (tied && select_last_)) {
              best = j;
              best_value = v;
            }
          }
          dst[o * inner + i] = best;
        }
    });
  }

 private:
  int64_t axis_;
  bool keepdims_;
  bool select_last_;
  bool is_max_;
};

// CumSum: x [..., n, ...] and a scalar int32/int64 axis input; out has x's shape:
//   out[..., j, ...] = sum of x[..., i, ...] over i <= j   (i < j with exclusive = 1;
//   i >= j / i > j with reverse = 1). Half types accumulate in float.
class CumSumKernel : public Kernel {
 public:
  explicit CumSumKernel(const KernelInfo& info)
      : exclusive_(info.node.attr_int("exclusive", 0) != 0), reverse_(info.node.attr_int("reverse", 0) != 0) {
    check_numeric_input(info);
  }
  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    const Tensor& axis_tensor = ctx.input(1);
    OT_CHECK(axis_tensor.numel() == 1, "{}: axis {} must be a scalar", node.label(), axis_tensor.describe());
    const int64_t axis_value = read_indices(axis_tensor, node, "axis")[0];
    const size_t axis = static_cast<size_t>(resolve_axis(axis_value, x.rank(), x, node));
    Tensor& out = ctx.allocate_output(0, x.dtype(), x.shape());
    const int64_t n = x.shape()[axis];
    const int64_t outer = dims_product(x.shape(), 0, axis);
    const int64_t inner = dims_product(x.shape(), axis + 1, x.shape().size());
    visit_numeric(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* src = x.data<T>();
      T* dst = out.data<T>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          const int64_t base = o * n * inner + i;
          compute_t<T> sum{};
          for (int64_t step = 0; step < n; ++step) {
            const int64_t at = base + (reverse_ ? n - 1 - step : step) * inner;
            if (exclusive_) {
              dst[at] = from_compute<T>(sum);
              sum += to_compute(src[at]);
            } else {
              sum += to_compute(src[at]);
              dst[at] = from_compute<T>(sum);
            }
          }
        }
    });
  }

 private:
  bool exclusive_;
  bool reverse_;
};

// NonZero: x of rank r (any dtype) -> int64 [r, nnz], the indices of the non-zero
// elements in row-major order, one row per dimension (a scalar counts as shape [1]).
class NonZeroKernel : public Kernel {
 public:
  explicit NonZeroKernel(const KernelInfo&) {}
  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const Shape shape = x.rank() == 0 ? Shape{1} : x.shape();
    std::vector<int64_t> positions;
    visit_dtype(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* src = x.data<T>();
      for (int64_t i = 0; i < x.numel(); ++i)
        if (to_compute(src[i]) != 0) positions.push_back(i);
    });
    const int64_t nnz = static_cast<int64_t>(positions.size());
    const int64_t rank = static_cast<int64_t>(shape.size());
    Tensor& out = ctx.allocate_output(0, DType::Int64, {rank, nnz});
    int64_t* dst = out.data<int64_t>();
    for (int64_t j = 0; j < nnz; ++j) {
      int64_t rest = positions[static_cast<size_t>(j)];
      for (int64_t d = rank - 1; d >= 0; --d) {
        const int64_t size = shape[static_cast<size_t>(d)];
        dst[d * nnz + j] = rest % size;
        rest /= size;
      }
    }
  }
};

// Compress: x and a 1-D bool condition; along `axis` (or over the flattened x when no
// axis is given) keeps the slices j with condition[j] true. A condition shorter than the
// axis leaves the remaining slices out, as numpy.compress does.
class CompressKernel : public Kernel {
 public:
  explicit CompressKernel(const KernelInfo& info) : has_axis_(info.node.has_attr("axis")) {
    if (has_axis_) axis_ = info.node.attr_int("axis");
  }
  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& input = ctx.input(0);
    const Tensor& condition = ctx.input(1);
    OT_CHECK(condition.dtype() == DType::Bool && condition.rank() == 1, "{}: condition {} must be a 1-D bool tensor",
             node.label(), condition.describe());
    const Tensor x = has_axis_ ? input : input.reshaped({input.numel()});
    const size_t axis = static_cast<size_t>(has_axis_ ? resolve_axis(axis_, x.rank(), x, node) : 0);
    const int64_t n = x.shape()[axis];
    const bool* keep = condition.data<bool>();
    std::vector<int64_t> kept;
    for (int64_t j = 0; j < condition.numel(); ++j) {
      if (!keep[j]) continue;
      OT_CHECK(j < n, "{}: condition {} selects index {}, but input {} has only {} entries along axis {}", node.label(),
               condition.describe(), j, input.describe(), n, axis);
      kept.push_back(j);
    }
    Shape out_shape = x.shape();
    out_shape[axis] = static_cast<int64_t>(kept.size());
    Tensor& out = ctx.allocate_output(0, x.dtype(), out_shape);
    const int64_t outer = dims_product(x.shape(), 0, axis);
    const size_t chunk =
        static_cast<size_t>(dims_product(x.shape(), axis + 1, x.shape().size())) * dtype_size(x.dtype());
    const auto* src = static_cast<const char*>(x.raw_data());
    auto* dst = static_cast<char*>(out.raw_data());
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j : kept) {
        std::memcpy(dst, src + static_cast<size_t>(o * n + j) * chunk, chunk);
        dst += chunk;
      }
  }

 private:
  bool has_axis_;
  int64_t axis_ = 0;
};

// ReverseSequence: x with a batch axis and a time axis (0 and 1, either order) and
// sequence_lens [batch]; out = x with, for every batch entry b, the first
// sequence_lens[b] steps along the time axis reversed.
class ReverseSequenceKernel : public Kernel {
 public:
  explicit ReverseSequenceKernel(const KernelInfo& info)
      : batch_axis_(info.node.attr_int("batch_axis", 1)), time_axis_(info.node.attr_int("time_axis", 0)) {
    OT_CHECK((batch_axis_ == 0 && time_axis_ == 1) || (batch_axis_ == 1 && time_axis_ == 0),
             "{}: batch_axis = {} and time_axis = {} must be 0 and 1 (in either order)", info.node.label(), batch_axis_,
             time_axis_);
  }
  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    const Tensor& lens_tensor = ctx.input(1);
    OT_CHECK(x.rank() >= 2, "{}: input {} must have rank >= 2", node.label(), x.describe());
    const int64_t batch = x.shape()[static_cast<size_t>(batch_axis_)];
    const int64_t time = x.shape()[static_cast<size_t>(time_axis_)];
    OT_CHECK(lens_tensor.rank() == 1 && lens_tensor.numel() == batch,
             "{}: sequence_lens {} must have one entry per batch entry of input {} (batch_axis = {})", node.label(),
             lens_tensor.describe(), x.describe(), batch_axis_);
    const std::vector<int64_t> lens = read_indices(lens_tensor, node, "sequence_lens");
    for (int64_t len : lens)
      OT_CHECK(len >= 0 && len <= time, "{}: sequence length {} is out of range [0, {}] for input {} (time_axis = {})",
               node.label(), len, time, x.describe(), time_axis_);
    Tensor& out = ctx.allocate_output(0, x.dtype(), x.shape());
    const std::vector<int64_t> strides = strides_of(x.shape());
    const int64_t batch_stride = strides[static_cast<size_t>(batch_axis_)];
    const int64_t time_stride = strides[static_cast<size_t>(time_axis_)];
    const size_t esize = dtype_size(x.dtype());
    const size_t chunk = static_cast<size_t>(strides[1]) * esize;  // the dims after the first two
    const auto* src = static_cast<const char*>(x.raw_data());
    auto* dst = static_cast<char*>(out.raw_data());
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t len = lens[static_cast<size_t>(b)];
      for (int64_t t = 0; t < time; ++t) {
        const int64_t from = t < len ? len - 1 - t : t;
        std::memcpy(dst + static_cast<size_t>(b * batch_stride + t * time_stride) * esize,
                    src + static_cast<size_t>(b * batch_stride + from * time_stride) * esize, chunk);
      }
    }
  }

 private:
  int64_t batch_axis_;
  int64_t time_axis_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(indexing_select) {
  registry.add<TopKKernel>("TopK", {1, 10, 11});
  registry.add<ArgExtremeKernel>("ArgMax", {1, 11, 12, 13});
  registry.add<ArgExtremeKernel>("ArgMin", {1, 11, 12, 13});
  registry.add<CumSumKernel>("CumSum", {11, 14});
  registry.add<NonZeroKernel>("NonZero", {9, 13});
  registry.add<CompressKernel>("Compress", {9, 11});
  registry.add<ReverseSequenceKernel>("ReverseSequence", {10});
}

}  // namespace onnx_train
