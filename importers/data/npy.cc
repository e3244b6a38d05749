// NAME.npy per field, memory-mapped. In a folder that holds several splits side by side the
// split's name may lead the file name: train_x.npy and test_x.npy both feed field 'x'. A
// field's file is named after it, or after what DataOptions::sources maps it to (--input
// features=x.npy, the stem x, or a path below the split folder: arrays/x.npy).
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
  // A source with a folder in it is a path below the split folder (--input x=arrays/x.npy),
  // which makes the split npy data even with no .npy file beside it.
  auto below_split = [&](const std::string& source) {
    return source.find('/') == std::string::npos ? std::string() : (fs::path(split.dir) / source).string();
  };
  const bool mapped_below = std::any_of(options.sources.begin(), options.sources.end(), [&](const auto& entry) {
    return is_npy(entry.second) && !below_split(entry.second).empty();
  });
  if (npy_files.empty() && !mapped_below) return nullptr;

  const std::string held = names.empty() ? "no .npy file" : list_paths(names);  // for messages

  // Each field's file, found by name; every field missing one is named in one message.
  std::vector<std::string> file_of(wanted.size());
  std::vector<const FieldSpec*> missing;
  for (size_t f = 0; f < wanted.size(); ++f) {
    const std::string source = source_name(wanted[f], options);
    std::vector<std::string> matches;
    if (const std::string path = below_split(source); !path.empty()) {
      std::error_code ec;
      OT_CHECK(fs::is_regular_file(path, ec) && is_npy(path), "{}: --input {}={}: no such .npy file ({})", split.dir,
               wanted[f].name, source, path);
      matches.push_back(path);
    }
    for (const auto& path : npy_files)
      if (names_field(fs::path(path).stem().string(), source)) matches.push_back(path);
    if (options.sources.count(wanted[f].name))
      OT_CHECK(!matches.empty(), "{}: --input {}={}: no such .npy file; the folder holds {}", split.dir, wanted[f].name,
               source, held);
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
    OT_FAIL("{}: {}; the folder holds {}: {}", split.dir, fmt::join(described, " and "), held,
            mapping_hint(missing, unused, "FILE", otherwise));
  }
  return std::make_unique<ArrayDataset>(split.dir, wanted, std::move(columns), std::move(storage), list_paths(file_of),
                                        "npy");
}

}  // namespace onnx_train
