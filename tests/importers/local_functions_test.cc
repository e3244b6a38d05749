// Models with model-local functions (tests/data/local_functions/, made by
// tests/data/make_local_functions.py): load_onnx_model inlines every call
// (importers/inline_functions.h). The inlined models compute numpy's outputs (and ONNX Runtime's on
// the files with their functions), keep every name unique and train, in the library and through
// the CLI; recursion, a call that does not fit its function, an exponential expansion, a function
// at another opset and a subgraph in a function body are each refused with one error naming the
// file and the function or node.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "importers/inline_functions.h"
#include "importers/onnx_model.h"
#include "importers/proto_io.h"
#include "onnx_train/session.h"
#include "onnx_train/training_session.h"
#include "tests/cli/cli_harness.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

using testing::load_error;

const std::string kDir = std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/data/local_functions";

std::string fixture(const std::string& name) { return kDir + "/" + name; }

onnx::ModelProto proto_of(const std::string& path) {
  onnx::ModelProto model;
  parse_proto_file(path, model, "ONNX model");
  return model;
}

void expect_matches_numpy(const std::string& name) {
  Session session = Session::from_file(fixture(name + ".onnx"));
  const Tensor x = read_tensor_file(fixture(name + "_x.pb"));
  const Tensor want = read_tensor_file(fixture(name + "_y.pb"));
  const std::vector<Tensor> got = session.run({{"x", x}});
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].shape(), want.shape());
  const auto g = got[0].to_doubles(), w = want.to_doubles();
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], w[i], 1e-5) << name << " element " << i;
}

// No two nodes share a name, and no value is written twice.
void expect_unique_names(const Graph& graph) {
  std::set<std::string> nodes, values;
  for (const auto& node : graph.nodes) {
    EXPECT_TRUE(nodes.insert(node.name).second) << "node name " << node.name;
    for (const auto& out : node.outputs) EXPECT_TRUE(values.insert(out).second) << "value " << out;
  }
}

TEST(LocalFunctions, MlpMatchesNumpy) { expect_matches_numpy("mlp"); }

TEST(LocalFunctions, NestedFunctionsCalledTwiceMatchNumpy) { expect_matches_numpy("nested"); }

TEST(LocalFunctions, InlinedMlpBindsTheAttributeAndRenamesAroundExistingNames) {
  const Graph graph = load_onnx_model(fixture("mlp.onnx"));
  expect_unique_names(graph);
  std::map<std::string, const Node*> by_op;
  for (const auto& node : graph.nodes) by_op[node.op_type] = &node;
  EXPECT_EQ(graph.nodes.size(), 5u);  // MatMul, Add, LeakyRelu inlined; MatMul, Add of the graph
  EXPECT_EQ(graph.opsets.count("custom"), 0u) << "the function domain is no longer imported";
  ASSERT_TRUE(by_op.count("LeakyRelu"));
  const Node& act = *by_op["LeakyRelu"];
  EXPECT_EQ(act.name, "lin/act");
  EXPECT_FLOAT_EQ(act.attr_float("alpha"), 0.2f);
  EXPECT_EQ(act.outputs, std::vector<std::string>{"hidden"});
  // The function's "u" would become "lin/u", which the graph already has: it gets another name.
  ASSERT_EQ(act.inputs.size(), 1u);
  EXPECT_NE(act.inputs[0], "lin/u");
  EXPECT_EQ(act.inputs[0].rfind("lin/", 0), 0u) << act.inputs[0];
}

TEST(LocalFunctions, NestedCallsGetDistinctNamesAndUnusedFunctionsAreDropped) {
  onnx::ModelProto model = proto_of(fixture("nested.onnx"));
  EXPECT_EQ(inline_local_functions(model, "nested.onnx"), 4);  // two Blocks, each with one Affine
  EXPECT_EQ(model.functions_size(), 0);
  std::set<std::string> ops;
  for (const auto& node : model.graph().node()) ops.insert(node.op_type());
  EXPECT_EQ(ops, (std::set<std::string>{"MatMul", "Add", "Tanh"}));
  EXPECT_EQ(model.graph().node_size(), 6);
  const Graph graph = load_onnx_model(fixture("nested.onnx"));
  expect_unique_names(graph);
  std::set<std::string> names;
  for (const auto& node : graph.nodes) names.insert(node.name);
  EXPECT_TRUE(names.count("block1/affine/MatMul_0")) << ::testing::PrintToString(names);
  EXPECT_TRUE(names.count("block2/tanh")) << ::testing::PrintToString(names);
}

TEST(LocalFunctions, AModelWithoutFunctionsIsLeftAsItIs) {
  onnx::ModelProto model = proto_of(fixture("mlp.onnx"));
  model.clear_functions();
  const std::string before = model.SerializeAsString();
  EXPECT_EQ(inline_local_functions(model, "mlp.onnx"), 0);
  EXPECT_EQ(model.SerializeAsString(), before);
}

void expect_one_error(const std::string& name, const std::vector<std::string>& says) {
  const std::string path = fixture(name);
  const std::string err = load_error(path);
  ASSERT_FALSE(err.empty()) << name << " loaded";
  EXPECT_EQ(err.rfind(path + ": ", 0), 0u) << err;
  for (const auto& part : says) EXPECT_NE(err.find(part), std::string::npos) << "missing '" << part << "' in\n" << err;
}

TEST(LocalFunctions, RecursionIsRefusedWithItsChain) {
  expect_one_error("recursion.onnx", {"custom.f -> custom.g -> custom.f", "calls itself"});
}

TEST(LocalFunctions, ACallWithTooManyInputsIsRefused) {
  expect_one_error("wrong_inputs.onnx", {"node 'bad_call'", "custom.LinearAct", "4 inputs", "takes 3 (x, W, b)"});
}

TEST(LocalFunctions, AnExponentialExpansionIsRefusedBeforeItIsBuilt) {
  expect_one_error("exponential.onnx",
                   {"more than 1000000 nodes", "node 'call' calls custom.f25, which becomes more than 1000000 nodes"});
}

TEST(LocalFunctions, AFunctionAtAnotherOpsetIsRefused) {
  expect_one_error("opset_mismatch.onnx",
                   {"custom.LinearAct", "imports opset 12 of the default domain", "the model imports opset 13"});
}

TEST(LocalFunctions, TooManyOutputsAndDeepNestingAreRefused) {
  onnx::ModelProto model = proto_of(fixture("mlp.onnx"));
  model.mutable_graph()->mutable_node(0)->add_output("extra");
  const std::string before = model.SerializeAsString();
  try {
    inline_local_functions(model, "m.onnx");
    ADD_FAILURE() << "a call with 2 outputs of a 1-output function was inlined";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("node 'lin' calls the local function custom.LinearAct with 2 outputs"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(model.SerializeAsString(), before) << "the refusal comes before anything is inlined";

  // A chain d0 -> d1 -> ... -> d100 (one call each, so small) is deeper than the bound.
  onnx::ModelProto deep = proto_of(fixture("mlp.onnx"));
  deep.clear_functions();
  for (int k = 0; k <= 100; ++k) {
    auto* fn = deep.add_functions();
    fn->set_domain("custom");
    fn->set_name("d" + std::to_string(k));
    fn->add_input("x");
    fn->add_output("y");
    auto* node = fn->add_node();
    node->add_input("x");
    node->add_output("y");
    node->set_op_type(k == 100 ? "Relu" : "d" + std::to_string(k + 1));
    node->set_domain(k == 100 ? "" : "custom");
  }
  auto* call = deep.mutable_graph()->mutable_node(0);
  call->set_op_type("d0");
  call->mutable_input()->DeleteSubrange(1, 2);
  try {
    inline_local_functions(deep, "deep.onnx");
    ADD_FAILURE() << "a chain of 101 calls was inlined";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nest more than 64 deep"), std::string::npos) << e.what();
  }
}

// A function "custom.Two(x, lo, hi) -> (clipped, negated)": Clip(x, lo, hi) and Neg(x).
onnx::FunctionProto two_outputs() {
  onnx::FunctionProto fn;
  fn.set_domain("custom");
  fn.set_name("Two");
  for (const char* in : {"x", "lo", "hi"}) fn.add_input(in);
  fn.add_output("clipped");
  fn.add_output("negated");
  auto* clip = fn.add_node();
  clip->set_op_type("Clip");
  for (const char* in : {"x", "lo", "hi"}) clip->add_input(in);
  clip->add_output("clipped");
  auto* neg = fn.add_node();
  neg->set_op_type("Neg");
  neg->add_input("x");
  neg->add_output("negated");
  return fn;
}

TEST(LocalFunctions, AnOmittedInputStaysOmittedAndUnnamedOutputsAreUnused) {
  testing::TempDir dir;
  onnx::ModelProto model = proto_of(fixture("mlp.onnx"));
  model.clear_functions();
  *model.add_functions() = two_outputs();
  auto* graph = model.mutable_graph();
  graph->clear_node();
  graph->clear_initializer();
  graph->mutable_output(0)->CopyFrom(graph->input(0));
  graph->mutable_output(0)->set_name("y");
  auto* hi = graph->add_initializer();
  hi->set_name("hi");
  hi->set_data_type(onnx::TensorProto::FLOAT);
  hi->add_float_data(0.5f);
  auto* call = graph->add_node();
  call->set_name("two");
  call->set_op_type("Two");
  call->set_domain("custom");
  for (const char* in : {"x", "", "hi"}) call->add_input(in);
  call->add_output("y");  // the second output ("negated") is not asked for
  const std::string path = dir.path() + "/two.onnx";
  std::ofstream(path, std::ios::binary) << model.SerializeAsString();

  const Graph loaded = load_onnx_model(path);
  ASSERT_EQ(loaded.nodes.size(), 2u);
  for (const auto& node : loaded.nodes) {
    if (node.op_type != "Clip") continue;
    EXPECT_EQ(node.inputs, (std::vector<std::string>{"x", "", "hi"}));
    EXPECT_EQ(node.outputs, std::vector<std::string>{"y"});
  }
  Session session = Session::from_file(path);
  Tensor x(DType::Float32, {2, 4});
  for (int i = 0; i < 8; ++i) x.data<float>()[i] = static_cast<float>(i) * 0.25f - 1.f;
  const auto y = session.run({{"x", x}}).at(0).to_doubles();
  for (int i = 0; i < 8; ++i) EXPECT_FLOAT_EQ(y[i], std::min(static_cast<float>(i) * 0.25f - 1.f, 0.5f)) << i;
}

// An If in the graph whose branch calls a function: the call inside the branch is inlined too,
// and its new names do not collide with the outer graph's.
TEST(LocalFunctions, CallsInsideSubgraphsOfTheGraphAreInlined) {
  onnx::ModelProto model = proto_of(fixture("mlp.onnx"));
  const onnx::NodeProto call = model.graph().node(0);
  auto* node = model.mutable_graph()->mutable_node(0);
  node->Clear();
  node->set_name("branch");
  node->set_op_type("If");
  node->add_input("cond");
  node->add_output("hidden");
  for (const char* branch : {"then_branch", "else_branch"}) {
    auto* attr = node->add_attribute();
    attr->set_name(branch);
    attr->set_type(onnx::AttributeProto::GRAPH);
    auto* g = attr->mutable_g();
    g->set_name(branch);
    *g->add_node() = call;
    g->mutable_node(0)->set_output(0, std::string(branch) + "_out");
    g->add_output()->set_name(std::string(branch) + "_out");
  }
  EXPECT_EQ(inline_local_functions(model, "if.onnx"), 2);
  const auto& branch = model.graph().node(0).attribute(0).g();
  ASSERT_EQ(branch.node_size(), 3);
  EXPECT_EQ(branch.node(2).op_type(), "LeakyRelu");
  EXPECT_EQ(branch.node(2).output(0), "then_branch_out");
  EXPECT_NE(branch.node(1).output(0), "lin/u");  // the outer graph's value of that name
  const auto& other = model.graph().node(0).attribute(1).g();
  ASSERT_EQ(other.node_size(), 3);
  EXPECT_NE(other.node(0).output(0), branch.node(0).output(0));
  EXPECT_NE(other.node(0).name(), branch.node(0).name());
}

TEST(LocalFunctions, ASubgraphInsideAFunctionIsRefused) {
  onnx::ModelProto model = proto_of(fixture("mlp.onnx"));
  auto* body = model.mutable_functions(0)->mutable_node(2);
  auto* attr = body->add_attribute();
  attr->set_name("body");
  attr->set_type(onnx::AttributeProto::GRAPH);
  attr->mutable_g()->set_name("inner");
  try {
    inline_local_functions(model, "m.onnx");
    ADD_FAILURE() << "a function with a subgraph attribute was inlined";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("m.onnx: the local function custom.LinearAct holds node 'act' (LeakyRelu) "
                                         "with a subgraph attribute 'body'"),
              std::string::npos)
        << e.what();
  }
}

TEST(LocalFunctions, TheInlinedMlpTrains) {
  TrainingOptions options;
  options.optimizer.kind = "sgd";
  options.learning_rate = 0.1;
  TrainingSession session = TrainingSession::from_file(fixture("mlp.onnx"), options);
  const Tensor x = read_tensor_file(fixture("mlp_x.pb"));
  Tensor label(DType::Int64, {x.shape()[0]});
  for (int64_t i = 0; i < x.shape()[0]; ++i) label.data<int64_t>()[i] = i % 3;
  std::vector<double> losses;
  for (int step = 0; step < 8; ++step) {
    losses.push_back(session.train_step({{"x", x}, {session.label_name(), label}}).loss);
    ASSERT_TRUE(std::isfinite(losses.back())) << "step " << step;
  }
  EXPECT_LT(losses.back(), losses.front());
}

class LocalFunctionsCli : public cli_test::CliTest {};

// ONNX Runtime runs the files as they are (with their functions) and gives what the inlined
// graph gives.
TEST_F(LocalFunctionsCli, OnnxRuntimeAgreesOnTheFilesWithFunctions) {
  for (const std::string name : {"mlp", "nested"}) {
    const Tensor x = read_tensor_file(fixture(name + "_x.pb"));
    const Tensor y = Session::from_file(fixture(name + ".onnx")).run({{"x", x}}).at(0);
    const auto compared = cli_test::compare_in_ort(cli_test::find_node(), fixture(name + ".onnx"), x, y, "1e-5", root_);
    EXPECT_EQ(compared.first, 0) << name << ": " << compared.second << "\n" << cli_test::kOrtInstall;
    EXPECT_HAS(compared.second, "max abs diff");
  }
}

// Trained through the command line, the export (the user's graph with its function and calls, at
// the model's opset) runs in ONNX Runtime and gives onnx-train's outputs.
TEST_F(LocalFunctionsCli, TrainsThroughTheCliAndItsExportRunsInOnnxRuntime) {
  cli_test::write_npy_data(path("data"), cli_test::separable(48, 3));
  const cli_test::CliRun r = run({fixture("mlp.onnx"), path("data"), "--optimizer", "sgd", "--lr", "0.1", "--epochs",
                                  "3", "--batch-size", "8", "-o", path("trained.onnx")});
  ASSERT_EQ(r.code, 0) << r.show();
  const onnx::ModelProto exported = proto_of(path("trained.onnx"));
  EXPECT_EQ(exported.functions_size(), proto_of(fixture("mlp.onnx")).functions_size());
  EXPECT_EQ(exported.graph().node(0).op_type(), "LinearAct");
  const Tensor x = read_tensor_file(fixture("mlp_x.pb"));
  const Tensor before = Session::from_file(fixture("mlp.onnx")).run({{"x", x}}).at(0);
  const Tensor after = Session::from_file(path("trained.onnx")).run({{"x", x}}).at(0);
  EXPECT_NE(before.to_doubles(), after.to_doubles()) << "training changed nothing";
  const auto compared = cli_test::compare_in_ort(cli_test::find_node(), path("trained.onnx"), x, after, "1e-5", root_);
  EXPECT_EQ(compared.first, 0) << compared.second << "\n" << cli_test::kOrtInstall;
}

TEST_F(LocalFunctionsCli, InspectShowsTheInlinedModel) {
  const cli_test::CliRun r = ok({"inspect", fixture("mlp.onnx")});
  EXPECT_HAS(r.out, "LeakyRelu");
  EXPECT_HAS(r.out, "W1");
}

}  // namespace
}  // namespace onnx_train
