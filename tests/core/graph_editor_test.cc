// The graph editor (runtime/ir/editor.h) and the schema helpers (runtime/ir/schema.h): fresh
// names, nodes at the graph's opset with their schema version, constants in either form,
// and the attribute-or-input forms that change across opsets.
#include <gtest/gtest.h>

#include "runtime/ir/editor.h"

namespace onnx_train {
namespace {

Graph graph_at(int opset) {
  Graph g;
  g.opsets[""] = opset;
  ValueInfo x;
  x.name = "x";
  x.dtype = DType::Float32;
  x.shape = Shape{2, 3};
  g.inputs.push_back(x);
  return g;
}

const Node& producer(const Graph& g, const std::string& value) {
  const Node* n = g.producer_of(value);
  EXPECT_NE(n, nullptr) << value;
  return *n;
}

TEST(GraphEditor, FreshNamesAvoidEveryValueAndNode) {
  Graph g = graph_at(13);
  g.nodes.push_back(Node{"y", "Relu", "", 13, 13, {"x"}, {"r"}, {}});
  GraphEditor e(g);
  EXPECT_EQ(e.fresh("z"), "z");
  EXPECT_EQ(e.fresh("z"), "z_1");
  EXPECT_EQ(e.fresh("x"), "x_1");
  EXPECT_EQ(e.fresh("y"), "y_1");  // a node's name
  EXPECT_EQ(e.fresh("r"), "r_1");
  e.reserve("w_1");
  EXPECT_EQ(e.fresh("w"), "w");
  EXPECT_EQ(e.fresh("w"), "w_2");
}

TEST(GraphEditor, NodesGetTheSchemaVersionOfTheGraphsOpset) {
  Graph g = graph_at(12);
  GraphEditor e(g, "test", "t/");
  const Node& n = e.add("Relu", {"x"}, {e.fresh("r")});
  EXPECT_EQ(n.name, "t/Relu");
  EXPECT_EQ(n.opset, 12);
  EXPECT_EQ(n.since_version, onnx_since_version("Relu", 12));
  EXPECT_EQ(n.since_version, 6);
  e.import_domain(kProjectDomain, 1);
  EXPECT_EQ(e.add("SumToShape", {"x", "s"}, {"u"}, {}, kProjectDomain).since_version, 1);
  try {
    e.add("Gelu", {"x"}, {"g"});  // ONNX defines Gelu from opset 20
    FAIL() << "no error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("test: ONNX has no op Gelu at opset 12"), std::string::npos) << err.what();
  }
}

TEST(GraphEditor, AxesAreAnAttributeBeforeOpset13AndAnInputFrom13) {
  for (int opset : {12, 13}) {
    Graph g = graph_at(opset);
    GraphEditor e(g);
    // Copies: adding a node may move the graph's nodes.
    const Node u = producer(g, e.unsqueeze("x", {0}, "u"));
    const Node s = producer(g, e.reduce("ReduceSum", "x", {1}, false, "s"));
    const Node m = producer(g, e.reduce("ReduceMean", "x", {1}, false, "m"));  // an input from 18
    if (opset >= 13) {
      ASSERT_EQ(u.inputs.size(), 2u);
      EXPECT_EQ(producer(g, u.inputs[1]).attr_tensor("value").to_doubles(), std::vector<double>{0});
      EXPECT_FALSE(u.has_attr("axes"));
      EXPECT_EQ(s.inputs.size(), 2u);
    } else {
      EXPECT_EQ(u.inputs.size(), 1u);
      EXPECT_EQ(u.attr_ints("axes"), std::vector<int64_t>{0});
      EXPECT_EQ(s.attr_ints("axes"), std::vector<int64_t>{1});
    }
    EXPECT_EQ(m.attr_ints("axes"), std::vector<int64_t>{1});
    EXPECT_EQ(s.attr_int("keepdims"), 0);
  }
}

TEST(GraphEditor, ClipBoundsAreInputsFromOpset11InTheConstantForm) {
  Graph old_graph = graph_at(10);
  GraphEditor old_editor(old_graph);
  const Node& c6 = producer(old_graph, old_editor.clip("x", -1, 2, DType::Float32, "c"));
  EXPECT_EQ(c6.attr_float("min"), -1.f);
  EXPECT_EQ(c6.attr_float("max"), 2.f);

  Graph g = graph_at(11);
  GraphEditor e(g, "test", "", ConstantForm::Initializer);
  const Node& c11 = producer(g, e.clip("x", -1, 2, DType::Float64, "c"));
  ASSERT_EQ(c11.inputs.size(), 3u);
  EXPECT_EQ(g.initializers.at(c11.inputs[1]).to_doubles(), std::vector<double>{-1});
  EXPECT_EQ(g.initializers.at(c11.inputs[2]).dtype(), DType::Float64);
  EXPECT_EQ(g.nodes.size(), 1u);  // no Constant nodes
}

TEST(GraphEditor, ConstantsAreTypedAndFilledLikeFollowsTheOpset) {
  Graph g = graph_at(13);
  GraphEditor e(g);
  const std::string two = e.constant(scalar_tensor(DType::Float64, 2), "two");
  EXPECT_EQ(e.dtype_of(two), DType::Float64);
  EXPECT_EQ(*e.shape_of(two), Shape{});
  EXPECT_EQ(producer(g, e.filled_like("x", 1, "ones")).op_type, "Constant");  // fixed shape

  for (int opset : {8, 9}) {
    Graph dynamic = graph_at(opset);
    dynamic.inputs[0].shape = Shape{-1, 3};
    GraphEditor d(dynamic);
    EXPECT_EQ(producer(dynamic, d.filled_like("x", 1, "ones")).op_type, opset >= 9 ? "ConstantOfShape" : "Add");
  }
}

TEST(Schema, BatchNormTrainingModeFollowsTheVersion) {
  Node bn{"bn", "BatchNormalization", "", 14, 14, {"x", "s", "b", "m", "v"}, {"y"}, {}};
  EXPECT_FALSE(batch_norm_in_training_mode(bn));
  bn.attributes["training_mode"] = Attribute::of_int(1);
  EXPECT_TRUE(batch_norm_in_training_mode(bn));
  Node bn9{"bn", "BatchNormalization", "", 9, 9, {"x", "s", "b", "m", "v"}, {"y"}, {}};
  EXPECT_FALSE(batch_norm_in_training_mode(bn9));
  bn9.outputs = {"y", "", "", "saved_mean", "saved_var"};
  EXPECT_TRUE(batch_norm_in_training_mode(bn9));
}

}  // namespace
}  // namespace onnx_train
