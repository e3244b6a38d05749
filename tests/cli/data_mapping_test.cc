// Mapping data to a model, end to end (the real binary, as tests/cli/cli_e2e_test.cc runs it):
// --input NAME=FILE_OR_COLUMNS for files and csv columns not named after the model input,
// --label for a label named otherwise, csv's --columns and --ignore-columns, csv class labels
// given as names (kept in the model's metadata like image classes, mapped by name in the
// validation split, eval and a resumed run), and the errors that offer these flags before a
// rename.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tests/cli/cli_harness.h"

namespace onnx_train::cli_test {
namespace {

class DataMappingCli : public CliTest {};

// INPUT [N, features] -> Gemm(classes) -> logits, weights from std::mt19937(11): a linear
// classifier whose input is named `input`.
std::string make_classifier(const std::string& path, const std::string& input, int64_t features, int64_t classes) {
  std::mt19937 rng(11);
  testing::ModelBuilder m(13);
  m.input(input, onnx::TensorProto::FLOAT, {-1, features});
  m.initializer("fc.weight", random_tensor({classes, features}, rng, 0.05f));
  m.initializer("fc.bias", random_tensor({classes}, rng, 0.05f));
  m.node("Gemm", {input, "fc.weight", "fc.bias"}, {"logits"});
  m.attr("transB", 1);
  m.output("logits", onnx::TensorProto::FLOAT, {-1, classes});
  m.save(path);
  return path;
}

// Two inputs a [N, 2] and b [N, 2], concatenated and classified into 3 classes.
std::string make_two_inputs(const std::string& path) {
  std::mt19937 rng(11);
  testing::ModelBuilder m(13);
  m.input("a", onnx::TensorProto::FLOAT, {-1, 2});
  m.input("b", onnx::TensorProto::FLOAT, {-1, 2});
  m.initializer("fc.weight", random_tensor({3, 4}, rng, 0.05f));
  m.initializer("fc.bias", random_tensor({3}, rng, 0.05f));
  m.node("Concat", {"a", "b"}, {"ab"});
  m.attr("axis", 1);
  m.node("Gemm", {"ab", "fc.weight", "fc.bias"}, {"logits"});
  m.attr("transB", 1);
  m.output("logits", onnx::TensorProto::FLOAT, {-1, 3});
  m.save(path);
  return path;
}

const char* const kSpecies[] = {"setosa", "versicolor", "virginica"};

// A csv of the separable samples: `header` names the columns, and each row's cells come from
// `cell(column, sample)`.
struct CsvColumn {
  std::string name;
  std::function<std::string(const Samples&, int)> cell;
};
CsvColumn feature(int j) {
  return {fmt::format("f{}", j), [j](const Samples& s, int i) { return fmt::format("{:.6g}", s.x[4 * i + j]); }};
}
CsvColumn label_column(const std::string& name) {
  return {name, [](const Samples& s, int i) { return std::to_string(s.y[i]); }};
}
CsvColumn species_column(const std::string& name) {
  return {name, [](const Samples& s, int i) { return std::string(kSpecies[s.y[i]]); }};
}
CsvColumn id_column(const std::string& name, const std::string& prefix) {
  return {name, [prefix](const Samples&, int i) { return prefix + std::to_string(1000 + i); }};
}

std::string csv_of(const Samples& s, const std::vector<CsvColumn>& columns) {
  std::string text;
  for (size_t c = 0; c < columns.size(); ++c) text += (c ? "," : "") + columns[c].name;
  text += "\n";
  for (int i = 0; i < s.n; ++i) {
    for (size_t c = 0; c < columns.size(); ++c) text += (c ? "," : "") + columns[c].cell(s, i);
    text += "\n";
  }
  return text;
}

const std::vector<std::string> kQuick = {"--batch-size", "8", "--epochs", "3", "--lr", "0.05", "--no-shuffle"};

// ---- Files and arrays

TEST_F(DataMappingCli, AnNpyFileFeedsTheInputItIsMappedTo) {
  const std::string model = make_classifier(path("m.onnx"), "features", 4, 3);
  write_npy_data(path("data"), separable(40, 1), 16);
  // x.npy is the only file no field takes: the message names the flag with it.
  fails({model, path("data")},
        {path("data/train") + ": no features.npy for the model input 'features'; the folder holds label.npy, x.npy",
         "pass --input features=x.npy (or name the file features.npy)"});
  fails({model, path("data"), "--input", "feature=x.npy"},
        {"--input feature=x.npy: the model has no input 'feature'; its inputs are features"});
  fails({model, path("data"), "--input", "features=z.npy"},
        {path("data/train") + ": --input features=z.npy: no such .npy file; the folder holds label.npy, x.npy"});
  fails({model, path("data"), "--input", "features"}, {"--input takes NAME=SOURCE", "got 'features'"});
  fails({model, path("data"), "--input", "features=x.npy", "--ignore-columns", "id"},
        {path("data/train") + ": --columns and --ignore-columns choose csv columns, but the train data is npy"});

  const CliRun r = ok(plus({model, path("data"), "--input", "features=x.npy", "-o", path("out.onnx")}, kQuick));
  EXPECT_HAS(r.out, "train: 40 samples from " + path("data/train/x.npy") + ", " + path("data/train/label.npy"));
  EXPECT_GE(number_after(r.out, "val accuracy "), 90.0) << r.show();
  // The stem finds the same file; eval takes the mapping too.
  ok(plus({model, path("data"), "--input", "features=x", "-o", path("out2.onnx")}, kQuick));
  const CliRun eval = ok({"eval", path("out.onnx"), path("data"), "--input", "features=x.npy"});
  EXPECT_HAS(eval.out, "accuracy ");
  // A path below the split folder.
  const Samples s = separable(24, 3);
  write_file(path("nested/train/arrays/x.npy"), x_npy(s));
  write_file(path("nested/train/label.npy"), y_npy(s));
  const CliRun nested = ok(plus({model, path("nested"), "--input", "features=arrays/x.npy"}, kQuick));
  EXPECT_HAS(nested.out, "train: 24 samples from " + path("nested/train/arrays/x.npy"));
  fails({model, path("nested"), "--input", "features=arrays/z.npy"},
        {path("nested/train") + ": --input features=arrays/z.npy: no such .npy file (" +
         path("nested/train/arrays/z.npy") + ")"});
}

TEST_F(DataMappingCli, ALabelFileNamedOtherwiseIsOfferedToLabel) {
  const std::string model = make_classifier(path("m.onnx"), "features", 4, 3);
  const Samples s = separable(24, 1);
  write_file(path("data/train_x.npy"), x_npy(s));
  write_file(path("data/train_labels.npy"), y_npy(s));
  // Two fields missing, two files unused: the label-like one goes to --label.
  fails({model, path("data")},
        {"no features.npy for the model input 'features' and no label.npy for the label",
         "pass --input features=x.npy --label labels (or name the files features.npy and label.npy)"});
  const CliRun r = ok(plus({model, path("data"), "--input", "features=x.npy", "--label", "labels"}, kQuick));
  EXPECT_HAS(r.out, "train: 24 samples from " + path("data/train_x.npy"));
}

// Image folders feed the model's image input by themselves: a mapping for them is refused.
TEST_F(DataMappingCli, ImageFoldersTakeNoInputMapping) {
  const std::string model = make_linear(path("m.onnx"), {3, 4, 4}, 2);
  for (const std::string folder : {"cat", "dog"})
    testing::write_png_file(path("data/train/" + folder + "/1.png"), 4, 4, 3, std::vector<uint8_t>(48, 9));
  fails({model, path("data"), "--input", "x=cat"},
        {path("data/train") + ": --input x=...: the train data is image class folders, which feeds the model's image "
                              "input by itself; leave --input out"});
}

// ---- csv

TEST_F(DataMappingCli, CsvIdAndNameColumnsAreLeftOutWithIgnoreColumns) {
  const std::string model = make_classifier(path("m.onnx"), "x", 4, 3);
  const Samples t = separable(40, 1), v = separable(16, 2);
  const std::vector<CsvColumn> numeric_id = {id_column("id", ""), feature(0), feature(1),
                                             feature(2),          feature(3), label_column("label")};
  write_file(path("ids/train.csv"), csv_of(t, numeric_id));
  // A numeric id would be a fifth feature: the count is off, and the id is named.
  fails({model, path("ids")},
        {path("ids/train.csv") + ": the model input 'x' takes 4 values per sample ([4]), but 5 columns feed it (id, "
                                 "f0, f1, f2, f3); leave id out with --ignore-columns id"});
  const std::vector<CsvColumn> named = {
      id_column("id", ""), id_column("name", "sample-"), feature(0), feature(1), feature(2),
      feature(3),          label_column("label")};
  write_file(path("data/train.csv"), csv_of(t, named));
  write_file(path("data/val.csv"), csv_of(v, named));
  // One column too many again, then text in a feature column: each names the flag that leaves
  // the column out.
  fails({model, path("data"), "--ignore-columns", "id"},
        {"5 columns feed it (name, f0, f1, f2, f3); leave name out with --ignore-columns name"});
  fails({model, path("data"), "--ignore-columns", "id,f3"},
        {path("data/train.csv") + ", line 2, column 2 ('name'): 'sample-1000' is not a number",
         "the column feeds the model input 'x', which takes numbers: leave it out with --ignore-columns name"});
  fails({model, path("data"), "--ignore-columns", "id,nmae"},
        {path("data/train.csv") + ": --ignore-columns nmae: no such column; the header has id, name, f0, f1, f2, f3, "
                                  "label"});
  const CliRun r = ok(plus({model, path("data"), "--ignore-columns", "id,name"}, kQuick));
  EXPECT_HAS(r.out, "train: 40 samples from " + path("data/train.csv") + " (csv)");
  EXPECT_GE(number_after(r.out, "val accuracy "), 90.0) << r.show();
}

// --columns picks the features and their order: a shuffled file with an extra column trains
// exactly as the plain one, and another order does not.
TEST_F(DataMappingCli, CsvColumnsChooseTheFeaturesInOrder) {
  const std::string model = make_classifier(path("m.onnx"), "x", 4, 3);
  const Samples t = separable(40, 1);
  write_file(path("plain/train.csv"),
             csv_of(t, {feature(0), feature(1), feature(2), feature(3), label_column("label")}));
  write_file(path("shuffled/train.csv"), csv_of(t, {feature(3), label_column("label"), id_column("extra", ""),
                                                    feature(1), feature(0), feature(2)}));
  const double plain = number_after(ok(plus({model, path("plain")}, kQuick)).out, "train loss (epoch mean) ");
  const CliRun chosen = ok(plus({model, path("shuffled"), "--columns", "f0,f1,f2,f3"}, kQuick));
  EXPECT_EQ(number_after(chosen.out, "train loss (epoch mean) "), plain) << chosen.show();
  const CliRun swapped = ok(plus({model, path("shuffled"), "--columns", "f1,f0,f2,f3"}, kQuick));
  EXPECT_NE(number_after(swapped.out, "train loss (epoch mean) "), plain) << swapped.show();
  fails({model, path("shuffled"), "--columns", "f0,f1,f2,f9"},
        {path("shuffled/train.csv") + ": --columns f0,f1,f2,f9: no column 'f9'; the header has f3, label, extra, f1, "
                                      "f0, f2"});
  fails({model, path("shuffled"), "--columns", "f0,f1,label,f3"},
        {"column 'label' is taken twice: by the label 'label' and by --columns f0,f1,label,f3"});
}

TEST_F(DataMappingCli, CsvColumnsFeedSeveralInputs) {
  const std::string model = make_two_inputs(path("two.onnx"));
  const Samples t = separable(40, 1), v = separable(16, 2);
  const std::vector<CsvColumn> columns = {feature(0), feature(1), feature(2), feature(3), label_column("label")};
  write_file(path("data/train.csv"), csv_of(t, columns));
  write_file(path("data/val.csv"), csv_of(v, columns));
  fails({model, path("data")},
        {"the model takes 2 inputs (a, b), and csv columns fill one input by default; map the others with --input "
         "NAME=COLUMN,COLUMN,..."});
  const CliRun r = ok(plus({model, path("data"), "--input", "a=f0,f1", "--input", "b=*"}, kQuick));
  EXPECT_GE(number_after(r.out, "val accuracy "), 90.0) << r.show();
}

TEST_F(DataMappingCli, ALabelColumnNamedOtherwiseIsOfferedToLabel) {
  const std::string model = make_classifier(path("m.onnx"), "x", 2, 3);
  write_file(path("data/train.csv"), "id,x1,x2,labels\n1,0.5,1,0\n2,1,0.5,1\n3,0,0,2\n");
  fails({model, path("data")}, {path("data/train.csv") + ": no column 'label' for the label; the header has id, x1, "
                                                         "x2, labels: pass --label labels (or name the label column "
                                                         "'label')"});
  ok({model, path("data"), "--label", "labels", "--ignore-columns", "id", "--batch-size", "3"});
}

// No column named like a label: the last one that does not name rows is offered, as tables
// conventionally keep their target last.
TEST_F(DataMappingCli, WithoutALabelLikeNameTheLastColumnIsOffered) {
  const std::string model = make_classifier(path("m.onnx"), "x", 2, 3);
  write_file(path("data/train.csv"), "id,x1,x2,species\n1,0.5,1,0\n2,1,0.5,1\n3,0,0,2\n");
  fails({model, path("data")}, {path("data/train.csv") + ": no column 'label' for the label; the header has id, x1, "
                                                         "x2, species: pass --label species (or name the label column "
                                                         "'label')"});
}

// A data file instead of a folder: a training split of its own (a validation part by --val-split).
TEST_F(DataMappingCli, OneFileIsTheTrainingData) {
  const std::string model = make_classifier(path("m.onnx"), "x", 2, 3);
  write_file(path("table.csv"), "id,x1,x2,label\n1,0.5,1,0\n2,1,0.5,1\n3,0,0,2\n4,1,1,0\n5,0,1,1\n");
  const CliRun r = ok({model, path("table.csv"), "--ignore-columns", "id", "--batch-size", "2", "--val-split", "0.4"});
  EXPECT_HAS(r.out, "train: 3 samples");
  EXPECT_HAS(r.out, "val:   2 samples");
  fails({model, path("no-such.csv")}, {path("no-such.csv") + ": no such folder"});
}

// ---- Class labels given as names

TEST_F(DataMappingCli, CsvClassNamesAreSortedKeptInTheModelAndMappedByName) {
  const std::string model = make_classifier(path("m.onnx"), "x", 4, 3);
  const Samples t = separable(48, 1);
  Samples v = separable(24, 2);
  const std::vector<CsvColumn> columns = {feature(0), feature(1), feature(2), feature(3), species_column("species")};
  write_file(path("data/train.csv"), csv_of(t, columns));
  // The validation split lacks virginica: the others keep their training indices.
  Samples v2;
  for (int i = 0; i < v.n; ++i) {
    if (v.y[i] == 2) continue;
    v2.x.insert(v2.x.end(), v.x.begin() + 4 * i, v.x.begin() + 4 * i + 4);
    v2.y.push_back(v.y[i]);
    ++v2.n;
  }
  write_file(path("data/val.csv"), csv_of(v2, columns));
  const CliRun r = ok(plus(
      {model, path("data"), "--label", "species", "--checkpoint-dir", path("ck"), "-o", path("out/m.onnx")}, kQuick));
  EXPECT_HAS(r.out, "train: 48 samples from " + path("data/train.csv") + " (csv; 3 classes in column 'species')");
  EXPECT_GE(number_after(r.out, "val accuracy "), 90.0) << r.show();
  const auto meta = metadata_of(path("out/m.onnx"));
  ASSERT_EQ(meta.count("data.classes"), 1u) << r.show();
  EXPECT_EQ(meta.at("data.classes"), "[\"setosa\", \"versicolor\", \"virginica\"]");
  EXPECT_EQ(meta.count("data.input_layout"), 0u) << "csv values are no images";

  // eval maps the names to the model's classes; a name it does not know is an error naming it.
  write_file(path("eval/data.csv"), csv_of(v, columns));
  const CliRun eval = ok({"eval", path("out/m.onnx"), path("eval"), "--label", "species"});
  EXPECT_GE(number_after(eval.out, "accuracy "), 90.0) << eval.show();
  write_file(path("eval2/data.csv"), "f0,f1,f2,f3,species\n2,0,0,1,setosa\n0,-2,2,0,Virginica\n");
  fails({"eval", path("out/m.onnx"), path("eval2"), "--label", "species"},
        {path("eval2/data.csv") +
         ", line 3: the label 'species' is 'Virginica', which is not one of the 3 classes of "
         "the model " +
         path("out/m.onnx") + " ('setosa', 'versicolor', 'virginica')"});

  // A resumed run keeps the classes of its checkpoint.
  write_file(path("data/train.csv"), csv_of(t, columns) + "2,0,0,1,zebra\n");
  fails(plus({model, path("data"), "--label", "species", "--checkpoint-dir", path("ck"), "--resume", "-o",
              path("out/m.onnx")},
             kQuick),
        {"the label 'species' is 'zebra', which is not one of the 3 classes of the checkpoint"});
}

TEST_F(DataMappingCli, ClassLabelsAreAllNumbersOrAllNames) {
  const std::string model = make_classifier(path("m.onnx"), "x", 1, 3);
  write_file(path("data/train.csv"), "x,label\n1,cat\n2,1\n3,dog\n");
  fails({model, path("data")}, {path("data/train.csv") + ", line 2: the label 'label' is 'cat', a name, but " +
                                path("data/train.csv") + ", line 3 has '1', a number"});
  write_file(path("data/train.csv"), "x,label\n1,cat\n2,dog\n3,emu\n4,fox\n");
  fails({model, path("data")},
        {"the label 'label' names 4 classes (cat, dog, emu, fox), but the model's output has 3; pass --num-classes 4"});
  write_file(path("data/val.csv"), "x,label\n1,cat\n2,gnu\n");
  fails({model, path("data"), "--num-classes", "4"},
        {path("data/val.csv") +
         ", line 3: the label 'label' is 'gnu', which is not one of the 4 classes of the "
         "training data in " +
         path("data")});
}

}  // namespace
}  // namespace onnx_train::cli_test
