// Gradient rules of Conv, ConvTranspose, the pooling ops, MaxUnpool and the region poolings
// (RoiAlign, MaxRoiPool).
// x, y: forward input / output; dy: the incoming gradient. The heavy backward passes are
// fused gradient ops of the project's domain (kernels in runtime/kernels/dnnl/conv_pool_grad.cc):
// each takes the forward node's window attributes and resolves them against its inputs'
// shapes exactly as the forward kernel does (the rule cannot: shapes may be dynamic).
#include "gradients/builder.h"
#include "gradients/rules/registry.h"

namespace onnx_train {

namespace {

using Attributes = std::map<std::string, Attribute>;

// The forward node's attributes among `names` that it sets.
Attributes copy_attrs(const Node& node, std::initializer_list<const char*> names) {
  Attributes attrs;
  for (const char* name : names)
    if (auto it = node.attributes.find(name); it != node.attributes.end()) attrs.emplace(name, it->second);
  return attrs;
}

// Emits a fused gradient op with outputs (dx_0, dx_1, ...) for the inputs `positions` and
// sets the wanted ones; unwanted outputs are omitted, so the kernel does not compute them.
void emit_fused(GradContext& g, const std::string& op, const std::vector<std::string>& inputs, Attributes attrs,
                const std::vector<size_t>& positions) {
  std::vector<bool> wanted;
  bool any = false;
  for (size_t p : positions) {
    wanted.push_back(g.node().has_input(p) && g.wants_dx(p));
    any |= wanted.back();
  }
  if (!any) return;
  const auto outs = g.emit_optional(op, inputs, wanted, std::move(attrs), kGradientDomain);
  for (size_t k = 0; k < positions.size(); ++k)
    if (wanted[k]) g.set_dx(positions[k], outs[k]);
}

// ---- Conv / ConvTranspose ---------------------------------------------------------------

// Y = Conv(X, W, B), X [N, C, in...], W [M, C / group, k...], B [M], Y [N, M, out...]:
//   dX = the transposed convolution of dY with W (same window), dW = the correlation of X
//   with dY over the window taps, dB = sum of dY over N and the spatial axes.
// One ConvGrad(dY, X, W) -> (dX, dW, dB) node.
void conv_grad(GradContext& g) {
  emit_fused(g, "ConvGrad", {g.dy(0), g.x(0), g.x(1)},
             copy_attrs(g.node(), {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}), {0, 1, 2});
}

// Y = ConvTranspose(X, W, B), X [N, C, in...], W [C, M / group, k...], B [M], Y [N, M, out...]:
//   dX = the forward convolution of dY with W (same window, output X's size), dW = that
//   convolution's weights gradient with X as its output gradient, dB = sum of dY over N
//   and the spatial axes. One ConvTransposeGrad(dY, X, W) -> (dX, dW, dB) node, which
//   follows version 11's SAME split: for version 1 (whose SAME_UPPER puts the odd element
//   of the cropping first, as version 11's SAME_LOWER does) the split is rewritten.
void conv_transpose_grad(GradContext& g) {
  const Node& n = g.node();
  Attributes attrs = copy_attrs(
      n, {"auto_pad", "dilations", "group", "kernel_shape", "output_padding", "output_shape", "pads", "strides"});
  const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  const bool same = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
  if (n.since_version < 11 && (same || n.has_attr("output_shape"))) {
    // Version 1 crops floor(total / 2) first unless SAME_UPPER; version 11 does so for SAME_UPPER only.
    const bool floor_first = auto_pad != "SAME_UPPER";
    attrs["auto_pad"] = Attribute::of_string(floor_first ? "SAME_UPPER" : "SAME_LOWER");
    attrs.erase("pads");
  }
  emit_fused(g, "ConvTransposeGrad", {g.dy(0), g.x(0), g.x(1)}, std::move(attrs), {0, 1, 2});
}

// ---- pooling ----------------------------------------------------------------------------

// Y = MaxPool(X): dX = dY routed to each window's argmax (summed where windows overlap).
// From version 8, MaxPoolGrad(dY, X, Indices) scatters dY at the forward pass's Indices
// output (added to the forward node when the model left it out): the forward MaxPool with
// Indices measured as fast as without (oneDNN's plain-layout max pooling is no faster than
// the reference loop that also writes the argmax), and the backward pass is then a scatter
// instead of a second pooling. Version 1 has no Indices: MaxPoolGrad(dY, X) recomputes the
// argmax from X. No gradient flows from Indices.
void max_pool_grad(GradContext& g) {
  if (g.dy(0).empty()) return;
  const int v = g.node().since_version;
  if (v < 8) {
    g.set_dx(0, g.emit("MaxPoolGrad", {g.dy(0), g.x(0)},
                       copy_attrs(g.node(), {"auto_pad", "kernel_shape", "pads", "strides"}), kGradientDomain));
    return;
  }
  Attributes attrs = v >= 10 ? copy_attrs(g.node(), {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads",
                                                     "storage_order", "strides"})
                             : copy_attrs(g.node(), {"auto_pad", "kernel_shape", "pads", "storage_order", "strides"});
  const std::string indices = g.forward_output(1);
  g.set_dx(0, g.emit("MaxPoolGrad", {g.dy(0), g.x(0), indices}, std::move(attrs), kGradientDomain));
}

// Y = AveragePool(X): dX[i] = sum over the windows o holding i of dY[o] / count(o).
void average_pool_grad(GradContext& g) {
  const bool v10 = g.node().since_version >= 10;  // ceil_mode came in version 10
  Attributes attrs =
      v10 ? copy_attrs(g.node(), {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"})
          : copy_attrs(g.node(), {"auto_pad", "count_include_pad", "kernel_shape", "pads", "strides"});
  g.set_dx(0, g.emit("AveragePoolGrad", {g.dy(0), g.x(0)}, std::move(attrs), kGradientDomain));
}

// Y = GlobalAveragePool(X) [N, C, 1...]: dX = dY / (number of spatial positions), broadcast.
void global_average_pool_grad(GradContext& g) {
  g.set_dx(0, g.emit("AveragePoolGrad", {g.dy(0), g.x(0)}, {{"global", Attribute::of_int(1)}}, kGradientDomain));
}

// Y = GlobalMaxPool(X) [N, C, 1...]: dX = dY at each plane's (first) maximum, zero elsewhere.
void global_max_pool_grad(GradContext& g) {
  g.set_dx(0, g.emit("MaxPoolGrad", {g.dy(0), g.x(0)}, {{"global", Attribute::of_int(1)}}, kGradientDomain));
}

// Y = LpPool(X) = (sum over the window of |X|^p)^(1/p):
//   dX[i] = sum over the windows o holding i of dY[o] * sign(X[i]) |X[i]|^(p-1) / Y[o]^(p-1).
void lp_pool_grad(GradContext& g) {
  g.set_dx(0, g.emit("LpPoolGrad", {g.dy(0), g.x(0), g.y(0)},
                     copy_attrs(g.node(), {"auto_pad", "kernel_shape", "p", "pads", "strides"}), kGradientDomain));
}

// Y = GlobalLpPool(X) = (sum over the spatial axes of |X|^p)^(1/p), [N, C, 1...]:
//   dX = dY * sign(X) |X|^(p-1) / Y^(p-1) = dY * X * |X|^(p-2) / Y^(p-1)   (Y, dY broadcast)
// composed of ONNX ops that exist at opset 7 (Sign does not).
void global_lp_pool_grad(GradContext& g) {
  const int64_t p = g.node().attr_int("p", 2);
  const std::string& x = g.x(0);
  std::string direction = x;  // X * |X|^(p-2)
  if (p != 2) direction = g.emit("Mul", {x, g.emit("Pow", {g.emit("Abs", {x}), g.scalar(double(p - 2), x)})});
  std::string scale = g.dy(0);  // dY / Y^(p-1)
  if (p != 1) scale = g.emit("Div", {scale, p == 2 ? g.y(0) : g.emit("Pow", {g.y(0), g.scalar(double(p - 1), x)})});
  g.set_dx(0, g.emit("Mul", {direction, scale}));
}

// Y = MaxUnpool(X, I[, output_shape]) scatters X.flat[j] to the position I[j] of the
// unpooled shape (placed at Y's origin): dX.flat[j] = dY at that position. One
// MaxUnpoolGrad(dY, I, X) node (X for its shape); I and output_shape get no gradient.
void max_unpool_grad(GradContext& g) {
  g.set_dx(0, g.emit("MaxUnpoolGrad", {g.dy(0), g.x(1), g.x(0)},
                     copy_attrs(g.node(), {"kernel_shape", "pads", "strides"}), kGradientDomain));
}

// Y = RoiAlign(X, rois, batch_indices): each bilinear sampling point passes dY on to its
// 4 neighbours in X by their weights (avg: divided by the points per bin; max: only the
// winning term). One RoiAlignGrad(dY, X, rois, batch_indices) node; version 10 (no
// coordinate_transformation_mode, no half-pixel shift) is made explicit.
void roi_align_grad(GradContext& g) {
  Attributes attrs = copy_attrs(g.node(), {"coordinate_transformation_mode", "mode", "output_height", "output_width",
                                           "sampling_ratio", "spatial_scale"});
  if (g.node().since_version < 16) attrs["coordinate_transformation_mode"] = Attribute::of_string("output_half_pixel");
  g.set_dx(0, g.emit("RoiAlignGrad", {g.dy(0), g.x(0), g.x(1), g.x(2)}, std::move(attrs), kGradientDomain));
}

// Y = MaxRoiPool(X, rois): dX = dY routed to each bin's maximum. One MaxRoiPoolGrad(dY, X, rois) node.
void max_roi_pool_grad(GradContext& g) {
  g.set_dx(0, g.emit("MaxRoiPoolGrad", {g.dy(0), g.x(0), g.x(1)},
                     copy_attrs(g.node(), {"pooled_shape", "spatial_scale"}), kGradientDomain));
}

}  // namespace

ONNX_TRAIN_GRADIENT_RULES(conv_pool) {
  rules.push_back({"", "Conv", {1, 11}, conv_grad});
  rules.push_back({"", "ConvTranspose", {1, 11}, conv_transpose_grad});
  rules.push_back({"", "MaxPool", {1, 8, 10, 11, 12}, max_pool_grad});
  rules.push_back({"", "AveragePool", {7, 10, 11}, average_pool_grad});
  rules.push_back({"", "GlobalAveragePool", {1}, global_average_pool_grad});
  rules.push_back({"", "GlobalMaxPool", {1}, global_max_pool_grad});
  rules.push_back({"", "LpPool", {2, 11}, lp_pool_grad});
  rules.push_back({"", "GlobalLpPool", {2}, global_lp_pool_grad});
  rules.push_back({"", "MaxUnpool", {9, 11}, max_unpool_grad});
  rules.push_back({"", "RoiAlign", {10, 16}, roi_align_grad, {1}});  // rois: no gradient
  rules.push_back({"", "MaxRoiPool", {1}, max_roi_pool_grad, {1}});
}

}  // namespace onnx_train
