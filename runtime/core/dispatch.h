// Dtype dispatch for kernels: turn a runtime DType into a compile-time element type.
//
//   visit_dtype(t.dtype(), [&](auto tag) { using T = typename decltype(tag)::type; ... });
//
// visit_dtype covers every dtype a Tensor can hold; the narrower visitors (visit_float,
// visit_numeric) throw a clear error for the rest, so a kernel states what it supports
// in one word. `to_compute` widens float16/bfloat16 to float for arithmetic, and
// `from_compute<T>` narrows back; for other types they are the identity.
#pragma once

#include <cstdint>
#include <type_traits>

#include "onnx_train/dtype.h"
#include "onnx_train/error.h"

namespace onnx_train {

template <typename T>
struct TypeTag {
  using type = T;
};

template <typename T>
inline auto to_compute(T v) {
  if constexpr (std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>)
    return static_cast<float>(v);
  else
    return v;
}

template <typename T, typename V>
inline T from_compute(V v) {
  if constexpr (std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>)
    return T(static_cast<float>(v));
  else
    return static_cast<T>(v);
}

// The arithmetic type a kernel computes in for element type T.
template <typename T>
using compute_t = decltype(to_compute(T{}));

template <typename F>
void visit_float(DType dtype, F&& f) {
  switch (dtype) {
    case DType::Float32: f(TypeTag<float>{}); return;
    case DType::Float64: f(TypeTag<double>{}); return;
    case DType::Float16: f(TypeTag<Float16>{}); return;
    case DType::BFloat16: f(TypeTag<BFloat16>{}); return;
    default: OT_FAIL("element type {} is not supported here (expected a floating-point type)", dtype_name(dtype));
  }
}

template <typename F>
void visit_integer(DType dtype, F&& f) {
  switch (dtype) {
    case DType::Int64: f(TypeTag<int64_t>{}); return;
    case DType::Int32: f(TypeTag<int32_t>{}); return;
    case DType::Int16: f(TypeTag<int16_t>{}); return;
    case DType::Int8: f(TypeTag<int8_t>{}); return;
    case DType::UInt64: f(TypeTag<uint64_t>{}); return;
    case DType::UInt32: f(TypeTag<uint32_t>{}); return;
    case DType::UInt16: f(TypeTag<uint16_t>{}); return;
    case DType::UInt8: f(TypeTag<uint8_t>{}); return;
    default: OT_FAIL("element type {} is not supported here (expected an integer type)", dtype_name(dtype));
  }
}

// Floats and integers (not bool).
template <typename F>
void visit_numeric(DType dtype, F&& f) {
  if (dtype_is_float(dtype))
    visit_float(dtype, f);
  else if (dtype == DType::Bool)
    OT_FAIL("element type bool is not supported here (expected a numeric type)");
  else
    visit_integer(dtype, f);
}

// Every type a Tensor can hold.
template <typename F>
void visit_dtype(DType dtype, F&& f) {
  if (dtype == DType::Bool)
    f(TypeTag<bool>{});
  else
    visit_numeric(dtype, f);
}

}  // namespace onnx_train
