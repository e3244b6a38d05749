// One register function per op family; each lives in the family's own file.
#pragma once

namespace onnx_train {

class KernelRegistry;

void register_elementwise_kernels(KernelRegistry& registry);    // reference/elementwise.cc
void register_activation_kernels(KernelRegistry& registry);     // reference/activations.cc
void register_shape_kernels(KernelRegistry& registry);          // reference/shape_ops.cc
void register_indexing_kernels(KernelRegistry& registry);       // reference/indexing.cc
void register_reduction_kernels(KernelRegistry& registry);      // reference/reductions.cc
void register_softmax_loss_kernels(KernelRegistry& registry);   // reference/softmax_loss.cc
void register_linalg_kernels(KernelRegistry& registry);         // dnnl/matmul.cc
void register_conv_kernels(KernelRegistry& registry);           // dnnl/conv.cc
void register_pool_kernels(KernelRegistry& registry);           // dnnl/pool.cc
void register_normalization_kernels(KernelRegistry& registry);  // dnnl/normalization.cc
void register_rnn_kernels(KernelRegistry& registry);            // reference/rnn.cc
void register_resize_kernels(KernelRegistry& registry);         // reference/resize.cc
void register_vision_kernels(KernelRegistry& registry);         // reference/vision_ops.cc
void register_signal_kernels(KernelRegistry& registry);         // reference/signal_ops.cc
void register_quantization_kernels(KernelRegistry& registry);   // reference/quantization.cc
void register_misc_math_kernels(KernelRegistry& registry);      // reference/misc_math.cc (Unique, Det)
void register_random_kernels(KernelRegistry& registry);         // reference/random_ops.cc
// ai.onnx.preview.training Adagrad / Momentum / Adam: reference/training_optimizers.cc
void register_training_optimizer_kernels(KernelRegistry& registry);
void register_gradient_kernels(KernelRegistry& registry);            // reference/gradient_ops.cc (ai.onnx_train)
void register_conv_pool_grad_kernels(KernelRegistry& registry);      // dnnl/conv_pool_grad.cc (ai.onnx_train)
void register_normalization_grad_kernels(KernelRegistry& registry);  // dnnl/normalization_grad.cc (ai.onnx_train)
void register_loss_resize_grad_kernels(KernelRegistry& registry);    // reference/loss_resize_grad.cc (ai.onnx_train)
void register_indexing_grad_kernels(KernelRegistry& registry);       // reference/indexing_grad.cc (ai.onnx_train)
void register_rnn_grad_kernels(KernelRegistry& registry);            // reference/rnn_grad.cc (ai.onnx_train)
void register_activation_grad_kernels(KernelRegistry& registry);     // dnnl/activation_grad.cc (ai.onnx_train)
void register_matmul_grad_kernels(KernelRegistry& registry);         // dnnl/matmul_grad.cc (ai.onnx_train)

inline void register_all_kernels(KernelRegistry& registry) {
  register_elementwise_kernels(registry);
  register_activation_kernels(registry);
  register_shape_kernels(registry);
  register_indexing_kernels(registry);
  register_reduction_kernels(registry);
  register_softmax_loss_kernels(registry);
  register_linalg_kernels(registry);
  register_conv_kernels(registry);
  register_pool_kernels(registry);
  register_normalization_kernels(registry);
  register_rnn_kernels(registry);
  register_resize_kernels(registry);
  register_vision_kernels(registry);
  register_signal_kernels(registry);
  register_training_optimizer_kernels(registry);
  register_random_kernels(registry);
  register_quantization_kernels(registry);
  register_misc_math_kernels(registry);
  register_gradient_kernels(registry);
  register_conv_pool_grad_kernels(registry);
  register_normalization_grad_kernels(registry);
  register_loss_resize_grad_kernels(registry);
  register_indexing_grad_kernels(registry);
  register_rnn_grad_kernels(registry);
  register_activation_grad_kernels(registry);
  register_matmul_grad_kernels(registry);
}

}  // namespace onnx_train
