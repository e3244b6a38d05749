// Lowering of Resize-18 and -19 to Resize-13. The new attributes become Resize-13's inputs:
// `axes` widens scales / sizes / roi to every axis (scale 1, the input's own size, roi [0, 1]
// elsewhere); keep_aspect_ratio_policy not_larger / not_smaller becomes the one scale it picks
// (constant sizes, static input sizes), with edge padding and a Slice where Resize-13's floor
// would give one row less. half_pixel_symmetric stays: the Resize kernel
// (runtime/kernels/reference/resize.cc) implements it. antialias = 1 (linear, cubic) becomes a
// MatMul per resized axis with the constant matrix of the stretched filter.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "importers/lower_opset.h"
#include "importers/lowerings/vision_util.h"

namespace onnx_train {
namespace {


// The node's `axes` (negative ones counted from the end), or every axis when not given.
std::vector<int64_t> resize_axes(LoweringContext& cx, int64_t rank) {
  std::vector<int64_t> axes = cx.node().attr_ints("axes", {});
  if (axes.empty()) {
    for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
    return axes;
  }
  axes = cx.normalized_axes(std::move(axes), rank);
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t a : axes) {
    if (seen[static_cast<size_t>(a)]) cx.fail("axis " + std::to_string(a) + " is given twice in axes");
    seen[static_cast<size_t>(a)] = true;
  }
  return axes;
}

// A Resize input (scales, sizes, roi) as a constant; nullopt when omitted or empty.
std::optional<Tensor> given_constant(LoweringContext& cx, size_t index, const std::string& what) {
  const Node& n = cx.node();
  if (!n.has_input(index)) return std::nullopt;
  std::optional<Tensor> t = cx.constant(n.inputs[index]);
  if (!t) cx.fail(what + " is not a constant; with axes or keep_aspect_ratio_policy it must be");
  if (t->numel() == 0) return std::nullopt;
  return t;
}

// The sizes of every axis: `sizes` on `axes`, x's own sizes elsewhere (constants where known,
// else slices of Shape(x)), concatenated.
std::string full_sizes(LoweringContext& cx, const std::vector<int64_t>& axes, const std::vector<int64_t>& sizes,
                       int64_t rank) {
  GraphEditor& e = cx.editor();
  const std::string& x = cx.node().inputs[0];
  const Shape x_shape = cx.shape(x).value_or(Shape(static_cast<size_t>(rank), -1));
  std::vector<int64_t> full(static_cast<size_t>(rank), -1);
  for (size_t i = 0; i < axes.size(); ++i) full[static_cast<size_t>(axes[i])] = sizes[i];
  bool all_known = true;
  for (int64_t a = 0; a < rank; ++a) {
    if (full[a] < 0) full[a] = x_shape[a];
    all_known = all_known && full[a] >= 0;
  }
  if (all_known) return e.ints(full, "resize_sizes");
  const std::string shape = e.add1("Shape", {x}, e.fresh(x + "_shape"));
  std::vector<std::string> pieces;
  for (int64_t a = 0; a < rank; ++a) {
    if (full[a] >= 0) {
      pieces.push_back(e.ints({full[a]}, "resize_size"));
    } else {
      pieces.push_back(e.add1("Slice", {shape, e.ints({a}, "start"), e.ints({a + 1}, "end")}, e.fresh(x + "_dim")));
    }
  }
  return e.add1("Concat", pieces, e.fresh("resize_sizes"), {{"axis", Attribute::of_int(0)}});
}

// keep_aspect_ratio_policy not_larger / not_smaller: one scale s = min / max over the axes of
// sizes_i / in_i, the output size round(s * in_i), and s (not size / in) in the coordinate
// transform, as ONNX Runtime does. Resize-13 takes s as scales, but its size is floor(in_i * s)
// (s in float32): where that is short of round(s * in_i), X gets `pad` more edge rows at the
// end of the axis (floor((in_i + pad) * s) reaches the size) and the result is sliced to it.
struct AspectResize {
  std::vector<float> scales;            // every axis (1 where not resized)
  std::vector<int64_t> pad_end, sizes;  // every axis: rows of edge padding, the output size
  bool padded = false;
};

AspectResize aspect_resize(LoweringContext& cx, const std::vector<int64_t>& axes, const std::vector<int64_t>& sizes,
                           const std::string& policy) {
  const std::string& x = cx.node().inputs[0];
  const Shape x_shape = cx.shape(x).value_or(Shape{});
  for (int64_t a : axes) {
    if (a >= static_cast<int64_t>(x_shape.size()) || x_shape[a] < 1) {
      cx.fail("keep_aspect_ratio_policy " + policy + " needs the static size of axis " + std::to_string(a) + " of '" +
              x + "', which is not known here; export the model with fixed input dimensions");
    }
  }
  double s = policy == "not_larger" ? INFINITY : 0.0;
  for (size_t i = 0; i < axes.size(); ++i) {
    const double r = static_cast<double>(sizes[i]) / static_cast<double>(x_shape[axes[i]]);
    s = policy == "not_larger" ? std::min(s, r) : std::max(s, r);
  }
  AspectResize r;
  r.scales.assign(x_shape.size(), 1.0f);
  r.pad_end.assign(x_shape.size(), 0);
  r.sizes = x_shape;
  const float s32 = static_cast<float>(s);
  for (int64_t a : axes) {
    const int64_t in = x_shape[a], target = static_cast<int64_t>(std::round(static_cast<double>(in) * s));
    auto floor_size = [&](int64_t rows) {
      return static_cast<int64_t>(std::floor(static_cast<double>(rows) * static_cast<double>(s32)));
    };
    int64_t pad = 0;
    while (floor_size(in + pad) < target && pad <= in) ++pad;
    if (floor_size(in + pad) < target || floor_size(in) > target) {
      cx.fail("keep_aspect_ratio_policy " + policy + ": Resize-13 cannot give axis " + std::to_string(a) +
              " the size " + std::to_string(target) + " with the scale " + std::to_string(s));
    }
    r.scales[a] = s32, r.pad_end[a] = pad, r.sizes[a] = target;
    r.padded = r.padded || pad > 0;
  }
  return r;
}

// Edge rows added at the end of an axis change no output row of Resize-13 where the coordinate
// transform does not read the input's size and out-of-range taps clamp to the edge: half_pixel,
// asymmetric, pytorch_half_pixel, and cubic only without exclude_outside.
void check_padding_keeps_rows(LoweringContext& cx) {
  const Node& n = cx.node();
  const std::string coord = n.attr_string("coordinate_transformation_mode", "half_pixel");
  const bool coord_ok = coord == "half_pixel" || coord == "asymmetric" || coord == "pytorch_half_pixel";
  if (!coord_ok || (n.attr_string("mode", "nearest") == "cubic" && n.attr_int("exclude_outside", 0) != 0)) {
    cx.fail("keep_aspect_ratio_policy " + n.attr_string("keep_aspect_ratio_policy", "") +
            " with an output size that is not floor(in * scale) is supported with coordinate_transformation_mode "
            "half_pixel, asymmetric or pytorch_half_pixel (and cubic without exclude_outside), not " +
            coord);
  }
}

// Resize-13 of x with keep_aspect_ratio_policy's scales, padded and sliced where needed.
void emit_aspect_resize(LoweringContext& cx, const AspectResize& r, const std::vector<int64_t>& axes,
                        std::vector<std::string> inputs, const std::map<std::string, Attribute>& attributes) {
  GraphEditor& e = cx.editor();
  const Node& n = cx.node();
  const int64_t rank = static_cast<int64_t>(r.scales.size());
  inputs[2] = e.constant(Tensor::from<float>({rank}, r.scales), "resize_scales");
  inputs.resize(3);
  if (!r.padded) {
    cx.emit("Resize", inputs, {n.outputs[0]}, attributes);
    return;
  }
  check_padding_keeps_rows(cx);
  std::vector<int64_t> pads(static_cast<size_t>(rank), 0);
  pads.insert(pads.end(), r.pad_end.begin(), r.pad_end.end());
  inputs[0] = e.add1("Pad", {inputs[0], e.ints(pads, "resize_edge_pads")}, e.fresh(inputs[0] + "_edge_padded"),
                     {{"mode", Attribute::of_string("edge")}});
  const std::string resized = e.add1("Resize", inputs, e.fresh(n.outputs[0] + "_padded"), attributes);
  std::vector<int64_t> ends;
  for (int64_t a : axes) ends.push_back(r.sizes[a]);
  cx.emit("Slice",
          {resized, e.ints(std::vector<int64_t>(axes.size(), 0), "resize_starts"), e.ints(ends, "resize_ends"),
           e.ints(axes, "resize_axes")},
          {n.outputs[0]});
}

// roi [2 * len(axes)] (starts then ends) widened to [2 * rank], [0, 1] on the other axes.
std::string full_roi(LoweringContext& cx, const Tensor& roi, const std::vector<int64_t>& axes, int64_t rank) {
  const std::vector<double> given = roi.to_doubles();
  const size_t k = axes.size();
  if (given.size() != 2 * k)
    cx.fail("roi has " + std::to_string(given.size()) + " values for " + std::to_string(k) + " axes");
  std::vector<double> full(static_cast<size_t>(2 * rank), 0.0);
  for (int64_t a = 0; a < rank; ++a) full[static_cast<size_t>(rank + a)] = 1.0;
  for (size_t i = 0; i < k; ++i) {
    full[static_cast<size_t>(axes[i])] = given[i];
    full[static_cast<size_t>(rank + axes[i])] = given[k + i];
  }
  const DType dt = roi.dtype() == DType::Float64 ? DType::Float64 : DType::Float32;
  return cx.editor().constant(float_tensor(dt, {2 * rank}, full), "resize_roi");
}

// ---- antialias ------------------------------------------------------------------------------

// One axis of an antialiased resize: `in` positions to `out` with the scale `scale` (float32,
// as ONNX Runtime computes it).
struct AxisResize {
  int64_t axis = 0, in = 0, out = 0;
  double scale = 1;
};

// The input coordinate of output position i (coordinate_transformation_mode; ONNX Runtime's
// formulas, which follow the specification).
double antialias_source(const std::string& coord, const AxisResize& r, int64_t i) {
  const double y = static_cast<double>(i), in = static_cast<double>(r.in), out = static_cast<double>(r.out);
  if (coord == "asymmetric") return y / r.scale;
  if (coord == "align_corners") return r.out == 1 ? 0.0 : y * (in - 1) / (out - 1);
  if (coord == "pytorch_half_pixel") return r.out > 1 ? (y + 0.5) / r.scale - 0.5 : 0.0;
  const double half_pixel = (y + 0.5) / r.scale - 0.5;
  if (coord == "half_pixel_symmetric") return in / 2 * (1 - out / (r.scale * in)) + half_pixel;
  return half_pixel;
}

// The filter of antialiased linear (triangle, support 2) or cubic (Keys with `a`, support 4).
double antialias_filter(bool cubic, double a, double t) {
  t = std::abs(t);
  if (!cubic) return std::max(0.0, 1 - t);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

// A [out, in]: output position i is the sum over input positions x in
// [floor(c - support + 0.5), floor(c + support + 0.5)) of filter((x - c + 0.5) * k) * X[x],
// normalised to weights summing to 1, where c = 0.5 + source(i) is the window's centre and,
// when downscaling, the filter is stretched by 1 / scale (support and k = scale). A position
// outside the input reads the nearest edge (with exclude_outside it is dropped), as ONNX
// Runtime's antialiased Resize does.
std::vector<double> antialias_matrix(const Node& n, const AxisResize& r) {
  const bool cubic = n.attr_string("mode", "nearest") == "cubic";
  const double a = n.attr_float("cubic_coeff_a", -0.75f);
  const bool exclude_outside = n.attr_int("exclude_outside", 0) != 0;
  const std::string coord = n.attr_string("coordinate_transformation_mode", "half_pixel");
  const double half_support = cubic ? 2.0 : 1.0;
  const double stretch = r.scale < 1 ? 1 / r.scale : 1.0, k = r.scale < 1 ? r.scale : 1.0;
  const double support = half_support * stretch;
  std::vector<double> m(static_cast<size_t>(r.out * r.in), 0.0);
  for (int64_t i = 0; i < r.out; ++i) {
    const double centre = 0.5 + antialias_source(coord, r, i);
    const auto first = static_cast<int64_t>(std::floor(centre - support + 0.5));
    const auto end = static_cast<int64_t>(std::floor(centre + support + 0.5));
    std::vector<std::pair<int64_t, double>> taps;
    double total = 0;
    for (int64_t x = first; x < end; ++x) {
      if (exclude_outside && (x < 0 || x >= r.in)) continue;
      const double w = antialias_filter(cubic, a, (static_cast<double>(x) - centre + 0.5) * k);
      taps.emplace_back(std::clamp<int64_t>(x, 0, r.in - 1), w);
      total += w;
    }
    for (const auto& [x, w] : taps) m[static_cast<size_t>(i * r.in + x)] += total != 0 ? w / total : 0.0;
  }
  return m;
}

// The axes an antialiased resize changes, with their sizes and scales (constant scales or
// sizes; static input sizes on those axes).
std::vector<AxisResize> antialias_axes(LoweringContext& cx, const std::vector<int64_t>& axes,
                                       const std::string& policy) {
  const Node& n = cx.node();
  const std::optional<Tensor> scales = given_constant(cx, 2, "scales"), sizes = given_constant(cx, 3, "sizes");
  if (scales.has_value() == sizes.has_value()) cx.fail("give exactly one of scales and sizes");
  const std::vector<double> given = scales ? scales->to_doubles() : sizes->to_doubles();
  if (given.size() != axes.size())
    cx.fail("scales or sizes has " + std::to_string(given.size()) + " values for " + std::to_string(axes.size()) +
            " axes");
  const Shape x_shape = cx.shape(n.inputs[0]).value_or(Shape{});
  std::vector<AxisResize> out;
  double common = policy == "not_larger" ? INFINITY : 0.0;  // keep_aspect_ratio_policy's one scale
  for (size_t i = 0; i < axes.size(); ++i) {
    if (axes[i] >= static_cast<int64_t>(x_shape.size()) || x_shape[axes[i]] < 1) {
      cx.fail("antialias = 1 needs the static size of axis " + std::to_string(axes[i]) + " of '" + n.inputs[0] +
              "', which is not known here; export the model with fixed input dimensions");
    }
    AxisResize r;
    r.axis = axes[i], r.in = x_shape[axes[i]];
    const double ratio = given[i] / static_cast<double>(r.in);
    common = policy == "not_larger" ? std::min(common, ratio) : std::max(common, ratio);
    if (scales) {
      r.scale = static_cast<double>(static_cast<float>(given[i]));
      r.out = static_cast<int64_t>(std::floor(static_cast<double>(r.in) * r.scale));
    } else {
      r.out = static_cast<int64_t>(given[i]);
      r.scale = static_cast<double>(static_cast<float>(r.out) / static_cast<float>(r.in));
    }
    out.push_back(r);
  }
  if (sizes && policy != "stretch") {
    for (AxisResize& r : out) {
      r.scale = static_cast<double>(static_cast<float>(common));
      r.out = static_cast<int64_t>(std::round(static_cast<double>(r.in) * common));
    }
  }
  return out;
}

// Resize-18 with antialias = 1 (linear or cubic): a linear map per resized axis, X times the
// constant matrix of antialias_matrix along that axis (MatMul on the last two axes, the others
// transposed to the end and back).
void lower_antialias_resize(LoweringContext& cx, int64_t rank, const std::vector<int64_t>& axes,
                            const std::string& policy) {
  const Node& n = cx.node();
  GraphEditor& e = cx.editor();
  const std::string coord = n.attr_string("coordinate_transformation_mode", "half_pixel");
  if (coord == "tf_crop_and_resize") cx.fail("antialias = 1 with tf_crop_and_resize is not supported");
  const DType dt = vision_lowering::float_type_of(cx, n.inputs[0]);
  std::string v = n.inputs[0];
  for (const AxisResize& r : antialias_axes(cx, axes, policy)) {
    if (r.in == r.out && r.scale == 1) continue;
    const std::vector<double> m = antialias_matrix(n, r);
    if (r.axis == rank - 2) {
      v = e.add1("MatMul", {e.constant(float_tensor(dt, {r.out, r.in}, m), "antialias_rows"), v},
                 e.fresh(n.outputs[0] + "_rows"));
      continue;
    }
    std::vector<double> mt(m.size());  // [in, out]
    for (int64_t i = 0; i < r.out; ++i) {
      for (int64_t x = 0; x < r.in; ++x) mt[static_cast<size_t>(x * r.out + i)] = m[static_cast<size_t>(i * r.in + x)];
    }
    const std::string columns = e.constant(float_tensor(dt, {r.in, r.out}, mt), "antialias_columns");
    if (r.axis == rank - 1) {
      v = e.add1("MatMul", {v, columns}, e.fresh(n.outputs[0] + "_columns"));
      continue;
    }
    std::vector<int64_t> perm(static_cast<size_t>(rank));
    for (int64_t a = 0; a < rank; ++a) perm[static_cast<size_t>(a)] = a;
    std::swap(perm[static_cast<size_t>(r.axis)], perm.back());  // its own inverse
    const Attribute swap = Attribute::of_ints(perm);
    v = e.add1("Transpose", {v}, e.fresh(v + "_axis_last"), {{"perm", swap}});
    v = e.add1("MatMul", {v, columns}, e.fresh(n.outputs[0] + "_axis"));
    v = e.add1("Transpose", {v}, e.fresh(v + "_back"), {{"perm", swap}});
  }
  cx.emit("Identity", {v}, {n.outputs[0]});
}

void lower_resize(LoweringContext& cx) {
  const Node& n = cx.node();
  const std::string policy = n.attr_string("keep_aspect_ratio_policy", "stretch");
  if (policy != "stretch" && policy != "not_larger" && policy != "not_smaller") {
    cx.fail("keep_aspect_ratio_policy '" + policy + "' is not one of stretch, not_larger, not_smaller");
  }
  // antialias filters linear and cubic only (nearest ignores it).
  if (n.attr_int("antialias", 0) != 0 && n.attr_string("mode", "nearest") != "nearest") {
    const int64_t rank = cx.required_rank(n.inputs[0], "Resize-18 with antialias");
    lower_antialias_resize(cx, rank, resize_axes(cx, rank), policy);
    return;
  }
  std::map<std::string, Attribute> attributes = n.attributes;
  for (const char* key : {"antialias", "axes", "keep_aspect_ratio_policy"}) attributes.erase(key);
  if (!n.has_attr("axes") && policy == "stretch") {
    cx.keep(attributes);  // every axis given: Resize-13 as written
    return;
  }
  GraphEditor& e = cx.editor();
  const int64_t rank = cx.required_rank(n.inputs[0], "Resize-18 with axes or keep_aspect_ratio_policy");
  const std::vector<int64_t> axes = resize_axes(cx, rank);
  std::vector<std::string> inputs = {n.inputs[0], "", "", ""};
  const std::optional<Tensor> roi = n.has_input(1) ? given_constant(cx, 1, "roi") : std::nullopt;
  if (roi) inputs[1] = full_roi(cx, *roi, axes, rank);
  const std::optional<Tensor> scales = given_constant(cx, 2, "scales");
  const std::optional<Tensor> sizes = given_constant(cx, 3, "sizes");
  if (scales.has_value() == sizes.has_value()) cx.fail("give exactly one of scales and sizes");
  const std::vector<double> given = scales ? scales->to_doubles() : sizes->to_doubles();
  if (given.size() != axes.size()) {
    cx.fail(std::string(scales ? "scales" : "sizes") + " has " + std::to_string(given.size()) + " values for " +
            std::to_string(axes.size()) + " axes");
  }
  std::vector<float> full_scales(static_cast<size_t>(rank), 1.0f);
  if (sizes && policy == "stretch") {
    inputs[3] = full_sizes(cx, axes, sizes->to_int64s(), rank);
  } else if (sizes) {
    emit_aspect_resize(cx, aspect_resize(cx, axes, sizes->to_int64s(), policy), axes, inputs, attributes);
    return;
  } else {
    for (size_t i = 0; i < axes.size(); ++i) full_scales[axes[i]] = static_cast<float>(given[i]);
  }
  if (inputs[3].empty()) inputs[2] = e.constant(Tensor::from<float>({rank}, full_scales), "resize_scales");
  while (inputs.back().empty()) inputs.pop_back();
  cx.emit("Resize", inputs, {n.outputs[0]}, attributes);
}

}  // namespace

ONNX_TRAIN_LOWERINGS(vision_resize) {
  rules.push_back({"Resize", 18, lower_resize, "Resize-13 (axes widened to every axis); antialias: MatMul per axis"});
  rules.push_back({"Resize", 19, lower_resize, "Resize-13 (half_pixel_symmetric in the kernel)"});
}

}  // namespace onnx_train
