// ONNX's test data layout: SPLIT/test_data_set_N/input_K.pb (one TensorProto each) and the
// label as label.pb or as a tensor named like the label. Each tensor's first axis is the
// samples; the sets are concatenated in the order of their numbers.
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <map>

#include "importers/data/array_dataset.h"
#include "importers/data/formats.h"
#include "importers/proto_io.h"
#include "importers/tensor_proto.h"
#include "onnx_train/printable.h"

namespace onnx_train {

namespace fs = std::filesystem;

namespace {

constexpr char kSetPrefix[] = "test_data_set_";

bool is_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// test_data_set_2 before test_data_set_10; names without a number after them, by name.
bool set_order(const std::string& a, const std::string& b) {
  const std::string na = fs::path(a).filename().string().substr(sizeof(kSetPrefix) - 1);
  const std::string nb = fs::path(b).filename().string().substr(sizeof(kSetPrefix) - 1);
  if (is_digits(na) && is_digits(nb) && na.size() != nb.size()) return na.size() < nb.size();
  return na < nb;
}

std::string expected_file(const std::vector<FieldSpec>& wanted, size_t field) {
  if (wanted[field].is_label) return "label.pb";
  size_t k = 0;
  for (size_t f = 0; f < field; ++f) k += wanted[f].is_label ? 0 : 1;
  return fmt::format("input_{}.pb", k);
}

// The field that the tensor `name` in file `path` feeds, or -1 when it feeds none (output_K.pb
// and other files). A file or tensor --input names feeds its input; label.pb is the label; a
// named tensor feeds the field of its name; an unnamed input_K.pb feeds the K-th field that is
// not the label.
int field_of_tensor(const std::string& path, const std::string& name, const std::vector<FieldSpec>& wanted,
                    const DataOptions& options) {
  const std::string file = fs::path(path).filename().string();
  // --input NAME=SOURCE: the file (input_3.pb) or the tensor name SOURCE.
  for (const auto& [input, source] : options.sources) {
    const auto mapped = std::find_if(wanted.begin(), wanted.end(), [&input = input](const FieldSpec& f) { return f.name == input; });
    if (mapped != wanted.end() && (source == file || (!name.empty() && source == name)))
      return static_cast<int>(mapped - wanted.begin());
  }
  const auto label = std::find_if(wanted.begin(), wanted.end(), [](const FieldSpec& f) { return f.is_label; });
  if (file == "label.pb" && label != wanted.end()) return static_cast<int>(label - wanted.begin());
  const auto named = std::find_if(wanted.begin(), wanted.end(), [&](const FieldSpec& f) {
    return f.name == name && (f.is_label || !options.sources.count(f.name));
  });
  if (!name.empty() && named != wanted.end()) return static_cast<int>(named - wanted.begin());
  const std::string k = file.size() > 9 && file.rfind("input_", 0) == 0 ? file.substr(6, file.size() - 9) : "";
  if (!is_digits(k) || fs::path(file).extension() != ".pb") return -1;
  std::vector<std::string> inputs;
  std::vector<int> input_fields;
  for (size_t f = 0; f < wanted.size(); ++f) {
    if (wanted[f].is_label) continue;
    inputs.push_back(wanted[f].name);
    input_fields.push_back(static_cast<int>(f));
  }
  OT_CHECK(name.empty(),
           "{}: tensor '{}' is not a model input (they are {}); map it to the input it feeds with --input {}={} (or "
           "name the tensor after the input)",
           path, printable_bytes(name), fmt::join(inputs, ", "), inputs.size() == 1 ? inputs[0] : "NAME",
           printable_bytes(name));
  size_t index = SIZE_MAX;
  std::from_chars(k.data(), k.data() + k.size(), index);
  OT_CHECK(index < inputs.size(), "{}: input {} but the model has {} input(s) ({}); number them from input_0.pb", path,
           index, inputs.size(), fmt::join(inputs, ", "));
  return input_fields[index];
}

struct SetTensor {
  std::string path;
  Tensor tensor;
};

// One set's tensors by field; every field must be there, with the same number of samples.
std::vector<SetTensor> read_set(const std::string& set_dir, const std::vector<FieldSpec>& wanted,
                                const DataOptions& options) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(set_dir))
    if (entry.is_regular_file() && entry.path().extension() == ".pb") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  std::vector<SetTensor> tensors(wanted.size());
  for (const auto& path : files) {
    onnx::TensorProto proto;
    parse_proto_file(path, proto, "TensorProto");
    const int field = field_of_tensor(path, proto.name(), wanted, options);
    if (field < 0) continue;
    SetTensor& slot = tensors[static_cast<size_t>(field)];
    OT_CHECK(slot.path.empty(), "{}: both {} and {} hold field '{}'; keep one", set_dir, slot.path, path,
             wanted[static_cast<size_t>(field)].name);
    slot = {path, tensor_from_proto(proto, set_dir, path)};
    OT_CHECK(slot.tensor.rank() >= 1,
             "{}: the tensor is a single value (shape []); store one entry per sample along its first axis", path);
  }
  for (size_t f = 0; f < wanted.size(); ++f) {
    OT_CHECK(!tensors[f].path.empty(), "{}: no tensor for {} '{}'; add {} (or a .pb whose tensor is named '{}'{})",
             set_dir, wanted[f].is_label ? "the label" : "the model input", wanted[f].name, expected_file(wanted, f),
             source_name(wanted[f], options),
             wanted[f].is_label ? ", or pass --label with the name of the label's tensor"
                                : ", or map a file or tensor to it with --input " + wanted[f].name + "=FILE.pb");
    OT_CHECK(tensors[f].tensor.dim(0) == tensors[0].tensor.dim(0),
             "{}: {} holds {} samples but {} holds {}; every tensor of a set needs one entry per sample", set_dir,
             tensors[0].path, tensors[0].tensor.dim(0), tensors[f].path, tensors[f].tensor.dim(0));
  }
  return tensors;
}

}  // namespace

std::unique_ptr<Dataset> open_tensor_proto_sets(const SplitSource& split, const std::vector<FieldSpec>& wanted,
                                                const DataOptions& options) {
  std::vector<std::string> sets;
  for (const auto& dir : split.dirs)
    if (fs::path(dir).filename().string().rfind(kSetPrefix, 0) == 0) sets.push_back(dir);
  if (sets.empty()) return nullptr;
  std::sort(sets.begin(), sets.end(), set_order);

  std::vector<ArrayColumn> columns(wanted.size());
  std::vector<std::shared_ptr<const void>> storage;
  for (const auto& set_dir : sets) {
    const std::vector<SetTensor> tensors = read_set(set_dir, wanted, options);
    for (size_t f = 0; f < wanted.size(); ++f) {
      const auto& [path, tensor] = tensors[f];
      const Shape sample_shape(tensor.shape().begin() + 1, tensor.shape().end());
      ArrayColumn& column = columns[f];
      if (column.chunks.empty()) {
        column.dtype = tensor.dtype();
        column.sample_shape = sample_shape;
      }
      OT_CHECK(tensor.dtype() == column.dtype && sample_shape == column.sample_shape,
               "{}: samples of {} {} but {} has samples of {} {}; every set must hold samples of the same element "
               "type and shape",
               path, dtype_name(tensor.dtype()), shape_str(sample_shape), column.chunks[0].path,
               dtype_name(column.dtype), shape_str(column.sample_shape));
      column.chunks.push_back({path, static_cast<const uint8_t*>(tensor.raw_data()), tensor.dim(0), {}});
      storage.push_back(std::make_shared<Tensor>(tensor));
    }
  }
  return std::make_unique<ArrayDataset>(split.dir, wanted, std::move(columns), std::move(storage),
                                        fmt::format("{} test data set(s) in {}", sets.size(), split.dir),
                                        "ONNX test data sets");
}

}  // namespace onnx_train
