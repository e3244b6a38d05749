#include "tools/onnx-train/classification_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "onnx_train/error.h"
#include "tools/onnx-train/plot.h"

namespace onnx_train::cli {

ConfusionMatrix::ConfusionMatrix(int64_t classes) : classes_(classes) {
  OT_CHECK(classes >= 1, "a confusion matrix needs at least one class, got {}", classes);
  counts_.assign(static_cast<size_t>(classes * classes), 0);
}

size_t ConfusionMatrix::index(int64_t truth, int64_t predicted) const {
  OT_CHECK(truth >= 0 && truth < classes_ && predicted >= 0 && predicted < classes_,
           "class {} (true) / {} (predicted) is outside the {} classes of the confusion matrix", truth, predicted,
           classes_);
  return static_cast<size_t>(truth * classes_ + predicted);
}

void ConfusionMatrix::add_scores(const Tensor& scores, const Tensor& labels, int64_t ignore_index,
                                 int64_t class_axis) {
  OT_CHECK(scores.dtype() == DType::Float32 && scores.rank() >= 2 && class_axis >= 1 && class_axis < scores.rank() &&
               scores.dim(static_cast<int>(class_axis)) == classes_,
           "class scores of shape {} do not fit a confusion matrix of {} classes", shape_str(scores.shape()), classes_);
  // [outer..., C, inner...]: the scores of one position are `inner` apart.
  int64_t n = 1;
  for (int64_t d = 0; d < class_axis; ++d) n *= scores.dim(static_cast<int>(d));
  const int64_t inner = scores.numel() / std::max<int64_t>(n * classes_, 1);
  const std::vector<int64_t> truth = labels.to_int64s();
  OT_CHECK(static_cast<int64_t>(truth.size()) == n * inner, "{} labels for {} scored positions", truth.size(),
           n * inner);
  const float* values = scores.data<float>();
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t j = 0; j < inner; ++j) {
      const int64_t label = truth[static_cast<size_t>(b * inner + j)];
      if (label == ignore_index) continue;
      const float* row = values + b * classes_ * inner + j;
      int64_t best = 0;
      for (int64_t c = 1; c < classes_; ++c)
        if (row[c * inner] > row[best * inner]) best = c;
      add(label, best);
    }
  }
}

void ConfusionMatrix::add_binary(const Tensor& logits, const Tensor& labels) {
  OT_CHECK(classes_ == 2 && logits.dtype() == DType::Float32 && logits.numel() == labels.numel(),
           "binary scores of shape {} for labels of shape {}", shape_str(logits.shape()), shape_str(labels.shape()));
  const float* values = logits.data<float>();
  const std::vector<double> truth = labels.to_doubles();
  for (size_t i = 0; i < truth.size(); ++i) add(truth[i] > 0.5 ? 1 : 0, values[i] > 0 ? 1 : 0);
}

int64_t ConfusionMatrix::total() const {
  int64_t sum = 0;
  for (const int64_t c : counts_) sum += c;
  return sum;
}

int64_t ConfusionMatrix::support(int64_t truth) const {
  int64_t sum = 0;
  for (int64_t p = 0; p < classes_; ++p) sum += (*this)(truth, p);
  return sum;
}

int64_t ConfusionMatrix::predicted(int64_t predicted) const {
  int64_t sum = 0;
  for (int64_t t = 0; t < classes_; ++t) sum += (*this)(t, predicted);
  return sum;
}

namespace {

double ratio(int64_t part, int64_t whole) {
  return whole > 0 ? static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

// The classes that occur as a label or as a prediction, by index.
std::vector<int64_t> occurring(const ConfusionMatrix& m) {
  std::vector<int64_t> out;
  for (int64_t c = 0; c < m.classes(); ++c)
    if (m.support(c) > 0 || m.predicted(c) > 0) out.push_back(c);
  return out;
}

std::string score_row(const std::string& name, size_t name_width, const ClassScores& s) {
  return fmt::format("  {:<{}}  {:>9.4f}  {:>6.4f}  {:>6.4f}  {:>7}\n", name, name_width, s.precision, s.recall, s.f1,
                     s.support);
}

}  // namespace

ClassificationScores score_classes(const ConfusionMatrix& m) {
  ClassificationScores out;
  out.total = m.total();
  int64_t correct = 0;
  for (const int64_t c : occurring(m)) {
    ClassScores s;
    s.label = c;
    const int64_t tp = m(c, c);
    correct += tp;
    s.support = m.support(c);
    s.precision = ratio(tp, m.predicted(c));
    s.recall = ratio(tp, s.support);
    s.f1 = s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
    out.classes.push_back(s);
  }
  out.accuracy = ratio(correct, out.total);
  out.macro.label = out.weighted.label = -1;
  const double shown = static_cast<double>(std::max<size_t>(out.classes.size(), 1));
  for (const ClassScores& s : out.classes) {
    const double w = ratio(s.support, out.total);
    out.macro.precision += s.precision / shown;
    out.macro.recall += s.recall / shown;
    out.macro.f1 += s.f1 / shown;
    out.weighted.precision += s.precision * w;
    out.weighted.recall += s.recall * w;
    out.weighted.f1 += s.f1 * w;
  }
  out.macro.support = out.weighted.support = out.total;
  return out;
}

std::string class_name(const std::vector<std::string>& names, int64_t label) {
  return label >= 0 && label < static_cast<int64_t>(names.size()) ? names[static_cast<size_t>(label)]
                                                                   : std::to_string(label);
}

std::string classification_report_text(const ConfusionMatrix& m, const std::vector<std::string>& names) {
  const ClassificationScores scores = score_classes(m);
  std::vector<std::string> shown;
  size_t name_width = std::string("weighted avg").size();
  for (const ClassScores& s : scores.classes) {
    shown.push_back(class_name(names, s.label));
    name_width = std::max(name_width, shown.back().size());
  }
  std::string out;
  if (scores.classes.size() <= kFullMatrixClasses) {
    // Each column as wide as its class name or its largest count.
    out += "confusion matrix (rows: true class, columns: predicted class):\n";
    std::vector<size_t> widths;
    for (size_t j = 0; j < shown.size(); ++j) {
      size_t w = shown[j].size();
      for (const ClassScores& t : scores.classes)
        w = std::max(w, std::to_string(m(t.label, scores.classes[j].label)).size());
      widths.push_back(w);
    }
    out += fmt::format("  {:<{}}", "", name_width);
    for (size_t j = 0; j < shown.size(); ++j) out += fmt::format("  {:>{}}", shown[j], widths[j]);
    out += "\n";
    for (size_t i = 0; i < shown.size(); ++i) {
      out += fmt::format("  {:<{}}", shown[i], name_width);
      for (size_t j = 0; j < shown.size(); ++j)
        out += fmt::format("  {:>{}}", m(scores.classes[i].label, scores.classes[j].label), widths[j]);
      out += "\n";
    }
  } else {
    // (count, true, predicted) of every confusion, most frequent first.
    std::vector<std::tuple<int64_t, int64_t, int64_t>> confusions;
    for (const ClassScores& t : scores.classes)
      for (const ClassScores& p : scores.classes)
        if (t.label != p.label && m(t.label, p.label) > 0)
          confusions.emplace_back(m(t.label, p.label), t.label, p.label);
    std::sort(confusions.begin(), confusions.end(), [](const auto& a, const auto& b) {
      return std::get<0>(a) != std::get<0>(b) ? std::get<0>(a) > std::get<0>(b) : a < b;
    });
    constexpr size_t kListed = 10;
    out += fmt::format("{} classes occur: the most frequent confusions instead of the full matrix:\n",
                       scores.classes.size());
    if (confusions.empty()) out += "  none: every sample predicted as its class\n";
    for (size_t k = 0; k < confusions.size() && k < kListed; ++k) {
      const auto& [count, truth, predicted] = confusions[k];
      out += fmt::format("  {:>7}  true {} predicted as {}\n", count, class_name(names, truth),
                         class_name(names, predicted));
    }
    if (confusions.size() > kListed) out += fmt::format("  and {} other pairs\n", confusions.size() - kListed);
  }
  out += fmt::format("  {:<{}}  {:>9}  {:>6}  {:>6}  {:>7}\n", "class", name_width, "precision", "recall", "f1",
                     "support");
  for (size_t i = 0; i < shown.size(); ++i) out += score_row(shown[i], name_width, scores.classes[i]);
  out += score_row("macro avg", name_width, scores.macro);
  out += score_row("weighted avg", name_width, scores.weighted);
  return out;
}

void add_classification_report(nlohmann::ordered_json& out, const ConfusionMatrix& m,
                               const std::vector<std::string>& names) {
  const ClassificationScores scores = score_classes(m);
  // NaN (a class never predicted has no precision) is written as null by nlohmann's dump.
  const auto scores_json = [](const ClassScores& s, nlohmann::ordered_json into) {
    into["precision"] = s.precision;
    into["recall"] = s.recall;
    into["f1"] = s.f1;
    into["support"] = s.support;
    return into;
  };
  nlohmann::ordered_json classes = nlohmann::ordered_json::array(), rows = nlohmann::ordered_json::array(),
                         per_class = nlohmann::ordered_json::array();
  for (const ClassScores& t : scores.classes) {
    classes.push_back(class_name(names, t.label));
    nlohmann::ordered_json row = nlohmann::ordered_json::array();
    for (const ClassScores& p : scores.classes) row.push_back(m(t.label, p.label));
    rows.push_back(std::move(row));
    per_class.push_back(scores_json(t, {{"class", class_name(names, t.label)}}));
  }
  out["classes"] = std::move(classes);
  out["confusion_matrix"] = std::move(rows);
  out["per_class"] = std::move(per_class);
  out["macro_avg"] = scores_json(scores.macro, nlohmann::ordered_json::object());
  out["weighted_avg"] = scores_json(scores.weighted, nlohmann::ordered_json::object());
}

std::string confusion_matrix_svg(const ConfusionMatrix& m, const std::vector<std::string>& names,
                                 const std::string& title) {
  const ClassificationScores scores = score_classes(m);
  const auto n = static_cast<int>(std::max<size_t>(scores.classes.size(), 1));
  // Cells shrink with the class count so that the map stays about 480 pixels across; past
  // 60 classes the names no longer fit beside their rows and are left out.
  const int cell = std::clamp(480 / n, 4, 48);
  const bool labelled = n <= 60;
  size_t longest = 0;
  for (const ClassScores& s : scores.classes) longest = std::max(longest, class_name(names, s.label).size());
  const int font = std::clamp(cell - 4, 8, 12);
  const int label_space = labelled ? static_cast<int>(std::min<size_t>(longest, 24)) * font * 6 / 10 + 12 : 0;
  const int left = 30 + label_space, top = 40 + label_space;
  // Wide enough for the title too (14 px text: about 8 px a character).
  const int title_width = static_cast<int>(title.size()) * 8 + 20;
  const int width = std::max({left + n * cell + 20, 320, title_width}), height = top + n * cell + 40;
  const bool counts_fit = cell >= 24;

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "font-family=\"sans-serif\" font-size=\"{}\">\n",
      width, height, width, height, font);
  svg += fmt::format("<title>{}</title>\n", xml_escape(title));
  svg += fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n", width, height);
  svg += fmt::format("<text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n", width / 2,
                     xml_escape(title));
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">predicted class</text>\n", left + n * cell / 2,
                     top + n * cell + 24);
  svg += fmt::format("<text transform=\"translate(16,{}) rotate(-90)\" text-anchor=\"middle\">true class</text>\n",
                     top + n * cell / 2);
  for (size_t i = 0; i < scores.classes.size(); ++i) {
    const ClassScores& truth = scores.classes[i];
    const int y = top + static_cast<int>(i) * cell;
    if (labelled) {
      const std::string name = xml_escape(class_name(names, truth.label).substr(0, 24));
      svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\" dominant-baseline=\"middle\">{}</text>\n",
                         left - 6, y + cell / 2, name);
      svg += fmt::format("<text transform=\"translate({},{}) rotate(-90)\" dominant-baseline=\"middle\">{}</text>\n",
                         left + static_cast<int>(i) * cell + cell / 2, top - 6, name);
    }
    for (size_t j = 0; j < scores.classes.size(); ++j) {
      const int64_t count = m(truth.label, scores.classes[j].label);
      // White (none of the class) to dark blue (all of it): the share of the true class's row.
      const double share = ratio(count, truth.support);
      const auto channel = [&](int dark) { return static_cast<int>(std::lround(255 + (dark - 255) * share)); };
      const int x = left + static_cast<int>(j) * cell;
      svg += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#{:02x}{:02x}{:02x}\" stroke=\"#dddddd\">"
          "<title>true {}, predicted {}: {} ({:.1f}% of the class)</title></rect>\n",
          x, y, cell, cell, channel(31), channel(78), channel(156), xml_escape(class_name(names, truth.label)),
          xml_escape(class_name(names, scores.classes[j].label)), count, 100 * share);
      if (counts_fit && count > 0)
        svg += fmt::format(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" dominant-baseline=\"middle\" fill=\"{}\">{}</text>\n",
            x + cell / 2, y + cell / 2, share > 0.5 ? "#ffffff" : "#222222", count);
    }
  }
  return svg + "</svg>\n";
}

}  // namespace onnx_train::cli
