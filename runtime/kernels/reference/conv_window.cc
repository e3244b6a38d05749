// Sliding-window geometry of Conv, ConvTranspose and the pooling ops (see conv_window.h).
#include "runtime/kernels/reference/conv_window.h"

#include <algorithm>

namespace onnx_train {

namespace {

AutoPad parse_auto_pad(const Node& node) {
  const std::string s = node.attr_string("auto_pad", "NOTSET");
  if (s == "NOTSET" || s.empty()) return AutoPad::NotSet;
  if (s == "SAME_UPPER") return AutoPad::SameUpper;
  if (s == "SAME_LOWER") return AutoPad::SameLower;
  if (s == "VALID") return AutoPad::Valid;
  OT_FAIL("{}: auto_pad '{}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", node.label(), s);
}

void check_all(const Node& node, const char* name, const std::vector<int64_t>& values, int64_t min) {
  for (int64_t v : values)
    OT_CHECK(v >= min, "{}: attribute {} = {} has the value {}; every value must be >= {}", node.label(), name,
             shape_str(values), v, min);
}

// Integer division rounding towards minus / plus infinity (numerators may be negative).
int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0); }
int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

}  // namespace

WindowAttrs read_window_attrs(const Node& node, bool with_dilations, bool with_ceil_mode) {
  WindowAttrs a;
  a.auto_pad = parse_auto_pad(node);
  a.kernel_shape = node.attr_ints("kernel_shape", {});
  a.strides = node.attr_ints("strides", {});
  a.pads = node.attr_ints("pads", {});
  if (with_dilations) a.dilations = node.attr_ints("dilations", {});
  if (with_ceil_mode) a.ceil_mode = node.attr_int("ceil_mode", 0) != 0;
  check_all(node, "kernel_shape", a.kernel_shape, 1);
  check_all(node, "strides", a.strides, 1);
  check_all(node, "dilations", a.dilations, 1);
  check_all(node, "pads", a.pads, 0);
  OT_CHECK(a.pads.size() % 2 == 0, "{}: pads {} must have an even length (begins of every axis, then ends)",
           node.label(), shape_str(a.pads));
  // Every given per-axis attribute must agree on the number of spatial axes.
  size_t rank = 0;
  const char* rank_from = nullptr;
  auto agree = [&](const char* name, size_t n) {
    if (n == 0) return;
    OT_CHECK(rank_from == nullptr || n == rank,
             "{}: attribute {} describes {} spatial axes but {} describes {}; they must agree", node.label(), name, n,
             rank_from, rank);
    rank = n;
    rank_from = name;
  };
  agree("kernel_shape", a.kernel_shape.size());
  agree("strides", a.strides.size());
  agree("dilations", a.dilations.size());
  agree("pads", a.pads.size() / 2);
  if (a.auto_pad != AutoPad::NotSet) {
    OT_CHECK(std::all_of(a.pads.begin(), a.pads.end(), [](int64_t p) { return p == 0; }),
             "{}: explicit pads {} cannot be combined with auto_pad {}; remove one of them", node.label(),
             shape_str(a.pads), node.attr_string("auto_pad"));
  }
  return a;
}

std::vector<int64_t> window_attr_or(const Node& node, const char* name, const std::vector<int64_t>& values, size_t rank,
                                    int64_t fallback) {
  if (values.empty()) return std::vector<int64_t>(rank, fallback);
  OT_CHECK(values.size() == rank, "{}: attribute {} = {} has {} values but the input has {} spatial axes", node.label(),
           name, shape_str(values), values.size(), rank);
  return values;
}

std::vector<int64_t> kernel_of(const Node& node, const WindowAttrs& attrs, const Tensor& w) {
  const Shape kernel = spatial_of(w.shape());
  OT_CHECK(attrs.kernel_shape.empty() || attrs.kernel_shape == kernel,
           "{}: kernel_shape {} does not match the spatial dims {} of W {}", node.label(),
           shape_str(attrs.kernel_shape), shape_str(kernel), w.describe());
  return kernel;
}

Shape unpooled_shape(const Node& node, const WindowAttrs& attrs, const Tensor& x) {
  const size_t r = static_cast<size_t>(x.rank() - 2);
  const std::vector<int64_t> kernel = window_attr_or(node, "kernel_shape", attrs.kernel_shape, r, 1);
  const std::vector<int64_t> strides = window_attr_or(node, "strides", attrs.strides, r, 1);
  const std::vector<int64_t> pads = window_attr_or(node, "pads", attrs.pads, 2 * r, 0);
  Shape unpooled{x.dim(0), x.dim(1)};
  for (size_t i = 0; i < r; ++i) {
    unpooled.push_back((x.shape()[i + 2] - 1) * strides[i] + kernel[i] - pads[i] - pads[i + r]);
    OT_CHECK(unpooled.back() > 0, "{}: X {} unpools to the empty spatial size {} on axis {}", node.label(),
             x.describe(), unpooled.back(), i);
  }
  return unpooled;
}

WindowGeometry forward_window_geometry(const Node& node, const WindowAttrs& attrs, const Shape& in,
                                       const std::vector<int64_t>& kernel) {
  const size_t r = in.size();
  OT_CHECK(kernel.size() == r, "{}: the kernel {} has {} spatial axes but the input spatial shape {} has {}",
           node.label(), shape_str(kernel), kernel.size(), shape_str(in), r);
  WindowGeometry g;
  g.kernel = kernel;
  g.strides = window_attr_or(node, "strides", attrs.strides, r, 1);
  g.dilations = window_attr_or(node, "dilations", attrs.dilations, r, 1);
  std::vector<int64_t> pads = window_attr_or(node, "pads", attrs.pads, 2 * r, 0);
  g.pads_begin.assign(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(r));
  g.pads_end.assign(pads.begin() + static_cast<std::ptrdiff_t>(r), pads.end());
  g.out.resize(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t s = g.strides[i];
    const int64_t dk = (g.kernel[i] - 1) * g.dilations[i] + 1;
    OT_CHECK(in[i] > 0, "{}: input spatial shape {} has an empty axis {}", node.label(), shape_str(in), i);
    switch (attrs.auto_pad) {
      case AutoPad::NotSet: {
        const int64_t span = in[i] + g.pads_begin[i] + g.pads_end[i] - dk;
        OT_CHECK(span >= 0,
                 "{}: spatial axis {} of size {} with pads {} + {} is smaller than the (dilated) kernel extent {}",
                 node.label(), i, in[i], g.pads_begin[i], g.pads_end[i], dk);
        int64_t out = (attrs.ceil_mode ? ceil_div(span, s) : span / s) + 1;
        if (attrs.ceil_mode && (out - 1) * s >= in[i] + g.pads_begin[i]) --out;
        g.out[i] = out;
        break;
      }
      case AutoPad::SameUpper:
      case AutoPad::SameLower: {
        g.out[i] = ceil_div(in[i], s);
        const int64_t total = std::max<int64_t>(0, (g.out[i] - 1) * s + dk - in[i]);
        const int64_t small = total / 2;
        g.pads_begin[i] = attrs.auto_pad == AutoPad::SameUpper ? small : total - small;
        g.pads_end[i] = total - g.pads_begin[i];
        break;
      }
      case AutoPad::Valid:
        OT_CHECK(in[i] >= dk, "{}: spatial axis {} of size {} is smaller than the (dilated) kernel extent {}",
                 node.label(), i, in[i], dk);
        g.out[i] = (in[i] - dk) / s + 1;
        break;
    }
  }
  return g;
}

Window3 to_window3(const Shape& in, const WindowGeometry& g) {
  const size_t r = g.rank();
  OT_CHECK(r >= 1 && r <= 3 && in.size() == r, "window geometry: {} spatial axes (input {}); 1 to 3 are supported", r,
           shape_str(in));
  Window3 w;
  const size_t lead = 3 - r;
  for (size_t i = 0; i < 3; ++i) {
    const bool real = i >= lead;
    const size_t j = i - (real ? lead : 0);
    w.in[i] = real ? in[j] : 1;
    w.out[i] = real ? g.out[j] : 1;
    w.kernel[i] = real ? g.kernel[j] : 1;
    w.stride[i] = real ? g.strides[j] : 1;
    w.dilation[i] = real ? g.dilations[j] : 1;
    w.pad[i] = real ? g.pads_begin[j] : 0;
  }
  return w;
}

Shape spatial_of(const Shape& shape) { return Shape(shape.begin() + 2, shape.end()); }

Shape window_output_shape(int64_t batch, int64_t channels, const WindowGeometry& g) {
  Shape s{batch, channels};
  s.insert(s.end(), g.out.begin(), g.out.end());
  return s;
}

void check_pool_input(const Node& node, const Tensor& x, int min_spatial, int max_spatial) {
  OT_CHECK(x.rank() >= 2 + min_spatial && x.rank() <= 2 + max_spatial,
           "{}: input X {} must be [N, C, spatial...] with {} to {} spatial axes", node.label(), x.describe(),
           min_spatial, max_spatial);
}

std::vector<int64_t> required_kernel(const Node& node, const WindowAttrs& attrs) {
  OT_CHECK(!attrs.kernel_shape.empty(), "{}: the kernel_shape attribute is required", node.label());
  return attrs.kernel_shape;
}

}  // namespace onnx_train
