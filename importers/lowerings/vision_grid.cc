// Lowerings of the sampling-grid op versions of opset 20: GridSample-20 (its modes renamed
// linear / cubic, and volumetric inputs) to GridSample-16, and AffineGrid-20 to a MatMul of a
// constant base grid with the transposed affine matrices.
#include <optional>
#include <string>
#include <vector>

#include "importers/lower_opset.h"
#include "importers/lowerings/vision_util.h"

namespace onnx_train {
namespace {

using vision_lowering::float_tensor;
using vision_lowering::float_type_of;

// ---- GridSample-20 --------------------------------------------------------------------------

// GridSample-20 renamed GridSample-16's modes (bilinear -> linear, bicubic -> cubic) and
// allowed volumetric X [N, C, D, H, W]. On 4-D input it is GridSample-16 with the old names;
// the runtime's GridSample kernel and gradient are 2-D only, so 5-D input is refused.
void lower_grid_sample(LoweringContext& cx) {
  const Node& n = cx.node();
  const int64_t rank = cx.required_rank(n.inputs[0], "GridSample-20 (2-D or volumetric sampling)");
  if (rank != 4) {
    cx.fail("X has rank " + std::to_string(rank) +
            "; onnx-train samples 4-D images [N, C, H, W] only (volumetric GridSample is not supported)");
  }
  const std::string mode = n.attr_string("mode", "linear");
  std::string old_mode;
  if (mode == "linear") {
    old_mode = "bilinear";
  } else if (mode == "cubic") {
    old_mode = "bicubic";
  } else if (mode == "nearest") {
    old_mode = "nearest";
  } else {
    cx.fail("mode '" + mode + "' is not one of linear, nearest, cubic");
  }
  std::map<std::string, Attribute> attributes = n.attributes;
  attributes["mode"] = Attribute::of_string(old_mode);
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
  rules.push_back({"GridSample", 20, lower_grid_sample, "GridSample-16 (4-D input)"});
  rules.push_back({"AffineGrid", 20, lower_affine_grid, "constant base grid MatMul Transpose(theta), Reshape"});
}

}  // namespace onnx_train
