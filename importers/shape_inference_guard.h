// A schema registry for ONNX's shape inference that refuses negative dimensions.
//
// ONNX 1.12's inference functions trust the shapes they are given. A Conv whose kernel is larger
// than its padded input is inferred to an output dimension below zero without complaint (13 rows
// of kernel on 8 + 2 padded rows give -2), and the next node's inference (a Reshape, an
// InstanceNormalization) then reads through that shape and dereferences null. Checking every op's
// attributes against its input beforehand would repeat ONNX's inference; instead each schema's
// inference function is wrapped: a node whose input arrives with a negative dimension, or whose
// inference writes one, stops the inference with InferenceRefused, naming the op and the shapes.
// So does a convolution whose weight's rank differs from its input's: ONNX's Conv inference
// takes the kernel's spatial sizes from the weight and reads that many input dimensions, past the
// end of a shorter input's (a QLinearConv of a [1, 1, 7] input and a [1, 1, 1, 1] weight).
#pragma once

#include <onnx/defs/schema.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace onnx_train {

// Thrown out of onnx::shape_inference::InferShapes (it is not an onnx::InferenceError, which
// ONNX's lenient error mode would swallow and carry on from).
class InferenceRefused : public std::runtime_error {
 public:
  InferenceRefused(const std::string& message, std::string op_type)
      : std::runtime_error(message), op_type(std::move(op_type)) {}
  std::string op_type;  // the node's op, to find it by in the graph
};

// The registry to pass to InferShapes in place of onnx::OpSchemaRegistry::Instance(): the same
// schemas, with guarded inference functions. Safe to use from several threads.
const onnx::ISchemaRegistry* guarded_schema_registry();

// Throws the model error for `e` out of the inference of `graph` (the model file `path`): ONNX's
// inference context does not name the node that stopped it; its op does, so the message lists
// the graph's nodes of that op.
[[noreturn]] void fail_on_refused_inference(const InferenceRefused& e, const onnx::GraphProto& graph,
                                             const std::string& path);

}  // namespace onnx_train
