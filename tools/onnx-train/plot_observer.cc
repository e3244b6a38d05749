// tools/onnx-train/plot_observer.cc: the training curves and the --plot chart (plot_observer.h).
#include "tools/onnx-train/plot_observer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace onnx_train::cli {

namespace {

constexpr const char* kHistoryKey = "cli.history";
constexpr const char* kHistoryStridesKey = "cli.history_strides";
constexpr const char* kSmoothingKey = "cli.history_smoothing";

}  // namespace

void Curve::add(double x, double y) {
  if (offered++ % stride == 0) series.points.emplace_back(x, y);
  compact();
}

void Curve::compact() {
  auto& points = series.points;
  while (points.size() > kMaxPoints) {
    // Points kept are offers 0, stride, 2 stride...: keeping the even ones doubles it.
    size_t kept = 0;
    for (size_t i = 0; i < points.size(); i += 2) points[kept++] = points[i];
    points.resize(kept);
    stride *= 2;
  }
}

double Smoothing::weight_for(int64_t total_steps) {
  const double span = std::max(5.0, static_cast<double>(total_steps) / 64);
  return 1 - 1 / span;
}

double Smoothing::add(double y) {
  if (std::isfinite(y)) {
    last = weight * last + (1 - weight) * y;
    ++count;
  }
  return count > 0 ? last / (1 - std::pow(weight, static_cast<double>(count))) : y;
}

std::string Smoothing::save() const { return fmt::format("{:.17g} {:.17g} {}", weight, last, count); }

Smoothing Smoothing::load(const std::string& text) {
  Smoothing s;
  std::istringstream in(text);
  if (!(in >> s.weight >> s.last >> s.count) || !(s.weight > 0 && s.weight < 1) || s.count < 0) return Smoothing{};
  return s;
}

std::vector<PlotSeries> TrainingCurves::series() const {
  std::vector<PlotSeries> out;
  for (const Curve* c : {&train_loss, &smoothed_loss, &val_loss, &train_accuracy, &val_accuracy})
    out.push_back(c->series);
  return out;
}

void TrainingCurves::add_step(double step, double loss, int64_t total_steps) {
  if (smoothing.weight == 0) smoothing.weight = Smoothing::weight_for(total_steps);
  train_loss.add(step, loss);
  smoothed_loss.add(step, smoothing.add(loss));
}

std::string TrainingCurves::save() const {
  std::ostringstream out;
  out.precision(17);
  const auto curves = all();
  for (size_t s = 0; s < curves.size(); ++s) {
    for (const auto& [x, y] : curves[s]->series.points) out << s << ' ' << x << ' ' << y << '\n';
  }
  return out.str();
}

std::string TrainingCurves::save_strides() const {
  std::string out;
  const auto curves = all();
  for (size_t s = 0; s < curves.size(); ++s)
    out += fmt::format("{}{} {}", s ? " " : "", curves[s]->offered, curves[s]->stride);
  return out;
}

void TrainingCurves::load(const std::string& text, const std::string& strides) {
  const auto curves = all();
  std::istringstream in(text);
  size_t s;
  double x, y;
  while (in >> s >> x >> y) {
    if (s < curves.size()) curves[s]->series.points.emplace_back(x, y);
  }
  std::istringstream st(strides);
  for (Curve* c : curves) {
    c->offered = static_cast<int64_t>(c->series.points.size());
    c->stride = 1;
    int64_t o, k;
    if (st >> o >> k && k >= 1) c->offered = o, c->stride = k;
    c->compact();
  }
}

// No optimizer step spans two epochs (an epoch's partial accumulation is stepped at its end).
void PlotObserver::on_epoch_start(int64_t, int64_t) { step_loss_ = StepLoss{}; }

void PlotObserver::on_batch(const StepEvent& event) { step_loss_.add(event.result.loss, event.samples); }

void PlotObserver::on_step(const StepEvent& event) {
  curves_.add_step(static_cast<double>(event.result.step), step_loss_.take(event.result.loss),
                   loop_.plan().total_steps());
}

void PlotObserver::on_validation(const ValidationEvent& event) {
  if (event.at_stop) return;
  const double x = static_cast<double>(event.step);
  curves_.val_loss.add(x, event.totals.loss());
  if (event.totals.accuracy() >= 0) curves_.val_accuracy.add(x, event.totals.accuracy());
}

void PlotObserver::on_epoch_end(const EpochEndEvent& event) {
  const double train_accuracy = event.state.totals.accuracy();
  if (train_accuracy >= 0) curves_.train_accuracy.add(static_cast<double>(event.step), train_accuracy);
  write_chart();
}

void PlotObserver::on_run_end() { write_chart(); }

void PlotObserver::write_chart() const {
  if (!path_.empty()) write_svg_plot(path_, curves_.series(), options_);
}

void PlotObserver::save_state(CheckpointEntries& entries) const {
  entries.insert({{kHistoryKey, curves_.save()},
                  {kHistoryStridesKey, curves_.save_strides()},
                  {kSmoothingKey, curves_.smoothing.save()}});
}

void PlotObserver::load_state(const CheckpointEntries& entries) {
  const auto text = entries.find(kHistoryKey), strides = entries.find(kHistoryStridesKey);
  curves_.load(text == entries.end() ? "" : text->second, strides == entries.end() ? "" : strides->second);
  // An older checkpoint has no smoothing: the line starts afresh from the resumed step.
  if (const auto it = entries.find(kSmoothingKey); it != entries.end()) curves_.smoothing = Smoothing::load(it->second);
}

}  // namespace onnx_train::cli
