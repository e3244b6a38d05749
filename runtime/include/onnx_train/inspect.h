// onnx_train/inspect.h: what a model holds and what training it would train, without
// training it (what `onnx-train inspect` prints).
//
//   onnx_train::TrainingOptions options;
//   options.freeze = {"^features\\."};
//   const onnx_train::ModelReport r = onnx_train::inspect_model("model.onnx", options);
//   for (const auto& p : r.initializers) ... p.role == onnx_train::ParameterRole::Trainable ...
//
// The model is loaded as TrainingSession::from_file loads it (upgraded to the opset the loss
// needs, ONNX Gradient ops expanded, eval form, the new head of num_classes, Constant weights
// that reach the loss made initializers), and the parameters are split by the same function,
// so `trainable` is TrainingSession::parameter_names() for the same file and options. No loss
// is appended, no gradient built and no plan made: a model with an op that has no kernel or no
// gradient rule is reported, not refused.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "onnx_train/session.h"
#include "onnx_train/training_session.h"

namespace onnx_train {

enum class ParameterRole {
  Trainable,   // trained with these options
  Frozen,      // reaches the loss, kept fixed by freeze / train_only
  Buffer,      // a BatchNormalization running statistic: updated by training, not trained
  NotTrained,  // float, but reaches no loss (or a setting such as a loss's class weights)
  NotFloat,    // an integer or bool constant (shapes, indices)
};

struct InitializerReport {
  std::string name;
  TensorSpec spec;  // dtype and shape
  int64_t values = 0;
  ParameterRole role = ParameterRole::NotTrained;
  bool new_head = false;  // made for TrainingOptions::num_classes: freshly initialised, not the file's values
};

// The classifier layer TrainingOptions::num_classes replaced (classes 0: none was).
struct HeadReport {
  std::string node;         // the Gemm / MatMul node
  std::string output;       // the model output it feeds
  int64_t old_classes = 0;  // the model file's
  int64_t new_classes = 0;  // num_classes
};

// One op type of the model's nodes and what the runtime has for it.
struct OpReport {
  std::string domain;  // "" for the default ONNX domain
  std::string op_type;
  int nodes = 0;                    // how many nodes use it
  std::vector<int> versions;        // the ONNX schema versions those nodes are at, ascending
  bool known = false;               // the runtime has kernels for the op at some version
  bool kernel = false;              // ... and at every version in `versions`
  bool gradient_rule = false;       // the gradient builder has a rule for it
  bool not_differentiable = false;  // its outputs carry no gradient (Shape, comparisons...)
};

struct ModelReport {
  std::vector<TensorSpec> inputs, outputs;      // the model's own (no label, no loss)
  std::vector<InitializerReport> initializers;  // every initializer, by name
  std::string loss;  // the value the loss is computed from (the model's loss output, or the one a loss reads)
  // As TrainingSession would split them, in its orders (parameter_names(), buffer_names()).
  std::vector<std::string> trainable, frozen, buffers;
  HeadReport head;            // the new classifier head, with num_classes
  std::vector<OpReport> ops;  // by op type (domain, then name)
  // TrainingSession::notes() for the same file and options: the opset upgrade for the loss (and
  // that the export keeps the model's opset), weights kept fixed for the export, a lost training
  // structure, a freeze / train_only pattern that matches no parameter.
  std::vector<std::string> notes;
};

// Throws Error for a model that cannot be read, OptionError for a bad freeze / train_only regex.
ModelReport inspect_model(const std::string& model_path, const TrainingOptions& options = {});

// The metadata_props of an ONNX file (a model, or a checkpoint: save_checkpoint writes its
// metadata there), read without parsing its graph, so cheap for any size. Throws naming the
// file when it is not an ONNX file.
std::map<std::string, std::string> read_model_metadata(const std::string& path);

// The default-domain opsets a model may import: from `oldest` (older models are upgraded to
// it), natively up to `native`, and up to `newest` (those above `native` are lowered to it when
// the model loads).
struct SupportedOpsets {
  int oldest = 0, native = 0, newest = 0;
};
SupportedOpsets supported_opsets();

// Whether the ONNX file at `path` is a checkpoint TrainingSession::save_checkpoint wrote
// (its metadata, as read_model_metadata reads it, marks it).
bool is_checkpoint(const std::string& path);
// The same, from metadata read_model_metadata has already read.
bool is_checkpoint(const std::map<std::string, std::string>& metadata);

// One tensor of a checkpoint, by what it is for the session that wrote it.
struct CheckpointTensorReport {
  enum class Kind { Parameter, RunningStatistic, OptimizerState, Other } kind = Kind::Other;
  std::string key;       // as stored: "parameter/fc.weight", "optimizer/fc.weight/exp_avg"
  std::string of;        // the parameter or buffer it belongs to ("fc.weight")
  std::string slot;      // optimizer state: the slot ("exp_avg"); "" otherwise
  std::string describe;  // what it is in words: "adamw first moment (exp_avg) of fc.weight"
  TensorSpec spec;
  int64_t values = 0;
};

// What a checkpoint holds (training_session.h, "Checkpoints"): the session's entries (step,
// optimizer, schedule, seed, model), the caller's metadata, and every tensor named by its role.
struct CheckpointReport {
  int64_t step = 0;
  std::string optimizer, schedule, seed, model;
  std::map<std::string, std::string> metadata;  // every entry, the session's ones included
  std::vector<CheckpointTensorReport> tensors;  // parameters, running statistics, optimizer state, in that order
};

// Throws naming the file when it is not a readable checkpoint.
CheckpointReport inspect_checkpoint(const std::string& path);

// What an optimizer's state slot holds, in words: ("adamw", "exp_avg") -> "adamw first moment
// (exp_avg)"; ("sgd", "momentum_buffer") -> "sgd momentum buffer (momentum_buffer)". The slot
// names are PyTorch's (onnx_train/optimizers.h); an unknown one is named as it is.
std::string optimizer_slot_description(const std::string& optimizer, const std::string& slot);

}  // namespace onnx_train
