// TrainingSession (onnx_train/training_session.h) as a user drives it: training to a
// solution, determinism, checkpoints, gradient accumulation, weight-decay groups, eval and
// export, a model with its own loss, and the errors at the boundary. PyTorch parity of the
// steps themselves is train_parity_test.cc.
#include "onnx_train/training_session.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "tests/support/expect_text.h"
#include "tests/support/mlp_model.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

using testing::error_of;
using testing::ModelBuilder;
using testing::random_tensor;
using testing::TempDir;

const std::string kParityDir = std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/data/train_parity";

// The MLP of tests/support/mlp_model.h, saved in `dir` under a name telling its variant.
// With BatchNormalization and Dropout the model has both train/eval behaviours.
std::string mlp_in(const std::string& dir, bool bn_and_dropout) {
  return testing::make_mlp(dir + (bn_and_dropout ? "/mlp_bn_dropout.onnx" : "/mlp.onnx"), bn_and_dropout);
}

// Three well-separated classes in 4 dimensions.
std::map<std::string, Tensor> separable_batch(int n, unsigned seed) { return testing::mlp_batch(n, seed, 0.3f); }

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

// All parameters and buffers of a session, by name.
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

int64_t argmax_row(const Tensor& logits, int64_t row) {
  const int64_t c = logits.dim(1);
  const float* p = logits.data<float>() + row * c;
  return std::max_element(p, p + c) - p;
}

// The MLP of the parity fixtures (x [8, 12] -> 5 classes) on a separable problem: the loss
// goes to nearly zero and, in eval form, every held-out sample is classified right.
TEST(TrainingSession, SeparableProblemTrainsToNearZeroLossAndFullAccuracy) {
  TrainingOptions options;
  options.optimizer.kind = "adam";
  options.learning_rate = 0.01;
  TrainingSession session = TrainingSession::from_file(kParityDir + "/mlp/model.onnx", options);
  ASSERT_EQ(session.label_name(), "label");

  std::mt19937 rng(3);
  const Tensor centers = random_tensor({5, 12}, rng, 1.5f);
  auto batch = [&](unsigned seed) {
    std::mt19937 r(seed);
    std::normal_distribution<float> noise(0.f, 0.2f);
    Tensor x(DType::Float32, {8, 12});
    Tensor label(DType::Int64, {8});
    for (int i = 0; i < 8; ++i) {
      const int c = static_cast<int>(r() % 5);
      label.data<int64_t>()[i] = c;
      for (int j = 0; j < 12; ++j) x.data<float>()[i * 12 + j] = centers.data<float>()[c * 12 + j] + noise(r);
    }
    return std::map<std::string, Tensor>{{"x", x}, {"label", label}};
  };
  double first_loss = 0, last_loss = 0;
  for (int step = 0; step < 300; ++step) {
    const StepResult r = session.train_step(batch(100 + step % 40));
    if (step == 0) first_loss = r.loss;
    last_loss = r.loss;
  }
  EXPECT_GT(first_loss, 1.0);
  EXPECT_LT(last_loss, 0.01);
  int correct = 0, total = 0;
  double eval_loss = 0;
  for (unsigned seed = 1000; seed < 1010; ++seed) {
    const auto feeds = batch(seed);
    const EvalResult e = session.eval_step(feeds);
    eval_loss += e.loss / 10;
    for (int64_t i = 0; i < 8; ++i, ++total)
      correct += argmax_row(e.outputs[0], i) == feeds.at("label").data<int64_t>()[i];
  }
  EXPECT_EQ(correct, total);
  EXPECT_LT(eval_loss, 0.02);
  std::printf("separable MLP: loss %.3f -> %.2g in 300 steps; held-out accuracy %d/%d, eval loss %.2g\n", first_loss,
              last_loss, correct, total, eval_loss);
}

TrainingOptions dropout_options(uint64_t seed) {
  TrainingOptions o;
  o.optimizer.kind = "adamw";
  o.learning_rate = 0.02;
  o.schedule = parse_schedule("cosine:total_steps=12,warmup_steps=3");
  o.clip_grad_norm = 0.5;
  o.seed = seed;
  return o;
}

// Same seed, same threads: identical bytes, through BatchNormalization statistics, Dropout
// masks, clipping and the schedule; another seed draws other masks.
TEST(TrainingSession, TwoRunsWithTheSameSeedGiveIdenticalBytes) {
  TempDir dir;
  const std::string model = mlp_in(dir.path(), true);
  auto run = [&](uint64_t seed, const std::string& exported) {
    TrainingSession s = TrainingSession::from_file(model, dropout_options(seed));
    for (unsigned step = 0; step < 12; ++step) s.train_step(separable_batch(16, step));
    s.export_model(exported);
    return state_bytes(s);
  };
  const auto a = run(5, dir.path() + "/a.onnx");
  const auto b = run(5, dir.path() + "/b.onnx");
  const auto c = run(6, dir.path() + "/c.onnx");
  EXPECT_EQ(a.size(), 8u);  // 4 Gemm parameters, BatchNormalization scale, bias, running mean, var
  EXPECT_EQ(a, b);
  EXPECT_EQ(file_bytes(dir.path() + "/a.onnx"), file_bytes(dir.path() + "/b.onnx"));
  EXPECT_NE(a.at("fc1.weight"), c.at("fc1.weight"));  // other dropout masks, other training
}

// The same on a convolutional model with BatchNormalization (oneDNN's backward kernels),
// and its steps stop taking storage from the system once warm.
TEST(TrainingSession, ConvolutionalStepsAreDeterministicAndAllocateNothingWhenWarm) {
  const std::string dir = kParityDir + "/resnet_block";
  std::vector<std::map<std::string, Tensor>> batches;
  for (int k = 0; k < 4; ++k)
    batches.push_back({{"x", read_tensor_file(fmt::format("{}/batch_{}_x.pb", dir, k))},
                       {"label", read_tensor_file(fmt::format("{}/batch_{}_label.pb", dir, k))}});
  auto run = [&]() {
    TrainingOptions options;
    options.clip_grad_norm = 1.0;
    TrainingSession s = TrainingSession::from_file(dir + "/model.onnx", options);
    for (int step = 0; step < 3; ++step) s.train_step(batches[step % 4]);
    const size_t warm = s.memory_stats().system_allocations;
    for (int step = 3; step < 10; ++step) s.train_step(batches[step % 4]);
    EXPECT_EQ(s.memory_stats().system_allocations, warm);
    return state_bytes(s);
  };
  EXPECT_EQ(run(), run());
}

// release_memory gives the recycled storage back; the steps after it take it again and train
// as if nothing happened.
TEST(TrainingSession, ReleasedMemoryIsTakenAgainByTheNextStep) {
  const std::string dir = kParityDir + "/resnet_block";
  std::vector<std::map<std::string, Tensor>> batches;
  for (int k = 0; k < 4; ++k)
    batches.push_back({{"x", read_tensor_file(fmt::format("{}/batch_{}_x.pb", dir, k))},
                       {"label", read_tensor_file(fmt::format("{}/batch_{}_label.pb", dir, k))}});
  auto run = [&](bool release) {
    TrainingSession s = TrainingSession::from_file(dir + "/model.onnx", TrainingOptions{});
    for (int step = 0; step < 3; ++step) s.train_step(batches[step % 4]);
    const size_t warm = s.memory_stats().system_allocations;
    if (release) {
      EXPECT_GT(s.release_memory(), 0u);
      EXPECT_EQ(s.release_memory(), 0u);  // nothing left to give back
    }
    for (int step = 3; step < 6; ++step) s.train_step(batches[step % 4]);
    if (release) {
      EXPECT_GT(s.memory_stats().system_allocations, warm);
    } else {
      EXPECT_EQ(s.memory_stats().system_allocations, warm);
    }
    return state_bytes(s);
  };
  EXPECT_EQ(run(true), run(false));
}

// Saving after 6 steps and resuming in a fresh session gives the uninterrupted run's bytes:
// parameters, running statistics, optimizer state, schedule position and Dropout generator.
TEST(TrainingSession, CheckpointResumesBitForBit) {
  TempDir dir;
  const std::string model = mlp_in(dir.path(), true);
  const std::string checkpoint = dir.path() + "/run.ckpt";
  TrainingSession straight = TrainingSession::from_file(model, dropout_options(9));
  for (unsigned step = 0; step < 6; ++step) straight.train_step(separable_batch(16, step));
  straight.save_checkpoint(checkpoint);
  const double lr_at_6 = straight.learning_rate();
  for (unsigned step = 6; step < 12; ++step) straight.train_step(separable_batch(16, step));

  TrainingSession resumed = TrainingSession::from_file(model, dropout_options(9));
  resumed.load_checkpoint(checkpoint);
  EXPECT_EQ(resumed.step(), 6);
  EXPECT_EQ(resumed.learning_rate(), lr_at_6);
  for (unsigned step = 6; step < 12; ++step) resumed.train_step(separable_batch(16, step));
  EXPECT_EQ(state_bytes(straight), state_bytes(resumed));
  // The checkpoint is an ordinary ONNX file holding the tensors by the documented names.
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(file_bytes(checkpoint)));
  std::set<std::string> names;
  for (const auto& t : proto.graph().initializer()) names.insert(t.name());
  EXPECT_EQ(names.count("parameter/fc1.weight"), 1u);
  EXPECT_EQ(names.count("buffer/bn.running_var"), 1u);
  EXPECT_EQ(names.count("optimizer/fc1.weight/exp_avg_sq"), 1u);
  EXPECT_FALSE(std::filesystem::exists(checkpoint + ".partial"));
}

// Two micro-batches of 4 with accumulation_steps 2 (or accumulation_steps 0 and a manual
// optimizer_step) step on the gradient of the batch of 8 they make up.
TEST(TrainingSession, AccumulationEqualsOneLargerBatch) {
  TempDir dir;
  const std::string model = mlp_in(dir.path(), false);
  TrainingOptions options;
  options.optimizer.kind = "sgd";
  options.optimizer.momentum = 0.9;
  options.optimizer.weight_decay = 1e-3;
  options.learning_rate = 0.1;
  options.clip_grad_norm = 0.5;
  TrainingSession whole = TrainingSession::from_file(model, options);
  options.accumulation_steps = 2;
  TrainingSession accumulated = TrainingSession::from_file(model, options);
  options.accumulation_steps = 0;
  TrainingSession manual = TrainingSession::from_file(model, options);

  auto half = [](const std::map<std::string, Tensor>& feeds, int part) {
    std::map<std::string, Tensor> out;
    for (const auto& [name, t] : feeds) {
      Shape shape = t.shape();
      shape[0] /= 2;
      Tensor h(t.dtype(), shape);
      std::memcpy(h.raw_data(), static_cast<const uint8_t*>(t.raw_data()) + part * h.nbytes(), h.nbytes());
      out[name] = h;
    }
    return out;
  };
  for (unsigned step = 0; step < 4; ++step) {
    const auto feeds = separable_batch(8, 50 + step);
    const StepResult w = whole.train_step(feeds);
    const StepResult a1 = accumulated.train_step(half(feeds, 0));
    EXPECT_FALSE(a1.stepped);
    EXPECT_EQ(accumulated.pending_micro_batches(), 1);
    const StepResult a2 = accumulated.train_step(half(feeds, 1));
    EXPECT_TRUE(a2.stepped);
    EXPECT_NEAR((a1.loss + a2.loss) / 2, w.loss, 1e-6);
    EXPECT_FALSE(manual.train_step(half(feeds, 0)).stepped);
    EXPECT_FALSE(manual.train_step(half(feeds, 1)).stepped);
    manual.optimizer_step();
  }
  EXPECT_EQ(accumulated.step(), 4);
  EXPECT_EQ(manual.step(), 4);
  for (const auto& name : whole.parameter_names()) {
    EXPECT_LT(max_abs_diff(whole.parameter(name), accumulated.parameter(name)), 1e-6) << name;
    EXPECT_EQ(bytes_of(manual.parameter(name)), bytes_of(accumulated.parameter(name))) << name;
  }
}

// By default weight decay skips rank-0/1 parameters (biases, norm scales); no_decay = {}
// decays everything, as torch.optim does.
TEST(TrainingSession, WeightDecaySkipsBiasesByDefault) {
  TempDir dir;
  const std::string model = mlp_in(dir.path(), false);
  auto one_step = [&](double weight_decay, std::optional<std::vector<std::string>> no_decay) {
    TrainingOptions options;
    options.optimizer.kind = "sgd";
    options.optimizer.weight_decay = weight_decay;
    options.learning_rate = 0.1;
    options.no_decay = no_decay;
    TrainingSession s = TrainingSession::from_file(model, options);
    s.train_step(separable_batch(8, 1));
    return s;
  };
  const TrainingSession plain = one_step(0, std::nullopt);
  const TrainingSession decayed = one_step(0.5, std::nullopt);
  const TrainingSession all = one_step(0.5, std::vector<std::string>{});
  const TrainingSession by_name = one_step(0.5, std::vector<std::string>{"^fc1\\."});
  EXPECT_EQ(bytes_of(plain.parameter("fc1.bias")), bytes_of(decayed.parameter("fc1.bias")));
  EXPECT_NE(bytes_of(plain.parameter("fc1.weight")), bytes_of(decayed.parameter("fc1.weight")));
  EXPECT_NE(bytes_of(plain.parameter("fc1.bias")), bytes_of(all.parameter("fc1.bias")));
  EXPECT_EQ(bytes_of(plain.parameter("fc1.weight")), bytes_of(by_name.parameter("fc1.weight")));
  EXPECT_NE(bytes_of(plain.parameter("fc2.bias")), bytes_of(by_name.parameter("fc2.bias")));
}

// eval_step uses the running statistics and no dropout, changes nothing, and agrees with
// predict() and with the exported model run by an inference Session.
TEST(TrainingSession, EvalPredictAndExportAgree) {
  TempDir dir;
  const std::string model = mlp_in(dir.path(), true);
  TrainingSession s = TrainingSession::from_file(model, dropout_options(1));
  ASSERT_EQ(s.buffer_names(), (std::vector<std::string>{"bn.running_mean", "bn.running_var"}));
  const Tensor initial_mean = s.parameter("bn.running_mean");
  const auto feeds = separable_batch(16, 77);
  // Evaluated before training too, so that a kernel caching anything derived from the
  // weights at its first run would show below as a stale result.
  const Tensor untrained = s.eval_step(feeds).outputs[0].clone();
  s.predict({{"x", feeds.at("x")}});
  for (unsigned step = 0; step < 5; ++step) s.train_step(separable_batch(16, step));
  EXPECT_GT(max_abs_diff(initial_mean, s.parameter("bn.running_mean")), 1e-3);  // statistics were updated

  const auto before = state_bytes(s);
  const EvalResult e1 = s.eval_step(feeds);
  const EvalResult e2 = s.eval_step(feeds);
  EXPECT_EQ(state_bytes(s), before);
  EXPECT_EQ(bytes_of(e1.outputs[0]), bytes_of(e2.outputs[0]));  // no dropout
  EXPECT_GT(max_abs_diff(untrained, e1.outputs[0]), 1e-3);
  const std::vector<Tensor> predicted = s.predict({{"x", feeds.at("x")}});
  EXPECT_EQ(bytes_of(predicted[0]), bytes_of(e1.outputs[0]));

  const std::string exported = dir.path() + "/trained.onnx";
  s.export_model(exported);
  Session inference = Session::from_file(exported);
  ASSERT_EQ(inference.inputs().size(), 1u);  // no label: the inference model as exported
  EXPECT_EQ(bytes_of(inference.run({{"x", feeds.at("x")}})[0]), bytes_of(e1.outputs[0]));
  // The exported model trains on from where this one stopped.
  TrainingSession again = TrainingSession::from_file(exported, dropout_options(1));
  for (const auto& name : s.parameter_names()) EXPECT_EQ(bytes_of(again.parameter(name)), bytes_of(s.parameter(name)));
  for (const auto& name : s.buffer_names()) EXPECT_EQ(bytes_of(again.parameter(name)), bytes_of(s.parameter(name)));
}

// A model that computes its own scalar loss (here MSE of a linear model) trains as it is.
TEST(TrainingSession, ModelWithItsOwnLossTrains) {
  TempDir dir;
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {-1, 4});
  m.input("y", onnx::TensorProto::FLOAT, {-1, 1});
  m.initializer("w", Tensor::from<float>({1, 4}, {0, 0, 0, 0}));
  m.initializer("b", Tensor::from<float>({1}, {0}));
  m.node("Gemm", {"x", "w", "b"}, {"pred"});
  m.attr("transB", 1);
  m.node("Sub", {"pred", "y"}, {"err"});
  m.node("Mul", {"err", "err"}, {"sq"});
  m.node("ReduceMean", {"sq"}, {"loss"});
  m.attr("keepdims", 0);
  m.output("loss", onnx::TensorProto::FLOAT, {});
  m.output("pred", onnx::TensorProto::FLOAT, {-1, 1});
  m.save(dir.path() + "/own_loss.onnx");

  TrainingOptions options;
  options.model_loss = "loss";
  options.optimizer.kind = "sgd";
  options.learning_rate = 0.05;
  TrainingSession s = TrainingSession::from_file(dir.path() + "/own_loss.onnx", options);
  EXPECT_EQ(s.label_name(), "");
  EXPECT_EQ(s.inputs().size(), 2u);
  const float truth[4] = {1, -2, 0.5f, 3};
  std::mt19937 rng(2);
  double first = 0, last = 0;
  for (int step = 0; step < 200; ++step) {
    Tensor x = random_tensor({16, 4}, rng, 1.f);
    Tensor y(DType::Float32, {16, 1});
    for (int i = 0; i < 16; ++i) {
      float v = 0.25f;
      for (int j = 0; j < 4; ++j) v += truth[j] * x.data<float>()[i * 4 + j];
      y.data<float>()[i] = v;
    }
    const double loss = s.train_step({{"x", x}, {"y", y}}).loss;
    if (step == 0) first = loss;
    last = loss;
  }
  EXPECT_LT(last, first * 1e-4);
  const auto w = s.parameter("w").to_doubles();
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(w[j], truth[j], 1e-2);
  EXPECT_NEAR(s.parameter("b").to_doubles()[0], 0.25, 1e-2);
}

TEST(TrainingSession, FrozenParametersStayPut) {
  TempDir dir;
  const std::string model = mlp_in(dir.path(), false);
  TrainingOptions options;
  options.freeze = {"^fc1\\."};
  TrainingSession s = TrainingSession::from_file(model, options);
  EXPECT_EQ(s.parameter_names(), (std::vector<std::string>{"fc2.bias", "fc2.weight"}));
  for (unsigned step = 0; step < 3; ++step) s.train_step(separable_batch(8, step));
  const std::string exported = dir.path() + "/out.onnx";
  s.export_model(exported);
  TrainingSession reread = TrainingSession::from_file(exported);
  TrainingSession initial = TrainingSession::from_file(model);
  EXPECT_EQ(bytes_of(reread.parameter("fc1.weight")), bytes_of(initial.parameter("fc1.weight")));
  EXPECT_NE(bytes_of(reread.parameter("fc2.weight")), bytes_of(initial.parameter("fc2.weight")));
}

TEST(TrainingSession, LearningRateFollowsTheScheduleUntilSet) {
  TempDir dir;
  const std::string model = mlp_in(dir.path(), false);
  TrainingOptions options;
  options.learning_rate = 0.1;
  options.schedule = parse_schedule("step:step_size=2,gamma=0.5");
  TrainingSession s = TrainingSession::from_file(model, options);
  std::vector<double> used;
  for (unsigned step = 0; step < 5; ++step) used.push_back(s.train_step(separable_batch(8, step)).learning_rate);
  EXPECT_EQ(used, (std::vector<double>{0.1, 0.1, 0.05, 0.05, 0.025}));
  s.set_learning_rate(0.003);
  EXPECT_EQ(s.learning_rate(), 0.003);
  EXPECT_EQ(s.train_step(separable_batch(8, 9)).learning_rate, 0.003);
}

TEST(TrainingSession, ClearErrorsAtTheBoundary) {
  TempDir dir;
  const std::string model = mlp_in(dir.path(), false);
  TrainingOptions bad_output;
  bad_output.loss.output = "probabilities";
  EXPECT_NE(error_of([&] { TrainingSession::from_file(model, bad_output); }).find("probabilities"), std::string::npos);
  TrainingOptions bad_own_loss;
  bad_own_loss.model_loss = "loss";
  EXPECT_NE(error_of([&] { TrainingSession::from_file(model, bad_own_loss); }).find("no output 'loss'"),
            std::string::npos);
  TrainingOptions bad_optimizer;
  bad_optimizer.optimizer.kind = "adamax";
  EXPECT_NE(error_of([&] { TrainingSession::from_file(model, bad_optimizer); }).find("adamax"), std::string::npos);
  TrainingOptions bad_freeze;
  bad_freeze.freeze = {"(fc1"};
  EXPECT_NE(error_of([&] { TrainingSession::from_file(model, bad_freeze); }).find("(fc1"), std::string::npos);

  TrainingSession s = TrainingSession::from_file(model);
  auto feeds = separable_batch(8, 1);
  feeds.erase("label");
  EXPECT_NE(error_of([&] { s.train_step(feeds); }).find("'label'"), std::string::npos);
  EXPECT_NE(error_of([&] {
              s.set_parameter("fc1.weight", Tensor(DType::Float32, {4, 8}));
            }).find("fc1.weight"),
            std::string::npos);
  EXPECT_NE(error_of([&] { s.parameter("nope"); }).find("'nope'"), std::string::npos);

  // Checkpoints: not one, another optimizer, another model, mid-accumulation.
  EXPECT_NE(error_of([&] { s.load_checkpoint(model); }).find("not an onnx-train checkpoint"), std::string::npos);
  const std::string checkpoint = dir.path() + "/a.ckpt";
  s.train_step(separable_batch(8, 1));
  s.save_checkpoint(checkpoint);
  TrainingOptions sgd;
  sgd.optimizer.kind = "sgd";
  TrainingSession other_optimizer = TrainingSession::from_file(model, sgd);
  EXPECT_NE(error_of([&] { other_optimizer.load_checkpoint(checkpoint); }).find("adamw optimizer"), std::string::npos);
  TrainingSession other_model = TrainingSession::from_file(mlp_in(dir.path(), true));
  const std::string mismatch = error_of([&] { other_model.load_checkpoint(checkpoint); });
  EXPECT_NE(mismatch.find("bn."), std::string::npos) << mismatch;
  TrainingOptions accumulating;
  accumulating.accumulation_steps = 4;
  TrainingSession partial = TrainingSession::from_file(model, accumulating);
  partial.train_step(separable_batch(8, 1));
  EXPECT_NE(error_of([&] { partial.save_checkpoint(dir.path() + "/b.ckpt"); }).find("optimizer_step()"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/b.ckpt"));
  EXPECT_NE(error_of([&] { s.save_checkpoint(dir.path() + "/no/such/dir/c.ckpt"); }).find("cannot open"),
            std::string::npos);
}

// --num-classes: the last Gemm gets a fresh layer of N outputs (PyTorch's nn.Linear bounds),
// the rest keeps its weights, and the model trains and exports with the new head.
TEST(TrainingSession, NumClassesReplacesTheClassifierLayer) {
  TempDir dir;
  const std::string model = mlp_in(dir.path(), false);
  TrainingOptions options;
  options.num_classes = 5;
  options.train_only = {"^fc2\\."};
  TrainingSession s = TrainingSession::from_file(model, options);
  EXPECT_EQ(s.outputs()[0].shape, (Shape{-1, 5}));
  EXPECT_EQ(s.parameter_names(), (std::vector<std::string>{"fc2.bias", "fc2.weight"}));
  const Tensor w = s.parameter("fc2.weight");
  EXPECT_EQ(w.shape(), (Shape{5, 8}));  // transB = 1: [N, K]
  for (double v : w.to_doubles()) EXPECT_LE(std::abs(v), 1 / std::sqrt(8.0));
  auto feeds = separable_batch(8, 3);
  feeds.at("label").data<int64_t>()[0] = 4;  // a class the old head did not have
  const double first = s.train_step(feeds).loss;
  for (int i = 0; i < 30; ++i) s.train_step(feeds);
  EXPECT_LT(s.train_step(feeds).loss, first);
  const std::string exported = dir.path() + "/five.onnx";
  s.export_model(exported);
  Session inference = Session::from_file(exported);
  EXPECT_EQ(inference.run({{"x", feeds.at("x")}})[0].shape(), (Shape{8, 5}));
  TrainingSession original = TrainingSession::from_file(model);
  EXPECT_EQ(bytes_of(original.parameter("fc1.weight")), bytes_of(TrainingSession::from_file(exported).parameter("fc1.weight")));

  TrainingOptions no_head;
  no_head.num_classes = 3;
  no_head.loss.kind = LossKind::MSE;
  no_head.loss.output = "r";  // a Relu output: not a fully connected layer
  const std::string message = error_of([&] { TrainingSession::from_file(model, no_head); });
  EXPECT_NE(message.find("Relu"), std::string::npos) << message;
}

// A NaN in the batch stops the step before anything changes, and says so (here the loss
// stays finite, because ReLU maps NaN to 0, but the gradients do not).
TEST(TrainingSession, NonFiniteLossChangesNothing) {
  TempDir dir;
  const std::string model = mlp_in(dir.path(), true);
  TrainingSession s = TrainingSession::from_file(model, dropout_options(1));
  s.train_step(separable_batch(16, 1));
  const auto before = state_bytes(s);
  auto feeds = separable_batch(16, 2);
  feeds.at("x").data<float>()[3] = std::numeric_limits<float>::quiet_NaN();
  const std::string message = error_of([&] { s.train_step(feeds); });
  EXPECT_NE(message.find("NaN or Inf at step 2"), std::string::npos) << message;
  EXPECT_EQ(state_bytes(s), before);
  EXPECT_EQ(s.step(), 1);
  EXPECT_EQ(s.pending_micro_batches(), 0);
}

// A caller's own metadata rides along in checkpoints; set_schedule replaces the schedule.
TEST(TrainingSession, CheckpointsCarryCallerMetadataAndSchedulesCanBeSet) {
  TempDir dir;
  const std::string model = mlp_in(dir.path(), false);
  TrainingSession s = TrainingSession::from_file(model);
  s.set_schedule(parse_schedule("linear:total_steps=10"));
  EXPECT_EQ(s.learning_rate(), 1e-3);  // base_lr from the options
  s.train_step(separable_batch(8, 1));
  EXPECT_NEAR(s.learning_rate(), 0.9e-3, 1e-15);
  const std::string path = dir.path() + "/c.ckpt";
  s.save_checkpoint(path, {{"cli.epoch", "3"}});
  EXPECT_EQ(TrainingSession::read_checkpoint_metadata(path).at("cli.epoch"), "3");
  TrainingSession t = TrainingSession::from_file(model);
  EXPECT_EQ(t.load_checkpoint(path).at("cli.epoch"), "3");
  EXPECT_EQ(t.learning_rate(), s.learning_rate());
  EXPECT_NE(error_of([&] { s.save_checkpoint(path, {{"step", "9"}}); }).find("reserved"), std::string::npos);
}

}  // namespace
}  // namespace onnx_train
