// The one graph editor (runtime/ir/editor.h).
#include "runtime/ir/editor.h"

#include <algorithm>
#include <cstring>

namespace onnx_train {

Tensor scalar_tensor(DType dtype, double value) {
  switch (dtype) {
    case DType::Float32: return Tensor::scalar<float>(static_cast<float>(value));
    case DType::Float64: return Tensor::scalar<double>(value);
    case DType::Int32: return Tensor::scalar<int32_t>(static_cast<int32_t>(value));
    case DType::Int64: return Tensor::scalar<int64_t>(static_cast<int64_t>(value));
    case DType::Bool: return Tensor::scalar<bool>(value != 0);
    default: OT_FAIL("a scalar constant of element type {} is not supported", dtype_name(dtype));
  }
}

GraphEditor::GraphEditor(Graph& graph, std::string context, std::string node_prefix, ConstantForm constants)
    : graph_(graph), context_(std::move(context)), node_prefix_(std::move(node_prefix)), constants_(constants) {
  for (const auto& name : value_names(graph_)) names_.insert(name);
  for (const Node& n : graph_.nodes)
    if (!n.name.empty()) names_.insert(n.name);
}

std::string GraphEditor::fresh(const std::string& hint) {
  std::string name = hint;
  if (taken(name)) {
    // Suffixes below next_suffix_[hint] were all taken when last tried, and names are never
    // given back: the first free one is found without trying them again.
    int& k = next_suffix_.emplace(hint, 1).first->second;
    do name = fmt::format("{}_{}", hint, k++);
    while (taken(name));
  }
  names_.insert(name);
  return name;
}

Node& GraphEditor::add(const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs,
                       std::map<std::string, Attribute> attributes, const std::string& domain, std::string name) {
  Node node;
  node.op_type = op;
  node.domain = domain;
  node.name = name.empty() ? fresh(node_prefix_ + op) : std::move(name);
  node.opset = opset(domain);
  node.since_version = schema_version(op, node.opset, domain);
  OT_CHECK(node.since_version > 0, "{}: ONNX has no op {} at opset {}", context_,
           domain.empty() ? op : domain + "." + op, node.opset);
  for (const auto& o : outputs)
    if (!o.empty()) names_.insert(o);
  node.inputs = std::move(inputs);
  node.outputs = std::move(outputs);
  node.attributes = std::move(attributes);
  graph_.nodes.push_back(std::move(node));
  ++nodes_added_;
  return graph_.nodes.back();
}

std::string GraphEditor::add1(const std::string& op, std::vector<std::string> inputs, const std::string& output,
                              std::map<std::string, Attribute> attributes, const std::string& domain) {
  add(op, std::move(inputs), {output}, std::move(attributes), domain);
  return output;
}

void GraphEditor::set_type(const std::string& value, DType dtype, std::optional<Shape> shape) {
  ValueInfo info;
  info.name = value;
  info.dtype = dtype;
  info.shape = std::move(shape);
  graph_.value_info[value] = std::move(info);
}

int GraphEditor::rank_of(const std::string& value) const {
  const auto shape = shape_of(value);
  return shape ? static_cast<int>(shape->size()) : -1;
}

void GraphEditor::set_initializer(const std::string& name, Tensor value) {
  if (auto it = graph_.value_info.find(name); it != graph_.value_info.end()) {
    it->second.dtype = value.dtype();
    it->second.shape = value.shape();
  }
  reserve(name);
  graph_.initializers[name] = std::move(value);
}

std::string GraphEditor::constant(Tensor value, const std::string& hint) {
  const std::string name = fresh(hint);
  if (constants_ == ConstantForm::Initializer) {
    graph_.initializers[name] = std::move(value);
    return name;
  }
  set_type(name, value.dtype(), value.shape());
  return add1("Constant", {}, name, {{"value", Attribute::of_tensor(std::move(value))}});
}

std::string GraphEditor::ints(const std::vector<int64_t>& values, const std::string& hint) {
  return constant(Tensor::from<int64_t>({static_cast<int64_t>(values.size())}, values), hint);
}

std::string GraphEditor::with_axes(const std::string& op, const std::string& v, const std::vector<int64_t>& axes,
                                   int input_from, std::map<std::string, Attribute> attributes,
                                   const std::string& output) {
  if (opset() >= input_from)
    return axes.empty() ? add1(op, {v}, output, std::move(attributes))
                        : add1(op, {v, ints(axes, output + "/axes")}, output, std::move(attributes));
  if (!axes.empty()) attributes["axes"] = Attribute::of_ints(axes);
  return add1(op, {v}, output, std::move(attributes));
}

std::string GraphEditor::unsqueeze(const std::string& v, const std::vector<int64_t>& axes, const std::string& output) {
  return with_axes("Unsqueeze", v, axes, 13, {}, output);
}

std::string GraphEditor::squeeze(const std::string& v, const std::vector<int64_t>& axes, const std::string& output) {
  return with_axes("Squeeze", v, axes, 13, {}, output);
}

std::string GraphEditor::reduce(const std::string& op, const std::string& v, const std::vector<int64_t>& axes,
                                bool keepdims, const std::string& output) {
  return with_axes(op, v, axes, op == "ReduceSum" ? 13 : 18, {{"keepdims", Attribute::of_int(keepdims ? 1 : 0)}},
                   output);
}

std::string GraphEditor::clip(const std::string& v, double low, double high, DType dtype, const std::string& output) {
  if (opset() >= 11)
    return add1("Clip",
                {v, constant(scalar_tensor(dtype, low), output + "/min"),
                 constant(scalar_tensor(dtype, high), output + "/max")},
                output);
  // Clip-6 takes the bounds as float attributes.
  return add1(
      "Clip", {v}, output,
      {{"min", Attribute::of_float(static_cast<float>(low))}, {"max", Attribute::of_float(static_cast<float>(high))}});
}

std::string GraphEditor::filled_like(const std::string& like, double value, const std::string& output) {
  const DType dtype = dtype_of(like);
  OT_CHECK(dtype != DType::Undefined, "{}: the element type of '{}' is unknown", context_, like);
  auto filled = [&](const Shape& shape) {
    Tensor t(dtype, shape);
    const Tensor one = scalar_tensor(dtype, value);
    const size_t size = dtype_size(dtype);
    for (int64_t i = 0; i < t.numel(); ++i)
      std::memcpy(static_cast<char*>(t.raw_data()) + i * size, one.raw_data(), size);
    return t;
  };
  const auto shape = shape_of(like);
  if (shape && std::all_of(shape->begin(), shape->end(), [](int64_t d) { return d >= 0; }))
    return add1("Constant", {}, output, {{"value", Attribute::of_tensor(filled(*shape))}});
  if (opset() >= 9)
    return add1("ConstantOfShape", {add1("Shape", {like}, fresh(like + "_shape"))}, output,
                {{"value", Attribute::of_tensor(filled({1}))}});
  // ConstantOfShape needs opset 9: like * 0 + value.
  const std::string zeros = add1("Mul", {like, constant(scalar_tensor(dtype, 0), "zero")}, fresh(like + "_zeros"));
  return add1("Add", {zeros, constant(scalar_tensor(dtype, value), "value")}, output);
}

}  // namespace onnx_train
