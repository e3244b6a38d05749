// Reduction kernels: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1,
// ReduceL2, ReduceLogSum, ReduceLogSumExp and ReduceSumSquare (ONNX schema versions 1, 11,
// 12 and 13), plus the registration of Einsum, LpNormalization and
// MeanVarianceNormalization (reduction_einsum.cc, reduction_norms.cc).
//
// All reductions share one driver: the output has the input's shape with the reduced axes
// set to 1 (keepdims = 1) or removed (keepdims = 0). Every input element is folded into
// the accumulator of its output element; floats accumulate in double, signed integers in
// int64 and unsigned integers in uint64 (so integer sums wrap exactly like the element
// type). Reducing over an empty axis gives the identity of the reduction: 0 for sums and
// norms, 1 for products, -inf / +inf (the lowest / highest value for integers) for max /
// min, -inf for the log reductions and NaN for the mean (0 / 0).
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "runtime/core/dispatch.h"
#include "runtime/core/parallel.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

enum class ReduceOp { Sum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare };

// The accumulator type for element type T.
template <typename T>
using accumulator_t = std::conditional_t<std::is_floating_point_v<compute_t<T>>, double,
                                         std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

// The reduction plan for one input shape: the output shape with and without the kept
// size-1 axes, and a compact walk over the input: size-1 axes dropped and neighbouring axes
// that are both reduced or both kept merged, each with the stride of the output element it
// maps to (0 on reduced axes). The last walk axis is run as a tight inner loop.
struct ReducePlan {
  Shape out_shape;  // x's shape with reduced axes set to 1, or removed when keepdims = 0
  Shape walk_shape;
  std::vector<int64_t> walk_out_strides;
  int64_t count = 1;  // elements folded into each output element
};

ReducePlan make_plan(const Node& node, const Shape& in, const std::vector<int64_t>& axes, bool keepdims) {
  const int64_t rank = static_cast<int64_t>(in.size());
  std::vector<bool> reduced(in.size(), axes.empty());
  for (int64_t a : axes) {
    OT_CHECK(a >= -rank && a < rank, "{}: axis {} is out of range for an input of shape {} (rank {})", node.label(), a,
             shape_str(in), rank);
    const size_t i = static_cast<size_t>(a < 0 ? a + rank : a);
    OT_CHECK(!reduced[i], "{}: axes {} list axis {} twice", node.label(), shape_str(axes), i);
    reduced[i] = true;
  }
  ReducePlan plan;
  Shape kept_shape;
  for (size_t i = 0; i < in.size(); ++i) {
    kept_shape.push_back(reduced[i] ? 1 : in[i]);
    if (reduced[i]) plan.count *= in[i];
    if (!reduced[i] || keepdims) plan.out_shape.push_back(reduced[i] ? 1 : in[i]);
  }
  const std::vector<int64_t> out_strides = strides_of(kept_shape);
  std::vector<bool> walk_reduced;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == 1) continue;
    if (!walk_reduced.empty() && walk_reduced.back() == reduced[i]) {
      plan.walk_shape.back() *= in[i];
      plan.walk_out_strides.back() = reduced[i] ? 0 : out_strides[i];
    } else {
      plan.walk_shape.push_back(in[i]);
      plan.walk_out_strides.push_back(reduced[i] ? 0 : out_strides[i]);
      walk_reduced.push_back(reduced[i]);
    }
  }
  if (plan.walk_shape.empty()) {  // a single element
    plan.walk_shape = {1};
    plan.walk_out_strides = {0};
  }
  return plan;
}

// acc = acc (op) v for one element; `shift` is the maximum subtracted by LogSumExp.
template <ReduceOp Op, typename A>
inline void fold(A& acc, A v, A shift) {
  if constexpr (Op == ReduceOp::Sum || Op == ReduceOp::Mean || Op == ReduceOp::LogSum) {
    acc += v;
  } else if constexpr (Op == ReduceOp::SumSquare || Op == ReduceOp::L2) {
    acc += v * v;
  } else if constexpr (Op == ReduceOp::L1) {
    if constexpr (std::is_unsigned_v<A>)
      acc += v;
    else
      acc += v < 0 ? -v : v;
  } else if constexpr (Op == ReduceOp::Prod) {
    acc *= v;
  } else if constexpr (Op == ReduceOp::Max) {
    if (v > acc || v != v) acc = v;  // NaN propagates
  } else if constexpr (Op == ReduceOp::Min) {
    if (v < acc || v != v) acc = v;
  } else if constexpr (Op == ReduceOp::LogSumExp) {
    acc += std::exp(v - shift);
  }
}

// The two-axis walks, split over the cores without changing the order in which any output
// element folds its inputs (so results are those of the single-threaded walk):
//   [rows, n] reducing n (ReduceMean over the last axis, over H*W of [N, C, H, W]): each
//   thread folds its own rows, output element r = row r;
//   [n, cols] reducing n (over the leading axes): each thread folds its own columns over
//   every row in order.
// Returns false (nothing done) for other walks and for work below the threshold.
template <ReduceOp Op, typename T, typename A>
bool accumulate_parallel(const T* x, const ReducePlan& plan, A* acc, const A* shift) {
  if (plan.walk_shape.size() != 2 || shape_numel(plan.walk_shape) < kParallelMinElements) return false;
  const int64_t outer = plan.walk_shape[0], inner = plan.walk_shape[1];
  if (plan.walk_out_strides[1] == 0) {  // [rows, n] reducing n; output stride of a row is 1
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < outer; ++r) {
      A a = acc[r];
      const A s = shift ? shift[r] : A(0);
      const T* in = x + r * inner;
      for (int64_t j = 0; j < inner; ++j) fold<Op>(a, static_cast<A>(to_compute(in[j])), s);
      acc[r] = a;
    }
    return true;
  }
  // [n, cols] reducing n: columns in blocks of 64, rows in order within each block.
  const int64_t blocks = (inner + 63) / 64;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t begin = b * 64, end = std::min(inner, begin + 64);
    for (int64_t r = 0; r < outer; ++r) {
      const T* in = x + r * inner;
      for (int64_t j = begin; j < end; ++j)
        fold<Op>(acc[j], static_cast<A>(to_compute(in[j])), shift ? shift[j] : A(0));
    }
  }
  return true;
}

// Folds x into `acc` (one accumulator per output element, already set to the identity).
// `shift` is only read by LogSumExp (one value per output element).
template <ReduceOp Op, typename T, typename A>
void accumulate(const T* x, const ReducePlan& plan, A* acc, const A* shift) {
  if (accumulate_parallel<Op>(x, plan, acc, shift)) return;
  const int64_t inner = plan.walk_shape.back();
  const bool inner_reduced = plan.walk_out_strides.back() == 0;
  const Shape outer_shape(plan.walk_shape.begin(), plan.walk_shape.end() - 1);
  const std::vector<int64_t> outer_strides(plan.walk_out_strides.begin(), plan.walk_out_strides.end() - 1);
  const int64_t chunks = shape_numel(outer_shape) * (inner == 0 ? 0 : 1);
  StridedWalk walk(outer_shape, {outer_strides});
  for (int64_t c = 0; c < chunks; ++c, walk.next()) {
    const T* in = x + c * inner;
    A* out = acc + walk.offset(0);
    const A* sh = shift ? shift + walk.offset(0) : nullptr;
    if (inner_reduced) {
      A a = *out;
      const A s = sh ? *sh : A(0);
      for (int64_t j = 0; j < inner; ++j) fold<Op>(a, static_cast<A>(to_compute(in[j])), s);
      *out = a;
    } else {
      for (int64_t j = 0; j < inner; ++j) fold<Op>(out[j], static_cast<A>(to_compute(in[j])), sh ? sh[j] : A(0));
    }
  }
}

// The starting value of an accumulator of type A for element type T (the result of an
// empty reduction before finalizing).
template <ReduceOp Op, typename T, typename A>
A identity_of() {
  if constexpr (Op == ReduceOp::Prod) {
    return A(1);
  } else if constexpr (Op == ReduceOp::Max) {
    if constexpr (std::is_floating_point_v<A>)
      return -std::numeric_limits<A>::infinity();
    else
      return static_cast<A>(std::numeric_limits<T>::lowest());
  } else if constexpr (Op == ReduceOp::Min) {
    if constexpr (std::is_floating_point_v<A>)
      return std::numeric_limits<A>::infinity();
    else
      return static_cast<A>(std::numeric_limits<T>::max());
  } else {
    return A(0);
  }
}

// Reduces x of element type T into y (already allocated with plan.out_shape).
template <ReduceOp Op, typename T>
void reduce(const Tensor& x, const ReducePlan& plan, Tensor& y) {
  using A = accumulator_t<T>;
  const int64_t out_n = y.numel();
  std::vector<A> acc(static_cast<size_t>(out_n), identity_of<Op, T, A>());
  std::vector<A> shift;
  if constexpr (Op == ReduceOp::LogSumExp) {
    // log(sum(exp(x))) = m + log(sum(exp(x - m))) with m the maximum: no overflow.
    shift.assign(static_cast<size_t>(out_n), identity_of<ReduceOp::Max, T, A>());
    accumulate<ReduceOp::Max>(x.data<T>(), plan, shift.data(), static_cast<const A*>(nullptr));
    for (A& m : shift)
      if (std::isinf(m)) m = A(0);  // all -inf (or empty) gives -inf, any +inf gives +inf
  }
  accumulate<Op>(x.data<T>(), plan, acc.data(), shift.empty() ? nullptr : shift.data());
  T* out = y.data<T>();
  for (int64_t o = 0; o < out_n; ++o) {
    A r = acc[static_cast<size_t>(o)];
    if constexpr (std::is_floating_point_v<A>) {
      if constexpr (Op == ReduceOp::Mean) r = r / static_cast<A>(plan.count);
      if constexpr (Op == ReduceOp::L2) r = std::sqrt(r);
      if constexpr (Op == ReduceOp::LogSum) r = std::log(r);
      if constexpr (Op == ReduceOp::LogSumExp) {
        const A m = shift[static_cast<size_t>(o)];
        r = m + std::log(r);
      }
    } else if constexpr (Op == ReduceOp::Mean) {  // integer division, truncating toward zero
      r = plan.count > 0 ? static_cast<A>(r / static_cast<A>(plan.count)) : A(0);
    } else if constexpr (Op == ReduceOp::L2) {
      r = static_cast<A>(std::sqrt(static_cast<double>(r)));
    }
    out[o] = from_compute<T>(r);
  }
}

// True for the ops that are only defined on floating-point inputs.
constexpr bool float_only(ReduceOp op) { return op == ReduceOp::LogSum || op == ReduceOp::LogSumExp; }

// Reduce<Op>: y = reduction of x over `axes` (all axes when none are given).
//   x: any shape; y: x's shape with the reduced axes set to 1 (keepdims = 1, the default)
//   or removed (keepdims = 0). Axes come from the `axes` attribute, except for ReduceSum-13
//   where they are the optional second input; there, an empty or omitted axes input with
//   noop_with_empty_axes = 1 returns x unchanged. Negative axes count from the end in every
//   version (opset 11 documented them; exporters emit them earlier too).
template <ReduceOp Op>
class ReduceKernel : public Kernel {
 public:
  explicit ReduceKernel(const KernelInfo& info) {
    const Node& node = info.node;
    keepdims_ = node.attr_int("keepdims", 1) != 0;
    axes_from_input_ = Op == ReduceOp::Sum && node.since_version >= 13;
    if (axes_from_input_) {
      noop_with_empty_axes_ = node.attr_int("noop_with_empty_axes", 0) != 0;
    } else {
      axes_ = node.attr_ints("axes", {});
    }
  }

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    std::vector<int64_t> axes = axes_;
    if (axes_from_input_ && ctx.has_input(1)) axes = ctx.input(1).to_int64s();
    if (axes_from_input_ && axes.empty() && noop_with_empty_axes_) {
      ctx.set_output(0, x);
      return;
    }
    const ReducePlan plan = make_plan(node, x.shape(), axes, keepdims_);
    Tensor& y = ctx.allocate_output(0, x.dtype(), plan.out_shape);
    auto dispatch = [&](auto tag) {
      using T = typename decltype(tag)::type;
      reduce<Op, T>(x, plan, y);
    };
    if constexpr (float_only(Op)) {
      OT_CHECK(dtype_is_float(x.dtype()), "{}: input {} must be floating point", node.label(), x.describe());
      visit_float(x.dtype(), dispatch);
    } else {
      OT_CHECK(x.dtype() != DType::Bool, "{}: input {} is bool; cast it to a numeric type first", node.label(),
               x.describe());
      visit_numeric(x.dtype(), dispatch);
    }
  }

 private:
  bool keepdims_ = true;
  bool axes_from_input_ = false;
  bool noop_with_empty_axes_ = false;
  std::vector<int64_t> axes_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(reduction) {
  registry.add<ReduceKernel<ReduceOp::Sum>>("ReduceSum", {1, 11, 13});
  registry.add<ReduceKernel<ReduceOp::Mean>>("ReduceMean", {1, 11, 13});
  registry.add<ReduceKernel<ReduceOp::Max>>("ReduceMax", {1, 11, 12, 13});
  registry.add<ReduceKernel<ReduceOp::Min>>("ReduceMin", {1, 11, 12, 13});
  registry.add<ReduceKernel<ReduceOp::Prod>>("ReduceProd", {1, 11, 13});
  registry.add<ReduceKernel<ReduceOp::L1>>("ReduceL1", {1, 11, 13});
  registry.add<ReduceKernel<ReduceOp::L2>>("ReduceL2", {1, 11, 13});
  registry.add<ReduceKernel<ReduceOp::LogSum>>("ReduceLogSum", {1, 11, 13});
  registry.add<ReduceKernel<ReduceOp::LogSumExp>>("ReduceLogSumExp", {1, 11, 13});
  registry.add<ReduceKernel<ReduceOp::SumSquare>>("ReduceSumSquare", {1, 11, 13});
}

}  // namespace onnx_train
