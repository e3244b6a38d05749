// train_step_bench: the time and memory of a training step, and of inference, on any
// classifier exported to ONNX.
//
//   build/train_step_bench MODEL.onnx [--batch N] [--repeat N] [--warmup N] [--optimizer KIND]
//                          [--momentum M] [--lr R] [--int-range N] [--threads N] [--no-predict] [--profile]
//                          [--recompute] [--max-activation-memory SIZE]   (TrainingOptions::recompute)
//                          [--precision fp32|bf16]
//   build/train_step_bench MODEL.onnx --steps N ...     memory mode: N steps, then peak RSS
//   build/train_step_bench EVAL.onnx --inference ...    inference only (the `run` path: Session)
//
// Builds a TrainingSession with cross-entropy on the model's first output (its dimension 1
// is the class count; the time of TrainingSession::from_file is build_ms), feeds random
// inputs (dynamic dimensions take --batch; int64 inputs such as token ids are uniform in
// [0, --int-range)) and random labels. A training step is zero_grad + train_step (forward
// and backward) + optimizer_step: the work of PyTorch's zero_grad, forward, backward and
// optimizer.step. Default optimizer: SGD with momentum 0.9. After --warmup untimed steps,
// --repeat steps are timed one by one and the MEDIAN is reported (the mean of a noisy shared
// machine is dominated by its outliers), with its two parts (the median of each).
//
// --steps N (memory mode) runs N steps and nothing else (no predict, whose eval plan would
// hold memory a training run does not) and reports the process's peak resident set size
// (getrusage ru_maxrss) and the median step after the first.
// --build-only times TrainingSession::from_file alone (graph building scales with depth?).
// --inference times Session::run, the path of `onnx-train run`, median of --repeat runs.
// --profile (step mode) then profiles --repeat more steps and prints the training profile
// (onnx_train/profile.h): time per op type and node for forward, backward and the optimizer.
//
// Every mode ends with one machine-readable line: `RESULT key=value ...` (times in ms, peak
// RSS in MB), after the human-readable ones.
#include <fmt/format.h>
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "onnx_train/limits.h"
#include "onnx_train/profile.h"
#include "onnx_train/session.h"
#include "onnx_train/training_session.h"

namespace {

using namespace onnx_train;
using Clock = std::chrono::steady_clock;

struct Args {
  std::string model;
  int64_t batch = 8;
  int repeat = 20;  // timed steps (or runs)
  int warmup = 3;   // untimed steps first: primitives built, buffer pool filled
  int steps = 0;    // > 0: memory mode
  std::string optimizer = "sgd";
  double momentum = 0.9;  // sgd only
  double lr = 1e-3;
  int64_t int_range = 2;
  int threads = 0;  // 0: OpenMP's default (OMP_NUM_THREADS)
  bool inference = false;
  bool predict = true;
  bool build_only = false;  // time TrainingSession::from_file only
  bool profile = false;     // step mode: print the training profile of --repeat more steps
  bool recompute = false;   // TrainingOptions::recompute
  uint64_t max_activation_memory = 0;
  std::string precision = "fp32";  // TrainingOptions::precision (fp32 or bf16)
};

const char* kUsage =
    "usage: train_step_bench MODEL.onnx [--batch N] [--repeat N] [--warmup N] [--steps N] [--optimizer KIND]\n"
    "       [--momentum M] [--lr R] [--int-range N] [--threads N] [--inference] [--no-predict] [--build-only]\n"
    "       [--profile] [--recompute] [--max-activation-memory SIZE] [--precision fp32|bf16]\n";

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag.rfind("--", 0) != 0 && a.model.empty()) {  // the model, before or after the options
      a.model = flag;
      continue;
    }
    if (flag == "--inference") {
      a.inference = true;
      continue;
    }
    if (flag == "--build-only") {
      a.build_only = true;
      continue;
    }
    if (flag == "--profile") {
      a.profile = true;
      continue;
    }
    if (flag == "--recompute") {
      a.recompute = true;
      continue;
    }
    if (flag == "--no-predict") {
      a.predict = false;
      continue;
    }
    if (i + 1 >= argc) throw Error(fmt::format("{} needs a value\n{}", flag, kUsage));
    const std::string v = argv[++i];
    if (flag == "--batch") a.batch = std::stoll(v);
    else if (flag == "--repeat") a.repeat = std::max(1, std::stoi(v));
    else if (flag == "--warmup") a.warmup = std::max(0, std::stoi(v));
    else if (flag == "--steps") a.steps = std::stoi(v);
    else if (flag == "--optimizer") a.optimizer = v;
    else if (flag == "--momentum") a.momentum = std::stod(v);
    else if (flag == "--lr") a.lr = std::stod(v);
    else if (flag == "--int-range") a.int_range = std::stoll(v);
    else if (flag == "--threads") a.threads = std::stoi(v);
    else if (flag == "--max-activation-memory") a.max_activation_memory = parse_byte_size(v, flag);
    else if (flag == "--precision") a.precision = v;
    else throw Error(fmt::format("unknown option {}\n{}", flag, kUsage));
  }
  if (a.model.empty()) throw Error(fmt::format("give the model\n{}", kUsage));
  return a;
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;  // Linux reports kilobytes
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

std::map<std::string, Tensor> random_inputs(const std::vector<TensorSpec>& specs, const std::string& skip,
                                             const Args& a, std::mt19937& rng) {
  std::map<std::string, Tensor> inputs;
  for (const auto& spec : specs)
    if (spec.name != skip) inputs[spec.name] = random_input(spec, a.batch, a.int_range, rng);
  return inputs;
}

// Random class labels of the logits' shape without its class dimension 1. The class count
// comes from the model's declared output; a model that leaves it open runs predict once.
Tensor random_labels(TrainingSession& session, const std::map<std::string, Tensor>& inputs, std::mt19937& rng) {
  Shape shape = session.outputs()[0].shape;
  int64_t classes = shape.size() >= 2 ? shape[1] : -1;
  if (classes <= 0 || std::any_of(shape.begin() + 2, shape.end(), [](int64_t d) { return d < 0; })) {
    shape = session.predict(inputs)[0].shape();
    classes = shape[1];
  }
  shape.erase(shape.begin() + 1);
  if (shape[0] < 0) shape[0] = inputs.begin()->second.dim(0);  // a dynamic batch: the inputs'
  Tensor label(DType::Int64, shape);
  for (int64_t i = 0; i < label.numel(); ++i) label.data<int64_t>()[i] = static_cast<int64_t>(rng() % classes);
  return label;
}

struct StepTimes {
  std::vector<double> step, forward_backward, optimizer;
};

// One training step as PyTorch's: zero_grad, forward + backward, optimizer step.
void timed_step(TrainingSession& session, const std::map<std::string, Tensor>& feeds, StepTimes* times) {
  const auto start = Clock::now();
  session.zero_grad();
  session.train_step(feeds);
  const double forward_backward = ms_since(start);
  const auto optimizer_start = Clock::now();
  session.optimizer_step();
  if (!times) return;
  times->optimizer.push_back(ms_since(optimizer_start));
  times->forward_backward.push_back(forward_backward);
  times->step.push_back(ms_since(start));
}

TrainingOptions training_options(const Args& a) {
  TrainingOptions options;
  options.optimizer.kind = a.optimizer;
  if (a.optimizer == "sgd") options.optimizer.momentum = a.momentum;
  options.learning_rate = a.lr;
  options.accumulation_steps = 0;  // optimizer_step() is called (and timed) on its own
  options.recompute = a.recompute;
  options.max_activation_memory = a.max_activation_memory;
  options.activation_batch = a.batch;
  options.precision = a.precision;
  return options;
}

size_t parameter_values(const TrainingSession& session) {
  size_t numel = 0;
  for (const auto& name : session.parameter_names()) numel += session.parameter(name).numel();
  return numel;
}

std::string common_fields(const Args& a, const std::string& mode) {
  return fmt::format("RESULT mode={} model={} batch={} threads={}", mode, a.model, a.batch, omp_get_max_threads());
}

// Memory mode: build, N steps, peak RSS; the median step after the first.
int memory_mode(const Args& a) {
  const auto build_start = Clock::now();
  TrainingSession session = TrainingSession::from_file(a.model, training_options(a));
  const double build_ms = ms_since(build_start);
  std::mt19937 rng(1);
  std::map<std::string, Tensor> feeds = random_inputs(session.inputs(), session.label_name(), a, rng);
  feeds[session.label_name()] = random_labels(session, feeds, rng);
  StepTimes times;
  for (int i = 0; i < a.steps; ++i) timed_step(session, feeds, i == 0 ? nullptr : &times);
  const double rss = peak_rss_mb();
  std::cout << fmt::format("{}: batch {}, {} steps of {}: peak RSS {:.1f} MB, median step {:.1f} ms\n", a.model,
                           a.batch, a.steps, a.optimizer, rss, median(times.step));
  std::cout << fmt::format("{} optimizer={} steps={} build_ms={:.3f} step_ms={:.3f} peak_rss_mb={:.1f}\n",
                           common_fields(a, "memory"), a.optimizer, a.steps, build_ms, median(times.step), rss);
  return 0;
}

// Inference: Session::run (what `onnx-train run` times), median of --repeat runs.
int inference_mode(const Args& a) {
  Session session = Session::from_file(a.model);
  std::mt19937 rng(1);
  const std::map<std::string, Tensor> feeds = random_inputs(session.inputs(), "", a, rng);
  for (int i = 0; i < std::max(1, a.warmup); ++i) session.run(feeds);
  std::vector<double> runs;
  for (int i = 0; i < a.repeat; ++i) {
    const auto start = Clock::now();
    session.run(feeds);
    runs.push_back(ms_since(start));
  }
  std::cout << fmt::format("{}: batch {}, inference {:.3f} ms (median of {} runs)\n", a.model, a.batch,
                           median(runs), a.repeat);
  std::cout << fmt::format("{} inference_ms={:.3f} runs={} peak_rss_mb={:.1f}\n", common_fields(a, "inference"),
                           median(runs), a.repeat, peak_rss_mb());
  return 0;
}

double median_predict_ms(TrainingSession& session, const std::map<std::string, Tensor>& inputs, const Args& a) {
  std::vector<double> runs;
  for (int i = -std::max(1, a.warmup); i < a.repeat; ++i) {
    const auto start = Clock::now();
    session.predict(inputs);
    if (i >= 0) runs.push_back(ms_since(start));
  }
  return median(runs);
}

int step_mode(const Args& a) {
  const auto build_start = Clock::now();
  TrainingSession session = TrainingSession::from_file(a.model, training_options(a));
  const double build_ms = ms_since(build_start);
  if (a.build_only) {
    std::cout << fmt::format("{}: TrainingSession built in {:.1f} ms\n{} build_ms={:.3f} peak_rss_mb={:.1f}\n", a.model,
                             build_ms, common_fields(a, "build"), build_ms, peak_rss_mb());
    return 0;
  }
  std::mt19937 rng(1);
  const std::map<std::string, Tensor> inputs = random_inputs(session.inputs(), session.label_name(), a, rng);
  std::map<std::string, Tensor> feeds = inputs;
  feeds[session.label_name()] = random_labels(session, inputs, rng);
  const double predict_ms = a.predict ? median_predict_ms(session, inputs, a) : 0;
  StepTimes t;
  for (int i = 0; i < a.warmup + a.repeat; ++i) timed_step(session, feeds, i < a.warmup ? nullptr : &t);
  const double step = median(t.step), fb = median(t.forward_backward), opt = median(t.optimizer);
  const std::string vs_predict = a.predict ? fmt::format("  ({:.2f}x predict)", step / predict_ms) : "";
  std::cout << fmt::format(
      "{}: batch {} (where the model leaves it open), {} parameters ({:.1f} M values), {} optimizer, {} threads\n"
      "  build (TrainingSession)       {:8.1f} ms\n"
      "  predict (eval forward)        {:8.1f} ms\n"
      "  forward + backward            {:8.1f} ms\n"
      "  optimizer pass                {:8.1f} ms\n"
      "  train step                    {:8.1f} ms{}   (medians of {} steps after {} warm-up)\n",
      a.model, a.batch, session.parameter_names().size(), parameter_values(session) / 1e6, a.optimizer,
      omp_get_max_threads(), build_ms, predict_ms, fb, opt, step, vs_predict, a.repeat, a.warmup);
  std::cout << fmt::format(
      "{} optimizer={} steps={} build_ms={:.3f} step_ms={:.3f} forward_backward_ms={:.3f} optimizer_ms={:.3f} "
      "predict_ms={:.3f} parameters={} peak_rss_mb={:.1f}\n",
      common_fields(a, "step"), a.optimizer, a.repeat, build_ms, step, fb, opt, predict_ms,
      parameter_values(session), peak_rss_mb());
  if (a.profile) {
    session.set_profiling(true);
    for (int i = 0; i < a.repeat; ++i) timed_step(session, feeds, nullptr);
    std::cout << format_profile(session.profile());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  try {
    const Args a = parse_args(argc, argv);
    if (a.threads > 0) omp_set_num_threads(a.threads);
    if (a.inference) return inference_mode(a);
    return a.steps > 0 ? memory_mode(a) : step_mode(a);
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {  // std::stoi on a bad number
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
}
