// tools/onnx-train/classification_report.h: what `onnx-train eval` says of a classifier beyond
// its accuracy: the confusion matrix and per-class precision, recall and F1, as a text table
// and as an SVG heat map (`eval --plot FILE.svg`).
//
//   ConfusionMatrix m(3);
//   m.add_batch(logits, labels, /*ignore_index=*/-100);   // argmax over axis 1 per position
//   std::printf("%s", classification_report_text(m, {"cat", "dog", "fox"}).c_str());
//   write_file_atomically("--plot", "cm.svg", confusion_matrix_svg(m, names, "model on data"));
//
// The numbers, for class c with tp = m(c, c):
//   precision = tp / (samples predicted c)    recall = tp / (samples of class c, its support)
//   F1 = 2 precision recall / (precision + recall)
// each 0 when its denominator is 0 (as scikit-learn's zero_division=0). The macro average is
// the plain mean over the classes shown, the weighted one weights each by its support. Only
// the classes that occur (as a label or as a prediction) are shown: a 1000-way head scored on
// 3 classes of data shows those 3 and whatever else it predicted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "onnx_train/tensor.h"

namespace onnx_train::cli {

// Counts of (true class, predicted class) pairs.
class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int64_t classes);
  int64_t classes() const { return classes_; }
  int64_t operator()(int64_t truth, int64_t predicted) const { return counts_[index(truth, predicted)]; }
  void add(int64_t truth, int64_t predicted) { ++counts_[index(truth, predicted)]; }
  // Class scores [N, C, d1, ...] (float32) against labels [N, d1, ...]: the prediction at
  // each position is the argmax over C; labels equal to `ignore_index` are passed over.
  // `scores` hold the classes on `class_axis` (1: [N, C, inner...]; the last: [N, ..., C]).
  void add_scores(const Tensor& scores, const Tensor& labels, int64_t ignore_index, int64_t class_axis = 1);
  // One logit per sample (BCE with logits): class 1 when the logit is > 0, against label > 0.5.
  void add_binary(const Tensor& logits, const Tensor& labels);
  int64_t total() const;
  int64_t support(int64_t truth) const;       // samples of this class
  int64_t predicted(int64_t predicted) const;  // samples predicted as this class

 private:
  size_t index(int64_t truth, int64_t predicted) const;
  int64_t classes_;
  std::vector<int64_t> counts_;  // [truth * classes + predicted]
};

struct ClassScores {
  int64_t label = 0;  // the class index
  double precision = 0, recall = 0, f1 = 0;
  int64_t support = 0;
};

struct ClassificationScores {
  std::vector<ClassScores> classes;  // the classes that occur, by index
  ClassScores macro, weighted;       // label -1
  double accuracy = 0;
  int64_t total = 0;
};

ClassificationScores score_classes(const ConfusionMatrix& matrix);

// The class's name when `names` has it (image folders, a model's data.classes), else its index.
std::string class_name(const std::vector<std::string>& names, int64_t label);

// Tables at most this many classes wide show the full matrix; beyond, the most frequent
// confusions are listed instead (a 1000-column table helps no one).
constexpr size_t kFullMatrixClasses = 20;

// The text eval prints: the confusion matrix (rows: true class, columns: predicted), or the
// top confusions past kFullMatrixClasses; then precision, recall, F1 and support per class
// and their macro and weighted averages.
std::string classification_report_text(const ConfusionMatrix& matrix, const std::vector<std::string>& names);

// The same as members added to the JSON object `out`, for `eval --json`:
//   "classes": ["cat", ...], "confusion_matrix": [[5, 0, 1], ...] (rows: true class),
//   "per_class": [{"class": "cat", "precision": 0.8, "recall": 1, "f1": 0.89, "support": 4}, ...],
//   "macro_avg": {...}, "weighted_avg": {...}
// over the classes that occur, as the text shows them (the full matrix at any class count).
void add_classification_report(nlohmann::ordered_json& out, const ConfusionMatrix& matrix,
                               const std::vector<std::string>& names);

// A self-contained SVG heat map of the matrix (the classes that occur): each cell shaded by
// its share of the row (the fraction of the true class predicted so), with its count when the
// cells are large enough to hold it.
std::string confusion_matrix_svg(const ConfusionMatrix& matrix, const std::vector<std::string>& names,
                                 const std::string& title);

}  // namespace onnx_train::cli
