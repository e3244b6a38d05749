// onnx-train predict MODEL.onnx DATA -o predictions.csv: the model's predictions for every sample
// of DATA, one CSV row each. No label is needed: a folder of image class folders, npy / npz
// arrays for the model's inputs only, a CSV without the label column.
//
// The rows (RFC 4180 CSV, a header first):
//   id           an image's path relative to DATA; otherwise the sample's index (prefixed by
//                its split, "train/17", when DATA holds two splits)
//   classifiers: predicted (the class name, or index), then prob_<class> per class (or, with
//                --top-k K, class_1, prob_1, ..., class_K, prob_K, most probable first)
//   otherwise:   output_0 ... output_k, the output's values for the sample, flattened
//
// How the output's values become probabilities follows the loss the model was trained with:
// --loss given here, else the model's "training.loss" metadata, else the output's shape:
//   cross-entropy: softmax(z)_c = exp(z_c - max z) / sum_k exp(z_k - max z) over the classes
//   nll:           the output holds log-probabilities: exp(z_c)
//   bce-with-logits: sigmoid(z) = 1 / (1 + exp(-z)) per output value (predicted: > 0.5)
//   mse, l1, huber: the values themselves (regression)
// Without a loss, an output of shape [N, C >= 2] is a classifier: its values are taken as
// probabilities when every row already is one (in [0, 1], summing to 1), as log-probabilities
// when their exponentials are, and as logits (softmax) otherwise; any other output is
// regression. The model's stored classes, mean and std (data_options_from_metadata) preprocess the
// data as in training, so a model trained by onnx-train needs no --mean / --std.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <numeric>

#include "onnx_train/dataset.h"
#include "onnx_train/inspect.h"
#include "onnx_train/session.h"
#include "tools/onnx-train/classification_report.h"
#include "tools/onnx-train/commands.h"
#include "tools/onnx-train/run_folder.h"
#include "tools/onnx-train/subcommands.h"
#include "tools/onnx-train/train_common.h"
#include "tools/onnx-train/train_data.h"
#include "tools/onnx-train/train_options.h"

namespace onnx_train::cli {

namespace {

namespace fs = std::filesystem;

// How a row's values are read (see the header comment).
enum class Reading { Softmax, LogProbabilities, Probabilities, Sigmoid, Values };

struct OutputReading {
  Reading how = Reading::Values;
  std::string why;  // for the closing line: "softmax of the logits (training.loss cross-entropy in the model)"
};

// The reading a loss kind implies; Values for a loss that names no classifier.
Reading reading_of_loss(const std::string& loss) {
  if (loss == "cross-entropy") return Reading::Softmax;
  if (loss == "nll") return Reading::LogProbabilities;
  if (loss == "bce-with-logits") return Reading::Sigmoid;
  return Reading::Values;
}

// One batch's [rows, width] values: whether each row already is a probability distribution
// (`logs`: after exp), to within float rounding.
bool rows_are_distributions(const std::vector<double>& values, int64_t width, bool logs) {
  for (size_t begin = 0; begin < values.size(); begin += static_cast<size_t>(width)) {
    double sum = 0;
    for (int64_t c = 0; c < width; ++c) {
      const double p = logs ? std::exp(values[begin + static_cast<size_t>(c)]) : values[begin + static_cast<size_t>(c)];
      if (!(p >= 0 && p <= 1 + 1e-6)) return false;
      sum += p;
    }
    if (std::fabs(sum - 1) > 1e-4) return false;
  }
  return true;
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (const char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// A batch from a model whose batch size is fixed at `size` (its inputs' first dimension): the
// last, smaller batch padded with copies of its last sample (their predictions are dropped).
void pad_batch(std::map<std::string, Tensor>& batch, int64_t size) {
  for (auto& [name, t] : batch) {
    const int64_t rows = t.dim(0);
    if (rows >= size || rows == 0) continue;
    Shape shape = t.shape();
    shape[0] = size;
    Tensor padded(t.dtype(), shape);
    const size_t row_bytes = t.nbytes() / static_cast<size_t>(rows);
    auto* to = static_cast<uint8_t*>(padded.raw_data());
    std::memcpy(to, t.raw_data(), t.nbytes());
    for (int64_t r = rows; r < size; ++r)
      std::memcpy(to + static_cast<size_t>(r) * row_bytes, to + static_cast<size_t>(rows - 1) * row_bytes, row_bytes);
    t = std::move(padded);
  }
}

// The CSV being written: into `path`.partial, renamed over `path` by finish(); removed if the
// command fails before.
class PartialFile {
 public:
  explicit PartialFile(std::string path) : path_(std::move(path)), partial_(path_ + ".partial") {
    file_ = std::fopen(partial_.c_str(), "wb");
    OT_CHECK(file_ != nullptr, "-o {}: cannot write it ({})", path_, std::strerror(errno));
  }
  ~PartialFile() {
    if (file_ != nullptr) std::fclose(file_);
    if (!finished_) std::remove(partial_.c_str());
  }
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;

  void write(const std::string& text) {
    OT_CHECK(std::fwrite(text.data(), 1, text.size(), file_) == text.size(), "-o {}: cannot write it ({})", path_,
             std::strerror(errno));
  }
  void finish() {
    const int closed = std::fclose(file_);  // a full disk can show only here, when the buffer goes out
    file_ = nullptr;
    OT_CHECK(closed == 0, "-o {}: cannot write it ({})", path_, std::strerror(errno));
    OT_CHECK(std::rename(partial_.c_str(), path_.c_str()) == 0, "-o {}: cannot put the written file in place ({})",
             path_, std::strerror(errno));
    finished_ = true;
  }

 private:
  std::string path_, partial_;
  std::FILE* file_ = nullptr;
  bool finished_ = false;
};

// Writes the rows of one batch's output values ([rows, width], row-major).
class RowWriter {
 public:
  RowWriter(OutputReading reading, std::vector<std::string> names, int64_t top_k)
      : reading_(std::move(reading)), names_(std::move(names)), top_k_(top_k) {}

  const OutputReading& reading() const { return reading_; }

  std::string header(int64_t width) const {
    std::string out = "id";
    if (reading_.how == Reading::Values) {
      for (int64_t j = 0; j < width; ++j) out += fmt::format(",output_{}", j);
    } else if (top_k_ > 0 && reading_.how != Reading::Sigmoid) {
      out += ",predicted";
      for (int64_t r = 1; r <= std::min(top_k_, width); ++r) out += fmt::format(",class_{},prob_{}", r, r);
    } else {
      out += ",predicted";
      // One sigmoid unit is the probability of class 1; otherwise one column per class.
      const bool one_unit = reading_.how == Reading::Sigmoid && width == 1;
      for (int64_t c = 0; c < width; ++c) out += "," + csv_field("prob_" + class_name(names_, one_unit ? 1 : c));
    }
    return out + "\n";
  }

  // Settles an automatic classifier reading on the first batch: the values as they are when
  // every row is a distribution already, and so on (see the header comment).
  void settle(const std::vector<double>& values, int64_t width) {
    if (reading_.how != Reading::Probabilities || !reading_.why.empty()) return;
    if (rows_are_distributions(values, width, false)) {
      reading_.why = "the output's rows are probabilities already (in [0, 1], summing to 1)";
    } else if (rows_are_distributions(values, width, true)) {
      reading_ = {Reading::LogProbabilities, "exp of the output, whose rows are log-probabilities"};
    } else {
      reading_ = {Reading::Softmax, "softmax of the output, read as logits: the model records no training.loss"};
    }
  }

  std::string row(const std::string& id, const double* z, int64_t width) const {
    std::string out = csv_field(id);
    if (reading_.how == Reading::Values) {
      for (int64_t j = 0; j < width; ++j) out += fmt::format(",{:.9g}", z[j]);
      return out + "\n";
    }
    std::vector<double> p(z, z + width);
    if (reading_.how == Reading::Softmax) {
      const double top = *std::max_element(p.begin(), p.end());
      double sum = 0;
      for (double& v : p) sum += v = std::exp(v - top);
      for (double& v : p) v /= sum;
    } else if (reading_.how == Reading::LogProbabilities) {
      for (double& v : p) v = std::exp(v);
    } else if (reading_.how == Reading::Sigmoid) {
      for (double& v : p) v = 1 / (1 + std::exp(-v));
    }
    if (reading_.how == Reading::Sigmoid) {
      // One unit: the positive class when p > 0.5; several (multi-label): each unit above 0.5.
      std::vector<std::string> chosen;
      for (int64_t c = 0; c < width; ++c)
        if (p[static_cast<size_t>(c)] > 0.5) chosen.push_back(class_name(names_, c));
      const std::string predicted =
          width == 1 ? class_name(names_, p[0] > 0.5 ? 1 : 0) : fmt::format("{}", fmt::join(chosen, " "));
      out += "," + csv_field(predicted);
      for (const double v : p) out += fmt::format(",{:.6g}", v);
      return out + "\n";
    }
    std::vector<int64_t> order(static_cast<size_t>(width));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return p[static_cast<size_t>(a)] > p[static_cast<size_t>(b)]; });
    out += "," + csv_field(class_name(names_, order[0]));
    if (top_k_ > 0) {
      for (int64_t r = 0; r < std::min(top_k_, width); ++r)
        out += fmt::format(",{},{:.6g}", csv_field(class_name(names_, order[static_cast<size_t>(r)])),
                           p[static_cast<size_t>(order[static_cast<size_t>(r)])]);
    } else {
      for (const double v : p) out += fmt::format(",{:.6g}", v);
    }
    return out + "\n";
  }

 private:
  OutputReading reading_;
  std::vector<std::string> names_;
  int64_t top_k_;
};

// The reading for `out`: --loss given here, else training.loss in the model, else its shape.
OutputReading choose_reading(const TrainConfig& config, const std::map<std::string, std::string>& meta,
                             const TensorSpec& out, bool stored_classes) {
  const bool loss_given = std::find(config.args.begin(), config.args.end(), "--loss") != config.args.end();
  const auto stored = meta.find("training.loss");
  const char* names[] = {"softmax of the output (logits)", "exp of the output (log-probabilities)",
                         "the output's values (probabilities)", "sigmoid of the output (logits)",
                         "the output's values"};
  if (loss_given || stored != meta.end()) {
    const std::string loss = loss_given ? config.loss : stored->second;
    const Reading how = reading_of_loss(loss);
    return {how, fmt::format("{}, as {}", names[static_cast<int>(how)],
                             loss_given ? "--loss " + loss + " says" : "the model's training.loss " + loss + " says")};
  }
  const bool classes_axis = out.rank_known && out.shape.size() == 2 && (out.shape[1] >= 2 || out.shape[1] < 0);
  if (classes_axis || (stored_classes && out.rank_known && out.shape.size() == 2))
    return {Reading::Probabilities, ""};  // settled on the first batch (RowWriter::settle)
  return {Reading::Values, "the output's values (regression: not of shape [N, classes])"};
}

// The data fields the model's inputs take (none is a label); `fixed_batch` > 0 when an
// input's batch axis is fixed.
std::vector<FieldSpec> input_fields(const Session& session, const std::string& model, int64_t& fixed_batch) {
  std::vector<FieldSpec> fields;
  for (const TensorSpec& in : session.inputs()) {
    OT_CHECK(in.rank_known && !in.shape.empty(),
             "{}: model input '{}' is {}: its shape must be declared (with a batch axis first) to read data for it",
             model, in.name, in.describe());
    fields.push_back({in.name, in.dtype, Shape(in.shape.begin() + 1, in.shape.end())});
    if (in.shape[0] > 0) fixed_batch = in.shape[0];
  }
  return fields;
}

// The output predictions are read from: --output, else the model's training.output, else the first.
size_t predicted_output(const Session& session, const TrainConfig& config,
                        const std::map<std::string, std::string>& meta) {
  std::string name = config.training.loss.output;
  if (name.empty() && meta.count("training.output")) name = meta.at("training.output");
  if (name.empty()) return 0;
  const auto& outs = session.outputs();
  std::vector<std::string> names;
  for (const auto& o : outs) names.push_back(o.name);
  const auto it = std::find(names.begin(), names.end(), name);
  OT_CHECK(it != names.end(), "{}: the model has no output '{}' (--output); its outputs are {}", config.model, name,
           fmt::join(names, ", "));
  return static_cast<size_t>(it - names.begin());
}

// A row's id: the sample's name (an image's path, made relative to `data_dir`), else its index,
// after its split's name when the data has two ("train/17").
std::string sample_id(const Dataset& data, int64_t index, const std::string& data_dir, const std::string& split) {
  const std::string name = data.sample_name(index);
  if (name.empty()) return split.empty() ? std::to_string(index) : fmt::format("{}/{}", split, index);
  const fs::path relative = fs::path(name).lexically_relative(data_dir);
  return relative.empty() || relative.begin()->string() == ".." ? name : relative.string();
}

}  // namespace

int predict_command(const std::vector<std::string>& raw) {
  std::string out_path;
  int64_t top_k = 0;
  const std::vector<std::string> args =
      take_own_flags("predict", raw,
                     {{"-o", [&](const std::string& v) { out_path = v; }},
                      {"--top-k", [&](const std::string& v) { top_k = parse_whole_number("--top-k", v, 1); }}});
  OT_CHECK(!out_path.empty(), "predict needs -o FILE.csv, the file to write the predictions to; see onnx-train --help");
  TrainConfig config = parse_train_args(args, /*need_data=*/true, "predict");
  CreatedFolders folders;  // made for -o, and removed again if the command fails
  check_output_file("-o", out_path, folders);

  const MergedLoraModel model(config.model, config.training.lora.adapter);  // adapters merged in
  Session session = Session::from_file(model.path());
  const std::map<std::string, std::string> meta = read_model_metadata(config.model);
  // The model's stored preprocessing; --mean / --std given here win. Its classes name the
  // probability columns, but do not map DATA's folders: predicting needs no labels, so any
  // folder names will do.
  const DataOptions stored = data_options_from_metadata(meta, "the model " + config.model);  // read once, above
  DataOptions options = data_options_over(config, stored);
  // A CSV of the kind the model was trained on still holds its label column: not an input.
  if (const auto label = meta.find("training.label"); label != meta.end())
    options.skip_columns_if_present.push_back(config.training.loss.label.empty() || config.training.loss.label == "label"
                                                  ? label->second
                                                  : config.training.loss.label);
  options.classes.clear();
  options.classes_from.clear();
  if (config.mean.empty() && !stored.mean.empty())
    std::printf("normalising by the mean and std stored in the model %s\n", config.model.c_str());

  int64_t fixed_batch = 0;
  const std::vector<FieldSpec> fields = input_fields(session, config.model, fixed_batch);
  const size_t output = predicted_output(session, config, meta);
  const TensorSpec& out_spec = session.outputs().at(output);

  const DataSplits data = open_data(config.data, fields, options);
  std::vector<std::string> names = stored.classes;
  // Without stored classes, class folders name the classes as training would have numbered
  // them, when there are as many as the output has.
  if (names.empty() && out_spec.rank_known && out_spec.shape.size() == 2 &&
      static_cast<int64_t>(data.train->class_names().size()) == out_spec.shape[1])
    names = data.train->class_names();
  RowWriter writer(choose_reading(config, meta, out_spec, !stored.classes.empty()), names, top_k);

  std::string data_dir = config.data;  // without trailing slashes, which lexically_relative would take as a level
  while (data_dir.size() > 1 && data_dir.back() == '/') data_dir.pop_back();
  const int64_t batch_size = fixed_batch > 0 ? fixed_batch : config.batch_size;
  PartialFile file(out_path);
  int64_t rows = 0, width = -1;
  const std::pair<const char*, std::shared_ptr<const Dataset>> splits[] = {{"train", data.train}, {"val", data.val}};
  const bool two_splits = data.val != nullptr;
  for (const auto& [split, dataset] : splits) {
    if (!dataset) continue;
    BatchLoader loader(dataset, batch_size, /*shuffle=*/false, /*seed=*/0);
    loader.start_epoch(0);
    std::map<std::string, Tensor> batch;
    int64_t index = 0;
    while (loader.next(batch)) {
      const int64_t n = batch.begin()->second.dim(0);
      if (fixed_batch > 0) pad_batch(batch, fixed_batch);
      const std::vector<Tensor> outputs = session.run(batch);
      const Tensor& y = outputs.at(output);
      OT_CHECK(y.rank() >= 1 && y.dim(0) == (fixed_batch > 0 ? fixed_batch : n),
               "{}: output '{}' has shape {} for a batch of {} samples; predict needs the samples on its first axis",
               config.model, out_spec.name, shape_str(y.shape()), n);
      const int64_t row_width = y.numel() / y.dim(0);
      std::vector<double> values = y.to_doubles();
      values.resize(static_cast<size_t>(n * row_width));  // without the padding
      if (width < 0) {
        width = row_width;
        if (writer.reading().how != Reading::Values && y.rank() != 2) {
          std::printf("note: output '%s' has shape %s, not [N, classes]: writing its values\n",
                      out_spec.name.c_str(), shape_str(y.shape()).c_str());
          writer = RowWriter({Reading::Values, "the output's values"}, names, top_k);
        }
        writer.settle(values, width);
        file.write(writer.header(width));
      }
      for (int64_t r = 0; r < n; ++r, ++index, ++rows) {
        const std::string id = sample_id(*dataset, index, data_dir, two_splits ? split : "");
        file.write(writer.row(id, values.data() + r * row_width, row_width));
      }
    }
  }
  file.finish();
  folders.keep();
  std::printf("wrote %s: %lld predictions of %s (%s)\n", out_path.c_str(), static_cast<long long>(rows),
              config.model.c_str(), writer.reading().why.c_str());
  return 0;
}

}  // namespace onnx_train::cli
