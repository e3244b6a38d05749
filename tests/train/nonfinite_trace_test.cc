// Non-finite values traced to their op: TrainingSession::trace_nonfinite, the trace in a
// refused step's NonFiniteStep, and detect_anomaly (runtime/train/nonfinite.h).
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <map>
#include <string>

#include "onnx_train/error.h"
#include "onnx_train/training_session.h"
#include "tests/support/mlp_model.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

using testing::ModelBuilder;
using testing::TempDir;

// loss = mean(<op>(x * w)), w = ones [3], the model's own loss. `op` is Log (forward -Inf at a
// zero input) or Sqrt (finite forward at zero, infinite gradient).
std::string make_model(const std::string& path, const std::string& op) {
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {-1, 3});
  m.initializer("w", Tensor::from<float>({3}, {1, 1, 1}));
  m.node("Mul", {"x", "w"}, {"y"}).set_name("scale");
  m.node(op, {"y"}, {"z"}).set_name("f");
  m.node("ReduceMean", {"z"}, {"loss"}).set_name("mean");
  m.attr("keepdims", 0);
  m.output("loss", onnx::TensorProto::FLOAT, {});
  m.save(path);
  return path;
}

TrainingOptions own_loss() {
  TrainingOptions options;
  options.model_loss = "loss";
  return options;
}

Tensor batch(float first) { return Tensor::from<float>({2, 3}, {first, 1, 2, 3, 4, 5}); }

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

std::string refused_message(TrainingSession& s, const std::map<std::string, Tensor>& feeds) {
  try {
    s.train_step(feeds);
  } catch (const NonFiniteStep& e) {
    return e.what();
  }
  ADD_FAILURE() << "the step was not refused";
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Log of a zero: the forward node is named, its input finite with range [0, 5], the output's -Inf counted.
TEST(NonFiniteTrace, NamesTheForwardNodeThatMadeInf) {
  TempDir dir;
  TrainingSession s = TrainingSession::from_file(make_model(dir.path() + "/log.onnx", "Log"), own_loss());
  const NonFiniteTrace t = s.trace_nonfinite({{"x", batch(0)}});
  ASSERT_TRUE(t.found);
  EXPECT_EQ(t.node_name, "f");
  EXPECT_EQ(t.op_type, "Log");
  EXPECT_FALSE(t.backward);
  EXPECT_EQ(t.output_index, 0u);
  EXPECT_EQ(t.output.name, "z");
  EXPECT_EQ(t.output.negative_inf, 1);
  EXPECT_EQ(t.output.nan, 0);
  ASSERT_EQ(t.inputs.size(), 1u);
  EXPECT_TRUE(t.inputs_finite());
  EXPECT_EQ(t.inputs[0].name, "y");
  EXPECT_EQ(t.inputs[0].min, 0);
  EXPECT_EQ(t.inputs[0].max, 5);
  EXPECT_FALSE(s.trace_nonfinite({{"x", batch(0.5f)}}).found);

  const std::string message = refused_message(s, {{"x", batch(0)}});
  EXPECT_TRUE(contains(message, "the loss is -inf at step 1")) << message;
  EXPECT_TRUE(contains(message, "first non-finite value: node 'f' (Log), forward pass, output 0 'z'")) << message;
  EXPECT_TRUE(contains(message, "this Log made the non-finite values")) << message;
  EXPECT_EQ(s.step(), 0);
  EXPECT_TRUE(same_bits(s.parameter("w"), Tensor::from<float>({3}, {1, 1, 1})));
}

// Sqrt at zero: the forward pass and the loss are finite, the gradient rule of Sqrt divides by zero.
TEST(NonFiniteTrace, NamesTheBackwardNodeAndTheRuleItBelongsTo) {
  TempDir dir;
  TrainingSession s = TrainingSession::from_file(make_model(dir.path() + "/sqrt.onnx", "Sqrt"), own_loss());
  const NonFiniteTrace t = s.trace_nonfinite({{"x", batch(0)}});
  ASSERT_TRUE(t.found);
  EXPECT_TRUE(t.backward);
  EXPECT_TRUE(contains(t.gradient_of, "'f' (Sqrt")) << t.gradient_of;
  EXPECT_TRUE(t.inputs_finite()) << t.describe();
  EXPECT_GT(t.output.positive_inf + t.output.negative_inf + t.output.nan, 0);

  const std::string message = refused_message(s, {{"x", batch(0)}});
  EXPECT_TRUE(contains(message, "the gradients hold NaN or Inf at step 1")) << message;
  EXPECT_TRUE(contains(message, "backward pass, gradient rule of node 'f' (Sqrt")) << message;
  EXPECT_EQ(s.step(), 0);
}

// A NaN in the batch: the first node reading it is named, with the non-finite input shown.
TEST(NonFiniteTrace, ANonFiniteFeedIsShownAsTheNodesInput) {
  TempDir dir;
  TrainingSession s = TrainingSession::from_file(make_model(dir.path() + "/log.onnx", "Log"), own_loss());
  const NonFiniteTrace t = s.trace_nonfinite({{"x", batch(std::numeric_limits<float>::quiet_NaN())}});
  ASSERT_TRUE(t.found);
  EXPECT_EQ(t.node_name, "scale");
  EXPECT_EQ(t.output.nan, 1);
  ASSERT_EQ(t.inputs.size(), 2u);
  EXPECT_FALSE(t.inputs[0].finite());
  EXPECT_EQ(t.inputs[0].nan, 1);
  EXPECT_TRUE(t.inputs[1].finite());
  EXPECT_TRUE(contains(t.describe(), "a non-finite input is a graph input or an initializer")) << t.describe();
}

// detect_anomaly stops the first step at the same node, and changes no result of a good run.
TEST(NonFiniteTrace, DetectAnomalyStopsAtTheFirstNonFiniteOutput) {
  TempDir dir;
  const std::string model = make_model(dir.path() + "/log.onnx", "Log");
  TrainingOptions anomaly = own_loss();
  anomaly.detect_anomaly = true;
  TrainingSession checked = TrainingSession::from_file(model, anomaly);
  TrainingSession plain = TrainingSession::from_file(model, own_loss());
  for (int i = 0; i < 3; ++i) {
    const StepResult a = checked.train_step({{"x", batch(0.5f + i)}});
    const StepResult b = plain.train_step({{"x", batch(0.5f + i)}});
    EXPECT_EQ(a.loss, b.loss);
  }
  EXPECT_TRUE(same_bits(checked.parameter("w"), plain.parameter("w")));
  const Tensor before = checked.parameter("w");
  const std::string message = refused_message(checked, {{"x", batch(0)}});
  EXPECT_TRUE(contains(message, "(detect_anomaly)")) << message;
  EXPECT_TRUE(contains(message, "first non-finite value: node 'f' (Log), forward pass")) << message;
  EXPECT_EQ(checked.step(), 3);
  EXPECT_TRUE(same_bits(checked.parameter("w"), before));
}

// A refused step changes nothing, Dropout's generator and BatchNormalization's statistics
// included, and neither does a trace: training on after a refused batch gives the weights of
// a run that never saw it.
TEST(NonFiniteTrace, ARefusedStepIsAsIfTheBatchWasNeverSeen) {
  TempDir dir;
  const std::string mlp = testing::make_mlp(dir.path() + "/mlp.onnx", /*bn_and_dropout=*/true);
  TrainingOptions options;
  options.seed = 3;
  TrainingSession skipping = TrainingSession::from_file(mlp, options);
  TrainingSession clean = TrainingSession::from_file(mlp, options);
  const Tensor label = Tensor::from<int64_t>({2}, {0, 2});
  auto x_of = [](int k) {
    Tensor x(DType::Float32, {2, 4});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = 0.1f * static_cast<float>(i + k) - 0.3f;
    return x;
  };
  for (int k = 0; k < 4; ++k) {
    if (k == 2) {
      Tensor poisoned = x_of(k);
      poisoned.data<float>()[5] = std::numeric_limits<float>::infinity();
      const std::string message = refused_message(skipping, {{"x", poisoned}, {"label", label}});
      EXPECT_TRUE(contains(message, "first non-finite value: node")) << message;
      EXPECT_TRUE(skipping.trace_nonfinite({{"x", poisoned}, {"label", label}}).found);
    }
    EXPECT_FALSE(skipping.trace_nonfinite({{"x", x_of(k)}, {"label", label}}).found);
    skipping.train_step({{"x", x_of(k)}, {"label", label}});
    clean.train_step({{"x", x_of(k)}, {"label", label}});
  }
  for (const std::string& name : clean.parameter_names())
    EXPECT_TRUE(same_bits(skipping.parameter(name), clean.parameter(name))) << name;
  for (const std::string& name : clean.buffer_names())
    EXPECT_TRUE(same_bits(skipping.parameter(name), clean.parameter(name))) << name;
}

}  // namespace
}  // namespace onnx_train
