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
  bool single_file = false;        // the data given was this one file (files[0]), not a folder
};

using FormatOpener = std::unique_ptr<Dataset> (*)(const SplitSource&, const std::vector<FieldSpec>&,
                                                  const DataOptions&);

std::unique_ptr<Dataset> open_npy_files(const SplitSource&, const std::vector<FieldSpec>&, const DataOptions&);
std::unique_ptr<Dataset> open_npz_files(const SplitSource&, const std::vector<FieldSpec>&, const DataOptions&);
std::unique_ptr<Dataset> open_tensor_proto_sets(const SplitSource&, const std::vector<FieldSpec>&, const DataOptions&);
std::unique_ptr<Dataset> open_csv_files(const SplitSource&, const std::vector<FieldSpec>&, const DataOptions&);
std::unique_ptr<Dataset> open_idx_files(const SplitSource&, const std::vector<FieldSpec>&, const DataOptions&);
std::unique_ptr<Dataset> open_image_folders(const SplitSource&, const std::vector<FieldSpec>&, const DataOptions&);

// ---- Mapping fields to what the files call their data (DataOptions::sources)

// What `field`'s data is called in the files: its entry in options.sources (--input), or its
// own name (the label's, which --label sets).
std::string source_name(const FieldSpec& field, const DataOptions& options);

// `text` with ASCII letters in lower case (file names, column names and extensions compared
// without regard to case; other bytes, UTF-8 included, unchanged).
std::string ascii_lower(std::string text);

// `stem` without a split's name before it ("train_x" and "test-x" are "x"; "x" stays): in a
// folder that holds several splits side by side, train_x.npy and test_x.npy feed the same field.
std::string without_split_prefix(const std::string& stem);

// How to map the `missing` fields (no file, array or column is named after them) to the names
// the data has but no field takes (`unused`, as --input takes them: "x.npy", "labels"), as one
// sentence: "pass --input features=x.npy --label labels (or name the files features.npy and
// label.npy)". A field gets the one unused name that fits it: a label-like name (label,
// labels, target, y, class...) for the label, another for an input, or the only one; without
// one, the flag shows `placeholder` and the candidates are listed. `otherwise` is the way
// without flags, in brackets after them ("name the files features.npy and label.npy"), and
// all of the hint when `unused` is empty.
// `label_fallback`: the name offered for a label when no unused name looks like one (csv: the
// last column that does not name rows, where tables conventionally keep their target).
std::string mapping_hint(const std::vector<const FieldSpec*>& missing, const std::vector<std::string>& unused,
                         const std::string& placeholder, const std::string& otherwise,
                         const std::string& label_fallback = "");

// The classes a training split of image folders defines (its own folders, not given ones):
// a labelled model needs at least two, or there is nothing to tell apart; one is an Error
// showing the layout expected (and an extra folder level, train/images/<class>/, when that
// is what the one folder holds). Other data passes.
void check_training_classes(const SplitSource& split, const Dataset& train, const std::vector<FieldSpec>& wanted);

}  // namespace onnx_train
