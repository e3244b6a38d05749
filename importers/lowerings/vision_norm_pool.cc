// Lowerings of the normalisation and pooling op versions of opsets 18-19 (GroupNormalization-18
// and -21, AveragePool-19, LpPool-18) to opset-17 ops: InstanceNormalization on the grouped
// input, the pooling ops of opset 11 where the node does not use the new attributes, and
// otherwise a depthwise Conv with a kernel of ones (the window sums) for the dilated windows.
#include <cmath>
#include <string>
#include <vector>

#include "importers/lower_opset.h"
#include "importers/lowerings/vision_util.h"
#include "runtime/kernels/reference/conv_window.h"

namespace onnx_train {
namespace {

using vision_lowering::float_type_of;
using vision_lowering::required_static_shape;

bool all_ones(const std::vector<int64_t>& values) {
  for (int64_t v : values) {
    if (v != 1) return false;
  }
  return true;
}

// x's shape as a value: a constant when every dimension is known, else Shape(x).
std::string shape_value(LoweringContext& cx, const std::string& x) {
  GraphEditor& e = cx.editor();
  const std::optional<Shape> shape = cx.shape(x);
  bool known = shape.has_value();
  if (known) {
    for (int64_t d : *shape) known = known && d >= 0;
  }
  if (known) return e.ints(*shape, x + "_shape");
  return e.add1("Shape", {x}, e.fresh(x + "_shape"));
}

// ---- GroupNormalization ---------------------------------------------------------------------

// X [N, C, D...], G groups of C / G channels: X is reshaped to [N, G, C / G * D...], where
// InstanceNormalization normalises each (n, g) row over its last axis,
//   xhat = (x - mean_g) / sqrt(var_g + epsilon),
// and reshaped back. GroupNormalization-18 scales and shifts per group (scale, bias [G]),
// which is InstanceNormalization's own per-"channel" affine on [N, G, M]; ONNX Runtime
// agrees with the specification here. GroupNormalization-21 scales and shifts per channel
// (scale, bias [C]), broadcast as [C, 1, ...] on the reshaped-back result. stash_type (21)
// names the precision of the statistics; they are computed in the input's type, which for
// float32 input is stash_type's default.
void lower_group_normalization(LoweringContext& cx) {
  const Node& n = cx.node();
  GraphEditor& e = cx.editor();
  const std::string& x = n.inputs[0];
  const int64_t groups = n.attr_int("num_groups");
  if (groups < 1) cx.fail("num_groups must be at least 1, not " + std::to_string(groups));
  const std::optional<Shape> x_shape = cx.shape(x);
  if (x_shape && x_shape->size() >= 2 && (*x_shape)[1] >= 0 && (*x_shape)[1] % groups != 0) {
    cx.fail("the " + std::to_string((*x_shape)[1]) +
            " channels of X do not split into num_groups = " + std::to_string(groups) + " groups");
  }
  const bool per_group = n.since_version < 21;
  const int64_t affine_size = per_group ? groups : (x_shape && x_shape->size() >= 2 ? (*x_shape)[1] : -1);
  for (size_t i : {1, 2}) {
    const std::optional<Shape> s = cx.shape(n.inputs[i]);
    if (s && affine_size >= 0 && (s->size() != 1 || (*s)[0] != affine_size)) {
      cx.fail(std::string(i == 1 ? "scale" : "bias") + " has shape " + shape_str(*s) + " where GroupNormalization-" +
              std::to_string(n.since_version) + " takes [" + std::to_string(affine_size) + "] (one per " +
              (per_group ? "group" : "channel") + ")");
    }
  }
  const Attribute epsilon = Attribute::of_float(n.attr_float("epsilon", 1e-5f));
  const std::string grouped =
      e.add1("Reshape", {x, e.ints({0, groups, -1}, x + "_group_shape")}, e.fresh(x + "_grouped"));
  const std::string shape = shape_value(cx, x);
  if (per_group) {
    const std::string normed = e.add1("InstanceNormalization", {grouped, n.inputs[1], n.inputs[2]},
                                      e.fresh(x + "_group_normalized"), {{"epsilon", epsilon}});
    cx.emit("Reshape", {normed, shape}, {n.outputs[0]});
    return;
  }
  const DType dt = float_type_of(cx, x);
  const std::vector<double> ones(static_cast<size_t>(groups), 1.0), zeros(static_cast<size_t>(groups), 0.0);
  const std::string normed = e.add1("InstanceNormalization",
                                    {grouped, e.constant(float_tensor(dt, {groups}, ones), "group_norm_ones"),
                                     e.constant(float_tensor(dt, {groups}, zeros), "group_norm_zeros")},
                                    e.fresh(x + "_group_normalized"), {{"epsilon", epsilon}});
  const std::string xhat = e.add1("Reshape", {normed, shape}, e.fresh(x + "_normalized"));
  const int64_t rank = cx.required_rank(x, "GroupNormalization-21 (per-channel scale and bias)");
  std::vector<int64_t> trailing;  // scale [C] -> [C, 1, ...] against X [N, C, D...]
  for (int64_t a = 1; a + 1 < rank; ++a) trailing.push_back(a);
  std::string scale = n.inputs[1], bias = n.inputs[2];
  if (!trailing.empty()) {
    scale = e.unsqueeze(scale, trailing, e.fresh(scale + "_per_channel"));
    bias = e.unsqueeze(bias, trailing, e.fresh(bias + "_per_channel"));
  }
  const std::string scaled = e.add1("Mul", {xhat, scale}, e.fresh(x + "_scaled"));
  cx.emit("Add", {scaled, bias}, {n.outputs[0]});
}

// ---- window sums (dilated pooling) ----------------------------------------------------------

// The resolved window of a pooling node on X ([N, C, in...], C and in static).
struct PoolWindow {
  Shape x_shape;
  std::vector<int64_t> in;  // spatial sizes
  WindowGeometry g;
};

PoolWindow pool_window(LoweringContext& cx, const std::string& what) {
  const Node& n = cx.node();
  PoolWindow w;
  w.x_shape = required_static_shape(cx, n.inputs[0], what, /*first_axis=*/1);  // N may be symbolic
  if (w.x_shape.size() < 3 || w.x_shape.size() > 5) {
    cx.fail("X has shape " + shape_str(w.x_shape) + "; pooling takes [N, C, D1 (, D2 (, D3))]");
  }
  w.in.assign(w.x_shape.begin() + 2, w.x_shape.end());
  const WindowAttrs attrs = read_window_attrs(n, /*with_dilations=*/true, /*with_ceil_mode=*/true);
  if (attrs.kernel_shape.size() != w.in.size()) {
    cx.fail("kernel_shape has " + std::to_string(attrs.kernel_shape.size()) + " values for " +
            std::to_string(w.in.size()) + " spatial axes");
  }
  w.g = forward_window_geometry(n, attrs, w.in, attrs.kernel_shape);
  return w;
}

// The end padding that makes a floor-mode window walk reach the windows a ceil_mode walk has:
// (out - 1) * s + (k - 1) * d + 1 positions, the end padding grown where that is longer.
std::vector<int64_t> ceil_end_pads(const PoolWindow& w) {
  std::vector<int64_t> ends = w.g.pads_end;
  for (size_t i = 0; i < w.in.size(); ++i) {
    const int64_t reach = (w.g.out[i] - 1) * w.g.strides[i] + (w.g.kernel[i] - 1) * w.g.dilations[i] + 1;
    ends[i] = std::max(ends[i], reach - w.in[i] - w.g.pads_begin[i]);
  }
  return ends;
}

// sum over each window of v [N, C, in...] (padding zero): a depthwise Conv with a kernel of
// ones [C, 1, k...] (group C) and the window's strides, dilations and pads.
std::string window_sum(LoweringContext& cx, const std::string& v, const PoolWindow& w, DType dt) {
  GraphEditor& e = cx.editor();
  const int64_t channels = w.x_shape[1];
  Shape k_shape = {channels, 1};
  k_shape.insert(k_shape.end(), w.g.kernel.begin(), w.g.kernel.end());
  const std::string ones =
      e.constant(float_tensor(dt, k_shape, std::vector<double>(shape_numel(k_shape), 1.0)), "window_ones");
  std::vector<int64_t> pads = w.g.pads_begin;
  const std::vector<int64_t> ends = ceil_end_pads(w);
  pads.insert(pads.end(), ends.begin(), ends.end());
  return e.add1("Conv", {v, ones}, e.fresh(v + "_window_sum"),
                {{"kernel_shape", Attribute::of_ints(w.g.kernel)},
                 {"strides", Attribute::of_ints(w.g.strides)},
                 {"dilations", Attribute::of_ints(w.g.dilations)},
                 {"pads", Attribute::of_ints(pads)},
                 {"group", Attribute::of_int(channels)}});
}

// 1 / (the number of taps of each window that count), [1, 1, out...]: taps inside the input,
// or with count_include_pad inside the padded input [-pad_begin, in + pad_end) (never the
// positions a ceil_mode window reaches beyond the end padding). 0 for a window of no taps.
Tensor inverse_tap_counts(const PoolWindow& w, bool count_include_pad, DType dt) {
  const size_t r = w.in.size();
  std::vector<std::vector<int64_t>> counts(r);  // per axis, per output position
  for (size_t i = 0; i < r; ++i) {
    const int64_t lo = count_include_pad ? -w.g.pads_begin[i] : 0;
    const int64_t hi = count_include_pad ? w.in[i] + w.g.pads_end[i] : w.in[i];
    for (int64_t o = 0; o < w.g.out[i]; ++o) {
      int64_t c = 0;
      for (int64_t j = 0; j < w.g.kernel[i]; ++j) {
        const int64_t at = o * w.g.strides[i] + j * w.g.dilations[i] - w.g.pads_begin[i];
        c += (at >= lo && at < hi) ? 1 : 0;
      }
      counts[i].push_back(c);
    }
  }
  Shape shape = {1, 1};
  shape.insert(shape.end(), w.g.out.begin(), w.g.out.end());
  std::vector<double> values(static_cast<size_t>(shape_numel(shape)));
  for (size_t flat = 0; flat < values.size(); ++flat) {
    int64_t rest = static_cast<int64_t>(flat), count = 1;
    for (size_t i = r; i-- > 0;) {
      count *= counts[i][static_cast<size_t>(rest % w.g.out[i])];
      rest /= w.g.out[i];
    }
    values[flat] = count > 0 ? 1.0 / static_cast<double>(count) : 0.0;
  }
  return float_tensor(dt, shape, values);
}

// ---- AveragePool-19 -------------------------------------------------------------------------

// Without dilations (all 1) AveragePool-19 is AveragePool-11. With dilations, the window sums
// of a depthwise Conv of ones times the inverse tap counts, a constant of the static shape.
void lower_average_pool(LoweringContext& cx) {
  const Node& n = cx.node();
  if (all_ones(n.attr_ints("dilations", {}))) {
    std::map<std::string, Attribute> attributes = n.attributes;
    attributes.erase("dilations");
    cx.keep(attributes);
    return;
  }
  const PoolWindow w = pool_window(cx, "AveragePool-19 with dilations");
  const DType dt = float_type_of(cx, n.inputs[0]);
  const std::string sum = window_sum(cx, n.inputs[0], w, dt);
  const bool count_include_pad = n.attr_int("count_include_pad", 0) != 0;
  const std::string inverse = cx.editor().constant(inverse_tap_counts(w, count_include_pad, dt), "pool_inverse_counts");
  cx.emit("Mul", {sum, inverse}, {n.outputs[0]});
}

// ---- LpPool-18 ------------------------------------------------------------------------------

// y = (sum over the window of |x|^p)^(1/p); padding contributes zero, so the windows ceil_mode
// adds are the same pool with a longer end padding. Without dilations: LpPool-11 (the end pads
// grown for ceil_mode); with dilations: |x|^p summed by a depthwise Conv of ones, then ^(1/p).
void lower_lp_pool(LoweringContext& cx) {
  const Node& n = cx.node();
  GraphEditor& e = cx.editor();
  const bool ceil_mode = n.attr_int("ceil_mode", 0) != 0;
  const int64_t p = n.attr_int("p", 2);
  if (p < 1) cx.fail("p must be at least 1, not " + std::to_string(p));
  std::map<std::string, Attribute> attributes = n.attributes;
  attributes.erase("dilations");
  attributes.erase("ceil_mode");
  const bool dilated = !all_ones(n.attr_ints("dilations", {}));
  if (!dilated && !ceil_mode) {
    cx.keep(attributes);
    return;
  }
  const PoolWindow w = pool_window(cx, std::string("LpPool-18 with ") + (dilated ? "dilations" : "ceil_mode"));
  if (!dilated) {
    std::vector<int64_t> pads = w.g.pads_begin;
    const std::vector<int64_t> ends = ceil_end_pads(w);
    pads.insert(pads.end(), ends.begin(), ends.end());
    attributes.erase("auto_pad");  // the geometry resolved it into pads
    attributes["pads"] = Attribute::of_ints(pads);
    cx.keep(attributes);
    return;
  }
  const std::string& x = n.inputs[0];
  const DType dt = float_type_of(cx, x);
  std::string powered;
  if (p == 2) {
    powered = e.add1("Mul", {x, x}, e.fresh(x + "_squared"));
  } else {
    powered = e.add1("Abs", {x}, e.fresh(x + "_abs"));
    if (p > 1) {
      powered = e.add1("Pow", {powered, e.constant(scalar_tensor(dt, static_cast<double>(p)), "lp_pool_p")},
                       e.fresh(x + "_abs_pow"));
    }
  }
  const std::string sum = window_sum(cx, powered, w, dt);
  if (p == 1) {
    cx.emit("Identity", {sum}, {n.outputs[0]});
  } else if (p == 2) {
    cx.emit("Sqrt", {sum}, {n.outputs[0]});
  } else {
    cx.emit("Pow", {sum, e.constant(scalar_tensor(dt, 1.0 / static_cast<double>(p)), "lp_pool_inverse_p")},
            {n.outputs[0]});
  }
}

}  // namespace

ONNX_TRAIN_LOWERINGS(vision_norm_pool) {
  rules.push_back({"GroupNormalization", 18, lower_group_normalization, "InstanceNormalization on [N, G, -1]"});
  rules.push_back({"GroupNormalization", 21, lower_group_normalization,
                   "InstanceNormalization on [N, G, -1], per-channel Mul, Add"});
  rules.push_back({"AveragePool", 19, lower_average_pool, "AveragePool-11; dilated: depthwise Conv of ones, Mul"});
  rules.push_back({"LpPool", 18, lower_lp_pool, "LpPool-11; dilated: Abs, Pow, depthwise Conv of ones, Pow"});
}

}  // namespace onnx_train
