#include "runtime/core/checked_math.h"

#include <limits>

namespace onnx_train {

namespace {

std::string lead(std::string_view context) { return context.empty() ? std::string() : std::string(context) + ": "; }

}  // namespace

int64_t checked_mul(int64_t a, int64_t b, std::string_view context) {
  int64_t product = 0;
  OT_CHECK(a >= 0 && b >= 0 && !__builtin_mul_overflow(a, b, &product),
           "{}the size {} x {} overflows a 64-bit count; the sizes are corrupt", lead(context), a, b);
  return product;
}

int64_t checked_numel(const Shape& shape, std::string_view context) {
  int64_t n = 1;
  for (int64_t d : shape) {
    OT_CHECK(d >= 0, "{}shape {} has a negative dimension", lead(context), shape_str(shape));
    // Zeros are skipped in the overflow check, so that [0, 2^40, 2^40] is refused as well
    // (no real data has that shape, and the check does not depend on the order of dims).
    OT_CHECK(!__builtin_mul_overflow(n, d == 0 ? 1 : d, &n),
             "{}shape {} is corrupt: the product of its dimensions overflows a 64-bit count (over 2^63 elements)",
             lead(context), shape_str(shape));
  }
  for (int64_t d : shape)
    if (d == 0) return 0;
  return n;
}

size_t checked_nbytes(const Shape& shape, DType dtype, std::string_view context) {
  const int64_t n = checked_numel(shape, context);
  int64_t bytes = 0;
  OT_CHECK(!__builtin_mul_overflow(n, static_cast<int64_t>(dtype_size(dtype)), &bytes),
           "{}{}{} would take more than 2^63 bytes; the shape is corrupt", lead(context), dtype_name(dtype),
           shape_str(shape));
  return static_cast<size_t>(bytes);
}

}  // namespace onnx_train
