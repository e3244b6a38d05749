// onnx_train/dataset.h: training data, a folder of files turned into batches the model's
// inputs and label take.
//
//   std::vector<FieldSpec> wanted = {{"input", DType::Float32, {1, 28, 28}},
//                                    {"label", DType::Int64, {}, /*is_label=*/true, /*num_classes=*/10}};
//   DataSplits data = open_data("data/", wanted, DataOptions{});
//   BatchLoader loader(data.train, /*batch_size=*/64, /*shuffle=*/true, /*seed=*/0);
//   loader.start_epoch(0);
//   std::map<std::string, Tensor> batch;
//   while (loader.next(batch)) session.train_step(batch);
//
// Folder layout: DATA_DIR/train/ and optionally DATA_DIR/val/ (also accepted: valid/,
// validation/, test/), or the files directly in DATA_DIR. In the latter case files whose
// name starts with "train" form the training split and those starting with "val", "valid",
// "test" or "t10k" (MNIST's name for its test set) the validation split; with no such
// names, every file is training data and there is no validation split (--val-split carves
// one).
//
// Formats (importers/data/formats.h; each split must hold exactly one):
//   NAME.npy        one array per field, named after the model input or the label (or as
//                   DataOptions::sources maps it); first axis = samples; memory-mapped, so
//                   data larger than RAM works
//   *.npz           numpy archives holding arrays named after the fields, or as
//                   DataOptions::sources maps them (stored or deflated)
//   test_data_set_*/  ONNX's test layout: input_K.pb (TensorProto) per set, matched to the
//                   model input of the tensor's name (or the K-th input when unnamed), and
//                   the label as the tensor named like the label (label.pb); sets are
//                   concatenated along the first axis
//   *.csv           a header row; the label column (named like the label) and the feature
//                   columns, which fill the model's single input, in order (or the inputs
//                   DataOptions::sources maps to columns); cells are numbers, except the
//                   labels of a class loss, which may be names: their sorted set is the
//                   classes (as with image folders), and other splits map names to them
//   IDX             MNIST-style files (also .gz): an images file (rank >= 2) for the model's
//                   single input and a labels file (rank 1) for the label; uint8 pixels are
//                   scaled to [0, 1]
//   <class>/*.png|jpg   image classification folders: one sub-folder per class, images
//                   decoded, converted to the model input's channel count, resized to its
//                   height and width (DataOptions::image_height / image_width when the model
//                   leaves them open), scaled to [0, 1] and normalised by DataOptions::mean /
//                   std; training loaders may augment them (DataOptions::augment). The
//                   training split's sorted folder names are the classes (at least
//                   two); every other split (val/, a model's eval folder) maps its folders to
//                   them by name, so a split may lack a class, and a folder whose name is not
//                   a class (`Triangle/` for `triangle/`) is an Error naming it.
//                   DataOptions::classes fixes the classes instead (a trained model's).
//
// Every sample is converted to the field's dtype and sample shape (a different shape with
// the same element count is reshaped, e.g. 28x28 images for a [1, 28, 28] input). Bad data
// is one Error naming the file: missing fields, shapes or dtypes that do not fit, sample
// counts that differ between fields, NaN or Inf, class labels outside [0, num_classes),
// corrupt or unreadable files, an empty folder, an unknown format.
//
// Bad samples (an undecodable image, NaN, a label out of range) are found by reading them:
// scan_samples reads every one before training when that is quick, and skip_bad_samples
// makes a BatchLoader leave them out (and record them) instead of stopping at the first.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "onnx_train/tensor.h"

namespace onnx_train {

// What the model takes per sample: one per model input, and one for the label.
struct FieldSpec {
  std::string name;  // the model input's name, or the label's
  DType dtype = DType::Float32;
  Shape sample_shape;  // one sample's shape (the model input's without its first axis); -1 = open
  bool is_label = false;
  int64_t num_classes = 0;      // class labels: valid values are [0, num_classes) (0: not checked)
  int64_t ignore_index = -100;  // a class label that is allowed anyway (cross-entropy's ignore index)
  // Said after a sample-shape mismatch: where the shape comes from and how to change it (a label
  // whose shape follows from the class axis the loss reads).
  std::string shape_note;
};

// Random changes to training images (image class folders), drawn anew for every sample in
// every epoch from (seed, epoch, sample index) by BatchLoader::set_augment: only the training
// loader applies them, so validation and evaluation read the images as they are. In the
// order applied, on the decoded image's 0..255 values (before normalisation):
struct ImageAugmentation {
  // > 0: torchvision's RandomResizedCrop: a box of a fraction in [crop_min_scale, 1] of the
  // image's area and an aspect ratio log-uniform in [3/4, 4/3] (10 tries, then the centre
  // crop), resized to the input's H x W instead of the whole image; 0: no crop.
  double crop_min_scale = 0;
  bool hflip = false;         // mirror left-right with probability 1/2
  double rotate_degrees = 0;  // > 0: rotate by an angle uniform in [-deg, deg], bilinear, corners black (0)
  bool any() const { return crop_min_scale > 0 || hflip || rotate_degrees > 0; }
};

// The augmentation of a comma-separated list: hflip, crop[=MIN_SCALE] (default 0.08, as
// torchvision's), rotate[=DEGREES] (default 10). An Error naming the item for anything else.
ImageAugmentation parse_image_augmentation(const std::string& list);

struct DataOptions {
  std::vector<float> mean, std;  // images: per-channel normalisation after scaling to [0, 1] (empty: none)
  // Images: the height and width they are resized to. Needed for a model input whose height
  // or width is open (symbolic); for a fixed one it must be the input's own. 0: the input's.
  // `image_size_from` says where the size comes from, for messages ("the model m.onnx"). Empty:
  // the caller's own (--image-size), and then, like `augment`, an Error for data other than
  // image folders; a stored size only describes a model's images, and other data ignores it.
  int64_t image_height = 0, image_width = 0;
  std::string image_size_from;
  ImageAugmentation augment;  // image class folders: what BatchLoader::set_augment applies
  // Image class folders: the classes by index, which folders are matched to by name (those
  // of the training split, or of a trained model); empty: the training split's sorted folder
  // names. `classes_from` says where they come from, for messages ("the model m.onnx").
  std::vector<std::string> classes;
  std::string classes_from;

  // Where each field's data is, by field name (--input NAME=SOURCE; the label is found by its
  // own name, which --label sets). Absent: the field's name. npy: a file of the split folder,
  // by name (x.npy) or stem (x, which also finds train_x.npy), or a path below it
  // (arrays/x.npy); npz: an array of the archive;
  // test_data_set_*: a tensor's name; csv: the columns, comma-separated in the order they fill
  // the input, or "*" for every column no other field takes.
  std::map<std::string, std::string> sources;
  // csv: the columns of the model's single input, in order (--columns; "*" when empty), and
  // columns that feed nothing (--ignore-columns: an id, a name).
  std::vector<std::string> columns, ignore_columns;
  // csv: columns left out when the header has them, and no field takes them: the label column
  // of a model's training, when its inputs alone are read (predictions).
  std::vector<std::string> skip_columns_if_present;
};

class BadSampleLog;

// A set of samples. Implementations are read-only after construction, so read() may be
// called from several threads at once.
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // The fields as resolved from the data: open dimensions of FieldSpec::sample_shape fixed.
  virtual const std::vector<FieldSpec>& fields() const = 0;
  // Writes sample `index` of fields()[field] to `out`: numel(sample_shape) elements of the
  // field's dtype, converted and reshaped as described above.
  virtual void read(size_t field, int64_t index, void* out) const = 0;
  // A training read: sample `index` with the data's random augmentation (DataOptions::augment)
  // drawn from `draw_seed` alone, which the BatchLoader makes of (seed, epoch, sample index):
  // a sample's augmentation is then the same however the batches are read, by how many
  // threads, or resumed. Data without augmentation reads as read() does.
  virtual void read_augmented(size_t field, int64_t index, uint64_t draw_seed, void* out) const {
    (void)draw_seed;
    read(field, index, out);
  }
  // Where sample `index` of a field comes from, for error messages: "data/train/x.npy, sample 17".
  virtual std::string source_of(size_t field, int64_t index) const = 0;
  // One line for the user: "60000 samples from data/train-images-idx3-ubyte.gz (IDX)".
  virtual std::string describe() const = 0;
  // Image classification folders, or csv class labels given as names: the class names by
  // index; empty otherwise.
  virtual std::vector<std::string> class_names() const { return {}; }
  // True when class_names() are the label's own values (csv "cat", "dog") rather than image
  // folders, so that the image entries of data_metadata do not apply.
  virtual bool class_names_from_labels() const { return false; }
  // What names sample `index` in a prediction: the file it is when each sample is a file of
  // its own (an image's path), or the value of an id column; "" when its index names it.
  virtual std::string sample_name(int64_t /*index*/) const { return ""; }
  // Non-null (data from skip_bad_samples): a BatchLoader leaves out the samples it cannot
  // read or that fail its checks, recording them here, instead of stopping at the first.
  virtual BadSampleLog* bad_sample_log() const { return nullptr; }
};

// A sample that cannot be read or fails the BatchLoader's checks.
struct BadSample {
  int64_t index = 0;    // in the dataset it was found in
  std::string source;   // Dataset::source_of: "data/train/label.npy, sample 999"
  std::string problem;  // the Error's message (it names the source too)
};

// The bad samples left out of a run, shared by the loaders over one dataset (and their
// threads): each sample counts once however many epochs meet it.
class BadSampleLog {
 public:
  void add(const BadSample& sample);
  int64_t count() const;
  std::vector<BadSample> first(size_t n) const;  // in the order found

 private:
  static constexpr size_t kKept = 100;  // listed in full; beyond, only counted
  mutable std::mutex mutex_;
  std::set<std::string> seen_;  // sources
  std::vector<BadSample> kept_;
};

// What scan_samples found.
struct SampleScan {
  bool complete = false;         // every sample was read and checked
  double estimated_seconds = 0;  // what reading them all takes (measured when complete)
  std::vector<BadSample> bad;    // in index order; with stop_at_first, at most one
};

// Reads and checks every sample of `data` as a BatchLoader does (decoding, conversion, NaN or
// Inf, class labels in range) when that is estimated to take at most `budget_seconds`: the
// rate is measured on the first samples and extrapolated to size(), and the scan also stops
// once it has run past twice the budget. Otherwise it returns incomplete, with the bad
// samples met so far. `stop_at_first`: stop at the first bad sample (the run stops anyway).
SampleScan scan_samples(const Dataset& data, double budget_seconds, bool stop_at_first);

// `data` whose BatchLoaders leave out every bad sample they meet, recording it in `log`;
// `known_bad` (found by scan_samples) are recorded now. The samples keep their places, so a
// batch holds the same samples (less the bad ones) however the bad ones were found.
std::shared_ptr<const Dataset> skip_bad_samples(std::shared_ptr<const Dataset> data,
                                                const std::vector<BadSample>& known_bad,
                                                std::shared_ptr<BadSampleLog> log);

// How a model trained on `train` expects its data, as metadata entries for checkpoints and
// exported models (ModelProto.metadata_props): image class folders give
//   data.classes       the class names by index, a JSON array of strings
//   data.input         the model input the images feed, data.input_shape its C,H,W
//   data.input_size    the H,W images are resized to
//   data.input_layout  how pixels become values
// and csv class labels given as names data.classes alone
// and data.mean / data.std (comma-separated, as --mean takes them) when given. Empty for data
// without classes or normalisation. data.input_shape's H,W is the size images are resized to
// for a model whose input leaves them open.
std::map<std::string, std::string> data_metadata(const Dataset& train, const DataOptions& options);
// The classes, image size, mean and std of data_metadata's entries (absent ones stay empty); `source`
// (the model file) names them in classes_from and in the Error for a malformed entry.
DataOptions data_options_from_metadata(const std::map<std::string, std::string>& metadata, const std::string& source);
// The same, from the metadata_props of the ONNX model file at `model_path`.
DataOptions data_options_of_model(const std::string& model_path);

struct DataSplits {
  std::shared_ptr<const Dataset> train;
  std::shared_ptr<const Dataset> val;  // null when the folder has no validation split
};

// Finds the splits and the format in `dir` and opens them for `wanted`.
DataSplits open_data(const std::string& dir, const std::vector<FieldSpec>& wanted, const DataOptions& options);

// A random (seeded) `fraction` of `data` as validation and the rest as training data.
DataSplits split_validation(std::shared_ptr<const Dataset> data, double fraction, uint64_t seed);

// Batches of a dataset, in an order that is a pure function of (seed, epoch) when shuffled,
// with the last smaller batch kept unless drop_last. Batches are assembled on a background
// thread (and the samples of each read on set_workers threads), `prefetch` ahead of the
// consumer, so reading and decoding overlap with training.
// Each sample is checked: NaN or Inf in float fields and class labels out of range are an
// Error naming the sample's source (unless the data leaves bad samples out: see
// Dataset::bad_sample_log; then a batch is smaller by the samples left out, and one left
// with none is passed over).
class BatchLoader {
 public:
  BatchLoader(std::shared_ptr<const Dataset> data, int64_t batch_size, bool shuffle, uint64_t seed,
              bool drop_last = false, int prefetch = 2);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Training loaders: samples read with the data's random augmentation
  // (Dataset::read_augmented), drawn from (seed, epoch, sample index); validation and
  // evaluation leave it off. Call before start_epoch.
  void set_augment(bool on);
  // The samples of each batch are read (decoded, augmented, checked) on `workers` threads
  // (1: the loader's background thread alone). Batches are the same for any count. Call
  // before start_epoch.
  void set_workers(int workers);

  // Data-parallel training: this loader reads the share of rank `rank` of `ranks` of every
  // epoch's order, as PyTorch's DistributedSampler: the order is padded to a multiple of `ranks`
  // by repeating its first samples (`pad`; validation leaves it off, so no sample counts twice,
  // and the ranks may then get one sample fewer or more), and rank r takes its positions r,
  // r + ranks, r + 2 ranks... Every rank thus gets as many batches, and batch k of all ranks
  // together holds the order's positions [k B ranks, (k + 1) B ranks): the samples of batch k of
  // one process at batch size B * ranks. Sample positions (start_epoch_at_sample, next_sample) are
  // positions in the whole order, the same for any number of ranks. Call before start_epoch.
  void set_shard(int rank, int ranks, bool pad = true);

  int64_t batches_per_epoch() const;
  int64_t batch_size() const;
  // Starts epoch `epoch` at its batch `first_batch` (to resume a run where it stopped).
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // Starts epoch `epoch` at sample `first_sample` of its order (a run resumed with another
  // batch size: the samples seen are the same, the batches are not): the epoch's remaining
  // samples in batches of batch_size(), the last one smaller (or left out, with drop_last); a
  // sample past the end leaves nothing of the epoch.
  void start_epoch_at_sample(int64_t epoch, int64_t first_sample);
  // The batches that reading an epoch from sample `first_sample` on makes.
  int64_t batches_from_sample(int64_t first_sample) const;
  // The epoch started last (-1: none), and where in its order the next batch starts (its size
  // once every batch was taken).
  int64_t epoch() const;
  int64_t next_sample() const;
  // The next batch of the epoch, by field name (first axis = samples); false at its end.
  // Errors found while assembling it are thrown here.
  bool next(std::map<std::string, Tensor>& batch);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace onnx_train
