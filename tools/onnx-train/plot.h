// tools/onnx-train/plot.h: the --plot FILE.svg training chart, rewritten as training goes.
//
// One self-contained SVG file (no scripts, fonts or stylesheets: any browser or image viewer
// shows it): loss curves against the left axis, accuracy curves (right_axis) against a
// 0-100% right axis, grid lines at "nice" ticks (1, 2 or 5 times a power of ten), a legend.
//
//   write_svg_plot("run.svg", {{"train loss", loss_by_step}, {"val loss", val_by_step},
//                              {"val accuracy", acc_by_step, /*right_axis=*/true}}, {"mnist"});
//
// What the data may hold: a series without finite points is left out (and from the legend);
// NaN and infinite points (and any beyond +-1e300) break their line (a gap, not a plunge to
// zero); a series of few points also gets a dot at each, so a one-point series still shows.
// Right-axis values are fractions in [0, 1] (as the progress display's accuracy), drawn as
// 0-100%. A faint series (the noisy per-step values under their smoothed line, as TensorBoard
// draws them) is drawn thin and light, in the colour of the series after it, without dots.
//
// Early losses can be 100x the later ones. Two ways to keep the later curve readable:
// log_loss (a logarithmic left axis; values <= 0 then break the line), or, on a linear axis,
// clip_outliers (on by default, like TensorBoard's "ignore outliers in chart scaling"): when the
// largest left value is far above the bulk of them, the axis stops above the bulk, the spike
// runs off the top, and a note says how high it went.
//
// Very long series are thinned to the first, last, lowest and highest point of each pixel
// column of the plot (which draws the same picture), so the file stays small.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace onnx_train::cli {

struct PlotSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in the given order
  bool right_axis = false;                        // y is an accuracy in [0, 1]
  bool faint = false;                             // thin and light, coloured as the next series
};

struct PlotOptions {
  std::string title;
  std::string x_label = "step";
  std::string left_label = "loss";
  std::string right_label = "accuracy";
  bool log_loss = false;          // logarithmic left axis, labelled "<left_label> (log scale)"
  bool clip_outliers = true;      // linear left axis: let a spike far above the bulk run off the top
  int width = 800, height = 450;  // pixels, at least 240 x 180
};

// Writes the chart to `path` atomically: into `path`.partial, then renamed over `path`, so a
// reader (a browser refreshing the file) never sees half of it. Errors name the file.
void write_svg_plot(const std::string& path, const std::vector<PlotSeries>& series, const PlotOptions& options);

// The SVG text that write_svg_plot writes.
std::string svg_plot(const std::vector<PlotSeries>& series, const PlotOptions& options);

// Tick values in [lo, hi]: multiples of a step of 1, 2 or 5 times a power of ten, chosen so
// that about `target` of them fall in the range (Heckbert's "nice numbers"). lo < hi, finite.
std::vector<double> nice_ticks(double lo, double hi, int target);

// `text` as XML character data or an attribute value: & < > " ' escaped, and the control
// characters XML 1.0 does not allow (all but tab and newline) left out.
std::string xml_escape(const std::string& text);

}  // namespace onnx_train::cli
