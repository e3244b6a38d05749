// Unit tests for the indexing kernels (runtime/kernels/reference/indexing*.cc): semantics
// the ONNX conformance data does not pin down (TopK ties, NaN, version differences) and
// the errors for bad indices.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "runtime/kernels/kernel.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::error_of;
using testing::run_op;

TEST(IndexingKernels, RegisteredVersions) {
  const auto& r = KernelRegistry::global();
  EXPECT_EQ(r.versions("", "Gather"), (std::vector<int>{1, 11, 13}));
  EXPECT_EQ(r.versions("", "TopK"), (std::vector<int>{1, 10, 11}));
  EXPECT_EQ(r.versions("", "ScatterND"), (std::vector<int>{11, 13, 16}));
  EXPECT_EQ(r.versions("", "ArgMin"), (std::vector<int>{1, 11, 12, 13}));
}

TEST(Gather, NegativeIndicesAndInt32) {
  const Tensor data = Tensor::from<float>({3, 2}, {1, 2, 3, 4, 5, 6});
  auto out = run_op("Gather", 13, {data, Tensor::from<int32_t>({2}, {-1, 0})});
  EXPECT_EQ(out[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(out[0].to_doubles(), (std::vector<double>{5, 6, 1, 2}));
  out = run_op("Gather", 13, {data, Tensor::from<int64_t>({1, 1}, {1})}, {{"axis", Attribute::of_int(1)}});
  EXPECT_EQ(out[0].shape(), (Shape{3, 1, 1}));
  EXPECT_EQ(out[0].to_doubles(), (std::vector<double>{2, 4, 6}));
}

TEST(Gather, OutOfRangeIndexIsAClearError) {
  const Tensor data = Tensor::from<float>({3, 2}, {1, 2, 3, 4, 5, 6});
  const std::string msg = error_of([&] { run_op("Gather", 13, {data, Tensor::from<int64_t>({1}, {-4})}); });
  EXPECT_NE(msg.find("node 'test' (Gather"), std::string::npos) << msg;
  EXPECT_NE(msg.find("index -4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[-3, 2]"), std::string::npos) << msg;
  EXPECT_THROW(run_op("Gather", 13, {data, Tensor::from<int64_t>({1}, {3})}), Error);
  EXPECT_THROW(run_op("Gather", 13, {data, Tensor::from<float>({1}, {0})}), Error);  // float indices
}

TEST(GatherND, BatchDims) {
  // data [2, 2, 2], indices [2, 1] with batch_dims = 1: out[b] = data[b, indices[b, 0]].
  const Tensor data = Tensor::from<int32_t>({2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  auto out =
      run_op("GatherND", 12, {data, Tensor::from<int64_t>({2, 1}, {1, 0})}, {{"batch_dims", Attribute::of_int(1)}});
  EXPECT_EQ(out[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(out[0].to_int64s(), (std::vector<int64_t>{2, 3, 4, 5}));
  EXPECT_THROW(
      run_op("GatherND", 12, {data, Tensor::from<int64_t>({2, 1}, {2, 0})}, {{"batch_dims", Attribute::of_int(1)}}),
      Error);
}

TEST(GatherElements, NegativeIndices) {
  const Tensor data = Tensor::from<int64_t>({2, 2}, {1, 2, 3, 4});
  auto out = run_op("GatherElements", 13, {data, Tensor::from<int32_t>({2, 2}, {0, -1, 1, 0})},
                    {{"axis", Attribute::of_int(1)}});
  EXPECT_EQ(out[0].to_int64s(), (std::vector<int64_t>{1, 2, 4, 3}));
  const std::string msg = error_of([&] {
    run_op("GatherElements", 13, {data, Tensor::from<int64_t>({1, 1}, {2})}, {{"axis", Attribute::of_int(0)}});
  });
  EXPECT_NE(msg.find("index 2 is out of range for axis 0"), std::string::npos) << msg;
}

TEST(ScatterND, SlicesAndReduction) {
  // data [2, 2]; one index tuple of length 1 writes the whole row 1.
  const Tensor data = Tensor::from<double>({2, 2}, {1, 2, 3, 4});
  const Tensor indices = Tensor::from<int64_t>({2, 1}, {1, 1});
  const Tensor updates = Tensor::from<double>({2, 2}, {10, 20, 30, 40});
  EXPECT_EQ(
      run_op("ScatterND", 16, {data, indices, updates}, {{"reduction", Attribute::of_string("add")}})[0].to_doubles(),
      (std::vector<double>{1, 2, 43, 64}));
  // ScatterND-13 has no reduction attribute: duplicates overwrite, the last one wins here.
  EXPECT_EQ(run_op("ScatterND", 13, {data, indices, updates})[0].to_doubles(), (std::vector<double>{1, 2, 30, 40}));
  EXPECT_THROW(run_op("ScatterND", 13, {data, Tensor::from<int64_t>({2, 1}, {1, -3}), updates}), Error);
  EXPECT_THROW(run_op("ScatterND", 13, {data, indices, Tensor::from<double>({2}, {1, 2})}),
               Error);  // bad updates shape
}

TEST(ScatterElements, ReductionsAndDuplicates) {
  const Tensor data = Tensor::from<float>({1, 3}, {1, 2, 3});
  const Tensor indices = Tensor::from<int64_t>({1, 2}, {1, 1});
  const Tensor updates = Tensor::from<float>({1, 2}, {10, 20});
  auto add = run_op("ScatterElements", 16, {data, indices, updates},
                    {{"axis", Attribute::of_int(1)}, {"reduction", Attribute::of_string("add")}});
  EXPECT_EQ(add[0].to_doubles(), (std::vector<double>{1, 32, 3}));
  auto mul = run_op("ScatterElements", 16, {data, indices, updates},
                    {{"axis", Attribute::of_int(1)}, {"reduction", Attribute::of_string("mul")}});
  EXPECT_EQ(mul[0].to_doubles(), (std::vector<double>{1, 400, 3}));
  EXPECT_THROW(run_op("ScatterElements", 16, {data, indices, updates}, {{"reduction", Attribute::of_string("max")}}),
               Error);
  // Scatter-9 is ScatterElements without reduction; the input is left untouched.
  auto plain = run_op("Scatter", 9, {data, Tensor::from<int64_t>({1, 1}, {-1}), Tensor::from<float>({1, 1}, {7})},
                      {{"axis", Attribute::of_int(1)}});
  EXPECT_EQ(plain[0].to_doubles(), (std::vector<double>{1, 2, 7}));
  EXPECT_EQ(data.to_doubles(), (std::vector<double>{1, 2, 3}));
}

TEST(OneHot, NegativeIndicesDependOnVersion) {
  const Tensor indices = Tensor::from<int64_t>({2}, {-1, 1});
  const Tensor depth = Tensor::scalar<float>(3);
  const Tensor values = Tensor::from<int32_t>({2}, {0, 5});
  EXPECT_EQ(run_op("OneHot", 11, {indices, depth, values})[0].to_int64s(), (std::vector<int64_t>{0, 0, 5, 0, 5, 0}));
  EXPECT_EQ(run_op("OneHot", 9, {indices, depth, values})[0].to_int64s(), (std::vector<int64_t>{0, 0, 0, 0, 5, 0}));
  auto axis0 = run_op("OneHot", 11, {indices, depth, values}, {{"axis", Attribute::of_int(0)}});
  EXPECT_EQ(axis0[0].shape(), (Shape{3, 2}));
  EXPECT_EQ(axis0[0].to_int64s(), (std::vector<int64_t>{0, 0, 0, 5, 5, 0}));
}

TEST(TopK, TiesTakeTheLowerIndexFirst) {
  const Tensor x = Tensor::from<float>({6}, {1, 3, 3, 2, 3, 1});
  auto largest = run_op("TopK", 11, {x, Tensor::from<int64_t>({1}, {4})}, {}, 2);
  EXPECT_EQ(largest[0].to_doubles(), (std::vector<double>{3, 3, 3, 2}));
  EXPECT_EQ(largest[1].to_int64s(), (std::vector<int64_t>{1, 2, 4, 3}));
  auto smallest = run_op("TopK", 11, {x, Tensor::from<int64_t>({1}, {3})}, {{"largest", Attribute::of_int(0)}}, 2);
  EXPECT_EQ(smallest[0].to_doubles(), (std::vector<double>{1, 1, 2}));
  EXPECT_EQ(smallest[1].to_int64s(), (std::vector<int64_t>{0, 5, 3}));
  // TopK-1: k is an attribute; axis 0 of a [3, 2] input.
  const Tensor m = Tensor::from<double>({3, 2}, {1, 6, 5, 2, 3, 4});
  auto v1 = run_op("TopK", 1, {m}, {{"k", Attribute::of_int(2)}, {"axis", Attribute::of_int(0)}}, 2);
  EXPECT_EQ(v1[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(v1[0].to_doubles(), (std::vector<double>{5, 6, 3, 4}));
  EXPECT_EQ(v1[1].to_int64s(), (std::vector<int64_t>{1, 0, 2, 2}));
  EXPECT_THROW(run_op("TopK", 11, {x, Tensor::from<int64_t>({1}, {7})}, {}, 2), Error);
}

TEST(ArgMax, SelectLastIndexAndNaN) {
  const Tensor x = Tensor::from<float>({2, 3}, {2, 5, 5, 1, 1, 0});
  EXPECT_EQ(run_op("ArgMax", 13, {x}, {{"axis", Attribute::of_int(1)}})[0].to_int64s(), (std::vector<int64_t>{1, 0}));
  auto last = run_op("ArgMax", 13, {x},
                     {{"axis", Attribute::of_int(1)},
                      {"select_last_index", Attribute::of_int(1)},
                      {"keepdims", Attribute::of_int(0)}});
  EXPECT_EQ(last[0].shape(), (Shape{2}));
  EXPECT_EQ(last[0].to_int64s(), (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(run_op("ArgMin", 13, {x}, {{"axis", Attribute::of_int(-1)}, {"select_last_index", Attribute::of_int(1)}})[0]
                .to_int64s(),
            (std::vector<int64_t>{0, 2}));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor with_nan = Tensor::from<float>({4}, {1, nan, -3, nan});
  EXPECT_EQ(run_op("ArgMax", 13, {with_nan})[0].to_int64s(), (std::vector<int64_t>{1}));
  EXPECT_EQ(run_op("ArgMin", 13, {with_nan})[0].to_int64s(), (std::vector<int64_t>{1}));
}

TEST(CumSum, ExclusiveReverse) {
  const Tensor x = Tensor::from<int32_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto out = run_op("CumSum", 14, {x, Tensor::scalar<int32_t>(1)},
                    {{"exclusive", Attribute::of_int(1)}, {"reverse", Attribute::of_int(1)}});
  EXPECT_EQ(out[0].to_int64s(), (std::vector<int64_t>{5, 3, 0, 11, 6, 0}));
  out = run_op("CumSum", 11, {x, Tensor::scalar<int64_t>(-2)});
  EXPECT_EQ(out[0].to_int64s(), (std::vector<int64_t>{1, 2, 3, 5, 7, 9}));
}

TEST(NonZeroCompressReverseSequence, Basics) {
  auto nz = run_op("NonZero", 13, {Tensor::from<bool>({2, 2}, {true, false, false, true})});
  EXPECT_EQ(nz[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(nz[0].to_int64s(), (std::vector<int64_t>{0, 1, 0, 1}));

  const Tensor x = Tensor::from<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto c = run_op("Compress", 11, {x, Tensor::from<bool>({2}, {false, true})}, {{"axis", Attribute::of_int(-1)}});
  EXPECT_EQ(c[0].shape(), (Shape{2, 1}));
  EXPECT_EQ(c[0].to_doubles(), (std::vector<double>{2, 5}));
  auto flat = run_op("Compress", 9, {x, Tensor::from<bool>({6}, {true, false, false, false, false, true})});
  EXPECT_EQ(flat[0].to_doubles(), (std::vector<double>{1, 6}));

  // [time = 3, batch = 2]: batch 0 reverses 3 steps, batch 1 reverses 2.
  const Tensor seq = Tensor::from<int64_t>({3, 2}, {0, 10, 1, 11, 2, 12});
  auto r = run_op("ReverseSequence", 10, {seq, Tensor::from<int64_t>({2}, {3, 2})});
  EXPECT_EQ(r[0].to_int64s(), (std::vector<int64_t>{2, 11, 1, 10, 0, 12}));
  EXPECT_THROW(run_op("ReverseSequence", 10, {seq, Tensor::from<int64_t>({2}, {4, 2})}), Error);
}

}  // namespace
}  // namespace onnx_train
