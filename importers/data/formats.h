// The file formats open_data (dataset.h) recognises. Each opener looks at one split's
// files and returns nullptr when none of them is in its format, a Dataset for `wanted`
// when they are, and throws an Error naming the file for anything wrong with them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "importers/data/dataset.h"

namespace onnx_train {

// One split of a data folder, as open_data found it.
struct SplitSource {
  std::string name;                // "train" or "val", for messages
  std::string dir;                 // the split's folder (DATA_DIR/train), or DATA_DIR itself
  std::vector<std::string> files;  // the split's regular files (full paths, sorted)
  std::vector<std::string> dirs;   // its sub-folders (full paths, sorted): test_data_set_*, class folders
};

using FormatOpener = std::unique_ptr<Dataset> (*)(const SplitSource&, const std::vector<FieldSpec>&,
                                                  const DataOptions&);

std::unique_ptr<Dataset> open_npy_files(const SplitSource&, const std::vector<FieldSpec>&, const DataOptions&);
std::unique_ptr<Dataset> open_npz_files(const SplitSource&, const std::vector<FieldSpec>&, const DataOptions&);
std::unique_ptr<Dataset> open_tensor_proto_sets(const SplitSource&, const std::vector<FieldSpec>&, const DataOptions&);
std::unique_ptr<Dataset> open_csv_files(const SplitSource&, const std::vector<FieldSpec>&, const DataOptions&);
std::unique_ptr<Dataset> open_idx_files(const SplitSource&, const std::vector<FieldSpec>&, const DataOptions&);
std::unique_ptr<Dataset> open_image_folders(const SplitSource&, const std::vector<FieldSpec>&, const DataOptions&);

}  // namespace onnx_train
