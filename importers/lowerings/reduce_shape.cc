// Lowerings of the reduction, shape and signal op versions of opsets 18-20 whose change was an
// attribute becoming an input (or a new attribute): Reduce*-18 (axes input, ReduceMax/Min-20
// on bool), Split-18 (num_outputs), Pad-18/19 (axes input, wrap mode), CenterCropPad-18 (Slice
// + Pad), Col2Im-18 (a ConvTranspose) and DFT-20 (axis input).
//
// Each becomes the opset-17 form of the same op where one exists, with the new input read as
// a constant (initializer or Constant node). Where a value is not constant the rule either
// builds it at run time from opset-17 ops (a Split's sizes, a ReduceMean over axes given at
// run time: ReduceSum-13 takes its axes as an input) or refuses the node with what to do.
// Pad's wrap mode has no opset-17 form: the node keeps mode "wrap" and the Pad kernel
// (runtime/kernels/reference/shape_movement.cc) implements it.
#include <algorithm>
#include <string>
#include <vector>

#include "importers/lower_opset.h"
#include "onnx_train/error.h"

namespace onnx_train {

namespace {

int64_t cast_to(DType dtype) { return static_cast<int64_t>(dtype); }

// ---- Reduce*-18: axes as an optional input, noop_with_empty_axes --------------------------

// y = Reduce(x) over constant `axes` (empty: every axis) in the -13 form (axes attribute).
// ReduceMax/Min-20 also take bool: they run on uint8 (max is or, min is and) and cast back.
void reduce_with_attribute(LoweringContext& cx, const std::vector<int64_t>& axes, bool keepdims) {
  const Node& n = cx.node();
  GraphEditor& e = cx.editor();
  std::map<std::string, Attribute> attributes{{"keepdims", Attribute::of_int(keepdims ? 1 : 0)}};
  if (!axes.empty()) attributes["axes"] = Attribute::of_ints(axes);
  const std::string& x = n.inputs[0];
  if (cx.dtype(x) != DType::Bool) {
    cx.emit(n.op_type, {x}, {n.outputs[0]}, attributes);
    return;
  }
  if (n.op_type != "ReduceMax" && n.op_type != "ReduceMin")
    cx.fail("bool input: only ReduceMax and ReduceMin take bool; cast the input to a numeric type");
  const std::string as_int =
      e.add1("Cast", {x}, e.fresh(x + "_uint8"), {{"to", Attribute::of_int(cast_to(DType::UInt8))}});
  const std::string r = e.add1(n.op_type, {as_int}, e.fresh(n.outputs[0] + "_uint8"), attributes);
  cx.emit("Cast", {r}, {n.outputs[0]}, {{"to", Attribute::of_int(cast_to(DType::Bool))}});
}

// Reduce over axes known only at run time, through ReduceSum-13 (axes input):
//   ReduceMean = ReduceSum(x) / (Size(x) / Size(sum)), ReduceSumSquare = ReduceSum(x * x),
//   ReduceL1 = ReduceSum(|x|), ReduceL2 = Sqrt(ReduceSum(x * x)), ReduceLogSum = Log(ReduceSum(x)),
//   ReduceLogSumExp = Log(ReduceSum(Exp(x - m))) + m with m = the max of all of x (a scalar,
//   so exp cannot overflow; NOTE: a slice lying wholly ~100 (float32) below the global max
//   underflows to -inf, which the attribute form of constant axes does not).
// With noop_with_empty_axes=1 and empty axes, ReduceSum-13 passes its input through, which
// leaves exactly the elementwise part of each (|x|, x * x, log x...): what Reduce*-18 gives.
void reduce_with_axes_input(LoweringContext& cx, bool keepdims, bool noop) {
  const Node& n = cx.node();
  GraphEditor& e = cx.editor();
  const std::string& op = n.op_type;
  if (op == "ReduceMax" || op == "ReduceMin" || op == "ReduceProd")
    cx.fail("axes '" + n.inputs[1] + "' is not a constant: opset 17's " + op +
            " takes its axes as an attribute; make axes an initializer or a Constant");
  const std::string& x = n.inputs[0];
  const std::string& y = n.outputs[0];
  const std::map<std::string, Attribute> sum_attributes{{"keepdims", Attribute::of_int(keepdims ? 1 : 0)},
                                                        {"noop_with_empty_axes", Attribute::of_int(noop ? 1 : 0)}};
  auto sum = [&](const std::string& v, const std::string& out) {
    return e.add1("ReduceSum", {v, n.inputs[1]}, out, sum_attributes);
  };
  if (op == "ReduceMean") {
    const std::string s = sum(x, e.fresh(y + "_sum"));
    const std::string count =
        e.add1("Div", {e.add1("Size", {x}, e.fresh(x + "_size")), e.add1("Size", {s}, e.fresh(s + "_size"))},
               e.fresh(y + "_count"));
    cx.emit("Div", {s, e.add1("CastLike", {count, x}, e.fresh(count + "_cast"))}, {y});
  } else if (op == "ReduceSumSquare") {
    cx.emit("ReduceSum", {e.add1("Mul", {x, x}, e.fresh(x + "_squared")), n.inputs[1]}, {y}, sum_attributes);
  } else if (op == "ReduceL1") {
    cx.emit("ReduceSum", {e.add1("Abs", {x}, e.fresh(x + "_abs")), n.inputs[1]}, {y}, sum_attributes);
  } else if (op == "ReduceL2") {
    cx.emit("Sqrt", {sum(e.add1("Mul", {x, x}, e.fresh(x + "_squared")), e.fresh(y + "_sum"))}, {y});
  } else if (op == "ReduceLogSum") {
    cx.emit("Log", {sum(x, e.fresh(y + "_sum"))}, {y});
  } else {  // ReduceLogSumExp
    const std::string m = e.reduce("ReduceMax", x, {}, false, e.fresh(x + "_max"));
    const std::string shifted = e.add1("Exp", {e.add1("Sub", {x, m}, e.fresh(x + "_shifted"))}, e.fresh(x + "_exp"));
    cx.emit("Add", {e.add1("Log", {sum(shifted, e.fresh(y + "_sum"))}, e.fresh(y + "_log")), m}, {y});
  }
}

// noop_with_empty_axes=1 with empty axes: nothing is reduced, and what remains is the
// elementwise part of the reduction (as ONNX's reference and ONNX Runtime compute it):
// ReduceL1 and ReduceL2 give |x|, ReduceSumSquare x * x, ReduceLogSum log x, the others x.
void reduce_nothing(LoweringContext& cx) {
  const Node& n = cx.node();
  const std::string& x = n.inputs[0];
  const std::string& op = n.op_type;
  if (op == "ReduceL1" || op == "ReduceL2")
    cx.emit("Abs", {x}, {n.outputs[0]});
  else if (op == "ReduceSumSquare")
    cx.emit("Mul", {x, x}, {n.outputs[0]});
  else if (op == "ReduceLogSum")
    cx.emit("Log", {x}, {n.outputs[0]});
  else
    cx.emit("Identity", {x}, {n.outputs[0]});
}

void lower_reduce(LoweringContext& cx) {
  const Node& n = cx.node();
  const bool keepdims = n.attr_int("keepdims", 1) != 0;
  const bool noop = n.attr_int("noop_with_empty_axes", 0) != 0;
  std::vector<int64_t> axes;
  if (n.has_input(1)) {
    const std::optional<std::vector<int64_t>> constant = cx.constant_ints(n.inputs[1]);
    if (!constant) {
      reduce_with_axes_input(cx, keepdims, noop);
      return;
    }
    axes = *constant;
  }
  if (axes.empty() && noop) {
    reduce_nothing(cx);
    return;
  }
  reduce_with_attribute(cx, axes, keepdims);
}

// ---- Split-18: num_outputs ------------------------------------------------------------------

// The sizes of a split of `dim` elements into n parts of ceil(dim / n), the last one smaller.
std::vector<int64_t> chunk_sizes(LoweringContext& cx, int64_t dim, int64_t n) {
  const int64_t chunk = (dim + n - 1) / n;
  const int64_t last = dim - chunk * (n - 1);
  if (last < 1)
    cx.fail(fmt::format("num_outputs={} cannot split {} elements: parts of {} leave none for the last output", n, dim,
                        chunk));
  std::vector<int64_t> sizes(static_cast<size_t>(n - 1), chunk);
  sizes.push_back(last);
  return sizes;
}

// The same sizes computed at run time from d = Shape(x)[axis]: chunk = (d + n - 1) / n,
// split = [chunk] * (n - 1) ++ [d - chunk * (n - 1)] (int64 [n]).
std::string dynamic_chunk_sizes(LoweringContext& cx, const std::string& x, int64_t axis, int64_t n) {
  GraphEditor& e = cx.editor();
  const std::string d = e.add1("Gather", {e.add1("Shape", {x}, e.fresh(x + "_shape")), e.ints({axis}, x + "/axis")},
                               e.fresh(x + "_split_dim"));
  const std::string chunk =
      e.add1("Div", {e.add1("Add", {d, e.ints({n - 1}, x + "/n_minus_1")}, e.fresh(d + "_up")), e.ints({n}, x + "/n")},
             e.fresh(x + "_chunk"));
  const std::string firsts = e.add1("Tile", {chunk, e.ints({n - 1}, x + "/repeats")}, e.fresh(x + "_chunks"));
  const std::string last =
      e.add1("Sub", {d, e.add1("Mul", {chunk, e.ints({n - 1}, x + "/n_minus_1")}, e.fresh(chunk + "_times"))},
             e.fresh(x + "_last_chunk"));
  return e.add1("Concat", {firsts, last}, e.fresh(x + "_split"), {{"axis", Attribute::of_int(0)}});
}

// Split-18: with a split input it is Split-13; with num_outputs n, parts of ceil(dim / n)
// (equal parts when n divides dim, which Split-13 makes without a split input). Unlike
// Split-13, one of the two must be given.
void lower_split(LoweringContext& cx) {
  const Node& n = cx.node();
  const int64_t axis = n.attr_int("axis", 0);
  const std::map<std::string, Attribute> attributes{{"axis", Attribute::of_int(axis)}};
  const std::string& x = n.inputs[0];
  if (n.has_input(1) == n.has_attr("num_outputs"))
    cx.fail("Split-18 takes either the split input or the num_outputs attribute (one of them, not both)");
  if (n.has_input(1)) {
    cx.emit("Split", n.inputs, n.outputs, attributes);
    return;
  }
  const int64_t parts = n.attr_int("num_outputs");
  if (parts < 1 || static_cast<size_t>(parts) != n.outputs.size())
    cx.fail(fmt::format("num_outputs={} but the node has {} outputs", parts, n.outputs.size()));
  const std::optional<Shape> shape = cx.shape(x);
  int64_t dim = -1;
  if (shape) {
    const int64_t rank = static_cast<int64_t>(shape->size());
    dim = (*shape)[static_cast<size_t>(cx.normalized_axes({axis}, rank)[0])];
  }
  if (dim < 0) {
    cx.emit("Split", {x, dynamic_chunk_sizes(cx, x, axis, parts)}, n.outputs, attributes);
  } else if (dim % parts == 0) {
    cx.emit("Split", {x}, n.outputs, attributes);
  } else {
    cx.emit("Split", {x, cx.editor().ints(chunk_sizes(cx, dim, parts), x + "/split")}, n.outputs, attributes);
  }
}

// ---- Pad-18 (axes input), Pad-19 (wrap) ------------------------------------------------------

// The full-rank pads [begin_0 .. begin_r-1, end_0 .. end_r-1] of pads given for `axes` only
// (pads = [begins of axes..., ends of axes...]), zeros elsewhere. Constant pads give a
// constant; pads known at run time are scattered into zeros (ScatterElements at the
// positions a and a + rank of every axis a).
std::string full_rank_pads(LoweringContext& cx, const std::vector<int64_t>& axes, int64_t rank) {
  const Node& n = cx.node();
  GraphEditor& e = cx.editor();
  const size_t k = axes.size();
  std::vector<int64_t> positions(2 * k);
  for (size_t i = 0; i < k; ++i) {
    positions[i] = axes[i];
    positions[i + k] = axes[i] + rank;
  }
  if (std::optional<std::vector<int64_t>> pads = cx.constant_ints(n.inputs[1])) {
    if (pads->size() != 2 * k)
      cx.fail(fmt::format("pads has {} entries for {} axes: it needs 2 * {}", pads->size(), k, k));
    std::vector<int64_t> full(static_cast<size_t>(2 * rank), 0);
    for (size_t i = 0; i < 2 * k; ++i) full[static_cast<size_t>(positions[i])] = (*pads)[i];
    return e.ints(full, n.inputs[1] + "/full_rank");
  }
  const std::string zeros = e.ints(std::vector<int64_t>(static_cast<size_t>(2 * rank), 0), n.inputs[1] + "/zeros");
  return e.add1("ScatterElements", {zeros, e.ints(positions, n.inputs[1] + "/positions"), n.inputs[1]},
                e.fresh(n.inputs[1] + "_full_rank"), {{"axis", Attribute::of_int(0)}});
}

// The same for axes known only at run time (int32 or int64 [k]): the positions
// [a mod rank ..., (a mod rank) + rank ...] are computed then, and the pads scattered there.
std::string full_rank_pads_at_run_time(LoweringContext& cx, int64_t rank) {
  const Node& n = cx.node();
  GraphEditor& e = cx.editor();
  const std::string& axes = n.inputs[3];
  const std::string r = e.ints({rank}, axes + "/rank");
  const std::string as_int64 =
      e.add1("Cast", {axes}, e.fresh(axes + "_int64"), {{"to", Attribute::of_int(cast_to(DType::Int64))}});
  const std::string wrapped =
      e.add1("Mod", {e.add1("Add", {as_int64, r}, e.fresh(axes + "_plus_rank")), r}, e.fresh(axes + "_wrapped"));
  const std::string positions = e.add1("Concat", {wrapped, e.add1("Add", {wrapped, r}, e.fresh(axes + "_ends"))},
                                       e.fresh(axes + "_positions"), {{"axis", Attribute::of_int(0)}});
  const std::string zeros = e.ints(std::vector<int64_t>(static_cast<size_t>(2 * rank), 0), n.inputs[1] + "/zeros");
  return e.add1("ScatterElements", {zeros, positions, n.inputs[1]}, e.fresh(n.inputs[1] + "_full_rank"),
                {{"axis", Attribute::of_int(0)}});
}

// Pad-18/19 -> Pad-13: pads for the given axes become full-rank pads; the mode stays (wrap,
// new at 19, is a mode of the Pad kernel). A constant_value outside mode constant, which
// Pad ignores, is left out.
void lower_pad(LoweringContext& cx) {
  const Node& n = cx.node();
  const std::string mode = n.attr_string("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" && !(mode == "wrap" && n.since_version >= 19))
    cx.fail("mode '" + mode + "' is not a mode of Pad-" + std::to_string(n.since_version) +
            " (constant, reflect, edge" + (n.since_version >= 19 ? ", wrap)" : "; wrap from opset 19)"));
  std::vector<std::string> inputs(n.inputs.begin(), n.inputs.begin() + std::min<size_t>(n.inputs.size(), 3));
  if (n.has_input(3)) {
    const int64_t rank = cx.required_rank(n.inputs[0], "padding only some axes");
    if (const std::optional<std::vector<int64_t>> axes = cx.constant_ints(n.inputs[3]))
      inputs[1] = full_rank_pads(cx, cx.normalized_axes(*axes, rank), rank);
    else
      inputs[1] = full_rank_pads_at_run_time(cx, rank);
  }
  if (mode != "constant" && inputs.size() > 2) inputs.resize(2);  // constant_value only serves mode constant
  while (!inputs.empty() && inputs.back().empty()) inputs.pop_back();
  cx.emit("Pad", inputs, n.outputs, {{"mode", Attribute::of_string(mode)}});
}

// ---- CenterCropPad-18 -----------------------------------------------------------------------

// y = x centred in `shape` along `axes` (default: all): an axis of d elements cut to s < d
// keeps x[(d - s) / 2 : (d - s) / 2 + s] (Slice); one grown to s > d gets (s - d) / 2 zeros
// before and the rest after (Pad). With the sizes static: constant starts and pads.
void center_crop_pad_static(LoweringContext& cx, const Shape& shape, const std::vector<int64_t>& axes,
                            const std::vector<int64_t>& target) {
  const Node& n = cx.node();
  GraphEditor& e = cx.editor();
  const std::string& x = n.inputs[0];
  const int64_t rank = static_cast<int64_t>(shape.size());
  std::vector<int64_t> starts, ends, slice_axes, pads(static_cast<size_t>(2 * rank), 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t d = shape[static_cast<size_t>(axes[i])], s = target[i];
    if (d > s) {
      starts.push_back((d - s) / 2);
      ends.push_back((d - s) / 2 + s);
      slice_axes.push_back(axes[i]);
    } else if (d < s) {
      pads[static_cast<size_t>(axes[i])] = (s - d) / 2;
      pads[static_cast<size_t>(axes[i] + rank)] = s - d - (s - d) / 2;
    }
  }
  const bool pads_any = std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p != 0; });
  std::string v = x;
  if (!slice_axes.empty()) {
    const std::vector<std::string> slice_inputs{x, e.ints(starts, x + "/starts"), e.ints(ends, x + "/ends"),
                                                e.ints(slice_axes, x + "/axes")};
    if (!pads_any) {
      cx.emit("Slice", slice_inputs, {n.outputs[0]});
      return;
    }
    v = e.add1("Slice", slice_inputs, e.fresh(x + "_cropped"));
  }
  if (pads_any)
    cx.emit("Pad", {v, e.ints(pads, x + "/pads")}, {n.outputs[0]}, {{"mode", Attribute::of_string("constant")}});
  else
    cx.emit("Identity", {v}, {n.outputs[0]});
}

// The same with sizes known only at run time, d = Shape(x)[axes] (int64 [k]):
//   crop = max(d - s, 0), start = crop / 2, end = start + min(d, s)      -> Slice(x, start, end, axes)
//   grow = max(s - d, 0), begin = grow / 2, rest = grow - begin           -> Pad with begin / rest
//   scattered into full-rank pads (positions a and a + rank of every axis a).
void center_crop_pad_dynamic(LoweringContext& cx, int64_t rank, const std::vector<int64_t>& axes,
                             const std::vector<int64_t>& target) {
  const Node& n = cx.node();
  GraphEditor& e = cx.editor();
  const std::string& x = n.inputs[0];
  auto op = [&](const char* type, std::vector<std::string> inputs, const char* hint) {
    return e.add1(type, std::move(inputs), e.fresh(x + hint));
  };
  const std::string zero = e.ints({0}, x + "/zero"), two = e.ints({2}, x + "/two");
  const std::string s = e.ints(target, x + "/target");
  const std::string d = op("Gather", {op("Shape", {x}, "_shape"), e.ints(axes, x + "/axes")}, "_sizes");
  const std::string start = op("Div", {op("Max", {op("Sub", {d, s}, "_excess"), zero}, "_crop"), two}, "_starts");
  const std::string end = op("Add", {start, op("Min", {d, s}, "_kept")}, "_ends");
  const std::string cropped = op("Slice", {x, start, end, e.ints(axes, x + "/slice_axes")}, "_cropped");
  const std::string grow = op("Max", {op("Sub", {s, d}, "_missing"), zero}, "_grow");
  const std::string begin = op("Div", {grow, two}, "_pad_begin");
  const std::vector<int64_t> zeros(static_cast<size_t>(2 * rank), 0);
  std::vector<int64_t> positions(axes);
  for (int64_t a : axes) positions.push_back(a + rank);
  const std::string pads = e.add1("ScatterElements",
                                  {e.ints(zeros, x + "/no_pads"), e.ints(positions, x + "/pad_positions"),
                                   e.add1("Concat", {begin, op("Sub", {grow, begin}, "_pad_end")},
                                          e.fresh(x + "_axis_pads"), {{"axis", Attribute::of_int(0)}})},
                                  e.fresh(x + "_pads"), {{"axis", Attribute::of_int(0)}});
  cx.emit("Pad", {cropped, pads}, {n.outputs[0]}, {{"mode", Attribute::of_string("constant")}});
}

void lower_center_crop_pad(LoweringContext& cx) {
  const Node& n = cx.node();
  const std::string& x = n.inputs[0];
  const std::vector<int64_t> target = *cx.required_constant_ints(1, "shape");
  const int64_t rank = cx.required_rank(x, "CenterCropPad");
  std::vector<int64_t> axes(static_cast<size_t>(rank));
  for (int64_t a = 0; a < rank; ++a) axes[static_cast<size_t>(a)] = a;
  if (n.has_attr("axes")) axes = cx.normalized_axes(n.attr_ints("axes"), rank);
  if (target.size() != axes.size())
    cx.fail(fmt::format("shape has {} entries for {} axes", target.size(), axes.size()));
  if (std::any_of(target.begin(), target.end(), [](int64_t s) { return s < 0; }))
    cx.fail(fmt::format("shape {} has a negative size", shape_str(target)));
  const std::optional<Shape> shape = cx.shape(x);
  const bool sizes_static =
      shape && std::all_of(axes.begin(), axes.end(), [&](int64_t a) { return (*shape)[static_cast<size_t>(a)] >= 0; });
  if (sizes_static)
    center_crop_pad_static(cx, *shape, axes, target);
  else
    center_crop_pad_dynamic(cx, rank, axes, target);
}

// ---- DFT-20: axis as an input ---------------------------------------------------------------

// DFT-20 -> DFT-17: the axis input (default -2, counting the trailing real/imaginary axis)
// becomes DFT-17's attribute, made non-negative with the input's rank.
void lower_dft(LoweringContext& cx) {
  const Node& n = cx.node();
  int64_t axis = -2;
  if (n.has_input(2)) {
    const std::vector<int64_t> given = *cx.required_constant_ints(2, "axis");
    if (given.size() != 1) cx.fail(fmt::format("axis has {} values; it is a scalar", given.size()));
    axis = given[0];
  }
  if (axis < 0) axis += cx.required_rank(n.inputs[0], "a negative axis");
  std::vector<std::string> inputs{n.inputs[0]};
  if (n.has_input(1)) inputs.push_back(n.inputs[1]);
  cx.emit("DFT", inputs, n.outputs,
          {{"axis", Attribute::of_int(axis)},
           {"inverse", Attribute::of_int(n.attr_int("inverse", 0))},
           {"onesided", Attribute::of_int(n.attr_int("onesided", 0))}});
}

// ---- Col2Im-18 ------------------------------------------------------------------------------

// A one-hot ConvTranspose weight [C * K, 1, b_1, ..., b_n] (K = b_1 * ... * b_n): channel
// c * K + k holds a 1 at block position k (row-major) and zeros elsewhere. Made as uint8 and
// cast: a float Constant would be taken for a weight that an exporter folded, and trained.
Tensor one_hot_blocks(int64_t channels, const std::vector<int64_t>& block) {
  int64_t k = 1;
  for (int64_t b : block) k *= b;
  Shape shape{channels * k, 1};
  shape.insert(shape.end(), block.begin(), block.end());
  Tensor w(DType::UInt8, shape);
  uint8_t* p = w.data<uint8_t>();
  std::fill(p, p + w.numel(), uint8_t{0});
  for (int64_t i = 0; i < channels * k; ++i) p[i * k + i % k] = 1;
  return w;
}

// y = Col2Im(x [N, C * K, L], image_shape, block_shape): every column l of x is a block of
// C x b_1 x ... x b_n values added into the image at the l-th sliding-window position
// (strides, dilations, pads). That is a ConvTranspose, group C, of x viewed as
// [N, C * K, L_1, ..., L_n] (L_d = (image_d + pads - dilation_d (b_d - 1) - 1) / stride_d + 1
// windows per axis) with the one-hot weight above; output_padding restores the rows the
// floor left out. image_shape, block_shape and C * K must be known when the model loads.
void lower_col2im(LoweringContext& cx) {
  const Node& n = cx.node();
  const std::vector<int64_t> image = *cx.required_constant_ints(1, "image_shape");
  const std::vector<int64_t> block = *cx.required_constant_ints(2, "block_shape");
  const size_t nd = block.size();
  if (image.size() != nd)
    cx.fail(fmt::format("image_shape {} and block_shape {} differ in length", shape_str(image), shape_str(block)));
  const std::vector<int64_t> ones(nd, 1);
  const std::vector<int64_t> strides = n.attr_ints("strides", ones), dilations = n.attr_ints("dilations", ones);
  const std::vector<int64_t> pads = n.attr_ints("pads", std::vector<int64_t>(2 * nd, 0));
  if (strides.size() != nd || dilations.size() != nd || pads.size() != 2 * nd)
    cx.fail(fmt::format("strides, dilations and pads need {}, {} and {} entries", nd, nd, 2 * nd));
  const std::string& x = n.inputs[0];
  const std::optional<Shape> shape = cx.shape(x);
  if (!shape || shape->size() != 3 || (*shape)[1] < 0)
    cx.fail("input '" + x + "' needs a known rank of 3 and a static second dimension (C * block size)");
  int64_t k = 1, windows = 1;
  for (int64_t b : block) k *= b;
  if (k <= 0 || (*shape)[1] % k != 0)
    cx.fail(fmt::format("input '{}' has {} rows, not a multiple of the block size {}", x, (*shape)[1], k));
  std::vector<int64_t> viewed{0, (*shape)[1]}, output_padding(nd);
  for (size_t d = 0; d < nd; ++d) {
    const int64_t span = image[d] + pads[d] + pads[d + nd] - dilations[d] * (block[d] - 1) - 1;
    if (span < 0 || strides[d] <= 0)
      cx.fail(fmt::format("the block does not fit axis {} of image_shape {}", d, shape_str(image)));
    viewed.push_back(span / strides[d] + 1);
    output_padding[d] = span % strides[d];
    windows *= viewed.back();
  }
  if ((*shape)[2] >= 0 && (*shape)[2] != windows)
    cx.fail(fmt::format("input '{}' has {} columns but the image holds {} block positions", x, (*shape)[2], windows));
  GraphEditor& e = cx.editor();
  const DType dtype = cx.dtype(x);
  if (dtype != DType::Float32 && dtype != DType::Float64) cx.fail("input '" + x + "' must be float32 or float64");
  const std::string view = e.add1("Reshape", {x, e.ints(viewed, x + "/windows")}, e.fresh(x + "_windows"));
  const std::string w = e.add1("Cast", {e.constant(one_hot_blocks((*shape)[1] / k, block), x + "/one_hot_blocks")},
                               e.fresh(x + "_one_hot_blocks"), {{"to", Attribute::of_int(cast_to(dtype))}});
  cx.emit("ConvTranspose", {view, w}, n.outputs,
          {{"group", Attribute::of_int((*shape)[1] / k)},
           {"kernel_shape", Attribute::of_ints(block)},
           {"strides", Attribute::of_ints(strides)},
           {"dilations", Attribute::of_ints(dilations)},
           {"pads", Attribute::of_ints(pads)},
           {"output_padding", Attribute::of_ints(output_padding)}});
}

}  // namespace

ONNX_TRAIN_LOWERINGS(reduce_shape) {
  for (const char* op : {"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
                         "ReduceMin", "ReduceProd", "ReduceSumSquare"})
    rules.push_back({op, 18, lower_reduce, std::string(op) + "-13 (axes attribute), or ReduceSum-13"});
  rules.push_back({"Split", 18, lower_split, "Split-13 with the sizes of num_outputs"});
  rules.push_back({"Pad", 18, lower_pad, "Pad-13 with full-rank pads"});
  rules.push_back({"Pad", 19, lower_pad, "Pad-13 (wrap: a mode of the Pad kernel)"});
  rules.push_back({"CenterCropPad", 18, lower_center_crop_pad, "Slice, Pad"});
  rules.push_back({"Col2Im", 18, lower_col2im, "Reshape, ConvTranspose with a one-hot weight"});
  rules.push_back({"DFT", 20, lower_dft, "DFT-17 (axis attribute)"});
}

}  // namespace onnx_train
