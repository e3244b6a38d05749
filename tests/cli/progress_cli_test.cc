// What a training run tells its user, through the real binary (tests/cli/cli_harness.h): the
// progress lines say what their numbers are (the epoch's means so far, the epoch's and the
// run's ETA) and end each epoch with its epoch line's numbers; --quiet prints only the summary
// and warnings; the --log records are typed, count the whole run across a resume, and hold
// every optimizer step once; the --plot chart draws the per-step loss under a smoothed line
// that runs on across epochs and resumes, and --plot-log-scale.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>
#include <sstream>

#include "onnx_train/training_session.h"
#include "tests/cli/cli_harness.h"

namespace onnx_train::cli_test {
namespace {

class ProgressCli : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    model_ = make_mlp(path("mlp.onnx"), false);
  }
  std::string model_;
};

// The log's step records ({"step": ..., "loss": ...}), in file order.
std::vector<std::string> step_records(const std::string& log) {
  std::vector<std::string> out;
  for (const auto& line : lines_of(log))
    if (line.rfind("{\"step\": ", 0) == 0 && line.find("\"loss\": ") != std::string::npos) out.push_back(line);
  return out;
}

// Curve `curve`'s points in a checkpoint's cli.history ("<curve> <x> <y>" lines).
std::vector<std::pair<double, double>> curve_points(const std::map<std::string, std::string>& meta, int curve) {
  std::vector<std::pair<double, double>> out;
  std::istringstream in(meta.at("cli.history"));
  int c;
  double x, y;
  while (in >> c >> x >> y)
    if (c == curve) out.emplace_back(x, y);
  return out;
}

// The first line of `out` starting with `prefix` ("" when none).
std::string line_starting(const std::string& out, const std::string& prefix) {
  for (const auto& line : lines_of(out))
    if (line.rfind(prefix, 0) == 0) return line;
  return "";
}

TEST_F(ProgressCli, QuietPrintsOnlyTheSummaryAndWarnings) {
  write_npy_data(path("data"), separable(32, 1), 16);
  const CliRun r = ok({model_, path("data"), "--epochs", "2", "--batch-size", "8", "--quiet", "--checkpoint-dir",
                       path("ck"), "--plot", path("p.svg"), "-o", path("m.onnx")});
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.show();
  EXPECT_EQ(lines[0].rfind("done: 8 steps in ", 0), 0u) << r.show();
  EXPECT_EQ(lines[1], "wrote " + path("m.onnx"));
  EXPECT_EQ(lines[2], "wrote " + path("p.svg"));

  // A warning that samples are left out of training still shows.
  const std::string fixed = make_linear(path("fixed.onnx"), {4}, 3, /*batch=*/8);
  write_npy_data(path("data36"), separable(36, 2));
  const CliRun warned = ok({fixed, path("data36"), "--quiet", "-o", path("f.onnx")});
  const auto warned_lines = lines_of(warned.out);
  ASSERT_EQ(warned_lines.size(), 3u) << warned.show();
  EXPECT_HAS(warned_lines[0], "the last 4 of 36 samples make no whole batch and are left out");
  EXPECT_EQ(warned_lines[1].rfind("done: 4 steps in ", 0), 0u) << warned.show();

  // So does the list of bad samples --skip-bad-samples left out.
  write_npy_data(path("bad"), separable(32, 1, 3, /*nan_at=*/5));
  const CliRun skipped =
      ok({model_, path("bad"), "--batch-size", "8", "--skip-bad-samples", "--quiet", "-o", path("s.onnx")});
  const auto skipped_lines = lines_of(skipped.out);
  ASSERT_EQ(skipped_lines.size(), 4u) << skipped.show();
  EXPECT_EQ(skipped_lines[0].rfind("done: 4 steps in ", 0), 0u) << skipped.show();
  EXPECT_EQ(skipped_lines[1], "skipped 1 bad sample:");
  EXPECT_EQ(skipped_lines[2].rfind("  " + path("bad/train/x.npy") + ", sample 5: field 'x' holds nan", 0), 0u)
      << skipped.show();
  EXPECT_EQ(skipped_lines[3], "wrote " + path("s.onnx"));
}

// Ctrl-C prints no summary: the line saying where the run was saved and how to go on is its
// summary, and --quiet keeps it.
TEST_F(ProgressCli, QuietKeepsTheLineOfAnInterrupt) {
  write_npy_data(path("data"), separable(2000, 1));  // 250 batches an epoch, 400 epochs: runs until interrupted
  const pid_t pid = start({model_, path("data"), "--batch-size", "8", "--epochs", "400", "--quiet", "--checkpoint-dir",
                           path("ck"), "--log", path("log.jsonl"), "-o", path("m.onnx")});
  ASSERT_TRUE(wait_until([&] { return read_file(path("log.jsonl")).find("\"loss\"") != std::string::npos; }));
  kill(pid, SIGINT);
  const CliRun r = finish(pid, 60);
  EXPECT_EQ(r.code, 130) << r.show();
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.show();
  EXPECT_TRUE(std::regex_search(lines[0], std::regex("^interrupted: saved \\S+ at step [0-9]+; continue with the "
                                                     "same command and --resume=")))
      << r.show();
}

// Not a terminal: plain lines, each epoch's last one among them.
TEST_F(ProgressCli, ProgressLinesSayWhatTheyShowAndEndAtTheEpochLine) {
  write_npy_data(path("data"), separable(32, 1), 16);
  const CliRun r = ok({model_, path("data"), "--epochs", "2", "--batch-size", "8", "-o", path("m.onnx")});
  EXPECT_HAS(r.out,
             "progress: avg loss and avg acc are the epoch's means so far; ETA is the epoch's time left, "
             "(run ...) the whole run's");
  for (int epoch = 1; epoch <= 2; ++epoch) {
    SCOPED_TRACE(epoch);
    const std::string last = line_starting(r.out, fmt::format("epoch {}/2 batch 4/4 ", epoch));
    const std::string epoch_line = line_starting(r.out, fmt::format("epoch {}/2: train loss (epoch mean) ", epoch));
    ASSERT_NE(last, "") << r.show();
    ASSERT_NE(epoch_line, "") << r.show();
    // The bar's loss is the epoch's mean: at its last batch, the epoch line's number.
    const std::regex avg_loss("avg loss ([0-9.]+) ");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(last, m, avg_loss)) << last;
    EXPECT_HAS(epoch_line, "train loss (epoch mean) " + m[1].str() + ",");
    EXPECT_NEAR(number_after(last, "avg acc "), number_after(epoch_line, "accuracy "), 0.051) << last << epoch_line;
    EXPECT_HAS(last, " ETA ");
  }
  // The run's ETA while epochs are left after this one; in the last epoch the epoch's is the run's.
  const std::string first = line_starting(r.out, "epoch 1/2 batch 1/4 ");
  EXPECT_TRUE(std::regex_search(first, std::regex(" ETA [0-9:]+ \\(run [0-9:]+\\)$"))) << first;
  EXPECT_HAS(line_starting(r.out, "epoch 1/2 batch 4/4 "), "(run ");
  EXPECT_LACKS(line_starting(r.out, "epoch 2/2 batch 4/4 "), "(run ");
}

// On a terminal: the bar redrawn in place, with the same labels and both ETAs.
TEST_F(ProgressCli, TheBarOnATerminalIsLabelledAndShowsTheRunsEta) {
  write_npy_data(path("data"), separable(32, 1), 16);
  const CliRun r = run_on_terminal({model_, path("data"), "--epochs", "2", "--batch-size", "8", "-o", path("m.onnx")},
                                   {"TERM=xterm", "COLUMNS=200"});
  const std::string& screen = r.out;
  EXPECT_EQ(r.code, 0) << screen;
  EXPECT_TRUE(
      std::regex_search(screen, std::regex("\repoch 1/2  \\[=+>? *\\]  1/4  avg loss [0-9.]+  avg acc [0-9.]+%  "
                                           "lr [0-9.e+-]+  [0-9.]+ samples/s  ETA [0-9:]+ \\(run [0-9:]+\\)")))
      << screen;
  EXPECT_TRUE(
      std::regex_search(screen, std::regex("\repoch 2/2  \\[=+\\]  4/4  avg loss [0-9.]+  [^\r]*  ETA 0:00\r\n")))
      << screen;
  EXPECT_HAS(screen, "epoch 2/2: train loss (epoch mean) ");
}

// Stopped by --max-steps, then resumed into the same log: numbers are numbers, and "samples"
// and "time" count the whole run.
TEST_F(ProgressCli, LogRecordsAreTypedAndCountTheWholeRunAcrossAResume) {
  write_npy_data(path("data"), separable(32, 1), 16);
  const std::vector<std::string> common = {model_, path("data"),       "--epochs", "2",     "--batch-size",
                                           "8",    "--checkpoint-dir", path("ck"), "--log", path("log.jsonl")};
  ok(plus(common, {"--max-steps", "3", "-o", path("a.onnx")}));
  ok(plus(common, {"--resume", "-o", path("b.onnx")}));
  const std::string log = read_file(path("log.jsonl"));
  EXPECT_FALSE(std::regex_search(log, std::regex(": \"[0-9.]+\""))) << "a number written as a string\n" << log;

  const auto steps = step_records(log);
  ASSERT_EQ(steps.size(), 8u) << log;
  double previous_time = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    SCOPED_TRACE(steps[i]);
    const double step = number_after(steps[i], "\"step\": ");
    EXPECT_EQ(step, static_cast<double>(i + 1));
    EXPECT_EQ(number_after(steps[i], "\"samples\": "), 8 * step);
    EXPECT_FALSE(std::isnan(number_after(steps[i], "\"epoch_loss_mean\": ")));
    const double time = number_after(steps[i], "\"time\": ");
    EXPECT_GE(time, previous_time);  // on after the resume, not from 0
    previous_time = time;
  }
  // The epoch's mean loss at its last step: the mean of its steps' losses (equal batches).
  double sum = 0;
  for (int i = 0; i < 4; ++i) sum += number_after(steps[static_cast<size_t>(i)], "\"loss\": ");
  EXPECT_NEAR(number_after(steps[3], "\"epoch_loss_mean\": "), sum / 4, 1e-9);

  const std::regex checkpoint("\\{\"event\": \"checkpoint\", \"path\": \"[^\"]+\", \"step\": ([0-9]+)\\}");
  std::vector<std::string> checkpoint_steps;
  for (std::sregex_iterator it(log.begin(), log.end(), checkpoint), end; it != end; ++it)
    checkpoint_steps.push_back((*it)[1]);
  EXPECT_EQ(checkpoint_steps, (std::vector<std::string>{"3", "4", "8"})) << log;
  EXPECT_TRUE(std::regex_search(log, std::regex("\"event\": \"resumed\", \"from\": \"[^\"]+\", \"step\": 3,"))) << log;
  EXPECT_TRUE(std::regex_search(log, std::regex("\"event\": \"validation_at_stop\", \"step\": 3, \"loss\": [0-9]")))
      << log;
}

// 5 batches of 8 with --accumulate 2: each epoch ends with a step of one micro-batch, which is
// logged like every other step (its loss that micro-batch's).
TEST_F(ProgressCli, EveryOptimizerStepIsLoggedOnceWithAPartialAccumulation) {
  write_npy_data(path("data"), separable(40, 1));
  const CliRun r = ok({model_, path("data"), "--epochs", "2", "--batch-size", "8", "--accumulate", "2", "--log",
                       path("log.jsonl"), "-o", path("m.onnx")});
  EXPECT_HAS(r.out, "done: 6 steps");
  const auto steps = step_records(read_file(path("log.jsonl")));
  std::vector<double> numbers;
  for (const auto& line : steps) numbers.push_back(number_after(line, "\"step\": "));
  EXPECT_EQ(numbers, (std::vector<double>{1, 2, 3, 4, 5, 6})) << read_file(path("log.jsonl"));
  const std::map<double, double> samples_at = {{1, 16}, {2, 32}, {3, 40}, {4, 56}, {5, 72}, {6, 80}};
  for (const auto& line : steps)
    EXPECT_EQ(number_after(line, "\"samples\": "), samples_at.at(number_after(line, "\"step\": "))) << line;
}

// Two epochs of 4 steps: the per-step loss is the log's, and the smoothed line is one
// debiased moving average over all 8 steps: no restart at step 5.
TEST_F(ProgressCli, PlotDrawsThePerStepLossUnderASmoothedLineThatRunsAcrossEpochs) {
  write_npy_data(path("data"), separable(32, 1), 16);
  ok({model_, path("data"), "--epochs", "2", "--batch-size", "8", "--checkpoint-dir", path("ck"), "--plot",
      path("p.svg"), "--log", path("log.jsonl"), "-o", path("m.onnx")});
  const std::string svg = read_file(path("p.svg"));
  for (const std::string name : {"train loss (per step)", "train loss (smoothed)", "val loss", "val accuracy"})
    EXPECT_HAS(svg, ">" + name + "<");
  EXPECT_HAS(svg, "stroke-opacity=\"0.3\"");  // the per-step line, faint
  // The smoothed line: one polyline through all 8 steps.
  const size_t group = svg.find("<g stroke=\"#1f77b4\" stroke-width=\"1.5\">");
  ASSERT_NE(group, std::string::npos) << svg;
  const std::string smoothed_group = svg.substr(group, svg.find("</g>", group) - group);
  EXPECT_EQ(count_of(smoothed_group, "<polyline"), 1) << smoothed_group;
  const size_t points = smoothed_group.find("points=\"");
  EXPECT_EQ(count_of(smoothed_group.substr(points, smoothed_group.find('"', points + 8) - points), ","), 8);

  const auto meta = TrainingSession::read_checkpoint_metadata(path("ck/step-000000008.ckpt"));
  const auto per_step = curve_points(meta, 0), smoothed = curve_points(meta, 4);
  ASSERT_EQ(per_step.size(), 8u) << meta.at("cli.history");
  ASSERT_EQ(smoothed.size(), 8u) << meta.at("cli.history");
  const auto steps = step_records(read_file(path("log.jsonl")));
  ASSERT_EQ(steps.size(), 8u);
  std::istringstream smoothing(meta.at("cli.history_smoothing"));
  double weight = 0;
  smoothing >> weight;
  EXPECT_DOUBLE_EQ(weight, 0.8);  // a span of 5 steps, the shortest
  double last = 0;
  for (size_t i = 0; i < 8; ++i) {
    SCOPED_TRACE(i + 1);
    EXPECT_EQ(per_step[i].first, static_cast<double>(i + 1));
    EXPECT_DOUBLE_EQ(per_step[i].second, number_after(steps[i], "\"loss\": "));
    last = weight * last + (1 - weight) * per_step[i].second;
    EXPECT_NEAR(smoothed[i].second, last / (1 - std::pow(weight, static_cast<double>(i + 1))), 1e-12);
  }
}

// The curves a checkpoint carries: a run stopped inside its first epoch and resumed ends with
// the per-step and smoothed curves of a run never stopped.
TEST_F(ProgressCli, PlotCurvesGoOnAcrossAResume) {
  write_npy_data(path("data"), separable(32, 1), 16);
  const std::vector<std::string> common = {model_, path("data"), "--epochs", "2", "--batch-size", "8"};
  ok(plus(common, {"--checkpoint-dir", path("straight"), "-o", path("a.onnx")}));
  ok(plus(common, {"--checkpoint-dir", path("stopped"), "--max-steps", "3", "-o", path("b.onnx")}));
  ok(plus(common, {"--checkpoint-dir", path("stopped"), "--resume", "--plot", path("p.svg"), "-o", path("b.onnx")}));
  const auto straight = TrainingSession::read_checkpoint_metadata(path("straight/step-000000008.ckpt"));
  const auto resumed = TrainingSession::read_checkpoint_metadata(path("stopped/step-000000008.ckpt"));
  for (const int curve : {0, 4}) {
    SCOPED_TRACE(curve);
    EXPECT_EQ(curve_points(resumed, curve), curve_points(straight, curve));
    EXPECT_EQ(curve_points(resumed, curve).size(), 8u);
  }
  EXPECT_EQ(resumed.at("cli.history_smoothing"), straight.at("cli.history_smoothing"));
}

TEST_F(ProgressCli, PlotLogScale) {
  write_npy_data(path("data"), separable(32, 1), 16);
  const CliRun r = ok(
      {model_, path("data"), "--batch-size", "8", "--plot", path("p.svg"), "--plot-log-scale", "-o", path("m.onnx")});
  EXPECT_HAS(read_file(path("p.svg")), ">loss (log scale)<");
  ok({model_, path("data"), "--batch-size", "8", "--plot", path("linear.svg"), "-o", path("m.onnx")});
  EXPECT_LACKS(read_file(path("linear.svg")), "log scale");
  EXPECT_HAS(r.out, "wrote " + path("p.svg"));
}

}  // namespace
}  // namespace onnx_train::cli_test
