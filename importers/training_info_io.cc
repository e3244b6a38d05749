// Model files with ONNX's TrainingInfoProto (importers/training_info_io.h).
#include "importers/training_info_io.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/wire_format_lite.h>

#include <climits>
#include <filesystem>
#include <fstream>
#include <set>

#include "importers/model_source.h"
#include "importers/onnx_model.h"
#include "importers/proto_io.h"
#include "importers/tensor_proto.h"

namespace onnx_train {

namespace {

// The base model with the state initializers and the algorithm's domains added (TrainingInfoProto
// needs IR version 7).
onnx::ModelProto base_model(const TrainingInfoModel& m, ExternalData* data) {
  onnx::ModelProto model = *m.base;
  if (model.ir_version() < 7) model.set_ir_version(7);
  auto& g = *model.mutable_graph();
  std::set<std::string> initializers;
  for (const auto& t : g.initializer()) initializers.insert(t.name());
  for (const auto& [name, tensor] : m.inference.initializers) {
    if (initializers.count(name)) continue;
    auto* t = g.add_initializer();
    if (data != nullptr)
      data->place(tensor, *t);
    else
      tensor_to_proto(tensor, *t);
    t->set_name(name);
  }
  std::set<std::string> imported;
  for (const auto& imp : model.opset_import()) imported.insert(imp.domain() == "ai.onnx" ? "" : imp.domain());
  for (const auto& [domain, version] : m.opsets) {
    if (imported.count(domain)) continue;
    auto* imp = model.add_opset_import();
    imp->set_domain(domain);
    imp->set_version(version);
  }
  return model;
}

}  // namespace

void save_training_info_model(const TrainingInfoModel& m, const std::string& path, ExternalData* data) {
  onnx::ModelProto model;
  try {
    if (m.base)
      model = base_model(m, data);
    else
      model_to_proto(m.inference, m.opsets, model, data);
    auto* info = model.add_training_info();
    graph_to_proto(m.algorithm, *info->mutable_algorithm(), data);
    for (const auto& [key, value] : m.update_binding) {
      auto* entry = info->add_update_binding();
      entry->set_key(key);
      entry->set_value(value);
    }
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path, e.what()), e.category());
  }
  for (const auto& [key, value] : m.metadata) set_metadata(model, key, value);
  write_proto_file(model, path, "model", data);
}

ModelFileInfo read_model_file_info(const std::string& path) {
  using google::protobuf::internal::WireFormatLite;
  // ModelProto's field numbers (onnx.proto).
  constexpr int kMetadataProps = 14, kTrainingInfo = 20;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) OT_FAIL_AS(ErrorCategory::Io, "{}: no such file", path);
  std::ifstream in(path, std::ios::binary);
  if (!in.good()) OT_FAIL_AS(ErrorCategory::Io, "{}: cannot open for reading", path);
  google::protobuf::io::IstreamInputStream raw(&in);
  google::protobuf::io::CodedInputStream coded(&raw);
  coded.SetTotalBytesLimit(INT_MAX);
  ModelFileInfo info;
  auto invalid = [&]() { OT_FAIL("{}: not a valid ONNX model (protobuf parsing failed)", path); };
  // The top-level fields one by one: metadata entries are parsed, everything else (the graph
  // above all) is skipped without being decoded.
  while (const uint32_t tag = coded.ReadTag()) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const bool delimited = WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    if (field == kMetadataProps && delimited) {
      uint32_t size = 0;
      if (!coded.ReadVarint32(&size)) invalid();
      std::string bytes;
      if (!coded.ReadString(&bytes, static_cast<int>(size))) invalid();
      onnx::StringStringEntryProto entry;
      if (!entry.ParseFromString(bytes)) invalid();
      info.metadata[entry.key()] = entry.value();
    } else {
      if (field == kTrainingInfo && delimited) ++info.training_info_count;
      if (!WireFormatLite::SkipField(&coded, tag)) invalid();
    }
  }
  if (!coded.ConsumedEntireMessage()) invalid();
  return info;
}

}  // namespace onnx_train
