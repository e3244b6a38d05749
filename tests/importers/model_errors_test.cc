// What a user sees when a model cannot run: one error, naming every problem at once.
#include <gtest/gtest.h>

#include <fstream>

#include "importers/onnx_model.h"
#include "onnx_train/session.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

using testing::load_error;
using testing::ModelBuilder;
using testing::TempDir;

TEST(ModelErrors, ReportsEveryUnsupportedOpAtOnce) {
  TempDir dir;
  ModelBuilder m(13);
  m.opset_import("com.example", 1);
  m.input("x", onnx::TensorProto::FLOAT, {2, 3});
  m.node("FancyOp", {"x"}, {"a"}, "com.example").set_name("fancy");
  m.node("Relu", {"a"}, {"b"});
  m.node("OtherOp", {"b"}, {"y"}, "com.example").set_name("other");
  m.output("y", onnx::TensorProto::FLOAT, {2, 3});
  m.save(dir.path() + "/model.onnx");
  const std::string err = load_error(dir.path() + "/model.onnx");
  EXPECT_NE(err.find("2 problems"), std::string::npos) << err;
  EXPECT_NE(err.find("node 'fancy' (com.example.FancyOp, opset 1)"), std::string::npos) << err;
  EXPECT_NE(err.find("node 'other'"), std::string::npos) << err;
  EXPECT_NE(err.find("Unsupported ops: com.example.FancyOp, com.example.OtherOp"), std::string::npos) << err;
}

TEST(ModelErrors, RejectsStringInputsWithAReason) {
  TempDir dir;
  ModelBuilder m(13);
  m.input("s", onnx::TensorProto::STRING, {2});
  m.node("Identity", {"s"}, {"y"});
  m.output("y", onnx::TensorProto::STRING, {2});
  m.save(dir.path() + "/model.onnx");
  const std::string err = load_error(dir.path() + "/model.onnx");
  EXPECT_NE(err.find("graph input 's' has element type string"), std::string::npos) << err;
}

TEST(ModelErrors, NotAnOnnxFile) {
  TempDir dir;
  std::ofstream(dir.path() + "/model.onnx") << "this is not protobuf at all \x01\x02\xff";
  const std::string err = load_error(dir.path() + "/model.onnx");
  EXPECT_NE(err.find("not a valid ONNX model"), std::string::npos) << err;
  EXPECT_NE(load_error(dir.path() + "/missing.onnx").find("no such file"), std::string::npos);
}

TEST(ModelErrors, OpsetOutsideTheSupportedRange) {
  TempDir dir;
  ModelBuilder m(24);
  m.input("x", onnx::TensorProto::FLOAT, {2});
  m.node("Identity", {"x"}, {"y"});
  m.output("y", onnx::TensorProto::FLOAT, {2});
  m.save(dir.path() + "/model.onnx");
  const std::string err = load_error(dir.path() + "/model.onnx");
  EXPECT_NE(err.find("opset 24"), std::string::npos) << err;
  EXPECT_NE(err.find("supports opsets 7 to 23"), std::string::npos) << err;
}

TEST(ModelErrors, AttributeProblemsSurfaceWhenLoading) {
  TempDir dir;
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {2, 3});
  m.node("Transpose", {"x"}, {"y"}).set_name("bad_perm");
  auto* perm = m.proto().mutable_graph()->mutable_node(0)->add_attribute();
  perm->set_name("perm");
  perm->set_type(onnx::AttributeProto::INTS);
  perm->add_ints(0);
  perm->add_ints(0);
  m.output("y", onnx::TensorProto::FLOAT, {3, 2});
  m.save(dir.path() + "/model.onnx");
  const std::string err = load_error(dir.path() + "/model.onnx");
  EXPECT_NE(err.find("node 'bad_perm' (Transpose, opset 13)"), std::string::npos) << err;
  EXPECT_NE(err.find("perm"), std::string::npos) << err;
  EXPECT_EQ(err.find("not supported"), std::string::npos) << err;
}

TEST(Graph, RecognisesWeightsStoredAsConstants) {
  TempDir dir;
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {2});
  auto& c = m.node("Constant", {}, {"w"});
  auto* value = c.add_attribute();
  value->set_name("value");
  value->set_type(onnx::AttributeProto::TENSOR);
  tensor_to_proto(Tensor::from<float>({2}, {0.5f, 2.0f}), *value->mutable_t());
  m.node("Mul", {"x", "w"}, {"y"});
  m.output("y", onnx::TensorProto::FLOAT, {2});
  m.save(dir.path() + "/model.onnx");
  Graph g = load_onnx_model(dir.path() + "/model.onnx");
  const auto weights = g.constant_weight_nodes();
  ASSERT_EQ(weights.size(), 1u);
  EXPECT_EQ(weights[0]->outputs[0], "w");
  g.promote_constants_to_initializers({"w"});
  EXPECT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.initializers.at("w").to_doubles(), (std::vector<double>{0.5, 2.0}));
}

}  // namespace
}  // namespace onnx_train
