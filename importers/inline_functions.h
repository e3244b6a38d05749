// Inlining a model's local functions (ModelProto.functions) into its graph, at load.
//
// onnxscript and torch's dynamo exporter write parts of a model as FunctionProtos; a node whose
// (domain, op_type) names one is a call of it. load_onnx_model replaces every call by the
// function's body before ONNX's checker and shape inference run, so that the rest of the runtime
// sees plain ONNX ops only. This is not an export of functions: a model saved after loading holds
// the inlined graph.
#pragma once

#include <string>

namespace onnx {
class ModelProto;
}  // namespace onnx

namespace onnx_train {

// The most nodes a model may have once its calls are inlined; more (an exponential expansion,
// f calling g twice, g calling h twice, ...) is refused before anything is built.
inline constexpr long long kMaxInlinedNodes = 1000000;
// The deepest chain of calls (a function calling a function calling ...) that is inlined.
inline constexpr int kMaxFunctionNesting = 64;

// Replaces every call of a model-local function in `model`'s graph (and in the If/Loop/Scan
// bodies of its nodes) by the function's body, nested calls included:
//   - the function's inputs are bound to the call's inputs (an omitted input is the empty name),
//     its outputs to the call's outputs (outputs the call does not name are left unused), and
//     every other value and node of the body gets a new name, the call's name as prefix, that
//     no other name in the model has;
//   - a body attribute that refers to an attribute of the function (ref_attr_name) takes the
//     call's value of it, and is dropped when the call does not give it (ONNX 1.12's
//     FunctionProto has no defaults);
// then empties ModelProto.functions (a function never called is simply dropped) and removes the
// opset imports of function domains that no node uses any more. Returns the number of calls
// inlined. Throws one Error naming `path` for: recursion (the chain, "custom.f -> custom.g ->
// custom.f"), nesting deeper than kMaxFunctionNesting, more than kMaxInlinedNodes nodes after
// inlining, a call with more inputs or outputs than its function declares, a function whose
// default-domain opset differs from the model's, two functions of one name, and a subgraph
// attribute inside a function body (not supported).
int inline_local_functions(onnx::ModelProto& model, const std::string& path);

}  // namespace onnx_train
