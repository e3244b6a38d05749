// LoRA adapter files (runtime/train/lora_adapter.h).
#include "runtime/train/lora_adapter.h"

#include <cmath>
#include <filesystem>
#include <sstream>

#include "importers/checkpoint_file.h"
#include "importers/model_source.h"
#include "runtime/train/load_for_training.h"

namespace onnx_train {

namespace {

std::string weight_entry(const Graph& graph, const std::string& weight) {
  const auto it = graph.initializers.find(weight);
  return weight + " " + (it == graph.initializers.end() ? "missing" : it->second.describe());
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, sep))
    if (!part.empty()) parts.push_back(part);
  return parts;
}

// `name` as a regex matching only itself.
std::string regex_literal(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return out;
}

const std::string& entry(const CheckpointFile& file, const std::string& key, const std::string& path) {
  const auto it = file.metadata.find(key);
  OT_CHECK(it != file.metadata.end(), "{}: not a LoRA adapter file (no '{}' entry)", path, key);
  return it->second;
}

double number(const std::string& text, const std::string& key, const std::string& path) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  OT_FAIL("{}: '{}' is '{}', not a number", path, key, text);
}

}  // namespace

std::map<std::string, DeferredTensor> merged_lora_values(const Graph& model, const LoraInfo& info) {
  std::map<std::string, DeferredTensor> merged;
  for (const LoraAdapter& adapter : info.adapters) {
    const Tensor& w = model.initializers.at(adapter.weight);
    merged[adapter.weight] =
        DeferredTensor{w.dtype(), w.shape(), [&model, adapter] { return merged_lora_weight(adapter, model.initializers); }};
  }
  return merged;
}

void export_merged_lora(const std::string& model_path, const std::string& adapter, const std::string& out,
                        ExternalDataMode external_data) {
  LoadModelOptions options;
  options.lora.adapter = adapter;
  const LoadedModel loaded = load_model_for_training(model_path, options);
  TrainedModelOptions written;
  written.external_data = external_data;
  written.deferred = merged_lora_values(*loaded.model, loaded.lora);
  write_trained_model(*loaded.model, out, {}, written);
}

std::string lora_adapter_path(const std::string& model_path) {
  const std::string suffix = ".onnx";
  if (model_path.size() > suffix.size() && model_path.compare(model_path.size() - suffix.size(), suffix.size(), suffix) == 0)
    return model_path.substr(0, model_path.size() - suffix.size()) + ".lora.onnx";
  return model_path + ".lora.onnx";
}

void write_lora_adapter(const LoraInfo& info, const Graph& model, const std::string& base_model,
                        const std::string& path) {
  CheckpointFile file;
  std::vector<std::string> weights;
  for (const auto& a : info.adapters) {
    file.tensors[a.a] = model.initializers.at(a.a);
    file.tensors[a.b] = model.initializers.at(a.b);
    weights.push_back(weight_entry(model, a.weight));
  }
  file.metadata["lora.rank"] = std::to_string(info.options.rank);
  file.metadata["lora.alpha"] = fmt::format("{}", info.options.alpha);
  file.metadata["lora.dropout"] = fmt::format("{}", info.options.dropout);
  file.metadata["lora.targets"] = info.options.targets;
  file.metadata["lora.weights"] = fmt::format("{}", fmt::join(weights, ";"));
  file.metadata["lora.fingerprint"] = info.fingerprint(model);
  file.metadata["lora.base_model"] = std::filesystem::path(base_model).filename().string();
  write_checkpoint_file(file, path);
}

LoraInfo apply_lora_adapter(Graph& graph, const LoraOptions& options, uint64_t seed, const std::string& model_path) {
  const std::string& path = options.adapter;
  const CheckpointFile file = with_category(ErrorCategory::Checkpoint, [&] { return read_checkpoint_file(path); });
  LoraOptions made = options;
  const double rank = number(entry(file, "lora.rank", path), "lora.rank", path);
  OT_CHECK(rank >= 1 && rank <= 1e9 && rank == std::floor(rank), "{}: 'lora.rank' is {}, not a positive whole number",
           path, rank);
  made.rank = static_cast<int64_t>(rank);
  made.alpha = number(entry(file, "lora.alpha", path), "lora.alpha", path);
  made.dropout = number(entry(file, "lora.dropout", path), "lora.dropout", path);
  OT_CHECK_OPTION(options.rank == 0 || options.rank == made.rank, "lora",
                  "rank {} differs from the rank {} of the adapter file {}; leave the rank out to take the file's",
                  options.rank, made.rank, path);
  // The base weights must be there with the shapes they had: every difference at once.
  const std::vector<std::string> weights = split(entry(file, "lora.weights", path), ';');
  std::vector<std::string> differences, names;
  for (const auto& w : weights) {
    const size_t space = w.find('[') == std::string::npos ? std::string::npos : w.rfind(' ', w.find('['));
    OT_CHECK(space != std::string::npos && space > 0, "{}: 'lora.weights' holds '{}', not 'NAME TYPE[SHAPE]'", path, w);
    const std::string name = w.substr(0, space);
    names.push_back(regex_literal(name));
    const std::string here = weight_entry(graph, name);
    if (here != w) differences.push_back(fmt::format("'{}' is {} in the adapter's base, {} here", name, w.substr(name.size() + 1),
                                                     here.substr(name.size() + 1)));
  }
  OT_CHECK(differences.empty() && !weights.empty(),
           "{}: the adapter file {} was made for another base model ({}): {}", model_path, path,
           entry(file, "lora.base_model", path),
           weights.empty() ? std::string("it names no weight") : fmt::format("{}", fmt::join(differences, "; ")));
  made.targets = "^(" + fmt::format("{}", fmt::join(names, "|")) + ")$";
  LoraInfo info = apply_lora(graph, made, seed);
  info.options.targets = entry(file, "lora.targets", path);
  OT_CHECK(info.adapters.size() == weights.size() && info.fingerprint(graph) == entry(file, "lora.fingerprint", path),
           "{}: the adapter file {} was made for another base model ({}): its fingerprint differs", model_path, path,
           entry(file, "lora.base_model", path));
  for (const auto& a : info.adapters) {
    for (const std::string& name : {a.a, a.b}) {
      const auto it = file.tensors.find(name);
      OT_CHECK(it != file.tensors.end(), "{}: the adapter file has no tensor '{}'", path, name);
      const Tensor& now = graph.initializers.at(name);
      OT_CHECK(it->second.dtype() == now.dtype() && it->second.shape() == now.shape(),
               "{}: '{}' is {} in the adapter file but {} for rank {} on this model", path, name,
               it->second.describe(), now.describe(), made.rank);
      graph.initializers[name] = it->second.clone();
    }
  }
  return info;
}

}  // namespace onnx_train
