// NAME.npy per field, memory-mapped. In a folder that holds several splits side by side the
// split's name may lead the file name: train_x.npy and test_x.npy both feed field 'x'.
#include <filesystem>

#include "importers/data/array_npy.h"
#include "importers/data/formats.h"

namespace onnx_train {

namespace fs = std::filesystem;

namespace {

bool is_npy(const std::string& path) { return fs::path(path).extension() == ".npy"; }

// Whether `stem` names `field`: "x", or a split prefix and a separator before it ("train_x").
bool names_field(const std::string& stem, const std::string& field) {
  if (stem == field) return true;
  for (const char* prefix : {"train", "val", "valid", "validation", "test", "t10k"}) {
    const std::string p = prefix;
    if (stem.size() == p.size() + 1 + field.size() && stem.compare(0, p.size(), p) == 0 &&
        (stem[p.size()] == '_' || stem[p.size()] == '-') && stem.compare(p.size() + 1, field.size(), field) == 0)
      return true;
  }
  return false;
}

}  // namespace

std::unique_ptr<Dataset> open_npy_files(const SplitSource& split, const std::vector<FieldSpec>& wanted,
                                        const DataOptions&) {
  std::vector<std::string> npy_files, names;
  for (const auto& path : split.files) {
    if (!is_npy(path)) continue;
    npy_files.push_back(path);
    names.push_back(fs::path(path).filename().string());
  }
  if (npy_files.empty()) return nullptr;

  std::vector<ArrayColumn> columns;
  std::vector<std::shared_ptr<const void>> storage;
  std::vector<std::string> used;
  for (const auto& field : wanted) {
    std::vector<std::string> matches;
    for (const auto& path : npy_files)
      if (names_field(fs::path(path).stem().string(), field.name)) matches.push_back(path);
    OT_CHECK(!matches.empty(),
             "{}: no {}.npy for {} '{}'; the folder holds {}. Name each array file after the model input it feeds, "
             "or the label",
             split.dir, field.name, field.is_label ? "the label" : "the model input", field.name, list_paths(names));
    OT_CHECK(matches.size() == 1, "{}: both {} and {} would feed field '{}'; keep one of them", split.dir, matches[0],
             matches[1], field.name);
    auto file = std::make_shared<MappedFile>(matches[0]);
    columns.push_back(npy_column(parse_npy(file->data(), file->size(), file->path()), file->path()));
    storage.push_back(file);
    used.push_back(file->path());
  }
  return std::make_unique<ArrayDataset>(split.dir, wanted, std::move(columns), std::move(storage), list_paths(used),
                                        "npy");
}

}  // namespace onnx_train
