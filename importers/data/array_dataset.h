// What the array formats (npy, npz, ONNX test data sets, csv) share: files mapped into
// memory, and a Dataset over arrays that hold one sample after another.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "onnx_train/dataset.h"

namespace onnx_train {

// A file mapped read-only into memory for the object's life: the operating system pages
// the data in as samples are read, so data sets larger than RAM work.
class MappedFile {
 public:
  // Throws an Error naming the file when it cannot be opened or mapped.
  explicit MappedFile(std::string path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;  // null for an empty file
  size_t size_ = 0;
};

// Consecutive samples of one field that lie in one file (or one ONNX test data set).
struct ArrayChunk {
  std::string path;               // for messages
  const uint8_t* data = nullptr;  // the first sample's first element (any alignment)
  int64_t samples = 0;
  std::vector<int64_t> lines;  // csv: each sample's line in the file, for messages; empty otherwise
};

// One field's samples as the files hold them: elements of `dtype` in native byte order,
// each sample `sample_shape`, the chunks one after another.
struct ArrayColumn {
  DType dtype = DType::Undefined;
  Shape sample_shape;
  std::vector<ArrayChunk> chunks;
};

// The Dataset of the array formats: read() converts a sample in place from the chunk's
// bytes, so nothing is copied at open beyond what a format must decode.
class ArrayDataset : public Dataset {
 public:
  // columns[i] holds wanted[i]'s samples; `storage` owns the bytes the chunks point into
  // (mapped files, decoded buffers). `origin` names the files for describe(), `format` the
  // format. Resolves every field's sample shape (array_convert.h) and checks that all fields
  // have the same, non-zero number of samples; `dir` names the split in that error.
  ArrayDataset(const std::string& dir, const std::vector<FieldSpec>& wanted, std::vector<ArrayColumn> columns,
               std::vector<std::shared_ptr<const void>> storage, std::string origin, std::string format);

  int64_t size() const override { return size_; }
  const std::vector<FieldSpec>& fields() const override { return fields_; }
  void read(size_t field, int64_t index, void* out) const override;
  std::string source_of(size_t field, int64_t index) const override;
  std::string describe() const override;
  std::vector<std::string> class_names() const override { return class_names_; }
  bool class_names_from_labels() const override { return !class_names_.empty(); }

  // csv labels given as names: the label holds indices into `names`, which `about` describes
  // for describe() ("3 classes in column 'species'").
  void set_class_names(std::vector<std::string> names, std::string about) {
    class_names_ = std::move(names);
    classes_about_ = std::move(about);
  }
  // csv rows named by an id column left out of the features (--ignore-columns id): what
  // sample_name() gives, one per sample (a prediction's row id).
  void set_sample_names(std::vector<std::string> names) { sample_names_ = std::move(names); }
  std::string sample_name(int64_t index) const override {
    return index >= 0 && index < static_cast<int64_t>(sample_names_.size()) ? sample_names_[static_cast<size_t>(index)]
                                                                            : "";
  }

 private:
  // The chunk of fields_[field] that holds sample `index`, and the sample's index in it.
  std::pair<const ArrayChunk*, int64_t> locate(size_t field, int64_t index) const;

  std::vector<FieldSpec> fields_;
  std::vector<ArrayColumn> columns_;
  std::vector<std::vector<int64_t>> chunk_starts_;  // per field: the first sample index of each chunk
  std::vector<std::shared_ptr<const void>> storage_;
  std::string origin_, format_;
  int64_t size_ = 0;
  std::vector<std::string> class_names_;
  std::string classes_about_;
  std::vector<std::string> sample_names_;
};

// "a.npy" for one path, "a.npy, b.npy" for two, "a.npy, b.npy and 5 more" beyond: file lists
// in messages stay one line.
std::string list_paths(const std::vector<std::string>& paths);

}  // namespace onnx_train
