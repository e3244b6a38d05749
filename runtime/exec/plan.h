// The execution plan: the graph compiled into a flat list of steps.
//
// Building a plan chooses a kernel for every node (all problems reported together), gives
// every value a slot, and computes for each step which slots die after it (their last
// use), so intermediates are freed as early as possible and their storage goes back to
// the buffer pool for the next step to reuse. Peak memory is then the largest live set,
// not the sum of all intermediates.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/buffer_pool.h"
#include "runtime/ir/graph.h"
#include "runtime/kernels/kernel.h"

namespace onnx_train {

// The bytes of a value of type `v` with every dimension unknown until run time taken as `batch`
// (0 when its type or rank is unknown, at most 2^63): how Plan::estimate_memory counts a value
// (the activation recomputation's estimates count the same way).
uint64_t value_bytes(const ValueInfo* v, int64_t batch);

class Plan {
 public:
  // Throws one Error listing every problem found; `source` names the model in messages.
  Plan(const Graph& graph, const KernelRegistry& registry, const std::string& source);

  // Runs every step. `feeds` are indexed like graph.inputs followed by
  // graph.overridable_initializers (an undefined Tensor leaves that initializer as it is).
  // Returns the graph outputs in order.
  std::vector<Tensor> run(const std::vector<Tensor>& feeds);

  const BufferPool& pool() const { return pool_; }
  // Gives the intermediates' recycled storage back to the system (BufferPool::release_free_blocks).
  size_t release_free_buffers() { return pool_.release_free_blocks(); }

  // The memory the plan holds at its peak when fed a batch of `batch` samples, estimated from
  // the shapes shape inference gave: the initializers (weights, and a training graph's optimizer
  // state), the graph inputs, and the largest set of intermediates alive at once by the plan's
  // liveness (a dimension unknown until run time taken as `batch`, a value of unknown rank as
  // 0 bytes: a lower bound for such models). run() refuses a batch whose estimate exceeds the
  // memory limit (onnx_train/limits.h) before running any step.
  struct MemoryEstimate {
    uint64_t initializers = 0;
    uint64_t inputs = 0;
    uint64_t intermediates = 0;  // at their peak
    uint64_t total() const { return initializers + inputs + intermediates; }
  };
  MemoryEstimate estimate_memory(int64_t batch) const;
  // Steps run per run(): one per node, plus the recomputed weight-derived values (see plan.cc).
  size_t step_count() const { return steps_.size(); }

  // The state of every kernel that keeps one between runs (Kernel::state), keyed by its
  // node's first output name (unique in a graph); set_kernel_states restores such a map and
  // throws naming a key that is no stateful node of this plan.
  std::map<std::string, std::string> kernel_states() const;
  void set_kernel_states(const std::map<std::string, std::string>& states);

  // A check run after every step's kernel, before any value dies: the node, its inputs (nullptr
  // for an omitted one) and its outputs (undefined for an unused optional one). It may throw to
  // stop the run (the slot table is emptied as after any failed run). Unset, the default,
  // nothing is called: a run costs one test per step.
  using StepCheck = std::function<void(const Node& node, const Tensor* const* inputs, size_t num_inputs,
                                       const std::vector<Tensor>& outputs)>;
  void set_step_check(StepCheck check) { check_ = std::move(check); }
  // Called after every step of a run (its outputs stored, the values it was the last to read
  // released) with the step's index: e.g. to send a gradient to other processes as soon as the
  // step that computes it ran, while the rest of the backward pass goes on. Unset by default.
  using AfterStep = std::function<void(size_t step)>;
  void set_after_step(AfterStep after) { after_ = std::move(after); }
  // The index of the step that computes graph output `i`, or -1 when none does (a graph input or
  // an initializer passed through).
  int64_t step_of_output(size_t i) const;
  // Graph output `i` as it is now: from an AfterStep hook, defined once its step ran.
  const Tensor& output_value(size_t i) const { return values_[static_cast<size_t>(output_slots_[i])]; }
  // Whether any kernel keeps state between runs (Dropout's generator): kernel_states() is not empty.
  bool has_kernel_states() const;

  // Per-step wall time, accumulated over the runs made while profiling is on.
  void set_profiling(bool on) { profiling_ = on; }
  struct StepTime {
    const Node* node;
    double total_ms;
    int runs;
  };
  std::vector<StepTime> step_times() const;

 private:
  struct Step {
    const Node* node;
    std::unique_ptr<Kernel> kernel;
    std::vector<int> inputs;                  // slot per input, -1 for an omitted optional input
    std::vector<int> outputs;                 // slot per output, -1 for an unused optional output
    std::vector<int> release;                 // slots whose last use is this step
    std::vector<char> dying_inputs;           // per input: its slot is released here and read once by it
    std::vector<const Tensor*> input_values;  // &values_[slot] per input (nullptr if omitted)
    double profiled_ms = 0;
    int profiled_runs = 0;
  };

  int slot_of(const std::string& name);
  Step copy_step(const Step& original, const KernelRegistry& registry) const;
  void recompute_weight_values(const Graph& graph, const KernelRegistry& registry, const std::vector<bool>& pinned);
  void plan_releases(const std::vector<bool>& pinned);
  // Empties every slot but the initializers' (which get their stored values back).
  void reset_values();

  const Graph& graph_;
  std::string source_;
  std::map<std::string, int> slots_;
  std::vector<Tensor> values_;                              // the slot table (never resized after construction)
  std::vector<std::pair<int, Tensor>> initializer_values_;  // slot -> stored value
  std::vector<int> feed_slots_;
  std::vector<int> output_slots_;
  std::vector<Step> steps_;
  std::vector<Tensor> step_outputs_;  // reused scratch for one step's outputs
  BufferPool pool_;
  bool profiling_ = false;
  StepCheck check_;
  AfterStep after_;
  int64_t batch_checked_ = -1;  // the batch size run() last checked against the memory limit
  void check_memory(const std::vector<Tensor>& feeds);
};

}  // namespace onnx_train
