#include "importers/checkpoint_file.h"

#include <onnx/onnx_pb.h>
#include <zlib.h>

#include <cstdint>
#include <algorithm>
#include <filesystem>
#include <optional>

#include "importers/proto_io.h"
#include "importers/tensor_proto.h"
#include "runtime/core/resource_limits.h"

namespace onnx_train {

namespace {

constexpr const char* kGraphName = kCheckpointGraphName;
constexpr const char* kFormatKey = "onnx_train.checkpoint_format";
constexpr const char* kFormatVersion = "1";
// CRC-32 of everything the checkpoint holds (see content_crc). A checkpoint damaged inside a
// tensor's bytes still parses as protobuf, and would otherwise be resumed from with wrong
// weights; with the sum, it is refused, and --resume goes back to the previous checkpoint.
// Checkpoints written before the sum existed have no such entry and are read as before.
constexpr const char* kChecksumKey = "onnx_train.content_crc32";

uint32_t crc_update(uint32_t crc, const void* data, size_t size) {
  const auto* bytes = static_cast<const Bytef*>(data);
  while (size > 0) {  // crc32() takes a uInt length: feed large tensors in pieces
    const uInt piece = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = static_cast<uint32_t>(crc32(crc, bytes, piece));
    bytes += piece;
    size -= piece;
  }
  return crc;
}

// Over the metadata (key, value) and the tensors (name, type, shape, bytes), both in the
// std::map's sorted order, with each field's length, so that no two contents share a
// serialisation. Computed on what was written and on what was read back, independently of
// how protobuf lays the file out.
uint32_t content_crc(const CheckpointFile& checkpoint) {
  uint32_t crc = static_cast<uint32_t>(crc32(0, Z_NULL, 0));
  auto field = [&](const void* data, size_t size) {
    const uint64_t length = size;
    crc = crc_update(crc, &length, sizeof(length));
    crc = crc_update(crc, data, size);
  };
  for (const auto& [key, value] : checkpoint.metadata) {
    field(key.data(), key.size());
    field(value.data(), value.size());
  }
  for (const auto& [name, tensor] : checkpoint.tensors) {
    field(name.data(), name.size());
    const int32_t dtype = static_cast<int32_t>(tensor.dtype());
    field(&dtype, sizeof(dtype));
    field(tensor.shape().data(), tensor.shape().size() * sizeof(tensor.shape()[0]));
    field(tensor.raw_data(), tensor.nbytes());
  }
  return crc;
}

}  // namespace

std::string checkpoint_data_path(const std::string& path) { return path + ".data"; }

void write_checkpoint_file(const CheckpointFile& checkpoint, const std::string& path, ExternalDataMode external_data) {
  uint64_t bytes = 0;
  for (const auto& [name, tensor] : checkpoint.tensors) bytes += tensor.nbytes();
  std::optional<ExternalData> data;
  if (use_external_data(external_data, /*source_external=*/false, bytes, path, "checkpoint")) data.emplace(path);
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
  auto* checksum = model.add_metadata_props();
  checksum->set_key(kChecksumKey);
  checksum->set_value(std::to_string(content_crc(checkpoint)));
  auto* graph = model.mutable_graph();
  graph->set_name(kGraphName);
  InlineTensors inline_tensors;  // without a data file, the tensors are streamed from memory
  for (const auto& [name, tensor] : checkpoint.tensors) {
    auto* proto = graph->add_initializer();
    proto->set_name(name);
    if (data)
      data->place(tensor, *proto);
    else
      inline_tensors.place(tensor, *proto);
  }
  write_model_file(model, path, "checkpoint", data ? &*data : nullptr, &inline_tensors);
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
  std::optional<std::string> stored_crc;
  if (auto it = metadata.find(kChecksumKey); it != metadata.end()) {
    stored_crc = it->second;
    metadata.erase(it);
  }
  CheckpointFile checkpoint;
  checkpoint.metadata = std::move(metadata);
  const std::string dir = std::filesystem::path(path).parent_path().string();
  // Every tensor checked (sizes against the bytes present and the memory limit), and their
  // total against the limit, before any is allocated.
  uint64_t total = 0;
  for (const auto& proto : model.graph().initializer())
    total = std::min<uint64_t>(total + check_tensor_proto(proto, dir, fmt::format("{}: tensor '{}'", path, proto.name())),
                               uint64_t{1} << 63);
  check_memory_limit(total, fmt::format("{}: the checkpoint's {} tensors together", path, model.graph().initializer_size()));
  ExternalDataMappings mappings;  // one mapping per external data file for this checkpoint
  for (const auto& proto : model.graph().initializer())
    checkpoint.tensors[proto.name()] =
        tensor_from_proto(proto, dir, fmt::format("{}: tensor '{}'", path, proto.name()));
  if (stored_crc) {
    const std::string actual = std::to_string(content_crc(checkpoint));
    OT_CHECK(*stored_crc == actual,
             "{}: the checkpoint is damaged: its content does not match the CRC-32 written with it ({} stored, {} "
             "read); it cannot be trusted, use an earlier checkpoint",
             path, *stored_crc, actual);
  }
  return checkpoint;
}

}  // namespace onnx_train
