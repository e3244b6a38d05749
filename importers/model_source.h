// The model as the user gave it, kept for export, and the writer of the trained model.
//
// Loading turns a file into the runtime's graph by steps the user never asked for: local
// functions are inlined, opsets 18-23 are lowered to opset 17, old opsets are upgraded with
// ONNX's version converter. Writing that graph back would lose the user's functions, opset, op
// versions, node names and metadata. So load_onnx_model keeps the file's ModelProto as parsed
// (a ModelSource, which the Graph carries as Graph::source) and the export writes it back with
// the trained values in:
//
//   Graph trained = ...;                          // loaded (graph.source set), edited, trained
//   write_trained_model(trained, "trained.onnx", {{"classes", "cat,dog"}});
//
// The source holds no initializer bytes that the IR holds (the IR has the values: memory is
// not doubled); it keeps the bytes of the initializers the IR cannot give back (e.g. an axes
// initializer a lowering turned into an attribute), with external data read in.
//
// What the written model is (trained_model_proto):
//   - the source ModelProto: ir_version, producer, opset_import, functions, graph name, node
//     names, doc strings, value_info and metadata_props as given; training_info cleared;
//   - every initializer the trained graph has, by name, with its value, type and shape from
//     the graph (a new classifier head changes the shape); inline, or with external data (the
//     tensors of 1 KiB or more in "<output>.data", see TrainedModelOptions::external_data);
//     initializers the graph had at load but no longer has (the optimizer state of a file
//     written by --export-training) are left out;
//   - a Constant node whose output training made an initializer (promote_constant_weights)
//     gets the trained value (or, with `constants_as_initializers`, becomes that initializer);
//   - an Identity of an initializer that training separated (separate_deduplicated_initializers)
//     is replaced by the separated initializer;
//   - the inference form of a model exported in training form (train_mode.h to_eval_form):
//     BatchNormalization training_mode=1 becomes 0 and its statistics outputs go (with the graph
//     outputs that named them), Dropout loses its training_mode input (and the Constant that
//     only fed it). Inside local functions this is not done: export_limits says so at load;
//   - graph outputs and value_info whose fixed dimensions the trained graph changed (a new head)
//     take the trained graph's;
//   - metadata_props: the source's, then the caller's (added, or replacing a key). A source
//     written by --export-training loses its "onnx_train.*" entries and the training domains'
//     opset imports that no node uses.
// A value listed in `changed` (the trained parameters and running statistics) that cannot be
// placed in the source (a weight computed inside a local function, a Constant a lowering made)
// is an error naming it; load_model_for_training keeps such values from ever training (see
// ModelSource::can_hold).
#pragma once

#include <onnx/onnx_pb.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "importers/proto_io.h"
#include "onnx_train/external_data.h"
#include "runtime/ir/graph.h"

namespace onnx_train {

class ModelSource {
 public:
  // Keeps `parsed` (the file as parsed, before inlining, lowering and upgrades) without the bytes
  // of its larger initializers and without training_info. `parsed` is left as it was (its
  // initializers are set aside while the rest is copied).
  ModelSource(onnx::ModelProto& parsed, std::string path);

  // Completes the source once the runtime's graph is built from `working` (the parsed model
  // after inlining, lowering or upgrade, `model_dir` its folder): initializers `graph` does not
  // hold keep their bytes (from `working`, external data read in), the others none.
  void finish(const onnx::ModelProto& working, const Graph& graph, const std::string& model_dir);

  const onnx::ModelProto& model() const { return model_; }
  const std::string& path() const { return path_; }
  // The source's default-domain opset (the user's).
  int opset() const { return opset_; }
  // Whether the export can write a trained value named `value` into the source: an initializer,
  // the output of a Constant node, or of an Identity of an initializer, of the main graph.
  bool can_hold(const std::string& value) const { return holdable_.count(value) != 0; }
  // Initializers whose bytes the source dropped because the graph held them at load.
  bool held_by_graph(const std::string& initializer) const { return held_by_graph_.count(initializer) != 0; }
  // Initializers whose bytes are neither here nor in the graph (a lowering consumed them).
  const std::set<std::string>& lost() const { return lost_; }
  // Whether the file had a TrainingInfoProto (a --export-training file).
  bool had_training_info() const { return had_training_info_; }
  // Whether any initializer of the file was stored as external data.
  bool had_external_data() const { return had_external_data_; }
  // Every name the main graph uses (values and nodes), so that additions do not clash.
  std::set<std::string> names() const;

 private:
  onnx::ModelProto model_;
  std::string path_;
  int opset_ = 0;
  bool had_training_info_ = false;
  bool had_external_data_ = false;
  std::set<std::string> holdable_, held_by_graph_, lost_, stubs_;
};

// What the export of `source` cannot do, one line each (for TrainingSession::notes()): nodes in
// training form inside local functions, which are written as they are.
std::vector<std::string> export_limits(const ModelSource& source);

struct TrainedModelOptions {
  // Values training changed (parameters, running statistics): each must be placed.
  std::vector<std::string> changed;
  // Constant weights that trained become initializers (the Constant node goes), as a
  // TrainingInfoProto's update_binding needs; otherwise the Constant node holds the value.
  bool constants_as_initializers = false;
  // Where write_trained_model puts the weights: Auto writes "<output>.data" when the source
  // model had external data or the weights take more than 1.5 GiB (onnx_train/external_data.h).
  ExternalDataMode external_data = ExternalDataMode::Auto;
  // Values written in place of the graph's initializers of those names, made only as each is
  // written (the merged LoRA weights: one exists at a time, not all at once).
  std::map<std::string, DeferredTensor> deferred;
};

// The trained model (see above). A graph without a source (built in memory) is written as
// model_to_proto writes it. With `data`, the initializers and trained Constant values of 1 KiB
// or more are placed in it (external data) instead of inline; with `inline_tensors` (and no
// `data`), the source's initializers of 1 KiB or more are held there for write_model_file to
// stream, the proto holding only their dtype and dims.
onnx::ModelProto trained_model_proto(const Graph& trained, const TrainedModelOptions& options = {},
                                     ExternalData* data = nullptr, InlineTensors* inline_tensors = nullptr);

// Whether the trained model written to `path` under `options` has external data (Auto's rule,
// Never's 2 GB check).
bool trained_model_uses_external_data(const Graph& trained, const TrainedModelOptions& options,
                                      const std::string& path);

// Writes trained_model_proto with `metadata` added to metadata_props; the file (and its
// "<path>.data" with external data) appears whole or not at all.
void write_trained_model(const Graph& trained, const std::string& path,
                         const std::map<std::string, std::string>& metadata = {},
                         const TrainedModelOptions& options = {});

// Sets `key` to `value` in `model`'s metadata_props (replacing an entry of that key).
void set_metadata(onnx::ModelProto& model, const std::string& key, const std::string& value);

}  // namespace onnx_train
