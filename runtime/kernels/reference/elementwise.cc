// Elementwise ops: broadcast arithmetic (Add, Sub, Mul, Div, Pow, Mod, BitShift), variadic
// Max/Min/Sum/Mean, unary math, comparisons and logic, Where, Cast/CastLike and Clip.
//
// Every kernel is a template on the element type; float16/bfloat16 compute in float
// (to_compute/from_compute). Broadcasting follows numpy (elementwise_loops.h).
#include <cmath>
#include <limits>
#include <type_traits>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/bf16_convert.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/reference/elementwise_erf.h"
#include "runtime/kernels/reference/elementwise_loops.h"
#include "runtime/kernels/registry.h"

namespace onnx_train {

namespace {

// ---------------------------------------------------------------------------------------
// Type checks and conversions shared by the kernels below.

bool is_signed_integer(DType d) {
  return d == DType::Int8 || d == DType::Int16 || d == DType::Int32 || d == DType::Int64;
}
bool is_unsigned_integer(DType d) {
  return d == DType::UInt8 || d == DType::UInt16 || d == DType::UInt32 || d == DType::UInt64;
}
bool is_numeric(DType d) { return dtype_is_float(d) || is_signed_integer(d) || is_unsigned_integer(d); }

// Which element types an op accepts.
enum class TypeSet { Float, Signed, Numeric, NumericOrBool, Bool, Unsigned };

bool type_in_set(DType d, TypeSet set) {
  switch (set) {
    case TypeSet::Float: return dtype_is_float(d);
    case TypeSet::Signed: return dtype_is_float(d) || is_signed_integer(d);
    case TypeSet::Numeric: return is_numeric(d);
    case TypeSet::NumericOrBool: return is_numeric(d) || d == DType::Bool;
    case TypeSet::Bool: return d == DType::Bool;
    case TypeSet::Unsigned: return is_unsigned_integer(d);
  }
  return false;
}

const char* type_set_name(TypeSet set) {
  switch (set) {
    case TypeSet::Float: return "a floating-point type";
    case TypeSet::Signed: return "a floating-point or signed integer type";
    case TypeSet::Numeric: return "a numeric type";
    case TypeSet::NumericOrBool: return "a numeric or bool type";
    case TypeSet::Bool: return "bool";
    case TypeSet::Unsigned: return "an unsigned integer type";
  }
  return "";
}

void check_type(const Node& node, const Tensor& t, const char* what, TypeSet set) {
  OT_CHECK(type_in_set(t.dtype(), set), "{}: {} has element type {}, but this op takes {}", node.label(), what,
           dtype_name(t.dtype()), type_set_name(set));
}

void check_same_type(const Node& node, const Tensor& a, const Tensor& b) {
  OT_CHECK(a.dtype() == b.dtype(), "{}: inputs have different element types ({} and {}); insert a Cast", node.label(),
           a.describe(), b.describe());
}

// Visits the types of `set` (the caller has checked membership with check_type).
template <typename F>
void visit_set(DType d, TypeSet set, F&& f) {
  if (set == TypeSet::Float)
    visit_float(d, f);
  else
    visit_dtype(d, f);
}

// Shapes broadcast, with the node named when they do not.
Shape broadcast_for(const Node& node, const std::vector<Shape>& shapes) {
  try {
    return broadcast_shapes(shapes);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", node.label(), e.what()), e.category());
  }
}

template <typename T>
constexpr bool is_int_v = std::is_integral_v<T> && !std::is_same_v<T, bool>;

// A floating value converted to integer type T like numpy's astype: truncation toward
// zero, wrapping through int64 for narrower types; NaN gives 0 and out-of-range values
// saturate at int64 (so nothing is undefined behaviour).
template <typename T>
T float_to_integer(double v) {
  if (std::isnan(v)) return T{0};
  if constexpr (std::is_same_v<T, uint64_t>) {
    if (v >= 18446744073709551616.0) return std::numeric_limits<uint64_t>::max();
    if (v >= 0) return static_cast<uint64_t>(v);
  }
  int64_t wide;
  if (v >= 9223372036854775808.0)
    wide = std::numeric_limits<int64_t>::max();
  else if (v < -9223372036854775808.0)
    wide = std::numeric_limits<int64_t>::min();
  else
    wide = static_cast<int64_t>(v);
  return static_cast<T>(wide);
}

// A value of type From converted to type To (Cast semantics).
template <typename To, typename From>
To cast_value(From v) {
  const auto c = to_compute(v);
  if constexpr (std::is_same_v<To, bool>) {
    return c != 0;
  } else if constexpr (std::is_same_v<From, bool>) {
    return from_compute<To>(c ? 1 : 0);
  } else if constexpr (is_int_v<To> && !std::is_integral_v<decltype(c)>) {
    return float_to_integer<To>(static_cast<double>(c));
  } else if constexpr (std::is_same_v<To, Float16> || std::is_same_v<To, BFloat16>) {
    return To(static_cast<float>(c));
  } else {
    return static_cast<To>(c);
  }
}

// Integer arithmetic that wraps (two's complement) instead of overflowing.
template <typename T>
using wide_unsigned_t = std::make_unsigned_t<decltype(+T{})>;

// Output 0 = op(A, B) with numpy broadcasting, for A and B of one numeric element type T
// (checked by the caller), which the output has too; `op` is called as op(T, T) -> T.
template <typename Op>
void numeric_binary(const Node& node, KernelContext& ctx, const Tensor& a, const Tensor& b, Op&& op) {
  const Shape out_shape = broadcast_for(node, {a.shape(), b.shape()});
  Tensor& c = ctx.allocate_output_to_overwrite(0, a.dtype(), out_shape);  // every element is written
  visit_numeric(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    broadcast_binary(a.data<T>(), a.shape(), b.data<T>(), b.shape(), c.data<T>(), out_shape,
                     [&op](T x, T y) -> T { return op(x, y); });
  });
}

// An integer divisor with a zero element is refused before the loop: the loop may run on every
// core (OpenMP), where an exception cannot leave a thread and would end the process.
void check_no_zero_divisor(const Node& node, const Tensor& divisor, const char* what) {
  if (dtype_is_float(divisor.dtype())) return;
  visit_integer(divisor.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* d = divisor.data<T>();
    for (int64_t i = 0, n = divisor.numel(); i < n; ++i)
      OT_CHECK(d[i] != 0, "{}: integer {} by zero (element {} of the divisor)", node.label(), what, i);
  });
}

// ---------------------------------------------------------------------------------------
// Binary arithmetic: Add, Sub, Mul, Div. C = A op B with numpy broadcasting; A and B have
// the same element type. Integer division truncates toward zero (C semantics).

enum class Arith { Add, Sub, Mul, Div };

template <Arith Op>
class ArithKernel : public Kernel {
 public:
  explicit ArithKernel(const KernelInfo& info) : node_(info.node) {}

  void run(KernelContext& ctx) override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    check_type(node_, a, "A", TypeSet::Numeric);
    check_same_type(node_, a, b);
    if constexpr (Op == Arith::Div) check_no_zero_divisor(node_, b, "division");
    numeric_binary(node_, ctx, a, b, [this](auto x, auto y) { return apply(x, y); });
  }

 private:
  template <typename T>
  T apply(T x, T y) const {
    if constexpr (is_int_v<T>) {
      using U = wide_unsigned_t<T>;
      if constexpr (Op == Arith::Add) return static_cast<T>(U(x) + U(y));
      if constexpr (Op == Arith::Sub) return static_cast<T>(U(x) - U(y));
      if constexpr (Op == Arith::Mul) return static_cast<T>(U(x) * U(y));
      if constexpr (Op == Arith::Div) {
        if (y == 0) return T{0};  // never reached: run() refused a zero divisor
        if constexpr (std::is_signed_v<T>)
          if (y == -1) return static_cast<T>(U(0) - U(x));  // avoids the INT_MIN / -1 trap
        return static_cast<T>(x / y);
      }
    } else {
      const auto cx = to_compute(x);
      const auto cy = to_compute(y);
      if constexpr (Op == Arith::Add) return from_compute<T>(cx + cy);
      if constexpr (Op == Arith::Sub) return from_compute<T>(cx - cy);
      if constexpr (Op == Arith::Mul) return from_compute<T>(cx * cy);
      if constexpr (Op == Arith::Div) return from_compute<T>(cx / cy);
    }
  }

  const Node& node_;
};

// ---------------------------------------------------------------------------------------
// Pow: Z = X ^ Y, broadcast. From Pow-12 X and Y may have different types (float base and
// integer exponent, integer base and float exponent); Z has X's type. Integer ^ non-negative
// integer is exact (wrapping); everything else is computed in double and converted back.

class PowKernel : public Kernel {
 public:
  explicit PowKernel(const KernelInfo& info) : node_(info.node) {}

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const Tensor& y = ctx.input(1);
    const DType xt = x.dtype();
    if (node_.since_version < 12) {
      check_type(node_, x, "X", TypeSet::Float);
      check_same_type(node_, x, y);
    } else {
      OT_CHECK(dtype_is_float(xt) || xt == DType::Int32 || xt == DType::Int64,
               "{}: base X has element type {}; Pow takes float16/bfloat16/float32/float64/int32/int64", node_.label(),
               dtype_name(xt));
      check_type(node_, y, "exponent Y", TypeSet::Numeric);
    }
    const Shape out_shape = broadcast_for(node_, {x.shape(), y.shape()});
    Tensor& z = ctx.allocate_output(0, xt, out_shape);
    if (xt == DType::Float32 && y.dtype() == DType::Float32 && y.numel() == 1 && y.rank() <= x.rank()) {
      // One float exponent over a float32 base (LayerNorm's decomposed variance is x ^ 2):
      // computed in float, and x ^ 2 as x * x, which is what the double path rounds to.
      const float e = static_cast<float>(y.to_doubles()[0]);
      const float* in = x.data<float>();
      float* out = z.data<float>();
      const int64_t n = z.numel();
      if (e == 2.0f)
        for (int64_t i = 0; i < n; ++i) out[i] = in[i] * in[i];
      else
        for (int64_t i = 0; i < n; ++i) out[i] = std::pow(in[i], e);
      return;
    }
    auto with_base = [&](auto xtag) {
      using X = typename decltype(xtag)::type;
      visit_numeric(y.dtype(), [&](auto ytag) {
        using Y = typename decltype(ytag)::type;
        broadcast_binary(x.data<X>(), x.shape(), y.data<Y>(), y.shape(), z.data<X>(), out_shape,
                         [](X base, Y exponent) { return power<X, Y>(base, exponent); });
      });
    };
    if (xt == DType::Int32)
      with_base(TypeTag<int32_t>{});
    else if (xt == DType::Int64)
      with_base(TypeTag<int64_t>{});
    else
      visit_float(xt, with_base);
  }

 private:
  template <typename X, typename Y>
  static X power(X base, Y exponent) {
    if constexpr (is_int_v<X> && is_int_v<Y>) {
      if (exponent >= 0) {
        using U = wide_unsigned_t<X>;
        U result = 1;
        U factor = static_cast<U>(base);
        for (auto e = exponent; e > 0; e /= 2) {
          if (e % 2 == 1) result *= factor;
          factor *= factor;
        }
        return static_cast<X>(result);
      }
    }
    const double v = std::pow(static_cast<double>(to_compute(base)), static_cast<double>(to_compute(exponent)));
    if constexpr (is_int_v<X>)
      return float_to_integer<X>(v);
    else
      return from_compute<X>(v);
  }

  const Node& node_;
};

// ---------------------------------------------------------------------------------------
// Mod: C = A mod B, broadcast. fmod=1: the remainder has the dividend's sign (C fmod / %);
// fmod=0 (integers only): the remainder has the divisor's sign (Python's %).

class ModKernel : public Kernel {
 public:
  explicit ModKernel(const KernelInfo& info) : node_(info.node) {
    const int64_t fmod = node_.attr_int("fmod", 0);
    OT_CHECK(fmod == 0 || fmod == 1, "{}: attribute fmod must be 0 or 1, got {}", node_.label(), fmod);
    fmod_ = fmod == 1;
  }

  void run(KernelContext& ctx) override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    check_type(node_, a, "A", TypeSet::Numeric);
    check_same_type(node_, a, b);
    OT_CHECK(fmod_ || !dtype_is_float(a.dtype()),
             "{}: floating-point inputs ({}) need fmod=1 (the ONNX spec requires it)", node_.label(),
             dtype_name(a.dtype()));
    check_no_zero_divisor(node_, b, "modulo");
    numeric_binary(node_, ctx, a, b, [this](auto x, auto y) { return apply(x, y); });
  }

 private:
  template <typename T>
  T apply(T x, T y) const {
    if constexpr (is_int_v<T>) {
      if (y == 0) return T{0};  // never reached: run() refused a zero divisor
      if constexpr (std::is_signed_v<T>) {
        if (y == -1) return T{0};  // avoids the INT_MIN % -1 trap
        T r = static_cast<T>(x % y);
        if (!fmod_ && r != 0 && ((r < 0) != (y < 0))) r = static_cast<T>(r + y);
        return r;
      } else {
        return static_cast<T>(x % y);
      }
    } else {
      return from_compute<T>(std::fmod(to_compute(x), to_compute(y)));
    }
  }

  const Node& node_;
  bool fmod_ = false;
};

// ---------------------------------------------------------------------------------------
// BitShift: Z = X << Y or X >> Y (attribute direction), unsigned integers, broadcast.
// Shifting by the bit width or more gives 0.

class BitShiftKernel : public Kernel {
 public:
  explicit BitShiftKernel(const KernelInfo& info) : node_(info.node) {
    const std::string direction = node_.attr_string("direction");
    OT_CHECK(direction == "LEFT" || direction == "RIGHT", "{}: attribute direction must be LEFT or RIGHT, got '{}'",
             node_.label(), direction);
    left_ = direction == "LEFT";
  }

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const Tensor& y = ctx.input(1);
    check_type(node_, x, "X", TypeSet::Unsigned);
    check_same_type(node_, x, y);
    const Shape out_shape = broadcast_for(node_, {x.shape(), y.shape()});
    Tensor& z = ctx.allocate_output(0, x.dtype(), out_shape);
    visit_integer(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const bool left = left_;
      broadcast_binary(x.data<T>(), x.shape(), y.data<T>(), y.shape(), z.data<T>(), out_shape, [left](T v, T s) {
        if (static_cast<uint64_t>(s) >= sizeof(T) * 8) return T{0};
        return static_cast<T>(left ? static_cast<wide_unsigned_t<T>>(v) << s : v >> s);
      });
    });
  }

 private:
  const Node& node_;
  bool left_ = true;
};

// ---------------------------------------------------------------------------------------
// Variadic Max, Min, Sum, Mean: out = fold(op, inputs), numpy broadcast over all inputs
// (version 6 requires equal shapes). Max/Min propagate NaN.

enum class Fold { Max, Min, Sum, Mean };

template <Fold Op>
class VariadicKernel : public Kernel {
 public:
  explicit VariadicKernel(const KernelInfo& info) : node_(info.node) {
    const bool integers = (Op == Fold::Max || Op == Fold::Min) && node_.since_version >= 12;
    types_ = integers ? TypeSet::Numeric : TypeSet::Float;
  }

  void run(KernelContext& ctx) override {
    const size_t n = ctx.num_inputs();
    OT_CHECK(n >= 1, "{}: needs at least one input", node_.label());
    std::vector<Shape> shapes;
    for (size_t i = 0; i < n; ++i) {
      const Tensor& t = ctx.input(i);
      check_type(node_, t, "an input", types_);
      check_same_type(node_, ctx.input(0), t);
      shapes.push_back(t.shape());
    }
    if (node_.since_version < 8)
      for (const Shape& s : shapes)
        OT_CHECK(s == shapes[0], "{}: inputs must have equal shapes before opset 8 (got {} and {})", node_.label(),
                 shape_str(shapes[0]), shape_str(s));
    const Shape out_shape = broadcast_for(node_, shapes);
    const Tensor& first = ctx.input(0);
    Tensor& out = ctx.allocate_output(0, first.dtype(), out_shape);
    visit_set(first.dtype(), types_, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (!std::is_same_v<T, bool>) {
        T* o = out.data<T>();
        // Start from the first two inputs combined (or the first broadcast to the output
        // shape), then fold the others in: one pass over the output per input after the first.
        if (n >= 2)
          broadcast_binary(first.data<T>(), first.shape(), ctx.input(1).data<T>(), ctx.input(1).shape(), o, out_shape,
                           [](T x, T y) { return combine(x, y); });
        else
          broadcast_binary(first.data<T>(), first.shape(), o, out_shape, o, out_shape, [](T x, T) { return x; });
        for (size_t i = 2; i < n; ++i) {
          const Tensor& t = ctx.input(i);
          broadcast_binary(o, out_shape, t.data<T>(), t.shape(), o, out_shape, [](T x, T y) { return combine(x, y); });
        }
        if constexpr (Op == Fold::Mean) {
          const auto count = static_cast<compute_t<T>>(n);
          map_unary(o, o, out.numel(), [count](T x) { return from_compute<T>(to_compute(x) / count); });
        }
      }
    });
  }

 private:
  template <typename T>
  static T combine(T x, T y) {
    const auto cx = to_compute(x);
    const auto cy = to_compute(y);
    if constexpr (Op == Fold::Sum || Op == Fold::Mean) {
      return from_compute<T>(cx + cy);
    } else {
      if constexpr (!is_int_v<T>)
        if (std::isnan(cx)) return x;
      if constexpr (Op == Fold::Max)
        return cy > cx || cy != cy ? y : x;
      else
        return cy < cx || cy != cy ? y : x;
    }
  }

  const Node& node_;
  TypeSet types_ = TypeSet::Float;
};

// ---------------------------------------------------------------------------------------
// Unary math: Y = f(X), same shape and type. Each op says which types it takes.

enum class Unary {
  Abs,
  Neg,
  Reciprocal,
  Floor,
  Ceil,
  Round,
  Sqrt,
  Exp,
  Log,
  Sin,
  Cos,
  Tan,
  Asin,
  Acos,
  Atan,
  Sinh,
  Cosh,
  Asinh,
  Acosh,
  Atanh,
  Sign,
  Erf
};

template <Unary Op>
constexpr TypeSet unary_types() {
  if constexpr (Op == Unary::Abs || Op == Unary::Sign)
    return TypeSet::Numeric;
  else if constexpr (Op == Unary::Neg)
    return TypeSet::Signed;
  else
    return TypeSet::Float;
}

template <Unary Op, typename C>
C unary_apply(C x) {
  if constexpr (Op == Unary::Abs) {
    if constexpr (std::is_unsigned_v<C>)
      return x;
    else
      return x < 0 ? static_cast<C>(-x) : x;
  } else if constexpr (Op == Unary::Neg) {
    if constexpr (is_int_v<C>)
      return static_cast<C>(wide_unsigned_t<C>(0) - wide_unsigned_t<C>(x));
    else
      return -x;
  } else if constexpr (Op == Unary::Sign) {
    return static_cast<C>((C{0} < x) - (x < C{0}));
  } else if constexpr (Op == Unary::Reciprocal)
    return C{1} / x;
  else if constexpr (Op == Unary::Floor)
    return std::floor(x);
  else if constexpr (Op == Unary::Ceil)
    return std::ceil(x);
  else if constexpr (Op == Unary::Round)
    return std::nearbyint(x);  // default mode: half to even
  else if constexpr (Op == Unary::Sqrt)
    return std::sqrt(x);
  else if constexpr (Op == Unary::Exp)
    return std::exp(x);
  else if constexpr (Op == Unary::Log)
    return std::log(x);
  else if constexpr (Op == Unary::Sin)
    return std::sin(x);
  else if constexpr (Op == Unary::Cos)
    return std::cos(x);
  else if constexpr (Op == Unary::Tan)
    return std::tan(x);
  else if constexpr (Op == Unary::Asin)
    return std::asin(x);
  else if constexpr (Op == Unary::Acos)
    return std::acos(x);
  else if constexpr (Op == Unary::Atan)
    return std::atan(x);
  else if constexpr (Op == Unary::Sinh)
    return std::sinh(x);
  else if constexpr (Op == Unary::Cosh)
    return std::cosh(x);
  else if constexpr (Op == Unary::Asinh)
    return std::asinh(x);
  else if constexpr (Op == Unary::Acosh)
    return std::acosh(x);
  else if constexpr (Op == Unary::Atanh)
    return std::atanh(x);
  else if constexpr (Op == Unary::Erf && std::is_same_v<C, float>)
    return erf_float(x);  // a vectorisable polynomial, within one ulp (elementwise_erf.h)
  else if constexpr (Op == Unary::Erf)
    return std::erf(x);
}

template <Unary Op>
class UnaryKernel : public Kernel {
 public:
  explicit UnaryKernel(const KernelInfo& info) : node_(info.node) {}

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    constexpr TypeSet types = unary_types<Op>();
    check_type(node_, x, "X", types);
    // Every element is written, except for bool, which the loop below skips.
    Tensor& y = x.dtype() == DType::Bool ? ctx.allocate_output(0, x.dtype(), x.shape())
                                         : ctx.allocate_output_to_overwrite(0, x.dtype(), x.shape());
    if (Op == Unary::Erf && x.dtype() == DType::Float32) {
      erf_float32(x.data<float>(), y.data<float>(), x.numel());
      return;
    }
    visit_set(x.dtype(), types, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (!std::is_same_v<T, bool>) {
        map_unary(x.data<T>(), y.data<T>(), x.numel(),
                  [](T v) { return from_compute<T>(unary_apply<Op>(to_compute(v))); });
      }
    });
  }

 private:
  const Node& node_;
};

// IsNaN: Y[i] = isnan(X[i]) (bool). IsInf: Y[i] = X[i] is +inf (detect_positive) or -inf
// (detect_negative).
class FloatClassKernel : public Kernel {
 public:
  FloatClassKernel(const KernelInfo& info, bool is_nan) : node_(info.node), is_nan_(is_nan) {
    if (!is_nan) {
      positive_ = node_.attr_int("detect_positive", 1) != 0;
      negative_ = node_.attr_int("detect_negative", 1) != 0;
    }
  }

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    check_type(node_, x, "X", TypeSet::Float);
    Tensor& y = ctx.allocate_output(0, DType::Bool, x.shape());
    visit_float(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const bool nan = is_nan_, pos = positive_, neg = negative_;
      map_unary(x.data<T>(), y.data<bool>(), x.numel(), [=](T v) {
        const auto c = to_compute(v);
        if (nan) return std::isnan(c);
        return std::isinf(c) && ((pos && c > 0) || (neg && c < 0));
      });
    });
  }

 private:
  const Node& node_;
  bool is_nan_;
  bool positive_ = true;
  bool negative_ = true;
};

// Not: Y = !X (bool).
class NotKernel : public Kernel {
 public:
  explicit NotKernel(const KernelInfo& info) : node_(info.node) {}

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    check_type(node_, x, "X", TypeSet::Bool);
    Tensor& y = ctx.allocate_output(0, DType::Bool, x.shape());
    map_unary(x.data<bool>(), y.data<bool>(), x.numel(), [](bool v) { return !v; });
  }

 private:
  const Node& node_;
};

// ---------------------------------------------------------------------------------------
// Comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual) and logic (And, Or, Xor):
// C = A op B as bool, numpy broadcast; A and B have the same type.

enum class Compare { Equal, Less, Greater, LessOrEqual, GreaterOrEqual, And, Or, Xor };

template <Compare Op>
class CompareKernel : public Kernel {
 public:
  explicit CompareKernel(const KernelInfo& info) : node_(info.node) {}

  void run(KernelContext& ctx) override {
    constexpr TypeSet types = Op == Compare::Equal                                              ? TypeSet::NumericOrBool
                              : (Op == Compare::And || Op == Compare::Or || Op == Compare::Xor) ? TypeSet::Bool
                                                                                                : TypeSet::Numeric;
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    check_type(node_, a, "A", types);
    check_same_type(node_, a, b);
    const Shape out_shape = broadcast_for(node_, {a.shape(), b.shape()});
    Tensor& c = ctx.allocate_output(0, DType::Bool, out_shape);
    visit_dtype(a.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      broadcast_binary(a.data<T>(), a.shape(), b.data<T>(), b.shape(), c.data<bool>(), out_shape, [](T x, T y) {
        const auto cx = to_compute(x);
        const auto cy = to_compute(y);
        if constexpr (Op == Compare::Equal) return cx == cy;
        if constexpr (Op == Compare::Less) return cx < cy;
        if constexpr (Op == Compare::Greater) return cx > cy;
        if constexpr (Op == Compare::LessOrEqual) return cx <= cy;
        if constexpr (Op == Compare::GreaterOrEqual) return cx >= cy;
        if constexpr (Op == Compare::And) return static_cast<bool>(cx) && static_cast<bool>(cy);
        if constexpr (Op == Compare::Or) return static_cast<bool>(cx) || static_cast<bool>(cy);
        if constexpr (Op == Compare::Xor) return static_cast<bool>(cx) != static_cast<bool>(cy);
      });
    });
  }

 private:
  const Node& node_;
};

// ---------------------------------------------------------------------------------------
// Where: out = condition ? X : Y, all three broadcast together; X and Y share a type.

class WhereKernel : public Kernel {
 public:
  explicit WhereKernel(const KernelInfo& info) : node_(info.node) {}

  void run(KernelContext& ctx) override {
    const Tensor& cond = ctx.input(0);
    const Tensor& x = ctx.input(1);
    const Tensor& y = ctx.input(2);
    check_type(node_, cond, "condition", TypeSet::Bool);
    check_same_type(node_, x, y);
    const Shape out_shape = broadcast_for(node_, {cond.shape(), x.shape(), y.shape()});
    Tensor& out = ctx.allocate_output(0, x.dtype(), out_shape);
    visit_dtype(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      broadcast_ternary(cond.data<bool>(), cond.shape(), x.data<T>(), x.shape(), y.data<T>(), y.shape(), out.data<T>(),
                        out_shape, [](bool c, T a, T b) { return c ? a : b; });
    });
  }

 private:
  const Node& node_;
};

// ---------------------------------------------------------------------------------------
// Cast: Y = X converted to the type of attribute `to`; CastLike: to the type of input 1.
// float -> integer truncates toward zero; anything -> bool is (x != 0).

void cast_into(const Tensor& x, Tensor& y) {
  // float32 <-> bfloat16 (mixed precision's Casts, twice per product each step): vectorised,
  // with the same rounding as cast_value (bf16_convert.h).
  if (x.dtype() == DType::Float32 && y.dtype() == DType::BFloat16) {
    bf16_from_float(x.data<float>(), y.data<BFloat16>(), x.numel());
    return;
  }
  if (x.dtype() == DType::BFloat16 && y.dtype() == DType::Float32) {
    float_from_bf16(x.data<BFloat16>(), y.data<float>(), x.numel());
    return;
  }
  visit_dtype(x.dtype(), [&](auto from_tag) {
    using From = typename decltype(from_tag)::type;
    visit_dtype(y.dtype(), [&](auto to_tag) {
      using To = typename decltype(to_tag)::type;
      map_unary(x.data<From>(), y.data<To>(), x.numel(), [](From v) { return cast_value<To>(v); });
    });
  });
}

class CastKernel : public Kernel {
 public:
  explicit CastKernel(const KernelInfo& info) : node_(info.node) {
    to_ = static_cast<DType>(node_.attr_int("to"));
    OT_CHECK(dtype_is_supported(to_), "{}: cannot cast to {} (strings and complex types are not supported)",
             node_.label(), dtype_name(to_));
  }

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    if (x.dtype() == to_) {
      ctx.set_output(0, x);
      return;
    }
    cast_into(x, ctx.allocate_output_to_overwrite(0, to_, x.shape()));
  }

 private:
  const Node& node_;
  DType to_ = DType::Undefined;
};

class CastLikeKernel : public Kernel {
 public:
  explicit CastLikeKernel(const KernelInfo&) {}

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const DType to = ctx.input(1).dtype();
    if (x.dtype() == to) {
      ctx.set_output(0, x);
      return;
    }
    cast_into(x, ctx.allocate_output(0, to, x.shape()));
  }
};

// ---------------------------------------------------------------------------------------
// Clip: Y = min(max(X, lo), hi). Clip-6: lo/hi are float attributes min/max; Clip-11+: they
// are optional scalar inputs 1 and 2 of X's type (absent: the type's lowest/highest).
// Clip-11 takes floating-point types, Clip-12+ every numeric type. lo > hi gives hi.

class ClipKernel : public Kernel {
 public:
  explicit ClipKernel(const KernelInfo& info) : node_(info.node) {
    if (node_.since_version < 11) {
      min_attr_ = node_.attr_float("min", std::numeric_limits<float>::lowest());
      max_attr_ = node_.attr_float("max", std::numeric_limits<float>::max());
    }
  }

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const TypeSet types = node_.since_version >= 12 ? TypeSet::Numeric : TypeSet::Float;
    check_type(node_, x, "input", types);
    Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
    visit_numeric(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = compute_t<T>;
      C lo = std::numeric_limits<C>::lowest();
      C hi = std::numeric_limits<C>::max();
      if (node_.since_version < 11) {
        lo = static_cast<C>(min_attr_);
        hi = static_cast<C>(max_attr_);
      } else {
        if (ctx.has_input(1)) lo = bound<T>(ctx.input(1), "min");
        if (ctx.has_input(2)) hi = bound<T>(ctx.input(2), "max");
      }
      // min(max(x, lo), hi) as two selects, which vectorise: NaN fails both comparisons and
      // stays NaN, and lo > hi gives hi.
      map_unary(x.data<T>(), y.data<T>(), x.numel(), [lo, hi](T v) {
        const C c = to_compute(v);
        const C above_lo = c < lo ? lo : c;
        return from_compute<T>(above_lo > hi ? hi : above_lo);
      });
    });
  }

 private:
  template <typename T>
  compute_t<T> bound(const Tensor& t, const char* what) const {
    OT_CHECK(t.dtype() == dtype_of<T>() && t.numel() == 1, "{}: '{}' must be a scalar of the input's type {}, got {}",
             node_.label(), what, dtype_name(dtype_of<T>()), t.describe());
    return to_compute(t.data<T>()[0]);
  }

  const Node& node_;
  float min_attr_ = 0;
  float max_attr_ = 0;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(elementwise) {
  registry.add<ArithKernel<Arith::Add>>("Add", {7, 13, 14});
  registry.add<ArithKernel<Arith::Sub>>("Sub", {7, 13, 14});
  registry.add<ArithKernel<Arith::Mul>>("Mul", {7, 13, 14});
  registry.add<ArithKernel<Arith::Div>>("Div", {7, 13, 14});
  registry.add<PowKernel>("Pow", {7, 12, 13, 15});
  registry.add<ModKernel>("Mod", {10, 13});
  registry.add<BitShiftKernel>("BitShift", {11});

  registry.add<VariadicKernel<Fold::Max>>("Max", {6, 8, 12, 13});
  registry.add<VariadicKernel<Fold::Min>>("Min", {6, 8, 12, 13});
  registry.add<VariadicKernel<Fold::Sum>>("Sum", {6, 8, 13});
  registry.add<VariadicKernel<Fold::Mean>>("Mean", {6, 8, 13});

  registry.add<UnaryKernel<Unary::Abs>>("Abs", {6, 13});
  registry.add<UnaryKernel<Unary::Neg>>("Neg", {6, 13});
  registry.add<UnaryKernel<Unary::Reciprocal>>("Reciprocal", {6, 13});
  registry.add<UnaryKernel<Unary::Floor>>("Floor", {6, 13});
  registry.add<UnaryKernel<Unary::Ceil>>("Ceil", {6, 13});
  registry.add<UnaryKernel<Unary::Round>>("Round", {11});
  registry.add<UnaryKernel<Unary::Sqrt>>("Sqrt", {6, 13});
  registry.add<UnaryKernel<Unary::Exp>>("Exp", {6, 13});
  registry.add<UnaryKernel<Unary::Log>>("Log", {6, 13});
  registry.add<UnaryKernel<Unary::Sin>>("Sin", {7});
  registry.add<UnaryKernel<Unary::Cos>>("Cos", {7});
  registry.add<UnaryKernel<Unary::Tan>>("Tan", {7});
  registry.add<UnaryKernel<Unary::Asin>>("Asin", {7});
  registry.add<UnaryKernel<Unary::Acos>>("Acos", {7});
  registry.add<UnaryKernel<Unary::Atan>>("Atan", {7});
  registry.add<UnaryKernel<Unary::Sinh>>("Sinh", {9});
  registry.add<UnaryKernel<Unary::Cosh>>("Cosh", {9});
  registry.add<UnaryKernel<Unary::Asinh>>("Asinh", {9});
  registry.add<UnaryKernel<Unary::Acosh>>("Acosh", {9});
  registry.add<UnaryKernel<Unary::Atanh>>("Atanh", {9});
  registry.add<UnaryKernel<Unary::Sign>>("Sign", {9, 13});
  registry.add<UnaryKernel<Unary::Erf>>("Erf", {9, 13});
  registry.add("IsNaN", {9, 13}, [](const KernelInfo& info) { return std::make_unique<FloatClassKernel>(info, true); });
  registry.add("IsInf", {10}, [](const KernelInfo& info) { return std::make_unique<FloatClassKernel>(info, false); });
  registry.add<NotKernel>("Not", {1});

  registry.add<CompareKernel<Compare::Equal>>("Equal", {7, 11, 13});
  registry.add<CompareKernel<Compare::Less>>("Less", {7, 9, 13});
  registry.add<CompareKernel<Compare::Greater>>("Greater", {7, 9, 13});
  registry.add<CompareKernel<Compare::LessOrEqual>>("LessOrEqual", {12, 16});
  registry.add<CompareKernel<Compare::GreaterOrEqual>>("GreaterOrEqual", {12, 16});
  registry.add<CompareKernel<Compare::And>>("And", {7});
  registry.add<CompareKernel<Compare::Or>>("Or", {7});
  registry.add<CompareKernel<Compare::Xor>>("Xor", {7});

  registry.add<WhereKernel>("Where", {9, 16});
  registry.add<CastKernel>("Cast", {6, 9, 13});
  registry.add<CastLikeKernel>("CastLike", {15});
  registry.add<ClipKernel>("Clip", {6, 11, 12, 13});
}

}  // namespace onnx_train
