// ONNX model files with a TrainingInfoProto (onnx.proto: ModelProto.training_info): the
// inference graph plus a training algorithm whose outputs update the model's initializers.
//
// This is the file layer of TrainingSession::export_training_model; what the session puts in
// the graphs and the metadata is described in runtime/train/training_info.h.
//
//   TrainingInfoModel m;
//   m.base = trained_model_proto(...);      // the user's file with the trained values, or
//   m.inference = ...;                     // ModelProto.graph, written as save_onnx_model does
//   m.algorithm = ...;                     // training_info[0].algorithm
//   m.update_binding = {{"fc.weight", "fc.weight_new"}};
//   m.opsets = ...;                        // the model's opset imports: every graph uses them
//   m.metadata = {{"key", "value"}};       // ModelProto.metadata_props
//   save_training_info_model(m, "model.onnx");
//   ModelFileInfo info = read_model_file_info("model.onnx");   // metadata, no graph parsing
#pragma once

#include <onnx/onnx_pb.h>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "importers/proto_io.h"
#include "runtime/ir/graph.h"

namespace onnx_train {

struct TrainingInfoModel {
  // When set, the model written: the user's file with the trained values (importers/model_source.h,
  // trained_model_proto), keeping its opset imports, functions, producer and metadata. The
  // initializers of `inference` it lacks (the optimizer state) are appended to its graph, the
  // domains of `opsets` it does not import are added, `metadata` is set over its own.
  std::optional<onnx::ModelProto> base;
  Graph inference;  // ModelProto.graph when there is no base (its opsets are ignored: `opsets` applies)
  Graph algorithm;  // TrainingInfoProto.algorithm (its opsets are ignored too)
  // TrainingInfoProto.update_binding, in order: initializer name -> algorithm output name.
  std::vector<std::pair<std::string, std::string>> update_binding;
  std::map<std::string, int> opsets;            // ModelProto.opset_import, domain -> version
  std::map<std::string, std::string> metadata;  // ModelProto.metadata_props
};

// Writes the model (the base, at IR version 7 or more; else IR version 8, producer "onnx-train"),
// with one TrainingInfoProto whose initialization graph is left unset (the initializers hold the
// starting values), so that the file appears whole or not at all.
// With `data` (made for `path`; `model.base` built with it too), the initializers of 1 KiB or
// more go into "<path>.data" (importers/proto_io.h).
void save_training_info_model(const TrainingInfoModel& model, const std::string& path, ExternalData* data = nullptr);

// What read_model_file_info reads of a model file.
struct ModelFileInfo {
  std::map<std::string, std::string> metadata;  // ModelProto.metadata_props
  int training_info_count = 0;                  // how many TrainingInfoProto the model has
};

// Reads the metadata of an ONNX model file without parsing its graph (which is skipped over
// unread, so this is cheap even for large models). Throws naming the file when it cannot be
// read or is not a valid ModelProto at the top level.
ModelFileInfo read_model_file_info(const std::string& path);

}  // namespace onnx_train
