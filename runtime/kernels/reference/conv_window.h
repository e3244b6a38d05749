// Sliding-window geometry shared by Conv, ConvTranspose and the pooling ops (conv.cc,
// pool.cc, conv_ref.cc, pool_ref.cc): reading the window attributes (kernel_shape,
// strides, dilations, pads, auto_pad, ceil_mode), the ONNX rules that turn them and an
// input shape into output sizes and padding, and the window walk of the reference loops.
//
// Rules (per spatial axis; in = input size, k = kernel, s = stride, d = dilation,
// dk = (k - 1) * d + 1 the dilated kernel extent):
//   NOTSET:     out = floor((in + pad_begin + pad_end - dk) / s) + 1
//               (ceil instead of floor with ceil_mode; a last window that would start
//                inside the end padding, (out - 1) * s >= in + pad_begin, is dropped)
//   SAME_*:     out = ceil(in / s), total = max(0, (out - 1) * s + dk - in) split in two;
//               the odd element goes to the end for SAME_UPPER, to the start for SAME_LOWER
//   VALID:      no padding, out = floor((in - dk) / s) + 1
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "onnx_train/tensor.h"
#include "runtime/ir/graph.h"

namespace onnx_train {

enum class AutoPad { NotSet, SameUpper, SameLower, Valid };

// The window attributes as written on a node. An empty vector means "not given": its
// default (ones, zeros, or the kernel from W) applies once the spatial rank is known.
struct WindowAttrs {
  AutoPad auto_pad = AutoPad::NotSet;
  std::vector<int64_t> kernel_shape, strides, dilations, pads;
  bool ceil_mode = false;
};

// Reads and checks the attributes of `node` (values positive, pads non-negative, lengths
// consistent). `with_dilations` / `with_ceil_mode`: whether the node's schema version has
// those attributes; when it does not they keep their defaults.
WindowAttrs read_window_attrs(const Node& node, bool with_dilations, bool with_ceil_mode);

// The resolved geometry for one input shape, per spatial axis.
struct WindowGeometry {
  std::vector<int64_t> kernel, strides, dilations, pads_begin, pads_end, out;
  size_t rank() const { return kernel.size(); }
};

// Conv and pooling: output sizes and padding for input spatial sizes `in` and the kernel
// `kernel` (the kernel_shape attribute, or W's spatial dims for Conv). Throws an error
// naming the node when the attributes do not fit the input.
WindowGeometry forward_window_geometry(const Node& node, const WindowAttrs& attrs, const Shape& in,
                                       const std::vector<int64_t>& kernel);

// The attribute vector `values` (length `rank`), or `fallback` repeated when it was not
// given; throws naming the node and attribute when the length is wrong.
std::vector<int64_t> window_attr_or(const Node& node, const char* name, const std::vector<int64_t>& values, size_t rank,
                                    int64_t fallback);

// The kernel extent of a Conv/ConvTranspose weight W [M, C, k...], checked against the
// kernel_shape attribute when it is given.
std::vector<int64_t> kernel_of(const Node& node, const WindowAttrs& attrs, const Tensor& w);

// MaxUnpool's unpooled shape of X [N, C, spatial...] without output_shape:
// (in - 1) * stride + kernel - pad_begin - pad_end per spatial axis (each must be positive).
Shape unpooled_shape(const Node& node, const WindowAttrs& attrs, const Tensor& x);

// The geometry widened to three spatial axes (leading axes of size 1, kernel 1, stride 1,
// dilation 1, no padding), so that the reference loops have a fixed depth.
struct Window3 {
  int64_t in[3], out[3], kernel[3], stride[3], dilation[3], pad[3];
  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t kernel_size() const { return kernel[0] * kernel[1] * kernel[2]; }
};
// `in`: the input's spatial sizes (1 to 3 axes).
Window3 to_window3(const Shape& in, const WindowGeometry& g);

// The taps of one window of the reference loops: for every kernel offset (j0, j1, j2) whose
// position at[a] = s[a] * stride[a] + j[a] * dilation[a] - pad[a] lies in [0, bound[a]) on
// each axis, calls f(at0, at1, at2, tap), tap = (j0 * kernel[1] + j1) * kernel[2] + j2 being
// the flat kernel index. Conv and the pools read the input positions of output window s
// (bound = g.in); ConvTranspose scatters input position s to output positions (bound = g.out).
template <typename F>
void for_each_window_tap(const Window3& g, const int64_t (&bound)[3], int64_t s0, int64_t s1, int64_t s2, F&& f) {
  for (int64_t j0 = 0; j0 < g.kernel[0]; ++j0) {
    const int64_t at0 = s0 * g.stride[0] + j0 * g.dilation[0] - g.pad[0];
    if (at0 < 0 || at0 >= bound[0]) continue;
    for (int64_t j1 = 0; j1 < g.kernel[1]; ++j1) {
      const int64_t at1 = s1 * g.stride[1] + j1 * g.dilation[1] - g.pad[1];
      if (at1 < 0 || at1 >= bound[1]) continue;
      for (int64_t j2 = 0; j2 < g.kernel[2]; ++j2) {
        const int64_t at2 = s2 * g.stride[2] + j2 * g.dilation[2] - g.pad[2];
        if (at2 < 0 || at2 >= bound[2]) continue;
        f(at0, at1, at2, (j0 * g.kernel[1] + j1) * g.kernel[2] + j2);
      }
    }
  }
}

// The spatial dims of an [N, C, spatial...] shape.
Shape spatial_of(const Shape& shape);

// "[N, C, out...]" from a batch, channel count and the geometry's output sizes.
Shape window_output_shape(int64_t batch, int64_t channels, const WindowGeometry& g);

// Checks that a pooling input x is [N, C, spatial...] with `min_spatial` to `max_spatial`
// spatial axes.
void check_pool_input(const Node& node, const Tensor& x, int min_spatial, int max_spatial);

// The kernel_shape attribute, which the pooling ops require.
std::vector<int64_t> required_kernel(const Node& node, const WindowAttrs& attrs);

}  // namespace onnx_train
