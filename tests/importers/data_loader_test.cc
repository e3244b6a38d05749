// BatchLoader (order, resuming, prefetching, per-batch checks) and split_validation, on an
// in-memory dataset so that every sample's value is its index.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <numeric>
#include <thread>

#include "onnx_train/dataset.h"
#include "tests/support/expect_text.h"

namespace onnx_train {
namespace {

using testing::error_of;

// Sample i: "x" = float32 {i, -i}, "y" = int64 label i % 3 (unless overridden). Reading sample
// `fail_at` throws; sample `poison_at` holds `poison` in x.
class IndexDataset : public Dataset {
 public:
  explicit IndexDataset(int64_t n, int64_t num_classes = 3) : n_(n) {
    fields_ = {{"x", DType::Float32, {2}}, {"y", DType::Int64, {}, /*is_label=*/true, num_classes}};
  }
  int64_t size() const override { return n_; }
  const std::vector<FieldSpec>& fields() const override { return fields_; }
  void read(size_t field, int64_t index, void* out) const override {
    ++reads;
    if (index == fail_at) OT_FAIL("sample {} cannot be read", index);
    if (field == 0) {
      auto* x = static_cast<float*>(out);
      x[0] = static_cast<float>(index);
      x[1] = index == poison_at ? poison : -static_cast<float>(index);
    } else {
      const auto it = labels.find(index);
      *static_cast<int64_t*>(out) = it != labels.end() ? it->second : index % 3;
    }
  }
  std::string source_of(size_t field, int64_t index) const override {
    return fmt::format("{}.npy, sample {}", fields_[field].name, index);
  }
  std::string describe() const override { return fmt::format("{} samples", n_); }

  int64_t fail_at = -1, poison_at = -1;
  float poison = NAN;
  std::map<int64_t, int64_t> labels;
  mutable std::atomic<int64_t> reads{0};

 private:
  int64_t n_;
  std::vector<FieldSpec> fields_;
};

// The sample indices of the batches from the loader's current position to the epoch's end.
std::vector<std::vector<int64_t>> rest_of_epoch(BatchLoader& loader) {
  std::vector<std::vector<int64_t>> batches;
  std::map<std::string, Tensor> batch;
  while (loader.next(batch)) {
    const auto x = batch.at("x").to_doubles();
    std::vector<int64_t> indices;
    for (size_t i = 0; i < x.size(); i += 2) indices.push_back(static_cast<int64_t>(x[i]));
    batches.push_back(indices);
  }
  return batches;
}

std::vector<std::vector<int64_t>> epoch(BatchLoader& loader, int64_t e, int64_t first_batch = 0) {
  loader.start_epoch(e, first_batch);
  return rest_of_epoch(loader);
}

std::vector<int64_t> flat(const std::vector<std::vector<int64_t>>& batches) {
  std::vector<int64_t> out;
  for (const auto& b : batches) out.insert(out.end(), b.begin(), b.end());
  return out;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

TEST(BatchLoader, BatchesStackSamplesAndKeepOrDropTheLastSmallerOne) {
  auto data = std::make_shared<IndexDataset>(5);
  BatchLoader loader(data, 2, /*shuffle=*/false, 0);
  EXPECT_EQ(loader.batch_size(), 2);
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  loader.start_epoch(0);
  std::map<std::string, Tensor> batch;
  ASSERT_TRUE(loader.next(batch));
  EXPECT_EQ(batch.at("x").describe(), "float32[2, 2]");
  EXPECT_EQ(batch.at("x").to_doubles(), (std::vector<double>{0, 0, 1, -1}));
  EXPECT_EQ(batch.at("y").describe(), "int64[2]");
  EXPECT_EQ(batch.at("y").to_int64s(), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(rest_of_epoch(loader), (std::vector<std::vector<int64_t>>{{2, 3}, {4}}));
  EXPECT_FALSE(loader.next(batch));

  BatchLoader dropping(data, 2, false, 0, /*drop_last=*/true);
  EXPECT_EQ(dropping.batches_per_epoch(), 2);
  EXPECT_EQ(epoch(dropping, 0), (std::vector<std::vector<int64_t>>{{0, 1}, {2, 3}}));
}

TEST(BatchLoader, ShuffledOrderIsAPureFunctionOfSeedAndEpoch) {
  auto data = std::make_shared<IndexDataset>(10);
  BatchLoader a(data, 3, /*shuffle=*/true, 7);
  BatchLoader b(data, 3, /*shuffle=*/true, 7);
  const auto a0 = epoch(a, 0), a1 = epoch(a, 1);
  EXPECT_EQ(epoch(b, 1), a1);  // whatever ran before
  EXPECT_EQ(epoch(b, 0), a0);
  EXPECT_NE(flat(a0), flat(a1));
  BatchLoader other_seed(data, 3, true, 8);
  EXPECT_NE(flat(epoch(other_seed, 0)), flat(a0));
  for (const auto& order : {flat(a0), flat(a1)}) {
    std::vector<int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, iota(10));  // every sample once per epoch
  }
  // The same on every platform and standard library: mt19937_64 and our own bounded draw.
  BatchLoader golden(data, 10, true, 0);
  EXPECT_EQ(flat(epoch(golden, 0)), (std::vector<int64_t>{1, 7, 9, 2, 5, 3, 8, 4, 6, 0}));
}

TEST(BatchLoader, EverySampleOncePerEpochWithAPartialBatch) {
  auto data = std::make_shared<IndexDataset>(103);
  BatchLoader loader(data, 10, true, 3, false, /*prefetch=*/4);
  for (int64_t e = 0; e < 3; ++e) {
    const auto batches = epoch(loader, e);
    ASSERT_EQ(batches.size(), 11u);
    EXPECT_EQ(batches.back().size(), 3u);
    std::vector<int64_t> seen = flat(batches);
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, iota(103));
  }
}

TEST(BatchLoader, StartEpochAtABatchResumesIdentically) {
  auto data = std::make_shared<IndexDataset>(23);
  BatchLoader full(data, 4, true, 11);
  const auto whole = epoch(full, 5);
  BatchLoader resumed(data, 4, true, 11);
  const auto rest = epoch(resumed, 5, 2);
  EXPECT_EQ(rest, std::vector<std::vector<int64_t>>(whole.begin() + 2, whole.end()));
  EXPECT_TRUE(epoch(resumed, 5, resumed.batches_per_epoch()).empty());
}

TEST(BatchLoader, RestartingMidEpochAndStoppingWithBatchesQueued) {
  auto data = std::make_shared<IndexDataset>(50);
  BatchLoader reference(data, 5, true, 1);
  const auto epoch1 = epoch(reference, 1);
  {
    BatchLoader loader(data, 5, true, 1, false, /*prefetch=*/3);
    loader.start_epoch(0);
    std::map<std::string, Tensor> batch;
    ASSERT_TRUE(loader.next(batch));
    EXPECT_EQ(epoch(loader, 1), epoch1);  // the abandoned epoch 0 leaves nothing behind
    loader.start_epoch(2);                // destroyed with its worker waiting on a full queue
  }
}

TEST(BatchLoader, PrefetchesAtMostPrefetchBatchesAhead) {
  auto data = std::make_shared<IndexDataset>(100);
  BatchLoader loader(data, 4, false, 0, false, /*prefetch=*/2);
  loader.start_epoch(0);
  // 2 batches of 2 fields of 4 samples: 16 reads, then the worker waits.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (data->reads < 16 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(data->reads, 16);
  std::map<std::string, Tensor> batch;
  ASSERT_TRUE(loader.next(batch));
  EXPECT_EQ(batch.at("y").to_int64s(), (std::vector<int64_t>{0, 1, 2, 0}));
}

TEST(BatchLoader, ReadErrorsAreThrownFromNext) {
  auto data = std::make_shared<IndexDataset>(10);
  data->fail_at = 5;
  BatchLoader loader(data, 2, false, 0);
  for (int attempt = 0; attempt < 2; ++attempt) {
    loader.start_epoch(0);
    std::map<std::string, Tensor> batch;
    EXPECT_TRUE(loader.next(batch));
    EXPECT_TRUE(loader.next(batch));
    EXPECT_HAS(error_of([&] { loader.next(batch); }), "sample 5 cannot be read");
    EXPECT_HAS(error_of([&] { loader.next(batch); }), "sample 5 cannot be read");  // and stays failed
  }
}

TEST(BatchLoader, NanAndInfNameTheSample) {
  for (float poison : {NAN, INFINITY, -INFINITY}) {
    auto data = std::make_shared<IndexDataset>(6);
    data->poison_at = 3;
    data->poison = poison;
    BatchLoader loader(data, 4, false, 0);
    loader.start_epoch(0);
    std::map<std::string, Tensor> batch;
    const std::string err = error_of([&] { loader.next(batch); });
    EXPECT_HAS(err, fmt::format("x.npy, sample 3: field 'x' holds {} (element 1 of the sample)", poison));
    EXPECT_HAS(err, "clean the data");
  }
}

TEST(BatchLoader, ClassLabelsOutsideTheClassesNameTheSample) {
  for (int64_t bad : {3, -1}) {
    auto data = std::make_shared<IndexDataset>(6);
    data->labels = {{1, -100}, {4, bad}};  // -100: the ignore index, allowed
    BatchLoader loader(data, 3, false, 0);
    loader.start_epoch(0);
    std::map<std::string, Tensor> batch;
    ASSERT_TRUE(loader.next(batch));
    EXPECT_EQ(batch.at("y").to_int64s(), (std::vector<int64_t>{0, -100, 2}));
    EXPECT_HAS(error_of([&] { loader.next(batch); }),
               fmt::format("y.npy, sample 4: class label {} of field 'y' is outside [0, 3)", bad));
  }
  auto unchecked = std::make_shared<IndexDataset>(3, /*num_classes=*/0);
  unchecked->labels = {{0, 99}};
  BatchLoader loader(unchecked, 3, false, 0);
  EXPECT_EQ(flat(epoch(loader, 0)), iota(3));
}

TEST(BatchLoader, MisuseIsAnError) {
  auto data = std::make_shared<IndexDataset>(10);
  EXPECT_HAS(error_of([&] { BatchLoader(data, 0, false, 0); }), "the batch size must be at least 1");
  EXPECT_HAS(error_of([&] { BatchLoader(data, 2, false, 0, false, 0); }), "prefetch must be at least 1");
  BatchLoader loader(data, 3, false, 0);
  std::map<std::string, Tensor> batch;
  EXPECT_HAS(error_of([&] { loader.next(batch); }), "call start_epoch first");
  EXPECT_HAS(error_of([&] { loader.start_epoch(0, 5); }), "cannot resume at batch 5 of an epoch of 4 batches");
  EXPECT_HAS(error_of([&] { loader.start_epoch(-1); }), "epoch -1 is negative");
  BatchLoader empty(std::make_shared<IndexDataset>(0), 3, true, 0);
  EXPECT_EQ(empty.batches_per_epoch(), 0);
  EXPECT_TRUE(epoch(empty, 0).empty());
}

// ---- split_validation

std::vector<int64_t> indices_of(const Dataset& data) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < data.size(); ++i) {
    float x[2];
    data.read(0, i, x);
    out.push_back(static_cast<int64_t>(x[0]));
  }
  return out;
}

TEST(SplitValidation, ASeededDisjointSplit) {
  auto data = std::make_shared<IndexDataset>(20);
  const DataSplits s = split_validation(data, 0.25, 42);
  ASSERT_TRUE(s.train && s.val);
  EXPECT_EQ(s.train->size(), 15);
  EXPECT_EQ(s.val->size(), 5);
  std::vector<int64_t> all = indices_of(*s.train), val = indices_of(*s.val);
  EXPECT_TRUE(std::is_sorted(val.begin(), val.end()));
  all.insert(all.end(), val.begin(), val.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, iota(20));
  EXPECT_EQ(indices_of(*split_validation(data, 0.25, 42).val), val);
  EXPECT_NE(indices_of(*split_validation(data, 0.25, 43).val), val);
  EXPECT_EQ(s.val->source_of(1, 0), fmt::format("y.npy, sample {}", val[0]));
  EXPECT_EQ(s.val->fields()[0].name, "x");
  EXPECT_EQ(s.val->describe(), "5 samples of 20 samples, 25% held out for validation");
  EXPECT_EQ(s.train->describe(), "15 samples of 20 samples, training part (25% held out)");
}

TEST(SplitValidation, BadFractionsAndTooFewSamples) {
  auto data = std::make_shared<IndexDataset>(10);
  for (double fraction : {0.0, 1.0, -0.5, 1.5, double(NAN)})
    EXPECT_HAS(error_of([&] { split_validation(data, fraction, 0); }), "is not between 0 and 1");
  EXPECT_HAS(error_of([&] { split_validation(data, 0.01, 0); }), "leaves 0 for validation and 10 for training");
  EXPECT_HAS(error_of([&] { split_validation(std::make_shared<IndexDataset>(1), 0.5, 0); }),
             "leaves 1 for validation and 0 for training");
}

// Data-parallel shards (BatchLoader::set_shard): rank r of W takes the order's positions r, r + W,
// ...; padded by the order's first samples to a multiple of W.
std::vector<std::vector<int64_t>> shard_epoch(const std::shared_ptr<const Dataset>& data, int64_t batch, int rank,
                                              int ranks, bool pad, int64_t epoch_number, int64_t first_sample = 0) {
  BatchLoader loader(data, batch, /*shuffle=*/true, 5);
  loader.set_shard(rank, ranks, pad);
  loader.start_epoch_at_sample(epoch_number, first_sample);
  return rest_of_epoch(loader);
}

TEST(BatchLoaderShards, RanksTogetherReadTheBatchesOfOneProcessAtTheirSummedBatchSize) {
  auto data = std::make_shared<IndexDataset>(24);
  BatchLoader one(data, 6, /*shuffle=*/true, 5);
  const auto whole = epoch(one, 1);
  std::vector<std::vector<int64_t>> shards[3];
  for (int r = 0; r < 3; ++r) shards[r] = shard_epoch(data, 2, r, 3, true, 1);
  ASSERT_EQ(whole.size(), 4u);
  for (int r = 0; r < 3; ++r) ASSERT_EQ(shards[r].size(), 4u);
  for (size_t k = 0; k < whole.size(); ++k) {
    std::vector<int64_t> together;
    for (int r = 0; r < 3; ++r) together.insert(together.end(), shards[r][k].begin(), shards[r][k].end());
    std::sort(together.begin(), together.end());
    std::vector<int64_t> expected = whole[k];
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(together, expected) << "batch " << k;
  }
  // Strided as DistributedSampler: rank 1 holds the order's positions 1, 4, 7...
  const std::vector<int64_t> order = flat(whole);
  EXPECT_EQ(flat(shards[1]), (std::vector<int64_t>{order[1], order[4], order[7], order[10], order[13], order[16],
                                                     order[19], order[22]}));
}

TEST(BatchLoaderShards, PaddingGivesEveryRankAsManyBatchesAndWithoutItNoSampleTwice) {
  auto data = std::make_shared<IndexDataset>(10);
  BatchLoader one(data, 10, /*shuffle=*/true, 5);
  const std::vector<int64_t> order = flat(epoch(one, 0));
  // 10 samples on 4 ranks: 3 each, the last two positions repeating the order's first two.
  std::vector<int64_t> padded;
  for (int r = 0; r < 4; ++r) {
    BatchLoader loader(data, 2, true, 5);
    loader.set_shard(r, 4);
    EXPECT_EQ(loader.batches_per_epoch(), 2);
    loader.start_epoch(0);
    const auto batches = rest_of_epoch(loader);
    ASSERT_EQ(batches.size(), 2u);
    EXPECT_EQ(batches[1].size(), 1u);
    const auto mine = flat(batches);
    padded.insert(padded.end(), mine.begin(), mine.end());
  }
  std::vector<int64_t> expected = order;
  expected.push_back(order[0]);
  expected.push_back(order[1]);
  std::sort(expected.begin(), expected.end());
  std::sort(padded.begin(), padded.end());
  EXPECT_EQ(padded, expected);
  // Validation's shards: every sample once, ranks 0 and 1 one more than ranks 2 and 3.
  std::vector<int64_t> unpadded;
  for (int r = 0; r < 4; ++r) {
    const auto mine = flat(shard_epoch(data, 2, r, 4, /*pad=*/false, 0));
    EXPECT_EQ(mine.size(), r < 2 ? 3u : 2u) << "rank " << r;
    unpadded.insert(unpadded.end(), mine.begin(), mine.end());
  }
  std::sort(unpadded.begin(), unpadded.end());
  EXPECT_EQ(unpadded, iota(10));
}

TEST(BatchLoaderShards, PositionsAreInTheWholeOrderSoAResumeMayChangeTheRankCount) {
  auto data = std::make_shared<IndexDataset>(40);
  // Two ranks at batch 4 stop after 3 batches each: position 24 of the order.
  BatchLoader rank0(data, 4, true, 5);
  rank0.set_shard(0, 2);
  rank0.start_epoch(2);
  std::map<std::string, Tensor> batch;
  for (int k = 0; k < 3; ++k) ASSERT_TRUE(rank0.next(batch));
  EXPECT_EQ(rank0.next_sample(), 24);
  BatchLoader resumed_rank0(data, 4, true, 5);
  resumed_rank0.set_shard(0, 2);
  resumed_rank0.start_epoch(2, 3);  // batch 3 of the two-rank run: the same position
  EXPECT_EQ(resumed_rank0.next_sample(), 24);
  // One process at batch 8 from there reads what the two ranks had left.
  std::vector<int64_t> left_on_two;
  for (int r = 0; r < 2; ++r) {
    const auto mine = flat(shard_epoch(data, 4, r, 2, true, 2, 24));
    left_on_two.insert(left_on_two.end(), mine.begin(), mine.end());
  }
  BatchLoader single(data, 8, true, 5);
  EXPECT_EQ(single.batches_from_sample(24), 2);
  single.start_epoch_at_sample(2, 24);
  std::vector<int64_t> left_on_one = flat(rest_of_epoch(single));
  std::sort(left_on_two.begin(), left_on_two.end());
  std::sort(left_on_one.begin(), left_on_one.end());
  EXPECT_EQ(left_on_two, left_on_one);
  EXPECT_EQ(left_on_one.size(), 16u);
}

}  // namespace
}  // namespace onnx_train
