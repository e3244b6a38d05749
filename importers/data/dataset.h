// Training data: a folder of files turned into batches the model's inputs and label take.
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
// Formats (formats.h; each split must hold exactly one):
//   NAME.npy        one array per field, named after the model input or the label; first axis
//                   = samples; memory-mapped, so data larger than RAM works
//   *.npz           numpy archives holding arrays named after the fields (stored or deflated)
//   test_data_set_*/  ONNX's test layout: input_K.pb (TensorProto) per set, matched to the
//                   model input of the tensor's name (or the K-th input when unnamed), and
//                   the label as the tensor named like the label (label.pb); sets are
//                   concatenated along the first axis
//   *.csv           a header row; the label column (named like the label) and the feature
//                   columns, which fill the model's single input, in order
//   IDX             MNIST-style files (also .gz): an images file (rank >= 2) for the model's
//                   single input and a labels file (rank 1) for the label; uint8 pixels are
//                   scaled to [0, 1]
//   <class>/*.png|jpg   image classification folders: one sub-folder per class (sorted names
//                   give the class indices), images decoded, converted to the model input's
//                   channel count, resized to its height and width, scaled to [0, 1] and
//                   normalised by DataOptions::mean / std
//
// Every sample is converted to the field's dtype and sample shape (a different shape with
// the same element count is reshaped, e.g. 28x28 images for a [1, 28, 28] input). Bad data
// is one Error naming the file: missing fields, shapes or dtypes that do not fit, sample
// counts that differ between fields, NaN or Inf, class labels outside [0, num_classes),
// corrupt or unreadable files, an empty folder, an unknown format.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "onnx_train/tensor.h"

namespace onnx_train {

// What the model takes per sample: one per model input, and one for the label.
struct FieldSpec {
  std::string name;    // the model input's name, or the label's
  DType dtype = DType::Float32;
  Shape sample_shape;  // one sample's shape (the model input's without its first axis); -1 = open
  bool is_label = false;
  int64_t num_classes = 0;  // class labels: valid values are [0, num_classes) (0: not checked)
  int64_t ignore_index = -100;  // a class label that is allowed anyway (cross-entropy's ignore index)
};

struct DataOptions {
  std::vector<float> mean, std;  // images: per-channel normalisation after scaling to [0, 1] (empty: none)
};

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
  // Where sample `index` of a field comes from, for error messages: "data/train/x.npy, sample 17".
  virtual std::string source_of(size_t field, int64_t index) const = 0;
  // One line for the user: "60000 samples from data/train-images-idx3-ubyte.gz (IDX)".
  virtual std::string describe() const = 0;
  // Image classification folders: the class names by index; empty otherwise.
  virtual std::vector<std::string> class_names() const { return {}; }
};

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
// thread, `prefetch` ahead of the consumer, so reading and decoding overlap with training.
// Each batch is checked: NaN or Inf in float fields and class labels out of range are an
// Error naming the sample's source.
class BatchLoader {
 public:
  BatchLoader(std::shared_ptr<const Dataset> data, int64_t batch_size, bool shuffle, uint64_t seed,
              bool drop_last = false, int prefetch = 2);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  int64_t batches_per_epoch() const;
  int64_t batch_size() const;
  // Starts epoch `epoch` at its batch `first_batch` (to resume a run where it stopped).
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // The next batch of the epoch, by field name (first axis = samples); false at its end.
  // Errors found while assembling it are thrown here.
  bool next(std::map<std::string, Tensor>& batch);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace onnx_train
