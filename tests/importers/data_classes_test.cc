// Image classification folders across splits: the classes are fixed once, from the training
// split's folders (or a trained model's stored list), and every other split maps its folders
// to them by name; a folder that is not a class, a single class and an extra folder level are
// errors saying what to do; the classes and preprocessing round-trip through metadata.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <set>

#include "onnx_train/dataset.h"
#include "tests/support/data_files.h"
#include "tests/support/expect_text.h"
#include "tests/support/kernel_harness.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

namespace fs = std::filesystem;
using testing::error_of;
using testing::expect_contains;
using testing::TempDir;
using testing::write_png_file;

// DIR/<class>/0.png, 1.png for each class, each image's pixel telling its class (10 * (k + 1)
// for the k-th name of `pixel_classes`).
void write_classes(const std::string& dir, const std::vector<std::string>& classes,
                   const std::vector<std::string>& pixel_classes) {
  for (const std::string& name : classes) {
    const auto k = std::find(pixel_classes.begin(), pixel_classes.end(), name) - pixel_classes.begin();
    for (int i = 0; i < 2; ++i)
      write_png_file(dir + "/" + name + "/" + std::to_string(i) + ".png", 1, 1, 1,
                     {static_cast<uint8_t>(10 * (k + 1))});
  }
}

const std::vector<std::string> kShapes = {"circle", "square", "triangle"};

std::vector<FieldSpec> image_fields(int64_t classes = 3) {
  return {FieldSpec{"input", DType::Float32, {1, 1, 1}}, FieldSpec{"label", DType::Int64, {}, true, classes}};
}

// Every (pixel, label) pair of a dataset, read through a BatchLoader as training reads it.
std::map<int64_t, std::set<int64_t>> labels_by_pixel(const std::shared_ptr<const Dataset>& data) {
  BatchLoader loader(data, 3, /*shuffle=*/false, 0);
  loader.start_epoch(0);
  std::map<std::string, Tensor> batch;
  std::map<int64_t, std::set<int64_t>> out;
  while (loader.next(batch)) {
    const auto pixels = batch.at("input").to_doubles();
    const auto labels = batch.at("label").to_int64s();
    for (size_t i = 0; i < labels.size(); ++i) out[std::lround(pixels[i] * 255)].insert(labels[i]);
  }
  return out;
}

TEST(DataClasses, AValidationSplitLackingAClassKeepsTheTrainingIndices) {
  TempDir dir;
  write_classes(dir.path() + "/train", kShapes, kShapes);
  write_classes(dir.path() + "/val", {"square", "triangle"}, kShapes);  // no circle/
  const DataSplits data = open_data(dir.path(), image_fields(), {});
  ASSERT_NE(data.val, nullptr);
  EXPECT_EQ(data.val->class_names(), kShapes);
  // square (pixel 20) is class 1 and triangle (30) class 2 in both splits, not 0 and 1.
  const std::map<int64_t, std::set<int64_t>> expected_val = {{20, {1}}, {30, {2}}};
  EXPECT_EQ(labels_by_pixel(data.val), expected_val);
  const std::map<int64_t, std::set<int64_t>> expected_train = {{10, {0}}, {20, {1}}, {30, {2}}};
  EXPECT_EQ(labels_by_pixel(data.train), expected_train);
  expect_contains(data.val->describe(),
                  {"4 images in 2 class folders of " + dir.path() + "/val", "2 of the 3 classes"});
}

TEST(DataClasses, AFolderThatIsNotATrainingClassIsAnErrorNamingIt) {
  TempDir dir;
  write_classes(dir.path() + "/train", kShapes, kShapes);
  write_classes(dir.path() + "/val", {"circle", "square", "Triangle"}, {"circle", "square", "Triangle"});
  expect_contains(error_of([&] { open_data(dir.path(), image_fields(), {}); }),
                  {dir.path() + "/val/Triangle",
                   "'Triangle' is not one of the 3 classes of the training data in " + dir.path() + "/train",
                   "'circle', 'square', 'triangle'", "case-sensitive: rename the folder to 'triangle'"});

  write_classes(dir.path() + "/val", {"hexagon"}, {"hexagon"});
  fs::remove_all(dir.path() + "/val/Triangle");
  expect_contains(error_of([&] { open_data(dir.path(), image_fields(), {}); }),
                  {dir.path() + "/val/hexagon", "'hexagon' is not one of the 3 classes",
                   "rename the folder to the class it holds"});
}

TEST(DataClasses, ClassesGivenByAModelFixTheIndicesOfEverySplit) {
  TempDir dir;
  // An eval folder holding only some of the model's classes, in another order of appearance.
  write_classes(dir.path(), {"triangle", "circle"}, kShapes);
  DataOptions options;
  options.classes = kShapes;
  options.classes_from = "the model m.onnx";
  const DataSplits data = open_data(dir.path(), image_fields(), options);
  EXPECT_EQ(data.train->class_names(), kShapes);
  const std::map<int64_t, std::set<int64_t>> expected = {{10, {0}}, {30, {2}}};
  EXPECT_EQ(labels_by_pixel(data.train), expected);

  write_classes(dir.path(), {"Circle"}, {"Circle"});
  expect_contains(error_of([&] { open_data(dir.path(), image_fields(), options); }),
                  {dir.path() + "/Circle", "not one of the 3 classes of the model m.onnx", "'circle'"});
}

TEST(DataClasses, AnExtraFolderLevelIsAnErrorShowingTheLayout) {
  TempDir dir;
  write_classes(dir.path() + "/train/images", kShapes, kShapes);
  const std::string err = error_of([&] { open_data(dir.path(), image_fields(), {}); });
  expect_contains(
      err, {dir.path() + "/train: all 6 images are in one class folder, " + dir.path() + "/train/images/",
            "circle/, square/, triangle/", "one folder level too many", "move them up to " + dir.path() + "/train/",
            dir.path() + "/train/<class>/*.png", "at least two"});
}

TEST(DataClasses, ASingleTrainingClassIsAnErrorButAValidationSplitMayHaveOne) {
  TempDir dir;
  write_classes(dir.path() + "/train", {"circle"}, kShapes);
  expect_contains(error_of([&] { open_data(dir.path(), image_fields(), {}); }),
                  {dir.path() + "/train: all 2 images are in one class folder", dir.path() + "/train/<class>/*.png"});
  write_classes(dir.path() + "/train", {"square"}, kShapes);
  write_classes(dir.path() + "/val", {"square"}, kShapes);
  const DataSplits data = open_data(dir.path(), image_fields(), {});
  const std::map<int64_t, std::set<int64_t>> expected = {{20, {1}}};
  EXPECT_EQ(labels_by_pixel(data.val), expected);
  // A model without a label (its own loss) just takes the pictures.
  fs::remove_all(dir.path() + "/train/square");
  fs::remove_all(dir.path() + "/val");
  EXPECT_NO_THROW(open_data(dir.path(), {FieldSpec{"input", DType::Float32, {1, 1, 1}}}, {}));
}

TEST(DataClasses, ClassesAndPreprocessingRoundTripThroughMetadata) {
  TempDir dir;
  const std::vector<std::string> names = {"a \"quoted\" \\ name", "caf\xc3\xa9", "plain"};
  write_classes(dir.path() + "/train", names, names);
  DataOptions options;
  options.mean = {0.485f};
  options.std = {0.229f};
  const DataSplits data = open_data(dir.path(), image_fields(), options);
  const auto meta = data_metadata(*data.train, options);
  EXPECT_EQ(meta.at("data.classes"), "[\"a \\\"quoted\\\" \\\\ name\", \"caf\xc3\xa9\", \"plain\"]");
  EXPECT_EQ(meta.at("data.input"), "input");
  EXPECT_EQ(meta.at("data.input_shape"), "1,1,1");
  EXPECT_EQ(meta.at("data.mean"), "0.485");
  EXPECT_EQ(meta.at("data.std"), "0.229");
  const DataOptions back = data_options_from_metadata(meta, "m.onnx");
  EXPECT_EQ(back.classes, names);
  EXPECT_EQ(back.classes_from, "m.onnx");
  EXPECT_EQ(back.mean, options.mean);
  EXPECT_EQ(back.std, options.std);
  // Another JSON writer's escapes (Python's json.dumps) read the same.
  EXPECT_EQ(data_options_from_metadata({{"data.classes", "[\"caf\\u00e9\",\"a\\/b\"]"}}, "m").classes,
            (std::vector<std::string>{"caf\xc3\xa9", "a/b"}));
  // json.dumps writes a character past U+FFFF as a surrogate pair: one UTF-8 character.
  EXPECT_EQ(data_options_from_metadata({{"data.classes", "[\"\\ud83d\\ude00 smile\", \"x\"]"}}, "m").classes,
            (std::vector<std::string>{"\xf0\x9f\x98\x80 smile", "x"}));
  // Not an array of strings: numbers, an object, trailing text.
  for (const char* bad : {"[1, 2]", "{\"a\": \"b\"}", "[\"a\"] x", "[\"a\"", ""})
    expect_contains(error_of([&] { data_options_from_metadata({{"data.classes", bad}}, "m.onnx"); }),
                    {"'data.classes' is not a JSON array"});
  // Data without classes or normalisation has nothing to keep.
  EXPECT_TRUE(data_options_from_metadata({}, "m").classes.empty());
  expect_contains(error_of([&] {
                    data_options_from_metadata({{"data.classes", "[\"a\", b]"}}, "m.onnx");
                  }),
                  {"m.onnx", "'data.classes' is not a JSON array"});
  expect_contains(error_of([&] {
                    data_options_from_metadata({{"data.mean", "0.5,x"}}, "m.onnx");
                  }),
                  {"m.onnx", "'data.mean' is '0.5,x'"});
}

}  // namespace
}  // namespace onnx_train
