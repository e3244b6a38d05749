// bfloat16 mixed precision (TrainingOptions::precision = "bf16", runtime/transforms/autocast.h)
// on a small one-block transformer built here: LayerNormalization, q/k/v projections
// (MatMul), scores q @ k^T (through a Transpose), Softmax, attention @ v, a residual Add and
// a classifier Gemm with bias.
//   - the rewrite: which nodes run in bfloat16, one Cast per value, Softmax / LayerNorm / the
//     loss in float32, the round trips removed, Gemm's bias added in float32;
//   - the training graph as `graph --precision bf16` writes it passes ONNX's checker;
//   - gradients through the rewrite match float32's within bfloat16 tolerance;
//   - loss agreement: 30 steps in float32 and in bfloat16, losses within 2% at every step;
//   - export is float32 and equals the session's float32 eval of the trained weights;
//   - a small CNN (Conv with bias, through the widened ConvGrad) agrees with float32 too.
#include "runtime/transforms/autocast.h"

#include <gtest/gtest.h>
#include <onnx/checker.h>

#include <cmath>
#include <random>

#include "importers/onnx_model.h"
#include "onnx_train/session.h"
#include "onnx_train/training_session.h"
#include "tests/support/expect_text.h"
#include "tests/support/model_builder.h"
#include "tests/support/random_tensors.h"

namespace onnx_train {
namespace {

using testing::ModelBuilder;
using testing::random_tensor;
using testing::TempDir;

constexpr int64_t kBatch = 4, kTokens = 8, kWidth = 32, kClasses = 5;

Tensor int64s(const std::vector<int64_t>& values) {
  Tensor t(DType::Int64, {static_cast<int64_t>(values.size())});
  for (size_t i = 0; i < values.size(); ++i) t.data<int64_t>()[i] = values[i];
  return t;
}

// 1 / sqrt(D), a Constant (not a parameter).
onnx::AttributeProto scale_attribute() {
  onnx::AttributeProto a;
  a.set_name("value");
  a.set_type(onnx::AttributeProto::TENSOR);
  a.mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
  a.mutable_t()->add_float_data(1.f / std::sqrt(static_cast<float>(kWidth)));
  return a;
}

// x [B, T, D] -> logits [B * T, C].
std::string make_transformer(const std::string& dir) {
  ModelBuilder m(17);
  std::mt19937 rng(5);
  const float w = 1.f / std::sqrt(static_cast<float>(kWidth));
  m.input("x", onnx::TensorProto::FLOAT, {kBatch, kTokens, kWidth});
  m.output("logits", onnx::TensorProto::FLOAT, {kBatch * kTokens, kClasses});
  m.initializer("ln_scale", random_tensor({kWidth}, rng, 0.1f, 1.f));
  m.initializer("ln_bias", random_tensor({kWidth}, rng, 0.1f));
  for (const char* p : {"wq", "wk", "wv"}) m.initializer(p, random_tensor({kWidth, kWidth}, rng, w));
  m.initializer("w_out", random_tensor({kClasses, kWidth}, rng, w));
  m.initializer("b_out", random_tensor({kClasses}, rng, 0.1f));
  m.initializer("rows", int64s({-1, kWidth}));
  m.node("LayerNormalization", {"x", "ln_scale", "ln_bias"}, {"h"});
  m.attr("axis", -1);
  m.node("MatMul", {"h", "wq"}, {"q"});
  m.node("MatMul", {"h", "wk"}, {"k"});
  // v as torch writes nn.Linear: MatMul(h, Transpose(W)).
  m.node("Transpose", {"wv"}, {"wv_t"});
  m.attr("perm", {1, 0});
  m.node("MatMul", {"h", "wv_t"}, {"v"});
  m.node("Transpose", {"k"}, {"kt"});
  m.attr("perm", {0, 2, 1});
  m.node("Constant", {}, {"scale"}).add_attribute()->CopyFrom(scale_attribute());
  m.node("MatMul", {"q", "kt"}, {"scores"});
  m.node("Mul", {"scores", "scale"}, {"scaled"});
  m.node("Softmax", {"scaled"}, {"attention"});
  m.attr("axis", -1);
  m.node("MatMul", {"attention", "v"}, {"mixed"});
  m.node("Add", {"mixed", "x"}, {"residual"});
  m.node("Reshape", {"residual", "rows"}, {"flat"});
  m.node("Gemm", {"flat", "w_out", "b_out"}, {"logits"});
  m.attr("transB", 1);
  const std::string path = dir + "/transformer.onnx";
  m.save(path);
  return path;
}

std::map<std::string, Tensor> batch() {
  std::mt19937 rng(11);
  Tensor labels(DType::Int64, {kBatch * kTokens});
  for (int64_t i = 0; i < labels.numel(); ++i) labels.data<int64_t>()[i] = static_cast<int64_t>(rng() % kClasses);
  return {{"x", random_tensor({kBatch, kTokens, kWidth}, rng, 1.f)}, {"label", labels}};
}

TrainingOptions options_for(const std::string& precision) {
  TrainingOptions o;
  o.precision = precision;
  o.optimizer.kind = "adam";
  o.learning_rate = 0.01;
  return o;
}

const Node* producer(const Graph& g, const std::string& value) { return g.producer_of(value); }

TEST(Autocast, RewritesTheProductsAndKeepsTheRestFloat32) {
  TempDir dir;
  Graph g = load_onnx_model(make_transformer(dir.path()));
  const AutocastReport report = autocast_bf16(g);
  EXPECT_EQ(report.rewritten, 6u);  // 5 MatMul, 1 Gemm
  size_t casts_to_bf16 = 0, casts_to_f32 = 0;
  for (const Node& n : g.nodes) {
    if (n.op_type == "MatMul" || n.op_type == "Gemm") {
      for (const auto& in : n.inputs) EXPECT_EQ(g.dtype_of(in), DType::BFloat16) << n.label() << " reads " << in;
      EXPECT_EQ(g.dtype_of(n.outputs[0]), DType::BFloat16) << n.label();
      EXPECT_EQ(n.inputs.size(), n.op_type == "Gemm" ? 2u : 2u) << "Gemm's bias leaves the bfloat16 product";
    }
    if (n.op_type == "Softmax" || n.op_type == "LayerNormalization" || n.op_type == "Mul" || n.op_type == "Add") {
      for (const auto& in : n.inputs) EXPECT_EQ(g.dtype_of(in), DType::Float32) << n.label() << " reads " << in;
    }
    if (n.op_type == "Cast") {
      const bool to_bf16 = n.attr_int("to") == static_cast<int64_t>(DType::BFloat16);
      (to_bf16 ? casts_to_bf16 : casts_to_f32) += 1;
    }
  }
  // To bfloat16: h (once for three projections), wq, wk, wv, w_out, the softmax output, the
  // residual. q, k (through its Transpose) and v feed the next product without a round trip.
  EXPECT_EQ(casts_to_bf16, 7u);
  EXPECT_EQ(report.round_trips_removed, 3u);
  // Back to float32: the scores, the mixed values, the logits before the bias.
  EXPECT_EQ(casts_to_f32, 3u);
  EXPECT_EQ(report.casts, 10u);
  // Every layout op now moves bfloat16: k's Transpose (a round trip removed), wv's Transpose
  // and the Reshape before the Gemm (their Casts moved ahead of them).
  EXPECT_EQ(report.casts_moved, 2u);
  size_t layout_ops = 0;
  for (const Node& n : g.nodes) {
    if (n.op_type != "Transpose" && n.op_type != "Reshape") continue;
    ++layout_ops;
    EXPECT_EQ(g.dtype_of(n.inputs[0]), DType::BFloat16) << n.label();
    EXPECT_EQ(g.dtype_of(n.outputs[0]), DType::BFloat16) << n.label();
    const Node* cast = producer(g, n.inputs[0]);
    if (n.op_type != "Transpose" || n.inputs[0] != "k_bf16") {
      ASSERT_NE(cast, nullptr) << n.label();
      EXPECT_EQ(cast->op_type, "Cast") << n.label();
    }
  }
  EXPECT_EQ(layout_ops, 3u);
  // The logits: Add(Cast(Gemm(flat, w_out)), b_out) in float32.
  const Node* add = producer(g, "logits");
  ASSERT_NE(add, nullptr);
  EXPECT_EQ(add->op_type, "Add");
  EXPECT_EQ(add->inputs[1], "b_out");
  EXPECT_EQ(g.dtype_of("logits"), DType::Float32);
  EXPECT_NO_THROW(sort_topologically(g)) << "the order stays valid";
}

TEST(Autocast, TrainingGraphPassesTheOnnxChecker) {
  TempDir dir;
  const std::string model = make_transformer(dir.path());
  const TrainingSession s = TrainingSession::from_file(model, options_for("bf16"));
  const std::string out = dir.path() + "/train_bf16.onnx";
  s.export_training_graph(out);
  EXPECT_NO_THROW(onnx::checker::check_model(out));
  const Graph g = load_onnx_model(out);
  size_t bf16_products = 0, bf16_grads = 0;
  for (const Node& n : g.nodes) {
    if ((n.op_type == "MatMul" || n.op_type == "FusedMatMul" || n.op_type == "Gemm") &&
        g.dtype_of(n.inputs[0]) == DType::BFloat16)
      ++bf16_products;
    if (n.op_type == "MatMulGrad" && g.dtype_of(n.inputs[1]) == DType::BFloat16) ++bf16_grads;
    if (n.op_type == "Softmax" || n.op_type == "LayerNormalization" || n.op_type == "SoftmaxCrossEntropyLoss")
      EXPECT_EQ(g.dtype_of(n.inputs[0]), DType::Float32) << n.label();
  }
  EXPECT_GE(bf16_products, 6u);  // the forward products and the backward Gemms
  EXPECT_EQ(bf16_grads, 5u);
  for (const auto& [name, value] : g.initializers)
    if (dtype_is_float(value.dtype())) EXPECT_EQ(value.dtype(), DType::Float32) << name << ": master weights";
}

// A small CNN: Conv (with bias) -> Relu -> GlobalAveragePool -> Flatten -> Gemm, x [8, 3, 8, 8].
std::string make_cnn(const std::string& dir) {
  ModelBuilder m(13);
  std::mt19937 rng(9);
  m.input("x", onnx::TensorProto::FLOAT, {8, 3, 8, 8});
  m.output("logits", onnx::TensorProto::FLOAT, {8, kClasses});
  m.initializer("w", random_tensor({8, 3, 3, 3}, rng, 0.3f));
  m.initializer("b", random_tensor({8}, rng, 0.1f));
  m.initializer("w_out", random_tensor({kClasses, 8}, rng, 0.4f));
  m.initializer("b_out", random_tensor({kClasses}, rng, 0.1f));
  m.node("Conv", {"x", "w", "b"}, {"conv"});
  m.attr("pads", {1, 1, 1, 1});
  m.node("Relu", {"conv"}, {"relu"});
  m.node("GlobalAveragePool", {"relu"}, {"pooled"});
  m.node("Flatten", {"pooled"}, {"flat"});
  m.node("Gemm", {"flat", "w_out", "b_out"}, {"logits"});
  m.attr("transB", 1);
  const std::string path = dir + "/cnn.onnx";
  m.save(path);
  return path;
}

TEST(Autocast, ConvolutionLossesAgreeWithFloat32) {
  TempDir dir;
  const std::string model = make_cnn(dir.path());
  TrainingOptions o32 = options_for("fp32"), o16 = options_for("bf16");
  TrainingSession f32 = TrainingSession::from_file(model, o32);
  TrainingSession bf16 = TrainingSession::from_file(model, o16);
  std::mt19937 rng(4);
  Tensor labels(DType::Int64, {8});
  for (int64_t i = 0; i < 8; ++i) labels.data<int64_t>()[i] = static_cast<int64_t>(rng() % kClasses);
  const std::map<std::string, Tensor> feeds{{"x", random_tensor({8, 3, 8, 8}, rng, 1.f)}, {"label", labels}};
  for (int step = 0; step < 30; ++step) {
    const double a = f32.train_step(feeds).loss, b = bf16.train_step(feeds).loss;
    EXPECT_LE(std::abs(a - b), 0.02 * std::abs(a)) << "step " << step + 1 << ": float32 " << a << ", bfloat16 " << b;
  }
}

TEST(Autocast, OpTableNamesTheBfloat16Ops) {
  std::map<std::string, std::string> form;
  for (const OpSupport& op : supported_ops()) form[op.op_type] = op.bfloat16;
  for (const char* op : {"MatMul", "Gemm", "Conv", "ConvTranspose", "MatMulGrad", "ConvGrad", "Cast"})
    EXPECT_FALSE(form[op].empty()) << op;
  for (const char* op : {"Softmax", "LayerNormalization", "SoftmaxCrossEntropyLoss", "Add"})
    EXPECT_TRUE(form[op].empty()) << op << " stays float32";
}

TEST(Autocast, UnknownPrecisionIsRefused) {
  TempDir dir;
  const std::string model = make_transformer(dir.path());
  EXPECT_NE(testing::error_of([&] { TrainingSession::from_file(model, options_for("fp8")); }).find("fp32 (the default) or bf16"),
            std::string::npos);
}

// One SGD step of rate 1 (no momentum, no decay): the update is minus the gradient.
std::map<std::string, std::vector<double>> gradients(const std::string& model, const std::string& precision) {
  TrainingOptions o = options_for(precision);
  o.optimizer.kind = "sgd";
  o.optimizer.weight_decay = 0;
  o.learning_rate = 1;
  TrainingSession s = TrainingSession::from_file(model, o);
  std::map<std::string, std::vector<double>> before, grads;
  for (const auto& p : s.parameter_names()) before[p] = s.parameter(p).to_doubles();
  s.train_step(batch());
  for (const auto& p : s.parameter_names()) {
    const auto after = s.parameter(p).to_doubles();
    for (size_t i = 0; i < after.size(); ++i) grads[p].push_back(before[p][i] - after[i]);
  }
  return grads;
}

TEST(Autocast, GradientsMatchFloat32WithinBfloat16Tolerance) {
  TempDir dir;
  const std::string model = make_transformer(dir.path());
  const auto f32 = gradients(model, "fp32"), bf16 = gradients(model, "bf16");
  ASSERT_EQ(f32.size(), bf16.size());
  for (const auto& [name, want] : f32) {
    const auto& got = bf16.at(name);
    double norm = 0, err = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      norm += want[i] * want[i];
      err += (got[i] - want[i]) * (got[i] - want[i]);
    }
    // A few bfloat16 roundings (2^-9 each) along the chain: a relative error of a few percent.
    EXPECT_LE(std::sqrt(err), 0.03 * std::sqrt(norm) + 1e-7) << name;
    EXPECT_GT(norm, 0) << name;
  }
}

TEST(Autocast, LossesAgreeWithFloat32AtEveryStepAndExportIsFloat32) {
  TempDir dir;
  const std::string model = make_transformer(dir.path());
  // A rate at which 30 steps learn the batch well but do not drive the loss to ~0 (where 2%
  // of it would be below bfloat16's resolution of the logits).
  TrainingOptions o32 = options_for("fp32"), o16 = options_for("bf16");
  o32.learning_rate = o16.learning_rate = 0.002;
  TrainingSession f32 = TrainingSession::from_file(model, o32);
  TrainingSession bf16 = TrainingSession::from_file(model, o16);
  const auto feeds = batch();
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    const double a = f32.train_step(feeds).loss, b = bf16.train_step(feeds).loss;
    EXPECT_LE(std::abs(a - b), 0.02 * std::abs(a)) << "step " << step + 1 << ": float32 " << a << ", bfloat16 " << b;
    if (step == 0) first = b;
    last = b;
    if (step % 5 == 4) std::printf("step %d: float32 %.5f bfloat16 %.5f\n", step + 1, a, b);
  }
  EXPECT_LT(last, 0.7 * first) << "bfloat16 training learns";

  const std::string exported = dir.path() + "/exported.onnx";
  bf16.export_model(exported);
  const Graph g = load_onnx_model(exported);
  for (const Node& n : g.nodes) EXPECT_NE(n.op_type, "Cast") << "export is the user's float model";
  for (const auto& [name, value] : g.initializers)
    if (dtype_is_float(value.dtype())) EXPECT_EQ(value.dtype(), DType::Float32) << name;
  Session inference = Session::from_file(exported);
  const std::vector<Tensor> out = inference.run({{"x", feeds.at("x")}});
  const std::vector<Tensor> eval = bf16.predict({{"x", feeds.at("x")}});
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(eval.size(), 1u);
  const auto u = out[0].to_doubles(), v = eval[0].to_doubles();
  for (size_t i = 0; i < u.size(); ++i) ASSERT_EQ(u[i], v[i]) << "logit " << i;
}

}  // namespace
}  // namespace onnx_train
