// Vision ops: sampling an image at given points and picking boxes.
//
// GridSample (bilinear / nearest / bicubic sampling at normalized grid coordinates, the
// semantics of torch.nn.functional.grid_sample), RoiAlign (Mask R-CNN region pooling),
// MaxRoiPool (Fast R-CNN region max pooling) and NonMaxSuppression (greedy box selection
// by score and overlap). Reference loops that compute in double for every floating-point
// element type. Also GridSampleGrad, the gradient op of GridSample (project domain).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"

namespace onnx_train {

namespace {

template <typename T>
double load(const T* p, int64_t i) {
  return static_cast<double>(to_compute(p[i]));
}

// ---------------------------------------------------------------------------------------
// GridSample-16.
//
// X [N, C, H, W], grid [N, Ho, Wo, 2] with (x, y) in [-1, 1] → Y [N, C, Ho, Wo].
// A grid value g maps to the pixel coordinate
//   align_corners = 1: (g + 1) / 2 * (size - 1)      (-1 and 1 are the corner pixel centers)
//   align_corners = 0: ((g + 1) * size - 1) / 2      (-1 and 1 are the outer pixel edges)
// Outside the image, padding_mode decides: zeros reads 0, border clamps the coordinate to
// [0, size - 1], reflection mirrors it at the borders (the pixel centers for align_corners
// = 1, the outer edges for 0) until it lies inside, then clamps.
//   bilinear: the 4 neighbours weighted by the fractional distances;
//   nearest:  the pixel at the coordinate rounded half to even;
//   bicubic:  the 4x4 neighbours with the cubic convolution kernel (A = -0.75); the padding
//             rule applies to each neighbour's index, not to the sampling point.
// X is any floating-point type, or an integer type with mode = nearest.
// ---------------------------------------------------------------------------------------
enum class SampleMode { Bilinear, Nearest, Bicubic };
enum class PaddingMode { Zeros, Border, Reflection };

double unnormalize(double g, int64_t size, bool align_corners) {
  return align_corners ? (g + 1) / 2 * static_cast<double>(size - 1) : ((g + 1) * static_cast<double>(size) - 1) / 2;
}

// Mirrors x into [twice_low / 2, twice_high / 2].
double reflect(double x, double twice_low, double twice_high) {
  if (twice_low == twice_high) return 0;
  const double low = twice_low / 2, span = (twice_high - twice_low) / 2;
  x = std::fabs(x - low);
  const double extra = std::fmod(x, span);
  const int64_t flips = static_cast<int64_t>(std::floor(x / span));
  return flips % 2 == 0 ? extra + low : span - extra + low;
}

double pad_coordinate(double x, int64_t size, PaddingMode padding, bool align_corners) {
  const double last = static_cast<double>(size - 1);
  if (padding == PaddingMode::Border) return std::clamp(x, 0.0, last);
  if (padding == PaddingMode::Reflection) {
    x = align_corners ? reflect(x, 0, 2 * last) : reflect(x, -1, 2 * static_cast<double>(size) - 1);
    return std::clamp(x, 0.0, last);
  }
  return x;
}

// Cubic convolution weights for the 4 taps at offsets -1, 0, 1, 2 from floor(x), t = frac(x).
void cubic_weights(double t, double w[4]) {
  const double a = -0.75;
  auto near = [a](double x) { return ((a + 2) * x - (a + 3)) * x * x + 1; };       // |x| <= 1
  auto far = [a](double x) { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; };  // 1 < |x| < 2
  w[0] = far(t + 1);
  w[1] = near(t);
  w[2] = near(1 - t);
  w[3] = far(2 - t);
}

SampleMode parse_sample_mode(const Node& node) {
  const std::string mode = node.attr_string("mode", "bilinear");
  if (mode == "bilinear") return SampleMode::Bilinear;
  if (mode == "nearest") return SampleMode::Nearest;
  if (mode == "bicubic") return SampleMode::Bicubic;
  OT_FAIL("{}: mode '{}' is not one of bilinear, nearest, bicubic", node.label(), mode);
}

PaddingMode parse_padding_mode(const Node& node) {
  const std::string padding = node.attr_string("padding_mode", "zeros");
  if (padding == "zeros") return PaddingMode::Zeros;
  if (padding == "border") return PaddingMode::Border;
  if (padding == "reflection") return PaddingMode::Reflection;
  OT_FAIL("{}: padding_mode '{}' is not one of zeros, border, reflection", node.label(), padding);
}

class GridSampleKernel : public Kernel {
 public:
  explicit GridSampleKernel(const KernelInfo& info)
      : mode_(parse_sample_mode(info.node)),
        padding_(parse_padding_mode(info.node)),
        align_corners_(info.node.attr_int("align_corners", 0) != 0) {
    const Node& node = info.node;
    const DType x_dtype = info.input_dtype(0);
    if (x_dtype != DType::Undefined) check_dtype(node, x_dtype);
  }

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    const Tensor& grid = ctx.input(1);
    OT_CHECK(x.rank() == 4, "{}: input X {} must be 4-D [N, C, H, W] (only spatial GridSample is supported)",
             node.label(), x.describe());
    OT_CHECK(grid.rank() == 4 && grid.dim(0) == x.dim(0) && grid.dim(3) == 2,
             "{}: grid {} must be [N, H_out, W_out, 2] with N = {} from input X {}", node.label(), grid.describe(),
             x.dim(0), x.describe());
    OT_CHECK(dtype_is_float(grid.dtype()), "{}: grid {} must be a floating-point tensor", node.label(),
             grid.describe());
    OT_CHECK(x.dim(2) > 0 && x.dim(3) > 0, "{}: cannot sample the empty image X {}", node.label(), x.describe());
    check_dtype(node, x.dtype());
    const std::vector<double> g = grid.to_doubles();
    visit_numeric(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
      const int64_t ho = grid.dim(1), wo = grid.dim(2);
      Tensor& y = ctx.allocate_output(0, x.dtype(), {n, c, ho, wo});
      const T* in = x.data<T>();
      T* out = y.data<T>();
      for (int64_t b = 0; b < n; ++b) {
        for (int64_t i = 0; i < ho * wo; ++i) {
          const double gx = g[static_cast<size_t>((b * ho * wo + i) * 2)];
          const double gy = g[static_cast<size_t>((b * ho * wo + i) * 2 + 1)];
          for (int64_t ch = 0; ch < c; ++ch) {
            const T* plane = in + (b * c + ch) * h * w;
            out[(b * c + ch) * ho * wo + i] = from_compute<T>(sample(plane, h, w, gx, gy));
          }
        }
      }
    });
  }

 private:
  // Floating-point images in every mode; integer images with mode = nearest only, where
  // the result is an input value (bilinear and bicubic would have to round).
  void check_dtype(const Node& node, DType dtype) const {
    OT_CHECK(dtype_is_float(dtype) || (mode_ == SampleMode::Nearest && dtype != DType::Bool),
             "{}: input X of type {} is supported with mode = nearest only (bilinear and bicubic need a "
             "floating-point X; cast it first)",
             node.label(), dtype_name(dtype));
  }

  template <typename T>
  double sample(const T* plane, int64_t h, int64_t w, double gx, double gy) const {
    // Pixel (xi, yi), or 0 outside the image (only reachable with zeros padding).
    auto at = [&](int64_t xi, int64_t yi) {
      return xi >= 0 && xi < w && yi >= 0 && yi < h ? load(plane, yi * w + xi) : 0.0;
    };
    if (mode_ == SampleMode::Bicubic) {
      const double ix = unnormalize(gx, w, align_corners_), iy = unnormalize(gy, h, align_corners_);
      const double x0 = std::floor(ix), y0 = std::floor(iy);
      double wx[4], wy[4];
      cubic_weights(ix - x0, wx);
      cubic_weights(iy - y0, wy);
      // Neighbour (x0 - 1 + k): padded index, truncated toward zero like an integer cast.
      auto tap = [&](double coord, int64_t size) {
        const double p = pad_coordinate(coord, size, padding_, align_corners_);
        return std::isfinite(p) ? static_cast<int64_t>(p) : int64_t{-1};
      };
      double sum = 0;
      for (int j = 0; j < 4; ++j) {
        const int64_t yi = tap(y0 - 1 + j, h);
        double row = 0;
        for (int k = 0; k < 4; ++k) row += wx[k] * at(tap(x0 - 1 + k, w), yi);
        sum += wy[j] * row;
      }
      return sum;
    }
    const double ix = pad_coordinate(unnormalize(gx, w, align_corners_), w, padding_, align_corners_);
    const double iy = pad_coordinate(unnormalize(gy, h, align_corners_), h, padding_, align_corners_);
    if (!std::isfinite(ix) || !std::isfinite(iy)) return 0;
    if (mode_ == SampleMode::Nearest)
      return at(static_cast<int64_t>(std::nearbyint(ix)), static_cast<int64_t>(std::nearbyint(iy)));
    const double x0 = std::floor(ix), y0 = std::floor(iy);
    const double tx = ix - x0, ty = iy - y0;
    const int64_t xi = static_cast<int64_t>(x0), yi = static_cast<int64_t>(y0);
    return at(xi, yi) * (1 - tx) * (1 - ty) + at(xi + 1, yi) * tx * (1 - ty) + at(xi, yi + 1) * (1 - tx) * ty +
           at(xi + 1, yi + 1) * tx * ty;
  }

  SampleMode mode_;
  PaddingMode padding_;
  bool align_corners_;
};

// ---------------------------------------------------------------------------------------
// GridSampleGrad(dY, X, grid) -> dX, dGrid: the gradient of GridSample-16 (project domain,
// registered in reference/loss_resize_grad.cc). Attributes: the forward's mode,
// padding_mode, align_corners. Shapes: dY [N, C, Ho, Wo], X [N, C, H, W], grid
// [N, Ho, Wo, 2]; dX like X, dGrid like grid.
//   dX: each output element scatters dY back to the pixels it read, with their weights
//     (pixels outside the image, read as 0 with zeros padding, get nothing).
//   dGrid: Y depends on the sampling point (ix, iy) through the interpolation weights:
//     dGrid[..., 0] = sum over channels of dY * dY/d ix * d ix / d gx, and likewise for y;
//     d ix / d gx = unnormalize's slope ((W - 1) / 2 or W / 2) times the padding's slope
//     (1 inside, 0 where border/reflection clamp, -1 on a mirrored stretch of reflection;
//     bicubic pads the taps, not the point, so its slope is 1). nearest: dGrid = 0.
// ---------------------------------------------------------------------------------------

// The slope of pad_coordinate at x.
double pad_slope(double x, int64_t size, PaddingMode padding, bool align_corners) {
  const double last = static_cast<double>(size - 1);
  if (padding == PaddingMode::Zeros) return 1;
  if (padding == PaddingMode::Border) return x > 0 && x < last ? 1 : 0;
  const double twice_low = align_corners ? 0 : -1;
  const double twice_high = align_corners ? 2 * last : 2 * static_cast<double>(size) - 1;
  if (twice_low == twice_high) return 0;
  const double low = twice_low / 2, span = (twice_high - twice_low) / 2;
  const double from_low = x - low;
  const int64_t flips = static_cast<int64_t>(std::floor(std::fabs(from_low) / span));
  const double slope = (from_low < 0 ? -1.0 : 1.0) * (flips % 2 == 0 ? 1.0 : -1.0);
  const double reflected = reflect(x, twice_low, twice_high);
  return reflected > 0 && reflected < last ? slope : 0;
}

// The derivatives of cubic_weights with respect to t.
void cubic_weight_slopes(double t, double d[4]) {
  const double a = -0.75;
  auto near = [a](double x) { return (3 * (a + 2) * x - 2 * (a + 3)) * x; };  // d/dx, |x| <= 1
  auto far = [a](double x) { return (3 * a * x - 10 * a) * x + 8 * a; };      // d/dx, 1 < |x| < 2
  d[0] = far(t + 1);
  d[1] = near(t);
  d[2] = -near(1 - t);
  d[3] = -far(2 - t);
}

class GridSampleGradKernel : public Kernel {
 public:
  explicit GridSampleGradKernel(const KernelInfo& info)
      : mode_(parse_sample_mode(info.node)),
        padding_(parse_padding_mode(info.node)),
        align_corners_(info.node.attr_int("align_corners", 0) != 0) {}

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& dy = ctx.input(0);
    const Tensor& x = ctx.input(1);
    const Tensor& grid = ctx.input(2);
    OT_CHECK(x.rank() == 4 && grid.rank() == 4 && grid.dim(0) == x.dim(0) && grid.dim(3) == 2 &&
                 dy.shape() == (Shape{x.dim(0), x.dim(1), grid.dim(1), grid.dim(2)}),
             "{}: dY {}, X {} and grid {} must be [N, C, Ho, Wo], [N, C, H, W] and [N, Ho, Wo, 2]", node.label(),
             dy.describe(), x.describe(), grid.describe());
    OT_CHECK(dtype_is_float(x.dtype()) && dy.dtype() == x.dtype() && grid.dtype() == x.dtype(),
             "{}: dY {}, X {} and grid {} must share one floating-point type", node.label(), dy.describe(),
             x.describe(), grid.describe());
    OT_CHECK(x.dim(2) > 0 && x.dim(3) > 0, "{}: cannot sample the empty image X {}", node.label(), x.describe());
    Tensor* dx = ctx.output_wanted(0) ? &ctx.allocate_output(0, x.dtype(), x.shape()) : nullptr;
    Tensor* dgrid = ctx.output_wanted(1) ? &ctx.allocate_output(1, grid.dtype(), grid.shape()) : nullptr;
    visit_float(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      compute<T>(dy, x, grid, dx, dgrid);
    });
  }

 private:
  template <typename T>
  void compute(const Tensor& dy_t, const Tensor& x_t, const Tensor& grid_t, Tensor* dx_t, Tensor* dgrid_t) const {
    const int64_t n = x_t.dim(0), c = x_t.dim(1), h = x_t.dim(2), w = x_t.dim(3);
    const int64_t ho = grid_t.dim(1), wo = grid_t.dim(2);
    const T* dy = dy_t.data<T>();
    const T* x = x_t.data<T>();
    const T* grid = grid_t.data<T>();
    std::vector<double> dx(dx_t ? static_cast<size_t>(x_t.numel()) : 0, 0.0);
    std::vector<double> dgrid(static_cast<size_t>(grid_t.numel()), 0.0);
    const double unnormalize_slope_x = align_corners_ ? (w - 1) / 2.0 : w / 2.0;
    const double unnormalize_slope_y = align_corners_ ? (h - 1) / 2.0 : h / 2.0;
    // Up to 16 taps (pixel offset or -1 outside, weight, d weight / d ix, d weight / d iy).
    int64_t tap_at[16];
    double tap_w[16], tap_dx[16], tap_dy[16];
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t i = 0; i < ho * wo; ++i) {
        const size_t g = static_cast<size_t>((b * ho * wo + i) * 2);
        const double gx = load(grid, static_cast<int64_t>(g)), gy = load(grid, static_cast<int64_t>(g + 1));
        int taps = 0;
        double slope_x = unnormalize_slope_x, slope_y = unnormalize_slope_y;
        auto pixel = [&](int64_t xi, int64_t yi) { return xi >= 0 && xi < w && yi >= 0 && yi < h ? yi * w + xi : -1; };
        if (mode_ == SampleMode::Bicubic) {
          const double ix = unnormalize(gx, w, align_corners_), iy = unnormalize(gy, h, align_corners_);
          const double x0 = std::floor(ix), y0 = std::floor(iy);
          double wx[4], wy[4], dwx[4], dwy[4];
          cubic_weights(ix - x0, wx);
          cubic_weights(iy - y0, wy);
          cubic_weight_slopes(ix - x0, dwx);
          cubic_weight_slopes(iy - y0, dwy);
          auto tap = [&](double coord, int64_t size) {
            const double p = pad_coordinate(coord, size, padding_, align_corners_);
            return std::isfinite(p) ? static_cast<int64_t>(p) : int64_t{-1};
          };
          for (int j = 0; j < 4; ++j) {
            for (int k = 0; k < 4; ++k, ++taps) {
              tap_at[taps] = pixel(tap(x0 - 1 + k, w), tap(y0 - 1 + j, h));
              tap_w[taps] = wx[k] * wy[j];
              tap_dx[taps] = dwx[k] * wy[j];
              tap_dy[taps] = wx[k] * dwy[j];
            }
          }
        } else {
          const double ux = unnormalize(gx, w, align_corners_), uy = unnormalize(gy, h, align_corners_);
          const double ix = pad_coordinate(ux, w, padding_, align_corners_);
          const double iy = pad_coordinate(uy, h, padding_, align_corners_);
          if (!std::isfinite(ix) || !std::isfinite(iy)) continue;
          slope_x *= pad_slope(ux, w, padding_, align_corners_);
          slope_y *= pad_slope(uy, h, padding_, align_corners_);
          if (mode_ == SampleMode::Nearest) {
            tap_at[0] = pixel(static_cast<int64_t>(std::nearbyint(ix)), static_cast<int64_t>(std::nearbyint(iy)));
            tap_w[0] = 1, tap_dx[0] = 0, tap_dy[0] = 0;
            taps = 1;
          } else {
            const double x0 = std::floor(ix), y0 = std::floor(iy);
            const double tx = ix - x0, ty = iy - y0;
            const int64_t xi = static_cast<int64_t>(x0), yi = static_cast<int64_t>(y0);
            for (int j = 0; j < 2; ++j) {
              for (int k = 0; k < 2; ++k, ++taps) {
                const double wx = k == 0 ? 1 - tx : tx, wy = j == 0 ? 1 - ty : ty;
                tap_at[taps] = pixel(xi + k, yi + j);
                tap_w[taps] = wx * wy;
                tap_dx[taps] = (k == 0 ? -1 : 1) * wy;
                tap_dy[taps] = wx * (j == 0 ? -1 : 1);
              }
            }
          }
        }
        double d_ix = 0, d_iy = 0;
        for (int64_t ch = 0; ch < c; ++ch) {
          const int64_t plane = (b * c + ch) * h * w;
          const double grad = load(dy, (b * c + ch) * ho * wo + i);
          for (int t = 0; t < taps; ++t) {
            if (tap_at[t] < 0) continue;
            if (dx_t) dx[static_cast<size_t>(plane + tap_at[t])] += grad * tap_w[t];
            const double v = load(x, plane + tap_at[t]);
            d_ix += grad * v * tap_dx[t];
            d_iy += grad * v * tap_dy[t];
          }
        }
        dgrid[g] = d_ix * slope_x;
        dgrid[g + 1] = d_iy * slope_y;
      }
    }
    if (dx_t)
      for (size_t j = 0; j < dx.size(); ++j) dx_t->data<T>()[j] = from_compute<T>(dx[j]);
    if (dgrid_t)
      for (size_t j = 0; j < dgrid.size(); ++j) dgrid_t->data<T>()[j] = from_compute<T>(dgrid[j]);
  }

  SampleMode mode_;
  PaddingMode padding_;
  bool align_corners_;
};

// ---------------------------------------------------------------------------------------
// RoiAlign-10 / 16.
//
// X [N, C, H, W], rois [R, 4] as (x1, y1, x2, y2) in image coordinates, batch_indices [R]
// → Y [R, C, output_height, output_width]. Each roi is scaled by spatial_scale and shifted
// by -0.5 when coordinate_transformation_mode = half_pixel (opset 16's default; opset 10
// and output_half_pixel do not shift but widen rois smaller than 1 pixel to 1). The roi is
// split into output_height x output_width bins; each bin is sampled at a regular grid of
// sampling_ratio^2 points (or ceil(roi_size / output_size) per axis when 0), each read
// bilinearly (points beyond one pixel outside the image read 0; points in that margin
// clamp to the edge). mode = avg: the mean of the samples; mode = max: the maximum over
// samples of the largest of the 4 weighted bilinear terms (onnxruntime's definition, which
// the ONNX reference implementation follows).
// ---------------------------------------------------------------------------------------
class RoiAlignKernel : public Kernel {
 public:
  explicit RoiAlignKernel(const KernelInfo& info) {
    const Node& node = info.node;
    const std::string mode = node.attr_string("mode", "avg");
    OT_CHECK(mode == "avg" || mode == "max", "{}: mode '{}' is not avg or max", node.label(), mode);
    max_mode_ = mode == "max";
    out_h_ = node.attr_int("output_height", 1);
    out_w_ = node.attr_int("output_width", 1);
    OT_CHECK(out_h_ > 0 && out_w_ > 0, "{}: output_height {} and output_width {} must be positive", node.label(),
             out_h_, out_w_);
    sampling_ratio_ = node.attr_int("sampling_ratio", 0);
    OT_CHECK(sampling_ratio_ >= 0, "{}: sampling_ratio {} must be >= 0", node.label(), sampling_ratio_);
    spatial_scale_ = node.attr_float("spatial_scale", 1.0f);
    if (node.since_version >= 16) {
      const std::string ctm = node.attr_string("coordinate_transformation_mode", "half_pixel");
      OT_CHECK(ctm == "half_pixel" || ctm == "output_half_pixel",
               "{}: coordinate_transformation_mode '{}' is not half_pixel or output_half_pixel", node.label(), ctm);
      half_pixel_ = ctm == "half_pixel";
    }
  }

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    const Tensor& rois = ctx.input(1);
    const Tensor& batch_indices = ctx.input(2);
    OT_CHECK(x.rank() == 4, "{}: input X {} must be 4-D [N, C, H, W]", node.label(), x.describe());
    OT_CHECK(rois.rank() == 2 && rois.dim(1) == 4, "{}: rois {} must be [num_rois, 4]", node.label(), rois.describe());
    OT_CHECK(batch_indices.rank() == 1 && batch_indices.dim(0) == rois.dim(0),
             "{}: batch_indices {} must be [num_rois] with num_rois = {} from rois", node.label(),
             batch_indices.describe(), rois.dim(0));
    OT_CHECK(x.dim(2) > 0 && x.dim(3) > 0, "{}: cannot pool from the empty feature map X {}", node.label(),
             x.describe());
    const std::vector<double> boxes = rois.to_doubles();
    const std::vector<int64_t> batches = batch_indices.to_int64s();
    visit_float(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const int64_t num_rois = rois.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
      Tensor& y = ctx.allocate_output(0, x.dtype(), {num_rois, c, out_h_, out_w_});
      T* out = y.data<T>();
      const double offset = half_pixel_ ? 0.5 : 0.0;
      for (int64_t r = 0; r < num_rois; ++r) {
        const int64_t b = batches[static_cast<size_t>(r)];
        OT_CHECK(b >= 0 && b < x.dim(0), "{}: batch index {} of roi {} is outside [0, {}) for input X {}", node.label(),
                 b, r, x.dim(0), x.describe());
        const double* box = &boxes[static_cast<size_t>(r * 4)];
        const double start_x = box[0] * spatial_scale_ - offset, start_y = box[1] * spatial_scale_ - offset;
        double roi_w = box[2] * spatial_scale_ - offset - start_x, roi_h = box[3] * spatial_scale_ - offset - start_y;
        if (!half_pixel_) {
          roi_w = std::max(roi_w, 1.0);
          roi_h = std::max(roi_h, 1.0);
        }
        const double bin_h = roi_h / static_cast<double>(out_h_), bin_w = roi_w / static_cast<double>(out_w_);
        const int64_t grid_h = sampling_ratio_ > 0 ? sampling_ratio_ : static_cast<int64_t>(std::ceil(bin_h));
        const int64_t grid_w = sampling_ratio_ > 0 ? sampling_ratio_ : static_cast<int64_t>(std::ceil(bin_w));
        const double count = static_cast<double>(std::max<int64_t>(grid_h * grid_w, 1));
        for (int64_t ch = 0; ch < c; ++ch) {
          const T* plane = x.data<T>() + (b * c + ch) * h * w;
          for (int64_t ph = 0; ph < out_h_; ++ph) {
            for (int64_t pw = 0; pw < out_w_; ++pw) {
              double acc = 0;
              bool first = true;
              for (int64_t iy = 0; iy < grid_h; ++iy) {
                const double sy = start_y + static_cast<double>(ph) * bin_h +
                                  (static_cast<double>(iy) + 0.5) * bin_h / static_cast<double>(grid_h);
                for (int64_t ix = 0; ix < grid_w; ++ix) {
                  const double sx = start_x + static_cast<double>(pw) * bin_w +
                                    (static_cast<double>(ix) + 0.5) * bin_w / static_cast<double>(grid_w);
                  double terms[4] = {0, 0, 0, 0};
                  bilinear_terms(plane, h, w, sy, sx, terms);
                  if (max_mode_) {
                    const double v = std::max({terms[0], terms[1], terms[2], terms[3]});
                    acc = first ? v : std::max(acc, v);
                    first = false;
                  } else {
                    acc += terms[0] + terms[1] + terms[2] + terms[3];
                  }
                }
              }
              out[((r * c + ch) * out_h_ + ph) * out_w_ + pw] = from_compute<T>(max_mode_ ? acc : acc / count);
            }
          }
        }
      }
    });
  }

 private:
  // The four weighted neighbour values of the bilinear read at (y, x); all 0 beyond one
  // pixel outside the image.
  template <typename T>
  static void bilinear_terms(const T* plane, int64_t h, int64_t w, double y, double x, double terms[4]) {
    if (y < -1.0 || y > static_cast<double>(h) || x < -1.0 || x > static_cast<double>(w)) return;
    y = std::max(y, 0.0);
    x = std::max(x, 0.0);
    int64_t y_low = static_cast<int64_t>(y), x_low = static_cast<int64_t>(x), y_high, x_high;
    if (y_low >= h - 1) {
      y_low = y_high = h - 1;
      y = static_cast<double>(y_low);
    } else {
      y_high = y_low + 1;
    }
    if (x_low >= w - 1) {
      x_low = x_high = w - 1;
      x = static_cast<double>(x_low);
    } else {
      x_high = x_low + 1;
    }
    const double ly = y - static_cast<double>(y_low), lx = x - static_cast<double>(x_low);
    const double hy = 1 - ly, hx = 1 - lx;
    terms[0] = hy * hx * load(plane, y_low * w + x_low);
    terms[1] = hy * lx * load(plane, y_low * w + x_high);
    terms[2] = ly * hx * load(plane, y_high * w + x_low);
    terms[3] = ly * lx * load(plane, y_high * w + x_high);
  }

  bool max_mode_ = false;
  bool half_pixel_ = false;  // opset 10 behaves as output_half_pixel
  int64_t out_h_ = 1, out_w_ = 1, sampling_ratio_ = 0;
  double spatial_scale_ = 1.0;
};

// ---------------------------------------------------------------------------------------
// MaxRoiPool-1 (Fast R-CNN / Caffe ROIPooling).
//
// X [N, C, H, W], rois [R, 5] rows of (batch_index, x1, y1, x2, y2) in image coordinates
// → Y [R, C, pooled_h, pooled_w]. Each roi corner is scaled by spatial_scale and rounded
// (half away from zero): start_w = round(x1 * s), end_w = round(x2 * s) (same for h); the
// roi covers roi_w = max(end_w - start_w + 1, 1) pixels (both ends included), split into
// bins of bin_w = roi_w / pooled_w. Bin (ph, pw) spans rows
// [floor(ph * bin_h) + start_h, ceil((ph + 1) * bin_h) + start_h) and the columns likewise,
// both clipped to [0, H) / [0, W); the output is the maximum over the bin, or 0 for a bin
// left empty by the clipping. Any floating-point type (compared in double, exact).
// ---------------------------------------------------------------------------------------
class MaxRoiPoolKernel : public Kernel {
 public:
  explicit MaxRoiPoolKernel(const KernelInfo& info) {
    const Node& node = info.node;
    OT_CHECK(node.has_attr("pooled_shape"), "{}: the pooled_shape attribute (2 ints) is required", node.label());
    const std::vector<int64_t> pooled = node.attr_ints("pooled_shape");
    OT_CHECK(pooled.size() == 2 && pooled[0] > 0 && pooled[1] > 0,
             "{}: pooled_shape {} must be two positive ints (pooled_h, pooled_w)", node.label(), shape_str(pooled));
    pooled_h_ = pooled[0];
    pooled_w_ = pooled[1];
    spatial_scale_ = node.attr_float("spatial_scale", 1.0f);
    OT_CHECK(std::isfinite(spatial_scale_) && spatial_scale_ > 0,
             "{}: spatial_scale {} must be a positive finite number", node.label(), spatial_scale_);
  }

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    const Tensor& rois = ctx.input(1);
    OT_CHECK(x.rank() == 4, "{}: input X {} must be 4-D [N, C, H, W]", node.label(), x.describe());
    OT_CHECK(rois.rank() == 2 && rois.dim(1) == 5,
             "{}: rois {} must be [num_rois, 5] rows of (batch_index, x1, y1, "
             "x2, y2)",
             node.label(), rois.describe());
    OT_CHECK(dtype_is_float(rois.dtype()), "{}: rois {} must be a floating-point tensor", node.label(),
             rois.describe());
    OT_CHECK(dtype_is_float(x.dtype()), "{}: input X has type {}; MaxRoiPool takes floating-point types", node.label(),
             dtype_name(x.dtype()));
    const std::vector<double> boxes = rois.to_doubles();
    visit_float(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const int64_t num_rois = rois.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
      Tensor& y = ctx.allocate_output(0, x.dtype(), {num_rois, c, pooled_h_, pooled_w_});
      T* out = y.data<T>();
      for (int64_t r = 0; r < num_rois; ++r) {
        const double* box = &boxes[static_cast<size_t>(r * 5)];
        OT_CHECK(box[0] >= 0 && box[0] < static_cast<double>(x.dim(0)) && box[0] == std::floor(box[0]),
                 "{}: batch index {} of roi {} is not an integer in [0, {}) for input X {}; rois rows are "
                 "(batch_index, x1, y1, x2, y2)",
                 node.label(), box[0], r, x.dim(0), x.describe());
        OT_CHECK(std::all_of(box + 1, box + 5, [this](double v) { return std::fabs(v * spatial_scale_) < 1e15; }),
                 "{}: roi {} has non-finite or huge coordinates ({}, {}, {}, {})", node.label(), r, box[1], box[2],
                 box[3], box[4]);
        const int64_t b = static_cast<int64_t>(box[0]);
        const int64_t start_w = scaled(box[1]), start_h = scaled(box[2]);
        const int64_t end_w = scaled(box[3]), end_h = scaled(box[4]);
        const double bin_h = static_cast<double>(std::max<int64_t>(end_h - start_h + 1, 1)) / pooled_h_;
        const double bin_w = static_cast<double>(std::max<int64_t>(end_w - start_w + 1, 1)) / pooled_w_;
        for (int64_t ch = 0; ch < c; ++ch) {
          const T* plane = x.data<T>() + (b * c + ch) * h * w;
          for (int64_t ph = 0; ph < pooled_h_; ++ph) {
            const int64_t h0 = bin_edge(std::floor(ph * bin_h), start_h, h);
            const int64_t h1 = bin_edge(std::ceil((ph + 1) * bin_h), start_h, h);
            for (int64_t pw = 0; pw < pooled_w_; ++pw) {
              const int64_t w0 = bin_edge(std::floor(pw * bin_w), start_w, w);
              const int64_t w1 = bin_edge(std::ceil((pw + 1) * bin_w), start_w, w);
              double best = 0;  // an empty bin gives 0
              for (int64_t i = h0; i < h1; ++i)
                for (int64_t j = w0; j < w1; ++j) {
                  const double v = load(plane, i * w + j);
                  best = i == h0 && j == w0 ? v : std::max(best, v);
                }
              out[((r * c + ch) * pooled_h_ + ph) * pooled_w_ + pw] = from_compute<T>(best);
            }
          }
        }
      }
    });
  }

 private:
  // A roi coordinate in feature-map pixels: round(coord * spatial_scale).
  int64_t scaled(double coord) const { return static_cast<int64_t>(std::round(coord * spatial_scale_)); }

  // A bin edge offset from the roi start, clipped to [0, size].
  static int64_t bin_edge(double offset, int64_t roi_start, int64_t size) {
    return std::clamp(static_cast<int64_t>(offset) + roi_start, int64_t{0}, size);
  }

  int64_t pooled_h_ = 1, pooled_w_ = 1;
  double spatial_scale_ = 1.0;
};

// ---------------------------------------------------------------------------------------
// NonMaxSuppression-10 / 11 (same semantics).
//
// boxes [B, S, 4], scores [B, K, S] → selected_indices int64 [num_selected, 3] rows of
// (batch, class, box). Per batch and class: boxes with score > score_threshold, visited by
// descending score (ties: lower index first), are selected unless their IoU with an
// already selected box is > iou_threshold, up to max_output_boxes_per_class (0 or omitted:
// nothing). center_point_box = 0: boxes are (y1, x1, y2, x2) of any two opposite corners;
// 1: (x_center, y_center, width, height). Boxes of zero area never suppress or get
// suppressed. The strict score comparison follows onnxruntime and ONNX's reference
// implementation.
// ---------------------------------------------------------------------------------------
class NonMaxSuppressionKernel : public Kernel {
 public:
  explicit NonMaxSuppressionKernel(const KernelInfo& info)
      : center_point_box_(info.node.attr_int("center_point_box", 0)) {
    OT_CHECK(center_point_box_ == 0 || center_point_box_ == 1, "{}: center_point_box {} must be 0 or 1",
             info.node.label(), center_point_box_);
  }

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& boxes = ctx.input(0);
    const Tensor& scores = ctx.input(1);
    OT_CHECK(boxes.rank() == 3 && boxes.dim(2) == 4, "{}: boxes {} must be [num_batches, spatial_dimension, 4]",
             node.label(), boxes.describe());
    OT_CHECK(scores.rank() == 3 && scores.dim(0) == boxes.dim(0) && scores.dim(2) == boxes.dim(1),
             "{}: scores {} must be [num_batches, num_classes, spatial_dimension] matching boxes {}", node.label(),
             scores.describe(), boxes.describe());
    const int64_t max_per_class = scalar_input_int(ctx, 2, 0);
    const double iou_threshold = scalar_input_double(ctx, 3, 0.0);
    const bool has_score_threshold = ctx.has_input(4) && ctx.input(4).numel() > 0;
    const double score_threshold = scalar_input_double(ctx, 4, 0.0);

    const int64_t num_batches = boxes.dim(0), num_classes = scores.dim(1), num_boxes = boxes.dim(1);
    const std::vector<double> box_values = boxes.to_doubles();
    const std::vector<double> score_values = scores.to_doubles();
    std::vector<int64_t> selected;  // flattened (batch, class, box) triples
    if (max_per_class > 0) {
      for (int64_t b = 0; b < num_batches; ++b) {
        const std::vector<Corners> corners = corners_of(&box_values[static_cast<size_t>(b * num_boxes * 4)], num_boxes);
        for (int64_t k = 0; k < num_classes; ++k) {
          const double* class_scores = &score_values[static_cast<size_t>((b * num_classes + k) * num_boxes)];
          std::vector<int64_t> order;
          for (int64_t i = 0; i < num_boxes; ++i)
            if (!has_score_threshold || class_scores[i] > score_threshold) order.push_back(i);
          std::stable_sort(order.begin(), order.end(),
                           [&](int64_t a, int64_t c) { return class_scores[a] > class_scores[c]; });
          std::vector<int64_t> kept;
          for (int64_t i : order) {
            if (static_cast<int64_t>(kept.size()) >= max_per_class) break;
            bool suppressed = false;
            for (int64_t j : kept) {
              if (iou(corners[static_cast<size_t>(i)], corners[static_cast<size_t>(j)]) > iou_threshold) {
                suppressed = true;
                break;
              }
            }
            if (suppressed) continue;
            kept.push_back(i);
            selected.insert(selected.end(), {b, k, i});
          }
        }
      }
    }
    Tensor& out = ctx.allocate_output(0, DType::Int64, {static_cast<int64_t>(selected.size() / 3), 3});
    std::copy(selected.begin(), selected.end(), out.data<int64_t>());
  }

 private:
  struct Corners {
    double x1, y1, x2, y2;  // x1 <= x2, y1 <= y2
  };

  std::vector<Corners> corners_of(const double* data, int64_t num_boxes) const {
    std::vector<Corners> out(static_cast<size_t>(num_boxes));
    for (int64_t i = 0; i < num_boxes; ++i) {
      const double* v = data + i * 4;
      if (center_point_box_ == 1) {
        out[static_cast<size_t>(i)] = {v[0] - v[2] / 2, v[1] - v[3] / 2, v[0] + v[2] / 2, v[1] + v[3] / 2};
      } else {
        out[static_cast<size_t>(i)] = {std::min(v[1], v[3]), std::min(v[0], v[2]), std::max(v[1], v[3]),
                                       std::max(v[0], v[2])};
      }
    }
    return out;
  }

  static double iou(const Corners& a, const Corners& b) {
    const double area_a = (a.x2 - a.x1) * (a.y2 - a.y1), area_b = (b.x2 - b.x1) * (b.y2 - b.y1);
    if (area_a <= 0 || area_b <= 0) return 0;
    const double iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
    const double ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
    if (iw <= 0 || ih <= 0) return 0;
    const double inter = iw * ih;
    return inter / (area_a + area_b - inter);
  }

  static int64_t scalar_input_int(KernelContext& ctx, size_t i, int64_t fallback) {
    if (!ctx.has_input(i) || ctx.input(i).numel() == 0) return fallback;
    OT_CHECK(ctx.input(i).numel() == 1, "{}: input {} {} must be a scalar", ctx.node().label(), i,
             ctx.input(i).describe());
    return ctx.input(i).to_int64s()[0];
  }
  static double scalar_input_double(KernelContext& ctx, size_t i, double fallback) {
    if (!ctx.has_input(i) || ctx.input(i).numel() == 0) return fallback;
    OT_CHECK(ctx.input(i).numel() == 1, "{}: input {} {} must be a scalar", ctx.node().label(), i,
             ctx.input(i).describe());
    return ctx.input(i).to_doubles()[0];
  }

  int64_t center_point_box_;
};

}  // namespace

// GridSampleGrad is registered with the gradient kernels (reference/loss_resize_grad.cc).
std::unique_ptr<Kernel> make_grid_sample_grad_kernel(const KernelInfo& info) {
  return std::make_unique<GridSampleGradKernel>(info);
}

ONNX_TRAIN_REGISTER_KERNELS(vision) {
  registry.add<GridSampleKernel>("GridSample", {16});
  registry.add<RoiAlignKernel>("RoiAlign", {10, 16});
  registry.add<NonMaxSuppressionKernel>("NonMaxSuppression", {10, 11});
  registry.add<MaxRoiPoolKernel>("MaxRoiPool", {1});
}

}  // namespace onnx_train
