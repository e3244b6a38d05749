// The project domain's bitwise ops (BitwiseAnd/Or/Xor/Not, the lowered form of ONNX's opset-18
// ops: runtime/kernels/reference/bitwise.cc) take and give integers: no gradient flows
// through them, which these rows say explicitly.
#include "gradients/builder.h"
#include "gradients/rules/registry.h"

namespace onnx_train {

ONNX_TRAIN_GRADIENT_RULES(bitwise) {
  for (const char* op : {"BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot"})
    rules.push_back({kGradientDomain, op, {}, nullptr});
}

}  // namespace onnx_train
