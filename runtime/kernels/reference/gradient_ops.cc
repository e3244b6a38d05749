// Kernels of the gradient-only ops in the project's own domain (ai.onnx_train).
#include "runtime/core/dispatch.h"
#include "runtime/kernels/families.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

// SumToShape(grad, shape) -> reduced: the adjoint of numpy broadcasting. grad has the
// broadcast shape; `shape` (int64 1-D) is the shape it was broadcast from; every axis
// where `shape` has 1 (or that `shape` lacks, on the left) is summed:
//   reduced[j] = sum of grad[i] over all i that broadcasting maps to j.
class SumToShapeKernel : public Kernel {
 public:
  explicit SumToShapeKernel(const KernelInfo&) {}

  void run(KernelContext& ctx) override {
    const Tensor& grad = ctx.input(0);
    const Shape target = ctx.input(1).to_int64s();
    OT_CHECK(broadcast_shapes(target, grad.shape()) == grad.shape(), "{}: gradient {} is not a broadcast of shape {}",
             ctx.node().label(), grad.describe(), shape_str(target));
    if (target == grad.shape()) {  // nothing was broadcast (shapes unknown when the graph was built)
      ctx.set_output(0, grad);
      return;
    }
    Tensor& out = ctx.allocate_output(0, grad.dtype(), target);
    visit_float(grad.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = compute_t<T>;
      std::vector<double> sums(static_cast<size_t>(out.numel()), 0.0);
      const T* g = grad.data<T>();
      StridedWalk walk(grad.shape(), {broadcast_strides(target, grad.shape())});
      for (int64_t i = 0; i < grad.numel(); ++i, walk.next())
        sums[walk.offset(0)] += static_cast<double>(to_compute(g[i]));
      T* o = out.data<T>();
      for (size_t j = 0; j < sums.size(); ++j) o[j] = from_compute<T>(static_cast<C>(sums[j]));
    });
  }
};

}  // namespace

void register_gradient_kernels(KernelRegistry& registry) {
  registry.add<SumToShapeKernel>("SumToShape", {1}, kProjectDomain);
}

}  // namespace onnx_train
