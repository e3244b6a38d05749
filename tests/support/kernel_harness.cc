#include "tests/support/kernel_harness.h"

#include <algorithm>

namespace onnx_train::testing {

Node make_node(const std::string& op, int since_version, size_t num_inputs, size_t num_outputs,
               std::map<std::string, Attribute> attributes) {
  Node node;
  node.name = "test";
  node.op_type = op;
  node.since_version = since_version;
  node.opset = since_version;
  for (size_t i = 0; i < num_inputs; ++i) node.inputs.push_back("in" + std::to_string(i));
  for (size_t i = 0; i < num_outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  node.attributes = std::move(attributes);
  return node;
}

Node make_gradient_node(const std::string& op, size_t num_inputs, size_t num_outputs,
                        std::map<std::string, Attribute> attributes) {
  Node node = make_node(op, 1, num_inputs, num_outputs, std::move(attributes));
  node.domain = kProjectDomain;
  return node;
}

std::unique_ptr<Kernel> make_kernel(const Node& node) {
  const KernelFactory* factory = KernelRegistry::global().find(node.domain, node.op_type, node.since_version);
  OT_CHECK(factory != nullptr, "no kernel registered for {}-{}", node.op_type, node.since_version);
  KernelInfo info{node, std::vector<const ValueInfo*>(node.inputs.size(), nullptr)};
  return (*factory)(info);
}

std::vector<Tensor> run_kernel(Kernel& kernel, const Node& node, const std::vector<Tensor>& inputs) {
  std::vector<const Tensor*> pointers;
  for (const Tensor& t : inputs) pointers.push_back(t.defined() ? &t : nullptr);
  std::vector<Tensor> outputs(node.outputs.size());
  KernelContext ctx(node, std::move(pointers), outputs, nullptr);
  kernel.run(ctx);
  return outputs;
}

std::vector<Tensor> run_node(const Node& node, const std::vector<Tensor>& inputs) {
  auto kernel = make_kernel(node);
  return run_kernel(*kernel, node, inputs);
}

std::vector<Tensor> run_op(const std::string& op, int since_version, const std::vector<Tensor>& inputs,
                           std::map<std::string, Attribute> attributes, size_t num_outputs) {
  Node node = make_node(op, since_version, inputs.size(), num_outputs, std::move(attributes));
  // As in a model, an omitted optional input has an empty name.
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].defined()) node.inputs[i].clear();
  return run_node(node, inputs);
}

Tensor to_double(const Tensor& t) {
  Tensor out(DType::Float64, t.shape());
  const std::vector<double> values = t.to_doubles();
  std::copy(values.begin(), values.end(), out.data<double>());
  return out;
}

}  // namespace onnx_train::testing
