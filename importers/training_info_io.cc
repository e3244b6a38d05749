// Model files with ONNX's TrainingInfoProto (importers/training_info_io.h).
#include "importers/training_info_io.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/wire_format_lite.h>

#include <climits>
#include <filesystem>
#include <fstream>

#include "importers/proto_io.h"
#include "importers/tensor_proto.h"

namespace onnx_train {

namespace {

void value_info_to_proto(const ValueInfo& v, onnx::ValueInfoProto& proto) {
  proto.set_name(v.name);
  auto* tt = proto.mutable_type()->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(v.dtype));
  if (!v.shape) return;
  auto* shape = tt->mutable_shape();
  for (size_t d = 0; d < v.shape->size(); ++d) {
    auto* dim = shape->add_dim();
    if ((*v.shape)[d] >= 0)
      dim->set_dim_value((*v.shape)[d]);
    else if (d < v.dim_params.size() && !v.dim_params[d].empty())
      dim->set_dim_param(v.dim_params[d]);
  }
}

void attribute_to_proto(const std::string& name, const Attribute& a, onnx::AttributeProto& proto) {
  using AP = onnx::AttributeProto;
  proto.set_name(name);
  switch (a.kind) {
    case Attribute::Kind::Float:
      proto.set_type(AP::FLOAT);
      proto.set_f(a.f);
      break;
    case Attribute::Kind::Int:
      proto.set_type(AP::INT);
      proto.set_i(a.i);
      break;
    case Attribute::Kind::String:
      proto.set_type(AP::STRING);
      proto.set_s(a.s);
      break;
    case Attribute::Kind::Tensor:
      proto.set_type(AP::TENSOR);
      tensor_to_proto(a.t, *proto.mutable_t());
      break;
    case Attribute::Kind::Floats:
      proto.set_type(AP::FLOATS);
      for (float f : a.floats) proto.add_floats(f);
      break;
    case Attribute::Kind::Ints:
      proto.set_type(AP::INTS);
      for (int64_t i : a.ints) proto.add_ints(i);
      break;
    case Attribute::Kind::Strings:
      proto.set_type(AP::STRINGS);
      for (const auto& s : a.strings) proto.add_strings(s);
      break;
    default: OT_FAIL("attribute '{}' of a kind that cannot be written back (a subgraph?)", name);
  }
}

}  // namespace

void graph_to_proto(const Graph& graph, onnx::GraphProto& g) {
  g.set_name(graph.name.empty() ? "graph" : graph.name);
  for (const auto& [name, tensor] : graph.initializers) {
    auto* t = g.add_initializer();
    tensor_to_proto(tensor, *t);
    t->set_name(name);
  }
  for (const auto& v : graph.inputs) value_info_to_proto(v, *g.add_input());
  for (const auto& v : graph.outputs) value_info_to_proto(v, *g.add_output());
  for (const auto& [name, v] : graph.value_info) value_info_to_proto(v, *g.add_value_info());
  for (const Node& n : graph.nodes) {
    auto* node = g.add_node();
    node->set_name(n.name);
    node->set_op_type(n.op_type);
    node->set_domain(n.domain);
    for (const auto& i : n.inputs) node->add_input(i);
    for (const auto& o : n.outputs) node->add_output(o);
    for (const auto& [name, a] : n.attributes) attribute_to_proto(name, a, *node->add_attribute());
  }
}

void save_training_info_model(const TrainingInfoModel& m, const std::string& path) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("onnx-train");
  for (const auto& [domain, version] : m.opsets) {
    auto* imp = model.add_opset_import();
    imp->set_domain(domain);
    imp->set_version(version);
  }
  try {
    graph_to_proto(m.inference, *model.mutable_graph());
    auto* info = model.add_training_info();
    graph_to_proto(m.algorithm, *info->mutable_algorithm());
    for (const auto& [key, value] : m.update_binding) {
      auto* entry = info->add_update_binding();
      entry->set_key(key);
      entry->set_value(value);
    }
  } catch (const Error& e) {
    OT_FAIL("{}: {}", path, e.what());
  }
  for (const auto& [key, value] : m.metadata) {
    auto* entry = model.add_metadata_props();
    entry->set_key(key);
    entry->set_value(value);
  }
  write_proto_file(model, path, "model");
}

ModelFileInfo read_model_file_info(const std::string& path) {
  using google::protobuf::internal::WireFormatLite;
  // ModelProto's field numbers (onnx.proto).
  constexpr int kMetadataProps = 14, kTrainingInfo = 20;
  std::error_code ec;
  OT_CHECK(std::filesystem::is_regular_file(path, ec), "{}: no such file", path);
  std::ifstream in(path, std::ios::binary);
  OT_CHECK(in.good(), "{}: cannot open for reading", path);
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
