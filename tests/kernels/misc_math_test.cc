// Unit tests for the miscellaneous math kernels (runtime/kernels/reference/misc_math.cc):
// the four outputs of Unique (sorted, unsorted, along an axis) and Det of known, singular
// and batched matrices.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "runtime/kernels/kernel.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::run_op;

TEST(Unique, SortedFlattened) {
  // The spec's example 2: [[1, 3], [2, 3]].
  const Tensor x = Tensor::from<int64_t>({4}, {1, 3, 2, 3}).reshaped({2, 2});
  const std::vector<Tensor> out = run_op("Unique", 11, {x}, {}, 4);
  EXPECT_EQ(out[0].shape(), (Shape{3}));
  EXPECT_EQ(out[0].to_int64s(), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(out[1].to_int64s(), (std::vector<int64_t>{0, 2, 1}));
  EXPECT_EQ(out[2].to_int64s(), (std::vector<int64_t>{0, 2, 1, 2}));
  EXPECT_EQ(out[3].to_int64s(), (std::vector<int64_t>{1, 1, 2}));
}

TEST(Unique, UnsortedKeepsFirstOccurrenceOrder) {
  // The spec's example 1.
  const Tensor x = Tensor::from<float>({6}, {2, 1, 1, 3, 4, 3});
  const std::vector<Tensor> out = run_op("Unique", 11, {x}, {{"sorted", Attribute::of_int(0)}}, 4);
  EXPECT_EQ(out[0].to_doubles(), (std::vector<double>{2, 1, 3, 4}));
  EXPECT_EQ(out[1].to_int64s(), (std::vector<int64_t>{0, 1, 3, 4}));
  EXPECT_EQ(out[2].to_int64s(), (std::vector<int64_t>{0, 1, 1, 2, 3, 2}));
  EXPECT_EQ(out[3].to_int64s(), (std::vector<int64_t>{1, 2, 2, 1}));
}

TEST(Unique, SlicesAlongLastAxis) {
  // Columns of [[1, 0, 0], [1, 0, 0], [2, 3, 3]]: (1,1,2), (0,0,3), (0,0,3).
  const Tensor x = Tensor::from<int32_t>({9}, {1, 0, 0, 1, 0, 0, 2, 3, 3}).reshaped({3, 3});
  const std::vector<Tensor> out = run_op("Unique", 11, {x}, {{"axis", Attribute::of_int(-1)}}, 4);
  EXPECT_EQ(out[0].shape(), (Shape{3, 2}));
  EXPECT_EQ(out[0].to_int64s(), (std::vector<int64_t>{0, 1, 0, 1, 3, 2}));
  EXPECT_EQ(out[1].to_int64s(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(out[2].to_int64s(), (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ(out[3].to_int64s(), (std::vector<int64_t>{2, 1}));
}

TEST(Det, KnownSingularAndBatched) {
  // det [[0, 2, 1], [1, 1, 1], [2, 0, 3]] = 0*(3-0) - 2*(3-2) + 1*(0-2) = -4 (needs a pivot swap).
  const Tensor a = Tensor::from<double>({9}, {0, 2, 1, 1, 1, 1, 2, 0, 3}).reshaped({3, 3});
  const Tensor ya = run_op("Det", 11, {a})[0];
  EXPECT_EQ(ya.shape(), (Shape{}));
  EXPECT_NEAR(ya.to_doubles()[0], -4.0, 1e-12);

  const Tensor singular = Tensor::from<float>({9}, {1, 2, 3, 2, 4, 6, 1, 0, 1}).reshaped({3, 3});
  EXPECT_EQ(run_op("Det", 11, {singular})[0].to_doubles()[0], 0.0);

  const Tensor batch = Tensor::from<float>({8}, {1, 2, 3, 4, 2, 0, 0, 3}).reshaped({2, 2, 2});
  const Tensor yb = run_op("Det", 11, {batch})[0];
  EXPECT_EQ(yb.shape(), (Shape{2}));
  EXPECT_NEAR(yb.to_doubles()[0], -2.0, 1e-6);
  EXPECT_NEAR(yb.to_doubles()[1], 6.0, 1e-6);

  EXPECT_THROW(run_op("Det", 11, {Tensor::from<float>({6}, {1, 2, 3, 4, 5, 6}).reshaped({2, 3})}), Error);
}

}  // namespace
}  // namespace onnx_train
