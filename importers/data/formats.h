// The file formats open_data (dataset.h) recognises. Each opener looks at one split's
// files and returns nullptr when none of them is in its format, a Dataset for `wanted`
// when they are, and throws an Error naming the file for anything wrong with them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "onnx_train/dataset.h"

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

// The classes a training split of image folders defines (its own folders, not given ones):
// a labelled model needs at least two, or there is nothing to tell apart; one is an Error
// showing the layout expected (and an extra folder level, train/images/<class>/, when that
// is what the one folder holds). Other data passes.
void check_training_classes(const SplitSource& split, const Dataset& train, const std::vector<FieldSpec>& wanted);

}  // namespace onnx_train
