// Loading opset 18-23 models through the lowering to opset 17 (importers/lower_opset.h): the
// driver (what is copied, what is lowered, what is reported), the op-version table and the
// conversion lowerings. Each op family's lowerings have their own tests beside this one and
// are compared with ONNX Runtime in opset_new_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "importers/lower_opset.h"
#include "importers/onnx_model.h"
#include "onnx_train/inspect.h"
#include "onnx_train/session.h"
#include "tests/support/expect_text.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

using testing::error_of;
using testing::ModelBuilder;
using testing::TempDir;

constexpr int kFloat = onnx::TensorProto::FLOAT;

// x [2, 3] -> Cast(double) -> Identity -> Cast(float) -> MatMul w [3, 4] -> z [2, 4], at `opset`.
ModelBuilder cast_chain(int opset, int ir_version = 10) {
  ModelBuilder m(opset, ir_version);
  m.input("x", kFloat, {2, 3});
  m.initializer("w", Tensor::from<float>({3, 4}, std::vector<float>(12, 0.5f)));
  m.node("Cast", {"x"}, {"c"}).set_name("to_double");
  m.attr("to", int64_t{onnx::TensorProto::DOUBLE});
  if (opset >= 19) m.attr("saturate", int64_t{1});  // Cast-19's attribute
  m.node("Identity", {"c"}, {"i"}).set_name("same");
  m.node("Cast", {"i"}, {"y"}).set_name("to_float");
  m.attr("to", int64_t{kFloat});
  m.node("MatMul", {"y", "w"}, {"z"}).set_name("project");
  m.output("z", kFloat, {2, 4});
  return m;
}

const Node& node_named(const Graph& g, const std::string& name) {
  for (const Node& n : g.nodes)
    if (n.name == name) return n;
  throw Error("no node " + name);
}

TEST(LowerOpset, TypesOnlyAndSaturateVersionsLoadAtOpset17WithTheirNames) {
  for (int opset : {18, 19, 20, 21, 22, 23}) {
    TempDir dir;
    cast_chain(opset).save(dir.path() + "/m.onnx");
    const Graph g = load_onnx_model(dir.path() + "/m.onnx");
    EXPECT_EQ(g.opsets.at(""), 17) << opset;
    EXPECT_EQ(g.opsets.count(kProjectDomain), 0u) << "the project's domain is imported only when used";
    ASSERT_EQ(g.nodes.size(), 4u);
    const Node& cast = node_named(g, "to_double");
    EXPECT_EQ(cast.since_version, 13);
    EXPECT_FALSE(cast.has_attr("saturate"));
    EXPECT_EQ(node_named(g, "same").since_version, 16);
    EXPECT_EQ(g.shape_of("z"), (Shape{2, 4})) << "shape inference ran on the lowered model";

    Session s = Session::from_file(dir.path() + "/m.onnx");
    const auto out = s.run({{"x", Tensor::from<float>({2, 3}, {1, 2, 3, 4, 5, 6})}});
    EXPECT_FLOAT_EQ(out[0].data<float>()[0], 3.0f);  // (1 + 2 + 3) * 0.5
    EXPECT_FLOAT_EQ(out[0].data<float>()[7], 7.5f);  // (4 + 5 + 6) * 0.5
  }
}

TEST(LowerOpset, OpsetsAbove23AreRefusedNamingTheRange) {
  TempDir dir;
  cast_chain(24).save(dir.path() + "/m.onnx");
  const std::string e = error_of([&] { load_onnx_model(dir.path() + "/m.onnx"); });
  EXPECT_HAS(e, "opset 24 of the default domain");
  EXPECT_HAS(e, "supports opsets 7 to 23");
}

TEST(LowerOpset, EveryNodeWithoutALoweringIsReportedInOneMessage) {
  TempDir dir;
  ModelBuilder m(20);
  m.input("x", kFloat, {2, 3});
  m.node("ImageDecoder", {"x"}, {"a"}).set_name("decode");
  m.node("Relu", {"a"}, {"b"});
  m.node("StringConcat", {"b", "b"}, {"c"}).set_name("join");
  m.node("RegexFullMatch", {"c"}, {"y"}).set_name("match");
  m.output("y", onnx::TensorProto::BOOL, {2, 3});
  m.save(dir.path() + "/m.onnx");
  const std::string e = error_of([&] { load_onnx_model(dir.path() + "/m.onnx"); });
  EXPECT_HAS(e, "m.onnx: the opset-20 model cannot be lowered to opset 17 (3 problems)");
  EXPECT_HAS(e, "node 'decode' (ImageDecoder, opset 20): ImageDecoder-20 is not supported");
  EXPECT_HAS(e, "node 'join' (StringConcat, opset 20)");
  EXPECT_HAS(e, "node 'match' (RegexFullMatch, opset 20)");
  EXPECT_HAS(e, "Unsupported op versions: ImageDecoder-20, RegexFullMatch-20, StringConcat-20.");
}

TEST(LowerOpset, ARuleThatRefusesANodeNamesItAndWhy) {
  TempDir dir;
  ModelBuilder m(19);
  m.input("x", kFloat, {2, 3});
  m.node("Cast", {"x"}, {"y"}).set_name("to_fp8");
  m.attr("to", int64_t{17});  // FLOAT8E4M3FN
  m.output("y", 17, {2, 3});
  m.save(dir.path() + "/m.onnx");
  const std::string e = error_of([&] { load_onnx_model(dir.path() + "/m.onnx"); });
  EXPECT_HAS(e, "node 'to_fp8' (Cast, opset 19): its target type is element type 17, a float8");
  EXPECT_LACKS(e, "Unsupported op versions") << "Cast-19 has a lowering; this node is what it refuses";
}

TEST(LowerOpset, QuantizeLinear21OutputDtypeGetsAZeroPointOfThatType) {
  TempDir dir;
  ModelBuilder m(21);
  m.input("x", kFloat, {4});
  m.initializer("scale", Tensor::scalar<float>(0.5f));
  m.node("QuantizeLinear", {"x", "scale"}, {"q"}).set_name("quantize");
  m.attr("output_dtype", int64_t{onnx::TensorProto::INT8});
  m.node("DequantizeLinear", {"q", "scale"}, {"y"}).set_name("dequantize");
  m.output("y", kFloat, {4});
  m.save(dir.path() + "/m.onnx");
  const Graph g = load_onnx_model(dir.path() + "/m.onnx");
  EXPECT_EQ(g.dtype_of("q"), DType::Int8);
  Session s = Session::from_file(dir.path() + "/m.onnx");
  const auto out = s.run({{"x", Tensor::from<float>({4}, {-3.2f, -0.2f, 1.1f, 100.f})}});
  // round(x / 0.5) saturated to int8, times 0.5: -6.5 rounds to even (-6), 200 saturates to 127.
  EXPECT_EQ(std::vector<float>(out[0].data<float>(), out[0].data<float>() + 4),
            (std::vector<float>{-3.0f, 0.0f, 1.0f, 63.5f}));
}

TEST(LowerOpset, BlockQuantizationIsRefused) {
  TempDir dir;
  ModelBuilder m(21);
  m.input("x", kFloat, {4, 4});
  m.initializer("scale", Tensor::from<float>({4, 2}, std::vector<float>(8, 0.5f)));
  m.node("QuantizeLinear", {"x", "scale"}, {"y"}).set_name("blocks");
  m.attr("block_size", int64_t{2}).attr("axis", int64_t{1});
  m.output("y", onnx::TensorProto::UINT8, {4, 4});
  m.save(dir.path() + "/m.onnx");
  EXPECT_HAS(error_of([&] { load_onnx_model(dir.path() + "/m.onnx"); }),
             "node 'blocks' (QuantizeLinear, opset 21): block quantization (block_size > 0) is not supported");
}

TEST(LowerOpset, NewVersionsAreCheckedAgainstTheirSpecification) {
  auto error_for = [](const std::function<void(ModelBuilder&)>& add_node) {
    TempDir dir;
    ModelBuilder m(23);
    m.input("x", kFloat, {2, 3});
    m.input("s", kFloat, {3});
    add_node(m);
    m.output("y", kFloat, {2, 3});
    m.save(dir.path() + "/m.onnx");
    return error_of([&] { load_onnx_model(dir.path() + "/m.onnx"); });
  };
  EXPECT_HAS(error_for([](ModelBuilder& m) { m.node("Mish", {"x", "x"}, {"y"}).set_name("two"); }),
             "node 'two' (Mish, opset 23): Mish-18 takes 1 input, the node has 2");
  EXPECT_HAS(error_for([](ModelBuilder& m) {
               m.node("RMSNormalization", {"x", "s"}, {"y"}).set_name("norm");
               m.attr("epsilon", 1e-5f).attr("axes", {1});
             }),
             "node 'norm' (RMSNormalization, opset 23): 'axes' is not an attribute of RMSNormalization-23 (it has "
             "axis, epsilon, stash_type)");
  EXPECT_HAS(error_for([](ModelBuilder& m) { m.node("Gelu", {""}, {"y"}).set_name("empty"); }),
             "Gelu-20's input 0 is required, the node leaves it out");
  EXPECT_HAS(error_for([](ModelBuilder& m) {
               m.node("Attention", {"x", "x", "x"}, {}).set_name("none");
               m.node("Identity", {"x"}, {"y"});  // y is computed: the Attention node is what is wrong
             }),
             "Attention-23 has 1 to 4 outputs, the node lists 0");
}

TEST(LowerOpset, TheNoteSaysWhichVersionsRunLowered) {
  ModelBuilder m = cast_chain(21);
  m.node("Mish", {"z"}, {"m1"});
  m.node("Mish", {"m1"}, {"m2"});
  EXPECT_EQ(lowering_note(m.proto(), "m.onnx"),
            "m.onnx is at opset 21: 4 nodes run lowered to opset-17 ops (Cast-19 x2, Mish-18 x2); the export keeps "
            "opset 21");
  EXPECT_EQ(lowering_note(cast_chain(17).proto(), "m.onnx"), "");
  EXPECT_EQ(lowering_note(cast_chain(18).proto(), "m.onnx"),
            "m.onnx is at opset 18: every node means what it meant at opset 17; the export keeps opset 18");
}

TEST(LowerOpset, RotaryCachesAndAttentionMasksAreSettingsNotWeights) {
  TempDir dir;
  ModelBuilder m(23);
  m.input("x", kFloat, {1, 2, 4, 8});  // [B, H, S, D]
  m.initializer("cos", Tensor::from<float>({4, 4}, std::vector<float>(16, 0.5f)));
  m.initializer("sin", Tensor::from<float>({4, 4}, std::vector<float>(16, 0.25f)));
  m.initializer("positions", Tensor::from<int64_t>({1, 4}, {0, 1, 2, 3}));
  m.initializer("mask", Tensor::from<float>({4, 4}, std::vector<float>(16, 0.0f)));
  m.initializer("w", Tensor::from<float>({8, 8}, std::vector<float>(64, 0.1f)));
  m.node("RotaryEmbedding", {"x", "cos", "sin", "positions"}, {"r"}).set_name("rope");
  m.node("MatMul", {"r", "w"}, {"q"}).set_name("project");
  m.node("Attention", {"q", "q", "q", "mask"}, {"y"}).set_name("attend");
  m.output("y", kFloat, {1, 2, 4, 8});
  m.save(dir.path() + "/m.onnx");
  const Graph g = load_onnx_model(dir.path() + "/m.onnx");
  EXPECT_EQ(g.settings, (std::set<std::string>{"cos", "sin", "positions", "mask"}));
  const ModelReport report = inspect_model(dir.path() + "/m.onnx");
  EXPECT_EQ(report.trainable, std::vector<std::string>{"w"});
}

TEST(LowerOpset, TheTableKnowsWhichVersionMeansWhat) {
  EXPECT_EQ(lowered_version("Mish", 17), 0);
  EXPECT_EQ(lowered_version("Mish", 18), 18);
  EXPECT_EQ(lowered_version("Mish", 22), 18) << "Mish-22 only added bfloat16";
  EXPECT_EQ(lowered_version("Conv", 22), 0) << "Conv-22 only added bfloat16";
  EXPECT_EQ(lowered_version("GroupNormalization", 20), 18);
  EXPECT_EQ(lowered_version("GroupNormalization", 21), 21);
  EXPECT_EQ(lowered_version("Pad", 23), 19);
  EXPECT_EQ(lowered_version("Relu", 23), 0);
  EXPECT_EQ(lowered_version("Attention", 23), 23);
  for (const LoweringRule& rule : lowering_rules()) {
    EXPECT_EQ(lowered_version(rule.op_type, rule.since_version), rule.since_version)
        << rule.op_type << "-" << rule.since_version << " is registered for a version the table does not give it";
    EXPECT_FALSE(rule.form.empty()) << rule.op_type;
  }
}

TEST(LowerOpset, InitializersAreNotCopiedAndKeepTheirValues) {
  TempDir dir;
  ModelBuilder m = cast_chain(21);
  std::vector<float> big(5000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i);
  m.initializer("unused_big", Tensor::from<float>({5000}, big));
  m.save(dir.path() + "/m.onnx");
  const Graph g = load_onnx_model(dir.path() + "/m.onnx");
  ASSERT_EQ(g.initializers.count("unused_big"), 1u);
  EXPECT_EQ(g.initializers.at("unused_big").data<float>()[4999], 4999.0f);
  EXPECT_EQ(g.initializers.at("w").data<float>()[11], 0.5f);
}

}  // namespace
}  // namespace onnx_train
