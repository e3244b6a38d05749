// Classifier-head replacement (runtime/transforms/classifier_head.h).
#include "runtime/transforms/classifier_head.h"

#include <cmath>
#include <map>
#include <random>
#include <set>

#include "runtime/ir/editor.h"
#include "runtime/transforms/weight_init.h"

namespace onnx_train {

namespace {

bool is_float_initializer(const Graph& g, const std::string& name) {
  auto it = g.initializers.find(name);
  return it != g.initializers.end() && dtype_is_float(it->second.dtype());
}

// The head node found by walking back from the output, with where its weight and bias are.
struct Head {
  const Node* node = nullptr;
  std::string weight, bias;
  bool weight_transposed = false;  // W is [M, K] (Gemm transB = 1, or MatMul through Transpose)
  std::vector<std::string> path;   // values from the head's output to the graph output
};

Head find_head(const Graph& g, const std::string& output) {
  static const std::set<std::string> kPassThrough = {"Identity", "Dropout", "Softmax", "LogSoftmax",
                                                     "Sigmoid",  "Flatten", "Squeeze"};
  Head head;
  std::string value = output;
  while (true) {
    head.path.push_back(value);
    const Node* n = g.producer_of(value);
    OT_CHECK_OPTION(n != nullptr, "num_classes",
                    "output '{}' comes from '{}', which no node computes; there is no classifier layer to replace",
                    output, value);
    if (n->domain.empty() && kPassThrough.count(n->op_type)) {
      value = n->inputs.at(0);
      continue;
    }
    auto matmul_weight = [&](const Node& mm) {
      const std::string& b = mm.inputs.at(1);
      if (is_float_initializer(g, b)) return std::pair{b, false};
      const Node* t = g.producer_of(b);
      if (t != nullptr && t->op_type == "Transpose" && is_float_initializer(g, t->inputs.at(0)) && g.uses_of(b) == 1)
        return std::pair{t->inputs.at(0), true};
      return std::pair{std::string(), false};
    };
    if (n->op_type == "Gemm" && is_float_initializer(g, n->inputs.at(1))) {
      head.node = n;
      head.weight = n->inputs[1];
      head.weight_transposed = n->attr_int("transB", 0) != 0;
      if (n->inputs.size() > 2 && !n->inputs[2].empty()) head.bias = n->inputs[2];
    } else if (n->op_type == "MatMul") {
      head.node = n;
      std::tie(head.weight, head.weight_transposed) = matmul_weight(*n);
      if (head.weight_transposed) head.path.push_back(n->inputs[1]);  // W^T [K, M]
    } else if (n->op_type == "Add") {
      for (int side = 0; side < 2 && head.node == nullptr; ++side) {
        const Node* mm = g.producer_of(n->inputs.at(side));
        if (mm == nullptr || mm->op_type != "MatMul" || !is_float_initializer(g, n->inputs.at(1 - side))) continue;
        head.node = mm;
        std::tie(head.weight, head.weight_transposed) = matmul_weight(*mm);
        head.bias = n->inputs[1 - side];
        head.path.push_back(mm->outputs[0]);
        if (head.weight_transposed) head.path.push_back(mm->inputs[1]);
      }
    }
    OT_CHECK_OPTION(head.node != nullptr && !head.weight.empty(), "num_classes",
                    "output '{}' is computed by {} ({}), not by a fully connected layer (Gemm, or MatMul with an "
                    "optional Add of a bias, weights stored as initializers); there is no classifier layer to replace",
                    output, n->label(), n->op_type);
    return head;
  }
}

}  // namespace

ReplacedHead replace_classifier_head(Graph& graph, const std::string& output_name, int64_t num_classes, uint64_t seed) {
  OT_CHECK_OPTION(num_classes >= 1, "num_classes", "{}: a classifier needs at least 1 class", num_classes);
  const std::string output = output_name.empty() ? graph.outputs.at(0).name : output_name;
  const Head head = find_head(graph, output);
  const Tensor& weight = graph.initializers.at(head.weight);
  OT_CHECK_OPTION(weight.rank() == 2, "num_classes", "the weight '{}' of {} is {}; a classifier layer's weight is 2-D",
                  head.weight, head.node->label(), weight.describe());
  const int64_t in_features = head.weight_transposed ? weight.dim(1) : weight.dim(0);
  const int64_t old_classes = head.weight_transposed ? weight.dim(0) : weight.dim(1);
  OT_CHECK_OPTION(graph.uses_of(head.weight) == 1, "num_classes", "the weight '{}' is shared with other layers",
                  head.weight);
  if (!head.bias.empty()) {
    const Tensor& bias = graph.initializers.at(head.bias);
    OT_CHECK_OPTION(bias.numel() == old_classes && graph.uses_of(head.bias) == 1, "num_classes",
                    "the bias '{}' of {} is {}, not a bias of {} classes used by that layer only", head.bias,
                    head.node->label(), bias.describe(), old_classes);
  }

  // PyTorch's nn.Linear(K, N) initialisation: weight and bias uniform in +-1/sqrt(K).
  std::mt19937_64 rng(seed ^ 0x6865616400000000ull);
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  const Shape weight_shape = head.weight_transposed ? Shape{num_classes, in_features} : Shape{in_features, num_classes};
  GraphEditor e(graph, "classifier head");
  e.set_initializer(head.weight, uniform_tensor(weight.dtype(), weight_shape, bound, rng));
  if (!head.bias.empty()) {
    Shape bias_shape = graph.initializers.at(head.bias).shape();
    for (auto& d : bias_shape) d = d == old_classes ? num_classes : d;
    e.set_initializer(head.bias, uniform_tensor(graph.initializers.at(head.bias).dtype(), bias_shape, bound, rng));
  }
  // Value shapes: the class axis (last) changes on the path.
  auto fix = [&](ValueInfo& v) {
    if (v.shape && !v.shape->empty() && v.shape->back() == old_classes) v.shape->back() = num_classes;
  };
  for (const auto& value : head.path) {
    auto it = graph.value_info.find(value);
    if (it != graph.value_info.end()) fix(it->second);
    for (auto& out : graph.outputs) {
      if (out.name == value) fix(out);
    }
  }
  return {head.node->name, head.weight, head.bias, in_features, old_classes, num_classes};
}

}  // namespace onnx_train
