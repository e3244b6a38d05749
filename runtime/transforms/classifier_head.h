// A model edit for transfer learning: replacing a classifier's last layer with a fresh one
// for another number of classes (TrainingOptions::num_classes; the CLI's --num-classes).
//
// The head is the last fully connected layer feeding the chosen output: walking back from
// the output through ops that keep the class axis last (Identity, Dropout, Softmax,
// LogSoftmax, Sigmoid, Flatten, Squeeze), the first node must be one of
//   Gemm(x, W, b)                 W [K, M] (or [M, K] with transB = 1), b of M elements
//   Add(MatMul(x, W), b)          W [K, M], b [M]  (either Add operand order)
//   MatMul(x, W)                  W [K, M], no bias
// with W (and b) stored as initializers used by nothing else; W may also reach the MatMul
// through a Transpose (torch's export without constant folding: W [M, K]). The weight and
// bias keep their names and get shapes for N outputs, initialised as PyTorch initialises a
// new nn.Linear(K, N): every element uniform in [-1/sqrt(K), 1/sqrt(K)] (kaiming_uniform
// with a = sqrt(5) gives that bound for the weight). Value shapes between the head and the
// output are updated (their last dimension M becomes N).
#pragma once

#include <cstdint>
#include <string>

#include "runtime/ir/graph.h"

namespace onnx_train {

struct ReplacedHead {
  std::string node;     // the Gemm / MatMul node
  std::string weight;   // its weight initializer (same name, new shape)
  std::string bias;     // its bias initializer, or "" when it had none
  int64_t in_features = 0;
  int64_t old_classes = 0;
  int64_t new_classes = 0;
};

// Throws an OptionError about "num_classes" (onnx_train/error.h) naming the output and the
// node that stops the walk when no head is found, or when num_classes < 1.
ReplacedHead replace_classifier_head(Graph& graph, const std::string& output, int64_t num_classes, uint64_t seed);

}  // namespace onnx_train
