// raise_from_opset17 (importers/raise_opset.h): the opset-17 forms the runtime emits become the
// forms of the model's newer opset where they differ (Reduce* axes as an input at 18, Split
// without sizes at 18, GridSample's renamed modes and DFT's axis input at 20), and stay as they
// are where they do not.
#include "importers/raise_opset.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace onnx_train {
namespace {

Node node(const std::string& name, const std::string& op, std::vector<std::string> inputs,
          std::vector<std::string> outputs, std::map<std::string, Attribute> attributes = {}) {
  Node n;
  n.name = name;
  n.op_type = op;
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  n.attributes = std::move(attributes);
  n.opset = 17;
  return n;
}

// x [2, 4] (and a grid) through one node of each kind the raise rewrites or leaves alone.
Graph opset17_graph() {
  Graph g;
  g.opsets[""] = 17;
  g.opsets[kProjectDomain] = 1;
  ValueInfo x;
  x.name = "x";
  x.dtype = DType::Float32;
  x.shape = Shape{2, 4};
  g.inputs.push_back(x);
  g.initializers["sum_axes"] = Tensor::from<int64_t>({1}, {1});
  g.nodes.push_back(node("mean", "ReduceMean", {"x"}, {"m"},
                         {{"axes", Attribute::of_ints({1})}, {"keepdims", Attribute::of_int(0)}}));
  g.nodes.push_back(node("all", "ReduceSumSquare", {"x"}, {"s"}, {{"keepdims", Attribute::of_int(0)}}));
  g.nodes.push_back(node("sum", "ReduceSum", {"x", "sum_axes"}, {"t"}));
  g.nodes.push_back(node("halves", "Split", {"x"}, {"a", "b"}, {{"axis", Attribute::of_int(1)}}));
  g.nodes.push_back(node("sample", "GridSample", {"x", "x"}, {"gs"}, {{"mode", Attribute::of_string("bilinear")}}));
  g.nodes.push_back(node("spectrum", "DFT", {"x"}, {"d"}));
  g.nodes.push_back(node("pad", "Pad", {"x", "sum_axes"}, {"p"}));
  Node grad = node("grad", "ReluGrad", {"x", "x"}, {"g"}, {{"axes", Attribute::of_ints({0})}});
  grad.domain = kProjectDomain;
  g.nodes.push_back(grad);
  return g;
}

const Node& named(const Graph& g, const std::string& name) {
  for (const Node& n : g.nodes)
    if (n.name == name) return n;
  throw Error("no node " + name);
}

// The Constant node writing `value`, or nullptr.
const Node* constant_of(const Graph& g, const std::string& value) {
  for (const Node& n : g.nodes)
    if (n.op_type == "Constant" && n.outputs[0] == value) return &n;
  return nullptr;
}

TEST(RaiseOpset, Opset20FormsOfTheOpsThatChanged) {
  Graph g = opset17_graph();
  raise_from_opset17(g, 20, {"mean/axes"});
  EXPECT_EQ(g.opsets.at(""), 20);
  EXPECT_EQ(g.opsets.at(kProjectDomain), 1);

  const Node& mean = named(g, "mean");
  EXPECT_FALSE(mean.has_attr("axes"));
  EXPECT_EQ(mean.attr_int("keepdims"), 0);
  ASSERT_EQ(mean.inputs.size(), 2u);
  EXPECT_NE(mean.inputs[1], "mean/axes");  // reserved by the caller
  const Node* axes = constant_of(g, mean.inputs[1]);
  ASSERT_NE(axes, nullptr);
  EXPECT_EQ(axes->attr_tensor("value").to_doubles(), std::vector<double>{1});
  EXPECT_EQ(axes->attr_tensor("value").dtype(), DType::Int64);
  // The constant comes before its reader.
  size_t at_constant = 0, at_mean = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (&g.nodes[i] == axes) at_constant = i;
    if (g.nodes[i].name == "mean") at_mean = i;
  }
  EXPECT_LT(at_constant, at_mean);

  EXPECT_EQ(named(g, "all").inputs.size(), 1u);  // no axes: every axis, as before
  EXPECT_EQ(named(g, "sum").inputs, (std::vector<std::string>{"x", "sum_axes"}));
  EXPECT_EQ(named(g, "halves").attr_int("num_outputs"), 2);
  EXPECT_EQ(named(g, "sample").attr_string("mode"), "linear");

  const Node& dft = named(g, "spectrum");
  ASSERT_EQ(dft.inputs.size(), 3u);
  EXPECT_EQ(dft.inputs[1], "");  // dft_length omitted
  const Node* axis = constant_of(g, dft.inputs[2]);
  ASSERT_NE(axis, nullptr);
  EXPECT_EQ(axis->attr_tensor("value").to_doubles(), std::vector<double>{1});  // DFT-17's default axis
  EXPECT_EQ(axis->attr_tensor("value").rank(), 0);

  EXPECT_EQ(named(g, "pad").inputs.size(), 2u);
  EXPECT_TRUE(named(g, "grad").has_attr("axes"));  // another domain: as it was
  EXPECT_EQ(g.nodes.size(), opset17_graph().nodes.size() + 2);
}

TEST(RaiseOpset, Opset18KeepsGridSamplesAndDftsForm) {
  Graph g = opset17_graph();
  raise_from_opset17(g, 18);
  EXPECT_EQ(named(g, "sample").attr_string("mode"), "bilinear");
  EXPECT_EQ(named(g, "spectrum").inputs.size(), 1u);
  EXPECT_FALSE(named(g, "mean").has_attr("axes"));
  EXPECT_EQ(named(g, "mean").inputs.size(), 2u);
}

TEST(RaiseOpset, NothingChangesUpToOpset17) {
  for (int opset : {13, 17}) {
    Graph g = opset17_graph();
    raise_from_opset17(g, opset);
    EXPECT_EQ(g.opsets.at(""), 17);
    EXPECT_EQ(g.nodes.size(), opset17_graph().nodes.size());
    EXPECT_TRUE(named(g, "mean").has_attr("axes"));
  }
}

}  // namespace
}  // namespace onnx_train
