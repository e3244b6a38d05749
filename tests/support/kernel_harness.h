// Runs one kernel outside a graph, for kernel unit tests:
//
//   Node n = make_node("Gather", 13, 2, 1, {{"axis", Attribute::of_int(0)}});
//   std::vector<Tensor> out = run_node(n, {data, indices});
//
// An undefined Tensor in `inputs` is an omitted optional input. make_kernel throws Error
// when no kernel is registered for the node's (op, since_version), as a model would.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/ir/graph.h"
#include "runtime/kernels/kernel.h"

namespace onnx_train::testing {

// A default-domain node named "test" with inputs in0.. and outputs out0..; since_version
// and opset are both `since_version`.
Node make_node(const std::string& op, int since_version, size_t num_inputs, size_t num_outputs = 1,
               std::map<std::string, Attribute> attributes = {});

std::unique_ptr<Kernel> make_kernel(const Node& node);

// Runs `kernel` once; returns every output (undefined where the kernel produced none).
std::vector<Tensor> run_kernel(Kernel& kernel, const Node& node, const std::vector<Tensor>& inputs);

// make_kernel + run_kernel.
std::vector<Tensor> run_node(const Node& node, const std::vector<Tensor>& inputs);

}  // namespace onnx_train::testing
