// PRelu: the activation whose slope is a broadcast input, plain loops for every numeric
// type. The elementwise activations (Relu, Sigmoid, ... Shrink) are in dnnl/activations.cc,
// their formulas in activation_math.h.
#include "runtime/core/dispatch.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/reference/elementwise_loops.h"

namespace onnx_train {

namespace {

// PRelu: Y = X for X >= 0, slope * X otherwise; slope broadcasts to X's shape
// (unidirectionally: Y has X's shape). Floats, plus integers from PRelu-9.
class PReluKernel : public Kernel {
 public:
  explicit PReluKernel(const KernelInfo& info) : node_(info.node) {}

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const Tensor& slope = ctx.input(1);
    const DType d = x.dtype();
    OT_CHECK(dtype_is_float(d) || (node_.since_version >= 9 && d != DType::Bool),
             "{}: input has element type {}, which PRelu does not take at this opset", node_.label(), dtype_name(d));
    OT_CHECK(slope.dtype() == d, "{}: slope {} must have the input's type {}", node_.label(), slope.describe(),
             x.describe());
    bool fits = slope.rank() <= x.rank();
    for (int i = 1; fits && i <= slope.rank(); ++i) fits = slope.dim(-i) == 1 || slope.dim(-i) == x.dim(-i);
    // Models exported for PRelu-6 and upgraded by ONNX's version converter keep a per-channel
    // slope [C] for an input [N, C, ...]; that shape cannot broadcast under the opset-7 rule, so
    // it is read the way it was written: as [C, 1, ..., 1].
    Shape slope_shape = slope.shape();
    if (!fits && slope.rank() == 1 && x.rank() >= 3 && slope.dim(0) == x.dim(1)) {
      slope_shape.resize(static_cast<size_t>(x.rank() - 1), 1);
      fits = true;
    }
    OT_CHECK(fits, "{}: slope shape {} does not broadcast to the input shape {}", node_.label(),
             shape_str(slope.shape()), shape_str(x.shape()));
    Tensor& y = ctx.allocate_output(0, d, x.shape());
    visit_numeric(d, [&](auto tag) {
      using T = typename decltype(tag)::type;
      broadcast_binary(x.data<T>(), x.shape(), slope.data<T>(), slope_shape, y.data<T>(), x.shape(), [](T v, T s) {
        const auto c = to_compute(v);
        return c < 0 ? from_compute<T>(to_compute(s) * c) : v;
      });
    });
  }

 private:
  const Node& node_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(prelu) { registry.add<PReluKernel>("PRelu", {7, 9, 16}); }

}  // namespace onnx_train
