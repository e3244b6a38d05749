// Unit tests for the indexing kernels (runtime/kernels/reference/indexing*.cc): semantics
// the ONNX conformance data does not pin down (TopK ties, NaN, version differences) and
// the errors for bad indices.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "runtime/kernels/kernel.h"

namespace onnx_train {
namespace {

Attribute int_attr(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::Int;
  a.i = v;
  return a;
}

Attribute string_attr(const std::string& s) {
  Attribute a;
  a.kind = Attribute::Kind::String;
  a.s = s;
  return a;
}

Node make_node(const std::string& op, int since_version, std::map<std::string, Attribute> attrs,
               size_t num_inputs, size_t num_outputs) {
  Node node;
  node.name = "n";
  node.op_type = op;
  node.since_version = since_version;
  node.opset = since_version;
  for (size_t i = 0; i < num_inputs; ++i) node.inputs.push_back("in" + std::to_string(i));
  for (size_t i = 0; i < num_outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  node.attributes = std::move(attrs);
  return node;
}

// Builds the registered kernel for (op, since_version) and runs it once.
std::vector<Tensor> run(const std::string& op, int since_version, const std::vector<Tensor>& inputs,
                        std::map<std::string, Attribute> attrs = {}, size_t num_outputs = 1) {
  const Node node = make_node(op, since_version, std::move(attrs), inputs.size(), num_outputs);
  const KernelFactory* factory = KernelRegistry::global().find("", op, since_version);
  if (factory == nullptr) throw Error(op + " is not registered at this version");
  KernelInfo info{node, {}};
  auto kernel = (*factory)(info);
  std::vector<const Tensor*> input_ptrs;
  for (const Tensor& t : inputs) input_ptrs.push_back(&t);
  std::vector<Tensor> outputs(num_outputs);
  KernelContext ctx(node, input_ptrs, outputs, nullptr);
  kernel->run(ctx);
  return outputs;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(IndexingKernels, RegisteredVersions) {
  const auto& r = KernelRegistry::global();
  EXPECT_EQ(r.versions("", "Gather"), (std::vector<int>{1, 11, 13}));
  EXPECT_EQ(r.versions("", "TopK"), (std::vector<int>{1, 10, 11}));
  EXPECT_EQ(r.versions("", "ScatterND"), (std::vector<int>{11, 13, 16}));
  EXPECT_EQ(r.versions("", "ArgMin"), (std::vector<int>{1, 11, 12, 13}));
}

TEST(Gather, NegativeIndicesAndInt32) {
  const Tensor data = Tensor::from<float>({3, 2}, {1, 2, 3, 4, 5, 6});
  auto out = run("Gather", 13, {data, Tensor::from<int32_t>({2}, {-1, 0})});
  EXPECT_EQ(out[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(out[0].to_doubles(), (std::vector<double>{5, 6, 1, 2}));
  out = run("Gather", 13, {data, Tensor::from<int64_t>({1, 1}, {1})}, {{"axis", int_attr(1)}});
  EXPECT_EQ(out[0].shape(), (Shape{3, 1, 1}));
  EXPECT_EQ(out[0].to_doubles(), (std::vector<double>{2, 4, 6}));
}

TEST(Gather, OutOfRangeIndexIsAClearError) {
  const Tensor data = Tensor::from<float>({3, 2}, {1, 2, 3, 4, 5, 6});
  const std::string msg = error_of([&] { run("Gather", 13, {data, Tensor::from<int64_t>({1}, {-4})}); });
  EXPECT_NE(msg.find("node 'n' (Gather"), std::string::npos) << msg;
  EXPECT_NE(msg.find("index -4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[-3, 2]"), std::string::npos) << msg;
  EXPECT_THROW(run("Gather", 13, {data, Tensor::from<int64_t>({1}, {3})}), Error);
  EXPECT_THROW(run("Gather", 13, {data, Tensor::from<float>({1}, {0})}), Error);  // float indices
}

TEST(GatherND, BatchDims) {
  // data [2, 2, 2], indices [2, 1] with batch_dims = 1: out[b] = data[b, indices[b, 0]].
  const Tensor data = Tensor::from<int32_t>({2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  auto out = run("GatherND", 12, {data, Tensor::from<int64_t>({2, 1}, {1, 0})}, {{"batch_dims", int_attr(1)}});
  EXPECT_EQ(out[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(out[0].to_int64s(), (std::vector<int64_t>{2, 3, 4, 5}));
  EXPECT_THROW(run("GatherND", 12, {data, Tensor::from<int64_t>({2, 1}, {2, 0})}, {{"batch_dims", int_attr(1)}}),
               Error);
}

TEST(GatherElements, NegativeIndices) {
  const Tensor data = Tensor::from<int64_t>({2, 2}, {1, 2, 3, 4});
  auto out = run("GatherElements", 13, {data, Tensor::from<int32_t>({2, 2}, {0, -1, 1, 0})}, {{"axis", int_attr(1)}});
  EXPECT_EQ(out[0].to_int64s(), (std::vector<int64_t>{1, 2, 4, 3}));
  const std::string msg =
      error_of([&] { run("GatherElements", 13, {data, Tensor::from<int64_t>({1, 1}, {2})}, {{"axis", int_attr(0)}}); });
  EXPECT_NE(msg.find("index 2 is out of range for axis 0"), std::string::npos) << msg;
}

TEST(ScatterND, SlicesAndReduction) {
  // data [2, 2]; one index tuple of length 1 writes the whole row 1.
  const Tensor data = Tensor::from<double>({2, 2}, {1, 2, 3, 4});
  const Tensor indices = Tensor::from<int64_t>({2, 1}, {1, 1});
  const Tensor updates = Tensor::from<double>({2, 2}, {10, 20, 30, 40});
  EXPECT_EQ(run("ScatterND", 16, {data, indices, updates}, {{"reduction", string_attr("add")}})[0].to_doubles(),
            (std::vector<double>{1, 2, 43, 64}));
  // ScatterND-13 has no reduction attribute: duplicates overwrite, the last one wins here.
  EXPECT_EQ(run("ScatterND", 13, {data, indices, updates})[0].to_doubles(), (std::vector<double>{1, 2, 30, 40}));
  EXPECT_THROW(run("ScatterND", 13, {data, Tensor::from<int64_t>({2, 1}, {1, -3}), updates}), Error);
  EXPECT_THROW(run("ScatterND", 13, {data, indices, Tensor::from<double>({2}, {1, 2})}), Error);  // bad updates shape
}

TEST(ScatterElements, ReductionsAndDuplicates) {
  const Tensor data = Tensor::from<float>({1, 3}, {1, 2, 3});
  const Tensor indices = Tensor::from<int64_t>({1, 2}, {1, 1});
  const Tensor updates = Tensor::from<float>({1, 2}, {10, 20});
  auto add = run("ScatterElements", 16, {data, indices, updates}, {{"axis", int_attr(1)}, {"reduction", string_attr("add")}});
  EXPECT_EQ(add[0].to_doubles(), (std::vector<double>{1, 32, 3}));
  auto mul = run("ScatterElements", 16, {data, indices, updates}, {{"axis", int_attr(1)}, {"reduction", string_attr("mul")}});
  EXPECT_EQ(mul[0].to_doubles(), (std::vector<double>{1, 400, 3}));
  EXPECT_THROW(run("ScatterElements", 16, {data, indices, updates}, {{"reduction", string_attr("max")}}), Error);
  // Scatter-9 is ScatterElements without reduction; the input is left untouched.
  auto plain = run("Scatter", 9, {data, Tensor::from<int64_t>({1, 1}, {-1}), Tensor::from<float>({1, 1}, {7})},
                   {{"axis", int_attr(1)}});
  EXPECT_EQ(plain[0].to_doubles(), (std::vector<double>{1, 2, 7}));
  EXPECT_EQ(data.to_doubles(), (std::vector<double>{1, 2, 3}));
}

TEST(OneHot, NegativeIndicesDependOnVersion) {
  const Tensor indices = Tensor::from<int64_t>({2}, {-1, 1});
  const Tensor depth = Tensor::scalar<float>(3);
  const Tensor values = Tensor::from<int32_t>({2}, {0, 5});
  EXPECT_EQ(run("OneHot", 11, {indices, depth, values})[0].to_int64s(), (std::vector<int64_t>{0, 0, 5, 0, 5, 0}));
  EXPECT_EQ(run("OneHot", 9, {indices, depth, values})[0].to_int64s(), (std::vector<int64_t>{0, 0, 0, 0, 5, 0}));
  auto axis0 = run("OneHot", 11, {indices, depth, values}, {{"axis", int_attr(0)}});
  EXPECT_EQ(axis0[0].shape(), (Shape{3, 2}));
  EXPECT_EQ(axis0[0].to_int64s(), (std::vector<int64_t>{0, 0, 0, 5, 5, 0}));
}

TEST(TopK, TiesTakeTheLowerIndexFirst) {
  const Tensor x = Tensor::from<float>({6}, {1, 3, 3, 2, 3, 1});
  auto largest = run("TopK", 11, {x, Tensor::from<int64_t>({1}, {4})}, {}, 2);
  EXPECT_EQ(largest[0].to_doubles(), (std::vector<double>{3, 3, 3, 2}));
  EXPECT_EQ(largest[1].to_int64s(), (std::vector<int64_t>{1, 2, 4, 3}));
  auto smallest = run("TopK", 11, {x, Tensor::from<int64_t>({1}, {3})}, {{"largest", int_attr(0)}}, 2);
  EXPECT_EQ(smallest[0].to_doubles(), (std::vector<double>{1, 1, 2}));
  EXPECT_EQ(smallest[1].to_int64s(), (std::vector<int64_t>{0, 5, 3}));
  // TopK-1: k is an attribute; axis 0 of a [3, 2] input.
  const Tensor m = Tensor::from<double>({3, 2}, {1, 6, 5, 2, 3, 4});
  auto v1 = run("TopK", 1, {m}, {{"k", int_attr(2)}, {"axis", int_attr(0)}}, 2);
  EXPECT_EQ(v1[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(v1[0].to_doubles(), (std::vector<double>{5, 6, 3, 4}));
  EXPECT_EQ(v1[1].to_int64s(), (std::vector<int64_t>{1, 0, 2, 2}));
  EXPECT_THROW(run("TopK", 11, {x, Tensor::from<int64_t>({1}, {7})}, {}, 2), Error);
}

TEST(ArgMax, SelectLastIndexAndNaN) {
  const Tensor x = Tensor::from<float>({2, 3}, {2, 5, 5, 1, 1, 0});
  EXPECT_EQ(run("ArgMax", 13, {x}, {{"axis", int_attr(1)}})[0].to_int64s(), (std::vector<int64_t>{1, 0}));
  auto last = run("ArgMax", 13, {x}, {{"axis", int_attr(1)}, {"select_last_index", int_attr(1)}, {"keepdims", int_attr(0)}});
  EXPECT_EQ(last[0].shape(), (Shape{2}));
  EXPECT_EQ(last[0].to_int64s(), (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(run("ArgMin", 13, {x}, {{"axis", int_attr(-1)}, {"select_last_index", int_attr(1)}})[0].to_int64s(),
            (std::vector<int64_t>{0, 2}));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor with_nan = Tensor::from<float>({4}, {1, nan, -3, nan});
  EXPECT_EQ(run("ArgMax", 13, {with_nan})[0].to_int64s(), (std::vector<int64_t>{1}));
  EXPECT_EQ(run("ArgMin", 13, {with_nan})[0].to_int64s(), (std::vector<int64_t>{1}));
}

TEST(CumSum, ExclusiveReverse) {
  const Tensor x = Tensor::from<int32_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto out = run("CumSum", 14, {x, Tensor::scalar<int32_t>(1)}, {{"exclusive", int_attr(1)}, {"reverse", int_attr(1)}});
  EXPECT_EQ(out[0].to_int64s(), (std::vector<int64_t>{5, 3, 0, 11, 6, 0}));
  out = run("CumSum", 11, {x, Tensor::scalar<int64_t>(-2)});
  EXPECT_EQ(out[0].to_int64s(), (std::vector<int64_t>{1, 2, 3, 5, 7, 9}));
}

TEST(NonZeroCompressReverseSequence, Basics) {
  auto nz = run("NonZero", 13, {Tensor::from<bool>({2, 2}, {true, false, false, true})});
  EXPECT_EQ(nz[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(nz[0].to_int64s(), (std::vector<int64_t>{0, 1, 0, 1}));

  const Tensor x = Tensor::from<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto c = run("Compress", 11, {x, Tensor::from<bool>({2}, {false, true})}, {{"axis", int_attr(-1)}});
  EXPECT_EQ(c[0].shape(), (Shape{2, 1}));
  EXPECT_EQ(c[0].to_doubles(), (std::vector<double>{2, 5}));
  auto flat = run("Compress", 9, {x, Tensor::from<bool>({6}, {true, false, false, false, false, true})});
  EXPECT_EQ(flat[0].to_doubles(), (std::vector<double>{1, 6}));

  // [time = 3, batch = 2]: batch 0 reverses 3 steps, batch 1 reverses 2.
  const Tensor seq = Tensor::from<int64_t>({3, 2}, {0, 10, 1, 11, 2, 12});
  auto r = run("ReverseSequence", 10, {seq, Tensor::from<int64_t>({2}, {3, 2})});
  EXPECT_EQ(r[0].to_int64s(), (std::vector<int64_t>{2, 11, 1, 10, 0, 12}));
  EXPECT_THROW(run("ReverseSequence", 10, {seq, Tensor::from<int64_t>({2}, {4, 2})}), Error);
}

}  // namespace
}  // namespace onnx_train
