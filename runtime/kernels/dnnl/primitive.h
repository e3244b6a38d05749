// One oneDNN primitive bound to our plain row-major tensors, built once per shape and run
// with new data pointers, and the oneDNN descriptors of the window ops (convolution and
// pooling) with the one rule that turns ONNX's window (pads, auto_pad, ceil_mode, output
// size) into oneDNN's end padding. Used by conv.cc, conv_pool_grad.cc, pool.cc and
// normalization(_grad).cc.
//
// This is not a cache: each kernel keeps its primitives per input shape itself.
#pragma once

#include <initializer_list>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>
#include <vector>

#include "onnx_train/tensor.h"
#include "runtime/kernels/reference/conv_window.h"

namespace onnx_train {

// A oneDNN primitive with its arguments bound to our plain tensors. Each tensor argument has
// a user memory (our buffer, its handle set per run) and the memory the primitive uses: the
// same object when the primitive wants the plain layout, else a buffer of its own with a
// reorder in between (user -> buffer before an input is read, buffer -> user after an output
// is written). Internal arguments (workspace, scratch dst) are owned memory.
class DnnlPrimitive {
 public:
  explicit DnnlPrimitive(dnnl::primitive primitive) : primitive_(std::move(primitive)) {}

  // Adds a tensor argument whose buffer has layout `user_desc`, where the primitive wants
  // `wanted`; run() takes its data pointer at this argument's position.
  void bind(int arg, const dnnl::memory::desc& user_desc, const dnnl::memory::desc& wanted, bool output);
  // Adds a tensor argument the primitive takes in our plain layout `desc` (no reorder).
  void bind_plain(int arg, const dnnl::memory::desc& desc) { bind(arg, desc, desc, false); }
  // Adds an input the primitive only reads and whose values never change while its buffer
  // stays the same (a weight of an inference plan): reordered on the first run and again
  // only when run with another buffer, so the steady state skips the reorder.
  void bind_constant(int arg, const dnnl::memory::desc& user_desc, const dnnl::memory::desc& wanted);
  // Adds a tensor, laid out as `user_desc`, that the output bound to `dst_arg` (bound before)
  // starts from: copied or reordered into that output's memory before the primitive runs
  // (oneDNN's sum post-op, dst = op(...) + dst).
  void bind_accumulated(const dnnl::memory::desc& user_desc, int dst_arg);
  // Adds an internal argument.
  void own(int arg, const dnnl::memory& m) { internal_[arg] = m; }

  // Runs with data[i] the buffer of the i-th bound tensor argument (inputs are only read).
  void run(std::initializer_list<const float*> data) { run(data.begin(), data.size()); }
  void run(const std::vector<const float*>& data) { run(data.data(), data.size()); }

 private:
  void run(const float* const* data, size_t count);

  struct Operand {
    int arg = 0;
    bool output = false, reorder_needed = false;
    bool constant = false;        // bind_constant: reordered once per buffer
    const void* reordered = nullptr;  // constant: the buffer `used` holds the reorder of
    int accumulate_into = -1;     // bind_accumulated: index of the output operand it fills
    dnnl::memory user, used;
    dnnl::reorder reorder;
  };
  void load_input(Operand& t, dnnl::stream& stream);
  dnnl::primitive primitive_;
  std::vector<Operand> tensors_;
  std::unordered_map<int, dnnl::memory> internal_;
};

// oneDNN's end padding along one spatial axis of a window op with input size `in`, output
// size `out`, dilated kernel extent dk = (k - 1) * d + 1, stride s and begin padding
// pad_begin. oneDNN checks out = floor((in + pad_begin + pad_end - dk) / s) + 1, so with
//   least = (out - 1) * s + dk - in - pad_begin
// (the padding at which the last window ends at the padded end) every pad_end in
// [least, least + s) gives our output size and the same windows. `exact` returns least
// itself (a deconvolution, whose output size is (in - 1) * s + dk - pad_begin - pad_end
// exactly); otherwise the smallest non-negative value of the range where there is one, so
// that the padding ONNX's pads, auto_pad or ceil_mode imply is never handed over larger
// than the windows need.
int64_t dnnl_end_padding(int64_t in, int64_t out, int64_t dk, int64_t s, int64_t pad_begin, bool exact = false);

// The oneDNN form of a convolution src [N, I, in...] (*) weights -> dst [N, O, out...] with
// our plain weights w_shape [O, I / group, k...] (grouped: [group, O / group, I / group, k...]).
struct DnnlConvGeometry {
  Shape src, weights, dst;  // weights: oneDNN's (grouped) dims
  dnnl::memory::dims strides, dilates, pad_l, pad_r;

  DnnlConvGeometry(const Shape& src_shape, const Shape& w_shape, const Shape& dst_shape, int64_t group,
                   const WindowGeometry& g);

  // A descriptor of shape s with the layout left to oneDNN.
  static dnnl::memory::desc any(const Shape& s);
  // The forward descriptor (also the hint of the backward primitives); the bias is plain.
  // `attr`: post-ops a fused forward applies (FusedConv).
  dnnl::convolution_forward::primitive_desc forward_pd(bool with_bias,
                                                       const dnnl::primitive_attr& attr = dnnl::primitive_attr()) const;
};

// The pooling descriptor pieces of a window geometry over x [N, C, in...] (plain layouts).
struct DnnlPoolGeometry {
  dnnl::memory::desc src, dst;
  dnnl::memory::dims strides, kernel, dilation, pad_l, pad_r;

  DnnlPoolGeometry(const Shape& x_shape, const WindowGeometry& g);

  dnnl::pooling_v2_forward::primitive_desc forward_pd(dnnl::algorithm alg, dnnl::prop_kind prop) const;
  dnnl::pooling_v2_backward::primitive_desc backward_pd(dnnl::algorithm alg,
                                                        const dnnl::pooling_v2_forward::primitive_desc& hint) const;
};

}  // namespace onnx_train
