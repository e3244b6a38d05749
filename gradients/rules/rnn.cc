// Gradient rules of the recurrent ops (LSTM, GRU, RNN).
#include "gradients/builder.h"
#include "gradients/rules/rules.h"

namespace onnx_train {

void add_rnn_gradient_rules(std::vector<GradRuleEntry>& rules) {}

}  // namespace onnx_train
