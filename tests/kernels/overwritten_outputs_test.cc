// Kernels that take their outputs without the zero fill (KernelContext::allocate_output_to_overwrite)
// must write every element on every path: here each runs on storage recycled from a buffer pool
// and poisoned with 0xFF bytes (NaN in float, -1 in integers), and must give exactly the output
// of a run on fresh zero-filled storage. The cases are the edge paths that do not go through
// oneDNN's full write: empty inner dimensions, float64 reference loops, ConvTranspose positions
// no input reaches, broadcasts.
#include <gtest/gtest.h>

#include <cstring>

#include "runtime/core/buffer_pool.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train::testing {
namespace {

std::vector<Tensor> run_on(const Node& node, const std::vector<Tensor>& inputs, BufferPool* pool) {
  auto kernel = make_kernel(node);  // a fresh kernel each time: stateful ones (Dropout) repeat themselves
  std::vector<const Tensor*> pointers;
  for (const Tensor& t : inputs) pointers.push_back(t.defined() ? &t : nullptr);
  std::vector<Tensor> outputs(node.outputs.size());
  KernelContext ctx(node, std::move(pointers), outputs, pool);
  kernel->run(ctx);
  return outputs;
}

void expect_same_on_poisoned_storage(const Node& node, const std::vector<Tensor>& inputs) {
  SCOPED_TRACE(node.op_type);
  const std::vector<Tensor> expected = run_on(node, inputs, nullptr);
  BufferPool pool;
  {
    std::vector<Tensor> first = run_on(node, inputs, &pool);
    for (Tensor& t : first)
      if (t.defined() && t.nbytes() > 0) std::memset(t.raw_data(), 0xFF, t.nbytes());
  }  // the poisoned blocks go back to the pool, and the next run takes them
  const std::vector<Tensor> again = run_on(node, inputs, &pool);
  ASSERT_EQ(again.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    if (!expected[i].defined()) continue;
    ASSERT_EQ(again[i].shape(), expected[i].shape()) << "output " << i;
    EXPECT_EQ(std::memcmp(again[i].raw_data(), expected[i].raw_data(), expected[i].nbytes()), 0) << "output " << i;
  }
}

TEST(OverwrittenOutputs, MatMulAndGemmEdgePaths) {
  expect_same_on_poisoned_storage(make_node("MatMul", 13, 2, 1),
                                  {random_tensor<float>({2, 0}, 1), random_tensor<float>({0, 3}, 2)});
  expect_same_on_poisoned_storage(make_node("MatMul", 13, 2, 1),
                                  {random_tensor<double>({2, 4, 5}, 1), random_tensor<double>({5, 3}, 2)});
  expect_same_on_poisoned_storage(make_node("MatMul", 13, 2, 1),
                                  {random_tensor<float>({3, 2, 4, 5}, 1), random_tensor<float>({2, 5, 3}, 2)});
  Node gemm = make_node("Gemm", 13, 3, 1, {{"beta", Attribute::of_float(0.5f)}, {"transA", Attribute::of_int(1)}});
  expect_same_on_poisoned_storage(
      gemm, {random_tensor<float>({5, 4}, 1), random_tensor<float>({5, 3}, 2), random_tensor<float>({3}, 3)});
  expect_same_on_poisoned_storage(
      gemm, {random_tensor<float>({0, 4}, 1), random_tensor<float>({0, 3}, 2), random_tensor<float>({4, 1}, 3)});
  expect_same_on_poisoned_storage(make_node("Gemm", 13, 2, 1),
                                  {random_tensor<double>({4, 5}, 1), random_tensor<double>({5, 3}, 2)});
}

TEST(OverwrittenOutputs, ConvolutionPaths) {
  const Tensor x32 = random_tensor<float>({2, 3, 7, 7}, 1), w32 = random_tensor<float>({4, 3, 3, 3}, 2);
  expect_same_on_poisoned_storage(make_node("Conv", 11, 2, 1), {x32, w32});
  expect_same_on_poisoned_storage(make_node("Conv", 11, 3, 1, {{"strides", Attribute::of_ints({2, 2})}}),
                                  {to_double(x32), to_double(w32), random_tensor<double>({4}, 3)});
  // Stride 3 with a 1x1 kernel: two of every three output positions hold the bias alone.
  expect_same_on_poisoned_storage(make_node("ConvTranspose", 11, 3, 1, {{"strides", Attribute::of_ints({3, 3})}}),
                                  {random_tensor<float>({1, 2, 4, 4}, 4), random_tensor<float>({2, 3, 1, 1}, 5),
                                   random_tensor<float>({3}, 6)});
}

TEST(OverwrittenOutputs, ElementWiseSoftmaxTransposeDropout) {
  expect_same_on_poisoned_storage(make_node("Add", 14, 2, 1),
                                  {random_tensor<float>({2, 3, 4, 5}, 1), random_tensor<float>({3, 1, 1}, 2)});
  expect_same_on_poisoned_storage(make_node("Mul", 14, 2, 1),
                                  {random_tensor<int32_t>({4, 5}, 1, -50, 50), random_tensor<int32_t>({5}, 2, -50, 50)});
  expect_same_on_poisoned_storage(make_node("Relu", 14, 1, 1), {random_tensor<float>({3, 70001}, 3)});
  expect_same_on_poisoned_storage(make_node("Erf", 13, 1, 1), {random_tensor<float>({1001}, 4)});
  expect_same_on_poisoned_storage(make_node("Softmax", 13, 1, 1), {random_tensor<float>({3, 4, 5}, 5)});
  expect_same_on_poisoned_storage(make_node("Transpose", 13, 1, 1, {{"perm", Attribute::of_ints({2, 0, 1})}}),
                                  {random_tensor<float>({3, 4, 5}, 6)});
  expect_same_on_poisoned_storage(make_node("Dropout", 13, 3, 2, {{"seed", Attribute::of_int(7)}}),
                                  {random_tensor<float>({5, 1001}, 7), Tensor::scalar<float>(0.5f),
                                   Tensor::scalar<bool>(true)});
}

}  // namespace
}  // namespace onnx_train::testing
