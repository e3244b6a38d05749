// Transpose (reference/shape_movement.cc) on tensors large enough for the blocked and the
// parallel copy paths, against the index formula y[i_perm] = x[i] computed element by element.
#include <gtest/gtest.h>

#include <numeric>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/kernel.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::run_op;

// y[j] for every output index j: x at the source index whose axis perm[k] is j[k].
std::vector<double> transposed(const std::vector<double>& x, const Shape& shape, const std::vector<int64_t>& perm) {
  const size_t rank = shape.size();
  Shape out(rank);
  for (size_t k = 0; k < rank; ++k) out[k] = shape[perm[k]];
  std::vector<int64_t> strides(rank, 1);
  for (size_t d = rank - 1; d > 0; --d) strides[d - 1] = strides[d] * shape[d];
  std::vector<double> y(x.size());
  std::vector<int64_t> j(rank, 0);
  for (size_t flat = 0; flat < y.size(); ++flat) {
    int64_t src = 0;
    for (size_t k = 0; k < rank; ++k) src += j[k] * strides[perm[k]];
    y[flat] = x[static_cast<size_t>(src)];
    for (size_t k = rank; k-- > 0;)
      if (++j[k] < out[k])
        break;
      else
        j[k] = 0;
  }
  return y;
}

TEST(TransposeTest, LargeAttentionShapesMatchTheIndexFormula) {
  struct Case {
    Shape shape;
    std::vector<int64_t> perm;
  };
  const std::vector<Case> cases = {
      {{16, 64, 128}, {1, 0, 2}},     {{64, 64, 32}, {0, 2, 1}}, {{16, 4, 64, 32}, {0, 2, 1, 3}},
      {{8, 64, 4, 32}, {0, 2, 3, 1}}, {{300, 257}, {1, 0}},      {{3, 70000}, {1, 0}}};
  for (const Case& c : cases) {
    for (DType dtype : {DType::Float32, DType::Int64, DType::UInt8}) {
      Tensor x(dtype, c.shape);
      std::vector<double> values(static_cast<size_t>(x.numel()));
      std::iota(values.begin(), values.end(), 0.0);
      if (dtype == DType::UInt8)
        for (double& v : values) v = static_cast<double>(static_cast<int64_t>(v) % 251);
      visit_numeric(dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        for (size_t i = 0; i < values.size(); ++i) x.data<T>()[i] = static_cast<T>(values[i]);
      });
      const Tensor y = run_op("Transpose", 13, {x}, {{"perm", Attribute::of_ints(c.perm)}})[0];
      ASSERT_EQ(y.to_doubles(), transposed(values, c.shape, c.perm)) << shape_str(c.shape) << " " << dtype_name(dtype);
    }
  }
}

}  // namespace
}  // namespace onnx_train
