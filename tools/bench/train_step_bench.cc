// train_step_bench: the time of a training step against the time of inference, on any
// classifier exported to ONNX.
//
//   build/train_step_bench MODEL.onnx [--batch N] [--repeat N] [--optimizer KIND] [--int-range N] [--profile]
//
// Builds a TrainingSession with cross-entropy on the model's first output (its dimension 1
// is the class count), feeds random inputs (dynamic dimensions take --batch; int64 inputs such
// as token ids are uniform in [0, --int-range)) and random
// labels, and prints the mean time of predict() (eval-form forward), of forward + backward
// (with the gradients added into the accumulation buffers) and of the optimizer pass, after
// one untimed warm-up each.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <random>
#include <string>

#include "onnx_train/profile.h"
#include "onnx_train/training_session.h"

namespace {

using namespace onnx_train;

double mean_ms(int repeat, const std::function<void()>& f) {
  f();  // warm-up: builds oneDNN primitives and fills the buffer pool
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < repeat; ++i) f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / repeat;
}

// Float inputs are standard normal; int64 inputs (token ids) uniform in [0, int_range).
Tensor random_input(const TensorSpec& spec, int64_t batch, int64_t int_range, std::mt19937& rng) {
  Shape shape = spec.shape;
  for (auto& d : shape)
    if (d < 0) d = batch;
  if (spec.dtype == DType::Int64) {
    Tensor t(DType::Int64, shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<int64_t>()[i] = static_cast<int64_t>(rng() % int_range);
    return t;
  }
  if (spec.dtype != DType::Float32)
    OT_FAIL("input '{}' is {}: the bench feeds float32 and int64 only", spec.name, spec.describe());
  Tensor t(DType::Float32, shape);
  std::normal_distribution<float> normal;
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = normal(rng);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: train_step_bench MODEL.onnx [--batch N] [--repeat N] [--optimizer KIND] [--int-range N] [--profile]\n";
    return 2;
  }
  // --profile (anywhere): after the timings, `repeat` more steps profiled (onnx_train/profile.h).
  const auto not_profile = std::remove(argv + 2, argv + argc, std::string("--profile"));
  const bool profile = not_profile != argv + argc;
  argc = static_cast<int>(not_profile - argv);
  int64_t batch = 8;
  int repeat = 5;
  int64_t int_range = 2;
  std::string optimizer = "adamw";
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--batch")
      batch = std::stoll(argv[i + 1]);
    else if (flag == "--repeat")
      repeat = std::stoi(argv[i + 1]);
    else if (flag == "--int-range")
      int_range = std::stoll(argv[i + 1]);
    else if (flag == "--optimizer")
      optimizer = argv[i + 1];
    else {
      std::cerr << "unknown option " << flag << "\n";
      return 2;
    }
  }
  try {
    TrainingOptions options;
    options.optimizer.kind = optimizer;
    options.accumulation_steps = 0;  // optimizer_step() is timed on its own below
    TrainingSession session = TrainingSession::from_file(argv[1], options);
    std::mt19937 rng(1);
    std::map<std::string, Tensor> inputs;
    for (const auto& spec : session.inputs())
      if (spec.name != session.label_name()) inputs[spec.name] = random_input(spec, batch, int_range, rng);
    const Tensor logits = session.predict(inputs)[0];
    const int64_t classes = logits.dim(1);
    Shape label_shape = logits.shape();
    label_shape.erase(label_shape.begin() + 1);
    Tensor label(DType::Int64, label_shape);
    for (int64_t i = 0; i < label.numel(); ++i) label.data<int64_t>()[i] = static_cast<int64_t>(rng() % classes);
    std::map<std::string, Tensor> feeds = inputs;
    feeds[session.label_name()] = label;

    const double predict_ms = mean_ms(repeat, [&] { session.predict(inputs); });
    const double forward_backward_ms = mean_ms(repeat, [&] {
      session.zero_grad();
      session.train_step(feeds);
    });
    // The optimizer pass alone: each timed optimizer_step() has one batch's gradients to apply.
    double optimizer_ms = 0;
    for (int i = 0; i <= repeat; ++i) {
      session.train_step(feeds);
      const auto start = std::chrono::steady_clock::now();
      session.optimizer_step();
      if (i > 0)
        optimizer_ms +=
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / repeat;
    }
    const double step_ms = forward_backward_ms + optimizer_ms;
    size_t numel = 0;
    for (const auto& name : session.parameter_names()) numel += session.parameter(name).numel();
    std::cout << fmt::format(
        "{}: batch {} (where the model leaves it open), {} parameters ({:.1f} M values), {} optimizer\n"
        "  predict (eval forward)        {:8.1f} ms\n"
        "  forward + backward            {:8.1f} ms  ({:.2f}x predict)\n"
        "  optimizer pass                {:8.1f} ms\n"
        "  train step                    {:8.1f} ms  ({:.2f}x predict)\n",
        argv[1], batch, session.parameter_names().size(), numel / 1e6, optimizer, predict_ms, forward_backward_ms,
        forward_backward_ms / predict_ms, optimizer_ms, step_ms, step_ms / predict_ms);
    if (profile) {
      session.set_profiling(true);
      for (int i = 0; i < repeat; ++i) {
        session.train_step(feeds);
        session.optimizer_step();
      }
      std::cout << format_profile(session.profile());
    }
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
