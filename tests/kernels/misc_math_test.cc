// Unit tests for the miscellaneous math kernels (runtime/kernels/reference/misc_math.cc):
// the four outputs of Unique (sorted, unsorted, along an axis) and Det of known, singular
// and batched matrices.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/kernels/kernel.h"

namespace onnx_train {
namespace {

Attribute int_attr(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::Int;
  a.i = v;
  return a;
}

// Builds the registered kernel for (op, since_version) and runs it once.
std::vector<Tensor> run(const std::string& op, int since_version, const std::vector<Tensor>& inputs,
                        std::map<std::string, Attribute> attrs = {}, size_t num_outputs = 1) {
  Node node;
  node.name = "n";
  node.op_type = op;
  node.since_version = since_version;
  node.opset = since_version;
  for (size_t i = 0; i < inputs.size(); ++i) node.inputs.push_back("in" + std::to_string(i));
  for (size_t i = 0; i < num_outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  node.attributes = std::move(attrs);
  const KernelFactory* factory = KernelRegistry::global().find("", op, since_version);
  if (factory == nullptr) throw Error(op + " is not registered at this version");
  auto kernel = (*factory)(KernelInfo{node, {}});
  std::vector<const Tensor*> input_ptrs;
  for (const Tensor& t : inputs) input_ptrs.push_back(&t);
  std::vector<Tensor> outputs(num_outputs);
  KernelContext ctx(node, input_ptrs, outputs, nullptr);
  kernel->run(ctx);
  return outputs;
}

TEST(Unique, SortedFlattened) {
  // The spec's example 2: [[1, 3], [2, 3]].
  const Tensor x = Tensor::from<int64_t>({4}, {1, 3, 2, 3}).reshaped({2, 2});
  const std::vector<Tensor> out = run("Unique", 11, {x}, {}, 4);
  EXPECT_EQ(out[0].shape(), (Shape{3}));
  EXPECT_EQ(out[0].to_int64s(), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(out[1].to_int64s(), (std::vector<int64_t>{0, 2, 1}));
  EXPECT_EQ(out[2].to_int64s(), (std::vector<int64_t>{0, 2, 1, 2}));
  EXPECT_EQ(out[3].to_int64s(), (std::vector<int64_t>{1, 1, 2}));
}

TEST(Unique, UnsortedKeepsFirstOccurrenceOrder) {
  // The spec's example 1.
  const Tensor x = Tensor::from<float>({6}, {2, 1, 1, 3, 4, 3});
  const std::vector<Tensor> out = run("Unique", 11, {x}, {{"sorted", int_attr(0)}}, 4);
  EXPECT_EQ(out[0].to_doubles(), (std::vector<double>{2, 1, 3, 4}));
  EXPECT_EQ(out[1].to_int64s(), (std::vector<int64_t>{0, 1, 3, 4}));
  EXPECT_EQ(out[2].to_int64s(), (std::vector<int64_t>{0, 1, 1, 2, 3, 2}));
  EXPECT_EQ(out[3].to_int64s(), (std::vector<int64_t>{1, 2, 2, 1}));
}

TEST(Unique, SlicesAlongLastAxis) {
  // Columns of [[1, 0, 0], [1, 0, 0], [2, 3, 3]]: (1,1,2), (0,0,3), (0,0,3).
  const Tensor x = Tensor::from<int32_t>({9}, {1, 0, 0, 1, 0, 0, 2, 3, 3}).reshaped({3, 3});
  const std::vector<Tensor> out = run("Unique", 11, {x}, {{"axis", int_attr(-1)}}, 4);
  EXPECT_EQ(out[0].shape(), (Shape{3, 2}));
  EXPECT_EQ(out[0].to_int64s(), (std::vector<int64_t>{0, 1, 0, 1, 3, 2}));
  EXPECT_EQ(out[1].to_int64s(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(out[2].to_int64s(), (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ(out[3].to_int64s(), (std::vector<int64_t>{2, 1}));
}

TEST(Det, KnownSingularAndBatched) {
  // det [[0, 2, 1], [1, 1, 1], [2, 0, 3]] = 0*(3-0) - 2*(3-2) + 1*(0-2) = -4 (needs a pivot swap).
  const Tensor a = Tensor::from<double>({9}, {0, 2, 1, 1, 1, 1, 2, 0, 3}).reshaped({3, 3});
  const Tensor ya = run("Det", 11, {a})[0];
  EXPECT_EQ(ya.shape(), (Shape{}));
  EXPECT_NEAR(ya.to_doubles()[0], -4.0, 1e-12);

  const Tensor singular = Tensor::from<float>({9}, {1, 2, 3, 2, 4, 6, 1, 0, 1}).reshaped({3, 3});
  EXPECT_EQ(run("Det", 11, {singular})[0].to_doubles()[0], 0.0);

  const Tensor batch = Tensor::from<float>({8}, {1, 2, 3, 4, 2, 0, 0, 3}).reshaped({2, 2, 2});
  const Tensor yb = run("Det", 11, {batch})[0];
  EXPECT_EQ(yb.shape(), (Shape{2}));
  EXPECT_NEAR(yb.to_doubles()[0], -2.0, 1e-6);
  EXPECT_NEAR(yb.to_doubles()[1], 6.0, 1e-6);

  EXPECT_THROW(run("Det", 11, {Tensor::from<float>({6}, {1, 2, 3, 4, 5, 6}).reshaped({2, 3})}), Error);
}

}  // namespace
}  // namespace onnx_train
