// onnx_train/session.h: the public entry point for running an ONNX model.
//
//   auto session = onnx_train::Session::from_file("model.onnx");
//   std::vector<onnx_train::Tensor> outputs = session.run({{"input", image}});
//
// from_file loads and checks the model and builds the execution plan; every problem that
// would stop the model from running (unsupported ops, bad attributes, unsupported types)
// is reported there, all at once, in one onnx_train::Error.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "onnx_train/tensor.h"

namespace onnx_train {

// What a model declares about one of its inputs or outputs.
struct TensorSpec {
  std::string name;
  DType dtype = DType::Undefined;
  bool rank_known = false;
  Shape shape;                         // -1 for a dimension that is not fixed
  std::vector<std::string> dim_names;  // symbolic names ("batch") where the model gives them
  std::string describe() const;        // "float32[batch, 3, 224, 224]"
};

struct SessionOptions {
  bool run_checker = true;  // run ONNX's model checker when loading
};

struct MemoryStats {
  size_t system_allocations = 0;  // storage blocks taken from the system so far
  size_t peak_bytes_in_use = 0;   // high-water mark of intermediate storage
};

class Session {
 public:
  static Session from_file(const std::string& model_path, const SessionOptions& options = {});
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  const std::vector<TensorSpec>& inputs() const;
  const std::vector<TensorSpec>& outputs() const;
  // Initializers that old-style models also list as inputs: they may be fed to override.
  const std::vector<TensorSpec>& overridable_initializers() const;

  // Runs the model. `feeds` maps input names to tensors; returns the outputs in the order
  // of outputs(). Throws Error when a feed is missing or has the wrong type or shape.
  std::vector<Tensor> run(const std::map<std::string, Tensor>& feeds);

  MemoryStats memory_stats() const;

  // Profiling: while on, every node's wall time is accumulated over the runs.
  struct NodeTime {
    std::string node;
    std::string op_type;
    double total_ms = 0;
    int runs = 0;
  };
  void set_profiling(bool on);
  std::vector<NodeTime> node_times() const;  // in execution order

 private:
  struct Impl;
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// An op the runtime has kernels for, with the ONNX schema versions they implement.
struct OpSupport {
  std::string domain;  // "" for the default ONNX domain
  std::string op_type;
  std::vector<int> since_versions;
  // The schema versions the gradient builder has a rule for; empty with
  // `not_differentiable` for ops whose outputs carry no gradient (Shape, comparisons...).
  std::vector<int> gradient_versions;
  bool not_differentiable = false;
  // The op's versions of opsets 18-23 (loaded by lowering them to opset 17 at load): each
  // version, and how it runs: "lowered: <the opset-17 form>", "new types only" (runs as its
  // opset-17 version for the types that one has) or "not supported".
  std::vector<std::pair<int, std::string>> newer_versions;
  // How `--precision bf16` (TrainingOptions::precision) runs it; "" where it stays float32.
  std::string bfloat16;
};
std::vector<OpSupport> supported_ops();

// Reads one serialized onnx.TensorProto file (as in ONNX test data).
Tensor read_tensor_file(const std::string& path, std::string* name = nullptr);

}  // namespace onnx_train
