// Resize (10, 11, 13) and Upsample (7, 9, 10): nearest, n-linear and cubic interpolation over
// any of the dimensions, plain reference loops.
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
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

enum class InterpMode { Nearest, Linear, Cubic };
enum class CoordMode { HalfPixel, PytorchHalfPixel, AlignCorners, Asymmetric, TfHalfPixelForNn, TfCropAndResize };
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
// (not rounded, as in the ONNX reference).
double source_coordinate(const ResizeSettings& s, int64_t y, double scale, int64_t in_width, double out_width,
                         double roi_start, double roi_end) {
  switch (s.coord) {
    case CoordMode::HalfPixel: return (y + 0.5) / scale - 0.5;
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
    const double x = source_coordinate(s, y, scale, in_width, scaled_width, roi_start, roi_end);
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

// Resize / Upsample of every version; `version` selects inputs and attributes.
class ResizeKernel : public Kernel {
 public:
  ResizeKernel(const KernelInfo& info, bool upsample) : label_(info.node.label()), upsample_(upsample) {
    const Node& n = info.node;
    version_ = n.since_version;
    legacy_ = upsample_ || version_ < 11;
    const std::string mode = n.attr_string("mode", "nearest");
    if (mode == "nearest")
      s_.mode = InterpMode::Nearest;
    else if (mode == "linear")
      s_.mode = InterpMode::Linear;
    else if (mode == "cubic" && !legacy_)
      s_.mode = InterpMode::Cubic;
    else
      OT_FAIL("{}: mode '{}' must be nearest, linear{}", label_, mode, legacy_ ? "" : " or cubic");
    if (legacy_) {
      s_.coord = CoordMode::Asymmetric;
      s_.nearest = NearestMode::Legacy;
      if (upsample_ && version_ < 9) {
        scales_attr_ = n.attr_floats("scales");
        for (float v : scales_attr_) OT_CHECK(v >= 1, "{}: every scale must be >= 1, got {}", label_, v);
      }
      return;
    }
    const std::string coord = n.attr_string("coordinate_transformation_mode", "half_pixel");
    if (coord == "half_pixel")
      s_.coord = CoordMode::HalfPixel;
    else if (coord == "pytorch_half_pixel")
      s_.coord = CoordMode::PytorchHalfPixel;
    else if (coord == "align_corners")
      s_.coord = CoordMode::AlignCorners;
    else if (coord == "asymmetric")
      s_.coord = CoordMode::Asymmetric;
    else if (coord == "tf_crop_and_resize")
      s_.coord = CoordMode::TfCropAndResize;
    else if (coord == "tf_half_pixel_for_nn" && version_ == 11)
      s_.coord = CoordMode::TfHalfPixelForNn;
    else
      OT_FAIL(
          "{}: coordinate_transformation_mode '{}' must be half_pixel, pytorch_half_pixel, align_corners, "
          "asymmetric{} or tf_crop_and_resize",
          label_, coord, version_ == 11 ? ", tf_half_pixel_for_nn" : "");
    const std::string nearest = n.attr_string("nearest_mode", "round_prefer_floor");
    if (nearest == "round_prefer_floor")
      s_.nearest = NearestMode::RoundPreferFloor;
    else if (nearest == "round_prefer_ceil")
      s_.nearest = NearestMode::RoundPreferCeil;
    else if (nearest == "floor")
      s_.nearest = NearestMode::Floor;
    else if (nearest == "ceil")
      s_.nearest = NearestMode::Ceil;
    else
      OT_FAIL("{}: nearest_mode '{}' must be round_prefer_floor, round_prefer_ceil, floor or ceil", label_, nearest);
    s_.cubic_a = n.attr_float("cubic_coeff_a", -0.75f);
    s_.exclude_outside = n.attr_int("exclude_outside", 0) != 0;
    s_.extrapolation_value = n.attr_float("extrapolation_value", 0.0f);
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
    std::vector<AxisTaps> axes;
    for (int64_t d = 0; d < rank; ++d) {
      OT_CHECK(x.dim(d) > 0 || out_shape[d] == 0, "{}: cannot resize an empty dimension {} of {}", label_, d,
               x.describe());
      axes.push_back(axis_taps(s_, x.dim(d), out_shape[d], scales[d], roi.empty() ? 0.0 : roi[d],
                               roi.empty() ? 1.0 : roi[rank + d]));
    }
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

}  // namespace

void register_resize_kernels(KernelRegistry& registry) {
  registry.add("Resize", {10, 11, 13},
               [](const KernelInfo& info) { return std::make_unique<ResizeKernel>(info, false); });
  registry.add("Upsample", {7, 9, 10},
               [](const KernelInfo& info) { return std::make_unique<ResizeKernel>(info, true); });
}

}  // namespace onnx_train
