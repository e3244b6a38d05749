// Lowerings of the sampling-grid op versions of opset 20: GridSample-20 (its modes renamed
// linear / cubic, and volumetric inputs) to GridSample-16 (plane by plane, weighted over depth,
// for volumes), and AffineGrid-20 to a MatMul of a constant base grid with the transposed
// affine matrices.
#include <optional>
#include <string>
#include <vector>

#include "importers/lower_opset.h"
#include "importers/lowerings/vision_util.h"

namespace onnx_train {
namespace {

using vision_lowering::float_type_of;

// ---- GridSample-20 --------------------------------------------------------------------------

// GridSample-16's name of a GridSample-20 mode (bilinear -> linear, bicubic -> cubic).
std::string grid_sample_16_mode(LoweringContext& cx) {
  const std::string mode = cx.node().attr_string("mode", "linear");
  if (mode == "linear") return "bilinear";
  if (mode == "cubic") return "bicubic";
  if (mode == "nearest") return "nearest";
  cx.fail("mode '" + mode + "' is not one of linear, nearest, cubic");
}

// The depth weights of volumetric sampling, [N, 1, D, P]: for the grid's z [N, 1, 1, P],
// iz = unnormalised z (align_corners: (z + 1) / 2 * (D - 1), else ((z + 1) * D - 1) / 2),
// clamped to [0, D - 1] with border padding; linear: w_d = max(0, 1 - |d - iz|) (a depth
// outside the volume gets no weight: zeros padding), nearest: w_d = (d == round(iz)).
std::string depth_weights(LoweringContext& cx, const std::string& z, int64_t depth, bool nearest, DType dt) {
  GraphEditor& e = cx.editor();
  const bool align = cx.node().attr_int("align_corners", 0) != 0;
  const double d = static_cast<double>(depth);
  const double scale = align ? (d - 1) / 2 : d / 2, shift = (d - 1) / 2;
  std::string iz = e.add1("Mul", {z, e.constant(scalar_tensor(dt, scale), "depth_scale")}, e.fresh(z + "_scaled"));
  iz = e.add1("Add", {iz, e.constant(scalar_tensor(dt, shift), "depth_shift")}, e.fresh(z + "_depth"));
  if (cx.node().attr_string("padding_mode", "zeros") == "border")
    iz = e.clip(iz, 0, d - 1, dt, e.fresh(z + "_clamped"));
  std::vector<double> index(static_cast<size_t>(depth));
  for (int64_t i = 0; i < depth; ++i) index[static_cast<size_t>(i)] = static_cast<double>(i);
  const std::string depths = e.constant(float_tensor(dt, {1, 1, depth, 1}, index), "depth_index");
  if (nearest) {
    const std::string rounded = e.add1("Round", {iz}, e.fresh(z + "_nearest"));
    const std::string hit = e.add1("Equal", {depths, rounded}, e.fresh(z + "_hit"));
    return e.add1("Cast", {hit}, e.fresh(z + "_weights"), {{"to", Attribute::of_int(static_cast<int64_t>(dt))}});
  }
  const std::string distance =
      e.add1("Abs", {e.add1("Sub", {depths, iz}, e.fresh(z + "_offset"))}, e.fresh(z + "_distance"));
  const std::string rest =
      e.add1("Sub", {e.constant(scalar_tensor(dt, 1.0), "one"), distance}, e.fresh(z + "_closeness"));
  return e.add1("Relu", {rest}, e.fresh(z + "_weights"));
}

// Volumetric X [N, C, D, H, W], grid [N, Do, Ho, Wo, 3] (x, y, z): GridSample-16 samples the
// C * D planes at (x, y) ([N, C * D, Do * Ho, Wo]), and the depth weights of z combine the D
// samples of each channel: Y [N, C, Do, Ho, Wo] = sum over d of S[n, c, d, p] * w[n, d, p].
// Linear and nearest with zeros or border padding (ONNX Runtime samples volumes in those too;
// it has no volumetric cubic).
void lower_volumetric_grid_sample(LoweringContext& cx, const std::string& mode) {
  const Node& n = cx.node();
  GraphEditor& e = cx.editor();
  const std::string padding = n.attr_string("padding_mode", "zeros");
  if (mode == "bicubic" || padding == "reflection") {
    cx.fail(
        "volumetric GridSample (5-D X) is supported with mode linear or nearest and padding_mode zeros or "
        "border, not " +
        std::string(mode == "bicubic" ? "mode cubic" : "padding_mode reflection"));
  }
  const Shape x = vision_lowering::required_static_shape(cx, n.inputs[0], "volumetric GridSample", 1);
  const Shape grid = vision_lowering::required_static_shape(cx, n.inputs[1], "volumetric GridSample", 1);
  if (grid.size() != 5 || grid[4] != 3) cx.fail("grid " + shape_str(grid) + " must be [N, D_out, H_out, W_out, 3]");
  const int64_t c = x[1], depth = x[2], positions = grid[1] * grid[2] * grid[3];
  const DType dt = float_type_of(cx, n.inputs[1]);
  const std::string planes = e.add1("Reshape", {n.inputs[0], e.ints({0, c * depth, x[3], x[4]}, "volume_planes")},
                                    e.fresh(n.inputs[0] + "_planes"));
  const std::string& g = n.inputs[1];
  const std::string xy =
      e.add1("Slice", {g, e.ints({0}, "start"), e.ints({2}, "end"), e.ints({4}, "axis")}, e.fresh(g + "_xy"));
  const std::string z =
      e.add1("Slice", {g, e.ints({2}, "start"), e.ints({3}, "end"), e.ints({4}, "axis")}, e.fresh(g + "_z"));
  const std::string flat_xy =
      e.add1("Reshape", {xy, e.ints({0, grid[1] * grid[2], grid[3], 2}, "grid_xy_shape")}, e.fresh(g + "_xy_planar"));
  std::map<std::string, Attribute> attributes = n.attributes;
  attributes["mode"] = Attribute::of_string(mode);
  const std::string sampled = e.add1("GridSample", {planes, flat_xy}, e.fresh(n.outputs[0] + "_planes"), attributes);
  const std::string per_depth = e.add1("Reshape", {sampled, e.ints({0, c, depth, positions}, "volume_samples")},
                                       e.fresh(n.outputs[0] + "_per_depth"));
  const std::string flat_z =
      e.add1("Reshape", {z, e.ints({0, 1, 1, positions}, "grid_z_shape")}, e.fresh(g + "_z_flat"));
  const std::string weights = depth_weights(cx, flat_z, depth, mode == "nearest", dt);
  const std::string weighted = e.add1("Mul", {per_depth, weights}, e.fresh(n.outputs[0] + "_weighted"));
  const std::string summed = e.reduce("ReduceSum", weighted, {2}, /*keepdims=*/false, e.fresh(n.outputs[0] + "_flat"));
  cx.emit("Reshape", {summed, e.ints({0, c, grid[1], grid[2], grid[3]}, "volume_shape")}, {n.outputs[0]});
}

// GridSample-20 renamed GridSample-16's modes (bilinear -> linear, bicubic -> cubic) and
// allowed volumetric X [N, C, D, H, W]. On 4-D input it is GridSample-16 with the old names;
// volumetric input is sampled plane by plane (lower_volumetric_grid_sample).
void lower_grid_sample(LoweringContext& cx) {
  const Node& n = cx.node();
  const int64_t rank = cx.required_rank(n.inputs[0], "GridSample-20 (2-D or volumetric sampling)");
  if (rank != 4 && rank != 5) {
    cx.fail("X has rank " + std::to_string(rank) + "; GridSample takes [N, C, H, W] or [N, C, D, H, W]");
  }
  const std::string mode = grid_sample_16_mode(cx);
  if (rank == 5) {
    lower_volumetric_grid_sample(cx, mode);
    return;
  }
  std::map<std::string, Attribute> attributes = n.attributes;
  attributes["mode"] = Attribute::of_string(mode);
  cx.keep(attributes);
}

// ---- AffineGrid-20 --------------------------------------------------------------------------

// The normalised coordinates of the `count` positions of one axis: pixel centres
// (2i + 1) / count - 1, or with align_corners the corners -1 + 2i / (count - 1). A single
// position with align_corners is -1 (the ONNX reference; ONNX Runtime 1.20 gives 1 there).
std::vector<double> axis_coordinates(int64_t count, bool align_corners) {
  std::vector<double> at(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const double di = static_cast<double>(i);
    if (!align_corners) {
      at[static_cast<size_t>(i)] = (2.0 * di + 1.0) / static_cast<double>(count) - 1.0;
    } else {
      at[static_cast<size_t>(i)] = count == 1 ? -1.0 : -1.0 + 2.0 * di / static_cast<double>(count - 1);
    }
  }
  return at;
}

// The base grid [prod(spatial), r + 1] of spatial sizes (H, W) or (D, H, W), row-major over
// them: each row is the position's coordinates in the order x (W), y (H) [, z (D)], then 1.
std::vector<double> base_grid(const std::vector<int64_t>& spatial, bool align_corners) {
  const size_t r = spatial.size();
  std::vector<std::vector<double>> axes;
  for (int64_t count : spatial) axes.push_back(axis_coordinates(count, align_corners));
  int64_t positions = 1;
  for (int64_t count : spatial) positions *= count;
  std::vector<double> grid;
  grid.reserve(static_cast<size_t>(positions) * (r + 1));
  for (int64_t flat = 0; flat < positions; ++flat) {
    std::vector<size_t> index(r);
    int64_t rest = flat;
    for (size_t a = r; a-- > 0;) {
      index[a] = static_cast<size_t>(rest % spatial[a]);
      rest /= spatial[a];
    }
    for (size_t a = r; a-- > 0;) grid.push_back(axes[a][index[a]]);  // the last axis (W) is x
    grid.push_back(1.0);
  }
  return grid;
}

// theta [N, r, r + 1] (r = 2 or 3), size [N, C, (D,) H, W] (constant):
//   grid[n, (d,) h, w, :] = theta[n] @ (x_w, y_h (, z_d), 1),
// i.e. base [P, r + 1] @ theta^T [N, r + 1, r] -> [N, P, r], reshaped to [N, (D,) H, W, r].
void lower_affine_grid(LoweringContext& cx) {
  const Node& n = cx.node();
  GraphEditor& e = cx.editor();
  const std::optional<std::vector<int64_t>> given = cx.required_constant_ints(1, "size");
  if (!given) cx.fail("the input size is missing");
  const std::vector<int64_t>& size = *given;
  if (size.size() != 4 && size.size() != 5) {
    cx.fail("size has " + std::to_string(size.size()) + " values; AffineGrid takes [N, C, H, W] or [N, C, D, H, W]");
  }
  const std::vector<int64_t> spatial(size.begin() + 2, size.end());
  for (int64_t d : size) {
    if (d < 1) cx.fail("size " + shape_str(size) + " has a dimension below 1");
  }
  const int64_t r = static_cast<int64_t>(spatial.size());
  int64_t positions = 1;
  for (int64_t d : spatial) positions *= d;
  const bool align_corners = n.attr_int("align_corners", 0) != 0;
  const std::string& theta = n.inputs[0];
  const std::optional<Shape> theta_shape = cx.shape(theta);
  if (theta_shape && (theta_shape->size() != 3 || (*theta_shape)[1] != r || (*theta_shape)[2] != r + 1)) {
    cx.fail("theta has shape " + shape_str(*theta_shape) + " where a size of " + std::to_string(size.size()) +
            " values takes [N, " + std::to_string(r) + ", " + std::to_string(r + 1) + "]");
  }
  const std::string base =
      e.constant(float_tensor(float_type_of(cx, theta), {positions, r + 1}, base_grid(spatial, align_corners)),
                 "affine_base_grid");
  const std::string theta_t =
      e.add1("Transpose", {theta}, e.fresh(theta + "_transposed"), {{"perm", Attribute::of_ints({0, 2, 1})}});
  const std::string flat = e.add1("MatMul", {base, theta_t}, e.fresh(n.outputs[0] + "_flat"));
  std::vector<int64_t> grid_shape = {0};  // N as theta has it
  grid_shape.insert(grid_shape.end(), spatial.begin(), spatial.end());
  grid_shape.push_back(r);
  cx.emit("Reshape", {flat, e.ints(grid_shape, "affine_grid_shape")}, {n.outputs[0]});
}

}  // namespace

ONNX_TRAIN_LOWERINGS(vision_grid) {
  rules.push_back({"GridSample", 20, lower_grid_sample, "GridSample-16; 5-D: per plane, weighted over depth"});
  rules.push_back(
      {"AffineGrid", 20, lower_affine_grid, "MatMul of a constant base grid and Transpose(theta), Reshape"});
}

}  // namespace onnx_train
