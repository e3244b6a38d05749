// Loading ONNX models into the graph IR.
//
// load_onnx_model reads a .onnx file (external data resolved next to it), inlines its
// model-local functions (importers/inline_functions.h), runs ONNX's own checker and shape
// inference, accepts default-domain opsets 7 to 23 (older models are upgraded to opset 7 with
// ONNX's version converter; opsets 18 to 23 are lowered to 17, importers/lower_opset.h) and
// returns the Graph. Any problem is one onnx_train::Error naming
// the file and what to do.
#pragma once

#include <map>
#include <string>

#include "onnx_train/external_data.h"
#include "runtime/ir/graph.h"
#include "runtime/ir/schema.h"  // kMinOpset, kMaxOpset

namespace onnx {
class AttributeProto;
class GraphProto;
class ModelProto;
class NodeProto;
class ValueInfoProto;
}  // namespace onnx

namespace onnx_train {

class ExternalData;

struct LoadOptions {
  bool run_checker = true;
  bool infer_shapes = true;
  // A model whose default-domain opset is older is upgraded to this one with ONNX's version
  // converter (importers/opset_upgrade.h); `min_opset_reason` says what needs it, for the
  // error when the converter cannot. Opsets below kMinOpset are always upgraded to it.
  int min_opset = 0;
  std::string min_opset_reason;
};

Graph load_onnx_model(const std::string& path, const LoadOptions& options = {});

// Writes `graph` as an ONNX model (IR version 8; its opset imports; initializers inline, or
// those of 1 KiB or more in "<path>.data" as `external_data` decides: Auto when the graph's
// model had external data or the initializers take more than 1.5 GiB).
// The file appears whole or not at all: it is written beside the target and renamed.
void save_onnx_model(const Graph& graph, const std::string& path,
                     ExternalDataMode external_data = ExternalDataMode::Auto);

// `graph` as a GraphProto, the way save_onnx_model writes a model's graph: initializers inline
// (or placed in `data`; in name order), inputs, outputs, value infos (in name order), then the nodes.
void graph_to_proto(const Graph& graph, onnx::GraphProto& proto, ExternalData* data = nullptr);
// A ModelProto as save_onnx_model writes it (IR version 8, producer onnx-train), with
// `opsets` as its opset imports.
void model_to_proto(const Graph& graph, const std::map<std::string, int>& opsets, onnx::ModelProto& model,
                    ExternalData* data = nullptr);

// The pieces of the IR <-> protobuf conversion, for passes that rewrite a ModelProto through the
// IR (importers/lower_opset.h). `model_dir` resolves external data of tensor attributes;
// `path` and `context` name the file in errors. node_from_proto leaves opset and
// since_version to the caller; an unnamed node is named "<op>_<index>".
ValueInfo value_info_from_proto(const onnx::ValueInfoProto& proto);
void value_info_to_proto(const ValueInfo& value, onnx::ValueInfoProto& proto);
Attribute attribute_from_proto(const onnx::AttributeProto& proto, const std::string& model_dir,
                               const std::string& context);
Node node_from_proto(const onnx::NodeProto& proto, int index, const std::string& model_dir, const std::string& path);
void node_to_proto(const Node& node, onnx::NodeProto& proto);
// The opset `model` imports for `domain` ("" and "ai.onnx" are the same); -1 when none.
int imported_opset(const onnx::ModelProto& model, const std::string& domain);

// ONNX's shape inference on `model` (types not checked; ONNX's error thrown for an inconsistency),
// with data propagation (the values of small shape computations) where ONNX 1.12 survives it: its
// propagation through Shape reads the input's type without checking that there is one, and
// crashes on a value of unknown type (written by an op without a schema, or by a node that could
// not be lowered). So the model is inferred without it first, and again with it when every Shape
// node reads a typed value.
void infer_shapes(onnx::ModelProto& model);

// Reads one serialized onnx::TensorProto (the input_N.pb / output_N.pb files of ONNX test
// data). `name`, when given, receives the tensor's name from the file (may be empty).
Tensor read_tensor_proto_file(const std::string& path, std::string* name = nullptr);

}  // namespace onnx_train
