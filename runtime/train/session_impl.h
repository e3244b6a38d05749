// The inside of a TrainingSession, shared by the files of runtime/train/ (the session
// itself, and the writers that need its graphs: TrainingInfoProto export).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "onnx_train/distributed.h"
#include "onnx_train/profile.h"
#include "onnx_train/training_session.h"
#include "runtime/exec/plan.h"
#include "runtime/ir/graph.h"
#include "runtime/transforms/lora.h"

namespace onnx_train {

// Checkpoints and TrainingInfoProto files name the optimizer state "optimizer/<param>/<slot>".
constexpr const char* kOptimizerStatePrefix = "optimizer/";

inline bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

struct TrainingSession::Impl {
  // A trainable parameter: its value shares storage with every graph's initializer.
  struct Parameter {
    std::string name;
    Tensor value;
    size_t grad_output = 0;  // index of its gradient among the training graph's outputs
    Tensor accumulated;      // gradient sum over micro-batches (allocated on first use)
    Tensor own_grad;         // a private copy when the plan's gradient shares storage (rare)
    bool decays = false;     // whether weight decay applies (rank >= 2, or as no_decay says)
  };
  // A BatchNormalization running statistic: the training graph outputs its updated value.
  struct Buffer {
    std::string name;
    Tensor value;
    size_t updated_output = 0;
  };

  std::string source;
  TrainingOptions options;
  // The graphs: eval-form model, training graph, eval graph with loss. Plans keep pointers
  // into them, so they live on the heap and never change after the plans are built. The
  // model's Graph::source is the user's file, which export_model writes the trained values into.
  std::unique_ptr<Graph> model, train, eval;
  std::vector<std::string> notes;  // TrainingSession::notes()
  ParameterCounts counts;
  LoraInfo lora;  // the adapters in model, train and eval (none without options.lora)
  std::unique_ptr<Plan> train_plan, eval_plan, predict_plan;
  std::vector<TensorSpec> inputs, outputs, model_inputs;
  size_t overridable_count = 0;  // old-style initializer inputs: never fed while training
  std::string label, loss;
  size_t loss_output = 0, eval_loss_output = 0;
  std::vector<size_t> model_outputs;  // indices of the model's outputs among the training graph's
  std::vector<Parameter> parameters;
  std::vector<Buffer> buffers;
  std::vector<std::string> parameter_names, buffer_names;

  std::unique_ptr<Optimizer> optimizer;
  std::vector<Param> optimizer_params;  // built once; grad pointers set each step
  std::vector<Tensor*> clip_grads;
  ScheduleOptions schedule;
  int64_t step = 0;
  int pending = 0;                   // micro-batches accumulated since the last optimizer step
  double pending_weight = 0;         // the sum of their weights

  // Saving or exporting the state (`action`, "saving a checkpoint") of a session in the middle
  // of an accumulation is refused: the accumulated gradients are not part of any file.
  void require_no_pending(const std::string& path, const char* action) const {
    OT_CHECK(pending == 0,
             "{}: {} micro-batches are accumulated but not stepped; call optimizer_step() or zero_grad() before {}",
             path, pending, action);
  }
  std::vector<Tensor> last_outputs;  // the training plan's outputs of the last micro-batch

  // The plan's feed vector for `specs` plus `extra` undefined overridable initializers.
  std::vector<Tensor> feed_vector(const std::map<std::string, Tensor>& feeds, const std::vector<TensorSpec>& specs,
                                  size_t extra) const;
  // The weight of this micro-batch in the accumulated gradient (see the public header).
  double micro_batch_weight(const std::map<std::string, Tensor>& feeds) const;
  // Points each Param at the plan's gradient, or a private copy where storage is shared.
  void use_plan_gradients(const std::map<std::string, Tensor>& feeds);
  // Adds the plan's gradients, times `weight`, into the accumulation buffers.
  void accumulate_plan_gradients(double weight);
  // Averaging (the gradients times `scale` first, unless it is 1), clipping, the schedule's
  // rate and the update; returns the rate.
  double run_optimizer(std::optional<double>* grad_norm, double scale);
  std::vector<Tensor*>& clip_grads_now();
  // The factor that finishes an accumulation: the weighted average (or sum) of the
  // micro-batch gradients is the accumulated sum times it.
  double accumulation_scale() const;
  // What training changes: the parameters, then the running statistics (the export places each
  // in the user's file, importers/model_source.h).
  std::vector<std::string> changed_values() const;

  // Non-finite tracing (trace_nonfinite, detect_anomaly): which forward node each backward node
  // differentiates, whether the training plan's Dropout generators must be put back after a
  // refused or traced step, and the trace the detect_anomaly check fills.
  std::map<std::string, std::string> rule_of;
  bool has_rng = false;
  NonFiniteTrace anomaly;
  // The training plan's run on `feeds` with every node's outputs checked; changes nothing.
  NonFiniteTrace trace(const std::map<std::string, Tensor>& feeds);
  // train_step's work; the public train_step puts the random state back when it throws.
  StepResult train_step(const std::map<std::string, Tensor>& feeds);

  // Data-parallel training (options.distributed, runtime/train/data_parallel.cc). `group` is set
  // only with more than one rank; everything below is unused otherwise.
  std::shared_ptr<Communicator> group;
  // A bucket of gradients averaged by one allreduce: parameters of one dtype whose gradients
  // the backward pass computes one after another, packed at `offsets` into `buffer`.
  struct Bucket {
    std::vector<size_t> parameters;  // indices into `parameters`
    std::vector<int64_t> offsets;    // of each, in elements
    Tensor buffer;
    size_t ready_step = 0;  // the training plan's step after which all its gradients exist
    std::unique_ptr<Communicator::Request> request;
    std::chrono::steady_clock::time_point started, done;
    bool complete = false;
  };
  std::vector<Bucket> buckets;
  std::vector<std::vector<size_t>> buckets_ready_at;  // plan step -> buckets whose last gradient it computes
  AllreduceStats allreduce_stats;
  // Plans the buckets from the training plan (in the order the backward pass produces the
  // gradients) and gives every rank rank 0's parameters and running statistics.
  void start_data_parallel();
  // train_step with more than one rank.
  StepResult train_step_data_parallel(const std::map<std::string, Tensor>& feeds);
  // optimizer_step with more than one rank: the accumulated gradients averaged, then the step.
  double optimizer_step_data_parallel();
  // Packs bucket `b` (weight * the plan's gradient, plus the accumulated sum when micro-batches
  // are pending; or the accumulated sum alone when `from_plan` is false) and starts its allreduce.
  void start_bucket(Bucket& b, double weight, bool from_plan);
  // Waits for every bucket, then writes each parameter's averaged gradient (times `scale`) into
  // its accumulation buffer, which the optimizer steps on.
  void finish_buckets(double scale, std::chrono::steady_clock::time_point backward_end);
  void broadcast_buffers();

  // Profiling (set_profiling): the forward nodes of the training graph, known by their first
  // output (every node after them is the backward graph's); the plan's step times when
  // profiling started; the optimizer pass's phases, timed while it is on.
  std::set<std::string> forward_outputs;
  bool profiling = false;
  std::vector<Plan::StepTime> profile_start;
  int64_t profiled_optimizer_steps = 0;
  std::vector<ProfileNode> optimizer_phases;
  // f(), its wall time added to the optimizer phase `name` while profiling. `bytes`: what the
  // phase reads and writes, for its bandwidth.
  template <typename F>
  void timed_phase(const std::string& name, const std::string& op_type, int64_t bytes, F&& f);
  int64_t parameter_bytes() const;  // of every trainable parameter (= of their gradients)
};

}  // namespace onnx_train
