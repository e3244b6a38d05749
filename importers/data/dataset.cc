#include "importers/data/dataset.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>

#include "importers/data/formats.h"
#include "runtime/core/dispatch.h"

namespace onnx_train {

namespace fs = std::filesystem;

namespace {

// ---- Split discovery

const char* const kValidationFolders[] = {"val", "valid", "validation", "test"};  // by preference
const char* const kValidationPrefixes[] = {"val", "test", "t10k"};                // "valid..." starts with "val"

bool starts_with_ignoring_case(const std::string& name, const std::string& prefix) {
  return name.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), name.begin(), [](char p, char c) {
           return p == std::tolower(static_cast<unsigned char>(c));
         });
}

std::string filename(const std::string& path) { return fs::path(path).filename().string(); }

// A folder's regular files and sub-folders, full paths, sorted; hidden entries (.DS_Store,
// .ipynb_checkpoints) are not data.
SplitSource list_folder(const std::string& name, const std::string& dir) {
  SplitSource split{name, dir, {}, {}};
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (filename(it->path().string()).rfind('.', 0) == 0) continue;
    if (it->is_directory(ec))
      split.dirs.push_back(it->path().string());
    else if (it->is_regular_file(ec))
      split.files.push_back(it->path().string());
  }
  OT_CHECK(!ec, "{}: cannot list the folder: {}", dir, ec.message());
  std::sort(split.files.begin(), split.files.end());
  std::sort(split.dirs.begin(), split.dirs.end());
  return split;
}

std::string contents(const SplitSource& split) {
  constexpr size_t kShown = 10;
  std::vector<std::string> names;
  for (const auto& d : split.dirs) names.push_back(filename(d) + "/");
  for (const auto& f : split.files) names.push_back(filename(f));
  const size_t total = names.size();
  if (total > kShown) names.resize(kShown);
  return fmt::format("{}{}", fmt::join(names, ", "), total > kShown ? fmt::format(" and {} more", total - kShown) : "");
}

struct Format {
  const char* name;
  FormatOpener open;
};

const Format kFormats[] = {
    {"npy", open_npy_files}, {"npz", open_npz_files}, {"test_data_set_*", open_tensor_proto_sets},
    {"csv", open_csv_files}, {"IDX", open_idx_files}, {"image class folders", open_image_folders}};

// Every format's opener looks at the split; exactly one may recognise it. An opener that
// throws recognised its files, so it counts as a claim too: with another claim beside it the
// problem is the mix, otherwise its error is the answer.
std::shared_ptr<const Dataset> open_split(const SplitSource& split, const std::vector<FieldSpec>& wanted,
                                          const DataOptions& options) {
  std::unique_ptr<Dataset> found;
  std::exception_ptr failure;
  std::vector<std::string> claims;
  for (const auto& format : kFormats) {
    try {
      if (auto data = format.open(split, wanted, options)) {
        claims.push_back(fmt::format("{} ({})", format.name, data->describe()));
        found = std::move(data);
      }
    } catch (const Error& e) {
      claims.push_back(fmt::format("{} ({})", format.name, e.what()));
      failure = std::current_exception();
    }
  }
  OT_CHECK(claims.size() <= 1,
           "{}: mixed formats in the {} data: {}; keep one format per split and move the other files out", split.dir,
           split.name, fmt::join(claims, "; "));
  if (failure) std::rethrow_exception(failure);
  OT_CHECK(found,
           "no data: {} holds no file in a known format (npy, npz, test_data_set_*, csv, IDX, image class folders) "
           "for the {} split; it holds {}",
           split.dir, split.name, split.files.empty() && split.dirs.empty() ? "nothing" : contents(split));
  return found;
}

// The splits of `dir`: train/ and a validation folder, or files named train*, val*, test*...
// side by side, or every file as training data.
std::vector<SplitSource> find_splits(const std::string& dir) {
  const SplitSource top = list_folder("train", dir);
  OT_CHECK(!top.files.empty() || !top.dirs.empty(), "{}: the data folder is empty; put the training data in it", dir);
  auto sub_folder = [&](const std::string& name) {
    const auto it = std::find_if(top.dirs.begin(), top.dirs.end(), [&](const auto& d) { return filename(d) == name; });
    return it == top.dirs.end() ? std::string() : *it;
  };
  std::string val_dir;
  for (const char* name : kValidationFolders)
    if (val_dir.empty()) val_dir = sub_folder(name);
  const std::string train_dir = sub_folder("train");
  if (!train_dir.empty()) {
    std::vector<SplitSource> splits = {list_folder("train", train_dir)};
    if (!val_dir.empty()) splits.push_back(list_folder("validation", val_dir));
    return splits;
  }
  OT_CHECK(val_dir.empty(), "{}: there is a {}/ folder but no train/ folder; put the training data in {}/train/", dir,
           filename(val_dir), dir);

  SplitSource train{"train", dir, {}, {}}, val{"validation", dir, {}, {}}, other{"train", dir, {}, top.dirs};
  for (const auto& path : top.files) {
    const std::string name = filename(path);
    const bool is_val = std::any_of(std::begin(kValidationPrefixes), std::end(kValidationPrefixes),
                                    [&](const char* p) { return starts_with_ignoring_case(name, p); });
    (starts_with_ignoring_case(name, "train") ? train : is_val ? val : other).files.push_back(path);
  }
  std::vector<SplitSource> splits = {train.files.empty() ? other : train};
  OT_CHECK(!splits[0].files.empty() || !splits[0].dirs.empty(),
           "{}: only validation files ({}) and no training data; name the training files train* or put them in "
           "{}/train/",
           dir, contents(val), dir);
  if (!val.files.empty()) splits.push_back(val);
  return splits;
}

void check_same_fields(const Dataset& train, const Dataset& val) {
  for (size_t f = 0; f < train.fields().size(); ++f) {
    const FieldSpec& t = train.fields()[f];
    const FieldSpec& v = val.fields()[f];
    OT_CHECK(t.dtype == v.dtype && t.sample_shape == v.sample_shape,
             "the validation data ({}) gives field '{}' samples of {} {} but the training data ({}) gives {} {}; both "
             "splits need samples of the same shape",
             val.describe(), t.name, dtype_name(v.dtype), shape_str(v.sample_shape), train.describe(),
             dtype_name(t.dtype), shape_str(t.sample_shape));
  }
}

// ---- Seeded orders

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A seed for stream `stream` of `seed` (an epoch's order, the validation split) that
// differs unpredictably between neighbouring seeds and streams.
uint64_t stream_seed(uint64_t seed, uint64_t stream) { return splitmix64(splitmix64(seed) ^ splitmix64(stream)); }
constexpr uint64_t kValidationStream = ~0ull;  // epochs use streams 0, 1, 2, ...

// Uniform in [0, bound) by rejection: std::uniform_int_distribution's output differs between
// standard libraries, while mt19937_64's is fixed by the standard.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound: below it, small results would be favoured
  for (;;) {
    const uint64_t x = rng();
    if (x >= threshold) return x % bound;
  }
}

std::vector<int64_t> permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  for (int64_t i = n - 1; i > 0; --i)
    std::swap(order[static_cast<size_t>(i)], order[uniform_below(rng, static_cast<uint64_t>(i) + 1)]);
  return order;
}

// Some samples of another dataset.
class SubsetDataset : public Dataset {
 public:
  SubsetDataset(std::shared_ptr<const Dataset> data, std::vector<int64_t> indices, std::string what)
      : data_(std::move(data)), indices_(std::move(indices)), what_(std::move(what)) {}

  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  const std::vector<FieldSpec>& fields() const override { return data_->fields(); }
  void read(size_t field, int64_t index, void* out) const override { data_->read(field, parent_index(index), out); }
  std::string source_of(size_t field, int64_t index) const override {
    return data_->source_of(field, parent_index(index));
  }
  std::string describe() const override {
    return fmt::format("{} samples of {}, {}", size(), data_->describe(), what_);
  }
  std::vector<std::string> class_names() const override { return data_->class_names(); }

 private:
  int64_t parent_index(int64_t index) const {
    OT_CHECK(index >= 0 && index < size(), "{}: no sample {} (it holds {})", describe(), index, size());
    return indices_[static_cast<size_t>(index)];
  }

  std::shared_ptr<const Dataset> data_;
  std::vector<int64_t> indices_;
  std::string what_;
};

}  // namespace

DataSplits open_data(const std::string& dir, const std::vector<FieldSpec>& wanted, const DataOptions& options) {
  OT_CHECK(!wanted.empty(), "open_data: no fields wanted");
  for (const auto& field : wanted)
    OT_CHECK(dtype_is_supported(field.dtype), "field '{}' has element type {}, which data files cannot provide",
             field.name, dtype_name(field.dtype));
  std::error_code ec;
  OT_CHECK(fs::exists(dir, ec), "{}: no such folder; pass the folder that holds the training data", dir);
  OT_CHECK(fs::is_directory(dir, ec), "{}: not a folder; pass the folder that holds the training data", dir);

  const std::vector<SplitSource> splits = find_splits(dir);
  DataSplits data;
  data.train = open_split(splits[0], wanted, options);
  if (splits.size() > 1) {
    data.val = open_split(splits[1], wanted, options);
    check_same_fields(*data.train, *data.val);
  }
  return data;
}

DataSplits split_validation(std::shared_ptr<const Dataset> data, double fraction, uint64_t seed) {
  OT_CHECK(data, "split_validation: no data");
  OT_CHECK(fraction > 0 && fraction < 1, "the validation fraction {} is not between 0 and 1 (0.1 holds out 10%)",
           fraction);
  const int64_t n = data->size();
  const auto n_val = static_cast<int64_t>(std::llround(fraction * static_cast<double>(n)));
  OT_CHECK(n_val >= 1 && n_val < n,
           "holding out {:g}% of {} samples leaves {} for validation and {} for training; both need at least one "
           "(choose another fraction or give more data)",
           fraction * 100, n, n_val, n - n_val);
  std::vector<int64_t> order = permutation(n, stream_seed(seed, kValidationStream));
  // Each part in file order: reads stay sequential, and the loader shuffles anyway.
  std::vector<int64_t> val(order.begin(), order.begin() + n_val), train(order.begin() + n_val, order.end());
  std::sort(val.begin(), val.end());
  std::sort(train.begin(), train.end());
  const std::string percent = fmt::format("{:g}%", fraction * 100);
  return {std::make_shared<SubsetDataset>(data, std::move(train), "training part (" + percent + " held out)"),
          std::make_shared<SubsetDataset>(data, std::move(val), percent + " held out for validation")};
}

// ---- BatchLoader

struct BatchLoader::Impl {
  struct Result {
    std::map<std::string, Tensor> batch;
    std::exception_ptr error;
  };

  std::shared_ptr<const Dataset> data;
  int64_t batch_size = 0;
  bool shuffle = false;
  uint64_t seed = 0;
  bool drop_last = false;
  size_t prefetch = 0;

  // Owned by the consumer; the worker only reads `order` while it runs.
  std::vector<int64_t> order;  // this epoch's samples
  bool started = false;
  int64_t next_batch = 0;

  // Shared between the consumer and the worker, under `mutex`.
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<Result> ready;  // assembled batches, in order; an error stays at the front
  bool stop = false;
  std::thread worker;

  ~Impl() { stop_worker(); }

  int64_t batches() const {
    const int64_t n = data->size();
    return drop_last ? n / batch_size : (n + batch_size - 1) / batch_size;
  }

  void stop_worker() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop = true;
    }
    changed.notify_all();
    if (worker.joinable()) worker.join();
    ready.clear();
    stop = false;
  }

  // The worker: assembles batches [first, end), at most `prefetch` ahead of the consumer;
  // stops at the first error, which next() rethrows.
  void run(int64_t first, int64_t end) {
    for (int64_t b = first; b < end; ++b) {
      {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return stop || ready.size() < prefetch; });
        if (stop) return;
      }
      Result result;
      try {
        result.batch = assemble(b);
      } catch (...) {
        result.error = std::current_exception();
      }
      const bool failed = result.error != nullptr;
      {
        std::lock_guard<std::mutex> lock(mutex);
        ready.push_back(std::move(result));
      }
      changed.notify_all();
      if (failed) return;
    }
  }

  std::map<std::string, Tensor> assemble(int64_t b) const {
    const int64_t first = b * batch_size;
    const int64_t n = std::min(batch_size, data->size() - first);
    std::map<std::string, Tensor> batch;
    for (size_t f = 0; f < data->fields().size(); ++f) {
      const FieldSpec& field = data->fields()[f];
      Shape shape = {n};
      shape.insert(shape.end(), field.sample_shape.begin(), field.sample_shape.end());
      Tensor t(field.dtype, shape);
      const size_t sample_bytes = static_cast<size_t>(shape_numel(field.sample_shape)) * dtype_size(field.dtype);
      auto* out = static_cast<uint8_t*>(t.raw_data());
      for (int64_t i = 0; i < n; ++i) data->read(f, order[static_cast<size_t>(first + i)], out + i * sample_bytes);
      check(f, t, first);
      batch[field.name] = std::move(t);
    }
    return batch;
  }

  // NaN or Inf in a float field, or a class label out of range, names the sample's source.
  void check(size_t f, const Tensor& t, int64_t first) const {
    const FieldSpec& field = data->fields()[f];
    const int64_t sample_numel = std::max<int64_t>(shape_numel(field.sample_shape), 1);
    auto source = [&](int64_t element) {
      return data->source_of(f, order[static_cast<size_t>(first + element / sample_numel)]);
    };
    if (dtype_is_float(field.dtype)) {
      visit_float(field.dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* p = static_cast<const T*>(t.raw_data());
        for (int64_t k = 0; k < t.numel(); ++k) {
          const auto v = to_compute(p[k]);
          OT_CHECK(std::isfinite(v),
                   "{}: field '{}' holds {} (element {} of the sample); clean the data (numpy.nan_to_num) or drop "
                   "the sample",
                   source(k), field.name, v, k % sample_numel);
        }
      });
    } else if (field.is_label && field.num_classes > 0 && field.dtype != DType::Bool) {
      visit_integer(field.dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* p = static_cast<const T*>(t.raw_data());
        for (int64_t k = 0; k < t.numel(); ++k) {
          const auto v = static_cast<int64_t>(p[k]);
          const bool in_range = std::is_unsigned_v<T>
                                    ? static_cast<uint64_t>(p[k]) < static_cast<uint64_t>(field.num_classes)
                                    : v >= 0 && v < field.num_classes;
          OT_CHECK(in_range || v == field.ignore_index,
                   "{}: class label {} of field '{}' is outside [0, {}): the model has {} classes, numbered from 0 "
                   "({} marks samples to ignore); fix the label or the model's class count",
                   source(k), +p[k], field.name, field.num_classes, field.num_classes, field.ignore_index);
        }
      });
    }
  }
};

BatchLoader::BatchLoader(std::shared_ptr<const Dataset> data, int64_t batch_size, bool shuffle, uint64_t seed,
                         bool drop_last, int prefetch)
    : impl_(std::make_unique<Impl>()) {
  OT_CHECK(data, "BatchLoader: no data");
  OT_CHECK(batch_size >= 1, "the batch size must be at least 1 (got {})", batch_size);
  OT_CHECK(prefetch >= 1, "BatchLoader: prefetch must be at least 1 batch (got {})", prefetch);
  impl_->data = std::move(data);
  impl_->batch_size = batch_size;
  impl_->shuffle = shuffle;
  impl_->seed = seed;
  impl_->drop_last = drop_last;
  impl_->prefetch = static_cast<size_t>(prefetch);
}

BatchLoader::~BatchLoader() = default;

int64_t BatchLoader::batches_per_epoch() const { return impl_->batches(); }

int64_t BatchLoader::batch_size() const { return impl_->batch_size; }

void BatchLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  Impl& m = *impl_;
  OT_CHECK(epoch >= 0, "BatchLoader::start_epoch: epoch {} is negative", epoch);
  OT_CHECK(first_batch >= 0 && first_batch <= m.batches(),
           "cannot resume at batch {} of an epoch of {} batches (batch size {}); was the checkpoint made with "
           "other data or another batch size?",
           first_batch, m.batches(), m.batch_size);
  m.stop_worker();
  const int64_t n = m.data->size();
  if (m.shuffle) {
    m.order = permutation(n, stream_seed(m.seed, static_cast<uint64_t>(epoch)));
  } else {
    m.order.resize(static_cast<size_t>(n));
    std::iota(m.order.begin(), m.order.end(), 0);
  }
  m.next_batch = first_batch;
  m.started = true;
  m.worker = std::thread([&m, first_batch, end = m.batches()] { m.run(first_batch, end); });
}

bool BatchLoader::next(std::map<std::string, Tensor>& batch) {
  Impl& m = *impl_;
  OT_CHECK(m.started, "BatchLoader::next: call start_epoch first");
  if (m.next_batch >= m.batches()) return false;
  std::unique_lock<std::mutex> lock(m.mutex);
  m.changed.wait(lock, [&] { return !m.ready.empty(); });
  if (m.ready.front().error) std::rethrow_exception(m.ready.front().error);
  batch = std::move(m.ready.front().batch);
  m.ready.pop_front();
  ++m.next_batch;
  lock.unlock();
  m.changed.notify_all();
  return true;
}

}  // namespace onnx_train
