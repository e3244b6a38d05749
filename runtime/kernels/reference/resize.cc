// Resize (10, 11, 13) and Upsample (7, 9, 10): nearest, n-linear and cubic interpolation over
// any of the dimensions, plain reference loops. Resize-18/19 load lowered to Resize-13
// (importers/lowerings/vision_resize.cc), which brings Resize-19's half_pixel_symmetric here.
//
// Y[y_0, ..., y_{r-1}] is computed separably: for each dimension d the output coordinate y_d
// maps to an input coordinate x_d (coordinate_transformation_mode), which picks a few input
// indices with weights (1 tap for nearest, 2 for linear, 4 for cubic; indices clamped to the
// edge). The value is the nested weighted sum over dimensions 0..r-1, as in ONNX's
// interpolate_nd reference: with tf_crop_and_resize a coordinate outside the input yields
// extrapolation_value at that level of the nesting. Arithmetic is in double.
//
// Output size: floor(in_d * scale_d) with scales, or sizes_d (then scale_d = sizes_d / in_d).
// Upsample and Resize-10 predate the coordinate modes: they map x = y / scale (asymmetric),
// and nearest takes floor(x) when upsampling a dimension and ceil(x) when downsampling it.
//
// ResizeGrad (the project-domain gradient op, registered in reference/loss_resize_grad.cc)
// reuses the same taps: Resize is linear in X, and its gradient scatters dY back through
// them.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

enum class InterpMode { Nearest, Linear, Cubic };
enum class CoordMode {
  HalfPixel,
  HalfPixelSymmetric,
  PytorchHalfPixel,
  AlignCorners,
  Asymmetric,
  TfHalfPixelForNn,
  TfCropAndResize
};
enum class NearestMode { RoundPreferFloor, RoundPreferCeil, Floor, Ceil, Legacy };

struct ResizeSettings {
  InterpMode mode = InterpMode::Nearest;
  CoordMode coord = CoordMode::HalfPixel;
  NearestMode nearest = NearestMode::RoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation_value = 0;
};

// The taps of one dimension: for output coordinate y, `taps` (input index, weight) pairs at
// [y * taps, (y + 1) * taps), or `outside[y]` when it maps outside the input
// (tf_crop_and_resize only).
struct AxisTaps {
  int taps = 1;
  std::vector<int64_t> index;
  std::vector<double> weight;
  std::vector<char> outside;
};

// Cubic convolution weights for the 4 neighbours at offsets -1, 0, 1, 2 of a point `ratio`
// past the second one (Keys' kernel with parameter a).
void cubic_weights(double ratio, double a, double* w) {
  auto near = [a](double t) { return ((a + 2) * t - (a + 3)) * t * t + 1; };       // |t| <= 1
  auto far = [a](double t) { return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a; };  // 1 < |t| < 2
  w[0] = far(ratio + 1);
  w[1] = near(ratio);
  w[2] = near(1 - ratio);
  w[3] = far(2 - ratio);
}

// Input coordinate of output coordinate y along one dimension. `out_width` is in_width * scale
// (not rounded, as in the ONNX reference); `out_length` the output's size along it.
// half_pixel_symmetric (Resize-19) is half_pixel shifted by in_width / 2 * (1 - out_length /
// out_width), so that the sampled span stays centred when the scaled width is not whole.
double source_coordinate(const ResizeSettings& s, int64_t y, double scale, int64_t in_width, double out_width,
                         int64_t out_length, double roi_start, double roi_end) {
  switch (s.coord) {
    case CoordMode::HalfPixel: return (y + 0.5) / scale - 0.5;
    case CoordMode::HalfPixelSymmetric: return in_width / 2.0 * (1 - out_length / out_width) + (y + 0.5) / scale - 0.5;
    case CoordMode::PytorchHalfPixel: return out_width == 1 ? -0.5 : (y + 0.5) / scale - 0.5;
    case CoordMode::AlignCorners: return out_width == 1 ? 0.0 : y * (in_width - 1) / (out_width - 1);
    case CoordMode::Asymmetric: return y / scale;
    case CoordMode::TfHalfPixelForNn: return (y + 0.5) / scale;
    case CoordMode::TfCropAndResize: {
      const double span = roi_end - roi_start;
      const double x = out_width == 1 ? span * (in_width - 1) / 2 : y * span * (in_width - 1) / (out_width - 1);
      return x + roi_start * (in_width - 1);
    }
  }
  return 0;
}

AxisTaps axis_taps(const ResizeSettings& s, int64_t in_width, int64_t out_width, double scale, double roi_start,
                   double roi_end) {
  AxisTaps a;
  a.taps = s.mode == InterpMode::Nearest ? 1 : s.mode == InterpMode::Linear ? 2 : 4;
  a.index.assign(out_width * a.taps, 0);
  a.weight.assign(out_width * a.taps, 0.0);
  a.outside.assign(out_width, 0);
  const double scaled_width = scale * in_width;
  for (int64_t y = 0; y < out_width; ++y) {
    const double x = source_coordinate(s, y, scale, in_width, scaled_width, out_width, roi_start, roi_end);
    if (s.coord == CoordMode::TfCropAndResize && (x < 0 || x > in_width - 1)) {
      a.outside[y] = 1;
      continue;
    }
    // `left` is the neighbour at or below x with x - left in (0, 1]: at an integer x the
    // reference takes ratio 1 against the index below.
    const double fl = std::floor(x);
    const bool integral = x == fl;
    const int64_t left = static_cast<int64_t>(fl) - (integral ? 1 : 0);
    const double ratio = integral ? 1.0 : x - fl;
    int64_t* idx = a.index.data() + y * a.taps;
    double* w = a.weight.data() + y * a.taps;
    switch (s.mode) {
      case InterpMode::Nearest: {
        bool take_right = true;
        if (s.nearest == NearestMode::Legacy)
          take_right = false, idx[0] = scale < 1 ? static_cast<int64_t>(std::ceil(x)) : static_cast<int64_t>(fl);
        else if (!integral && s.nearest == NearestMode::RoundPreferFloor)
          take_right = ratio > 0.5;
        else if (!integral && s.nearest == NearestMode::RoundPreferCeil)
          take_right = ratio >= 0.5;
        else if (!integral && s.nearest == NearestMode::Floor)
          take_right = false;
        if (s.nearest != NearestMode::Legacy) idx[0] = take_right ? left + 1 : left;
        w[0] = 1;
        break;
      }
      case InterpMode::Linear:
        idx[0] = left, idx[1] = left + 1;
        w[0] = 1 - ratio, w[1] = ratio;
        break;
      case InterpMode::Cubic:
        for (int k = 0; k < 4; ++k) idx[k] = left - 1 + k;
        cubic_weights(ratio, s.cubic_a, w);
        break;
    }
    if (s.exclude_outside) {
      double sum = 0;
      for (int k = 0; k < a.taps; ++k) {
        if (idx[k] < 0 || idx[k] >= in_width) w[k] = 0;
        sum += w[k];
      }
      if (sum != 0)
        for (int k = 0; k < a.taps; ++k) w[k] /= sum;
    }
    for (int k = 0; k < a.taps; ++k) idx[k] = std::clamp<int64_t>(idx[k], 0, in_width - 1);
  }
  return a;
}

// Rounds to the nearest representable value of an integer type (saturating); floats pass.
template <typename T>
T store(double v) {
  if constexpr (std::is_integral_v<T>) {
    const double lo = static_cast<double>(std::numeric_limits<T>::lowest());
    const double hi = static_cast<double>(std::numeric_limits<T>::max());
    return static_cast<T>(std::clamp(std::nearbyint(v), lo, hi));
  } else {
    return from_compute<T>(v);
  }
}

template <typename T>
class Interpolator {
 public:
  Interpolator(const T* in, const std::vector<int64_t>& strides, const std::vector<AxisTaps>& axes, double extrap)
      : in_(in), strides_(strides), axes_(axes), extrap_(extrap) {}

  // The nested weighted sum over dimensions d.. for output coordinates `y`.
  double value(size_t d, int64_t offset, const int64_t* y) const {
    if (d == axes_.size()) return static_cast<double>(to_compute(in_[offset]));
    const AxisTaps& a = axes_[d];
    if (a.outside[y[d]]) return extrap_;
    double sum = 0;
    for (int k = 0; k < a.taps; ++k) {
      const double w = a.weight[y[d] * a.taps + k];
      if (w != 0) sum += w * value(d + 1, offset + a.index[y[d] * a.taps + k] * strides_[d], y);
    }
    return sum;
  }

 private:
  const T* in_;
  const std::vector<int64_t>& strides_;
  const std::vector<AxisTaps>& axes_;
  double extrap_;
};

template <typename T>
void resize_typed(const Tensor& x, Tensor& out, const std::vector<AxisTaps>& axes, const ResizeSettings& s) {
  const T* in = x.data<T>();
  T* dst = out.data<T>();
  const std::vector<int64_t> strides = strides_of(x.shape());
  const Shape& out_shape = out.shape();
  const size_t rank = out_shape.size();
  const int64_t n = out.numel();
  std::vector<int64_t> y(rank, 0);
  Interpolator<T> interp(in, strides, axes, s.extrapolation_value);
  for (int64_t i = 0; i < n; ++i) {
    if (s.mode == InterpMode::Nearest) {
      // A gather: copy the element exactly (no round trip through double).
      bool outside = false;
      int64_t offset = 0;
      for (size_t d = 0; d < rank; ++d) {
        outside = outside || axes[d].outside[y[d]];
        offset += axes[d].index[y[d]] * strides[d];
      }
      if constexpr (std::is_same_v<T, bool>)
        dst[i] = outside ? s.extrapolation_value != 0 : in[offset];
      else
        dst[i] = outside ? store<T>(s.extrapolation_value) : in[offset];
    } else {
      if constexpr (!std::is_same_v<T, bool>) dst[i] = store<T>(interp.value(0, 0, y.data()));
    }
    for (size_t d = rank; d-- > 0;) {
      if (++y[d] < out_shape[d]) break;
      y[d] = 0;
    }
  }
}

// The interpolation settings of a Resize / Upsample node (or of its ResizeGrad node, which
// carries the same attributes). `legacy`: Upsample and Resize-10, which have no coordinate
// attributes (asymmetric mapping, the legacy nearest rule, no cubic).
// `allow_tf_half_pixel`: tf_half_pixel_for_nn is accepted (Resize-11 only).
ResizeSettings parse_resize_settings(const Node& n, bool legacy, bool allow_tf_half_pixel) {
  const std::string label = n.label();
  ResizeSettings s;
  const std::string mode = n.attr_string("mode", "nearest");
  if (mode == "nearest")
    s.mode = InterpMode::Nearest;
  else if (mode == "linear")
    s.mode = InterpMode::Linear;
  else if (mode == "cubic" && !legacy)
    s.mode = InterpMode::Cubic;
  else
    OT_FAIL("{}: mode '{}' must be nearest, linear{}", label, mode, legacy ? "" : " or cubic");
  if (legacy) {
    s.coord = CoordMode::Asymmetric;
    s.nearest = NearestMode::Legacy;
    return s;
  }
  const std::string coord = n.attr_string("coordinate_transformation_mode", "half_pixel");
  if (coord == "half_pixel")
    s.coord = CoordMode::HalfPixel;
  else if (coord == "half_pixel_symmetric")  // Resize-19's, which loads lowered to Resize-13
    s.coord = CoordMode::HalfPixelSymmetric;
  else if (coord == "pytorch_half_pixel")
    s.coord = CoordMode::PytorchHalfPixel;
  else if (coord == "align_corners")
    s.coord = CoordMode::AlignCorners;
  else if (coord == "asymmetric")
    s.coord = CoordMode::Asymmetric;
  else if (coord == "tf_crop_and_resize")
    s.coord = CoordMode::TfCropAndResize;
  else if (coord == "tf_half_pixel_for_nn" && allow_tf_half_pixel)
    s.coord = CoordMode::TfHalfPixelForNn;
  else
    OT_FAIL(
        "{}: coordinate_transformation_mode '{}' must be half_pixel, half_pixel_symmetric, pytorch_half_pixel, "
        "align_corners, asymmetric{} or tf_crop_and_resize",
        label, coord, allow_tf_half_pixel ? ", tf_half_pixel_for_nn" : "");
  const std::string nearest = n.attr_string("nearest_mode", "round_prefer_floor");
  if (nearest == "round_prefer_floor")
    s.nearest = NearestMode::RoundPreferFloor;
  else if (nearest == "round_prefer_ceil")
    s.nearest = NearestMode::RoundPreferCeil;
  else if (nearest == "floor")
    s.nearest = NearestMode::Floor;
  else if (nearest == "ceil")
    s.nearest = NearestMode::Ceil;
  else
    OT_FAIL("{}: nearest_mode '{}' must be round_prefer_floor, round_prefer_ceil, floor or ceil", label, nearest);
  s.cubic_a = n.attr_float("cubic_coeff_a", -0.75f);
  s.exclude_outside = n.attr_int("exclude_outside", 0) != 0;
  s.extrapolation_value = n.attr_float("extrapolation_value", 0.0f);
  return s;
}

// The taps of every dimension of input shape `in_shape` resized to `out_shape` with the
// given scales and (tf_crop_and_resize) roi (starts then ends; empty otherwise).
std::vector<AxisTaps> resize_taps(const ResizeSettings& s, const Shape& in_shape, const Shape& out_shape,
                                  const std::vector<double>& scales, const std::vector<double>& roi) {
  const size_t rank = in_shape.size();
  std::vector<AxisTaps> axes;
  for (size_t d = 0; d < rank; ++d)
    axes.push_back(axis_taps(s, in_shape[d], out_shape[d], scales[d], roi.empty() ? 0.0 : roi[d],
                             roi.empty() ? 1.0 : roi[rank + d]));
  return axes;
}

// Resize / Upsample of every version; `version` selects inputs and attributes.
class ResizeKernel : public Kernel {
 public:
  ResizeKernel(const KernelInfo& info, bool upsample) : label_(info.node.label()), upsample_(upsample) {
    const Node& n = info.node;
    version_ = n.since_version;
    legacy_ = upsample_ || version_ < 11;
    s_ = parse_resize_settings(n, legacy_, version_ == 11);
    if (upsample_ && version_ < 9) {
      scales_attr_ = n.attr_floats("scales");
      for (float v : scales_attr_) OT_CHECK(v >= 1, "{}: every scale must be >= 1, got {}", label_, v);
    }
  }

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const int64_t rank = x.rank();
    std::vector<double> scales;
    Shape out_shape(rank);
    if (legacy_) {
      scales = upsample_ && version_ < 9 ? std::vector<double>(scales_attr_.begin(), scales_attr_.end())
                                         : ctx.input(1).to_doubles();
      check_scales(scales, rank);
      for (int64_t d = 0; d < rank; ++d) out_shape[d] = static_cast<int64_t>(std::floor(x.dim(d) * scales[d]));
    } else {
      const bool have_scales = ctx.has_input(2) && ctx.input(2).numel() > 0;
      const bool have_sizes = ctx.has_input(3) && ctx.input(3).numel() > 0;
      OT_CHECK(have_scales != have_sizes,
               "{}: give exactly one of 'scales' and 'sizes' (the other omitted or empty); got {} and {}", label_,
               ctx.has_input(2) ? ctx.input(2).describe() : "none",
               ctx.has_input(3) ? ctx.input(3).describe() : "none");
      if (have_scales) {
        scales = ctx.input(2).to_doubles();
        check_scales(scales, rank);
        for (int64_t d = 0; d < rank; ++d) out_shape[d] = static_cast<int64_t>(std::floor(x.dim(d) * scales[d]));
      } else {
        const std::vector<int64_t> sizes = ctx.input(3).to_int64s();
        OT_CHECK(static_cast<int64_t>(sizes.size()) == rank, "{}: 'sizes' has {} entries for input {}", label_,
                 sizes.size(), x.describe());
        for (int64_t d = 0; d < rank; ++d) {
          OT_CHECK(sizes[d] >= 0, "{}: sizes[{}] = {} is negative", label_, d, sizes[d]);
          OT_CHECK(x.dim(d) > 0 || sizes[d] == 0, "{}: cannot resize an empty dimension {} of {} to {}", label_, d,
                   x.describe(), sizes[d]);
          out_shape[d] = sizes[d];
          scales.push_back(x.dim(d) > 0 ? static_cast<double>(sizes[d]) / static_cast<double>(x.dim(d)) : 1.0);
        }
      }
    }
    std::vector<double> roi;
    if (s_.coord == CoordMode::TfCropAndResize) {
      OT_CHECK(ctx.has_input(1) && ctx.input(1).numel() == 2 * rank,
               "{}: tf_crop_and_resize needs 'roi' with {} values (starts then ends) for input {}", label_, 2 * rank,
               x.describe());
      roi = ctx.input(1).to_doubles();
    }
    for (int64_t d = 0; d < rank; ++d)
      OT_CHECK(x.dim(d) > 0 || out_shape[d] == 0, "{}: cannot resize an empty dimension {} of {}", label_, d,
               x.describe());
    const std::vector<AxisTaps> axes = resize_taps(s_, x.shape(), out_shape, scales, roi);
    Tensor& out = ctx.allocate_output(0, x.dtype(), out_shape);
    if (out.numel() == 0) return;
    if (s_.mode == InterpMode::Nearest) {
      visit_dtype(x.dtype(), [&](auto tag) { resize_typed<typename decltype(tag)::type>(x, out, axes, s_); });
    } else {
      OT_CHECK(x.dtype() != DType::Bool, "{}: linear and cubic modes need a numeric input, got bool", label_);
      visit_numeric(x.dtype(), [&](auto tag) { resize_typed<typename decltype(tag)::type>(x, out, axes, s_); });
    }
  }

 private:
  void check_scales(const std::vector<double>& scales, int64_t rank) const {
    OT_CHECK(static_cast<int64_t>(scales.size()) == rank, "{}: 'scales' has {} entries for a rank-{} input", label_,
             scales.size(), rank);
    for (double v : scales) {
      OT_CHECK(v > 0, "{}: every scale must be positive, got {}", label_, v);
      OT_CHECK(!upsample_ || v >= 1, "{}: Upsample scales must be >= 1, got {}", label_, v);
    }
  }

  std::string label_;
  bool upsample_;
  int version_ = 0;
  bool legacy_ = false;             // Upsample and Resize-10: asymmetric mapping, no coordinate attributes
  std::vector<float> scales_attr_;  // Upsample-7
  ResizeSettings s_;
};

// The adjoint of the interpolation: for every output element y, dX[i] += w(y, i) * dY[y]
// over the taps i of y (the product of one tap per dimension and its weight), skipping y
// where a dimension maps outside the input (tf_crop_and_resize reads extrapolation_value
// there, a constant).
class Scatterer {
 public:
  Scatterer(std::vector<double>& dx, const std::vector<int64_t>& strides, const std::vector<AxisTaps>& axes)
      : dx_(dx), strides_(strides), axes_(axes) {}

  void add(size_t d, int64_t offset, double weight, const int64_t* y) {
    if (d == axes_.size()) {
      dx_[static_cast<size_t>(offset)] += weight;
      return;
    }
    const AxisTaps& a = axes_[d];
    for (int k = 0; k < a.taps; ++k) {
      const double w = a.weight[y[d] * a.taps + k];
      if (w != 0) add(d + 1, offset + a.index[y[d] * a.taps + k] * strides_[d], weight * w, y);
    }
  }

 private:
  std::vector<double>& dx_;
  const std::vector<int64_t>& strides_;
  const std::vector<AxisTaps>& axes_;
};

template <typename T>
void resize_adjoint(const Tensor& dy, Tensor& dx, const std::vector<AxisTaps>& axes) {
  const T* g = dy.data<T>();
  const std::vector<int64_t> strides = strides_of(dx.shape());
  const Shape& out_shape = dy.shape();
  const size_t rank = out_shape.size();
  std::vector<double> sums(static_cast<size_t>(dx.numel()), 0.0);
  Scatterer scatter(sums, strides, axes);
  std::vector<int64_t> y(rank, 0);
  for (int64_t i = 0; i < dy.numel(); ++i) {
    bool outside = false;
    for (size_t d = 0; d < rank; ++d) outside = outside || axes[d].outside[y[d]];
    if (!outside) scatter.add(0, 0, static_cast<double>(to_compute(g[i])), y.data());
    for (size_t d = rank; d-- > 0;) {
      if (++y[d] < out_shape[d]) break;
      y[d] = 0;
    }
  }
  T* out = dx.data<T>();
  for (size_t j = 0; j < sums.size(); ++j) out[j] = from_compute<T>(sums[j]);
}

// ResizeGrad(dY, x_shape, [roi], [scales]) -> dX, the gradient of Resize / Upsample with
// respect to X (the adjoint of the linear interpolation map, see resize_adjoint).
//   dY: the forward output's gradient (its shape is the forward output's);
//   x_shape: int64 [r], the shape of X (dX's shape);
//   roi: the forward roi (tf_crop_and_resize only; omitted or empty otherwise);
//   scales: the forward scales ([r] floats); omitted or empty when the forward took sizes,
//     then scale_d = dY_d / X_d as in the forward.
// Attributes: the forward's mode, coordinate_transformation_mode, nearest_mode,
// cubic_coeff_a, exclude_outside; legacy = 1 for Upsample and Resize-10 (asymmetric mapping,
// the legacy nearest rule; scales are then required).
class ResizeGradKernel : public Kernel {
 public:
  explicit ResizeGradKernel(const KernelInfo& info)
      : legacy_(info.node.attr_int("legacy", 0) != 0), s_(parse_resize_settings(info.node, legacy_, true)) {}

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& dy = ctx.input(0);
    const Shape x_shape = ctx.input(1).to_int64s();
    const int64_t rank = static_cast<int64_t>(x_shape.size());
    OT_CHECK(dy.rank() == rank && dtype_is_float(dy.dtype()), "{}: dY {} must be a floating-point tensor of rank {}",
             node.label(), dy.describe(), rank);
    std::vector<double> scales;
    if (ctx.has_input(3) && ctx.input(3).numel() > 0) {
      scales = ctx.input(3).to_doubles();
      OT_CHECK(static_cast<int64_t>(scales.size()) == rank, "{}: 'scales' has {} entries for a rank-{} input",
               node.label(), scales.size(), rank);
      for (int64_t d = 0; d < rank; ++d)
        OT_CHECK(scales[d] > 0 && dy.dim(d) == static_cast<int64_t>(std::floor(x_shape[d] * scales[d])),
                 "{}: dY {} is not X {} resized by scales {}", node.label(), dy.describe(), shape_str(x_shape),
                 fmt::join(scales, ", "));
    } else {
      OT_CHECK(!legacy_, "{}: legacy ResizeGrad needs the forward 'scales'", node.label());
      for (int64_t d = 0; d < rank; ++d)
        scales.push_back(x_shape[d] > 0 ? static_cast<double>(dy.dim(d)) / static_cast<double>(x_shape[d]) : 1.0);
    }
    std::vector<double> roi;
    if (s_.coord == CoordMode::TfCropAndResize) {
      OT_CHECK(ctx.has_input(2) && ctx.input(2).numel() == 2 * rank,
               "{}: tf_crop_and_resize needs 'roi' with {} values (starts then ends)", node.label(), 2 * rank);
      roi = ctx.input(2).to_doubles();
    }
    for (int64_t d = 0; d < rank; ++d)
      OT_CHECK(x_shape[d] > 0 || dy.dim(d) == 0, "{}: dY {} cannot come from an empty dimension {} of X {}",
               node.label(), dy.describe(), d, shape_str(x_shape));
    Tensor& dx = ctx.allocate_output(0, dy.dtype(), x_shape);
    if (dy.numel() == 0 || dx.numel() == 0) return;
    const std::vector<AxisTaps> axes = resize_taps(s_, x_shape, dy.shape(), scales, roi);
    visit_float(dy.dtype(), [&](auto tag) { resize_adjoint<typename decltype(tag)::type>(dy, dx, axes); });
  }

 private:
  bool legacy_;
  ResizeSettings s_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(resize) {
  registry.add("Resize", {10, 11, 13},
               [](const KernelInfo& info) { return std::make_unique<ResizeKernel>(info, false); });
  registry.add("Upsample", {7, 9, 10},
               [](const KernelInfo& info) { return std::make_unique<ResizeKernel>(info, true); });
}

// ResizeGrad is registered with the gradient kernels (reference/loss_resize_grad.cc).
std::unique_ptr<Kernel> make_resize_grad_kernel(const KernelInfo& info) {
  return std::make_unique<ResizeGradKernel>(info);
}

}  // namespace onnx_train
