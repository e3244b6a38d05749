// Bad samples found before training (scan_samples) and left out of it (skip_bad_samples):
// a label out of range, NaN, a label that is not a whole number, an unreadable or truncated
// image; each named by file and sample, each counted once.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "onnx_train/dataset.h"
#include "tests/support/data_files.h"
#include "tests/support/expect_text.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

namespace fs = std::filesystem;
using testing::npy_bytes;
using testing::TempDir;
using testing::write_png_file;

// Sample i: "x" = float32 {i, -i}, "y" = int64 label i % 3, except: reading `fail_at` throws
// (an undecodable file), x of `nan_at` holds NaN, and `labels` overrides some labels.
class IndexDataset : public Dataset {
 public:
  explicit IndexDataset(int64_t n) : n_(n) {
    fields_ = {{"x", DType::Float32, {2}}, {"y", DType::Int64, {}, /*is_label=*/true, /*num_classes=*/3}};
  }
  int64_t size() const override { return n_; }
  const std::vector<FieldSpec>& fields() const override { return fields_; }
  void read(size_t field, int64_t index, void* out) const override {
    ++reads;
    if (index == fail_at) OT_FAIL("{}: truncated", source_of(field, index));
    if (field == 0) {
      auto* x = static_cast<float*>(out);
      x[0] = static_cast<float>(index);
      x[1] = index == nan_at ? NAN : -static_cast<float>(index);
    } else {
      const auto it = labels.find(index);
      *static_cast<int64_t*>(out) = it != labels.end() ? it->second : index % 3;
    }
  }
  std::string source_of(size_t field, int64_t index) const override {
    return fmt::format("{}.npy, sample {}", fields_[field].name, index);
  }
  std::string describe() const override { return fmt::format("{} samples", n_); }

  int64_t fail_at = -1, nan_at = -1;
  std::map<int64_t, int64_t> labels;
  mutable std::atomic<int64_t> reads{0};

 private:
  int64_t n_;
  std::vector<FieldSpec> fields_;
};

std::shared_ptr<IndexDataset> with_three_bad_samples(int64_t n = 1200) {
  auto data = std::make_shared<IndexDataset>(n);
  data->nan_at = 10;
  data->fail_at = 500;
  data->labels = {{999, 7}};
  return data;
}

std::vector<int64_t> indices_of(const std::vector<BadSample>& bad) {
  std::vector<int64_t> out;
  for (const auto& b : bad) out.push_back(b.index);
  return out;
}

// The x[0] (the sample's original index) of every sample of one epoch, and the batch sizes.
std::vector<int64_t> one_epoch(BatchLoader& loader, int64_t epoch, std::vector<int64_t>* sizes = nullptr) {
  loader.start_epoch(epoch);
  std::map<std::string, Tensor> batch;
  std::vector<int64_t> seen;
  while (loader.next(batch)) {
    const auto x = batch.at("x").to_doubles();
    EXPECT_EQ(batch.at("y").dim(0) * 2, static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); i += 2) seen.push_back(static_cast<int64_t>(x[i]));
    if (sizes) sizes->push_back(batch.at("y").dim(0));
  }
  return seen;
}

TEST(BadSamples, AScanFindsEveryBadSampleBeforeTrainingAndNamesIt) {
  auto data = with_three_bad_samples();
  const SampleScan scan = scan_samples(*data, /*budget_seconds=*/30, /*stop_at_first=*/false);
  EXPECT_TRUE(scan.complete);
  // Both fields of each sample, except that the NaN sample and the unreadable one stop at x.
  EXPECT_EQ(data->reads.load(), 2 * 1200 - 2);
  ASSERT_EQ(indices_of(scan.bad), (std::vector<int64_t>{10, 500, 999}));
  EXPECT_EQ(scan.bad[0].source, "x.npy, sample 10");
  EXPECT_HAS(scan.bad[0].problem, "x.npy, sample 10: field 'x' holds nan");
  EXPECT_EQ(scan.bad[1].source, "x.npy, sample 500");
  EXPECT_HAS(scan.bad[1].problem, "truncated");
  EXPECT_EQ(scan.bad[2].source, "y.npy, sample 999");
  EXPECT_HAS(scan.bad[2].problem, "y.npy, sample 999: class label 7 of field 'y' is outside [0, 3)");

  const SampleScan first = scan_samples(*with_three_bad_samples(), 30, /*stop_at_first=*/true);
  EXPECT_EQ(indices_of(first.bad), (std::vector<int64_t>{10}));
  EXPECT_FALSE(first.complete);
}

TEST(BadSamples, AScanEstimatedToTakeLongerThanTheBudgetIsLeftToTheLoader) {
  auto data = with_three_bad_samples(100000);
  const SampleScan scan = scan_samples(*data, /*budget_seconds=*/0, false);
  EXPECT_FALSE(scan.complete);
  EXPECT_GT(scan.estimated_seconds, 0);
  EXPECT_LE(data->reads.load(), 2 * 64);  // stopped after the probe
}

TEST(BadSamples, LabelsThatAreNotWholeNumbersOrNanAreBadSamples) {
  TempDir dir;
  // label.npy as float64 with 1.5 at sample 2 and NaN at sample 4, read for an int64 label.
  const std::vector<double> labels = {0, 1, 1.5, 2, NAN, 1};
  const std::vector<float> x(12, 0.5f);
  std::ofstream(dir.path() + "/x.npy", std::ios::binary) << npy_bytes("<f4", "(6, 2)", x);
  std::ofstream(dir.path() + "/label.npy", std::ios::binary) << npy_bytes("<f8", "(6,)", labels);
  const std::vector<FieldSpec> wanted = {{"x", DType::Float32, {2}}, {"label", DType::Int64, {}, true, 3}};
  const DataSplits data = open_data(dir.path(), wanted, {});
  const SampleScan scan = scan_samples(*data.train, 30, false);
  ASSERT_EQ(indices_of(scan.bad), (std::vector<int64_t>{2, 4}));
  EXPECT_HAS(scan.bad[0].problem, dir.path() + "/label.npy, sample 2");
  EXPECT_HAS(scan.bad[0].problem, "value 1.5");
  EXPECT_HAS(scan.bad[1].problem, dir.path() + "/label.npy, sample 4");
  EXPECT_HAS(scan.bad[1].problem, "value nan");
}

TEST(BadSamples, SkippingLeavesTheScannedBadSamplesOutAndRecordsThem) {
  auto data = with_three_bad_samples();
  const SampleScan scan = scan_samples(*data, 30, false);
  auto log = std::make_shared<BadSampleLog>();
  const auto kept = skip_bad_samples(data, scan.bad, log);
  EXPECT_EQ(log->count(), 3);  // recorded before any batch is read
  EXPECT_EQ(kept->size(), 1200);
  EXPECT_EQ(kept->describe(), "1200 samples");
  EXPECT_EQ(kept->bad_sample_log(), log.get());
  BatchLoader loader(kept, 32, /*shuffle=*/true, 5);
  std::vector<int64_t> seen = one_epoch(loader, 0);
  std::sort(seen.begin(), seen.end());
  ASSERT_EQ(seen.size(), 1197u);
  EXPECT_FALSE(std::binary_search(seen.begin(), seen.end(), 10));
  EXPECT_FALSE(std::binary_search(seen.begin(), seen.end(), 500));
  EXPECT_FALSE(std::binary_search(seen.begin(), seen.end(), 999));
  EXPECT_EQ(log->count(), 3);
  EXPECT_EQ(log->first(2).size(), 2u);
}

TEST(BadSamples, WithoutSkippingTheLoaderStopsAtTheBadSampleNamingIt) {
  auto data = with_three_bad_samples(20);
  BatchLoader loader(data, 4, /*shuffle=*/false, 0);
  loader.start_epoch(0);
  std::map<std::string, Tensor> batch;
  ASSERT_TRUE(loader.next(batch));
  ASSERT_TRUE(loader.next(batch));
  try {
    loader.next(batch);
    ADD_FAILURE() << "no Error";
  } catch (const Error& e) {
    EXPECT_HAS(std::string(e.what()), "x.npy, sample 10: field 'x' holds nan");
  }
}

TEST(BadSamples, TheLoaderLeavesOutBadSamplesMetWhileStreamingOncePerSample) {
  auto data = with_three_bad_samples(1200);
  data->labels[1001] = -3;
  data->labels[1002] = 9;
  data->labels[1003] = 3;  // with 1000 (fail) below: batch [1000, 1004) is all bad
  data->fail_at = 1000;
  auto log = std::make_shared<BadSampleLog>();
  const auto streamed = skip_bad_samples(data, {}, log);  // too large to scan: nothing known yet
  EXPECT_EQ(streamed->size(), 1200);
  EXPECT_EQ(streamed->describe(), "1200 samples");
  BatchLoader loader(streamed, 4, /*shuffle=*/false, 0);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    std::vector<int64_t> sizes;
    const std::vector<int64_t> seen = one_epoch(loader, epoch, &sizes);
    EXPECT_EQ(seen.size(), 1200u - 6);
    EXPECT_EQ(std::count(sizes.begin(), sizes.end(), 3), 2) << "batches with 10 and 999 are one smaller";
    EXPECT_EQ(std::count(sizes.begin(), sizes.end(), 0), 0) << "an all-bad batch is passed over";
    EXPECT_EQ(sizes.size(), 299u);
  }
  EXPECT_EQ(log->count(), 6);  // each once, over two epochs
  std::set<std::string> sources;
  for (const auto& b : log->first(100)) sources.insert(b.source);
  EXPECT_EQ(sources, (std::set<std::string>{"x.npy, sample 10", "x.npy, sample 1000", "y.npy, sample 999",
                                            "y.npy, sample 1001", "y.npy, sample 1002", "y.npy, sample 1003"}));
}

TEST(BadSamples, ATruncatedPngIsFoundBeforeTrainingAndCanBeLeftOut) {
  TempDir dir;
  for (int i = 0; i < 3; ++i) {
    write_png_file(dir.path() + "/cat/" + std::to_string(i) + ".png", 4, 4, 1, std::vector<uint8_t>(16, 40));
    write_png_file(dir.path() + "/dog/" + std::to_string(i) + ".png", 4, 4, 1, std::vector<uint8_t>(16, 200));
  }
  const std::string broken = dir.path() + "/dog/1.png";
  const auto size = fs::file_size(broken);
  fs::resize_file(broken, size / 2);
  const std::vector<FieldSpec> wanted = {{"x", DType::Float32, {1, 4, 4}}, {"label", DType::Int64, {}, true, 2}};
  const DataSplits data = open_data(dir.path(), wanted, {});
  const SampleScan scan = scan_samples(*data.train, 30, false);
  EXPECT_TRUE(scan.complete);
  ASSERT_EQ(indices_of(scan.bad), (std::vector<int64_t>{4}));
  EXPECT_EQ(scan.bad[0].source, broken);
  EXPECT_HAS(scan.bad[0].problem, broken);
  auto log = std::make_shared<BadSampleLog>();
  BatchLoader loader(skip_bad_samples(data.train, scan.bad, log), 8, false, 0);
  loader.start_epoch(0);
  std::map<std::string, Tensor> batch;
  ASSERT_TRUE(loader.next(batch));
  EXPECT_EQ(batch.at("label").to_int64s(), (std::vector<int64_t>{0, 0, 0, 1, 1}));
  EXPECT_FALSE(loader.next(batch));
}

}  // namespace
}  // namespace onnx_train
