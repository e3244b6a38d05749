// Kernels of the collective ops in the project's own domain (ai.onnx_train): graph nodes that
// communicate with the other ranks of a data-parallel run. Not the gradient allreduce of a
// training step (runtime/train/data_parallel.cc does that outside the graph); these are the
// collectives a graph rewrite puts inside the forward and backward passes (sync_batchnorm,
// runtime/transforms/sync_batchnorm.h).
#include <cstring>
#include <string>

#include "runtime/distributed/process_groups.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"

namespace onnx_train {

namespace {

// Y = AllReduceSum(X), attribute `group` (int): Y [same shape as X] = the element-wise sum of X
// over the ranks of process group `group` (runtime/distributed/process_groups.h), float32 or
// float64. Group 0, or any group of one rank, gives Y = X (a view of X, no copy). Blocking: the
// step waits here until every rank has reached the same node.
class AllReduceSumKernel : public Kernel {
 public:
  explicit AllReduceSumKernel(const KernelInfo& info)
      : group_(process_group(info.node.attr_int("group"))),
        what_(fmt::format("the synchronised BatchNormalization statistics of node '{}'", info.node.name)) {
    const DType dtype = info.input_dtype(0);
    OT_CHECK(dtype == DType::Undefined || dtype == DType::Float32 || dtype == DType::Float64,
             "{}: input is {}; AllReduceSum sums float32 or float64 tensors", info.node.label(), dtype_name(dtype));
  }

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    if (group_.size() == 1) {
      ctx.set_output(0, x);
      return;
    }
    OT_CHECK(x.dtype() == DType::Float32 || x.dtype() == DType::Float64,
             "{}: input is {}; AllReduceSum sums float32 or float64 tensors", ctx.node().label(), x.describe());
    Tensor& y = ctx.allocate_output_to_overwrite(0, x.dtype(), x.shape());
    std::memcpy(y.raw_data(), x.raw_data(), x.nbytes());
    if (x.dtype() == DType::Float32)
      group_.allreduce_sum(y.data<float>(), y.numel(), what_);
    else
      group_.allreduce_sum(y.data<double>(), y.numel(), what_);
  }

 private:
  Communicator& group_;  // the registry keeps every group alive for the process's lifetime
  std::string what_;     // names the node in a timeout's message
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(collectives) { registry.add<AllReduceSumKernel>("AllReduceSum", {1}, kProjectDomain); }

}  // namespace onnx_train
