// onnx_train/dtype.h: element types. The numbering is ONNX's TensorProto.DataType,
// so converting to and from a model is a cast.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace onnx_train {

enum class DType : int32_t {
  Undefined = 0,
  Float32 = 1,
  UInt8 = 2,
  Int8 = 3,
  UInt16 = 4,
  Int16 = 5,
  Int32 = 6,
  Int64 = 7,
  String = 8,  // never held by a Tensor; named so errors can say what they saw
  Bool = 9,
  Float16 = 10,
  Float64 = 11,
  UInt32 = 12,
  UInt64 = 13,
  BFloat16 = 16,
};

// Bytes per element; 0 for types a Tensor cannot hold (String, Undefined, complex).
size_t dtype_size(DType dtype);
// "float32", "int64", ...; for unknown codes "dtype(<code>)".
std::string dtype_name(DType dtype);
// True for the types a Tensor can hold.
bool dtype_is_supported(DType dtype);
bool dtype_is_float(DType dtype);  // float16, bfloat16, float32, float64

// IEEE half precision, stored as bits. Kernels compute in float and convert at the edges.
struct Float16 {
  uint16_t bits = 0;
  Float16() = default;
  explicit Float16(float value);
  explicit operator float() const;
};

// bfloat16: the top 16 bits of a float32 (rounded to nearest even on conversion).
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  explicit BFloat16(float value);
  explicit operator float() const;
};

// The DType of a C++ element type: dtype_of<float>() == DType::Float32.
template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::Float32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::Float64;
}
template <>
constexpr DType dtype_of<int64_t>() {
  return DType::Int64;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::Int32;
}
template <>
constexpr DType dtype_of<int16_t>() {
  return DType::Int16;
}
template <>
constexpr DType dtype_of<int8_t>() {
  return DType::Int8;
}
template <>
constexpr DType dtype_of<uint64_t>() {
  return DType::UInt64;
}
template <>
constexpr DType dtype_of<uint32_t>() {
  return DType::UInt32;
}
template <>
constexpr DType dtype_of<uint16_t>() {
  return DType::UInt16;
}
template <>
constexpr DType dtype_of<uint8_t>() {
  return DType::UInt8;
}
template <>
constexpr DType dtype_of<bool>() {
  return DType::Bool;
}
template <>
constexpr DType dtype_of<Float16>() {
  return DType::Float16;
}
template <>
constexpr DType dtype_of<BFloat16>() {
  return DType::BFloat16;
}

}  // namespace onnx_train
