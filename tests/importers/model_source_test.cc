// The export keeps what the user gave (importers/model_source.h): TrainingSession::export_model
// writes the user's file (opset, op versions, functions, node names, doc strings, metadata,
// value_info, opset imports) with the trained values in, plus only what training changed on
// purpose (a new head's shapes, the inference form of a training-form export); Constant and
// Identity-deduplicated weights get their trained values; external data is written inline; a
// Constant weight inside a local function stays fixed (a note says so); export_training_model
// writes the same user's graph with the training information. Each export passes ONNX's checker
// and computes what the session's predict computes.
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "importers/proto_io.h"
#include "importers/tensor_proto.h"
#include "onnx_train/session.h"
#include "onnx_train/training_session.h"
#include "tests/cli/cli_harness.h"
#include "tests/support/expect_text.h"
#include "tests/support/mlp_model.h"
#include "tests/support/model_builder.h"
#include "tests/support/random_tensors.h"

namespace onnx_train {
namespace {

using testing::ModelBuilder;
using testing::TempDir;

onnx::ModelProto read_model(const std::string& path) {
  onnx::ModelProto model;
  parse_proto_file(path, model, "ONNX model");
  return model;
}

void save_model(const onnx::ModelProto& model, const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  model.SerializeToOstream(&out);
}

void expect_checker_accepts(const std::string& path) {
  try {
    onnx::checker::check_model(path);
  } catch (const std::exception& e) {
    ADD_FAILURE() << path << ": the ONNX checker rejects it: " << e.what();
  }
}

const onnx::TensorProto* initializer_of(const onnx::ModelProto& model, const std::string& name) {
  for (const auto& t : model.graph().initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

std::vector<double> values_of(const onnx::TensorProto& t) { return tensor_from_proto(t, "", t.name()).to_doubles(); }

int opset_of_default(const onnx::ModelProto& model) {
  for (const auto& imp : model.opset_import())
    if (imp.domain().empty()) return static_cast<int>(imp.version());
  return -1;
}

std::map<std::string, std::string> metadata_of(const onnx::ModelProto& model) {
  std::map<std::string, std::string> m;
  for (const auto& e : model.metadata_props()) m[e.key()] = e.value();
  return m;
}

// Three noisy classes in 4 dimensions (tests/support/mlp_model.h).
std::map<std::string, Tensor> batch(int n, unsigned seed) { return testing::mlp_batch(n, seed); }

TrainingOptions sgd() {
  TrainingOptions o;
  o.optimizer.kind = "sgd";
  o.learning_rate = 0.1;
  return o;
}

void train(TrainingSession& s, int steps) {
  for (int step = 0; step < steps; ++step) s.train_step(batch(16, 100 + step));
}

// The export runs in an inference Session and computes what the session's predict computes.
void expect_predicts_like(const std::string& exported, TrainingSession& s) {
  const Tensor x = batch(8, 7).at("x");
  const auto want = s.predict({{"x", x}}).at(0).to_doubles();
  const auto got = Session::from_file(exported).run({{"x", x}}).at(0).to_doubles();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << exported << " element " << i;
}

// Every trained parameter and running statistic is in the export with the session's value.
void expect_trained_values(const onnx::ModelProto& exported, TrainingSession& s) {
  std::vector<std::string> names = s.parameter_names();
  names.insert(names.end(), s.buffer_names().begin(), s.buffer_names().end());
  for (const auto& name : names) {
    const onnx::TensorProto* t = initializer_of(exported, name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(values_of(*t), s.parameter(name).to_doubles()) << name;
  }
}

// The MLP (opset 13) with what exporters write and tools rely on: node doc strings, a model doc
// string, metadata, a value_info, an opset import no node uses.
std::string decorated_mlp(const std::string& dir) {
  const std::string path = testing::make_mlp(dir + "/plain.onnx", /*bn_and_dropout=*/true);
  onnx::ModelProto model = read_model(path);
  model.set_producer_name("pytorch");
  model.set_producer_version("2.5.0");
  model.set_doc_string("an MLP");
  model.set_model_version(3);
  for (auto& n : *model.mutable_graph()->mutable_node()) n.set_doc_string("made by " + n.name());
  auto* meta = model.add_metadata_props();
  meta->set_key("author");
  meta->set_value("someone");
  meta = model.add_metadata_props();
  meta->set_key("classes");
  meta->set_value("old");
  auto* vi = model.mutable_graph()->add_value_info();
  vi->set_name("h");
  vi->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  vi->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_param("N");
  vi->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(8);
  auto* imp = model.add_opset_import();
  imp->set_domain("com.example.unused");
  imp->set_version(2);
  const std::string out = dir + "/decorated.onnx";
  save_model(model, out);
  return out;
}

TEST(ModelSource, TheExportIsTheUsersModelWithTheTrainedValues) {
  TempDir dir;
  const std::string path = decorated_mlp(dir.path());
  TrainingSession s = TrainingSession::from_file(path, sgd());
  train(s, 5);
  const std::string exported = dir.path() + "/trained.onnx";
  s.export_model(exported, {{"classes", "a,b,c"}, {"epochs", "1"}});
  const onnx::ModelProto source = read_model(path), out = read_model(exported);

  EXPECT_EQ(out.producer_name(), "pytorch");
  EXPECT_EQ(out.producer_version(), "2.5.0");
  EXPECT_EQ(out.doc_string(), "an MLP");
  EXPECT_EQ(out.model_version(), 3);
  EXPECT_EQ(out.ir_version(), source.ir_version());
  EXPECT_EQ(out.opset_import().size(), source.opset_import().size());
  for (int i = 0; i < source.opset_import_size(); ++i) {
    EXPECT_EQ(out.opset_import(i).domain(), source.opset_import(i).domain());
    EXPECT_EQ(out.opset_import(i).version(), source.opset_import(i).version());
  }
  ASSERT_EQ(out.graph().node_size(), source.graph().node_size());
  for (int i = 0; i < source.graph().node_size(); ++i) {
    const auto &a = source.graph().node(i), &b = out.graph().node(i);
    EXPECT_EQ(b.name(), a.name());
    EXPECT_EQ(b.doc_string(), a.doc_string());
    EXPECT_EQ(b.op_type(), a.op_type());
    EXPECT_EQ(b.SerializeAsString(), a.SerializeAsString()) << a.name();  // the nodes are the user's
  }
  ASSERT_EQ(out.graph().value_info_size(), 1);
  EXPECT_EQ(out.graph().value_info(0).SerializeAsString(), source.graph().value_info(0).SerializeAsString());
  EXPECT_EQ(out.graph().name(), source.graph().name());
  const auto meta = metadata_of(out);
  EXPECT_EQ(meta.at("author"), "someone");
  EXPECT_EQ(meta.at("classes"), "a,b,c");  // the caller's replaces the source's
  EXPECT_EQ(meta.at("epochs"), "1");
  EXPECT_EQ(out.metadata_props_size(), 3);
  EXPECT_EQ(out.training_info_size(), 0);

  expect_trained_values(out, s);
  EXPECT_NE(values_of(*initializer_of(out, "fc1.weight")), values_of(*initializer_of(source, "fc1.weight")));
  EXPECT_EQ(out.graph().initializer_size(), source.graph().initializer_size());
  expect_checker_accepts(exported);
  expect_predicts_like(exported, s);
}

// tests/data/local_functions/mlp.onnx: its graph calls a model-local function. The export keeps
// the function and its calls (nothing inlined), and computes the trained session's outputs.
TEST(ModelSource, LocalFunctionsAreExportedAsFunctions) {
  const std::string path = std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/data/local_functions/mlp.onnx";
  TempDir dir;
  TrainingSession s = TrainingSession::from_file(path, sgd());
  train(s, 5);
  const std::string exported = dir.path() + "/trained.onnx";
  s.export_model(exported);
  const onnx::ModelProto source = read_model(path), out = read_model(exported);
  ASSERT_EQ(out.functions_size(), source.functions_size());
  EXPECT_EQ(out.functions(0).SerializeAsString(), source.functions(0).SerializeAsString());
  ASSERT_EQ(out.graph().node_size(), source.graph().node_size());
  EXPECT_EQ(out.graph().node(0).op_type(), "LinearAct");  // the call, not its body
  EXPECT_EQ(out.graph().node(0).domain(), "custom");
  expect_trained_values(out, s);
  expect_checker_accepts(exported);
  expect_predicts_like(exported, s);
}

// --num-classes: the new head's weights, and the output's fixed dimension, are the new ones.
TEST(ModelSource, ANewHeadChangesTheShapesItChanges) {
  TempDir dir;
  const std::string path = testing::make_mlp(dir.path() + "/mlp.onnx", false, 0, /*classes=*/3);
  // make_mlp writes the output as [N, 3]: the class dimension is fixed in the file.
  TrainingOptions options = sgd();
  options.num_classes = 5;
  TrainingSession s = TrainingSession::from_file(path, options);
  const std::string exported = dir.path() + "/head.onnx";
  s.export_model(exported);
  const onnx::ModelProto out = read_model(exported);
  const auto& dims = out.graph().output(0).type().tensor_type().shape().dim();
  ASSERT_EQ(dims.size(), 2);
  EXPECT_EQ(dims.Get(0).dim_param(), "N");
  EXPECT_EQ(dims.Get(1).dim_value(), 5);
  EXPECT_EQ(std::vector<int64_t>(initializer_of(out, "fc2.weight")->dims().begin(),
                                 initializer_of(out, "fc2.weight")->dims().end()),
            (std::vector<int64_t>{5, 8}));
  expect_checker_accepts(exported);
  const Tensor x = batch(4, 1).at("x");
  EXPECT_EQ(Session::from_file(exported).run({{"x", x}}).at(0).describe(), "float32[4, 5]");
  expect_predicts_like(exported, s);
}

// A model exported in training form (torch's TrainingMode.TRAINING at opset 15): BatchNormalization
// with training_mode=1 and its statistics outputs, Dropout with a training_mode input. The export
// is in inference form, the rest of the user's graph as it was.
TEST(ModelSource, ATrainingFormExportIsWrittenInInferenceForm) {
  TempDir dir;
  testing::MlpOptions mlp;
  mlp.batch_norm = mlp.dropout = true;
  onnx::ModelProto model = read_model(testing::make_mlp(dir.path() + "/eval.onnx", mlp));
  model.mutable_opset_import(0)->set_version(15);
  auto* g = model.mutable_graph();
  onnx::NodeProto* training_switch = nullptr;
  for (auto& n : *g->mutable_node()) {
    if (n.op_type() == "BatchNormalization") {
      n.add_output("bn.mean_out");
      n.add_output("bn.var_out");
      auto* a = n.add_attribute();
      a->set_name("training_mode");
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(1);
    } else if (n.op_type() == "Dropout") {
      n.add_input("drop.training");
    }
  }
  const google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes = g->node();
  g->clear_node();
  training_switch = g->add_node();  // first: the nodes stay in topological order
  training_switch->set_op_type("Constant");
  training_switch->set_name("drop.training_constant");
  training_switch->add_output("drop.training");
  auto* value = training_switch->add_attribute();
  value->set_name("value");
  value->set_type(onnx::AttributeProto::TENSOR);
  tensor_to_proto(Tensor::scalar<bool>(true), *value->mutable_t());
  for (const auto& n : nodes) *g->add_node() = n;
  const std::string path = dir.path() + "/training_form.onnx";
  save_model(model, path);

  TrainingSession s = TrainingSession::from_file(path, sgd());
  train(s, 4);
  const std::string exported = dir.path() + "/trained.onnx";
  s.export_model(exported);
  const onnx::ModelProto out = read_model(exported);
  int batch_norms = 0, dropouts = 0;
  for (const auto& n : out.graph().node()) {
    EXPECT_NE(n.name(), "drop.training_constant");  // it fed the training switch only
    if (n.op_type() == "BatchNormalization") {
      ++batch_norms;
      EXPECT_EQ(n.output_size(), 1);
      for (const auto& a : n.attribute())
        if (a.name() == "training_mode") EXPECT_EQ(a.i(), 0);
    }
    if (n.op_type() == "Dropout") {
      ++dropouts;
      EXPECT_LE(n.input_size(), 2);
    }
  }
  EXPECT_EQ(batch_norms, 1);
  EXPECT_EQ(dropouts, 1);
  EXPECT_EQ(out.graph().node_size(), model.graph().node_size() - 1);
  EXPECT_EQ(opset_of_default(out), 15);
  expect_trained_values(out, s);
  expect_checker_accepts(exported);
  expect_predicts_like(exported, s);
}

// Weights an exporter stored as a Constant node, and a bias torch deduplicated behind an Identity:
// both train (the Identity's output apart from its source), and the export gives the Constant
// node the trained value and the Identity's output its own initializer (the Identity goes).
TEST(ModelSource, ConstantAndDeduplicatedWeightsExportTheirTrainedValues) {
  TempDir dir;
  std::mt19937 rng(5);
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {-1, 4});
  m.node("Constant", {}, {"fc.weight"}).set_name("fc.weight_constant");
  auto* value = m.proto().mutable_graph()->mutable_node(0)->add_attribute();
  value->set_name("value");
  value->set_type(onnx::AttributeProto::TENSOR);
  tensor_to_proto(testing::random_tensor({3, 4}, rng), *value->mutable_t());
  m.initializer("fc.bias", testing::random_tensor({3}, rng, 0.1f));
  m.node("Identity", {"fc.bias"}, {"out.bias"});
  m.node("Gemm", {"x", "fc.weight", "fc.bias"}, {"h"});
  m.attr("transB", 1);
  m.node("Relu", {"h"}, {"r"});  // so that the two biases get different gradients
  m.node("Add", {"r", "out.bias"}, {"logits"});
  m.output("logits", onnx::TensorProto::FLOAT, {-1, 3});
  const std::string path = dir.path() + "/constant_weights.onnx";
  m.save(path);

  TrainingSession s = TrainingSession::from_file(path, sgd());
  const std::vector<std::string> names = s.parameter_names();
  ASSERT_EQ(std::set<std::string>(names.begin(), names.end()),
            (std::set<std::string>{"fc.weight", "fc.bias", "out.bias"}));
  train(s, 5);
  const std::string exported = dir.path() + "/trained.onnx";
  s.export_model(exported);
  const onnx::ModelProto out = read_model(exported);
  bool constant = false;
  for (const auto& n : out.graph().node()) {
    EXPECT_NE(n.op_type(), "Identity");
    if (n.op_type() != "Constant") continue;
    constant = true;
    EXPECT_EQ(n.name(), "fc.weight_constant");
    EXPECT_EQ(values_of(n.attribute(0).t()), s.parameter("fc.weight").to_doubles());
  }
  EXPECT_TRUE(constant);
  ASSERT_NE(initializer_of(out, "out.bias"), nullptr);
  EXPECT_EQ(values_of(*initializer_of(out, "out.bias")), s.parameter("out.bias").to_doubles());
  EXPECT_EQ(values_of(*initializer_of(out, "fc.bias")), s.parameter("fc.bias").to_doubles());
  EXPECT_NE(s.parameter("out.bias").to_doubles(), s.parameter("fc.bias").to_doubles());  // trained apart
  expect_checker_accepts(exported);
  expect_predicts_like(exported, s);
}

// Initializers stored as external data: asked to (ExternalDataMode::Never), the export writes
// them inline (it may be written into another folder than the data file's), with the trained
// values; tests/importers/external_data_test.cc has the export with external data.
TEST(ModelSource, ExternalDataIsWrittenInlineWhenAsked) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/model");
  onnx::ModelProto model = read_model(testing::make_mlp(dir.path() + "/mlp.onnx", false));
  std::ofstream weights(dir.path() + "/model/weights.bin", std::ios::binary);
  int64_t offset = 0;
  for (auto& init : *model.mutable_graph()->mutable_initializer()) {
    weights << init.raw_data();
    const int64_t length = static_cast<int64_t>(init.raw_data().size());
    init.clear_raw_data();
    init.set_data_location(onnx::TensorProto::EXTERNAL);
    for (const auto& [key, v] : std::map<std::string, std::string>{
             {"location", "weights.bin"}, {"offset", std::to_string(offset)}, {"length", std::to_string(length)}}) {
      auto* entry = init.add_external_data();
      entry->set_key(key);
      entry->set_value(v);
    }
    offset += length;
  }
  weights.close();
  const std::string path = dir.path() + "/model/model.onnx";
  save_model(model, path);

  TrainingOptions options = sgd();
  options.external_data = ExternalDataMode::Never;
  TrainingSession s = TrainingSession::from_file(path, options);
  train(s, 3);
  const std::string exported = dir.path() + "/elsewhere.onnx";
  s.export_model(exported);
  const onnx::ModelProto out = read_model(exported);
  for (const auto& t : out.graph().initializer()) {
    EXPECT_NE(t.data_location(), onnx::TensorProto::EXTERNAL) << t.name();
    EXPECT_EQ(t.external_data_size(), 0) << t.name();
  }
  expect_trained_values(out, s);
  expect_checker_accepts(exported);
  expect_predicts_like(exported, s);
}

// A float weight in a Constant node inside a local function has no place in the user's file
// (the function is written as it is): it never trains, and a note says so.
TEST(ModelSource, AConstantWeightInsideAFunctionStaysFixedAndIsNoted) {
  TempDir dir;
  std::mt19937 rng(9);
  ModelBuilder m(13);
  m.opset_import("custom", 1);
  m.input("x", onnx::TensorProto::FLOAT, {-1, 4});
  m.initializer("fc.weight", testing::random_tensor({3, 4}, rng));
  m.initializer("fc.bias", testing::random_tensor({3}, rng, 0.1f));
  m.node("Scale", {"x"}, {"scaled"}, "custom");
  m.node("Gemm", {"scaled", "fc.weight", "fc.bias"}, {"logits"});
  m.attr("transB", 1);
  m.output("logits", onnx::TensorProto::FLOAT, {-1, 3});
  onnx::FunctionProto* f = m.proto().add_functions();
  f->set_name("Scale");
  f->set_domain("custom");
  f->add_input("v");
  f->add_output("out");
  auto* imp = f->add_opset_import();
  imp->set_domain("");
  imp->set_version(13);
  onnx::NodeProto* c = f->add_node();
  c->set_op_type("Constant");
  c->add_output("w");
  auto* value = c->add_attribute();
  value->set_name("value");
  value->set_type(onnx::AttributeProto::TENSOR);
  tensor_to_proto(Tensor::from<float>({4}, {1.f, 0.5f, 2.f, -1.f}), *value->mutable_t());
  onnx::NodeProto* mul = f->add_node();
  mul->set_op_type("Mul");
  mul->add_input("v");
  mul->add_input("w");
  mul->add_output("out");
  const std::string path = dir.path() + "/function_constant.onnx";
  m.save(path);

  TrainingSession s = TrainingSession::from_file(path, sgd());
  const std::vector<std::string> names = s.parameter_names();
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), (std::set<std::string>{"fc.weight", "fc.bias"}));
  std::string notes;
  for (const auto& n : s.notes()) notes += n + "\n";
  EXPECT_HAS(notes, "weights held in Constant nodes inside local functions or made while loading stay as they are");
  train(s, 3);
  const std::string exported = dir.path() + "/trained.onnx";
  s.export_model(exported);
  const onnx::ModelProto out = read_model(exported);
  ASSERT_EQ(out.functions_size(), 1);
  EXPECT_EQ(out.functions(0).SerializeAsString(), m.proto().functions(0).SerializeAsString());
  expect_trained_values(out, s);
  expect_checker_accepts(exported);
  expect_predicts_like(exported, s);
}

// An Identity of an initializer inside a local function stays a copy of it (it is not separated
// into a weight of its own, which the function the export writes could not hold), so the export
// computes what the session computes.
TEST(ModelSource, AnIdentityOfAWeightInsideAFunctionStaysTied) {
  TempDir dir;
  std::mt19937 rng(6);
  ModelBuilder m(13);
  m.opset_import("custom", 1);
  m.input("x", onnx::TensorProto::FLOAT, {-1, 4});
  m.initializer("fc.weight", testing::random_tensor({3, 4}, rng));
  m.initializer("fc.bias", testing::random_tensor({3}, rng, 0.1f));
  m.node("Copy", {"fc.bias"}, {"bias_copy"}, "custom");
  m.node("Gemm", {"x", "fc.weight", "fc.bias"}, {"h"});
  m.attr("transB", 1);
  m.node("Relu", {"h"}, {"r"});
  m.node("Add", {"r", "bias_copy"}, {"logits"});
  m.output("logits", onnx::TensorProto::FLOAT, {-1, 3});
  onnx::FunctionProto* f = m.proto().add_functions();
  f->set_name("Copy");
  f->set_domain("custom");
  f->add_input("v");
  f->add_output("out");
  auto* imp = f->add_opset_import();
  imp->set_domain("");
  imp->set_version(13);
  onnx::NodeProto* identity = f->add_node();
  identity->set_op_type("Identity");
  identity->add_input("v");
  identity->add_output("out");
  const std::string path = dir.path() + "/function_identity.onnx";
  m.save(path);

  TrainingSession s = TrainingSession::from_file(path, sgd());
  const std::vector<std::string> names = s.parameter_names();
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), (std::set<std::string>{"fc.weight", "fc.bias"}));
  train(s, 4);
  const std::string exported = dir.path() + "/trained.onnx";
  s.export_model(exported);
  const onnx::ModelProto out = read_model(exported);
  ASSERT_EQ(out.functions_size(), 1);
  expect_trained_values(out, s);
  expect_checker_accepts(exported);
  expect_predicts_like(exported, s);
}

// A Dropout in training form inside a local function (its training_mode input bound to a Constant
// true of the graph): training and evaluation use the inference form, but the export writes the
// function as it is, and a note says so.
TEST(ModelSource, ATrainingFormNodeInsideAFunctionIsNoted) {
  TempDir dir;
  std::mt19937 rng(4);
  ModelBuilder m(13);
  m.opset_import("custom", 1);
  m.input("x", onnx::TensorProto::FLOAT, {-1, 4});
  m.initializer("fc.weight", testing::random_tensor({3, 4}, rng));
  m.initializer("fc.bias", testing::random_tensor({3}, rng, 0.1f));
  onnx::NodeProto& flag = m.node("Constant", {}, {"training"});
  auto* value = flag.add_attribute();
  value->set_name("value");
  value->set_type(onnx::AttributeProto::TENSOR);
  tensor_to_proto(Tensor::scalar<bool>(true), *value->mutable_t());
  m.node("Drop", {"x", "training"}, {"dropped"}, "custom");
  m.node("Gemm", {"dropped", "fc.weight", "fc.bias"}, {"logits"});
  m.attr("transB", 1);
  m.output("logits", onnx::TensorProto::FLOAT, {-1, 3});
  onnx::FunctionProto* f = m.proto().add_functions();
  f->set_name("Drop");
  f->set_domain("custom");
  f->add_input("v");
  f->add_input("t");
  f->add_output("out");
  auto* imp = f->add_opset_import();
  imp->set_domain("");
  imp->set_version(13);
  onnx::NodeProto* dropout = f->add_node();
  dropout->set_op_type("Dropout");
  dropout->set_name("inner_dropout");
  for (const char* in : {"v", "", "t"}) dropout->add_input(in);
  dropout->add_output("out");
  const std::string path = dir.path() + "/function_dropout.onnx";
  m.save(path);

  TrainingSession s = TrainingSession::from_file(path, sgd());
  std::string notes;
  for (const auto& n : s.notes()) notes += n + "\n";
  EXPECT_HAS(notes,
             "the local function 'Drop' (custom) holds Dropout 'inner_dropout' in training form (a "
             "training_mode input)");
  train(s, 2);
  const std::string exported = dir.path() + "/trained.onnx";
  s.export_model(exported);
  const onnx::ModelProto out = read_model(exported);
  ASSERT_EQ(out.functions_size(), 1);
  EXPECT_EQ(out.functions(0).SerializeAsString(), m.proto().functions(0).SerializeAsString());
  expect_trained_values(out, s);
}

// --export-training writes the user's graph too (its functions and calls), with the training
// information beside it; the file continues training, and its own export is the user's model.
TEST(ModelSource, TheTrainingExportKeepsTheUsersGraph) {
  const std::string path = std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/data/local_functions/mlp.onnx";
  TempDir dir;
  TrainingSession s = TrainingSession::from_file(path, sgd());
  train(s, 3);
  const std::string with_info = dir.path() + "/training.onnx";
  s.export_training_model(with_info, {{"note", "kept"}});
  const onnx::ModelProto source = read_model(path), out = read_model(with_info);
  ASSERT_EQ(out.training_info_size(), 1);
  ASSERT_EQ(out.functions_size(), 1);
  EXPECT_EQ(out.graph().node(0).op_type(), "LinearAct");
  EXPECT_EQ(opset_of_default(out), opset_of_default(source));
  EXPECT_EQ(metadata_of(out).at("note"), "kept");
  expect_checker_accepts(with_info);
  // Every binding names an initializer of the file.
  std::set<std::string> initializers;
  for (const auto& t : out.graph().initializer()) initializers.insert(t.name());
  for (const auto& t : out.training_info(0).algorithm().initializer()) initializers.insert(t.name());
  for (const auto& b : out.training_info(0).update_binding()) EXPECT_TRUE(initializers.count(b.key())) << b.key();

  TrainingSession continued = TrainingSession::from_file(with_info, sgd());
  EXPECT_EQ(continued.step(), 3);
  const std::string again = dir.path() + "/again.onnx";
  continued.export_model(again);
  s.export_model(dir.path() + "/direct.onnx");
  const onnx::ModelProto a = read_model(again), b = read_model(dir.path() + "/direct.onnx");
  EXPECT_EQ(a.training_info_size(), 0);
  EXPECT_EQ(a.graph().SerializeAsString(), b.graph().SerializeAsString());
  EXPECT_EQ(a.opset_import_size(), source.opset_import_size());
}

// An MLP written at opset 19 (IR version 9) with a Cast-19 and a ReduceMean-18 node, which load
// lowered to opset 17.
std::string opset19_mlp(const std::string& dir) {
  std::mt19937 rng(21);
  ModelBuilder m(19, 9);
  m.input("x", onnx::TensorProto::FLOAT, {-1, 4});
  m.initializer("fc1.weight", testing::random_tensor({8, 4}, rng));
  m.initializer("fc1.bias", testing::random_tensor({8}, rng, 0.1f));
  m.initializer("fc2.weight", testing::random_tensor({3, 8}, rng));
  m.initializer("fc2.bias", testing::random_tensor({3}, rng, 0.1f));
  m.node("Cast", {"x"}, {"xf"});
  m.attr("to", static_cast<int64_t>(onnx::TensorProto::FLOAT)).attr("saturate", static_cast<int64_t>(1));
  m.node("Gemm", {"xf", "fc1.weight", "fc1.bias"}, {"h"});
  m.attr("transB", 1);
  m.node("Relu", {"h"}, {"r"});
  m.node("Gemm", {"r", "fc2.weight", "fc2.bias"}, {"z"});
  m.attr("transB", 1);
  // A ReduceMean-18 (axes as an input): opset 17's has an attribute, raised back on export.
  m.initializer("mean_axes", Tensor::from<int64_t>({1}, {1}));
  m.node("ReduceMean", {"r", "mean_axes"}, {"level"});
  m.node("Add", {"z", "level"}, {"logits"});
  m.output("logits", onnx::TensorProto::FLOAT, {-1, 3});
  const std::string path = dir + "/opset19.onnx";
  m.save(path);
  return path;
}

// A model of opset 19 trains lowered to opset 17, but every export is at opset 19: the inference
// model is the user's (its Cast-19 node as written), the training graph and the TrainingInfo
// algorithm are raised to opset 19 (no Reduce* other than ReduceSum keeps an `axes` attribute),
// and the training export continues training.
TEST(ModelSource, AnOpset19ModelIsExportedAtOpset19) {
  TempDir dir;
  const std::string path = opset19_mlp(dir.path());
  TrainingOptions options = sgd();
  options.clip_grad_norm = 1.0;
  TrainingSession s = TrainingSession::from_file(path, options);
  train(s, 3);
  const std::string exported = dir.path() + "/trained.onnx";
  s.export_model(exported);
  const onnx::ModelProto source = read_model(path), out = read_model(exported);
  EXPECT_EQ(opset_of_default(out), 19);
  EXPECT_EQ(out.ir_version(), 9);
  ASSERT_EQ(out.graph().node_size(), source.graph().node_size());
  for (int i = 0; i < source.graph().node_size(); ++i)
    EXPECT_EQ(out.graph().node(i).SerializeAsString(), source.graph().node(i).SerializeAsString());
  expect_trained_values(out, s);
  expect_predicts_like(exported, s);

  s.export_training_graph(dir.path() + "/graph.onnx");
  const onnx::ModelProto graph = read_model(dir.path() + "/graph.onnx");
  EXPECT_EQ(opset_of_default(graph), 19);
  const std::string with_info = dir.path() + "/training.onnx";
  s.export_training_model(with_info);
  const onnx::ModelProto training = read_model(with_info);
  EXPECT_EQ(opset_of_default(training), 19);
  ASSERT_EQ(training.training_info_size(), 1);
  for (const auto* g : {&graph.graph(), &training.training_info(0).algorithm()})
    for (const auto& n : g->node()) {
      if (!n.domain().empty() || n.op_type().rfind("Reduce", 0) != 0 || n.op_type() == "ReduceSum") continue;
      for (const auto& a : n.attribute()) EXPECT_NE(a.name(), "axes") << n.name() << " (" << n.op_type() << ")";
    }
  TrainingSession continued = TrainingSession::from_file(with_info, options);
  EXPECT_EQ(continued.step(), 3);
  const Tensor x = batch(8, 7).at("x");
  EXPECT_EQ(continued.predict({{"x", x}}).at(0).to_doubles(), s.predict({{"x", x}}).at(0).to_doubles());
}

class ModelSourceCli : public cli_test::CliTest {};

// Trained through the command line, the opset-19 model's export keeps opset 19 and runs in ONNX
// Runtime with onnx-train's outputs.
TEST_F(ModelSourceCli, AnOpset19ExportRunsInOnnxRuntime) {
  const std::string model = opset19_mlp(root_);
  cli_test::write_npy_data(path("data"), cli_test::separable(48, 3));
  const cli_test::CliRun r = run({model, path("data"), "--optimizer", "sgd", "--lr", "0.1", "--epochs", "2",
                                  "--batch-size", "8", "-o", path("trained.onnx")});
  ASSERT_EQ(r.code, 0) << r.show();
  EXPECT_EQ(opset_of_default(read_model(path("trained.onnx"))), 19);
  const Tensor x = batch(6, 3).at("x");
  const Tensor y = Session::from_file(path("trained.onnx")).run({{"x", x}}).at(0);
  EXPECT_NE(y.to_doubles(), Session::from_file(model).run({{"x", x}}).at(0).to_doubles()) << "training changed nothing";
  const auto compared = cli_test::compare_in_ort(cli_test::find_node(), path("trained.onnx"), x, y, "1e-5", root_);
  EXPECT_EQ(compared.first, 0) << compared.second << "\n" << cli_test::kOrtInstall;
}

}  // namespace
}  // namespace onnx_train
