// Gradient rules of the recurrent ops (LSTM, GRU, RNN).
//
// Backpropagation through time is one fused op per cell kind in the project's domain
// (LSTMGrad, GRUGrad, RNNGrad; kernels and math in runtime/kernels/dnnl/rnn_grad.cc).
// The op takes the forward node's inputs and the gradients of its outputs and recomputes
// the per-step gates and states itself, so nothing travels from the forward kernel but the
// graph values.
#include "gradients/builder.h"
#include "gradients/rules/registry.h"

namespace onnx_train {

namespace {

// LSTM (inputs X W R B sequence_lens initial_h initial_c P; outputs Y Y_h Y_c), GRU and RNN
// (inputs X W R B sequence_lens initial_h; outputs Y Y_h):
//   <Op>Grad(forward inputs..., dY, dY_h[, dY_c]) -> dX, dW, dR, dB, dinitial_h[, dinitial_c, dP]
// with the forward attributes; every gradient has its input's shape (X [S, B, I] or
// [B, S, I] with layout 1, W [D, G*H, I], R [D, G*H, H], B [D, 2*G*H], states [D, B, H] or
// [B, D, H], P [D, 3*H]). Omitted inputs and absent output gradients are passed as "".
// sequence_lens (input 4) gets no gradient. Gradients nobody wants are omitted outputs.
void recurrent_grad(GradContext& g, const char* grad_op, size_t num_inputs, size_t num_outputs) {
  const Node& n = g.node();
  std::vector<std::string> inputs;
  for (size_t i = 0; i < num_inputs; ++i) inputs.push_back(i < n.inputs.size() ? n.inputs[i] : std::string());
  for (size_t k = 0; k < num_outputs; ++k) inputs.push_back(g.dy(k));
  // Forward input index of each gradient output.
  const std::vector<size_t> input_of =
      num_inputs == 8 ? std::vector<size_t>{0, 1, 2, 3, 5, 6, 7} : std::vector<size_t>{0, 1, 2, 3, 5};
  std::vector<bool> wanted;
  bool any = false;
  for (size_t input : input_of) {
    wanted.push_back(g.wants_dx(input));
    any |= wanted.back();
  }
  if (!any) return;
  const std::vector<std::string> grads = g.emit_optional(grad_op, inputs, wanted, n.attributes, kGradientDomain);
  for (size_t j = 0; j < input_of.size(); ++j)
    if (wanted[j]) g.set_dx(input_of[j], grads[j]);
}

void lstm_grad(GradContext& g) { recurrent_grad(g, "LSTMGrad", 8, 3); }
void gru_grad(GradContext& g) { recurrent_grad(g, "GRUGrad", 6, 2); }
void rnn_grad(GradContext& g) { recurrent_grad(g, "RNNGrad", 6, 2); }

}  // namespace

ONNX_TRAIN_GRADIENT_RULES(rnn) {
  rules.push_back({"", "LSTM", {7, 14}, lstm_grad});
  rules.push_back({"", "GRU", {7, 14}, gru_grad});
  rules.push_back({"", "RNN", {7, 14}, rnn_grad});
}

}  // namespace onnx_train
