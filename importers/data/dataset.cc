#include "onnx_train/dataset.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <random>
#include <thread>

#include "importers/data/formats.h"
#include "importers/training_info_io.h"
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

// A mapping the format has no use for is a mistake to hear about, not to pass over: csv's
// column choices for other files, --input for the formats that fill a single input by kind.
void check_mapping_fits(const Format& format, const DataOptions& options, const SplitSource& split) {
  const std::string name = format.name;
  OT_CHECK(name == "csv" || (options.columns.empty() && options.ignore_columns.empty()),
           "{}: --columns and --ignore-columns choose csv columns, but the {} data is {}; leave them out", split.dir,
           split.name, name);
  OT_CHECK((name != "IDX" && name != "image class folders") || options.sources.empty(),
           "{}: --input {}=...: the {} data is {}, which feeds the model's image input by itself; leave --input out",
           split.dir, options.sources.empty() ? "" : options.sources.begin()->first, split.name, name);
}

// Every format's opener looks at the split; exactly one may recognise it. An opener that
// throws recognised its files, so it counts as a claim too: with another claim beside it the
// problem is the mix, otherwise its error is the answer.
std::shared_ptr<const Dataset> open_split(const SplitSource& split, const std::vector<FieldSpec>& wanted,
                                          const DataOptions& options) {
  std::unique_ptr<Dataset> found;
  const Format* found_format = nullptr;
  std::exception_ptr failure;
  std::vector<std::string> claims;
  for (const auto& format : kFormats) {
    try {
      if (auto data = format.open(split, wanted, options)) {
        claims.push_back(fmt::format("{} ({})", format.name, data->describe()));
        found = std::move(data);
        found_format = &format;
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
  OT_CHECK(found || !split.single_file,
           "{}: not data in a known format (a .npy, .npz or .csv file, an IDX file, or a folder of them or of "
           "images); pass the data file or the folder that holds the training data",
           split.files.empty() ? split.dir : split.files[0]);
  OT_CHECK(found,
           "no data: {} holds no file in a known format (npy, npz, test_data_set_*, csv, IDX, image class folders) "
           "for the {} split; it holds {}",
           split.dir, split.name, split.files.empty() && split.dirs.empty() ? "nothing" : contents(split));
  check_mapping_fits(*found_format, options, split);
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
constexpr uint64_t kAugmentStream = ~1ull;     // augmentation: its own stream of epochs and samples

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
  void read_augmented(size_t field, int64_t index, uint64_t draw_seed, void* out) const override {
    data_->read_augmented(field, parent_index(index), draw_seed, out);
  }
  std::string source_of(size_t field, int64_t index) const override {
    return data_->source_of(field, parent_index(index));
  }
  std::string describe() const override {
    return fmt::format("{} samples of {}, {}", size(), data_->describe(), what_);
  }
  std::vector<std::string> class_names() const override { return data_->class_names(); }
  bool class_names_from_labels() const override { return data_->class_names_from_labels(); }
  std::string sample_name(int64_t index) const override { return data_->sample_name(parent_index(index)); }
  BadSampleLog* bad_sample_log() const override { return data_->bad_sample_log(); }

 private:
  int64_t parent_index(int64_t index) const {
    OT_CHECK(index >= 0 && index < size(), "{}: no sample {} (it holds {})", describe(), index, size());
    return indices_[static_cast<size_t>(index)];
  }

  std::shared_ptr<const Dataset> data_;
  std::vector<int64_t> indices_;
  std::string what_;
};

// Another dataset whose BatchLoaders leave bad samples out, recording them in `log`. The
// samples stay where they are (bad ones included): batches hold the same samples whether a
// bad one was found before training or only when read, so a resumed run sees the same ones.
class LoggedDataset : public Dataset {
 public:
  LoggedDataset(std::shared_ptr<const Dataset> data, std::shared_ptr<BadSampleLog> log)
      : data_(std::move(data)), log_(std::move(log)) {}

  int64_t size() const override { return data_->size(); }
  const std::vector<FieldSpec>& fields() const override { return data_->fields(); }
  void read(size_t field, int64_t index, void* out) const override { data_->read(field, index, out); }
  void read_augmented(size_t field, int64_t index, uint64_t draw_seed, void* out) const override {
    data_->read_augmented(field, index, draw_seed, out);
  }
  std::string source_of(size_t field, int64_t index) const override { return data_->source_of(field, index); }
  std::string describe() const override { return data_->describe(); }
  std::vector<std::string> class_names() const override { return data_->class_names(); }
  bool class_names_from_labels() const override { return data_->class_names_from_labels(); }
  std::string sample_name(int64_t index) const override { return data_->sample_name(index); }
  BadSampleLog* bad_sample_log() const override { return log_.get(); }

 private:
  std::shared_ptr<const Dataset> data_;
  std::shared_ptr<BadSampleLog> log_;
};

// ---- Checking samples

// NaN or Inf in a float field, or a class label out of range, in one sample of `field`
// (`numel` elements at `sample`): an Error starting with `source()`.
void check_sample(const FieldSpec& field, const void* sample, int64_t numel,
                  const std::function<std::string()>& source) {
  if (dtype_is_float(field.dtype)) {
    visit_float(field.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* p = static_cast<const T*>(sample);
      for (int64_t k = 0; k < numel; ++k) {
        const auto v = to_compute(p[k]);
        OT_CHECK(std::isfinite(v),
                 "{}: field '{}' holds {} (element {} of the sample); clean the data (numpy.nan_to_num) or drop "
                 "the sample",
                 source(), field.name, v, k);
      }
    });
  } else if (field.is_label && field.num_classes > 0 && field.dtype != DType::Bool) {
    visit_integer(field.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* p = static_cast<const T*>(sample);
      for (int64_t k = 0; k < numel; ++k) {
        const auto v = static_cast<int64_t>(p[k]);
        const bool in_range = std::is_unsigned_v<T>
                                  ? static_cast<uint64_t>(p[k]) < static_cast<uint64_t>(field.num_classes)
                                  : v >= 0 && v < field.num_classes;
        OT_CHECK(in_range || v == field.ignore_index,
                 "{}: class label {} of field '{}' is outside [0, {}): the model has {} classes, numbered from 0 "
                 "({} marks samples to ignore); fix the label, or give the model a new head of as many classes as "
                 "the labels have (--num-classes N)",
                 source(), +p[k], field.name, field.num_classes, field.num_classes, field.ignore_index);
      }
    });
  }
}

// Reads sample `index` of every field of `data` into outs[f] and checks it; with
// `draw_seed`, augmented (Dataset::read_augmented). On an Error, `failed` holds the field
// being read.
void read_checked_sample(const Dataset& data, int64_t index, const std::vector<uint8_t*>& outs, size_t& failed,
                         const std::optional<uint64_t>& draw_seed = std::nullopt) {
  const auto& fields = data.fields();
  for (size_t f = 0; f < fields.size(); ++f) {
    failed = f;
    if (draw_seed)
      data.read_augmented(f, index, *draw_seed, outs[f]);
    else
      data.read(f, index, outs[f]);
    check_sample(fields[f], outs[f], shape_numel(fields[f].sample_shape), [&] { return data.source_of(f, index); });
  }
}

BadSample bad_sample(const Dataset& data, size_t field, int64_t index, const Error& e) {
  return BadSample{index, data.source_of(field, index), e.what()};
}

// ---- Metadata (data_metadata)

// A class name as a JSON string: nlohmann's escaping, bytes that are not UTF-8 replaced by
// U+FFFD (a folder name in Latin-1 still makes valid metadata).
std::string json_string(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A JSON array of strings (any JSON writer's: \uXXXX escapes and surrogate pairs included);
// nullopt for anything else. The entry comes from a model file, so it is parsed without
// exceptions and checked for its shape.
std::optional<std::vector<std::string>> parse_json_strings(const std::string& text) {
  const nlohmann::json parsed = nlohmann::json::parse(text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const nlohmann::json& item : parsed) {
    if (!item.is_string()) return std::nullopt;
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::vector<float> parse_floats(const std::string& text, const std::string& key, const std::string& source) {
  std::vector<float> out;
  size_t begin = 0;
  while (begin <= text.size()) {
    const size_t comma = std::min(text.find(',', begin), text.size());
    const std::string item = text.substr(begin, comma - begin);
    char* end = nullptr;
    const float v = std::strtof(item.c_str(), &end);
    OT_CHECK(!item.empty() && *end == '\0' && std::isfinite(v),
             "{}: the metadata entry '{}' is '{}', not a comma-separated list of numbers; the file was changed "
             "after onnx-train wrote it (give --mean and --std instead)",
             source, key, text);
    out.push_back(v);
    begin = comma + 1;
  }
  return out;
}

// Every name DataOptions::sources maps is a model input: a mistyped one would otherwise map
// nothing and leave its input looking for a file of its own name.
void check_sources(const std::vector<FieldSpec>& wanted, const DataOptions& options) {
  std::vector<std::string> inputs;
  for (const auto& field : wanted)
    if (!field.is_label) inputs.push_back(field.name);
  for (const auto& [name, source] : options.sources) {
    const auto field = std::find_if(wanted.begin(), wanted.end(), [&name = name](const FieldSpec& f) { return f.name == name; });
    OT_CHECK(field == wanted.end() || !field->is_label,
             "--input {}={}: '{}' is the label, not a model input; name the label's data with --label {}", name, source,
             name, source);
    OT_CHECK(field != wanted.end(), "--input {}={}: the model has no input '{}'; its inputs are {}", name, source, name,
             fmt::join(inputs, ", "));
  }
}

// open_data once the fields and options are known to be sound: what fails from here on is
// about the data.
DataSplits open_splits(const std::string& dir, const std::vector<FieldSpec>& wanted, const DataOptions& options) {
  std::error_code ec;
  OT_CHECK(fs::exists(dir, ec), "{}: no such folder; pass the folder that holds the training data", dir);
  // One data file (a csv, an npz, an npy of the single input) is a training split of its own.
  const bool one_file = fs::is_regular_file(dir, ec);
  OT_CHECK(one_file || fs::is_directory(dir, ec),
           "{}: not a folder or a file; pass the folder that holds the training data", dir);
  const std::string parent = fs::path(dir).parent_path().string();
  const std::vector<SplitSource> splits =
      one_file ? std::vector<SplitSource>{{"train", parent.empty() ? "." : parent, {dir}, {}, /*single_file=*/true}}
               : find_splits(dir);
  DataSplits data;
  data.train = open_split(splits[0], wanted, options);
  if (options.classes.empty()) check_training_classes(splits[0], *data.train, wanted);
  // Image class folders are the only data with classes. A stored size (image_size_from) only
  // describes the images a model was trained on, so other data may go with it.
  const bool images = !data.train->class_names().empty();
  const bool size_given = options.image_height > 0 && options.image_size_from.empty();
  OT_CHECK(images || (!size_given && !options.augment.any()),
           "{}: {} applies to image class folders, but the data is {}; leave it out", dir,
           size_given && options.augment.any() ? "--image-size and --augment each"
           : size_given                        ? "--image-size"
                                               : "--augment",
           data.train->describe());
  if (splits.size() > 1) {
    // Class indices are the training split's: the validation folders map to them by name.
    DataOptions val_options = options;
    if (val_options.classes.empty() && !data.train->class_names().empty()) {
      val_options.classes = data.train->class_names();
      val_options.classes_from = "the training data in " + splits[0].dir;
    }
    data.val = open_split(splits[1], wanted, val_options);
    check_same_fields(*data.train, *data.val);
  }
  return data;
}

}  // namespace

DataSplits open_data(const std::string& dir, const std::vector<FieldSpec>& wanted, const DataOptions& options) {
  OT_CHECK(!wanted.empty(), "open_data: no fields wanted");
  for (const auto& field : wanted)
    OT_CHECK(dtype_is_supported(field.dtype), "field '{}' has element type {}, which data files cannot provide",
             field.name, dtype_name(field.dtype));
  check_sources(wanted, options);
  return with_category(ErrorCategory::Data, [&] { return open_splits(dir, wanted, options); });
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
  bool augment = false;
  size_t workers = 1;  // threads reading a batch's samples, the assembling one included
  int64_t rank = 0, ranks = 1;  // set_shard
  bool pad = true;

  // Owned by the consumer; the worker only reads `order` and `epoch_draws` while it runs.
  std::vector<int64_t> order;  // this epoch's samples
  uint64_t epoch_draws = 0;    // augmentation: this epoch's seed, which a sample's index completes
  bool started = false;
  int64_t epoch = -1;
  // The epoch is read from order[first_sample] on, in batches of batch_size: batch b (from 0)
  // starts at order[first_sample + b * batch_size]; end_batch of them are left.
  int64_t first_sample = 0, next_batch = 0, end_batch = 0;

  // Shared between the consumer and the worker, under `mutex`.
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<Result> ready;  // assembled batches, in order; an error stays at the front
  bool stop = false;
  std::thread worker;

  ~Impl() { stop_worker(); }

  int64_t batches() const { return batches_from(0); }
  // The samples this rank reads of an epoch read from its position `first` on: every ranks-th
  // (from the rank's own), the rest padded to a multiple of ranks when `pad`.
  int64_t shard_samples(int64_t first) const {
    const int64_t left = std::max<int64_t>(data->size() - first, 0);
    if (ranks == 1) return left;
    if (pad) return (left + ranks - 1) / ranks;
    return left > rank ? (left - rank + ranks - 1) / ranks : 0;
  }
  // The batches of an epoch read from its sample `first` on (the last one smaller, or left out).
  int64_t batches_from(int64_t first) const {
    const int64_t n = shard_samples(first);
    return drop_last ? n / batch_size : (n + batch_size - 1) / batch_size;
  }
  // The sample at position `i` of this rank's share of the epoch (from first_sample): the whole
  // order's position first_sample + rank + i * ranks; past its end (padding), its first samples.
  int64_t sample_at(int64_t i) const {
    const auto position = static_cast<size_t>((first_sample + rank + i * ranks) % data->size());
    return order[position];
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

  // A sample read for a batch: its row holds it, or it failed with `error` (`bad`: the
  // sample as BadSampleLog records it, when the failure is the data's Error).
  struct SampleRead {
    std::exception_ptr error;
    std::optional<BadSample> bad;
  };

  // Batch `b`: its samples read and checked on `workers` threads, each into its own row, so
  // the batch is the same for any number of them. The first bad one (in batch order) stops
  // the epoch with its Error, or, when the data leaves bad samples out, every bad one is
  // recorded (in batch order) and left out (the batch is smaller; an empty map when none is
  // left).
  std::map<std::string, Tensor> assemble(int64_t b) const {
    const int64_t first = b * batch_size;  // in this rank's share
    const int64_t n = std::min(batch_size, shard_samples(first_sample) - first);
    const auto& fields = data->fields();
    std::vector<Tensor> tensors;
    std::vector<size_t> sample_bytes;
    for (const FieldSpec& field : fields) {
      Shape shape = {n};
      shape.insert(shape.end(), field.sample_shape.begin(), field.sample_shape.end());
      tensors.emplace_back(field.dtype, shape);
      sample_bytes.push_back(static_cast<size_t>(shape_numel(field.sample_shape)) * dtype_size(field.dtype));
    }
    auto row = [&](size_t f, int64_t i) {
      return static_cast<uint8_t*>(tensors[f].raw_data()) + static_cast<size_t>(i) * sample_bytes[f];
    };
    std::vector<SampleRead> reads(static_cast<size_t>(n));
    std::atomic<int64_t> next_sample{0};
    auto read_samples = [&] {
      std::vector<uint8_t*> outs(fields.size());
      for (int64_t i; (i = next_sample++) < n;) {
        const int64_t index = sample_at(first + i);
        for (size_t f = 0; f < fields.size(); ++f) outs[f] = row(f, i);
        size_t failed = 0;
        const std::optional<uint64_t> draw_seed =
            augment ? std::optional(stream_seed(epoch_draws, static_cast<uint64_t>(index))) : std::nullopt;
        try {
          read_checked_sample(*data, index, outs, failed, draw_seed);
        } catch (const Error& e) {
          reads[static_cast<size_t>(i)] = {std::current_exception(), bad_sample(*data, failed, index, e)};
        } catch (...) {
          reads[static_cast<size_t>(i)].error = std::current_exception();
        }
      }
    };
    std::vector<std::thread> helpers;
    for (size_t t = 1; t < std::min(workers, static_cast<size_t>(n)); ++t) helpers.emplace_back(read_samples);
    read_samples();
    for (std::thread& helper : helpers) helper.join();

    BadSampleLog* log = data->bad_sample_log();
    int64_t kept = 0;
    for (int64_t i = 0; i < n; ++i) {
      const SampleRead& read = reads[static_cast<size_t>(i)];
      if (read.error) {
        if (log == nullptr || !read.bad) std::rethrow_exception(read.error);
        log->add(*read.bad);
        continue;
      }
      if (kept < i)  // samples were left out before this one: its row moves up
        for (size_t f = 0; f < fields.size(); ++f) std::memcpy(row(f, kept), row(f, i), sample_bytes[f]);
      ++kept;
    }
    std::map<std::string, Tensor> batch;
    if (kept == 0) return batch;
    for (size_t f = 0; f < fields.size(); ++f) {
      if (kept < n) {  // samples were left out: the first `kept` rows are the batch
        Shape shape = tensors[f].shape();
        shape[0] = kept;
        Tensor smaller(fields[f].dtype, shape);
        std::memcpy(smaller.raw_data(), tensors[f].raw_data(), smaller.nbytes());
        tensors[f] = std::move(smaller);
      }
      batch[fields[f].name] = std::move(tensors[f]);
    }
    return batch;
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

void BatchLoader::set_augment(bool on) {
  OT_CHECK(!impl_->started, "BatchLoader::set_augment: call it before start_epoch");
  impl_->augment = on;
}

void BatchLoader::set_workers(int workers) {
  OT_CHECK(!impl_->started, "BatchLoader::set_workers: call it before start_epoch");
  OT_CHECK(workers >= 1, "the number of threads reading samples must be at least 1 (got {})", workers);
  impl_->workers = static_cast<size_t>(workers);
}

void BatchLoader::set_shard(int rank, int ranks, bool pad) {
  OT_CHECK(!impl_->started, "BatchLoader::set_shard: call it before start_epoch");
  OT_CHECK(ranks >= 1 && rank >= 0 && rank < ranks, "BatchLoader::set_shard: rank {} of {}", rank, ranks);
  impl_->rank = rank;
  impl_->ranks = ranks;
  impl_->pad = pad;
}

int64_t BatchLoader::batches_per_epoch() const { return impl_->batches(); }

int64_t BatchLoader::batch_size() const { return impl_->batch_size; }

void BatchLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  Impl& m = *impl_;
  OT_CHECK(first_batch >= 0 && first_batch <= m.batches(),
           "cannot resume at batch {} of an epoch of {} batches (batch size {}); was the checkpoint made with "
           "other data or another batch size?",
           first_batch, m.batches(), m.batch_size);
  start_epoch_at_sample(epoch, std::min(first_batch * m.batch_size * m.ranks, m.data->size()));
}

int64_t BatchLoader::batches_from_sample(int64_t first_sample) const { return impl_->batches_from(first_sample); }

int64_t BatchLoader::epoch() const { return impl_->started ? impl_->epoch : -1; }

int64_t BatchLoader::next_sample() const {
  const Impl& m = *impl_;
  return std::min(m.first_sample + m.next_batch * m.batch_size * m.ranks, m.data->size());
}

void BatchLoader::start_epoch_at_sample(int64_t epoch, int64_t first_sample) {
  Impl& m = *impl_;
  OT_CHECK(epoch >= 0, "BatchLoader::start_epoch: epoch {} is negative", epoch);
  OT_CHECK(first_sample >= 0, "BatchLoader::start_epoch_at_sample: sample {} is negative", first_sample);
  first_sample = std::min(first_sample, m.data->size());  // past the end: nothing left of the epoch
  m.stop_worker();
  const int64_t n = m.data->size();
  if (m.shuffle) {
    m.order = permutation(n, stream_seed(m.seed, static_cast<uint64_t>(epoch)));
  } else {
    m.order.resize(static_cast<size_t>(n));
    std::iota(m.order.begin(), m.order.end(), 0);
  }
  m.epoch_draws = stream_seed(stream_seed(m.seed, kAugmentStream), static_cast<uint64_t>(epoch));
  m.epoch = epoch;
  m.first_sample = first_sample;
  m.next_batch = 0;
  m.end_batch = m.batches_from(first_sample);
  m.started = true;
  m.worker = std::thread([&m] { m.run(0, m.end_batch); });
}

bool BatchLoader::next(std::map<std::string, Tensor>& batch) {
  Impl& m = *impl_;
  OT_CHECK(m.started, "BatchLoader::next: call start_epoch first");
  for (;;) {
    if (m.next_batch >= m.end_batch) return false;
    std::unique_lock<std::mutex> lock(m.mutex);
    m.changed.wait(lock, [&] { return !m.ready.empty(); });
    if (m.ready.front().error) {
      try {
        std::rethrow_exception(m.ready.front().error);
      } catch (Error& e) {
        e.classify(ErrorCategory::Data);  // a sample that cannot be read or checked
        throw;
      }
    }
    batch = std::move(m.ready.front().batch);
    m.ready.pop_front();
    ++m.next_batch;
    lock.unlock();
    m.changed.notify_all();
    if (!batch.empty()) return true;  // empty: every sample of the batch was left out
  }
}

// ---- Bad samples

void BadSampleLog::add(const BadSample& sample) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!seen_.insert(sample.source).second) return;
  if (kept_.size() < kKept) kept_.push_back(sample);
}

int64_t BadSampleLog::count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int64_t>(seen_.size());
}

std::vector<BadSample> BadSampleLog::first(size_t n) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {kept_.begin(), kept_.begin() + static_cast<std::ptrdiff_t>(std::min(n, kept_.size()))};
}

SampleScan scan_samples(const Dataset& data, double budget_seconds, bool stop_at_first) {
  using Clock = std::chrono::steady_clock;
  // The rate is measured over this many samples (or this long) before extrapolating: enough
  // to average out the first reads' page faults and decoder set-up.
  constexpr int64_t kProbeSamples = 64;
  constexpr double kProbeSeconds = 0.05;
  const auto start = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };

  const auto& fields = data.fields();
  std::vector<std::vector<uint8_t>> buffers;
  std::vector<uint8_t*> outs;
  for (const FieldSpec& field : fields) {
    buffers.emplace_back(static_cast<size_t>(shape_numel(field.sample_shape)) * dtype_size(field.dtype));
    outs.push_back(buffers.back().data());
  }
  SampleScan scan;
  const int64_t n = data.size();
  bool estimated = false;
  for (int64_t index = 0; index < n; ++index) {
    size_t failed = 0;
    try {
      read_checked_sample(data, index, outs, failed);
    } catch (const Error& e) {
      scan.bad.push_back(bad_sample(data, failed, index, e));
      if (stop_at_first) return scan;
    }
    const int64_t done = index + 1;
    if (!estimated && (done >= kProbeSamples || elapsed() >= kProbeSeconds)) {
      estimated = true;
      scan.estimated_seconds = elapsed() * static_cast<double>(n) / static_cast<double>(done);
      if (scan.estimated_seconds > budget_seconds) return scan;
    }
    if (elapsed() > 2 * budget_seconds) {  // slower than it looked (a slow disk further on)
      scan.estimated_seconds = elapsed() * static_cast<double>(n) / static_cast<double>(done);
      return scan;
    }
  }
  scan.complete = true;
  scan.estimated_seconds = elapsed();
  return scan;
}

std::shared_ptr<const Dataset> skip_bad_samples(std::shared_ptr<const Dataset> data,
                                                const std::vector<BadSample>& known_bad,
                                                std::shared_ptr<BadSampleLog> log) {
  OT_CHECK(data && log, "skip_bad_samples: no data or no log");
  OT_CHECK(static_cast<int64_t>(known_bad.size()) < data->size() || data->size() == 0,
           "{}: every one of its {} samples is bad (the first: {}); there is nothing to train on", data->describe(),
           data->size(), known_bad.empty() ? "" : known_bad[0].problem);
  for (const BadSample& sample : known_bad) log->add(sample);
  return std::make_shared<LoggedDataset>(std::move(data), std::move(log));
}

// ---- Metadata

std::map<std::string, std::string> data_metadata(const Dataset& train, const DataOptions& options) {
  std::map<std::string, std::string> out;
  const std::vector<std::string> classes = train.class_names();
  if (!classes.empty()) {
    std::string list;
    for (const auto& name : classes) list += (list.empty() ? "" : ", ") + json_string(name);
    out["data.classes"] = "[" + list + "]";
    for (const FieldSpec& field : train.fields()) {
      if (field.is_label || train.class_names_from_labels()) continue;
      out["data.input"] = field.name;
      out["data.input_shape"] = fmt::format("{}", fmt::join(field.sample_shape, ","));
      if (field.sample_shape.size() >= 2)  // C,H,W: the height and width images are resized to
        out["data.input_size"] =
            fmt::format("{}", fmt::join(field.sample_shape.end() - 2, field.sample_shape.end(), ","));
      out["data.input_layout"] =
          "NCHW; images decoded (gray or RGB), resized bilinearly to H x W, pixel values / 255, then "
          "(value - mean[c]) / std[c]";
    }
  }
  if (!options.mean.empty()) out["data.mean"] = fmt::format("{}", fmt::join(options.mean, ","));
  if (!options.std.empty()) out["data.std"] = fmt::format("{}", fmt::join(options.std, ","));
  return out;
}

DataOptions data_options_from_metadata(const std::map<std::string, std::string>& metadata, const std::string& source) {
  DataOptions options;
  if (const auto it = metadata.find("data.classes"); it != metadata.end()) {
    const auto classes = parse_json_strings(it->second);
    OT_CHECK(classes && !classes->empty(),
             "{}: the metadata entry 'data.classes' is not a JSON array of class names (it is '{}'); the file was "
             "changed after onnx-train wrote it",
             source, it->second);
    options.classes = *classes;
    options.classes_from = source;
  }
  // The C,H,W images were resized to: the size for a model input with an open height or width.
  if (const auto it = metadata.find("data.input_shape"); it != metadata.end()) {
    const std::vector<float> chw = parse_floats(it->second, it->first, source);
    OT_CHECK(
        chw.size() == 3 && chw[1] >= 1 && chw[2] >= 1 && chw[1] == std::floor(chw[1]) && chw[2] == std::floor(chw[2]),
        "{}: the metadata entry 'data.input_shape' is '{}', not C,H,W; the file was changed after onnx-train "
        "wrote it (give --image-size H,W instead)",
        source, it->second);
    options.image_height = static_cast<int64_t>(chw[1]);
    options.image_width = static_cast<int64_t>(chw[2]);
    options.image_size_from = fmt::format("the model's stored input shape {} ({})", it->second, source);
  }
  if (const auto it = metadata.find("data.mean"); it != metadata.end())
    options.mean = parse_floats(it->second, it->first, source);
  if (const auto it = metadata.find("data.std"); it != metadata.end())
    options.std = parse_floats(it->second, it->first, source);
  return options;
}

DataOptions data_options_of_model(const std::string& model_path) {
  return data_options_from_metadata(read_model_file_info(model_path).metadata, "the model " + model_path);
}

}  // namespace onnx_train
