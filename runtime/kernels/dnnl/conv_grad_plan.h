// The oneDNN half of ConvGrad: backward data and backward weights of one convolution
// geometry as one plan, built once per shape, that shares the reordered operands between
// the two primitives (conv_pool_grad.cc runs it for ConvGrad, and its weights part for
// ConvTransposeGrad's dW; the references stay there).
//
// Both primitives take format_tag::any, hinted by one forward descriptor, so oneDNN picks
// its blocked layouts (nChw16c and friends; jit_1x1, jit and jit_dw implementations). Our
// tensors are plain row-major, so diff_dst is reordered into the layout the primitives
// want once per call, not once per primitive (backward data and backward weights want the
// same layout for every geometry we have met; where they do not, each gets its own copy),
// and src, weights, diff_src and diff_weights once each (depthwise weights gradients that
// the blocked path would hand to gemm take nhwc copies instead: see build_weights). The
// bias gradient comes from the backward-weights pass (one read of diff_dst for dW and dB).
// Layouts by measurement (MobileNetV2, ResNet-18 and LeNet shapes, one thread, reorders
// included): the blocked layouts beat plain nchw (oneDNN's gemm convolution) on every
// dense 3x3 and depthwise convolution (depthwise on nchw is 5-50x slower) and on the first
// layers (C = 1 or 3, dW only); pointwise convolutions on 16x16 and smaller images go
// either way within noise; nhwc needs the same reorders and was faster only where the
// blocked depthwise weights gradient is missing.
#pragma once

#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>
#include <vector>

#include "runtime/kernels/dnnl/primitive.h"

namespace onnx_train {

class ConvGradPlan {
 public:
  // The plan of the wanted gradients of geometry c (src [N, C, in...], weights as
  // DnnlConvGeometry has them, dst [N, M, out...]); has_data() / has_weights() say which
  // parts oneDNN accepted (the caller runs a reference for the others).
  ConvGradPlan(const DnnlConvGeometry& c, bool want_dx, bool want_dw, bool want_db);

  bool has_data() const { return static_cast<bool>(data_); }
  bool has_weights() const { return static_cast<bool>(weights_); }

  // dx [N, C, in...] when has_data(); dw (weights' plain shape) and db [M] (when wanted)
  // when has_weights(); the other pointers may be null. Waits for the results.
  void run(const float* dy, const float* x, const float* w, float* dx, float* dw, float* db);

 private:
  // One plain tensor of ours and the memory a primitive reads or writes in its place:
  // the same object when the layouts agree, else an owned buffer and a reorder.
  struct Operand {
    dnnl::memory user, used;
    bool reorder_needed = false;
    dnnl::reorder reorder;
  };
  Operand& stage(const dnnl::memory& user, const dnnl::memory::desc& wanted, bool output);
  void build_data(const DnnlConvGeometry& c, const dnnl::convolution_forward::primitive_desc& hint);
  void build_weights(const DnnlConvGeometry& c, bool want_db);

  dnnl::memory dy_, x_, w_, dx_, dw_, db_;                  // our plain tensors, handles set per run
  std::vector<std::unique_ptr<Operand>> inputs_, outputs_;  // reordered before / after
  std::unique_ptr<dnnl::primitive> data_, weights_;
  std::unordered_map<int, dnnl::memory> data_args_, weights_args_;
};

}  // namespace onnx_train
