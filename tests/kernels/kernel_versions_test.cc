// Older schema versions of ops whose later versions only widened the element types (or
// moved an attribute the case does not use): each runs on inputs both versions take and
// must give exactly the output of a newer version, which ONNX's backend cases check. These
// are the versions no backend case and no other test reaches (kernel_coverage_test.cc
// names this test as their evidence).
//
// This is not where an op's semantics are tested: that is its family's test and the
// backend cases of its newest version.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "runtime/kernels/kernel.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::random_float32;
using testing::run_op;

struct VersionCase {
  std::string op;  // run at every version in `older` and at `newer`
  std::vector<int> older;
  int newer;
  std::vector<Tensor> inputs;
  std::map<std::string, Attribute> attributes = {};
  std::string newer_op = {};  // the op run at `newer` when not `op` (a renamed op)
};

Tensor int64_tensor(const Shape& shape, const std::vector<int64_t>& values) { return Tensor::from(shape, values); }

// |x| + 0.1: inputs Log takes without NaN.
Tensor positive(const Tensor& x) {
  Tensor out(DType::Float32, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) out.data<float>()[i] = std::abs(x.data<float>()[i]) + 0.1f;
  return out;
}

std::vector<VersionCase> cases() {
  const Tensor x = random_float32({3, 4}, 1);
  const Tensor y = random_float32({3, 4}, 2);
  const Tensor x3 = random_float32({2, 3, 4}, 3);
  const Tensor c3 = random_float32({3}, 4);
  const Tensor a = int64_tensor({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor b = int64_tensor({2, 3}, {1, 0, 3, 0, 5, 0});
  const std::map<std::string, Attribute> axis1 = {{"axis", Attribute::of_int(1)}};
  const std::map<std::string, Attribute> reduce = {{"axes", Attribute::of_ints({1})},
                                                   {"keepdims", Attribute::of_int(0)}};
  std::vector<VersionCase> out = {
      {"Constant", {9}, 13, {}, {{"value", Attribute::of_tensor(x)}}},
      {"ArgMax", {1, 11, 12}, 13, {x}, axis1},
      {"ArgMin", {1, 11, 12}, 13, {x}, axis1},
      {"Ceil", {6}, 13, {x}},
      {"Floor", {6}, 13, {x}},
      {"Log", {6}, 13, {positive(x)}},
      {"IsNaN", {9}, 13, {x}},
      {"Identity", {14}, 13, {x}},
      {"Shape", {1}, 13, {x3}},
      {"Size", {1}, 13, {x3}},
      {"Flatten", {9}, 13, {x3}, axis1},
      {"NonZero", {9}, 13, {b}},
      {"Equal", {7, 11}, 13, {a, b}},
      {"Greater", {7, 9}, 13, {x, y}},
      {"Less", {7, 9}, 13, {x, y}},
      {"GreaterOrEqual", {12}, 16, {x, y}},
      {"LessOrEqual", {12}, 16, {x, y}},
      {"Hardmax", {1, 11}, 13, {x}, axis1},  // 2-D, axis 1: the coerced block is the axis
      {"ReduceL1", {1, 11}, 13, {x}, reduce},
      {"ReduceL2", {1, 11}, 13, {x}, reduce},
      {"ReduceLogSum", {11}, 13, {positive(x)}, reduce},
      {"ReduceLogSumExp", {1, 11}, 13, {x}, reduce},
      {"ReduceMax", {1}, 13, {x}, reduce},
      {"ReduceMean", {11}, 13, {x}, reduce},
      {"ReduceMin", {1}, 13, {x}, reduce},
      {"ReduceProd", {1, 11}, 13, {x}, reduce},
      {"ReduceSumSquare", {1, 11}, 13, {x}, reduce},
      {"BatchNormalization", {9, 14}, 15, {x3, c3, random_float32({3}, 5), random_float32({3}, 6), positive(c3)}},
      {"Scatter", {11}, 11, {x, int64_tensor({1, 2}, {2, 0}), random_float32({1, 2}, 7)}, {}, "ScatterElements"},
      {"Upsample", {10}, 9, {x3, Tensor::from<float>({3}, {1.f, 2.f, 2.f})}},
  };
  return out;
}

void expect_same(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.dtype(), b.dtype());
  ASSERT_EQ(a.shape(), b.shape());
  const std::vector<double> u = a.to_doubles(), v = b.to_doubles();
  for (size_t i = 0; i < u.size(); ++i) EXPECT_EQ(u[i], v[i]) << "element " << i;
}

TEST(KernelVersions, OlderSchemaVersionsMatchANewerOne) {
  for (const VersionCase& c : cases()) {
    const std::string newer_op = c.newer_op.empty() ? c.op : c.newer_op;
    const Tensor expected = run_op(newer_op, c.newer, c.inputs, c.attributes)[0];
    for (int v : c.older) {
      SCOPED_TRACE(c.op + "-" + std::to_string(v) + " against " + newer_op + "-" + std::to_string(c.newer));
      expect_same(run_op(c.op, v, c.inputs, c.attributes)[0], expected);
    }
  }
}

}  // namespace
}  // namespace onnx_train
