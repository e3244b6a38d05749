// The training progress display (tools/onnx-train/progress.h): the terminal and plain lines,
// width fitting, the epoch's and the run's ETA, the redraw rate limit (with a fake clock: no
// sleeping), messages, quiet mode keeping only the summary and warnings.
// Output is captured with open_memstream, which is not a tty: `terminal` is forced.
#include "tools/onnx-train/progress.h"

#include <gtest/gtest.h>
#include <stdio.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

namespace onnx_train::cli {
namespace {

// Everything written to a FILE*, as a string.
class Capture {
 public:
  Capture() : file_(open_memstream(&buffer_, &size_)) {}
  ~Capture() {
    std::fclose(file_);
    std::free(buffer_);
  }
  std::FILE* file() { return file_; }
  std::string text() {
    std::fflush(file_);
    return std::string(buffer_, size_);
  }
  // The text written since the previous call.
  std::string fresh() {
    const std::string all = text();
    const std::string out = all.substr(seen_);
    seen_ = all.size();
    return out;
  }

 private:
  char* buffer_ = nullptr;
  size_t size_ = 0;
  std::FILE* file_;
  size_t seen_ = 0;
};

struct FakeClock {
  double now = 0;
  ProgressDisplay::Clock clock() {
    return [this] { return now; };
  }
};

// The brief's example: epoch 1 of 3, batch 412 of 938.
StepStatus example() {
  StepStatus s;
  s.epoch = 1;
  s.epochs = 3;
  s.batch = 412;
  s.batches = 938;
  s.step = 412;
  s.total_steps = 2814;
  s.loss = 0.4312;
  s.accuracy = 0.841;
  s.lr = 1e-3;
  s.samples_per_second = 2510;
  s.eta_seconds = 12;
  s.run_eta_seconds = 220;
  return s;
}

size_t count(const std::string& text, char c) { return static_cast<size_t>(std::count(text.begin(), text.end(), c)); }

// Sets an environment variable for one test and restores it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      setenv(name_, old_->c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(ProgressTest, FormatsDurations) {
  EXPECT_EQ(format_duration(0), "0:00");
  EXPECT_EQ(format_duration(12), "0:12");
  EXPECT_EQ(format_duration(12.4), "0:12");
  EXPECT_EQ(format_duration(59.6), "1:00");
  EXPECT_EQ(format_duration(184), "3:04");
  EXPECT_EQ(format_duration(3599), "59:59");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(100 * 3600.0), "100:00:00");
  EXPECT_EQ(format_duration(-1), "?:??");
  EXPECT_EQ(format_duration(std::nan("")), "?:??");
  EXPECT_EQ(format_duration(INFINITY), "?:??");
}

TEST(ProgressTest, TerminalLineHasEveryFieldAtWidth120) {
  // Without the bar the fields take 99 columns; 119 usable leave a 16-wide bar, 412/938 of it done.
  EXPECT_EQ(ProgressDisplay::terminal_line(example(), 120),
            "epoch 1/3  [=======>        ]  412/938  avg loss 0.4312  avg acc 84.1%  lr 1.0e-03  2510 samples/s  "
            "ETA 0:12 (run 3:40)");
  // At 100, samples/s gives way first.
  EXPECT_EQ(ProgressDisplay::terminal_line(example(), 100),
            "epoch 1/3  [=====>      ]  412/938  avg loss 0.4312  avg acc 84.1%  lr 1.0e-03  ETA 0:12 (run 3:40)");
}

TEST(ProgressTest, PlainLineHasEveryField) {
  EXPECT_EQ(ProgressDisplay::plain_line(example()),
            "epoch 1/3 batch 412/938 step 412/2814 avg loss 0.4312 avg acc 84.1% lr 1.0e-03 2510 samples/s ETA 0:12 "
            "(run 3:40)");
}

TEST(ProgressTest, RunEtaOnlyWithTheEpochsAndWhenKnown) {
  StepStatus s = example();
  s.run_eta_seconds = -1;  // the last epoch: the run ends with it
  EXPECT_EQ(ProgressDisplay::plain_line(s).substr(ProgressDisplay::plain_line(s).find("ETA")), "ETA 0:12");
  s.run_eta_seconds = 3723;
  EXPECT_NE(ProgressDisplay::terminal_line(s, 200).find("  ETA 0:12 (run 1:02:03)"), std::string::npos);
  s.eta_seconds = -1;  // no rate measured yet: neither
  EXPECT_EQ(ProgressDisplay::plain_line(s).find("ETA"), std::string::npos);
  EXPECT_EQ(ProgressDisplay::terminal_line(s, 200).find("run"), std::string::npos);
}

TEST(ProgressTest, UnknownValuesAreLeftOut) {
  StepStatus s = example();
  s.accuracy = -1;
  s.samples_per_second = 0;
  s.eta_seconds = -1;
  s.run_eta_seconds = -1;
  s.batches = 0;  // a stream of unknown length: no bar, no total
  s.total_steps = 0;
  EXPECT_EQ(ProgressDisplay::terminal_line(s, 100), "epoch 1/3  412  avg loss 0.4312  lr 1.0e-03");
  EXPECT_EQ(ProgressDisplay::plain_line(s), "epoch 1/3 batch 412 step 412 avg loss 0.4312 lr 1.0e-03");
}

TEST(ProgressTest, LossesOfEveryScaleStayReadable) {
  StepStatus s = example();
  const auto loss_text = [&](double loss) {
    s.loss = loss;
    const std::string line = ProgressDisplay::plain_line(s);
    const size_t at = line.find("loss ") + 5;
    return line.substr(at, line.find(' ', at) - at);
  };
  EXPECT_EQ(loss_text(2.302585), "2.3026");
  EXPECT_EQ(loss_text(0), "0.0000");
  EXPECT_EQ(loss_text(0.0001234), "1.234e-04");  // four decimals would show 0.0001
  EXPECT_EQ(loss_text(1234567), "1.235e+06");
  EXPECT_EQ(loss_text(std::nan("")), "nan");  // a diverged run must show
  EXPECT_EQ(loss_text(INFINITY), "inf");
  s.samples_per_second = 3.0712;
  EXPECT_NE(ProgressDisplay::plain_line(s).find(" 3.07 samples/s"), std::string::npos);
}

TEST(ProgressTest, BarShowsTheEpochsProgress) {
  StepStatus s = example();
  s.batch = s.batches;
  EXPECT_NE(ProgressDisplay::terminal_line(s, 200).find("[" + std::string(30, '=') + "]"), std::string::npos);
  s.batch = 1;
  EXPECT_NE(ProgressDisplay::terminal_line(s, 200).find("[>" + std::string(29, ' ') + "]"), std::string::npos);
  s.batch = 469;  // half
  EXPECT_NE(ProgressDisplay::terminal_line(s, 200).find("[" + std::string(15, '=') + ">" + std::string(14, ' ') + "]"),
            std::string::npos);
}

TEST(ProgressTest, LineFitsTheWidth) {
  const StepStatus s = example();
  for (int width = 10; width <= 240; ++width) {
    const std::string line = ProgressDisplay::terminal_line(s, width);
    EXPECT_LE(static_cast<int>(line.size()), width - 1) << line;
    EXPECT_EQ(line.rfind("epoch 1/3", 0), 0u) << line;
    if (width >= 36) {
      EXPECT_NE(line.find("avg loss 0.4312"), std::string::npos) << line;
    }
  }
  // Wide: the bar stops growing at 30, the rest is not padded.
  EXPECT_EQ(ProgressDisplay::terminal_line(s, 240).size(), 99u + 2 + 32);
  // 80 columns: samples/s, lr and the run's ETA give way to a 15-wide bar.
  EXPECT_EQ(ProgressDisplay::terminal_line(s, 80),
            "epoch 1/3  [======>        ]  412/938  avg loss 0.4312  avg acc 84.1%  ETA 0:12");
  // 60: the bar would be too narrow to say anything, so the bar and acc go.
  EXPECT_EQ(ProgressDisplay::terminal_line(s, 60), "epoch 1/3  412/938  avg loss 0.4312  ETA 0:12");
  EXPECT_EQ(ProgressDisplay::terminal_line(s, 45), "epoch 1/3  412/938  avg loss 0.4312");
  EXPECT_EQ(ProgressDisplay::terminal_line(s, 32), "epoch 1/3  412/938  avg loss 0.");  // cut, never wrapped
}

TEST(ProgressTest, TerminalRedrawsInPlaceAtMostTenTimesASecond) {
  Capture out;
  FakeClock time;
  ProgressDisplay progress(out.file(), /*terminal=*/true, /*quiet=*/false, 15, time.clock(), /*width=*/100);
  StepStatus s = example();
  s.batch = 1;
  progress.update(s);  // the first update draws at once
  EXPECT_EQ(out.fresh(), "\r" + ProgressDisplay::terminal_line(s, 100));
  for (int i = 2; i <= 99; ++i) {  // 98 more within 0.098 s: held back
    time.now = 0.001 * i;
    s.batch = i;
    progress.update(s);
  }
  EXPECT_EQ(out.fresh(), "");
  time.now = 0.1;
  s.batch = 100;
  progress.update(s);
  std::string text = out.fresh();
  EXPECT_EQ(count(text, '\r'), 1u);
  EXPECT_NE(text.find(" 100/938 "), std::string::npos);
  EXPECT_EQ(count(text, '\n'), 0u);

  // A thousand updates over one second: about ten redraws.
  for (int i = 1; i <= 1000; ++i) {
    time.now = 0.1 + 0.001 * i;
    s.batch = 100 + i / 2;
    progress.update(s);
  }
  text = out.fresh();
  EXPECT_GE(count(text, '\r'), 9u);
  EXPECT_LE(count(text, '\r'), 11u);
  EXPECT_EQ(count(text, '\n'), 0u);
}

TEST(ProgressTest, EpochEndIsAlwaysDrawnAndKept) {
  Capture out;
  FakeClock time;
  ProgressDisplay progress(out.file(), true, false, 15, time.clock(), 100);
  StepStatus s = example();
  progress.update(s);
  out.fresh();
  time.now = 0.01;  // well inside the rate limit
  s.batch = s.batches;
  progress.update(s);
  EXPECT_EQ(out.fresh(), "\r" + ProgressDisplay::terminal_line(s, 100) + "\n");
  progress.update(s);  // the same last batch again (another micro-batch): not a second line
  progress.finish();   // nothing on screen to end
  EXPECT_EQ(out.fresh(), "");
  // The next epoch starts a new bar at once.
  time.now = 0.02;
  s.epoch = 2;
  s.batch = 1;
  progress.update(s);
  EXPECT_EQ(out.fresh(), "\r" + ProgressDisplay::terminal_line(s, 100));
}

TEST(ProgressTest, ShorterLineCoversTheLongerOne) {
  Capture out;
  FakeClock time;
  ProgressDisplay progress(out.file(), true, false, 15, time.clock(), 200);  // wide: every field shown
  StepStatus s = example();
  progress.update(s);
  const size_t long_length = out.fresh().size() - 1;
  time.now = 1;
  s.samples_per_second = 0;  // the line loses a field
  progress.update(s);
  const std::string text = out.fresh();
  EXPECT_EQ(text.size() - 1, long_length);  // padded with spaces to the old length
  EXPECT_EQ(text.back(), ' ');
}

TEST(ProgressTest, MessageErasesTheBarWhichComesBack) {
  Capture out;
  FakeClock time;
  ProgressDisplay progress(out.file(), true, false, 15, time.clock(), 100);
  const StepStatus s = example();
  progress.update(s);
  const size_t bar_length = out.fresh().size() - 1;
  progress.message("checkpoint saved: run/step-000000412.ckpt");
  EXPECT_EQ(out.fresh(), "\r" + std::string(bar_length, ' ') + "\rcheckpoint saved: run/step-000000412.ckpt\n");
  progress.message("a line with its own newline\n");
  EXPECT_EQ(out.fresh(), "a line with its own newline\n");
  time.now = 0.001;  // inside the rate limit, but the bar is gone: it is drawn at once
  progress.update(s);
  EXPECT_EQ(out.fresh(), "\r" + ProgressDisplay::terminal_line(s, 100));
}

TEST(ProgressTest, SummaryErasesTheBarAsAMessageDoes) {
  Capture out;
  FakeClock time;
  ProgressDisplay progress(out.file(), true, false, 15, time.clock(), 100);
  progress.update(example());
  const size_t bar_length = out.fresh().size() - 1;
  progress.summary("interrupted: saved run/step-000000412.ckpt at step 412");
  EXPECT_EQ(out.fresh(),
            "\r" + std::string(bar_length, ' ') + "\rinterrupted: saved run/step-000000412.ckpt at step 412\n");
}

TEST(ProgressTest, FinishShowsTheLatestStatusAndEndsTheLine) {
  Capture out;
  FakeClock time;
  ProgressDisplay progress(out.file(), true, false, 15, time.clock(), 100);
  StepStatus s = example();
  progress.update(s);
  time.now = 0.05;
  s.batch = 500;  // held back by the rate limit...
  progress.update(s);
  out.fresh();
  progress.finish();  // ...but it is where training stopped
  const std::string text = out.fresh();
  EXPECT_EQ(text.substr(0, text.find('\n') + 1), "\r" + ProgressDisplay::terminal_line(s, 100) + "\n");
  progress.finish();
  EXPECT_EQ(out.fresh(), "");
}

TEST(ProgressTest, PlainModePrintsLinesEverySoOften) {
  Capture out;
  FakeClock time;
  ProgressDisplay progress(out.file(), /*terminal=*/false, false, /*plain_every_seconds=*/15, time.clock());
  StepStatus s = example();
  s.batch = 1;
  progress.update(s);  // the first: the run has started
  EXPECT_EQ(out.fresh(), ProgressDisplay::plain_line(s) + "\n");
  for (int i = 2; i < 900; ++i) {  // 14.4 s of updates: nothing
    s.batch = i;
    time.now = 0.016 * i;
    progress.update(s);
  }
  EXPECT_EQ(out.fresh(), "");
  time.now = 15.0;
  s.batch = 900;
  progress.update(s);
  EXPECT_EQ(out.fresh(), ProgressDisplay::plain_line(s) + "\n");
  time.now = 15.5;
  s.batch = s.batches;  // the epoch's end, whatever the time
  progress.update(s);
  progress.message("epoch 1/3: val loss 0.3921");
  time.now = 15.6;
  s.epoch = 2;
  s.batch = 1;
  progress.update(s);  // 0.5 s after the last line: held back
  time.now = 16;
  s.batch = 7;
  progress.update(s);
  progress.finish();  // shows where it stopped
  const std::string text = out.fresh();
  EXPECT_EQ(text,
            "epoch 1/3 batch 938/938 step 412/2814 avg loss 0.4312 avg acc 84.1% lr 1.0e-03 2510 samples/s ETA 0:12 "
            "(run 3:40)\n"
            "epoch 1/3: val loss 0.3921\n"
            "epoch 2/3 batch 7/938 step 412/2814 avg loss 0.4312 avg acc 84.1% lr 1.0e-03 2510 samples/s ETA 0:12 "
            "(run 3:40)\n");
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_EQ(text.find('['), std::string::npos);
}

TEST(ProgressTest, QuietPrintsOnlyTheSummaryAndWarnings) {
  for (const bool terminal : {true, false}) {
    Capture out;
    FakeClock time;
    ProgressDisplay progress(out.file(), terminal, /*quiet=*/true, 15, time.clock(), 100);
    StepStatus s = example();
    for (int i = 1; i <= s.batches; ++i) {
      s.batch = i;
      time.now = i;
      progress.update(s);
    }
    progress.finish();
    EXPECT_EQ(out.text(), "");
    progress.message("epoch 1/3: train loss (epoch mean) 0.4312");
    progress.message("note: the model was upgraded to opset 12");
    EXPECT_EQ(out.text(), "");
    progress.warning("the last 3 of 67 samples make no whole batch and are left out");
    progress.summary("done: 938 steps in 0:42");
    progress.finish();
    EXPECT_EQ(out.text(), "the last 3 of 67 samples make no whole batch and are left out\ndone: 938 steps in 0:42\n");
  }
}

TEST(ProgressTest, WidthComesFromColumnsOrDefaultsTo100) {
  Capture out;  // a memory stream: no terminal size to ask
  {
    ScopedEnv columns("COLUMNS", "57");
    EXPECT_EQ(terminal_width(out.file()), 57);
    // width 0: asked at every redraw.
    FakeClock time;
    ProgressDisplay progress(out.file(), true, false, 15, time.clock());
    progress.update(example());
    EXPECT_EQ(out.fresh(), "\r" + ProgressDisplay::terminal_line(example(), 57));
  }
  {
    ScopedEnv columns("COLUMNS", "wide");
    EXPECT_EQ(terminal_width(out.file()), 100);
  }
  {
    ScopedEnv columns("COLUMNS", nullptr);
    EXPECT_EQ(terminal_width(out.file()), 100);
    EXPECT_FALSE(is_terminal(out.file()));
  }
}

TEST(ProgressTest, RealClockByDefault) {
  Capture out;
  ProgressDisplay progress(out.file(), true, false);
  progress.update(example());
  progress.finish();
  EXPECT_EQ(count(out.text(), '\n'), 1u);
}

}  // namespace
}  // namespace onnx_train::cli
