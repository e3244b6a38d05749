// TrainingSession::export_training_model (runtime/train/training_info.h): the file ONNX's
// protobuf classes and checker read, its training algorithm run as the ONNX IR defines it
// (the inference graph and the algorithm concatenated) against the session's own steps, and
// from_file continuing the run from the file.
#include <gtest/gtest.h>
#include <onnx/checker.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "importers/tensor_proto.h"
#include "onnx_train/session.h"
#include "onnx_train/training_session.h"
#include "tests/support/mlp_model.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

using testing::ModelBuilder;
using testing::TempDir;

// x [N, 4] -> Gemm(8) -> BatchNormalization -> Relu -> [Dropout(0.3)] -> Gemm(3) -> logits,
// saved in `dir` under a name telling its variant. The first Gemm's bias (optional) gets a
// gradient of nearly 0: BatchNormalization removes it.
std::string mlp_in(const std::string& dir, bool dropout, bool fc1_bias = true) {
  testing::MlpOptions options;
  options.batch_norm = true;
  options.dropout = dropout;
  options.fc1_bias = fc1_bias;
  options.seed = 11;
  options.batch_norm_drawn_before_fc2 = true;
  return testing::make_mlp(dir + (dropout ? "/mlp_dropout" : "/mlp") + (fc1_bias ? ".onnx" : "_no_bias.onnx"), options);
}

// Three noisy classes in 4 dimensions (tests/support/mlp_model.h).
std::map<std::string, Tensor> batch(int n, unsigned seed) { return testing::mlp_batch(n, seed); }

TrainingOptions options_for(const std::string& kind) {
  TrainingOptions o;
  o.optimizer.kind = kind;
  o.learning_rate = 0.05;
  o.seed = 3;
  if (kind == "sgd") {
    o.optimizer.momentum = 0.9;
    o.optimizer.weight_decay = 1e-2;
    o.schedule = parse_schedule("step:step_size=3,gamma=0.5");
  }
  if (kind == "adam") o.optimizer.weight_decay = 1e-3;
  return o;
}

std::vector<uint8_t> bytes_of(const Tensor& t) {
  const auto* p = static_cast<const uint8_t*>(t.raw_data());
  return {p, p + t.nbytes()};
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

onnx::ModelProto read_model(const std::string& path) {
  onnx::ModelProto model;
  EXPECT_TRUE(model.ParseFromString(file_bytes(path))) << path;
  return model;
}

std::map<std::string, std::string> metadata_of(const onnx::ModelProto& model) {
  std::map<std::string, std::string> out;
  for (const auto& e : model.metadata_props()) out[e.key()] = e.value();
  return out;
}

std::set<std::string> initializer_names(const onnx::GraphProto& g) {
  std::set<std::string> out;
  for (const auto& t : g.initializer()) out.insert(t.name());
  return out;
}

// Every name the graph defines or uses.
std::set<std::string> graph_names(const onnx::GraphProto& g) {
  std::set<std::string> out = initializer_names(g);
  for (const auto& v : g.input()) out.insert(v.name());
  for (const auto& v : g.output()) out.insert(v.name());
  for (const auto& n : g.node()) out.insert(n.output().begin(), n.output().end());
  return out;
}

std::map<std::string, std::vector<uint8_t>> state_bytes(const TrainingSession& s) {
  std::map<std::string, std::vector<uint8_t>> out;
  for (const auto& n : s.parameter_names()) out[n] = bytes_of(s.parameter(n));
  for (const auto& n : s.buffer_names()) out[n] = bytes_of(s.parameter(n));
  return out;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_doubles(), y = b.to_doubles();
  EXPECT_EQ(x.size(), y.size());
  double worst = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  return worst;
}

// The model ONNX's IR defines a training step as: the inference graph and the algorithm
// concatenated (inputs, initializers, nodes, value infos, outputs), without training_info.
std::string write_combined_model(const onnx::ModelProto& model, const std::string& path) {
  onnx::ModelProto combined = model;
  combined.clear_training_info();
  onnx::GraphProto& g = *combined.mutable_graph();
  const onnx::GraphProto& a = model.training_info(0).algorithm();
  for (const auto& v : a.input()) *g.add_input() = v;
  for (const auto& t : a.initializer()) *g.add_initializer() = t;
  for (const auto& n : a.node()) *g.add_node() = n;
  for (const auto& v : a.value_info()) *g.add_value_info() = v;
  for (const auto& v : a.output()) *g.add_output() = v;
  std::ofstream out(path, std::ios::binary);
  combined.SerializeToOstream(&out);
  return path;
}

Tensor tensor_named(const onnx::GraphProto& g, const std::string& name) {
  for (const auto& t : g.initializer())
    if (t.name() == name) return tensor_from_proto(t, "", name);
  ADD_FAILURE() << "no initializer " << name;
  return {};
}

class ExportTrainingModel : public ::testing::TestWithParam<std::string> {};

// The file: the inference graph as export_model writes it plus the optimizer state; one
// TrainingInfoProto whose algorithm ends in the optimizer's ONNX op (none for adamw), with
// bindings from initializers to algorithm outputs; ONNX's checker accepts it.
TEST_P(ExportTrainingModel, FileHoldsTrainingInfoThatOnnxReads) {
  const std::string kind = GetParam();
  TempDir dir;
  TrainingSession s = TrainingSession::from_file(mlp_in(dir.path(), true), options_for(kind));
  for (unsigned step = 0; step < 3; ++step) s.train_step(batch(16, step));
  const std::string path = dir.path() + "/training.onnx";
  s.export_training_model(path);
  const onnx::ModelProto model = read_model(path);
  EXPECT_NO_THROW(onnx::checker::check_model(model));
  EXPECT_NO_THROW(onnx::checker::check_model(path));

  ASSERT_EQ(model.training_info_size(), 1);
  const onnx::TrainingInfoProto& info = model.training_info(0);
  EXPECT_EQ(info.initialization().node_size(), 0);
  const onnx::GraphProto& algorithm = info.algorithm();
  std::multiset<std::string> ops;
  for (const auto& n : algorithm.node()) ops.insert(n.op_type());
  EXPECT_EQ(ops.count("Momentum"), kind == "sgd" ? 2u : 0u);  // decaying weights, then biases and norms
  EXPECT_EQ(ops.count("Adam"), kind == "adam" ? 2u : 0u);
  EXPECT_EQ(ops.count("Adagrad"), 0u);
  EXPECT_GT(ops.count("BatchNormalization"), 0u);                   // the forward pass in training form
  EXPECT_GT(algorithm.node_size(), 2 * model.graph().node_size());  // forward, loss, backward, update

  // Bindings: initializer -> algorithm output, each initializer at most once.
  const std::set<std::string> initializers = initializer_names(model.graph());
  std::set<std::string> outputs, keys;
  for (const auto& v : algorithm.output()) outputs.insert(v.name());
  for (const auto& b : info.update_binding()) {
    EXPECT_TRUE(initializers.count(b.key()) || initializer_names(algorithm).count(b.key())) << b.key();
    EXPECT_TRUE(outputs.count(b.value())) << b.value();
    EXPECT_TRUE(keys.insert(b.key()).second) << b.key();
  }
  EXPECT_TRUE(keys.count("bn.running_mean") && keys.count("bn.running_var"));
  if (kind == "adamw") {
    EXPECT_EQ(keys.size(), 2u);  // no ONNX update: the running statistics only
    EXPECT_TRUE(outputs.count("fc1.weight_grad"));
  } else {
    for (const auto& p : s.parameter_names()) {
      EXPECT_TRUE(keys.count(p)) << p;
      EXPECT_TRUE(keys.count("optimizer/" + p + "/step")) << p;
    }
    EXPECT_TRUE(keys.count("training/update_count"));
    EXPECT_TRUE(keys.count(kind == "sgd" ? "optimizer/fc1.weight/momentum_buffer" : "optimizer/fc1.weight/exp_avg_sq"));
  }
  // The state is in the inference graph, read by no node.
  EXPECT_TRUE(initializers.count("optimizer/fc2.bias/step"));
  EXPECT_TRUE(initializers.count("training/update_count"));
  for (const auto& n : model.graph().node())
    for (const auto& i : n.input()) EXPECT_FALSE(i.rfind("optimizer/", 0) == 0 || i.rfind("training/", 0) == 0) << i;

  // The concatenation with the inference graph is a valid graph: the algorithm defines no
  // name the inference graph has.
  const std::set<std::string> main_names = graph_names(model.graph());
  std::set<std::string> defined = initializer_names(algorithm);
  for (const auto& v : algorithm.input()) defined.insert(v.name());
  for (const auto& n : algorithm.node()) defined.insert(n.output().begin(), n.output().end());
  for (const auto& name : defined) EXPECT_FALSE(main_names.count(name)) << name;
  std::set<std::string> domains;
  for (const auto& imp : model.opset_import()) domains.insert(imp.domain());
  EXPECT_TRUE(domains.count("ai.onnx_train"));
  EXPECT_EQ(domains.count("ai.onnx.preview.training"), kind == "adamw" ? 0u : 1u);

  const auto meta = metadata_of(model);
  EXPECT_EQ(meta.at("onnx_train.optimizer"), kind);
  EXPECT_EQ(meta.at("onnx_train.step"), "3");
  EXPECT_EQ(meta.at("onnx_train.seed"), "3");
  EXPECT_EQ(meta.at("onnx_train.loss"), "cross-entropy");
  EXPECT_EQ(parse_schedule(meta.at("onnx_train.schedule")).kind, kind == "sgd" ? "step" : "constant");
  EXPECT_EQ(std::stod(meta.at("onnx_train.next_learning_rate")), s.learning_rate());
  EXPECT_EQ(meta.count("onnx_train.rng/d"), 1u);  // the Dropout generator
  if (kind == "adamw") EXPECT_NE(meta.at("onnx_train.update").find("onnx-train"), std::string::npos);
}

// The inference graph is export_model's, byte for byte, once the state initializers are
// taken out; it runs in an inference Session with export_model's outputs.
TEST_P(ExportTrainingModel, InferenceGraphIsExportModelsGraph) {
  TempDir dir;
  TrainingSession s = TrainingSession::from_file(mlp_in(dir.path(), true), options_for(GetParam()));
  for (unsigned step = 0; step < 2; ++step) s.train_step(batch(16, step));
  s.export_model(dir.path() + "/inference.onnx");
  s.export_training_model(dir.path() + "/training.onnx");
  const onnx::ModelProto inference = read_model(dir.path() + "/inference.onnx");
  onnx::ModelProto training = read_model(dir.path() + "/training.onnx");
  auto* initializers = training.mutable_graph()->mutable_initializer();
  for (int i = initializers->size() - 1; i >= 0; --i) {
    const std::string& name = initializers->Get(i).name();
    if (name.rfind("optimizer/", 0) == 0 || name == "training/update_count") initializers->DeleteSubrange(i, 1);
  }
  EXPECT_EQ(training.graph().SerializeAsString(), inference.graph().SerializeAsString());

  const auto feeds = batch(8, 99);
  Session a = Session::from_file(dir.path() + "/inference.onnx");
  Session b = Session::from_file(dir.path() + "/training.onnx");
  ASSERT_EQ(b.inputs().size(), 1u);
  EXPECT_EQ(bytes_of(a.run({{"x", feeds.at("x")}})[0]), bytes_of(b.run({{"x", feeds.at("x")}})[0]));
}

// from_file on the file continues the run: the same batches give the bytes of the session
// that wrote it (parameters, running statistics, optimizer state, schedule, Dropout masks).
TEST_P(ExportTrainingModel, FromFileContinuesBitForBit) {
  const std::string kind = GetParam();
  TempDir dir;
  const TrainingOptions options = options_for(kind);
  TrainingSession straight = TrainingSession::from_file(mlp_in(dir.path(), true), options);
  for (unsigned step = 0; step < 4; ++step) straight.train_step(batch(16, step));
  const std::string path = dir.path() + "/training.onnx";
  straight.export_training_model(path);

  TrainingSession continued = TrainingSession::from_file(path, options);
  EXPECT_EQ(continued.step(), 4);
  EXPECT_EQ(continued.learning_rate(), straight.learning_rate());
  EXPECT_EQ(continued.parameter_names(), straight.parameter_names());
  EXPECT_EQ(state_bytes(continued), state_bytes(straight));
  for (unsigned step = 4; step < 9; ++step) {
    const StepResult a = straight.train_step(batch(16, step));
    const StepResult b = continued.train_step(batch(16, step));
    EXPECT_EQ(a.loss, b.loss) << step;
    EXPECT_EQ(a.learning_rate, b.learning_rate) << step;
  }
  EXPECT_EQ(state_bytes(continued), state_bytes(straight));
  // Its inference export is the inference model only, as the original session's.
  straight.export_model(dir.path() + "/a.onnx");
  continued.export_model(dir.path() + "/b.onnx");
  const onnx::ModelProto exported = read_model(dir.path() + "/b.onnx");
  for (const auto& name : initializer_names(exported.graph()))
    EXPECT_EQ(name.rfind("optimizer/", 0), std::string::npos);
  EXPECT_EQ(initializer_names(exported.graph()).count("training/update_count"), 0u);
  EXPECT_EQ(file_bytes(dir.path() + "/a.onnx"), file_bytes(dir.path() + "/b.onnx"));
  // And the checkpoints of both agree (the optimizer state included).
  straight.save_checkpoint(dir.path() + "/a.ckpt");
  continued.save_checkpoint(dir.path() + "/b.ckpt");
  const onnx::ModelProto ca = read_model(dir.path() + "/a.ckpt"), cb = read_model(dir.path() + "/b.ckpt");
  for (const auto& t : ca.graph().initializer()) {
    if (t.name().rfind("optimizer/", 0) != 0) continue;
    EXPECT_EQ(bytes_of(tensor_from_proto(t, "", t.name())), bytes_of(tensor_named(cb.graph(), t.name()))) << t.name();
  }
}

INSTANTIATE_TEST_SUITE_P(Optimizers, ExportTrainingModel, ::testing::Values("sgd", "adam", "adamw"),
                         [](const auto& info) { return info.param; });

// The algorithm, run by our runtime as ONNX defines it (inference graph + algorithm), makes
// the session's next step: parameters, running statistics, optimizer state and counts. SGD
// (ONNX Momentum) and Adagrad are torch's and come out bit for bit. ONNX's Adam adds epsilon
// elsewhere (training_info.h), which shows where gradients are near epsilon (the bias before
// BatchNormalization): with epsilon 0 and no such bias it agrees up to float rounding.
// Checked at step 0 (ONNX's first-step rules) and after 3 steps; with gradient clipping for SGD.
TEST(TrainingInfo, AlgorithmComputesTheSessionsStep) {
  TempDir dir;
  struct Case {
    std::string kind;
    TrainingOptions options;
    bool exact;
    bool fc1_bias = true;
  };
  std::vector<Case> cases;
  for (bool nesterov : {false, true}) {
    TrainingOptions o = options_for("sgd");
    o.optimizer.nesterov = nesterov;
    o.clip_grad_norm = 0.5;
    o.clip_grad_value = 0.05;
    cases.push_back({nesterov ? "sgd-nesterov" : "sgd", o, true});
  }
  TrainingOptions plain_sgd;
  plain_sgd.optimizer.kind = "sgd";
  plain_sgd.learning_rate = 0.1;
  cases.push_back({"sgd-without-momentum", plain_sgd, true});
  TrainingOptions adagrad;
  adagrad.optimizer.kind = "adagrad";
  adagrad.optimizer.lr_decay = 0.5;  // a float32 value, as ONNX's attribute holds it
  adagrad.optimizer.initial_accumulator_value = 0.1;
  adagrad.optimizer.weight_decay = 0.25;
  cases.push_back({"adagrad", adagrad, true});
  TrainingOptions adam = options_for("adam");
  adam.optimizer.eps = 0;
  cases.push_back({"adam", adam, false, false});

  for (const Case& c : cases) {
    for (unsigned before : {0u, 3u}) {
      SCOPED_TRACE(c.kind + " after " + std::to_string(before) + " steps");
      TrainingSession s = TrainingSession::from_file(mlp_in(dir.path(), false, c.fc1_bias), c.options);
      for (unsigned step = 0; step < before; ++step) s.train_step(batch(16, step));
      const std::string path = dir.path() + "/training.onnx";
      s.export_training_model(path);
      const onnx::ModelProto model = read_model(path);

      const auto feeds = batch(16, 40 + before);
      Session combined = Session::from_file(write_combined_model(model, dir.path() + "/combined.onnx"));
      const std::vector<Tensor> out =
          combined.run({{"x", feeds.at("x")},
                        {"label", feeds.at("label")},
                        {"training/learning_rate", Tensor::scalar<double>(s.learning_rate())}});
      std::map<std::string, Tensor> by_name;
      for (size_t i = 0; i < out.size(); ++i) by_name[combined.outputs()[i].name] = out[i];

      const StepResult r = s.train_step(feeds);
      EXPECT_EQ(by_name.at(metadata_of(model).at("onnx_train.loss_value")).to_doubles()[0], r.loss);
      s.save_checkpoint(dir.path() + "/after.ckpt");
      const onnx::ModelProto checkpoint = read_model(dir.path() + "/after.ckpt");
      size_t compared = 0;
      for (const auto& b : model.training_info(0).update_binding()) {
        const Tensor& computed = by_name.at(b.value());
        Tensor expected;
        if (b.key() == "training/update_count") {
          expected = Tensor::scalar<int64_t>(s.step());
        } else if (b.key().rfind("optimizer/", 0) == 0) {
          expected = tensor_named(checkpoint.graph(), b.key());
        } else {
          expected = s.parameter(b.key());
        }
        if (c.exact || computed.dtype() == DType::Int64) {
          EXPECT_EQ(bytes_of(computed), bytes_of(expected))
              << b.key() << " max diff " << max_abs_diff(computed, expected);
        } else {
          EXPECT_LT(max_abs_diff(computed, expected), 1e-5) << b.key();
        }
        ++compared;
      }
      // Parameters, their step counts and state slots, the count, two running statistics.
      const size_t slots = c.kind == "sgd-without-momentum" ? 0 : c.kind == "adam" ? 2 : 1;
      EXPECT_EQ(compared, s.parameter_names().size() * (2 + slots) + 1 + 2);
    }
  }
}

// Another optimizer kind cannot take the state over: the session starts at step 0 from the
// file's weights. Exporting mid-accumulation is refused, as checkpoints are.
TEST(TrainingInfo, OtherOptimizerStartsAfreshAndPartialAccumulationIsRefused) {
  TempDir dir;
  const std::string model_path = mlp_in(dir.path(), false);
  TrainingSession s = TrainingSession::from_file(model_path, options_for("adam"));
  for (unsigned step = 0; step < 2; ++step) s.train_step(batch(16, step));
  const std::string path = dir.path() + "/training.onnx";
  s.export_training_model(path);

  TrainingSession other = TrainingSession::from_file(path, options_for("sgd"));
  EXPECT_EQ(other.step(), 0);
  EXPECT_EQ(state_bytes(other), state_bytes(s));
  other.train_step(batch(16, 5));
  other.export_model(dir.path() + "/other.onnx");
  for (const auto& name : initializer_names(read_model(dir.path() + "/other.onnx").graph()))
    EXPECT_EQ(name.rfind("optimizer/", 0), std::string::npos) << name;
  // A plain model (no training information) loads as before.
  EXPECT_EQ(TrainingSession::from_file(model_path, options_for("adam")).step(), 0);

  TrainingOptions accumulating = options_for("adam");
  accumulating.accumulation_steps = 2;
  TrainingSession partial = TrainingSession::from_file(model_path, accumulating);
  partial.train_step(batch(8, 1));
  std::string error;
  try {
    partial.export_training_model(dir.path() + "/partial.onnx");
  } catch (const Error& e) {
    error = e.what();
  }
  EXPECT_NE(error.find("optimizer_step()"), std::string::npos) << error;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/partial.onnx"));
}

}  // namespace
}  // namespace onnx_train
