// Lowering of DeformConv-19 to opset-17 ops: every kernel tap samples X bilinearly at its
// offset position with GridSample-16 (zeros padding), the mask weighs the samples, and a
// batched MatMul with the weight sums over channels and taps per group.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "importers/lower_opset.h"
#include "importers/lowerings/vision_util.h"

namespace onnx_train {
namespace {

using vision_lowering::float_type_of;
using vision_lowering::required_static_shape;

// The static geometry of one DeformConv node: X [N, C, H, W], W [M, C / group, kh, kw],
// Y [N, M, oh, ow]; offset groups `og` (C / og channels each).
struct DeformGeometry {
  int64_t c = 0, h = 0, w = 0, m = 0, kh = 0, kw = 0, oh = 0, ow = 0, group = 1, og = 1;
  std::vector<int64_t> strides, dilations, pads;  // pads: top, left, bottom, right
  int64_t taps() const { return kh * kw; }
};

// offset [N, og * taps * 2, oh, ow] and mask [N, og * taps, oh, ow], where their shapes are known.
void check_per_tap_input(LoweringContext& cx, size_t index, const char* what, int64_t channels,
                         const DeformGeometry& g) {
  const std::optional<Shape> shape = cx.shape(cx.node().inputs[index]);
  if (!shape) return;
  const Shape want = {channels, g.oh, g.ow};
  if (shape->size() != 4 ||
      !std::equal(want.begin(), want.end(), shape->begin() + 1, [](int64_t w, int64_t d) { return d < 0 || d == w; })) {
    cx.fail(std::string(what) + " has shape " + shape_str(*shape) + " where X, W and the attributes give [N, " +
            std::to_string(channels) + ", " + std::to_string(g.oh) + ", " + std::to_string(g.ow) + "]");
  }
}

DeformGeometry deform_geometry(LoweringContext& cx) {
  const Node& n = cx.node();
  const Shape x = required_static_shape(cx, n.inputs[0], "DeformConv-19", /*first_axis=*/1);
  const Shape wt = required_static_shape(cx, n.inputs[1], "DeformConv-19");
  if (x.size() != 4 || wt.size() != 4) {
    cx.fail("X " + shape_str(x) + " and W " + shape_str(wt) + ": onnx-train lowers 2-D DeformConv only (4-D X and W)");
  }
  DeformGeometry g;
  g.c = x[1], g.h = x[2], g.w = x[3], g.m = wt[0], g.kh = wt[2], g.kw = wt[3];
  g.group = n.attr_int("group", 1);
  g.og = n.attr_int("offset_group", 1);
  if (g.group < 1 || g.og < 1 || g.c % g.group != 0 || g.m % g.group != 0 || g.c % g.og != 0 ||
      wt[1] * g.group != g.c) {
    cx.fail("group " + std::to_string(g.group) + " and offset_group " + std::to_string(g.og) + " do not fit X " +
            shape_str(x) + " and W " + shape_str(wt));
  }
  const std::vector<int64_t> kernel = n.attr_ints("kernel_shape", {g.kh, g.kw});
  if (kernel != std::vector<int64_t>{g.kh, g.kw})
    cx.fail("kernel_shape " + shape_str(kernel) + " is not W's " + shape_str({g.kh, g.kw}));
  g.strides = n.attr_ints("strides", {1, 1});
  g.dilations = n.attr_ints("dilations", {1, 1});
  g.pads = n.attr_ints("pads", {0, 0, 0, 0});
  if (g.strides.size() != 2 || g.dilations.size() != 2 || g.pads.size() != 4) {
    cx.fail("strides, dilations and pads must have 2, 2 and 4 values");
  }
  g.oh = (g.h + g.pads[0] + g.pads[2] - ((g.kh - 1) * g.dilations[0] + 1)) / g.strides[0] + 1;
  g.ow = (g.w + g.pads[1] + g.pads[3] - ((g.kw - 1) * g.dilations[1] + 1)) / g.strides[1] + 1;
  if (g.oh < 1 || g.ow < 1) cx.fail("the kernel does not fit in the padded input " + shape_str(x));
  check_per_tap_input(cx, 2, "offset", g.og * g.taps() * 2, g);
  if (n.has_input(4)) check_per_tap_input(cx, 4, "mask", g.og * g.taps(), g);
  return g;
}

// The grid of GridSample-16 (align_corners 0: a pixel coordinate p is (2p + 1) / size - 1)
// for every offset group and tap, [N * og, taps * oh, ow, 2] as (x, y):
//   row   = i * stride_h - pad_top  + a * dilation_h + offset[n, g, tap, 0, i, j]
//   col   = j * stride_w - pad_left + b * dilation_w + offset[n, g, tap, 1, i, j]
// (offset [N, og * taps * 2, oh, ow], tap = a * kw + b, (row, col) pairs), normalised as
// offset * (2 / H, 2 / W) + ((2 * base + 1) / (H, W) - 1).
std::string deform_grid(LoweringContext& cx, const DeformGeometry& g, DType dt) {
  GraphEditor& e = cx.editor();
  const std::string& offset = cx.node().inputs[2];
  const int64_t taps = g.taps();
  std::vector<double> shift(static_cast<size_t>(taps * 2 * g.oh * g.ow));
  for (int64_t t = 0; t < taps; ++t) {
    for (int64_t i = 0; i < g.oh; ++i) {
      for (int64_t j = 0; j < g.ow; ++j) {
        const double row = static_cast<double>(i * g.strides[0] - g.pads[0] + (t / g.kw) * g.dilations[0]);
        const double col = static_cast<double>(j * g.strides[1] - g.pads[1] + (t % g.kw) * g.dilations[1]);
        shift[static_cast<size_t>(((t * 2 + 0) * g.oh + i) * g.ow + j)] = (2 * row + 1) / static_cast<double>(g.h) - 1;
        shift[static_cast<size_t>(((t * 2 + 1) * g.oh + i) * g.ow + j)] = (2 * col + 1) / static_cast<double>(g.w) - 1;
      }
    }
  }
  const std::string split = e.add1("Reshape", {offset, e.ints({-1, g.og, taps, 2, g.oh, g.ow}, "deform_offset_shape")},
                                   e.fresh(offset + "_per_tap"));
  const std::string scale =
      e.constant(float_tensor(dt, {1, 1, 1, 2, 1, 1}, {2.0 / static_cast<double>(g.h), 2.0 / static_cast<double>(g.w)}),
                 "deform_grid_scale");
  const std::string scaled = e.add1("Mul", {split, scale}, e.fresh(offset + "_scaled"));
  const std::string moved =
      e.add1("Add", {scaled, e.constant(float_tensor(dt, {1, 1, taps, 2, g.oh, g.ow}, shift), "deform_grid_base")},
             e.fresh(offset + "_grid_yx"));
  const std::string last =
      e.add1("Transpose", {moved}, e.fresh(offset + "_grid_last"), {{"perm", Attribute::of_ints({0, 1, 2, 4, 5, 3})}});
  const std::string xy = e.add1("Gather", {last, e.ints({1, 0}, "deform_xy")}, e.fresh(offset + "_grid_xy"),
                                {{"axis", Attribute::of_int(5)}});
  return e.add1("Reshape", {xy, e.ints({-1, taps * g.oh, g.ow, 2}, "deform_grid_shape")}, e.fresh(offset + "_grid"));
}

// Y[n, o, p] = sum over the channels c of o's group and the taps t of
//   W[o, c, t] * mask[n, g(c), t, p] * X[n, c](position of p, t),
// the samples S [N * og, C / og, taps * oh, ow] read as [N, group, C / group * taps, P] against
// W as [group, M / group, C / group * taps]: a MatMul batched over N and the groups.
void lower_deform_conv(LoweringContext& cx) {
  const Node& n = cx.node();
  GraphEditor& e = cx.editor();
  const DeformGeometry g = deform_geometry(cx);
  const DType dt = float_type_of(cx, n.inputs[0]);
  const int64_t taps = g.taps(), positions = g.oh * g.ow;
  const std::string x = e.add1("Reshape", {n.inputs[0], e.ints({-1, g.c / g.og, g.h, g.w}, "deform_x_shape")},
                               e.fresh(n.inputs[0] + "_per_offset_group"));
  std::string samples = e.add1("GridSample", {x, deform_grid(cx, g, dt)}, e.fresh(n.outputs[0] + "_samples"),
                               {{"mode", Attribute::of_string("bilinear")},
                                {"padding_mode", Attribute::of_string("zeros")},
                                {"align_corners", Attribute::of_int(0)}});
  if (n.has_input(4)) {
    const std::string mask = e.add1("Reshape", {n.inputs[4], e.ints({-1, 1, taps * g.oh, g.ow}, "deform_mask_shape")},
                                    e.fresh(n.inputs[4] + "_per_tap"));
    samples = e.add1("Mul", {samples, mask}, e.fresh(n.outputs[0] + "_masked"));
  }
  const int64_t depth = g.c / g.group * taps;
  const std::string columns = e.add1("Reshape", {samples, e.ints({-1, g.group, depth, positions}, "deform_columns")},
                                     e.fresh(n.outputs[0] + "_columns"));
  const std::string weights =
      e.add1("Reshape", {n.inputs[1], e.ints({g.group, g.m / g.group, depth}, "deform_w_shape")},
             e.fresh(n.inputs[1] + "_per_group"));
  const std::string product = e.add1("MatMul", {weights, columns}, e.fresh(n.outputs[0] + "_per_group"));
  const std::vector<int64_t> y_shape = {-1, g.m, g.oh, g.ow};
  if (!n.has_input(3)) {
    cx.emit("Reshape", {product, e.ints(y_shape, "deform_y_shape")}, {n.outputs[0]});
    return;
  }
  const std::string y =
      e.add1("Reshape", {product, e.ints(y_shape, "deform_y_shape")}, e.fresh(n.outputs[0] + "_no_bias"));
  const std::string bias = e.unsqueeze(n.inputs[3], {1, 2}, e.fresh(n.inputs[3] + "_per_channel"));
  cx.emit("Add", {y, bias}, {n.outputs[0]});
}

}  // namespace

ONNX_TRAIN_LOWERINGS(vision_deform) {
  rules.push_back({"DeformConv", 19, lower_deform_conv, "GridSample-16 per tap, Mul mask, grouped MatMul"});
}

}  // namespace onnx_train
