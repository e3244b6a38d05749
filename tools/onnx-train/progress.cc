// tools/onnx-train/progress.cc: formatting, width fitting and rate limiting of the progress
// display (progress.h).
#include "tools/onnx-train/progress.h"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace onnx_train::cli {

namespace {

// The bar's inside, in characters: narrower than kMinBar says too little to be worth its room;
// wider than kMaxBar only takes room from the numbers.
constexpr int kMinBar = 8;
constexpr int kMaxBar = 30;

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A loss with four decimals, as Keras shows it; scientific where four decimals would hide it
// (below 1e-3) or where it would sprawl (1e5 and up). nan and inf print as such: a diverged
// run must be visible.
std::string format_loss(double v) {
  const double a = std::fabs(v);
  if (!std::isfinite(v) || v == 0 || (a >= 1e-3 && a < 1e5)) return fmt::format("{:.4f}", v);
  return fmt::format("{:.3e}", v);
}

// Three significant digits or more: "2510", "48.3", "3.07".
std::string format_rate(double v) {
  if (v >= 100) return fmt::format("{:.0f}", v);
  if (v >= 10) return fmt::format("{:.1f}", v);
  return fmt::format("{:.2f}", v);
}

std::string counter(int64_t n, int64_t total) {
  return total > 0 ? fmt::format("{}/{}", n, total) : fmt::format("{}", n);
}

// Keras's bar: '=' for the done part, '>' at the front while not done, spaces for the rest.
std::string bar(int64_t batch, int64_t batches, int inside) {
  const double fraction = std::clamp(static_cast<double>(batch) / static_cast<double>(batches), 0.0, 1.0);
  const int done = static_cast<int>(fraction * inside);
  std::string text = "[" + std::string(static_cast<size_t>(done), '=');
  if (done < inside) text += '>';
  text.resize(static_cast<size_t>(inside) + 1, ' ');
  return text + "]";
}

}  // namespace

std::string format_duration(double seconds) {
  // 1e12 s is 30,000 years: past it (or for nonsense) the duration is unknown, and llround stays in range.
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e12) return "?:??";
  const long long total = std::llround(seconds);
  const long long h = total / 3600, m = total / 60 % 60, s = total % 60;
  if (h > 0) return fmt::format("{}:{:02}:{:02}", h, m, s);
  return fmt::format("{}:{:02}", m, s);
}

bool is_terminal(std::FILE* out) {
  const char* term = std::getenv("TERM");
  return out != nullptr && isatty(fileno(out)) == 1 && !(term != nullptr && std::strcmp(term, "dumb") == 0);
}

int terminal_width(std::FILE* out) {
  if (const char* columns = std::getenv("COLUMNS")) {
    char* end = nullptr;
    const long n = std::strtol(columns, &end, 10);
    if (end != columns && *end == '\0' && n > 0 && n < 100000) return static_cast<int>(n);
  }
  winsize size{};
  if (out != nullptr && ioctl(fileno(out), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 100;
}

namespace {

// "ETA 0:12", "ETA 0:12 (run 3:40)"; "" when the epoch's ETA is unknown.
std::string eta_text(const StepStatus& s, bool with_run) {
  if (s.eta_seconds < 0) return "";
  std::string text = "ETA " + format_duration(s.eta_seconds);
  if (with_run && s.run_eta_seconds >= 0) text += " (run " + format_duration(s.run_eta_seconds) + ")";
  return text;
}

}  // namespace

std::string ProgressDisplay::terminal_line(const StepStatus& s, int width) {
  // The fields in display order; the bar's text is made once its width is known. kRunEta is no
  // field of its own: dropping it shortens the ETA field to the epoch's.
  enum Field { kEpoch, kBar, kCount, kLoss, kAcc, kLr, kRate, kEta, kFields, kRunEta = kFields };
  std::string text[kFields];
  text[kEpoch] = "epoch " + counter(s.epoch, s.epochs);
  text[kCount] = counter(s.batch, s.batches);
  text[kLoss] = "avg loss " + format_loss(s.loss);
  if (s.accuracy >= 0) text[kAcc] = fmt::format("avg acc {:.1f}%", 100 * s.accuracy);
  text[kLr] = fmt::format("lr {:.1e}", s.lr);
  if (s.samples_per_second > 0) text[kRate] = format_rate(s.samples_per_second) + " samples/s";
  text[kEta] = eta_text(s, /*with_run=*/true);
  bool shown[kFields];
  for (int f = 0; f < kFields; ++f) shown[f] = f == kBar ? s.batches > 0 : !text[f].empty();

  const int limit = std::max(width - 1, 1);
  const auto line_without_bar = [&] {
    int length = 0, count = 0;
    for (int f = 0; f < kFields; ++f) {
      if (!shown[f] || f == kBar) continue;
      length += static_cast<int>(text[f].size());
      ++count;
    }
    return length + 2 * (count - 1);  // two spaces between fields
  };
  // Narrowest last: the bar shrinks to kMinBar, then these go, one at a time.
  const int drop_order[] = {kRate, kLr, kRunEta, kBar, kAcc, kEta};
  for (const int next : drop_order) {
    const int rest = line_without_bar();
    if (shown[kBar]) {
      const int inside = std::min(kMaxBar, limit - rest - 2 - 2);  // brackets, separator
      if (inside >= kMinBar) {
        text[kBar] = bar(s.batch, s.batches, inside);
        break;
      }
    } else if (rest <= limit) {
      break;
    }
    if (next == kRunEta)
      text[kEta] = eta_text(s, /*with_run=*/false);
    else
      shown[next] = false;
  }
  std::string line;
  for (int f = 0; f < kFields; ++f) {
    if (!shown[f]) continue;
    if (!line.empty()) line += "  ";
    line += text[f];
  }
  // Only epoch, count and loss are left and still too wide: cut rather than wrap.
  if (static_cast<int>(line.size()) > limit) line.resize(static_cast<size_t>(limit));
  return line;
}

std::string ProgressDisplay::plain_line(const StepStatus& s) {
  std::string line = fmt::format("epoch {} batch {} step {} avg loss {}", counter(s.epoch, s.epochs),
                                 counter(s.batch, s.batches), counter(s.step, s.total_steps), format_loss(s.loss));
  if (s.accuracy >= 0) line += fmt::format(" avg acc {:.1f}%", 100 * s.accuracy);
  line += fmt::format(" lr {:.1e}", s.lr);
  if (s.samples_per_second > 0) line += " " + format_rate(s.samples_per_second) + " samples/s";
  if (s.eta_seconds >= 0) line += " " + eta_text(s, /*with_run=*/true);
  return line;
}

ProgressDisplay::ProgressDisplay(std::FILE* out, bool terminal, bool quiet, double plain_every_seconds, Clock clock,
                                 int width)
    : out_(out),
      terminal_(terminal),
      quiet_(quiet),
      plain_every_seconds_(plain_every_seconds),
      clock_(clock ? std::move(clock) : Clock(steady_seconds)),
      width_(width) {}

void ProgressDisplay::update(const StepStatus& status) {
  if (quiet_) return;
  const bool epoch_end = status.batches > 0 && status.batch >= status.batches;
  // A repeated last batch (several micro-batches reporting it) would print its epoch's final line again.
  if (epoch_end && status.epoch == finished_epoch_) return;
  const double now = clock_();
  bool due;
  if (terminal_)
    due = epoch_end || bar_length_ == 0 || now - last_draw_ >= kRedrawSeconds;
  else
    due = epoch_end || !drawn_any_ || now - last_draw_ >= plain_every_seconds_;
  if (!due) {
    pending_ = true;
    pending_status_ = status;
    return;
  }
  last_draw_ = now;
  draw(status, epoch_end);
}

void ProgressDisplay::draw(const StepStatus& status, bool epoch_end) {
  drawn_any_ = true;
  pending_ = false;
  if (epoch_end) finished_epoch_ = status.epoch;
  if (!terminal_) {
    write(plain_line(status) + "\n");
    return;
  }
  const std::string line = terminal_line(status, width_ > 0 ? width_ : terminal_width(out_));
  // Spaces cover what is left of a longer previous line: no escape sequences needed.
  std::string text = "\r" + line;
  if (line.size() < bar_length_) text.append(bar_length_ - line.size(), ' ');
  if (epoch_end) {
    text += "\n";
    bar_length_ = 0;
  } else {
    bar_length_ = line.size();
  }
  write(text);
}

void ProgressDisplay::message(const std::string& line) {
  if (!quiet_) print_line(line);
}

void ProgressDisplay::summary(const std::string& line) { print_line(line); }

void ProgressDisplay::print_line(const std::string& line) {
  std::string text;
  if (bar_length_ > 0) text = "\r" + std::string(bar_length_, ' ') + "\r";
  bar_length_ = 0;
  text += line;
  if (text.empty() || text.back() != '\n') text += '\n';
  write(text);
}

void ProgressDisplay::finish() {
  if (quiet_) return;
  if (pending_) draw(pending_status_, false);  // an epoch's last batch is never held back
  if (bar_length_ > 0) write("\n");
  bar_length_ = 0;
}

void ProgressDisplay::write(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), out_);
  // A pipe or a file is block-buffered: without this a log shows progress minutes late.
  std::fflush(out_);
}

}  // namespace onnx_train::cli
