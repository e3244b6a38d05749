// tools/onnx-train/plot.cc: the SVG training chart (plot.h): axis ranges and ticks, layout,
// and the drawing, all in plain SVG 1.1 elements.
#include "tools/onnx-train/plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

#include "onnx_train/error.h"
#include "tools/onnx-train/run_folder.h"

namespace onnx_train::cli {

namespace {

// matplotlib's default cycle: distinct, and familiar from every PyTorch notebook.
const char* const kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                               "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr double kFontSize = 12;
constexpr double kCharWidth = 7;     // a 12 px sans-serif character, on average: for layout only
constexpr size_t kMarkerLimit = 60;  // a series of at most this many points gets a dot at each
constexpr double kLargest = 1e300;   // larger values (and NaN, infinities) are not drawn
constexpr double kOffCanvas = 1e6;   // pixel coordinates are clamped to +-this (a 1e300 loss stays short text)

struct Tick {
  double value;  // in axis space (log10 of the value on a log axis)
  std::string label;
};

// An axis: the range shown, in axis space, and its ticks.
struct Axis {
  double lo = 0, hi = 1;
  std::vector<Tick> ticks;
};

// A series as drawn: its finite points in axis space, split where a point could not be drawn.
struct DrawnSeries {
  const PlotSeries* series;
  const char* color;
  std::vector<std::vector<std::pair<double, double>>> segments;
  size_t count = 0;
};

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // Control characters other than tab and newline are not allowed in XML 1.0 at all.
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n') out += c;
    }
  }
  return out;
}

namespace {

double power_of_ten(int exponent) { return std::pow(10.0, exponent); }

// m * 10^e as the double nearest to it: an exact integer times an exact power, or an exact
// integer divided by one (a single rounding), so ticks print as 0.3, not 0.30000000000000004.
double scaled(double m, int e) { return e >= 0 ? m * power_of_ten(e) : m / power_of_ten(-e); }

// The nice step of a range of `span`: mantissa * 10^exponent with mantissa 1, 2 or 5.
void nice_step(double span, int target, double* mantissa, int* exponent) {
  const double rough = span / std::max(target, 1);
  int e = static_cast<int>(std::floor(std::log10(rough)));
  const double r = rough / power_of_ten(e);  // in [1, 10), up to rounding
  double m = r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10;
  if (m == 10) {
    m = 1;
    ++e;
  }
  *mantissa = m;
  *exponent = e;
}

// Labels with the decimals the step needs ("0.5", "1.0", "1.5"); thousands and millions as
// k and M ("20k", "1.5M") so that step axes stay narrow; scientific ("1.2e-07", "3e+20") for
// steps below 1e-6 and values from 1e9 up.
std::vector<Tick> linear_ticks(double lo, double hi, int target) {
  double m, first, last;
  int e;
  // A step as wide as the range leaves one tick: halve it until there are two.
  for (int tries = 0;; ++tries, target *= 2) {
    nice_step(hi - lo, target, &m, &e);
    const double step = scaled(m, e);
    first = std::ceil(lo / step - 1e-9);
    last = std::floor(hi / step + 1e-9);
    if (last > first || tries == 3) break;
  }
  const double largest = std::max(std::fabs(first), std::fabs(last)) * scaled(m, e);
  const int unit = largest >= 1e6 ? 6 : largest >= 1e4 ? 3 : 0;
  const char* suffix = unit == 6 ? "M" : unit == 3 ? "k" : "";
  const int decimals = std::max(0, unit - e);
  std::vector<Tick> ticks;
  for (double i = first; i <= last; ++i) {
    const double value = scaled(i * m, e);
    std::string label;
    if (i == 0)
      label = "0";
    else if (decimals > 6 || largest >= 1e9)  // as many significant digits as the step has
      label = fmt::format("{:.{}g}", value,
                          std::max(1, static_cast<int>(std::floor(std::log10(std::fabs(value)))) - e + 1));
    else
      label = fmt::format("{:.{}f}{}", value / power_of_ten(unit), decimals, suffix);
    ticks.push_back({value, label});
  }
  return ticks;
}

// Ticks of a log10 axis over [lo, hi] (log10 of the values): 1, 2 and 5 in each decade when the
// range spans few decades, every decade (or every n-th) when it spans many; a range inside one
// decade falls back to linear nice values, placed on the log axis.
std::vector<Tick> log_ticks(double lo, double hi) {
  const int first = static_cast<int>(std::floor(lo)), last = static_cast<int>(std::ceil(hi));
  const int decades = last - first;
  const int stride = std::max(1, (decades + 7) / 8);
  std::vector<double> mantissas = {1};
  if (decades <= 3) mantissas = {1, 2, 5};
  std::vector<Tick> ticks;
  for (int k = first; k <= last; ++k) {
    if (((k % stride) + stride) % stride != 0) continue;
    for (const double m : mantissas) {
      const double value = scaled(m, k), position = std::log10(value);
      if (position >= lo - 1e-9 && position <= hi + 1e-9) ticks.push_back({position, fmt::format("{}", value)});
    }
  }
  if (ticks.size() >= 2) return ticks;
  ticks = linear_ticks(std::pow(10.0, lo), std::pow(10.0, hi), 4);
  for (Tick& tick : ticks) tick.value = std::log10(tick.value);
  return ticks;
}

// A zero-width range (one point, a constant series) widened to something an axis can show.
void widen(double* lo, double* hi) {
  if (*hi - *lo > 1e-12 * std::max(1.0, std::fabs(*lo))) return;
  const double d = *lo != 0 ? 0.1 * std::fabs(*lo) : 1;
  *lo -= d;
  *hi += d;
}

std::vector<DrawnSeries> drawable_series(const std::vector<PlotSeries>& series, bool log_loss) {
  std::vector<DrawnSeries> drawn;
  size_t colored = 0;  // series drawn that are not faint: a faint one takes the colour the next one gets
  for (const PlotSeries& s : series) {
    DrawnSeries d{&s, kColors[colored % std::size(kColors)], {}, 0};
    std::vector<std::pair<double, double>> segment;
    for (const auto& [x, value] : s.points) {
      double y = s.right_axis ? 100 * value : value;
      // Past 1e300 the axis span itself would overflow: such a point is as undrawable as NaN.
      bool ok = std::fabs(x) <= kLargest && std::fabs(y) <= kLargest;
      if (ok && log_loss && !s.right_axis) {
        ok = y > 0;
        if (ok) y = std::log10(y);
      }
      if (ok) {
        segment.emplace_back(x, y);
        ++d.count;
      } else if (!segment.empty()) {
        d.segments.push_back(std::move(segment));
        segment.clear();
      }
    }
    if (!segment.empty()) d.segments.push_back(std::move(segment));
    if (d.count == 0) continue;
    if (!s.faint) ++colored;
    drawn.push_back(std::move(d));
  }
  return drawn;
}

// The left axis's range over the left series' values; *clipped_max is set when an outlier
// is left off the top (to the largest value, for the note).
void left_range(const std::vector<DrawnSeries>& drawn, const PlotOptions& options, Axis* axis, double* clipped_max) {
  std::vector<double> ys;
  for (const DrawnSeries& d : drawn)
    if (!d.series->right_axis)
      for (const auto& segment : d.segments)
        for (const auto& point : segment) ys.push_back(point.second);
  if (ys.empty()) return;
  std::sort(ys.begin(), ys.end());
  double lo = ys.front(), hi = ys.back();
  // "Far above the bulk": the full range is more than 3x the range up to the 95th percentile.
  // A smoothly falling loss (2.3 down to 0.3) stays whole; a first step 100x the rest does not.
  // Fewer than 20 values have no bulk to speak of.
  if (!options.log_loss && options.clip_outliers && ys.size() >= 20) {
    const double p95 = ys[static_cast<size_t>(0.95 * static_cast<double>(ys.size() - 1))];
    if (hi - lo > 3 * (p95 - lo)) {
      *clipped_max = hi;
      hi = lo + 1.5 * (p95 - lo);
    }
  }
  widen(&lo, &hi);
  const double pad = 0.05 * (hi - lo);  // curves clear of the frame, as matplotlib's margins
  axis->lo = lo - pad;
  axis->hi = hi + pad;
}

// Long segments thinned to the first, last, lowest and highest point of each pixel column
// (the M4 reduction: the polyline draws the same pixels). `column` maps a point to its column.
template <typename ToColumn>
std::vector<std::pair<double, double>> thin(const std::vector<std::pair<double, double>>& points, ToColumn column,
                                            size_t limit) {
  if (points.size() <= limit) return points;
  std::vector<std::pair<double, double>> kept;
  size_t start = 0;
  while (start < points.size()) {
    size_t end = start, low = start, high = start;
    const long c = column(points[start]);
    while (end < points.size() && column(points[end]) == c) {
      if (points[end].second < points[low].second) low = end;
      if (points[end].second > points[high].second) high = end;
      ++end;
    }
    size_t picks[] = {start, low, high, end - 1};
    std::sort(std::begin(picks), std::end(picks));
    for (size_t k = 0; k < 4; ++k)
      if (k == 0 || picks[k] != picks[k - 1]) kept.push_back(points[picks[k]]);
    start = end;
  }
  return kept;
}

double text_width(const std::string& text) { return kCharWidth * static_cast<double>(text.size()); }

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  OT_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo < hi, "plot: no ticks for the range [{}, {}]", lo, hi);
  std::vector<double> values;
  for (const Tick& tick : linear_ticks(lo, hi, target)) values.push_back(tick.value);
  return values;
}

namespace {

// One chart being drawn: the layout (axes, plot rectangle, legend) worked out in the
// constructor, then the SVG written part by part, back to front.
class SvgChart {
 public:
  SvgChart(const std::vector<PlotSeries>& series, const PlotOptions& options)
      : options_(options), drawn_(drawable_series(series, options.log_loss)) {
    fit_axes();
    lay_out();
  }

  std::string draw() {
    write_header();
    write_grid_and_frame();
    write_ticks_and_labels();
    write_curves();
    write_legend_and_notes();
    svg_ += "</svg>\n";
    return std::move(svg_);
  }

 private:
  struct LegendEntry {
    const DrawnSeries* series;
    double x, y;
  };

  // The ranges of the x axis, of the left (loss) axis and the fixed 0-100% right axis.
  void fit_axes() {
    x_axis_ = Axis{std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(), {}};
    for (const DrawnSeries& d : drawn_) {
      (d.series->right_axis ? any_right_ : any_left_) = true;
      for (const auto& segment : d.segments)
        for (const auto& point : segment) {
          x_axis_.lo = std::min(x_axis_.lo, point.first);
          x_axis_.hi = std::max(x_axis_.hi, point.first);
        }
    }
    if (drawn_.empty()) x_axis_ = Axis{};
    widen(&x_axis_.lo, &x_axis_.hi);
    left_range(drawn_, options_, &left_, &clipped_max_);
    show_left_ = any_left_ || !any_right_;  // only accuracies: the right axis alone
  }

  // Layout, outside in. The tick counts follow the plot's size, estimated before the margins
  // (which depend on the tick labels) are known: a few pixels off changes nothing.
  void lay_out() {
    const double width = options_.width, height = options_.height;
    const double estimated_width = width - 140, estimated_height = height - 110;
    x_axis_.ticks = linear_ticks(x_axis_.lo, x_axis_.hi, std::max(2, static_cast<int>(estimated_width / 100)));
    const int y_target = std::max(2, static_cast<int>(estimated_height / 55));
    left_.ticks = options_.log_loss ? log_ticks(left_.lo, left_.hi) : linear_ticks(left_.lo, left_.hi, y_target);
    for (Tick& tick : linear_ticks(0, 100, 5)) right_.ticks.push_back({tick.value, tick.label + "%"});

    double widest_left = 0;
    for (const Tick& tick : left_.ticks) widest_left = std::max(widest_left, text_width(tick.label));
    plot_left_ = show_left_ ? 12 + kFontSize + 8 + widest_left + 8 : 16;
    plot_right_ = width - (any_right_ ? 8 + text_width("100%") + 8 + kFontSize + 12 : 20);
    plot_width_ = plot_right_ - plot_left_;
    lay_out_legend();
    plot_bottom_ = height - (6 + kFontSize + 10 + kFontSize + 10);
    plot_height_ = plot_bottom_ - plot_top_;
  }

  // The legend: rows of (line sample, name) above the plot, wrapped to its width.
  void lay_out_legend() {
    const double title_height = options_.title.empty() ? 0 : 24;
    double legend_x = plot_left_, legend_y = 10 + title_height + 12;
    for (const DrawnSeries& d : drawn_) {
      const double entry_width = 26 + text_width(d.series->name) + 18;
      if (legend_x > plot_left_ && legend_x + entry_width > plot_right_) {
        legend_x = plot_left_;
        legend_y += 18;
      }
      legend_.push_back({&d, legend_x, legend_y});
      legend_x += entry_width;
    }
    plot_top_ = legend_.empty() ? 10 + title_height + 12 : legend_y + 16;
  }

  double px(double x) const {
    return std::clamp(plot_left_ + (x - x_axis_.lo) / (x_axis_.hi - x_axis_.lo) * plot_width_, -kOffCanvas, kOffCanvas);
  }
  double py(const Axis& axis, double y) const {
    return std::clamp(plot_bottom_ - (y - axis.lo) / (axis.hi - axis.lo) * plot_height_, -kOffCanvas, kOffCanvas);
  }
  double middle_y() const { return (plot_top_ + plot_bottom_) / 2; }
  std::back_insert_iterator<std::string> out() { return std::back_inserter(svg_); }

  void write_header() {
    fmt::format_to(out(),
                   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{0}\" height=\"{1}\" "
                   "viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"{2}\">\n",
                   options_.width, options_.height, kFontSize);
    if (!options_.title.empty()) fmt::format_to(out(), "<title>{}</title>\n", xml_escape(options_.title));
    fmt::format_to(out(), "<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n", options_.width,
                   options_.height);
    // The clip region reaches a dot's radius past the frame: points on the border keep their dots.
    fmt::format_to(out(),
                   "<defs><clipPath id=\"plot-area\"><rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" "
                   "height=\"{:.1f}\"/></clipPath></defs>\n",
                   plot_left_ - 4, plot_top_ - 4, plot_width_ + 8, plot_height_ + 8);
  }

  // Grid lines at the x ticks and at the ticks of the main y axis, then the frame.
  void write_grid_and_frame() {
    const Axis& grid_axis = show_left_ ? left_ : right_;
    svg_ += "<g stroke=\"#e5e5e5\" stroke-width=\"1\">\n";
    for (const Tick& tick : x_axis_.ticks)
      fmt::format_to(out(), "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\"/>\n", px(tick.value),
                     plot_top_, plot_bottom_);
    for (const Tick& tick : grid_axis.ticks)
      fmt::format_to(out(), "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\"/>\n", plot_left_,
                     py(grid_axis, tick.value), plot_right_);
    svg_ += "</g>\n";
    fmt::format_to(out(),
                   "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" "
                   "stroke=\"#666666\" stroke-width=\"1\"/>\n",
                   plot_left_, plot_top_, plot_width_, plot_height_);
  }

  void write_y_ticks(const Axis& axis, double edge, double direction, const char* anchor) {
    for (const Tick& tick : axis.ticks)
      fmt::format_to(out(),
                     "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#666666\"/>"
                     "<text x=\"{3:.1f}\" y=\"{4:.1f}\" text-anchor=\"{5}\">{6}</text>\n",
                     edge, py(axis, tick.value), edge + 4 * direction, edge + 7 * direction,
                     py(axis, tick.value) + kFontSize * 0.35, anchor, xml_escape(tick.label));
  }

  // Tick marks and labels; then the axis labels, the y ones turned along their axes; the title.
  void write_ticks_and_labels() {
    svg_ += "<g fill=\"#333333\">\n";
    const double label_y = plot_bottom_ + 6 + kFontSize;
    for (const Tick& tick : x_axis_.ticks)
      fmt::format_to(out(),
                     "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#666666\"/>"
                     "<text x=\"{0:.1f}\" y=\"{3:.1f}\" text-anchor=\"middle\">{4}</text>\n",
                     px(tick.value), plot_bottom_, plot_bottom_ + 4, label_y, xml_escape(tick.label));
    if (show_left_) write_y_ticks(left_, plot_left_, -1, "end");
    if (any_right_) write_y_ticks(right_, plot_right_, 1, "start");
    fmt::format_to(out(), "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
                   (plot_left_ + plot_right_) / 2, label_y + kFontSize + 8, xml_escape(options_.x_label));
    if (show_left_)
      fmt::format_to(out(),
                     "<text transform=\"translate({:.1f} {:.1f}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                     12 + kFontSize * 0.8, middle_y(),
                     xml_escape(options_.log_loss ? options_.left_label + " (log scale)" : options_.left_label));
    if (any_right_)
      fmt::format_to(out(),
                     "<text transform=\"translate({:.1f} {:.1f}) rotate(90)\" text-anchor=\"middle\">{}</text>\n",
                     options_.width - 12 - kFontSize * 0.8, middle_y(), xml_escape(options_.right_label));
    svg_ += "</g>\n";
    if (!options_.title.empty())
      fmt::format_to(out(), "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
                     options_.width / 2.0, 10 + 16.0, xml_escape(options_.title));
  }

  // A series' line style: right-axis (accuracy) series dashed, so a curve tells its axis;
  // faint ones thin and light.
  static std::string line_style(const PlotSeries& series, double width) {
    std::string style = fmt::format(" stroke-width=\"{}\"", series.faint ? 1.0 : width);
    if (series.faint) style += " stroke-opacity=\"0.3\"";
    if (series.right_axis) style += " stroke-dasharray=\"6 3\"";
    return style;
  }

  // The curves, in the order given: a faint series goes under the line drawn after it.
  void write_curves() {
    svg_ +=
        "<g clip-path=\"url(#plot-area)\" fill=\"none\" stroke-width=\"1.5\" stroke-linejoin=\"round\" "
        "stroke-linecap=\"round\">\n";
    const auto column = [&](const std::pair<double, double>& p) { return static_cast<long>(std::floor(px(p.first))); };
    for (const DrawnSeries& d : drawn_) {
      const Axis& axis = d.series->right_axis ? right_ : left_;
      fmt::format_to(out(), "<g stroke=\"{}\"{}>\n", d.color, line_style(*d.series, 1.5));
      for (const auto& segment : d.segments) {
        svg_ += "<polyline points=\"";
        bool first = true;
        for (const auto& [x, y] : thin(segment, column, 4 * static_cast<size_t>(plot_width_))) {
          fmt::format_to(out(), "{}{:.1f},{:.1f}", first ? "" : " ", px(x), py(axis, y));
          first = false;
        }
        svg_ += "\"/>\n";
        // Dots where a line alone would show too little: few points (not for a faint series,
        // whose line is the background of another), or a point between two gaps.
        if ((d.count <= kMarkerLimit && !d.series->faint) || segment.size() == 1)
          for (const auto& [x, y] : segment)
            fmt::format_to(out(), "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.5\" fill=\"{}\" stroke=\"none\"/>\n",
                           px(x), py(axis, y), d.color);
      }
      svg_ += "</g>\n";
    }
    svg_ += "</g>\n";
  }

  void write_legend_and_notes() {
    for (const LegendEntry& entry : legend_) {
      const DrawnSeries& d = *entry.series;
      fmt::format_to(out(), "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\"{}/>\n",
                     entry.x, entry.y, entry.x + 20, entry.y, d.color, line_style(*d.series, 2));
      fmt::format_to(out(), "<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"#333333\">{}</text>\n", entry.x + 26,
                     entry.y + kFontSize * 0.35, xml_escape(d.series->name));
    }
    if (!std::isnan(clipped_max_))
      // A white halo (the stroke, painted under the fill) keeps the note readable over the curves.
      fmt::format_to(out(),
                     "<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\" fill=\"#555555\" stroke=\"#ffffff\" "
                     "stroke-width=\"3\" paint-order=\"stroke\">{}</text>\n",
                     plot_left_ + 6, plot_top_ + 14,
                     xml_escape(fmt::format("off the top: {} up to {:.4g}", options_.left_label, clipped_max_)));
    if (drawn_.empty())
      fmt::format_to(out(),
                     "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" fill=\"#666666\">no data yet</text>\n",
                     (plot_left_ + plot_right_) / 2, middle_y());
  }

  const PlotOptions& options_;
  const std::vector<DrawnSeries> drawn_;
  bool any_left_ = false, any_right_ = false, show_left_ = true;
  Axis x_axis_, left_, right_{0, 100, {}};
  double clipped_max_ = std::nan("");
  double plot_left_ = 0, plot_right_ = 0, plot_width_ = 0, plot_top_ = 0, plot_bottom_ = 0, plot_height_ = 0;
  std::vector<LegendEntry> legend_;
  std::string svg_;
};

}  // namespace

std::string svg_plot(const std::vector<PlotSeries>& series, const PlotOptions& options) {
  OT_CHECK(options.width >= 240 && options.height >= 180, "plot: {}x{} pixels is too small; give at least 240x180",
           options.width, options.height);
  return SvgChart(series, options).draw();
}

void write_svg_plot(const std::string& path, const std::vector<PlotSeries>& series, const PlotOptions& options) {
  // Through `path`.partial and a rename: a reader (a browser refreshing it) sees the old chart
  // or the new one, whole; errors name the chart, not the temporary file.
  write_file_atomically("--plot", path, svg_plot(series, options));
}

}  // namespace onnx_train::cli
