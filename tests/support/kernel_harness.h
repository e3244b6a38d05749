// Runs one kernel outside a graph, for kernel unit tests:
//
//   Node n = make_node("Gather", 13, 2, 1, {{"axis", Attribute::of_int(0)}});
//   std::vector<Tensor> out = run_node(n, {data, indices});
//   out = run_op("Gather", 13, {data, indices}, {{"axis", Attribute::of_int(0)}});  // the same
//
// An undefined Tensor in `inputs` is an omitted optional input. make_kernel throws Error
// when no kernel is registered for the node's (op, since_version), as a model would.
// Below those, the small tensor helpers the kernel tests share (with random_float32 and
// error_of from the headers included here).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/ir/graph.h"
#include "runtime/kernels/kernel.h"
#include "tests/support/expect_text.h"     // error_of
#include "tests/support/random_tensors.h"  // random_float32

namespace onnx_train::testing {

// A default-domain node named "test" with inputs in0.. and outputs out0..; since_version
// and opset are both `since_version`.
Node make_node(const std::string& op, int since_version, size_t num_inputs, size_t num_outputs = 1,
               std::map<std::string, Attribute> attributes = {});

// A node of a gradient op of the project's own domain (ai.onnx_train, version 1).
Node make_gradient_node(const std::string& op, size_t num_inputs, size_t num_outputs = 1,
                        std::map<std::string, Attribute> attributes = {});

std::unique_ptr<Kernel> make_kernel(const Node& node);

// Runs `kernel` once; returns every output (undefined where the kernel produced none).
std::vector<Tensor> run_kernel(Kernel& kernel, const Node& node, const std::vector<Tensor>& inputs);

// make_kernel + run_kernel.
std::vector<Tensor> run_node(const Node& node, const std::vector<Tensor>& inputs);

// make_node (one input per element of `inputs`) + run_node.
std::vector<Tensor> run_op(const std::string& op, int since_version, const std::vector<Tensor>& inputs,
                           std::map<std::string, Attribute> attributes = {}, size_t num_outputs = 1);

// A float64 copy of `t` (any numeric dtype), for comparing against the float64 reference path.
Tensor to_double(const Tensor& t);

}  // namespace onnx_train::testing
