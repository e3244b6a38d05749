// tools/onnx-train/progress.h: the training progress display of the command line.
//
// On a terminal, one line redrawn in place, as Keras and tqdm show it:
//   epoch 1/3  [======>   ]  412/938  avg loss 0.4312  avg acc 84.1%  lr 1.0e-03  2510 samples/s  ETA 0:12 (run 3:40)
// Elsewhere (a pipe, a CI log) a plain line every plain_every_seconds and at each epoch's end:
//   epoch 1/3 batch 412/938 step 412/2814 avg loss 0.4312 avg acc 84.1% lr 1.0e-03 2510 samples/s ETA 0:12 (run 3:40)
// "avg loss" and "avg acc" are the means over the epoch's samples so far (as Keras shows them),
// so the last line of an epoch shows the numbers of its epoch line; "ETA" is the time left in
// the epoch, "(run ...)" in the whole run.
//
// Use:
//   ProgressDisplay progress(stderr, is_terminal(stderr), quiet);
//   for each micro-batch: progress.update(status);      // cheap: draws at most ~10 times a second
//   progress.message(fmt::format("epoch {}: val loss {:.4f}", ...));   // a whole line, bar redrawn after it
//   progress.summary("done: ...");                      // a line that --quiet keeps
//   progress.finish();                                  // before printing anything else
//
// --quiet (`quiet`) leaves errors (which the caller prints elsewhere), the summary and the
// warnings: update() and message() print nothing, summary() and warning() do.
//
// The display keeps no statistics of its own: the caller computes the means, the rate and the
// ETAs. It is not thread-safe; call it from the training loop only.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace onnx_train::cli {

struct StepStatus {
  int64_t epoch = 0, epochs = 0;      // 1-based epoch, total epochs
  int64_t batch = 0, batches = 0;     // 1-based batch within the epoch, batches per epoch (0: unknown)
  int64_t step = 0, total_steps = 0;  // optimizer steps done, planned total (0: unknown)
  double loss = 0;                    // the epoch's mean training loss so far
  double accuracy = -1;               // the epoch's training accuracy so far, in [0,1]; < 0: not shown
  double lr = 0;
  double samples_per_second = 0;  // <= 0: not shown (no measurement yet)
  double eta_seconds = -1;        // the epoch's time left; < 0: unknown, not shown
  double run_eta_seconds = -1;    // the run's time left; < 0: unknown or the same as the epoch's, not shown
};

// "0:12", "3:04", "1:02:03" (rounded to the second; hours are not folded into days);
// "?:??" for a negative or non-finite duration.
std::string format_duration(double seconds);

// Whether `out` is an interactive terminal that understands '\r' (a tty, and TERM is not "dumb").
bool is_terminal(std::FILE* out);

// The width of the terminal behind `out`: the COLUMNS environment variable when it is a
// positive number (as Python's shutil.get_terminal_size), else the tty's size (TIOCGWINSZ),
// else 100.
int terminal_width(std::FILE* out);

class ProgressDisplay {
 public:
  // Seconds from any fixed origin; steady_clock by default. Tests inject a fake one.
  using Clock = std::function<double()>;

  // `terminal`: redraw one line with '\r' (else plain lines); `quiet`: update(), finish() and
  // message() print nothing, summary() and warning() still do. `width`: the terminal's columns, 0 to ask
  // terminal_width(out) at every redraw (so a resized window is followed).
  ProgressDisplay(std::FILE* out, bool terminal, bool quiet, double plain_every_seconds = 15.0, Clock clock = nullptr,
                  int width = 0);

  // Called every micro-batch. On a terminal it redraws at most every kRedrawSeconds, and always
  // when no bar is on screen (the first update, after a message() or an epoch's end) and for the
  // last batch of an epoch, whose line it then ends with '\n' so every epoch leaves its final
  // line on screen (as Keras does).
  // Plain: a line for the first update, then when plain_every_seconds have passed since the
  // previous line, and for each epoch's last batch.
  void update(const StepStatus& status);

  // Prints one whole line (validation results, "checkpoint saved ..."): on a terminal it first
  // erases the bar, which comes back at the next update.
  void message(const std::string& line);
  // A line of the run's final summary ("done: ...", "wrote ...") or of an interrupt: as message(),
  // and printed with --quiet too.
  void summary(const std::string& line);
  // A warning the user must see even with --quiet (samples left out of training): as summary().
  void warning(const std::string& line) { summary(line); }

  // Shows the latest status if the rate limit held it back, and ends the bar's line, so what is
  // printed next starts on a fresh line. Safe to call more than once.
  void finish();

  // The terminal line for `status` fitted into `width` columns (at most width - 1 characters,
  // so the cursor never reaches the last column, where some terminals wrap). As the width
  // shrinks, the bar narrows first, then samples/s, lr, the run's ETA, the bar, acc and the
  // epoch's ETA go, in that order.
  static std::string terminal_line(const StepStatus& status, int width);
  // The plain line for `status` (no width limit).
  static std::string plain_line(const StepStatus& status);

  static constexpr double kRedrawSeconds = 0.1;

 private:
  void draw(const StepStatus& status, bool epoch_end);
  void print_line(const std::string& line);
  void write(const std::string& text);

  std::FILE* out_;
  bool terminal_, quiet_;
  double plain_every_seconds_;
  Clock clock_;
  int width_;

  double last_draw_ = 0;
  bool drawn_any_ = false;  // plain mode: the first update always prints
  size_t bar_length_ = 0;   // characters of the bar line on screen; 0: none, the cursor is at a line start
  bool pending_ = false;    // pending_status_ was held back by the rate limit
  StepStatus pending_status_;
  int64_t finished_epoch_ = 0;  // the last epoch whose last batch was shown: repeats of it are not
};

}  // namespace onnx_train::cli
