// The user's model kept for export, and the writer of the trained model (importers/model_source.h).
#include "importers/model_source.h"

#include <algorithm>
#include <optional>

#include "importers/onnx_model.h"
#include "importers/proto_io.h"
#include "importers/tensor_proto.h"

namespace onnx_train {

namespace {

// Initializers up to this size keep their bytes in the source whatever the graph holds: the
// small integer tensors (axes, shapes) that lowerings and upgrades consume are among them.
constexpr size_t kKeptBytes = 4096;

bool is_default_domain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

bool is_external(const onnx::TensorProto& t) { return t.data_location() == onnx::TensorProto::EXTERNAL; }

const onnx::AttributeProto* find_attribute(const onnx::NodeProto& node, const std::string& name) {
  for (const auto& a : node.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

// The tensor of a Constant node's `value` attribute, or nullptr.
onnx::TensorProto* constant_value(onnx::NodeProto& node) {
  if (node.op_type() != "Constant" || !is_default_domain(node.domain()) || node.output_size() != 1) return nullptr;
  for (auto& a : *node.mutable_attribute())
    if (a.name() == "value" && a.has_t()) return a.mutable_t();
  return nullptr;
}

// Where the written tensors' bytes go: the data file (`data`), the model file streamed from the
// tensors (`inline_tensors`, for graph initializers only), or else into the proto itself.
struct TensorPlacement {
  ExternalData* data = nullptr;
  InlineTensors* inline_tensors = nullptr;
};

// `t` holding `value` (type, dims, bytes as `placement` says), its name and doc string kept.
// `initializer`: `t` is one of the graph's initializers (which InlineTensors can hold).
void write_tensor(onnx::TensorProto& t, const HeldTensor& value, const TensorPlacement& placement, bool initializer) {
  const std::string name = t.name(), doc = t.doc_string();
  t.Clear();
  t.set_name(name);
  if (!doc.empty()) t.set_doc_string(doc);
  if (placement.data != nullptr)
    placement.data->place(value, t);
  else if (placement.inline_tensors != nullptr && initializer)
    placement.inline_tensors->place(value, t);
  else
    tensor_to_proto(value.value(), t);
}

// Keeps the elements of `field` for which `keep` is true, in order.
template <typename T, typename Keep>
void keep_if(google::protobuf::RepeatedPtrField<T>& field, Keep keep) {
  google::protobuf::RepeatedPtrField<T> kept;
  for (auto& element : field)
    if (keep(element)) kept.Add()->Swap(&element);
  field.Swap(&kept);
}

}  // namespace

ModelSource::ModelSource(onnx::ModelProto& parsed, std::string path) : path_(std::move(path)) {
  // Copied without the initializers and the training information (set aside meanwhile, so that
  // their bytes are not copied; fields this ONNX does not know are copied too), then the
  // initializers without their bytes (small ones whole).
  google::protobuf::RepeatedPtrField<onnx::TensorProto> initializers;
  google::protobuf::RepeatedPtrField<onnx::TrainingInfoProto> training;
  initializers.Swap(parsed.mutable_graph()->mutable_initializer());
  training.Swap(parsed.mutable_training_info());
  model_ = parsed;
  initializers.Swap(parsed.mutable_graph()->mutable_initializer());
  training.Swap(parsed.mutable_training_info());
  had_training_info_ = parsed.training_info_size() > 0;
  onnx::GraphProto& mine = *model_.mutable_graph();
  for (const auto& t : parsed.graph().initializer()) {
    had_external_data_ = had_external_data_ || is_external(t);
    onnx::TensorProto* kept = mine.add_initializer();
    if (!is_external(t) && t.ByteSizeLong() <= kKeptBytes) {
      *kept = t;
      continue;
    }
    kept->set_name(t.name());
    kept->set_data_type(t.data_type());
    *kept->mutable_dims() = t.dims();
    if (t.has_doc_string()) kept->set_doc_string(t.doc_string());
    stubs_.insert(t.name());
  }
  for (const auto& imp : model_.opset_import())
    if (is_default_domain(imp.domain())) opset_ = static_cast<int>(imp.version());
}

void ModelSource::finish(const onnx::ModelProto& working, const Graph& graph, const std::string& model_dir) {
  std::map<std::string, const onnx::TensorProto*> in_working;
  for (const auto& t : working.graph().initializer()) in_working[t.name()] = &t;
  onnx::GraphProto& g = *model_.mutable_graph();
  for (auto& t : *g.mutable_initializer()) {
    holdable_.insert(t.name());
    if (graph.initializers.count(t.name())) {
      held_by_graph_.insert(t.name());
      continue;
    }
    if (!stubs_.count(t.name())) continue;
    // Not in the graph: its bytes, inline, from the working model.
    const auto it = in_working.find(t.name());
    if (it != in_working.end()) {
      try {
        const std::string context = fmt::format("{}: initializer '{}'", path_, t.name());
        write_tensor(t, tensor_from_proto(*it->second, model_dir, context), {}, true);
        continue;
      } catch (const Error&) {  // of a type the runtime does not read
      }
    }
    lost_.insert(t.name());
  }
  std::set<std::string> initializer_names = holdable_;
  for (auto& n : *g.mutable_node()) {
    if (onnx::TensorProto* value = constant_value(n)) {
      holdable_.insert(n.output(0));
      if (is_external(*value))
        write_tensor(*value, tensor_from_proto(*value, model_dir, fmt::format("{}: node '{}'", path_, n.name())), {},
                     false);
    }
    if (n.op_type() == "Identity" && is_default_domain(n.domain()) && n.input_size() == 1 && n.output_size() == 1 &&
        initializer_names.count(n.input(0)))
      holdable_.insert(n.output(0));
  }
  stubs_.clear();
}

std::set<std::string> ModelSource::names() const {
  std::set<std::string> names;
  const onnx::GraphProto& g = model_.graph();
  for (const auto& t : g.initializer()) names.insert(t.name());
  for (const auto* list : {&g.input(), &g.output(), &g.value_info()})
    for (const auto& v : *list) names.insert(v.name());
  for (const auto& n : g.node()) {
    names.insert(n.name());
    names.insert(n.output().begin(), n.output().end());
  }
  names.erase("");
  return names;
}

namespace {

// Why `node` is in training form ("" when it is not): BatchNormalization with training_mode=1
// or statistics outputs, Dropout with a training_mode input.
std::string training_form_of(const onnx::NodeProto& node) {
  if (!is_default_domain(node.domain())) return "";
  if (node.op_type() == "BatchNormalization") {
    const onnx::AttributeProto* mode = find_attribute(node, "training_mode");
    if (mode != nullptr && (mode->i() != 0 || !mode->ref_attr_name().empty())) return "training_mode=1";
    for (int i = 1; i < node.output_size(); ++i)
      if (!node.output(i).empty()) return "statistics outputs";
  }
  if (node.op_type() == "Dropout" && node.input_size() > 2 && !node.input(2).empty()) return "a training_mode input";
  return "";
}

}  // namespace

std::vector<std::string> export_limits(const ModelSource& source) {
  std::vector<std::string> lines;
  for (const auto& f : source.model().functions()) {
    for (const auto& n : f.node()) {
      const std::string form = training_form_of(n);
      if (form.empty()) continue;
      lines.push_back(fmt::format(
          "{}: the local function '{}' ({}) holds {} '{}' in training form ({}); training and evaluation use its "
          "inference form, but the export writes the function as it is (export the model in eval form to avoid this)",
          source.path(), f.name(), f.domain(), n.op_type(), n.name(), form));
      break;
    }
  }
  return lines;
}

void set_metadata(onnx::ModelProto& model, const std::string& key, const std::string& value) {
  for (auto& entry : *model.mutable_metadata_props()) {
    if (entry.key() != key) continue;
    entry.set_value(value);
    return;
  }
  auto* entry = model.add_metadata_props();
  entry->set_key(key);
  entry->set_value(value);
}

namespace {

// The value written for `name`: `options.deferred`'s, in place of the trained graph's, or the
// trained graph's initializer; none when it has neither.
std::optional<HeldTensor> written_value(const std::string& name, const Graph& trained,
                                        const TrainedModelOptions& options) {
  const auto deferred = options.deferred.find(name);
  if (deferred != options.deferred.end()) return HeldTensor(deferred->second);
  const auto it = trained.initializers.find(name);
  if (it == trained.initializers.end()) return std::nullopt;
  return HeldTensor(it->second);
}

// Every initializer of the trained graph by name; the ones the graph dropped since load go.
void write_initializers(onnx::GraphProto& g, const Graph& trained, const ModelSource& source,
                        const TrainedModelOptions& options, std::set<std::string>& placed,
                        const TensorPlacement& placement) {
  std::set<std::string> dropped;
  keep_if(*g.mutable_initializer(), [&](onnx::TensorProto& t) {
    if (const std::optional<HeldTensor> value = written_value(t.name(), trained, options)) {
      write_tensor(t, *value, placement, true);
      placed.insert(t.name());
      return true;
    }
    if (!source.held_by_graph(t.name())) return true;  // never in the graph: as given
    dropped.insert(t.name());
    return false;
  });
  keep_if(*g.mutable_input(), [&](const onnx::ValueInfoProto& v) { return !dropped.count(v.name()); });
}

// Constant nodes whose output the trained graph holds as an initializer, and Identity nodes of
// an initializer whose output it holds as its own (separated) initializer.
void write_promoted_values(onnx::GraphProto& g, const Graph& trained, const TrainedModelOptions& options,
                           std::set<std::string>& placed, const TensorPlacement& placement) {
  const bool constants_as_initializers = options.constants_as_initializers;
  std::set<std::string> initializers;
  for (const auto& t : g.initializer()) initializers.insert(t.name());
  auto trained_value = [&](const std::string& name) -> std::optional<HeldTensor> {
    return initializers.count(name) ? std::nullopt : written_value(name, trained, options);
  };
  std::vector<onnx::TensorProto> added;
  keep_if(*g.mutable_node(), [&](onnx::NodeProto& n) {
    if (n.output_size() != 1) return true;
    const std::optional<HeldTensor> value = trained_value(n.output(0));
    if (!value) return true;
    onnx::TensorProto* constant = constant_value(n);
    const bool separated = n.op_type() == "Identity" && is_default_domain(n.domain()) && n.input_size() == 1 &&
                           initializers.count(n.input(0));
    if (constant == nullptr && !separated) return true;
    placed.insert(n.output(0));
    if (constant != nullptr && !constants_as_initializers) {
      write_tensor(*constant, *value, placement, false);
      return true;
    }
    added.emplace_back();
    added.back().set_name(n.output(0));
    write_tensor(added.back(), *value, placement, true);
    return false;
  });
  for (auto& t : added) g.add_initializer()->Swap(&t);
}

// The inference form of BatchNormalization and Dropout nodes exported in training form, as
// to_eval_form makes it in the trained graph (model_source.h).
void to_inference_form(onnx::GraphProto& g, const std::string& path) {
  std::set<std::string> dropped, switches;
  for (auto& n : *g.mutable_node()) {
    if (training_form_of(n).empty()) continue;
    if (n.op_type() == "BatchNormalization") {
      for (auto& a : *n.mutable_attribute())
        if (a.name() == "training_mode") a.set_i(0);
      for (int i = 1; i < n.output_size(); ++i)
        if (!n.output(i).empty()) dropped.insert(n.output(i));
      n.mutable_output()->DeleteSubrange(1, n.output_size() - 1);
    } else {  // Dropout
      switches.insert(n.input(2));
      n.mutable_input()->DeleteSubrange(2, n.input_size() - 2);
      while (n.input_size() > 1 && n.input(n.input_size() - 1).empty()) n.mutable_input()->RemoveLast();
    }
  }
  std::set<std::string> read;
  for (const auto& n : g.node()) read.insert(n.input().begin(), n.input().end());
  for (const auto& v : g.output()) read.insert(v.name());
  keep_if(*g.mutable_node(), [&](const onnx::NodeProto& n) {
    const bool unused_switch = n.op_type() == "Constant" && is_default_domain(n.domain()) && n.output_size() == 1 &&
                               switches.count(n.output(0)) && !read.count(n.output(0));
    if (unused_switch) dropped.insert(n.output(0));
    return !unused_switch;
  });
  keep_if(*g.mutable_output(), [&](const onnx::ValueInfoProto& v) { return !dropped.count(v.name()); });
  keep_if(*g.mutable_value_info(), [&](const onnx::ValueInfoProto& v) { return !dropped.count(v.name()); });
  for (const auto& n : g.node())
    for (const auto& in : n.input())
      OT_CHECK(in.empty() || !dropped.count(in),
               "{}: node '{}' ({}) reads '{}', a training-form statistic that the inference form removes; the model "
               "cannot be written in inference form",
               path, n.name(), n.op_type(), in);
}

// The fixed dimensions of `v` that the trained graph's `info` has changed (a new head).
void update_dims(onnx::ValueInfoProto& v, const ValueInfo* info) {
  if (info == nullptr || !info->shape || !v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) return;
  auto* dims = v.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim();
  if (dims->size() != static_cast<int>(info->shape->size())) return;
  for (int d = 0; d < dims->size(); ++d) {
    const int64_t now = (*info->shape)[d];
    if (dims->Get(d).has_dim_value() && now >= 0 && dims->Get(d).dim_value() != now)
      dims->Mutable(d)->set_dim_value(now);
  }
}

void update_shapes(onnx::GraphProto& g, const Graph& trained) {
  for (auto& v : *g.mutable_output()) update_dims(v, trained.find_value_info(v.name()));
  for (auto& v : *g.mutable_value_info()) update_dims(v, trained.find_value_info(v.name()));
}

// A --export-training file's leftovers once its training information is gone: the
// "onnx_train.*" metadata and the training domains no node uses.
void drop_training_leftovers(onnx::ModelProto& m) {
  keep_if(*m.mutable_metadata_props(),
          [](const onnx::StringStringEntryProto& e) { return e.key().rfind("onnx_train.", 0) != 0; });
  std::set<std::string> used;
  for (const auto& n : m.graph().node()) used.insert(n.domain());
  for (const auto& f : m.functions())
    for (const auto& n : f.node()) used.insert(n.domain());
  keep_if(*m.mutable_opset_import(), [&](const onnx::OperatorSetIdProto& imp) {
    const bool training_domain = imp.domain() == kOnnxTrainingDomain || imp.domain() == kProjectDomain;
    return !training_domain || used.count(imp.domain());
  });
}

}  // namespace

onnx::ModelProto trained_model_proto(const Graph& trained, const TrainedModelOptions& options, ExternalData* data,
                                     InlineTensors* inline_tensors) {
  onnx::ModelProto m;
  if (!trained.source) {
    if (options.deferred.empty()) {
      model_to_proto(trained, trained.opsets, m, data);
      return m;
    }
    Graph with_values = trained;  // a graph built in memory: its deferred values made at once
    for (const auto& [name, value] : options.deferred) with_values.initializers[name] = HeldTensor(value).value();
    model_to_proto(with_values, with_values.opsets, m, data);
    return m;
  }
  const TensorPlacement placement{data, data == nullptr ? inline_tensors : nullptr};
  const ModelSource& source = *trained.source;
  OT_CHECK(source.lost().empty(),
           "{}: the initializers {} of the model could not be kept for its export (consumed while loading it, or of a "
           "type onnx-train does not read)",
           source.path(), fmt::join(source.lost(), ", "));
  m = source.model();
  m.clear_training_info();
  onnx::GraphProto& g = *m.mutable_graph();
  std::set<std::string> placed;
  write_initializers(g, trained, source, options, placed, placement);
  write_promoted_values(g, trained, options, placed, placement);
  to_inference_form(g, source.path());
  update_shapes(g, trained);
  if (source.had_training_info()) drop_training_leftovers(m);
  std::vector<std::string> missing;
  for (const auto& name : options.changed)
    if (!placed.count(name)) missing.push_back(name);
  for (const auto& [name, value] : options.deferred)
    if (!placed.count(name)) missing.push_back(name);
  OT_CHECK(missing.empty(),
           "{}: the trained values of {} have no place in the model as given (computed inside a local function, or "
           "made while loading it); they cannot be exported",
           source.path(), fmt::join(missing, ", "));
  return m;
}

bool trained_model_uses_external_data(const Graph& trained, const TrainedModelOptions& options,
                                      const std::string& path) {
  uint64_t bytes = 0;
  for (const auto& [name, tensor] : trained.initializers) bytes += tensor.nbytes();
  const bool source_external = trained.source && trained.source->had_external_data();
  return use_external_data(options.external_data, source_external, bytes, path, "model");
}

void write_trained_model(const Graph& trained, const std::string& path,
                         const std::map<std::string, std::string>& metadata, const TrainedModelOptions& options) {
  onnx::ModelProto model;
  std::optional<ExternalData> data;
  InlineTensors inline_tensors;  // without a data file, the weights are streamed from the tensors
  if (trained_model_uses_external_data(trained, options, path)) data.emplace(path);
  try {
    model = trained_model_proto(trained, options, data ? &*data : nullptr, &inline_tensors);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path, e.what()), e.category());
  }
  for (const auto& [key, value] : metadata) set_metadata(model, key, value);
  write_model_file(model, path, "model", data ? &*data : nullptr, &inline_tensors);
}

}  // namespace onnx_train
