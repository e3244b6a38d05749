// onnx_train/training_session.h: training an exported ONNX model.
//
//   onnx_train::TrainingOptions options;
//   options.loss.kind = onnx_train::LossKind::CrossEntropy;  // on the model's first output
//   options.optimizer.kind = "adamw";
//   options.learning_rate = 1e-3;
//   auto trainer = onnx_train::TrainingSession::from_file("model.onnx", options);
//   for (const auto& [images, classes] : batches) {
//     onnx_train::StepResult r = trainer.train_step({{"input", images}, {"label", classes}});
//   }
//   onnx_train::EvalResult e = trainer.eval_step({{"input", images}, {"label", classes}});
//   trainer.save_checkpoint("run.ckpt");     // resume later with load_checkpoint
//   trainer.export_model("trained.onnx");    // inference form, runs anywhere ONNX does
//
// What from_file builds (all in ONNX graph form, gradients/ and runtime/ do the work):
//   - the model as exported, in eval form: BatchNormalization uses running statistics,
//     Dropout passes through (a model exported in training form is turned into eval form);
//   - the training graph: the model in training form (BatchNormalization normalises with
//     batch statistics and updates its running mean and variance with the exported momentum,
//     Dropout draws seeded masks), the loss appended on a model output and a new label input
//     (or the model's own scalar loss output), and the backward graph: one gradient per
//     trainable parameter;
//   - the eval graph: the eval-form model with the same loss, for eval_step.
// The three share the parameters' storage, so a step's update is seen by all of them.
//
// A step (train_step): forward and backward on the batch; BatchNormalization's running
// statistics are updated; the gradients are added to the accumulated ones. After
// `accumulation_steps` such calls the optimizer step runs: clipping (global norm, then
// value), the learning rate of the schedule at this step, the optimizer's in-place update of
// every parameter, and the accumulated gradients are cleared. With accumulation the
// gradient stepped on is the average over the micro-batches weighted by their batch sizes
// (loss reduction "mean"; the batch size is the label's first dimension), or their sum
// (reduction "sum"), or their plain average (the model's own loss): N micro-batches of B
// samples give the gradient of one batch of N*B samples, up to float rounding.
//
// Compared with ONNX Runtime's training API: TrainStep is train_step with
// accumulation_steps = 0 (gradients only accumulate), OptimizerStep is optimizer_step,
// LazyResetGrad is zero_grad, EvalStep is eval_step, ExportModelForInferencing is
// export_model, and CheckpointState is save_checkpoint / load_checkpoint.
//
// Trainable parameters: the float initializers that reach the loss (weights held in Constant
// nodes are made initializers first), except BatchNormalization's running statistics and
// what `freeze` matches (or what `train_only` does not); inspect_model (onnx_train/inspect.h)
// reports the same set without building anything. A bad freeze / train_only / no_decay regex
// throws OptionError naming the option. Weight decay applies to parameters of rank 2 and
// more; biases and normalisation scales and shifts (rank 0 or 1) get none, unless `no_decay`
// says otherwise.
//
// Determinism: with the same options (seed included) and the same number of threads, two
// sessions fed the same batches produce bit-identical parameters.
//
// Checkpoints (save_checkpoint) are ONNX files without nodes (any ONNX tool opens them):
// tensors "parameter/<name>", "buffer/<name>" (BatchNormalization running statistics),
// "optimizer/<name>/<slot>" (the optimizer state, PyTorch's slot names), and metadata: the
// step, the optimizer kind, the schedule, the seed and every Dropout generator's state.
// With LoRA adapters (options.lora) the parameters are the adapters, and the metadata "lora"
// records their rank, alpha, dropout, targets and base-weight fingerprint: a session with other
// adapters (or none) refuses the file.
// Loading one into a session built from the same model and options continues the run bit
// for bit, schedule included.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "onnx_train/distributed.h"
#include "onnx_train/lora.h"
#include "onnx_train/external_data.h"
#include "onnx_train/losses.h"
#include "onnx_train/optimizers.h"
#include "onnx_train/profile.h"
#include "onnx_train/schedules.h"
#include "onnx_train/session.h"
#include "onnx_train/tensor.h"

namespace onnx_train {

struct TrainingOptions {
  // The loss appended to the model output loss.output (default: the first output), with a
  // new input loss.label for the targets. Ignored when model_loss is set.
  LossOptions loss;
  // The model computes its loss itself: the name of its scalar float output to minimise.
  std::string model_loss;

  // Transfer learning: > 0 replaces the fully connected layer that computes loss.output
  // with a freshly initialised one of this many outputs (PyTorch's nn.Linear initialisation,
  // seeded by `seed`), e.g. to fine-tune an ImageNet classifier on 10 classes.
  int64_t num_classes = 0;
  std::vector<std::string> freeze;      // regexes (std::regex_search): parameters not trained
  std::vector<std::string> train_only;  // regexes: if any, only matching parameters are trained
  // Regexes of parameters that get no weight decay. Unset: every parameter of rank <= 1.
  // An empty list: weight decay on every parameter (torch.optim's default).
  std::optional<std::vector<std::string>> no_decay;
  // Low-rank adapters (onnx_train/lora.h): with lora.rank > 0 (or an adapter file) the adapters
  // are what trains, plus what train_only names (PEFT's modules_to_save); freeze still removes.
  LoraOptions lora;

  OptimizerOptions optimizer = default_optimizer();  // AdamW with PyTorch's defaults
  double learning_rate = 1e-3;
  // The learning rate per optimizer step; unset: learning_rate throughout. A schedule whose
  // base_lr is 0 takes learning_rate as its base_lr (onecycle sets its own rates).
  std::optional<ScheduleOptions> schedule;

  double clip_grad_norm = 0;   // > 0: clip the global 2-norm of all gradients to this
  double clip_grad_value = 0;  // > 0: clamp every gradient element to [-v, v]
  // Micro-batches per optimizer step (>= 1); 0: train_step never steps, call optimizer_step.
  int accumulation_steps = 1;
  uint64_t seed = 0;  // Dropout masks
  // Every train_step checks every node's outputs as it runs, forward and backward, and stops at
  // the first NaN or Inf with a NonFiniteStep naming that node (see NonFiniteTrace). For
  // debugging (like torch.autograd.set_detect_anomaly): one more pass over every float value
  // of the step: about 10% more CPU time per step on the bundled CNN (more on models of cheap
  // element-wise ops).
  bool detect_anomaly = false;
  // Data-parallel training across processes (onnx_train/distributed.h): every rank builds the
  // session with the same options and the same communicator, and calls train_step,
  // optimizer_step, eval_step (which stays per rank) in the same order. Dropout masks differ by
  // rank (rank 0 draws those of one process).
  DistributedOptions distributed;
  // Activation recomputation (gradient checkpointing, runtime/transforms/recompute.h): the
  // training graph keeps a checkpoint of the forward pass per transformer block (sqrt(n)
  // segments of other chains) and computes the other saved activations again in the backward
  // pass, one segment at a time: less memory for about one more forward pass of time, the same
  // gradients. max_activation_memory > 0 (bytes of saved activations at activation_batch
  // samples) implies it and chooses the segments to fit, or throws naming the smallest estimate.
  bool recompute = false;
  uint64_t max_activation_memory = 0;
  int64_t activation_batch = 0;  // 0: the model input's first dimension, or 1 when it is dynamic
  // Whether export_model, export_training_model, export_training_graph and save_checkpoint write
  // the tensors into "<file>.data" beside the file (onnx_train/external_data.h). Auto: models
  // when the loaded model had external data or above 1.5 GiB of weights, checkpoints above 1.5 GiB.
  ExternalDataMode external_data = ExternalDataMode::Auto;
  // "fp32" (default) or "bf16": mixed precision as PyTorch's CPU autocast. MatMul, Gemm, Conv
  // and ConvTranspose (forward and backward) run in bfloat16 through explicit Cast nodes in
  // the training graph (runtime/transforms/autocast.h); weights, optimizer state, softmax,
  // normalisation, reductions and the loss stay float32, and so do eval and export.
  std::string precision = "fp32";
  // MatMul(x, Transpose(W)) with W a weight matrix (torch's nn.Linear) runs as one product
  // reading W as stored, in the training and eval graphs (runtime/transforms/
  // transposed_matmul.h): the same results up to float rounding, without copying every weight
  // into its transpose twice a step. Off: the graphs run as written (for comparisons).
  bool fuse_transposed_weights = true;

  static OptimizerOptions default_optimizer() {
    OptimizerOptions o;
    o.kind = "adamw";
    return o;
  }
};

struct StepResult {
  double loss = 0;                  // this batch's loss (before the update)
  std::vector<Tensor> outputs;      // the model's outputs on this batch, in outputs() order
  bool stepped = false;             // whether the optimizer step ran after this batch
  double learning_rate = 0;         // the rate used, when stepped
  std::optional<double> grad_norm;  // the global gradient norm before clipping, when clipped
  int64_t step = 0;                 // optimizer steps done so far (after this one)
};

struct EvalResult {
  double loss = 0;
  std::vector<Tensor> outputs;  // the model's outputs, in outputs() order
};

// Where a training step's values first turn NaN or Inf (TrainingSession::trace_nonfinite).
struct NonFiniteValue {
  std::string name;       // the value's name in the training graph
  std::string type;       // "float32[32, 10]"
  int64_t size = 0;       // elements
  int64_t nan = 0, positive_inf = 0, negative_inf = 0;
  double min = 0, max = 0;  // of its finite elements (0 when it has none, or is not float)
  bool finite() const { return nan == 0 && positive_inf == 0 && negative_inf == 0; }
  std::string describe() const;  // "'x' float32[4, 3]: 3 NaN, 0 +Inf, 1 -Inf of 12; finite ones in [-1, 2]"
};

struct NonFiniteTrace {
  bool found = false;     // false: every node's outputs were finite on this batch
  std::string node_name;  // the first node (in run order) with a non-finite output
  std::string op_type;    // with its domain when not ONNX's ("com.onnx_train.grad.SumToShape")
  bool backward = false;  // a node of the gradient graph (else the model or its loss)
  // Backward: the forward node whose gradient rule emitted it ("node 'sqrt' (Sqrt, opset 17)"),
  // "" for the nodes of the gradient driver itself (seed, fan-in sums).
  std::string gradient_of;
  size_t output_index = 0;
  NonFiniteValue output;
  std::vector<NonFiniteValue> inputs;  // the node's inputs as they were (omitted optional ones left out)
  // All inputs finite: this node made the non-finite values (else it passed on what it was given).
  bool inputs_finite() const;
  // The trace as lines: "first non-finite value: node 'log' (Log), forward pass, output 0 ..."
  std::string describe() const;
};

// How many weights a session trains: float initializers that reach the loss, split into
// those it trains and those `freeze` / `train_only` keep fixed (BatchNormalization running
// statistics are neither: they are buffers).
struct ParameterCounts {
  int64_t trainable_tensors = 0, trainable_values = 0;
  int64_t frozen_tensors = 0, frozen_values = 0;
};

class TrainingSession {
 public:
  // Loads the model and builds the training and eval graphs and their plans. Every problem
  // (unsupported op, op without gradient rule, bad loss output, unknown optimizer option) is
  // reported here, at once, naming the file.
  static TrainingSession from_file(const std::string& model_path, const TrainingOptions& options = {});
  ~TrainingSession();
  TrainingSession(TrainingSession&&) noexcept;
  TrainingSession& operator=(TrainingSession&&) noexcept;

  // What the steps are fed: the model's inputs, then the label (when a loss was appended).
  const std::vector<TensorSpec>& inputs() const;
  // The model's own outputs (StepResult::outputs, EvalResult::outputs, predict()).
  const std::vector<TensorSpec>& outputs() const;
  const std::string& label_name() const;  // "" when the model computes its own loss
  const std::string& loss_name() const;

  // What from_file did to the model or found in it that changes what training means, one
  // line each (no trailing newline), for the caller to show before training:
  //   - the model's opset was too old for the loss (the class losses need opset 12) and was
  //     upgraded with ONNX's version converter (export_model still writes the user's opset);
  //   - weights in Constant nodes inside local functions (or made while loading) that stay
  //     fixed, since the export could not write them back; training-form nodes inside local
  //     functions, which the export writes as they are;
  //   - the export lost its training structure: BatchNormalization folded into Conv, weights
  //     named by the exporter (torch's "onnx::Conv_193") rather than by the model;
  //   - a freeze / train_only pattern matches no parameter.
  const std::vector<std::string>& notes() const;
  ParameterCounts parameter_counts() const;
  // The low-rank adapters added (options.lora; none: !enabled()).
  LoraSummary lora() const;

  // Forward, backward and (every accumulation_steps calls) the optimizer step; see above.
  // A loss, a gradient or a running statistic that is NaN or infinite stops the step before
  // anything changes (no update, no running statistics, the batch's gradients dropped) with a
  // NonFiniteStep (onnx_train/error.h), whose message says which and at which step; a caller
  // tells it from other errors by its type (e.g. to resume from a checkpoint with a lower rate).
  StepResult train_step(const std::map<std::string, Tensor>& feeds);
  // Runs the optimizer step on the gradients accumulated so far (does nothing when none
  // were), e.g. to finish a partial accumulation at the end of an epoch. Returns the rate used.
  // Throws NonFiniteStep, changing nothing, when the accumulated gradients hold NaN or Inf.
  double optimizer_step();
  // Runs the forward and backward pass on `feeds` as train_step would (the same Dropout masks
  // as the next train_step draws), checking every node's outputs as it runs, and stops at the
  // first node whose output holds NaN or Inf. Changes nothing: no parameter, statistic,
  // accumulated gradient or random state. train_step calls it itself when a step turns
  // non-finite (the NonFiniteStep's message holds the trace), and refused steps leave the random
  // state as it was before them, so a caller tracing a refused batch sees that step again.
  // NOTE: a model that makes Inf on purpose (an attention mask of -inf) is reported at that node.
  NonFiniteTrace trace_nonfinite(const std::map<std::string, Tensor>& feeds);
  // Discards the accumulated gradients.
  void zero_grad();
  // Micro-batches accumulated since the last optimizer step.
  int pending_micro_batches() const;

  // The model in eval form, with the loss: nothing changes (no statistics update, no dropout).
  EvalResult eval_step(const std::map<std::string, Tensor>& feeds);
  // The model in eval form without the loss: the outputs only (no label needed).
  std::vector<Tensor> predict(const std::map<std::string, Tensor>& feeds);

  // Trainable parameters, in graph order.
  const std::vector<std::string>& parameter_names() const;
  // Buffers that change in training but are not trained (BatchNormalization running stats).
  const std::vector<std::string>& buffer_names() const;
  // A copy of a parameter's or buffer's current value.
  Tensor parameter(const std::string& name) const;
  // Overwrites a parameter or buffer (same dtype and shape), e.g. to load pretrained weights.
  // Frozen initializers (not parameters) are not reachable here.
  void set_parameter(const std::string& name, const Tensor& value);

  // The learning rate the next optimizer step will use.
  double learning_rate() const;
  // From now on, a constant learning rate (replaces the schedule).
  void set_learning_rate(double lr);
  // From now on, this schedule (validated; base_lr 0 takes the current options' learning
  // rate), e.g. once the number of steps in the run is known.
  void set_schedule(const ScheduleOptions& schedule);
  int64_t step() const;  // optimizer steps done

  // See "Checkpoints" above. Saving or loading in the middle of an accumulation is refused.
  // `extra` is stored as metadata too (keys must not start with "onnx_train"); a caller
  // keeps its own state there (the CLI: its options and the position in the data), and
  // load_checkpoint returns every metadata entry.
  void save_checkpoint(const std::string& path, const std::map<std::string, std::string>& extra = {}) const;
  std::map<std::string, std::string> load_checkpoint(const std::string& path);
  // A checkpoint's metadata without loading it (e.g. to find which model it belongs to).
  static std::map<std::string, std::string> read_checkpoint_metadata(const std::string& path);

  // The training plan's storage: after the first steps, a step takes nothing new from the
  // system (intermediates are recycled through the plan's buffer pool).
  MemoryStats memory_stats() const;
  // Gives that recycled storage back to the system (the largest part of a step's memory: on
  // GPT-2 small at batch 4 x 256, 2.2 GB), for a caller done stepping for a while: before the
  // final export, say. The next step takes it from the system again. Returns the bytes freed.
  size_t release_memory();

  // Data-parallel training: the gradient allreduce's figures since the session was made.
  AllreduceStats allreduce_stats() const;

  // Profiling (onnx_train/profile.h): while on, every node of the training graph and every
  // phase of the optimizer pass is timed. Turning it on starts a new profile; profile()
  // reports what was timed since: sections "forward" (the model and its loss), "backward" (the
  // gradient nodes) and "optimizer" (accumulation, the non-finite check or clipping, the
  // update), with the training plan's peak intermediate bytes and the process's peak RSS.
  // Profiling changes no result. Turn it on after a first step to leave its set-up out.
  void set_profiling(bool on);
  Profile profile() const;

  // Writes the training graph (training form, loss, backward graph; the gradients are
  // outputs named "<parameter>_grad"-like) as an ONNX file any ONNX tool opens.
  void export_training_graph(const std::string& path) const;

  // Writes the model with ONNX's TrainingInfoProto filled in (runtime/train/training_info.h):
  // the inference graph as export_model writes it (the user's graph, opset and functions; weights
  // the session trained from Constant nodes become initializers, which the update binds), plus
  // the training algorithm (forward, loss, backward and the optimizer update) at the model's
  // opset with update bindings to the initializers, and the optimizer state.
  // from_file on such a file continues training from it. `metadata` is written to the model's
  // metadata_props beside the training information, as export_model writes it (keys must not
  // start with "onnx_train", which the training information uses).
  void export_training_model(const std::string& path, const std::map<std::string, std::string>& metadata = {}) const;

  // Writes the model file as the user gave it (its opset and op versions, local functions,
  // node names, doc strings, metadata; importers/model_source.h) with the current parameters
  // and running statistics written in, plus only what training changed on purpose: a new
  // classifier head's shapes, the inference form of BatchNormalization and Dropout when the
  // model was exported in training form. No loss, no gradients. The file appears whole or not
  // at all. `metadata` is added to the model's metadata_props (e.g. a classifier's class names
  // and preprocessing; a key the model has is replaced). A model upgraded to a newer opset for
  // its loss, or lowered from opsets 18-23 to 17 at load, is written at its own opset.
  // export_training_model of an upgraded model is at the upgraded opset: its training
  // algorithm holds the loss, which the older opset lacks.
  // With LoRA adapters the written weights are the merged W + (alpha / rank) A B (the adapters
  // themselves are not written; each merged weight is made as it is written, so the export
  // holds one at a time), or, with options.lora.export_separate, the base weights as
  // loaded with the adapters in lora_adapter_file(path) beside them (export_lora_adapter).
  void export_model(const std::string& path, const std::map<std::string, std::string>& metadata = {}) const;
  // Writes the adapters alone (runtime/train/lora_adapter.h), for options.lora.adapter.
  void export_lora_adapter(const std::string& path) const;
  // "out.onnx" -> "out.lora.onnx": where a separate export writes the adapters.
  static std::string lora_adapter_file(const std::string& model_path);

  // The inside (runtime/train/session_impl.h), for the library's own files.
  struct Impl;

 private:
  explicit TrainingSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace onnx_train
