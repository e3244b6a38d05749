// The SVG training chart (tools/onnx-train/plot.h): well-formed XML (a small checker here, and
// xmllint when the machine has it), one polyline per drawable run of points, gaps at NaN, nice
// ticks, the right axis, outlier clipping and log scale, faint series, the atomic write; and
// the training curves a run keeps (tools/onnx-train/plot_observer.h): the per-step loss, its
// smoothing over the whole run, and their checkpoint text.
#include "tools/onnx-train/plot.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "onnx_train/error.h"
#include "tests/support/model_builder.h"
#include "tools/onnx-train/plot_observer.h"

namespace onnx_train::cli {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// Checks XML well-formedness as far as the chart can break it: balanced and properly nested
// tags, quoted attributes without '<', no stray '&' or '<' in text, one root element. Returns
// "" or what is wrong.
std::string xml_problem(const std::string& xml) {
  std::vector<std::string> open;
  int roots = 0;
  const auto bad_entity = [&](size_t amp) {
    static const std::regex entity("&(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);");
    std::smatch m;
    const std::string rest = xml.substr(amp, 12);
    return !std::regex_search(rest, m, entity, std::regex_constants::match_continuous);
  };
  size_t i = 0;
  while (i < xml.size()) {
    if (xml[i] != '<') {
      if (xml[i] == '&' && bad_entity(i)) return "bad entity at " + std::to_string(i);
      if (xml[i] == '>') return "stray '>' at " + std::to_string(i);
      if (open.empty() && !std::isspace(static_cast<unsigned char>(xml[i])))
        return "text outside the root at " + std::to_string(i);
      ++i;
      continue;
    }
    if (xml.compare(i, 2, "<?") == 0) {
      const size_t end = xml.find("?>", i);
      if (end == std::string::npos) return "unterminated <?";
      i = end + 2;
      continue;
    }
    if (xml.compare(i, 4, "<!--") == 0) {
      const size_t end = xml.find("-->", i);
      if (end == std::string::npos) return "unterminated comment";
      i = end + 3;
      continue;
    }
    const bool closing = xml.compare(i, 2, "</") == 0;
    size_t j = i + (closing ? 2 : 1);
    const size_t name_start = j;
    while (j < xml.size() && (std::isalnum(static_cast<unsigned char>(xml[j])) || xml[j] == '-' || xml[j] == ':')) ++j;
    const std::string name = xml.substr(name_start, j - name_start);
    if (name.empty()) return "nameless tag at " + std::to_string(i);
    // Attributes: name="value" (or '...'), values without '<'.
    while (true) {
      while (j < xml.size() && std::isspace(static_cast<unsigned char>(xml[j]))) ++j;
      if (j >= xml.size()) return "unterminated tag " + name;
      if (xml[j] == '>' || xml.compare(j, 2, "/>") == 0) break;
      if (closing) return "attributes in closing tag " + name;
      const size_t attribute_start = j;
      while (j < xml.size() && (std::isalnum(static_cast<unsigned char>(xml[j])) || xml[j] == '-' || xml[j] == ':'))
        ++j;
      if (j == attribute_start || j >= xml.size() || xml[j] != '=') return "bad attribute in " + name;
      ++j;
      const char quote = xml[j];
      if (quote != '"' && quote != '\'') return "unquoted attribute in " + name;
      const size_t end = xml.find(quote, j + 1);
      if (end == std::string::npos) return "unterminated attribute in " + name;
      for (size_t k = j + 1; k < end; ++k) {
        if (xml[k] == '<') return "'<' in an attribute of " + name;
        if (xml[k] == '&' && bad_entity(k)) return "bad entity in an attribute of " + name;
      }
      j = end + 1;
    }
    const bool self_closing = xml[j] == '/';
    i = j + (self_closing ? 2 : 1);
    if (closing) {
      if (open.empty() || open.back() != name)
        return "</" + name + "> closes " + (open.empty() ? "nothing" : open.back());
      open.pop_back();
    } else {
      if (open.empty() && ++roots > 1) return "a second root element " + name;
      if (!self_closing) open.push_back(name);
    }
  }
  if (!open.empty()) return "<" + open.back() + "> is never closed";
  return roots == 1 ? "" : "no root element";
}

// Runs xmllint on the file when it is installed (it is not a dependency).
void expect_xmllint_accepts(const std::string& path) {
  if (std::system("command -v xmllint >/dev/null 2>&1") != 0) return;
  EXPECT_EQ(std::system(("xmllint --noout '" + path + "'").c_str()), 0) << "xmllint rejects " << path;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The points of every polyline, in order. (Found by hand: std::regex recurses per character
// and overflows the stack on a long points list.)
std::vector<std::vector<std::pair<double, double>>> polylines(const std::string& svg) {
  const std::string start = "<polyline points=\"";
  std::vector<std::vector<std::pair<double, double>>> out;
  for (size_t at = svg.find(start); at != std::string::npos; at = svg.find(start, at + 1)) {
    const size_t begin = at + start.size();
    std::istringstream points(svg.substr(begin, svg.find('"', begin) - begin));
    std::vector<std::pair<double, double>> line;
    double x, y;
    char comma;
    while (points >> x >> comma >> y) line.emplace_back(x, y);
    out.push_back(line);
  }
  return out;
}

// The labels of the ticks on one axis: text-anchor "middle" (x), "end" (left), "start" (right)
// right after a tick mark.
std::vector<std::string> tick_labels(const std::string& svg, const std::string& anchor) {
  const std::regex label("stroke=\"#666666\"/><text [^>]*text-anchor=\"" + anchor + "\">([^<]*)</text>");
  std::vector<std::string> out;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), label); it != std::sregex_iterator(); ++it)
    out.push_back((*it)[1].str());
  return out;
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A value is nice when it is 0 or m * 10^k with m in {1, 2, 5} times a whole number, as a
// member of a 1-2-5 step: checked as a multiple of the step (the difference of two ticks).
void expect_nice(const std::vector<double>& ticks) {
  ASSERT_GE(ticks.size(), 2u);
  const double step = ticks[1] - ticks[0];
  const double exponent = std::floor(std::log10(step) + 1e-9);
  const double mantissa = step / std::pow(10.0, exponent);
  EXPECT_TRUE(std::fabs(mantissa - 1) < 1e-9 || std::fabs(mantissa - 2) < 1e-9 || std::fabs(mantissa - 5) < 1e-9)
      << "step " << step;
  for (size_t i = 0; i < ticks.size(); ++i) {
    const double multiple = ticks[i] / step;
    EXPECT_NEAR(multiple, std::round(multiple), 1e-6) << ticks[i] << " is not a multiple of " << step;
    if (i > 0) {
      EXPECT_NEAR(ticks[i] - ticks[i - 1], step, 1e-9 * std::fabs(step));
    }
  }
}

std::vector<std::pair<double, double>> decaying_loss(int n, double start = 2.3, double end = 0.3) {
  std::vector<std::pair<double, double>> points;
  for (int i = 1; i <= n; ++i) points.emplace_back(i, end + (start - end) * std::exp(-5.0 * i / n));
  return points;
}

TEST(PlotTest, NiceTicks) {
  EXPECT_EQ(nice_ticks(0, 938, 7), (std::vector<double>{0, 100, 200, 300, 400, 500, 600, 700, 800, 900}));
  EXPECT_EQ(nice_ticks(0, 100, 5), (std::vector<double>{0, 20, 40, 60, 80, 100}));
  // Exactly the doubles nearest to the decimals: 0.3, not 0.30000000000000004.
  EXPECT_EQ(nice_ticks(0.25, 0.75, 5), (std::vector<double>{0.3, 0.4, 0.5, 0.6, 0.7}));
  EXPECT_EQ(nice_ticks(-0.013, 0.021, 4), (std::vector<double>{-0.01, 0, 0.01, 0.02}));
  // Any range: 1-2-5 steps, inside the range, about the target count.
  std::srand(3);
  for (int trial = 0; trial < 2000; ++trial) {
    const double scale = std::pow(10.0, std::rand() % 24 - 12);
    const double lo = (std::rand() % 2000 - 1000) / 100.0 * scale;
    const double hi = lo + (1 + std::rand() % 1000) / 100.0 * scale;
    const int target = 2 + std::rand() % 10;
    const std::vector<double> ticks = nice_ticks(lo, hi, target);
    SCOPED_TRACE(::testing::Message() << "[" << lo << ", " << hi << "] target " << target);
    expect_nice(ticks);
    EXPECT_GE(ticks.front(), lo - 1e-9 * std::fabs(lo));
    EXPECT_LE(ticks.back(), hi + 1e-9 * std::fabs(hi));
    EXPECT_LE(static_cast<int>(ticks.size()), 2 * target + 2);
    EXPECT_GE(static_cast<int>(ticks.size()), std::max(2, target / 2));
  }
  EXPECT_THROW(nice_ticks(1, 1, 5), Error);
  EXPECT_THROW(nice_ticks(0, std::nan(""), 5), Error);
}

TEST(PlotTest, WellFormedWithAPolylinePerSeries) {
  TempDir dir;
  const std::string path = dir.path() + "/run.svg";
  std::vector<PlotSeries> series = {{"train loss", decaying_loss(100)},
                                    {"val loss", {{20, 1.1}, {40, 0.8}, {60, 0.6}, {80, 0.5}, {100, 0.45}}},
                                    {"empty", {}},
                                    {"val accuracy", {{20, 0.6}, {40, 0.7}, {60, 0.8}, {80, 0.85}, {100, 1.0}}, true}};
  PlotOptions options;
  options.title = "fashion_cnn.onnx";
  write_svg_plot(path, series, options);
  const std::string svg = read_all(path);
  EXPECT_EQ(xml_problem(svg), "");
  expect_xmllint_accepts(path);
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_EQ(svg.find("<style"), std::string::npos);
  EXPECT_EQ(svg.find("href"), std::string::npos);  // nothing external
  const auto lines = polylines(svg);
  ASSERT_EQ(lines.size(), 3u);  // the empty series is left out
  EXPECT_EQ(lines[0].size(), 100u);
  EXPECT_EQ(lines[1].size(), 5u);
  EXPECT_EQ(lines[2].size(), 5u);
  for (const std::string name :
       {"train loss", "val loss", "val accuracy", "fashion_cnn.onnx", "step", "loss", "accuracy", "100%", "0%"})
    EXPECT_NE(svg.find(">" + name + "<"), std::string::npos) << name;
  EXPECT_EQ(svg.find(">empty<"), std::string::npos);
  // Dots on the short series only.
  EXPECT_EQ(occurrences(svg, "<circle"), 10u);
  EXPECT_EQ(occurrences(svg, "stroke-dasharray"), 2u);  // the accuracy curve and its legend sample

  // Accuracy 1.0 sits on the 100% tick, 0.6 at 60% of the way up from 0%.
  const std::regex hundred("y1=\"([0-9.]+)\"[^>]*/><text[^>]*>100%</text>");
  const std::regex zero("y1=\"([0-9.]+)\"[^>]*/><text[^>]*>0%</text>");
  std::smatch m100, m0;
  ASSERT_TRUE(std::regex_search(svg, m100, hundred));
  ASSERT_TRUE(std::regex_search(svg, m0, zero));
  const double y100 = std::stod(m100[1]), y0 = std::stod(m0[1]);
  EXPECT_NEAR(lines[2][4].second, y100, 0.051);
  EXPECT_NEAR(lines[2][0].second, y0 + 0.6 * (y100 - y0), 0.11);
  // The first x is the left edge of the plot, the last the right edge; y grows downwards.
  EXPECT_LT(lines[0].front().first, lines[0].back().first);
  EXPECT_GT(lines[0].back().second, lines[0].front().second);

  // The ticks on each axis are nice numbers.
  for (const std::string anchor : {"middle", "end"}) {
    std::vector<double> values;
    for (const std::string& label : tick_labels(svg, anchor)) values.push_back(std::stod(label));
    SCOPED_TRACE(anchor);
    expect_nice(values);
  }
  EXPECT_EQ(tick_labels(svg, "start"), (std::vector<std::string>{"0%", "20%", "40%", "60%", "80%", "100%"}));
}

TEST(PlotTest, NanAndInfinityBreakTheLine) {
  std::vector<std::pair<double, double>> points = decaying_loss(10);
  points[4].second = std::nan("");
  points[7].second = INFINITY;
  points.emplace_back(std::nan(""), 0.2);  // a non-finite x too
  const std::string svg = svg_plot({{"loss", points}}, {});
  EXPECT_EQ(xml_problem(svg), "");
  const auto lines = polylines(svg);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].size(), 4u);
  EXPECT_EQ(lines[1].size(), 2u);
  EXPECT_EQ(lines[2].size(), 2u);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  // A series with no finite point is left out like an empty one.
  EXPECT_EQ(polylines(svg_plot({{"loss", {{1, std::nan("")}}}}, {})).size(), 0u);
}

TEST(PlotTest, OnePointAndNoPoints) {
  TempDir dir;
  const std::string path = dir.path() + "/one.svg";
  write_svg_plot(path, {{"train loss", {{1, 2.3}}}, {"val accuracy", {{1, 0.5}}, true}}, {});
  const std::string svg = read_all(path);
  EXPECT_EQ(xml_problem(svg), "");
  expect_xmllint_accepts(path);
  const auto lines = polylines(svg);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].size(), 1u);
  EXPECT_EQ(occurrences(svg, "<circle"), 2u);  // a lone point shows as a dot
  std::vector<double> x_ticks;
  for (const std::string& label : tick_labels(svg, "middle")) x_ticks.push_back(std::stod(label));
  expect_nice(x_ticks);

  const std::string empty = svg_plot({{"train loss", {}}}, {});
  EXPECT_EQ(xml_problem(empty), "");
  EXPECT_TRUE(polylines(empty).empty());
  EXPECT_NE(empty.find("no data yet"), std::string::npos);
  EXPECT_EQ(xml_problem(svg_plot({}, {})), "");
}

TEST(PlotTest, EarlySpikeRunsOffTheTopUnlessAsked) {
  auto points = decaying_loss(200);
  points[0].second = 230;  // the first step, 100x the rest
  const auto top_tick = [](const std::string& svg) {
    double top = -INFINITY;
    for (const std::string& label : tick_labels(svg, "end")) top = std::max(top, std::stod(label));
    return top;
  };
  const std::string clipped = svg_plot({{"train loss", points}}, {});
  EXPECT_EQ(xml_problem(clipped), "");
  EXPECT_LT(top_tick(clipped), 5);
  EXPECT_NE(clipped.find("off the top: loss up to 230"), std::string::npos);
  EXPECT_EQ(polylines(clipped)[0].size(), 200u);  // still drawn: the clip path cuts it

  PlotOptions whole;
  whole.clip_outliers = false;
  EXPECT_GE(top_tick(svg_plot({{"train loss", points}}, whole)), 200);

  // A loss that falls smoothly (no spike) keeps its whole range.
  const std::string smooth = svg_plot({{"train loss", decaying_loss(200)}}, {});
  EXPECT_EQ(smooth.find("off the top"), std::string::npos);
  EXPECT_GE(top_tick(smooth), 2);

  // Log scale: every decade is readable, no clipping.
  PlotOptions log;
  log.log_loss = true;
  const std::string logged = svg_plot({{"train loss", points}}, log);
  EXPECT_EQ(xml_problem(logged), "");
  EXPECT_EQ(logged.find("off the top"), std::string::npos);
  EXPECT_EQ(tick_labels(logged, "end"), (std::vector<std::string>{"1", "10", "100"}));
}

TEST(PlotTest, LogScaleTicksAndNonPositiveValues) {
  PlotOptions log;
  log.log_loss = true;
  // Within a decade or two: 1, 2, 5 steps.
  const std::string narrow = svg_plot({{"loss", decaying_loss(50, 2.3, 0.15)}}, log);
  EXPECT_EQ(tick_labels(narrow, "end"), (std::vector<std::string>{"0.2", "0.5", "1", "2"}));
  // Inside one decade with no 1-2-5 value in it: plain nice values, still on a log axis.
  const std::string tight = svg_plot({{"loss", decaying_loss(50, 0.45, 0.31)}}, log);
  EXPECT_GE(tick_labels(tight, "end").size(), 2u);
  // Many decades (22 with the margins): a tick every third decade.
  std::vector<std::pair<double, double>> wide;
  for (int i = 0; i <= 40; ++i) wide.emplace_back(i, std::pow(10.0, 4 - 0.5 * i));
  EXPECT_EQ(tick_labels(svg_plot({{"loss", wide}}, log), "end"),
            (std::vector<std::string>{"1e-15", "1e-12", "1e-09", "1e-06", "0.001", "1", "1000"}));
  // Zero and negative losses cannot be drawn on a log axis: gaps.
  auto points = decaying_loss(10);
  points[3].second = 0;
  points[6].second = -1;
  const auto lines = polylines(svg_plot({{"loss", points}}, log));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].size(), 3u);
}

TEST(PlotTest, LargeStepCountsUseShortLabels) {
  const std::string svg = svg_plot({{"loss", decaying_loss(20000)}}, {});
  EXPECT_EQ(tick_labels(svg, "middle"), (std::vector<std::string>{"5k", "10k", "15k", "20k"}));
}

TEST(PlotTest, HugeAndTinyValuesKeepShortLabels) {
  PlotOptions whole;
  whole.clip_outliers = false;
  const std::string huge = svg_plot({{"loss", {{1, 1e200}, {2, 3e200}, {3, 1e308}, {4, 2e200}}}}, whole);
  EXPECT_EQ(xml_problem(huge), "");
  const auto lines = polylines(huge);
  ASSERT_EQ(lines.size(), 2u);  // 1e308 is past what an axis can span: a gap
  EXPECT_EQ(lines[0].size(), 2u);
  const std::string tiny = svg_plot({{"loss", {{1, 1e-7}, {2, 3e-7}}}}, {});
  const std::string big_steps = svg_plot({{"loss", {{0, 1}, {3e9, 2}}}}, {});
  for (const auto& [svg, anchor] : {std::pair{huge, "end"}, std::pair{tiny, "end"}, std::pair{big_steps, "middle"}}) {
    std::vector<double> values;
    for (const std::string& label : tick_labels(svg, anchor)) {
      EXPECT_LE(label.size(), 8u) << label;
      values.push_back(std::stod(label));
    }
    expect_nice(values);
  }
  EXPECT_NE(huge.find(">2e+200<"), std::string::npos);
  EXPECT_NE(tiny.find(">1.5e-07<"), std::string::npos);
  EXPECT_NE(big_steps.find(">1.5e+09<"), std::string::npos);
}

TEST(PlotTest, LongSeriesAreThinnedKeepingTheirExtremes) {
  std::vector<std::pair<double, double>> points;
  for (int i = 0; i < 200000; ++i) points.emplace_back(i, 1 + 0.5 * std::sin(i * 0.37));
  points[123457].second = 3;  // one spike, far above the noise
  PlotOptions options;
  options.clip_outliers = false;
  const std::string svg = svg_plot({{"loss", points}}, options);
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_LT(svg.size(), 200000u);
  const auto lines = polylines(svg);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_LE(lines[0].size(), 4u * 800);
  EXPECT_GE(lines[0].size(), 2u * 600);  // each column's low and high at least
  std::vector<double> ys;
  for (const auto& point : lines[0]) ys.push_back(point.second);
  std::sort(ys.begin(), ys.end());
  EXPECT_GT(ys[1] - ys[0], 100) << "the spike was thinned away";
  EXPECT_EQ(occurrences(svg, "<circle"), 0u);
}

TEST(PlotTest, TextIsEscapedAndLegendWraps) {
  std::vector<PlotSeries> series;
  for (int i = 0; i < 12; ++i)
    series.push_back({"series <" + std::to_string(i) + "> & \"friends\" of the long name", decaying_loss(5 + i)});
  PlotOptions options;
  options.title = "a < b & c > 'd'";
  options.x_label = "epoch & step";
  const std::string svg = svg_plot(series, options);
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_NE(svg.find("a &lt; b &amp; c &gt; &apos;d&apos;"), std::string::npos);
  EXPECT_NE(svg.find(">series &lt;11&gt; &amp; &quot;friends&quot; of the long name<"), std::string::npos);
  EXPECT_EQ(polylines(svg).size(), 12u);
  // Twelve long names take several legend rows: the plot starts lower than with one.
  const auto plot_top = [](const std::string& text) {
    std::smatch m;
    std::regex_search(text, m, std::regex("<clipPath id=\"plot-area\"><rect x=\"[0-9.]+\" y=\"([0-9.]+)\""));
    return std::stod(m[1]);
  };
  EXPECT_GT(plot_top(svg), plot_top(svg_plot({series[0]}, options)) + 50);
}

TEST(PlotTest, AccuracyAloneUsesTheRightAxis) {
  const std::string svg = svg_plot({{"val accuracy", {{1, 0.5}, {2, 0.7}, {3, 0.8}}, true}}, {});
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_TRUE(tick_labels(svg, "end").empty());
  EXPECT_EQ(tick_labels(svg, "start").size(), 6u);
}

TEST(PlotTest, WriteIsAtomicAndErrorsNameTheFile) {
  TempDir dir;
  const std::string path = dir.path() + "/run.svg";
  std::ofstream(path) << "old chart";
  write_svg_plot(path, {{"loss", decaying_loss(10)}}, {});
  EXPECT_NE(read_all(path).find("<svg"), std::string::npos);
  write_svg_plot(path, {{"loss", decaying_loss(20)}}, {});  // rewritten each epoch
  EXPECT_EQ(polylines(read_all(path))[0].size(), 20u);
  EXPECT_FALSE(fs::exists(path + ".partial"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);

  const std::string missing = dir.path() + "/no-such-folder/run.svg";
  try {
    write_svg_plot(missing, {{"loss", decaying_loss(10)}}, {});
    ADD_FAILURE() << "wrote " << missing;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  // A folder where the chart should go: the rename fails, and the partial file is cleaned up.
  const std::string folder = dir.path() + "/taken.svg";
  fs::create_directories(folder + "/inside");
  EXPECT_THROW(write_svg_plot(folder, {{"loss", decaying_loss(10)}}, {}), Error);
  EXPECT_FALSE(fs::exists(folder + ".partial"));

  PlotOptions tiny;
  tiny.width = 100;
  EXPECT_THROW(svg_plot({}, tiny), Error);
}

// The stroke colour of each series' group, in drawing order (the grid's, light grey, left out).
std::vector<std::string> group_strokes(const std::string& svg) {
  static const std::regex group("<g stroke=\"(#[0-9a-f]{6})\"");
  std::vector<std::string> out;
  for (std::sregex_iterator it(svg.begin(), svg.end(), group), end; it != end; ++it)
    if ((*it)[1] != "#e5e5e5") out.push_back((*it)[1]);
  return out;
}

TEST(PlotTest, FaintSeriesIsThinLightAndColouredAsTheLineOverIt) {
  const auto raw = decaying_loss(40);
  std::vector<std::pair<double, double>> smooth;
  for (const auto& [x, y] : raw) smooth.emplace_back(x, y * 1.01);
  const std::string svg = svg_plot({{"train loss (per step)", raw, false, /*faint=*/true},
                                    {"train loss (smoothed)", smooth},
                                    {"val loss", {{20, 1.1}, {40, 0.5}}}},
                                   {});
  EXPECT_EQ(xml_problem(svg), "");
  // Per step and smoothed share the first colour; val loss gets the second, as without the faint line.
  EXPECT_EQ(group_strokes(svg), (std::vector<std::string>{"#1f77b4", "#1f77b4", "#ff7f0e"}));
  EXPECT_NE(svg.find("<g stroke=\"#1f77b4\" stroke-width=\"1\" stroke-opacity=\"0.3\">"), std::string::npos) << svg;
  EXPECT_NE(svg.find("<g stroke=\"#1f77b4\" stroke-width=\"1.5\">"), std::string::npos) << svg;
  EXPECT_EQ(occurrences(svg, "stroke-opacity"), 2u);  // the line and its legend sample
  EXPECT_EQ(occurrences(svg, "<circle"), 40u + 2);    // no dots on the faint line
  const auto lines = polylines(svg);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].size(), 40u);  // drawn first: under the smoothed line
  for (const std::string name : {"train loss (per step)", "train loss (smoothed)"})
    EXPECT_NE(svg.find(">" + name + "<"), std::string::npos) << name;
}

TEST(PlotTest, LogScaleSaysSoOnItsAxis) {
  PlotOptions log;
  log.log_loss = true;
  EXPECT_NE(svg_plot({{"loss", decaying_loss(10)}}, log).find(">loss (log scale)<"), std::string::npos);
  EXPECT_EQ(svg_plot({{"loss", decaying_loss(10)}}, {}).find("log scale"), std::string::npos);
}

// TensorBoard's smoothing: last_n = w last_(n-1) + (1 - w) y_n, shown as last_n / (1 - w^n).
TEST(PlotCurvesTest, SmoothingIsADebiasedMovingAverage) {
  Smoothing s;
  s.weight = 0.8;
  EXPECT_DOUBLE_EQ(s.add(2.0), 2.0);  // the first point is its own mean, not 0.2 * 2
  const double last2 = 0.8 * 0.2 * 2.0 + 0.2 * 1.0;
  EXPECT_DOUBLE_EQ(s.add(1.0), last2 / (1 - 0.64));
  EXPECT_DOUBLE_EQ(s.add(NAN), last2 / (1 - 0.64));  // a non-finite value is left out
  Smoothing constant;
  constant.weight = 0.95;
  for (int i = 0; i < 100; ++i) EXPECT_NEAR(constant.add(0.7), 0.7, 1e-12);
  // A span of 1/64 of the run, at least 5 steps.
  EXPECT_DOUBLE_EQ(Smoothing::weight_for(18), 0.8);
  EXPECT_DOUBLE_EQ(Smoothing::weight_for(6400), 0.99);
}

// The run's curves through a checkpoint's text and back, then on: the same as never stopped,
// the smoothed line included (it does not restart).
TEST(PlotCurvesTest, CurvesGoOnAfterACheckpointAsIfNeverStopped) {
  TrainingCurves straight, first;
  const auto loss = [](int step) { return 2.0 / step + 0.1 * ((step * 7) % 3); };
  for (int step = 1; step <= 700; ++step) {
    straight.add_step(step, loss(step), 1400);
    first.add_step(step, loss(step), 1400);
  }
  first.val_loss.add(700, 0.5);
  straight.val_loss.add(700, 0.5);
  TrainingCurves resumed;
  resumed.load(first.save(), first.save_strides());
  resumed.smoothing = Smoothing::load(first.smoothing.save());
  for (int step = 701; step <= 1400; ++step) {
    straight.add_step(step, loss(step), 1400);
    resumed.add_step(step, loss(step), 2000);  // a longer run on resume keeps the smoothing it began with
  }
  EXPECT_EQ(resumed.save(), straight.save());
  EXPECT_EQ(resumed.save_strides(), straight.save_strides());
  const auto series = resumed.series();
  ASSERT_EQ(series.size(), 5u);
  EXPECT_EQ(series[0].name, "train loss (per step)");
  EXPECT_TRUE(series[0].faint);
  EXPECT_EQ(series[1].name, "train loss (smoothed)");
  EXPECT_LE(series[1].points.size(), Curve::kMaxPoints);
}

// A checkpoint of an older version: four curves, no smoothing; the curves load, and the
// smoothed line starts at the resumed step.
TEST(PlotCurvesTest, OlderCheckpointsLoad) {
  TrainingCurves curves;
  curves.load("0 1 2.5\n0 2 2.0\n1 2 1.5\n3 2 0.5\n", "2 1 1 1 0 1 1 1");
  curves.smoothing = Smoothing::load("");
  EXPECT_EQ(curves.train_loss.series.points.size(), 2u);
  EXPECT_EQ(curves.smoothed_loss.series.points.size(), 0u);
  curves.add_step(3, 1.0, 18);
  EXPECT_EQ(curves.smoothed_loss.series.points, (std::vector<std::pair<double, double>>{{3, 1.0}}));
}

}  // namespace
}  // namespace onnx_train::cli
