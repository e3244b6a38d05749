#include "onnx_train/tensor.h"

#include <gtest/gtest.h>

#include "runtime/core/buffer_pool.h"
#include "runtime/kernels/util.h"

namespace onnx_train {
namespace {

TEST(Tensor, ReshapedSharesStorage) {
  Tensor t = Tensor::from<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor v = t.reshaped({3, 2});
  v.data<float>()[0] = 7;
  EXPECT_EQ(t.data<float>()[0], 7);
  EXPECT_THROW(t.reshaped({4}), Error);
  EXPECT_THROW(t.data<double>(), Error);
}

TEST(Float16, RoundTripsAndRounds) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f})
    EXPECT_EQ(static_cast<float>(Float16(f)), f) << f;
  EXPECT_TRUE(std::isinf(static_cast<float>(Float16(70000.0f))));
  EXPECT_EQ(static_cast<float>(Float16(1.0f + 1.0f / 4096)), 1.0f);  // ties to even
  EXPECT_EQ(static_cast<float>(BFloat16(1.0f)), 1.0f);
  EXPECT_EQ(static_cast<float>(BFloat16(3.0f)), 3.0f);
}

TEST(Broadcast, Shapes) {
  EXPECT_EQ(broadcast_shapes({2, 1, 4}, {3, 1}), (Shape{2, 3, 4}));
  EXPECT_THROW(broadcast_shapes({2, 3}, {4}), Error);
}

TEST(BufferPool, ReusesFreedBlocks) {
  BufferPool pool;
  { Tensor a(DType::Float32, {100}, &pool); }
  { Tensor b(DType::Float32, {100}, &pool); }
  EXPECT_EQ(pool.stats().system_allocations, 1u);
}

}  // namespace
}  // namespace onnx_train
