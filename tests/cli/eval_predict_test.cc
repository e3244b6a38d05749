// `onnx-train eval` and `onnx-train predict` through the real binary (as cli_e2e_test.cc runs
// it): which split eval scores (a folder with only val/, the --val-split part training held
// out, a checkpoint's weights on its run's model), the confusion matrix and per-class scores
// of a classifier whose predictions the test computes, the --plot heat map, and predict's CSV
// rows on data without labels (npy inputs alone, image folders) with ids, class names and
// probabilities.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cli/cli_harness.h"
#include "tests/support/data_files.h"

namespace onnx_train::cli_test {
namespace {

using testing::write_png_file;

class EvalPredictCli : public CliTest {};

// x [N, C] -> Gemm(identity, 0) -> logits = x: the predicted class is the argmax of x, and the
// softmax of x the probabilities, so the test knows every prediction.
std::string make_identity_classifier(const std::string& path, int64_t classes, int64_t batch = -1) {
  std::vector<float> eye(static_cast<size_t>(classes * classes), 0.f);
  for (int64_t c = 0; c < classes; ++c) eye[static_cast<size_t>(c * classes + c)] = 1.f;
  testing::ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {batch, classes});
  m.initializer("fc.weight", Tensor::from<float>({classes, classes}, eye));
  m.initializer("fc.bias", Tensor::from<float>({classes}, std::vector<float>(static_cast<size_t>(classes), 0.f)));
  m.node("Gemm", {"x", "fc.weight", "fc.bias"}, {"logits"});
  m.attr("transB", 1);
  m.output("logits", onnx::TensorProto::FLOAT, {batch, classes});
  m.save(path);
  return path;
}

// Sets metadata_props entries of the model file, as an onnx-train export writes them.
void add_metadata(const std::string& model, const std::map<std::string, std::string>& entries) {
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(read_file(model))) << model;
  for (const auto& [key, value] : entries) {
    auto* p = proto.add_metadata_props();
    p->set_key(key);
    p->set_value(value);
  }
  write_file(model, proto.SerializeAsString());
}

// (true class, predicted class) pairs of the confusion test; x puts 2 on the predicted class.
const std::vector<std::pair<int64_t, int64_t>> kPairs = {{0, 0}, {0, 0}, {0, 0}, {0, 1}, {1, 1}, {1, 1},
                                                         {1, 2}, {1, 0}, {2, 2}, {2, 2}, {2, 0}};

void write_pairs(const std::string& dir, const std::vector<std::pair<int64_t, int64_t>>& pairs) {
  std::vector<float> x;
  std::vector<int64_t> y;
  for (const auto& [truth, predicted] : pairs) {
    for (int64_t c = 0; c < 3; ++c) x.push_back(c == predicted ? 2.f : 0.5f * static_cast<float>(c));
    y.push_back(truth);
  }
  const auto n = static_cast<int64_t>(pairs.size());
  write_file(dir + "/x.npy", npy("<f4", {n, 3}, bytes_of(x)));
  write_file(dir + "/label.npy", npy("<i8", {n}, bytes_of(y)));
}

// The whitespace-separated words of the line of `text` that starts with `start`.
std::vector<std::string> words_of_line(const std::string& text, const std::string& start) {
  for (const std::string& line : lines_of(text)) {
    if (line.rfind(start, 0) != 0) continue;
    std::istringstream in(line);
    std::vector<std::string> words;
    for (std::string w; in >> w;) words.push_back(w);
    return words;
  }
  return {};
}

std::vector<std::string> csv_cells(const std::string& line) {
  std::vector<std::string> cells;
  std::istringstream in(line);
  for (std::string cell; std::getline(in, cell, ',');) cells.push_back(cell);
  return cells;
}

// ---- Which samples eval scores

TEST_F(EvalPredictCli, EvalScoresAFolderHoldingOnlyVal) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_pair(path("data/val"), separable(12, 4));
  const CliRun r = ok({"eval", model, path("data")});
  EXPECT_HAS(r.out, path("data") + " holds only a validation folder (val/, no train/): scoring it");
  EXPECT_HAS(r.out, "(validation split): loss ");
  EXPECT_HAS(r.out, "of 12), 12 samples");
}

TEST_F(EvalPredictCli, EvalWithValSplitScoresThePartTrainingHeldOut) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_pair(path("data"), separable(40, 2));
  const CliRun train = ok({model, path("data"), "--val-split", "0.25", "--seed", "3", "--batch-size", "8", "--lr",
                           "0.05", "--checkpoint-dir", path("ck"), "-o", path("t.onnx")});
  const size_t done = train.out.find("done: ");
  ASSERT_NE(done, std::string::npos) << train.show();
  const double val_loss = number_after(train.out.substr(done), "val loss ");

  const CliRun held_out = ok({"eval", path("t.onnx"), path("data"), "--val-split", "0.25", "--seed", "3"});
  EXPECT_HAS(held_out.out, "validation split: the 25% training with --val-split 0.25 --seed 3 held out");
  EXPECT_HAS(held_out.out, ", 10 samples");
  EXPECT_NEAR(number_after(held_out.out, "loss "), val_loss, 2e-4) << held_out.out << train.out;

  // The run's checkpoint records its --val-split and --seed: eval scores the same part.
  const CliRun checkpoint = ok({"eval", path("ck/step-000000004.ckpt"), path("data")});
  EXPECT_HAS(checkpoint.out, "validation split: the 25% training with --val-split 0.25 --seed 3 held out");
  EXPECT_NEAR(number_after(checkpoint.out, "loss "), val_loss, 2e-4) << checkpoint.out;

  // Another seed holds out other samples; no --val-split scores all 40, training ones too.
  const CliRun other = ok({"eval", path("t.onnx"), path("data"), "--val-split", "0.25", "--seed", "4"});
  EXPECT_GT(std::fabs(number_after(other.out, "loss ") - val_loss), 1e-6) << other.out;
  const CliRun all = ok({"eval", path("t.onnx"), path("data")});
  EXPECT_HAS(all.out, "(all data): loss ");
  EXPECT_HAS(all.out, ", 40 samples");
}

TEST_F(EvalPredictCli, EvalOfACheckpointScoresItsWeightsOnItsRunsModel) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_data(path("data"), separable(32, 1), 16);
  ok({model, path("data"), "--batch-size", "8", "--lr", "0.05", "--checkpoint-dir", path("ck"), "--plot",
      path("run.svg"), "--quiet", "-o", path("m.onnx")});
  const std::string ckpt = path("ck/step-000000004.ckpt");
  ASSERT_TRUE(fs::exists(ckpt)) << joined(tree(path("ck")));
  const std::string run_plot = read_file(path("run.svg"));

  const CliRun exported = ok({"eval", path("m.onnx"), path("data")});
  const CliRun checkpoint = ok({"eval", ckpt, path("data")});
  EXPECT_HAS(checkpoint.out, "evaluating the weights of " + ckpt + " (step 4) on " + model);
  EXPECT_HAS(checkpoint.out, "scoring the validation split: 16 samples");
  EXPECT_HAS(checkpoint.out, "(validation split): loss ");
  EXPECT_EQ(number_after(checkpoint.out, "loss "), number_after(exported.out, "loss ")) << checkpoint.out;
  EXPECT_EQ(number_after(checkpoint.out, "accuracy "), number_after(exported.out, "accuracy "));
  // The run's own --plot is not eval's output: the training chart is left as it was.
  EXPECT_EQ(read_file(path("run.svg")), run_plot);
  // Options given to eval win over the run's: another data folder, another batch size.
  write_npy_pair(path("other"), separable(6, 9));
  const CliRun other = ok({"eval", ckpt, path("other"), "--batch-size", "4"});
  EXPECT_HAS(other.out, "(all data): loss ");
  EXPECT_HAS(other.out, ", 6 samples");
}

// ---- The classification report

TEST_F(EvalPredictCli, ConfusionMatrixAndPerClassScoresOfKnownPredictions) {
  const std::string model = make_identity_classifier(path("id.onnx"), 3);
  write_pairs(path("data"), kPairs);
  const CliRun r = ok({"eval", model, path("data"), "--plot", path("plots/cm.svg"), "--json", path("eval.json")});
  EXPECT_HAS(r.out, "accuracy 63.64% (7 of 11)");
  EXPECT_HAS(r.out, "confusion matrix (rows: true class, columns: predicted class):");
  // Rows: true class; columns: predicted.
  const std::vector<std::vector<std::string>> rows = {{"0", "3", "1", "0"}, {"1", "1", "2", "1"}, {"2", "1", "0", "2"}};
  const std::vector<std::string> lines = lines_of(r.out);
  const auto header = std::find_if(lines.begin(), lines.end(),
                                   [](const std::string& l) { return l.rfind("confusion matrix", 0) == 0; });
  ASSERT_NE(header, lines.end()) << r.out;
  ASSERT_GT(lines.end() - header, 5) << r.out;
  for (size_t i = 0; i < rows.size(); ++i) {
    std::istringstream in(*(header + 2 + static_cast<long>(i)));
    std::vector<std::string> words;
    for (std::string w; in >> w;) words.push_back(w);
    EXPECT_EQ(words, rows[i]) << r.out;
  }
  // precision = tp / predicted, recall = tp / support, F1 their harmonic mean.
  // class 0: 3 / 5, 3 / 4; class 1: 2 / 3, 2 / 4; class 2: 2 / 3, 2 / 3.
  const auto f1 = [](double p, double q) { return 2 * p * q / (p + q); };
  const double precision[] = {0.6, 2.0 / 3, 2.0 / 3}, recall[] = {0.75, 0.5, 2.0 / 3}, support[] = {4, 4, 3};
  double macro[3] = {0, 0, 0}, weighted[3] = {0, 0, 0};
  for (int c = 0; c < 3; ++c) {
    // The per-class table's rows come after the matrix, so the second line starting "  c ".
    std::vector<std::string> found;
    int seen = 0;
    for (const std::string& line : lines_of(r.out))
      if (line.rfind(fmt::format("  {} ", c), 0) == 0 && ++seen == 2) found = words_of_line(line, "  ");
    ASSERT_EQ(found.size(), 5u) << r.out;
    const double expected[] = {precision[c], recall[c], f1(precision[c], recall[c]), support[c]};
    for (int k = 0; k < 4; ++k) EXPECT_NEAR(std::stod(found[static_cast<size_t>(k + 1)]), expected[k], 5e-5) << r.out;
    for (int k = 0; k < 3; ++k) {
      macro[k] += expected[k] / 3;
      weighted[k] += expected[k] * support[c] / 11;
    }
  }
  const std::vector<std::string> macro_row = words_of_line(r.out, "  macro avg");
  const std::vector<std::string> weighted_row = words_of_line(r.out, "  weighted avg");
  ASSERT_EQ(macro_row.size(), 6u) << r.out;
  ASSERT_EQ(weighted_row.size(), 6u) << r.out;
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(std::stod(macro_row[static_cast<size_t>(k + 2)]), macro[k], 5e-5) << r.out;
    EXPECT_NEAR(std::stod(weighted_row[static_cast<size_t>(k + 2)]), weighted[k], 5e-5) << r.out;
  }
  EXPECT_EQ(weighted_row[5], "11");

  // The heat map: one cell per pair, each with its count and share of the true class.
  EXPECT_HAS(r.out, "wrote " + path("plots/cm.svg") + ": the confusion matrix");
  const std::string svg = read_file(path("plots/cm.svg"));
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u) << svg.substr(0, 200);
  EXPECT_EQ(count_of(svg, "<rect x="), 1 + 9);  // the background and 3 x 3 cells
  EXPECT_HAS(svg, "<title>true 0, predicted 1: 1 (25.0% of the class)</title>");
  EXPECT_HAS(svg, "<title>true 2, predicted 2: 2 (66.7% of the class)</title>");
  EXPECT_FALSE(fs::exists(path("plots/cm.svg.partial")));
  EXPECT_HAS(svg, "</svg>\n");

  // --json: the same numbers for a program.
  const std::string text = read_file(path("eval.json"));
  EXPECT_EQ(count_of(text, "\n"), 1) << text;  // one object on one line
  const nlohmann::json json = nlohmann::json::parse(text);
  EXPECT_EQ(json.at("split"), "all data");
  EXPECT_EQ(json.at("samples"), 11);
  EXPECT_EQ(json.at("classes"), nlohmann::json({"0", "1", "2"}));
  EXPECT_EQ(json.at("confusion_matrix"), nlohmann::json({{3, 1, 0}, {1, 2, 1}, {1, 0, 2}}));
  EXPECT_EQ(json.at("per_class").at(0).at("class"), "0");
  EXPECT_DOUBLE_EQ(json.at("per_class").at(0).at("precision").get<double>(), 0.6);
  EXPECT_DOUBLE_EQ(json.at("per_class").at(0).at("recall").get<double>(), 0.75);
  EXPECT_EQ(json.at("weighted_avg").at("support"), 11);
}

// BCE with logits, one logit per sample: class 1 when it is > 0.
TEST_F(EvalPredictCli, BinaryClassifierGetsATwoByTwoMatrix) {
  const std::string model = make_identity_classifier(path("binary.onnx"), 1);
  const std::vector<float> logits = {-1.f, 2.f, 0.5f, -3.f, 1.f}, labels = {0, 1, 0, 1, 1};
  write_file(path("data/x.npy"), npy("<f4", {5, 1}, bytes_of(logits)));
  write_file(path("data/label.npy"), npy("<f4", {5, 1}, bytes_of(labels)));
  const CliRun r = ok({"eval", model, path("data"), "--loss", "bce-with-logits"});
  EXPECT_HAS(r.out, "accuracy 60.00% (3 of 5)");
  EXPECT_EQ(words_of_line(r.out, "  0 "), (std::vector<std::string>{"0", "1", "1"})) << r.out;
  EXPECT_EQ(words_of_line(r.out, "  1 "), (std::vector<std::string>{"1", "1", "2"})) << r.out;
}

TEST_F(EvalPredictCli, ManyClassesListTheTopConfusionsInsteadOfTheMatrix) {
  constexpr int64_t kClasses = 24;
  const std::string model = make_identity_classifier(path("id.onnx"), kClasses);
  // Every class once right; class 5 taken for 7 three times, 9 for 2 once.
  std::vector<float> x;
  std::vector<int64_t> y;
  auto add = [&](int64_t truth, int64_t predicted) {
    for (int64_t c = 0; c < kClasses; ++c) x.push_back(c == predicted ? 1.f : 0.f);
    y.push_back(truth);
  };
  for (int64_t c = 0; c < kClasses; ++c) add(c, c);
  for (int i = 0; i < 3; ++i) add(5, 7);
  add(9, 2);
  const auto n = static_cast<int64_t>(y.size());
  write_file(path("data/x.npy"), npy("<f4", {n, kClasses}, bytes_of(x)));
  write_file(path("data/label.npy"), npy("<i8", {n}, bytes_of(y)));
  const CliRun r = ok({"eval", model, path("data")});
  EXPECT_LACKS(r.out, "confusion matrix (rows");
  EXPECT_HAS(r.out, "24 classes occur: the most frequent confusions instead of the full matrix:\n"
                    "        3  true 5 predicted as 7\n"
                    "        1  true 9 predicted as 2\n");
  EXPECT_EQ(words_of_line(r.out, "  23 ").size(), 5u) << r.out;  // a row per class still
}

TEST_F(EvalPredictCli, EvalNamesTheClassesOfImageFolders) {
  const std::string model = make_linear(path("colours.onnx"), {3, 6, 6}, 3);
  for (const std::string colour : {"red", "green", "blue"}) write_colour(path("data/train"), colour, 8, colour[0]);
  ok({model, path("data"), "--epochs", "4", "--batch-size", "8", "--lr", "0.02", "--quiet", "-o",
      path("out/colours.onnx")});
  write_colour(path("eval"), "red", 3, 7);
  write_colour(path("eval"), "blue", 2, 8);
  const CliRun r = ok({"eval", path("out/colours.onnx"), path("eval")});
  EXPECT_HAS(r.out, "accuracy 100.00% (5 of 5)");
  EXPECT_HAS(r.out, "scoring all data: 5 images in 2 class folders of " + path("eval"));
  // Only the classes that occur: blue and red, by name.
  const std::vector<std::string> lines = lines_of(r.out);
  const auto header = std::find(lines.begin(), lines.end(), "confusion matrix (rows: true class, columns: predicted class):");
  ASSERT_NE(header, lines.end()) << r.out;
  EXPECT_EQ(words_of_line(*(header + 1), " "), (std::vector<std::string>{"blue", "red"})) << r.out;
  EXPECT_EQ(words_of_line(r.out, "  blue "), (std::vector<std::string>{"blue", "2", "0"})) << r.out;
  EXPECT_EQ(words_of_line(r.out, "  red "), (std::vector<std::string>{"red", "0", "3"})) << r.out;
}

TEST_F(EvalPredictCli, PlotOfARegressionIsRefusedBeforeWork) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_pair(path("data"), separable(8, 1));
  fails({"eval", model, path("data"), "--loss", "mse", "--plot", path("cm.svg")},
        {"eval --plot " + path("cm.svg"), "confusion matrix of a classifier", "--loss mse"});
  EXPECT_FALSE(fs::exists(path("cm.svg")));
}

// ---- predict

TEST_F(EvalPredictCli, PredictWritesSoftmaxRowsForInputsWithoutLabels) {
  const std::string model = make_identity_classifier(path("id.onnx"), 3);
  // x alone: no label file.
  const std::vector<std::vector<float>> logits = {{1, 2, 3}, {0.5f, -1, 0}, {4, 4, -2}, {0, 0, 0}, {-3, 2, 1}};
  std::vector<float> x;
  for (const auto& row : logits) x.insert(x.end(), row.begin(), row.end());
  write_file(path("data/x.npy"), npy("<f4", {5, 3}, bytes_of(x)));
  const CliRun r = ok({"predict", model, path("data"), "-o", path("out/predictions.csv"), "--batch-size", "2"});
  EXPECT_HAS(r.out, "wrote " + path("out/predictions.csv") + ": 5 predictions of " + model);
  EXPECT_HAS(r.out, "softmax of the output");
  const std::vector<std::string> lines = lines_of(read_file(path("out/predictions.csv")));
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0], "id,predicted,prob_0,prob_1,prob_2");
  for (size_t i = 0; i < logits.size(); ++i) {
    const std::vector<std::string> cells = csv_cells(lines[i + 1]);
    ASSERT_EQ(cells.size(), 5u) << lines[i + 1];
    EXPECT_EQ(cells[0], std::to_string(i));
    const auto& z = logits[i];
    const size_t best = static_cast<size_t>(std::max_element(z.begin(), z.end()) - z.begin());
    EXPECT_EQ(cells[1], std::to_string(best)) << lines[i + 1];
    double sum_exp = 0, sum = 0;
    for (const float v : z) sum_exp += std::exp(v);
    for (size_t c = 0; c < 3; ++c) {
      EXPECT_NEAR(std::stod(cells[c + 2]), std::exp(z[c]) / sum_exp, 1e-5) << lines[i + 1];
      sum += std::stod(cells[c + 2]);
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  EXPECT_FALSE(fs::exists(path("out/predictions.csv.partial")));

  // --top-k 2: the two most probable classes, most probable first.
  ok({"predict", model, path("data"), "-o", path("top.csv"), "--top-k", "2"});
  const std::vector<std::string> top = lines_of(read_file(path("top.csv")));
  ASSERT_EQ(top.size(), 6u);
  EXPECT_EQ(top[0], "id,predicted,class_1,prob_1,class_2,prob_2");
  EXPECT_EQ(csv_cells(top[1])[2], "2");
  EXPECT_EQ(csv_cells(top[1])[4], "1");

  // A CSV without a label column: its columns fill the model's input.
  write_file(path("csv/table.csv"), "a,b,c\n1,2,3\n4,0,1\n");
  ok({"predict", model, path("csv"), "-o", path("csv.csv")});
  const std::vector<std::string> csv_rows = lines_of(read_file(path("csv.csv")));
  ASSERT_EQ(csv_rows.size(), 3u);
  EXPECT_EQ(csv_cells(csv_rows[1])[1], "2");
  EXPECT_EQ(csv_cells(csv_rows[2])[1], "0");

  // An id column left out of the features names the rows (in every file of the split).
  write_file(path("ids/a.csv"), "customer_id,a,b,c\nC-17,1,2,3\nC-4,4,0,1\n");
  write_file(path("ids/b.csv"), "customer_id,a,b,c\nX 9,0,5,1\n");
  ok({"predict", model, path("ids"), "-o", path("ids.csv"), "--ignore-columns", "customer_id"});
  const std::vector<std::string> id_rows = lines_of(read_file(path("ids.csv")));
  ASSERT_EQ(id_rows.size(), 4u);
  EXPECT_EQ(csv_cells(id_rows[1])[0], "C-17");
  EXPECT_EQ(csv_cells(id_rows[2])[0], "C-4");
  EXPECT_EQ(csv_cells(id_rows[3])[0], "X 9");
  EXPECT_EQ(csv_cells(id_rows[3])[1], "1");

  // A model trained on a CSV: predictions on a CSV that still holds the label column leave it
  // out (the model's training.label), and DATA may be the file itself.
  write_file(path("labelled/train.csv"), "a,b,c,target\n1,2,3,2\n4,0,1,0\n0,5,1,1\n");
  ok({model, path("labelled"), "--label", "target", "--epochs", "1", "--batch-size", "3", "--lr", "0", "-o",
      path("trained.onnx")});
  ok({"predict", path("trained.onnx"), path("labelled/train.csv"), "-o", path("labelled.csv")});
  const std::vector<std::string> labelled_rows = lines_of(read_file(path("labelled.csv")));
  ASSERT_EQ(labelled_rows.size(), 4u);
  EXPECT_EQ(csv_cells(labelled_rows[1])[1], "2");
  EXPECT_EQ(csv_cells(labelled_rows[2])[1], "0");
  EXPECT_EQ(csv_cells(labelled_rows[3])[1], "1");

  // Rows that are probabilities already are written as they are, not softmaxed again.
  const std::vector<float> probabilities = {0.2f, 0.5f, 0.3f, 1.f, 0.f, 0.f};
  write_file(path("probs/x.npy"), npy("<f4", {2, 3}, bytes_of(probabilities)));
  const CliRun as_is = ok({"predict", model, path("probs"), "-o", path("probs.csv")});
  EXPECT_HAS(as_is.out, "probabilities already");
  EXPECT_EQ(lines_of(read_file(path("probs.csv")))[1], "0,1,0.2,0.5,0.3");
}

TEST_F(EvalPredictCli, PredictNamesImagesAndClassesOfATrainedModel) {
  const std::string model = make_linear(path("colours.onnx"), {3, 6, 6}, 3);
  for (const std::string colour : {"red", "green", "blue"}) write_colour(path("data/train"), colour, 8, colour[0]);
  ok({model, path("data"), "--epochs", "4", "--batch-size", "8", "--lr", "0.02", "--mean", "0.5", "--std", "0.25",
      "--quiet", "-o", path("out/colours.onnx")});
  // Unlabelled pictures in folders that are no class: predicting needs no labels. The stored
  // mean and std apply without being given again.
  write_colour(path("new"), "red", 3, 21, "batch1");
  write_colour(path("new"), "green", 2, 22, "batch2");
  const CliRun r = ok({"predict", path("out/colours.onnx"), path("new"), "-o", path("p.csv")});
  EXPECT_HAS(r.out, "normalising by the mean and std stored in the model " + path("out/colours.onnx"));
  const std::vector<std::string> lines = lines_of(read_file(path("p.csv")));
  ASSERT_EQ(lines.size(), 6u) << read_file(path("p.csv"));
  EXPECT_EQ(lines[0], "id,predicted,prob_blue,prob_green,prob_red");
  const std::vector<std::pair<std::string, std::string>> expected = {{"batch1/img0.png", "red"},
                                                                     {"batch1/img1.png", "red"},
                                                                     {"batch1/img2.png", "red"},
                                                                     {"batch2/img0.png", "green"},
                                                                     {"batch2/img1.png", "green"}};
  for (size_t i = 0; i < expected.size(); ++i) {
    const std::vector<std::string> cells = csv_cells(lines[i + 1]);
    ASSERT_EQ(cells.size(), 5u) << lines[i + 1];
    EXPECT_EQ(cells[0], expected[i].first);
    EXPECT_EQ(cells[1], expected[i].second) << lines[i + 1];
    EXPECT_NEAR(std::stod(cells[2]) + std::stod(cells[3]) + std::stod(cells[4]), 1.0, 1e-5) << lines[i + 1];
  }
}

TEST_F(EvalPredictCli, PredictReadsTheOutputAsTheModelsTrainingLossSays) {
  // training.loss bce-with-logits: one logit per sample, sigmoid(z) the probability of class 1.
  const std::string binary = make_identity_classifier(path("binary.onnx"), 1);
  add_metadata(binary, {{"training.loss", "bce-with-logits"}, {"data.classes", "[\"cat\", \"dog\"]"}});
  const std::vector<float> logits = {-2.f, 0.5f, 3.f};
  write_file(path("one/x.npy"), npy("<f4", {3, 1}, bytes_of(logits)));
  const CliRun r = ok({"predict", binary, path("one"), "-o", path("binary.csv")});
  EXPECT_HAS(r.out, "sigmoid of the output (logits), as the model's training.loss bce-with-logits says");
  const std::vector<std::string> lines = lines_of(read_file(path("binary.csv")));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "id,predicted,prob_dog");
  for (size_t i = 0; i < logits.size(); ++i) {
    const std::vector<std::string> cells = csv_cells(lines[i + 1]);
    ASSERT_EQ(cells.size(), 3u) << lines[i + 1];
    EXPECT_EQ(cells[1], logits[i] > 0 ? "dog" : "cat");
    EXPECT_NEAR(std::stod(cells[2]), 1 / (1 + std::exp(-logits[i])), 1e-5);
  }
  // training.loss nll: the output holds log-probabilities, exp gives the probabilities.
  const std::string nll = make_identity_classifier(path("nll.onnx"), 3);
  add_metadata(nll, {{"training.loss", "nll"}});
  const std::vector<float> log_p = {std::log(0.1f), std::log(0.7f), std::log(0.2f)};
  write_file(path("three/x.npy"), npy("<f4", {1, 3}, bytes_of(log_p)));
  const CliRun n = ok({"predict", nll, path("three"), "-o", path("nll.csv")});
  EXPECT_HAS(n.out, "exp of the output (log-probabilities), as the model's training.loss nll says");
  EXPECT_EQ(lines_of(read_file(path("nll.csv")))[1], "0,1,0.1,0.7,0.2");
  // --loss given here wins over the metadata: cross-entropy reads them as logits.
  const CliRun given = ok({"predict", nll, path("three"), "-o", path("ce.csv"), "--loss", "cross-entropy"});
  EXPECT_HAS(given.out, "softmax of the output (logits), as --loss cross-entropy says");
}

TEST_F(EvalPredictCli, PredictFillsTheLastBatchOfAFixedBatchModelAndReadsLooseImages) {
  // A model exported for batches of exactly 4: 6 samples make a batch and a padded one.
  const std::string fixed = make_identity_classifier(path("fixed.onnx"), 3, 4);
  write_pairs(path("pairs"), std::vector<std::pair<int64_t, int64_t>>(kPairs.begin(), kPairs.begin() + 6));
  ok({"predict", fixed, path("pairs"), "-o", path("fixed.csv")});
  const std::vector<std::string> lines = lines_of(read_file(path("fixed.csv")));
  ASSERT_EQ(lines.size(), 7u) << read_file(path("fixed.csv"));
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(csv_cells(lines[i + 1])[1], std::to_string(kPairs[i].second)) << i;

  // Pictures right in DATA, without class folders: named by their file.
  const std::string model = make_linear(path("colours.onnx"), {3, 6, 6}, 3);
  write_colour(path("photos"), "red", 2, 5, ".");
  const CliRun r = ok({"predict", model, path("photos"), "-o", path("photos.csv")});
  const std::vector<std::string> rows = lines_of(read_file(path("photos.csv")));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(csv_cells(rows[1])[0], "img0.png");
  EXPECT_EQ(csv_cells(rows[2])[0], "img1.png");
  // Training needs labels: the same folder says where the class folders go.
  fails({model, path("photos")}, {"images in " + path("photos"), "2 images without class folders carry no class labels",
                                  path("photos") + "/<class>/*.png"});
}

TEST_F(EvalPredictCli, PredictWritesRegressionValuesAndChecksItsOutputFirst) {
  const std::string model = make_linear(path("reg.onnx"), {4}, 1);
  write_file(path("data/x.npy"), x_npy(separable(3, 5)));
  const CliRun r = ok({"predict", model, path("data"), "-o", path("values.csv")});
  EXPECT_HAS(r.out, "regression");
  const std::vector<std::string> lines = lines_of(read_file(path("values.csv")));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "id,output_0");
  EXPECT_EQ(csv_cells(lines[3]).size(), 2u);
  // -o is checked before any work; without it the command says what it needs.
  fails({"predict", model, path("data")}, {"predict needs -o FILE.csv"});
  fs::create_directories(path("a_folder"));
  fails({"predict", model, path("data"), "-o", path("a_folder")}, {"-o " + path("a_folder"), "is a folder"});
}

}  // namespace
}  // namespace onnx_train::cli_test
