#include "importers/shape_inference_guard.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "onnx_train/error.h"

namespace onnx_train {

namespace {

// "[1, 8, -2, 8]" (a symbolic or unknown dimension as "?"), or "" when the type has no tensor
// shape with a negative dimension.
std::string negative_shape(const onnx::TypeProto* type) {
  if (type == nullptr) return "";
  const onnx::TensorShapeProto* shape = nullptr;
  if (type->has_tensor_type() && type->tensor_type().has_shape()) shape = &type->tensor_type().shape();
  if (type->has_sparse_tensor_type() && type->sparse_tensor_type().has_shape())
    shape = &type->sparse_tensor_type().shape();
  if (shape == nullptr) return "";
  bool negative = false;
  std::vector<std::string> dims;
  for (const auto& d : shape->dim()) {
    negative = negative || (d.has_dim_value() && d.dim_value() < 0);
    dims.push_back(d.has_dim_value() ? std::to_string(d.dim_value()) : "?");
  }
  return negative ? fmt::format("[{}]", fmt::join(dims, ", ")) : "";
}

// The rank of a tensor type with a shape, or -1.
int known_rank(const onnx::TypeProto* type) {
  if (type == nullptr || !type->has_tensor_type() || !type->tensor_type().has_shape()) return -1;
  return type->tensor_type().shape().dim_size();
}

// The convolutions whose inference reads the weight's dimensions against the input's rank (the
// kernel's spatial sizes from W's trailing dimensions, the output channels from W's leading
// ones): the positions of the input and the weight.
const std::map<std::string, std::pair<size_t, size_t>>& convolution_inputs() {
  static const std::map<std::string, std::pair<size_t, size_t>> inputs{
      {"Conv", {0, 1}}, {"ConvInteger", {0, 1}}, {"ConvTranspose", {0, 1}}, {"QLinearConv", {0, 3}}};
  return inputs;
}

// Refuses a convolution whose weight's rank is not its input's (see the header).
void check_convolution_ranks(onnx::InferenceContext& ctx, const std::string& op, int since_version) {
  const auto it = convolution_inputs().find(op);
  if (it == convolution_inputs().end()) return;
  const auto [x, w] = it->second;
  if (x >= ctx.getNumInputs() || w >= ctx.getNumInputs()) return;
  const int x_rank = known_rank(ctx.getInputType(x)), w_rank = known_rank(ctx.getInputType(w));
  if (w_rank < 0 || (x_rank < 0 && w_rank >= 2) || x_rank == w_rank) return;
  throw InferenceRefused(
      fmt::format("a {}-{} node's weight (input {}) has rank {}, but its input (input {}) has rank {}; the weight "
                  "must be [M, C / group, k1, ...] with one kernel dimension per spatial axis of the input",
                  op, since_version, w, w_rank, x, x_rank < 0 ? std::string("unknown") : std::to_string(x_rank)),
      op);
}

onnx::InferenceFunction guarded(onnx::InferenceFunction infer, const std::string& op, int since_version) {
  return [infer = std::move(infer), op, since_version](onnx::InferenceContext& ctx) {
    for (size_t i = 0; i < ctx.getNumInputs(); ++i) {
      const std::string shape = negative_shape(ctx.getInputType(i));
      if (!shape.empty())
        throw InferenceRefused(fmt::format("a {}-{} node's input {} has the shape {}, with a negative dimension", op,
                                            since_version, i, shape),
                                op);
    }
    check_convolution_ranks(ctx, op, since_version);
    infer(ctx);
    for (size_t i = 0; i < ctx.getNumOutputs(); ++i) {
      const std::string shape = negative_shape(ctx.getOutputType(i));
      if (!shape.empty())
        throw InferenceRefused(fmt::format(
            "a {}-{} node computes its output {} with the shape {}, a negative dimension (for a convolution or "
            "pooling: a kernel larger than its padded input; check kernel_shape, pads, strides and dilations "
            "against the input's shape)",
            op, since_version, i, shape),
        op);
    }
  };
}

class GuardedRegistry final : public onnx::ISchemaRegistry {
 public:
  const onnx::OpSchema* GetSchema(const std::string& key, const int max_inclusive_version,
                                  const std::string& domain) const override {
    const onnx::OpSchema* schema = onnx::OpSchemaRegistry::Schema(key, max_inclusive_version, domain);
    if (schema == nullptr || !schema->has_type_and_shape_inference_function()) return schema;
    std::lock_guard<std::mutex> lock(mutex_);
    auto& copy = copies_[schema];  // one guarded copy per schema, kept for the process
    if (!copy) {
      copy = std::make_unique<onnx::OpSchema>(*schema);
      copy->TypeAndShapeInferenceFunction(
          guarded(schema->GetTypeAndShapeInferenceFunction(), schema->Name(), schema->SinceVersion()));
    }
    return copy.get();
  }

 private:
  mutable std::mutex mutex_;
  mutable std::map<const onnx::OpSchema*, std::unique_ptr<onnx::OpSchema>> copies_;
};

}  // namespace

const onnx::ISchemaRegistry* guarded_schema_registry() {
  static const GuardedRegistry registry;
  return &registry;
}

void fail_on_refused_inference(const InferenceRefused& e, const onnx::GraphProto& graph, const std::string& path) {
  std::vector<std::string> nodes;
  for (int i = 0; i < graph.node_size(); ++i)
    if (graph.node(i).op_type() == e.op_type)
      nodes.push_back(graph.node(i).name().empty() ? fmt::format("#{} (unnamed)", i)
                                                   : fmt::format("'{}'", graph.node(i).name()));
  const size_t shown = std::min<size_t>(nodes.size(), 5);
  OT_FAIL_AS(ErrorCategory::Model, "{}: ONNX shape inference stopped: {}{}", path, e.what(),
             nodes.empty() ? std::string()
                           : fmt::format(" (the {} nodes: {}{})", e.op_type,
                                         fmt::join(nodes.begin(), nodes.begin() + static_cast<long>(shown), ", "),
                                         nodes.size() > shown ? ", ..." : ""));
}

}  // namespace onnx_train
