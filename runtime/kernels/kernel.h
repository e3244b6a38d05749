// The kernel interface and registry.
//
// A kernel is built once per node when a session is planned (its constructor reads and
// checks attributes, so a bad attribute is reported before anything runs) and then run
// once per step. Output shapes are computed in run() from the actual input shapes, so a
// dynamic batch dimension or a smaller last batch needs nothing special.
//
// Kernels are registered by (domain, op type) together with the list of ONNX schema
// versions they implement. A node whose schema version is not in that list is reported
// as unsupported: an op whose semantics changed between opsets never runs the wrong ones.
//
// Adding an op: a Kernel subclass in its family file (reference/: plain loops, dnnl/: oneDNN), one `registry.add`
// line in that file's ONNX_TRAIN_REGISTER_KERNELS block (registry.h), a row in tests/kernels/kernel_coverage_test.cc.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "onnx_train/tensor.h"
#include "runtime/ir/graph.h"

namespace onnx_train {

class BufferPool;

// Static facts about a node's inputs, known when the kernel is built (from shape
// inference): kernels may use them to reject unsupported types early.
struct KernelInfo {
  const Node& node;
  std::vector<const ValueInfo*> input_infos;  // nullptr where nothing is known
  // Element type of input i if known statically, else Undefined.
  DType input_dtype(size_t i) const;
};

class KernelContext {
 public:
  // Inputs as a vector (tests) or as an array the caller keeps alive (the executor, which
  // builds its pointer arrays once so that a step allocates nothing). nullptr = omitted.
  KernelContext(const Node& node, std::vector<const Tensor*> inputs, std::vector<Tensor>& outputs, BufferPool* pool)
      : node_(node),
        owned_inputs_(std::move(inputs)),
        inputs_(owned_inputs_.data()),
        num_inputs_(owned_inputs_.size()),
        outputs_(outputs),
        pool_(pool) {}
  KernelContext(const Node& node, const Tensor* const* inputs, size_t num_inputs, std::vector<Tensor>& outputs,
                BufferPool* pool)
      : node_(node), inputs_(inputs), num_inputs_(num_inputs), outputs_(outputs), pool_(pool) {}

  const Node& node() const { return node_; }
  size_t num_inputs() const { return num_inputs_; }
  // Optional inputs: false when omitted (empty name or beyond the listed inputs).
  bool has_input(size_t i) const { return i < num_inputs_ && inputs_[i] != nullptr; }
  // Throws a clear error when a required input is missing.
  const Tensor& input(size_t i) const;

  size_t num_outputs() const { return outputs_.size(); }
  // Allocates output i (zero-filled) from the session's buffer pool and returns it.
  Tensor& allocate_output(size_t i, DType dtype, const Shape& shape);
  // The same without the zero fill, for a kernel that writes every element of output i on
  // every path (an early return for an empty problem must fill it itself): saves a pass over
  // the output's memory, which for large element-wise and convolution outputs costs as much
  // as the kernel's own write.
  Tensor& allocate_output_to_overwrite(size_t i, DType dtype, const Shape& shape);
  // Sets output i to an existing tensor (a view of an input, say): no copy.
  void set_output(size_t i, Tensor tensor);
  // Output `out` in the storage of input `in`, when the executor says that nothing reads that
  // input after this node and no other tensor shares its storage (a kernel run outside a plan,
  // or under a plan's step check, never reuses); nullptr otherwise. The output then has the
  // input's dtype, shape and values: a kernel that reads each element before writing the same
  // element works in place, and the step needs no second buffer of that size (the
  // [tokens, vocabulary] gradient of a language model's loss is 206 MB on GPT-2 small).
  Tensor* reuse_input_as_output(size_t in, size_t out);
  // The executor's per-input flags: nonzero where the input dies at this node.
  void set_dying_inputs(const char* dying) { dying_inputs_ = dying; }
  // Whether output i is consumed by anything (optional outputs may be skipped).
  bool output_wanted(size_t i) const { return i < outputs_.size() && !node_.outputs[i].empty(); }

 private:
  const Node& node_;
  std::vector<const Tensor*> owned_inputs_;
  const Tensor* const* inputs_;
  size_t num_inputs_;
  std::vector<Tensor>& outputs_;
  BufferPool* pool_;
  const char* dying_inputs_ = nullptr;  // set_dying_inputs; nullptr: reuse nothing
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual void run(KernelContext& ctx) = 0;

  // Kernels that carry state from one run to the next (Dropout's random generator) expose it
  // as text, so that a training checkpoint can restore it and a resumed run draws the same
  // numbers. Stateless kernels return "" and ignore set_state.
  virtual std::string state() const { return {}; }
  virtual void set_state(const std::string& state) { (void)state; }
};

using KernelFactory = std::function<std::unique_ptr<Kernel>(const KernelInfo&)>;

class KernelRegistry {
 public:
  // The registry with every kernel the runtime has.
  static const KernelRegistry& global();

  // Registers `factory` for op `op_type` in `domain` ("" = default ONNX domain) at the given
  // schema versions (the `since_version`s of the ONNX schemas it implements).
  void add(const std::string& op_type, std::vector<int> since_versions, KernelFactory factory,
           const std::string& domain = "");
  // Convenience for kernels whose constructor takes (const KernelInfo&).
  template <typename K>
  void add(const std::string& op_type, std::vector<int> since_versions, const std::string& domain = "") {
    add(
        op_type, std::move(since_versions), [](const KernelInfo& info) { return std::make_unique<K>(info); }, domain);
  }

  // nullptr when (domain, op_type, since_version) has no kernel.
  const KernelFactory* find(const std::string& domain, const std::string& op_type, int since_version) const;
  // The schema versions registered for an op (empty when the op is unknown).
  std::vector<int> versions(const std::string& domain, const std::string& op_type) const;
  // Every registered (domain, op_type).
  std::vector<std::pair<std::string, std::string>> ops() const;

 private:
  std::map<std::pair<std::string, std::string>, std::map<int, KernelFactory>> table_;
};

}  // namespace onnx_train
