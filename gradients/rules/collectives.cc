// Gradient rules of the collective ops in the project's own domain (the kernels:
// runtime/kernels/reference/collectives.cc).
#include "gradients/builder.h"
#include "gradients/rules/registry.h"

namespace onnx_train {

namespace {

// y = sum over ranks r of x_r, and every rank's loss reads y, so
//   dL/dx_r = sum over ranks s of dL_s/dy = AllReduceSum(dY), same group.
// (L is the sum of the ranks' losses; averaging the parameter gradients over ranks, as the
// data-parallel step does, makes it their mean.)
void all_reduce_sum_grad(GradContext& g) {
  g.set_dx(0, g.emit("AllReduceSum", {g.dy(0)}, {{"group", Attribute::of_int(g.node().attr_int("group"))}},
                     kGradientDomain));
}

}  // namespace

ONNX_TRAIN_GRADIENT_RULES(collectives) { rules.push_back({kGradientDomain, "AllReduceSum", {1}, all_reduce_sum_grad}); }

}  // namespace onnx_train
