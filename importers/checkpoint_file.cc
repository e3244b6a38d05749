#include "importers/checkpoint_file.h"

#include <onnx/onnx_pb.h>

#include <filesystem>

#include "importers/proto_io.h"
#include "importers/tensor_proto.h"

namespace onnx_train {

namespace {

constexpr const char* kGraphName = "onnx_train_checkpoint";
constexpr const char* kFormatKey = "onnx_train.checkpoint_format";
constexpr const char* kFormatVersion = "1";

}  // namespace

void write_checkpoint_file(const CheckpointFile& checkpoint, const std::string& path) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("onnx-train");
  auto* format = model.add_metadata_props();
  format->set_key(kFormatKey);
  format->set_value(kFormatVersion);
  for (const auto& [key, value] : checkpoint.metadata) {
    auto* prop = model.add_metadata_props();
    prop->set_key(key);
    prop->set_value(value);
  }
  auto* graph = model.mutable_graph();
  graph->set_name(kGraphName);
  for (const auto& [name, tensor] : checkpoint.tensors) {
    auto* proto = graph->add_initializer();
    tensor_to_proto(tensor, *proto);
    proto->set_name(name);
  }
  write_proto_file(model, path, "checkpoint");
}

CheckpointFile read_checkpoint_file(const std::string& path) {
  onnx::ModelProto model;
  parse_proto_file(path, model, "onnx-train checkpoint");
  std::map<std::string, std::string> metadata;
  for (const auto& prop : model.metadata_props()) metadata[prop.key()] = prop.value();
  const auto format = metadata.find(kFormatKey);
  OT_CHECK(model.graph().name() == kGraphName && format != metadata.end(),
           "{}: not an onnx-train checkpoint (an ONNX model, perhaps? a model is loaded as the model, and a "
           "checkpoint is what save_checkpoint wrote)",
           path);
  OT_CHECK(format->second == kFormatVersion,
           "{}: checkpoint format {} is not known to this version of onnx-train (it reads format {})", path,
           format->second, kFormatVersion);
  metadata.erase(format);
  CheckpointFile checkpoint;
  checkpoint.metadata = std::move(metadata);
  const std::string dir = std::filesystem::path(path).parent_path().string();
  for (const auto& proto : model.graph().initializer())
    checkpoint.tensors[proto.name()] =
        tensor_from_proto(proto, dir, fmt::format("{}: tensor '{}'", path, proto.name()));
  return checkpoint;
}

}  // namespace onnx_train
