// Shape and data-movement ops: values are copied or viewed, never computed.
#include "runtime/kernels/kernel.h"

namespace onnx_train {

namespace {

// Identity: y = x, a view (no copy).
class IdentityKernel : public Kernel {
 public:
  explicit IdentityKernel(const KernelInfo&) {}
  void run(KernelContext& ctx) override { ctx.set_output(0, ctx.input(0)); }
};

// Constant: the tensor held in the node (value, or one of the value_* scalar/list forms).
class ConstantKernel : public Kernel {
 public:
  explicit ConstantKernel(const KernelInfo& info) {
    const Node& n = info.node;
    if (n.has_attr("value")) value_ = n.attr_tensor("value");
    else if (n.has_attr("value_float")) value_ = Tensor::scalar<float>(n.attr_float("value_float"));
    else if (n.has_attr("value_int")) value_ = Tensor::scalar<int64_t>(n.attr_int("value_int"));
    else if (n.has_attr("value_floats")) {
      auto v = n.attr_floats("value_floats");
      value_ = Tensor::from<float>({static_cast<int64_t>(v.size())}, v);
    } else if (n.has_attr("value_ints")) {
      auto v = n.attr_ints("value_ints");
      value_ = Tensor::from<int64_t>({static_cast<int64_t>(v.size())}, v);
    } else {
      OT_FAIL("{}: needs a 'value' attribute (string and sparse constants are not supported)", n.label());
    }
  }
  void run(KernelContext& ctx) override { ctx.set_output(0, value_); }

 private:
  Tensor value_;
};

}  // namespace

void register_shape_kernels(KernelRegistry& registry) {
  registry.add<IdentityKernel>("Identity", {1, 13, 14, 16});
  registry.add<ConstantKernel>("Constant", {1, 9, 11, 12, 13});
}

}  // namespace onnx_train
