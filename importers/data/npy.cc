// NAME.npy per field, memory-mapped. In a folder that holds several splits side by side the
// split's name may lead the file name: train_x.npy and test_x.npy both feed field 'x'. A
// field's file is named after it, or after what DataOptions::sources maps it to (--input
// features=x.npy, or the stem x).
#include <algorithm>
#include <filesystem>

#include "importers/data/array_npy.h"
#include "importers/data/formats.h"

namespace onnx_train {

namespace fs = std::filesystem;

namespace {

bool is_npy(const std::string& path) { return fs::path(path).extension() == ".npy"; }

// Whether the file stem `stem` holds `source`: a stem ("x") or a file name ("x.npy"), after a
// split prefix or not ("train_x").
bool names_field(const std::string& stem, std::string source) {
  if (is_npy(source)) source.resize(source.size() - 4);
  return stem == source || without_split_prefix(stem) == source;
}

}  // namespace

std::unique_ptr<Dataset> open_npy_files(const SplitSource& split, const std::vector<FieldSpec>& wanted,
                                        const DataOptions& options) {
  std::vector<std::string> npy_files, names;
  for (const auto& path : split.files) {
    if (!is_npy(path)) continue;
    npy_files.push_back(path);
    names.push_back(fs::path(path).filename().string());
  }
  if (npy_files.empty()) return nullptr;

  // Each field's file, found by name; every field missing one is named in one message.
  std::vector<std::string> file_of(wanted.size());
  std::vector<const FieldSpec*> missing;
  for (size_t f = 0; f < wanted.size(); ++f) {
    const std::string source = source_name(wanted[f], options);
    std::vector<std::string> matches;
    for (const auto& path : npy_files)
      if (names_field(fs::path(path).stem().string(), source)) matches.push_back(path);
    if (options.sources.count(wanted[f].name))
      OT_CHECK(!matches.empty(), "{}: --input {}={}: no such .npy file; the folder holds {}", split.dir, wanted[f].name,
               source, list_paths(names));
    OT_CHECK(matches.size() <= 1, "{}: both {} and {} would feed field '{}'; keep one of them", split.dir, matches[0],
             matches[1], wanted[f].name);
    if (matches.empty())
      missing.push_back(&wanted[f]);
    else
      file_of[f] = matches[0];
  }
  // The files found are read first: a damaged one is the problem to hear about.
  std::vector<ArrayColumn> columns;
  std::vector<std::shared_ptr<const void>> storage;
  for (const auto& path : file_of) {
    if (path.empty()) continue;
    auto file = std::make_shared<MappedFile>(path);
    columns.push_back(npy_column(parse_npy(file->data(), file->size(), file->path()), file->path()));
    storage.push_back(file);
  }
  if (!missing.empty()) {
    std::vector<std::string> unused, expected, described;
    for (const auto& path : npy_files)
      if (std::find(file_of.begin(), file_of.end(), path) == file_of.end())
        unused.push_back(without_split_prefix(fs::path(path).stem().string()) + ".npy");
    for (const FieldSpec* field : missing) {
      expected.push_back(field->name + ".npy");
      described.push_back(fmt::format("no {}.npy for {} '{}'", field->name,
                                      field->is_label ? "the label" : "the model input", field->name));
    }
    const std::string otherwise =
        unused.empty()
            ? fmt::format("add {}", fmt::join(expected, " and "))
            : fmt::format("name {} {}", missing.size() == 1 ? "the file" : "the files", fmt::join(expected, " and "));
    OT_FAIL("{}: {}; the folder holds {}: {}", split.dir, fmt::join(described, " and "), list_paths(names),
            mapping_hint(missing, unused, "FILE", otherwise));
  }
  return std::make_unique<ArrayDataset>(split.dir, wanted, std::move(columns), std::move(storage), list_paths(file_of),
                                        "npy");
}

}  // namespace onnx_train
