// Plain-loop reference implementations of the Conv / ConvTranspose / pooling backward passes
// and the ConvTranspose geometry (see conv_pool_grad_ref.h).
#include "runtime/kernels/reference/conv_pool_grad_ref.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/kernels/reference/pool_ref.h"

namespace onnx_train {

namespace {

// Python-style floor division by two (the ONNX reference's `// 2`), for possibly negative totals.
int64_t floor_half(int64_t a) { return a >= 0 ? a / 2 : -((-a + 1) / 2); }

// Calls f(plane, o0, o1, o2, out_offset) for every output element of every (n, c) plane.
template <typename F>
void for_outputs(int64_t planes, const Window3& g, F&& f) {
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t o0 = 0; o0 < g.out[0]; ++o0)
      for (int64_t o1 = 0; o1 < g.out[1]; ++o1)
        for (int64_t o2 = 0; o2 < g.out[2]; ++o2)
          f(p, o0, o1, o2, ((p * g.out[0] + o0) * g.out[1] + o1) * g.out[2] + o2);
}

// Calls f(flat input offset within the plane) for every input position of window (o0, o1, o2).
template <typename F>
void for_window(const Window3& g, int64_t o0, int64_t o1, int64_t o2, F&& f) {
  for_each_window_tap(g, g.in, o0, o1, o2,
                      [&](int64_t i0, int64_t i1, int64_t i2, int64_t) { f((i0 * g.in[1] + i1) * g.in[2] + i2); });
}

// Number of taps of a window starting at `start` (k taps d apart) inside [lo, hi).
int64_t taps_inside(int64_t start, int64_t k, int64_t d, int64_t lo, int64_t hi) {
  int64_t n = 0;
  for (int64_t j = 0; j < k; ++j) n += (start + j * d >= lo && start + j * d < hi) ? 1 : 0;
  return n;
}

}  // namespace

WindowGeometry conv_transpose_geometry(const Node& node, const WindowAttrs& attrs,
                                       const std::vector<int64_t>& output_padding_attr,
                                       const std::vector<int64_t>& output_shape_attr, bool version11, const Shape& in,
                                       const std::vector<int64_t>& kernel) {
  const size_t r = in.size();
  WindowGeometry g;
  g.kernel = kernel;
  g.strides = window_attr_or(node, "strides", attrs.strides, r, 1);
  g.dilations = window_attr_or(node, "dilations", attrs.dilations, r, 1);
  const std::vector<int64_t> pads = window_attr_or(node, "pads", attrs.pads, 2 * r, 0);
  const std::vector<int64_t> output_padding = window_attr_or(node, "output_padding", output_padding_attr, r, 0);
  // output_shape may list the spatial sizes only or, as some exporters write it, all dims.
  std::vector<int64_t> output_shape = output_shape_attr;
  if (output_shape.size() == r + 2) output_shape.erase(output_shape.begin(), output_shape.begin() + 2);
  output_shape = window_attr_or(node, "output_shape", output_shape, r, 0);
  const bool same = attrs.auto_pad == AutoPad::SameUpper || attrs.auto_pad == AutoPad::SameLower;
  g.pads_begin.resize(r);
  g.pads_end.resize(r);
  g.out.resize(r);
  for (size_t i = 0; i < r; ++i) {
    OT_CHECK(output_padding[i] < std::max(g.strides[i], g.dilations[i]),
             "{}: output_padding {} must be smaller than the stride or the dilation of its axis", node.label(),
             shape_str(output_padding));
    const int64_t full = g.strides[i] * (in[i] - 1) + output_padding[i] + (g.kernel[i] - 1) * g.dilations[i] + 1;
    if (!output_shape_attr.empty() || same) {
      g.out[i] = !output_shape_attr.empty() ? output_shape[i] : in[i] * g.strides[i];
      const int64_t total = full - g.out[i];
      const bool upper = attrs.auto_pad == AutoPad::SameUpper;
      const bool half_first = version11 ? upper : !upper;
      g.pads_begin[i] = half_first ? floor_half(total) : total - floor_half(total);
      g.pads_end[i] = total - g.pads_begin[i];
    } else {
      const bool valid = attrs.auto_pad == AutoPad::Valid;
      g.pads_begin[i] = valid ? 0 : pads[i];
      g.pads_end[i] = valid ? 0 : pads[i + r];
      g.out[i] = full - g.pads_begin[i] - g.pads_end[i];
      OT_CHECK(g.out[i] > 0, "{}: pads {} crop all of spatial axis {} (uncropped size {})", node.label(),
               shape_str(pads), i, full);
    }
  }
  return g;
}

template <typename T>
void conv_backward_weights_ref(const T* x, const Shape& x_shape, const T* dy, const Shape& dy_shape, int64_t group,
                               const WindowGeometry& geometry, const Shape& w_shape, T* dw, T* db) {
  const Window3 g = to_window3(spatial_of(x_shape), geometry);
  const int64_t batch = x_shape[0], channels = x_shape[1], maps = w_shape[0];
  const int64_t cg = channels / group, mg = maps / group;
  const int64_t in_size = g.in_size(), out_size = g.out_size(), k_size = g.kernel_size();
  std::fill(dw, dw + maps * cg * k_size, T(0));
  if (db != nullptr) channel_sum_ref(dy, dy_shape, db);
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t m = 0; m < maps; ++m) {
      const T* x_group = x + (n * channels + (m / mg) * cg) * in_size;
      const T* dy_map = dy + (n * maps + m) * out_size;
      T* dw_map = dw + m * cg * k_size;
      for (int64_t o0 = 0; o0 < g.out[0]; ++o0) {
        for (int64_t o1 = 0; o1 < g.out[1]; ++o1) {
          for (int64_t o2 = 0; o2 < g.out[2]; ++o2) {
            const T grad = dy_map[(o0 * g.out[1] + o1) * g.out[2] + o2];
            for (int64_t c = 0; c < cg; ++c) {
              const T* xc = x_group + c * in_size;
              T* dwc = dw_map + c * k_size;
              for_each_window_tap(g, g.in, o0, o1, o2, [&](int64_t i0, int64_t i1, int64_t i2, int64_t tap) {
                dwc[tap] += grad * xc[(i0 * g.in[1] + i1) * g.in[2] + i2];
              });
            }
          }
        }
      }
    }
  }
}

template <typename T>
void channel_sum_ref(const T* dy, const Shape& dy_shape, T* db) {
  const int64_t batch = dy_shape[0], channels = dy_shape[1], size = shape_numel(spatial_of(dy_shape));
  std::fill(db, db + channels, T(0));
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t c = 0; c < channels; ++c) {
      const T* plane = dy + (n * channels + c) * size;
      T sum = T(0);
      for (int64_t i = 0; i < size; ++i) sum += plane[i];
      db[c] += sum;
    }
}

template <typename T>
void max_pool_backward_ref(const T* x, const Shape& x_shape, const T* dy, const WindowGeometry& geometry, T* dx) {
  const Shape y_shape = window_output_shape(x_shape[0], x_shape[1], geometry);
  std::vector<T> y(static_cast<size_t>(shape_numel(y_shape)));
  std::vector<int64_t> argmax(y.size());
  max_pool_ref<T>(x, x_shape, geometry, y.data(), argmax.data(), /*column_major=*/false);
  std::fill(dx, dx + shape_numel(x_shape), T(0));
  for (size_t o = 0; o < argmax.size(); ++o)
    if (argmax[o] >= 0) dx[argmax[o]] += dy[o];
}

template <typename T>
void average_pool_backward_ref(const Shape& x_shape, const T* dy, const WindowGeometry& geometry,
                               bool count_include_pad, T* dx) {
  const Window3 g = to_window3(spatial_of(x_shape), geometry);
  // The padded input is [-pad_begin, in + pad_end) per axis (leading unit axes: [0, 1)).
  int64_t padded_end[3];
  const size_t lead = 3 - geometry.rank();
  for (size_t i = 0; i < 3; ++i) padded_end[i] = g.in[i] + (i >= lead ? geometry.pads_end[i - lead] : 0);
  const int64_t in_size = g.in_size();
  std::fill(dx, dx + shape_numel(x_shape), T(0));
  for_outputs(x_shape[0] * x_shape[1], g, [&](int64_t p, int64_t o0, int64_t o1, int64_t o2, int64_t out) {
    T* dxp = dx + p * in_size;
    int64_t count = 0;
    if (count_include_pad) {
      const int64_t o[3] = {o0, o1, o2};
      count = 1;
      for (size_t i = 0; i < 3; ++i)
        count *= taps_inside(o[i] * g.stride[i] - g.pad[i], g.kernel[i], g.dilation[i], -g.pad[i], padded_end[i]);
    } else {
      for_window(g, o0, o1, o2, [&](int64_t) { ++count; });
    }
    if (count == 0) return;
    const T share = dy[out] / static_cast<T>(count);
    for_window(g, o0, o1, o2, [&](int64_t at) { dxp[at] += share; });
  });
}

template <typename T>
void lp_pool_backward_ref(const T* x, const Shape& x_shape, const T* y, const T* dy, const WindowGeometry& geometry,
                          int64_t p, T* dx) {
  const Window3 g = to_window3(spatial_of(x_shape), geometry);
  const int64_t in_size = g.in_size();
  const T power = static_cast<T>(p);
  std::fill(dx, dx + shape_numel(x_shape), T(0));
  for_outputs(x_shape[0] * x_shape[1], g, [&](int64_t plane, int64_t o0, int64_t o1, int64_t o2, int64_t out) {
    if (y[out] == T(0)) return;
    const T* xp = x + plane * in_size;
    T* dxp = dx + plane * in_size;
    const T scale = dy[out] / std::pow(y[out], power - T(1));
    for_window(g, o0, o1, o2, [&](int64_t at) {
      const T v = xp[at];
      const T sign = v > T(0) ? T(1) : (v < T(0) ? T(-1) : T(0));
      dxp[at] += scale * sign * std::pow(std::abs(v), power - T(1));
    });
  });
}

template <typename T>
void roi_align_backward_ref(const T* x, const Shape& x_shape, const double* rois, const int64_t* batch_indices,
                            int64_t num_rois, const RoiAlignParams& params, const T* dy, T* dx) {
  const int64_t channels = x_shape[1], h = x_shape[2], w = x_shape[3];
  std::fill(dx, dx + shape_numel(x_shape), T(0));
  const double offset = params.half_pixel ? 0.5 : 0.0;
  // The 4 neighbours (flat positions, -1: none) and weights of the bilinear read at (y, x).
  auto neighbours = [&](double y, double xx, int64_t at[4], double weight[4]) {
    for (int k = 0; k < 4; ++k) at[k] = -1;
    if (y < -1.0 || y > static_cast<double>(h) || xx < -1.0 || xx > static_cast<double>(w)) return;
    y = std::max(y, 0.0);
    xx = std::max(xx, 0.0);
    int64_t y_low = static_cast<int64_t>(y), x_low = static_cast<int64_t>(xx), y_high = y_low + 1, x_high = x_low + 1;
    if (y_low >= h - 1) {
      y_low = y_high = h - 1;
      y = static_cast<double>(y_low);
    }
    if (x_low >= w - 1) {
      x_low = x_high = w - 1;
      xx = static_cast<double>(x_low);
    }
    const double ly = y - static_cast<double>(y_low), lx = xx - static_cast<double>(x_low);
    const double hy = 1 - ly, hx = 1 - lx;
    const int64_t positions[4] = {y_low * w + x_low, y_low * w + x_high, y_high * w + x_low, y_high * w + x_high};
    const double weights[4] = {hy * hx, hy * lx, ly * hx, ly * lx};
    for (int k = 0; k < 4; ++k) {
      at[k] = positions[k];
      weight[k] = weights[k];
    }
  };
  for (int64_t r = 0; r < num_rois; ++r) {
    const int64_t b = batch_indices[r];
    const double* box = rois + r * 4;
    const double start_x = box[0] * params.spatial_scale - offset, start_y = box[1] * params.spatial_scale - offset;
    double roi_w = box[2] * params.spatial_scale - offset - start_x;
    double roi_h = box[3] * params.spatial_scale - offset - start_y;
    if (!params.half_pixel) {
      roi_w = std::max(roi_w, 1.0);
      roi_h = std::max(roi_h, 1.0);
    }
    const double bin_h = roi_h / static_cast<double>(params.out_h), bin_w = roi_w / static_cast<double>(params.out_w);
    const int64_t grid_h = params.sampling_ratio > 0 ? params.sampling_ratio : static_cast<int64_t>(std::ceil(bin_h));
    const int64_t grid_w = params.sampling_ratio > 0 ? params.sampling_ratio : static_cast<int64_t>(std::ceil(bin_w));
    const double count = static_cast<double>(std::max<int64_t>(grid_h * grid_w, 1));
    for (int64_t c = 0; c < channels; ++c) {
      const T* plane = x + (b * channels + c) * h * w;
      T* dplane = dx + (b * channels + c) * h * w;
      for (int64_t ph = 0; ph < params.out_h; ++ph) {
        for (int64_t pw = 0; pw < params.out_w; ++pw) {
          const double grad = static_cast<double>(dy[((r * channels + c) * params.out_h + ph) * params.out_w + pw]);
          double best = 0, best_weight = 0;
          int64_t best_at = -1;
          bool first = true;
          for (int64_t iy = 0; iy < grid_h; ++iy) {
            const double sy = start_y + static_cast<double>(ph) * bin_h +
                              (static_cast<double>(iy) + 0.5) * bin_h / static_cast<double>(grid_h);
            for (int64_t ix = 0; ix < grid_w; ++ix) {
              const double sx = start_x + static_cast<double>(pw) * bin_w +
                                (static_cast<double>(ix) + 0.5) * bin_w / static_cast<double>(grid_w);
              int64_t at[4];
              double weight[4];
              neighbours(sy, sx, at, weight);
              if (!params.max_mode) {
                for (int k = 0; k < 4; ++k)
                  if (at[k] >= 0) dplane[at[k]] += static_cast<T>(grad * weight[k] / count);
                continue;
              }
              // The largest of the 4 terms (the first on ties; all 0 outside the image).
              double v = 0, v_weight = 0;
              int64_t v_at = -1;
              for (int k = 0; k < 4; ++k) {
                const double term = at[k] >= 0 ? weight[k] * static_cast<double>(plane[at[k]]) : 0.0;
                if (k == 0 || term > v) {
                  v = term;
                  v_at = at[k];
                  v_weight = weight[k];
                }
              }
              if (first || v > best) {
                best = v;
                best_at = v_at;
                best_weight = v_weight;
                first = false;
              }
            }
          }
          if (params.max_mode && best_at >= 0) dplane[best_at] += static_cast<T>(grad * best_weight);
        }
      }
    }
  }
}

template <typename T>
void max_roi_pool_backward_ref(const T* x, const Shape& x_shape, const double* rois, int64_t num_rois, int64_t pooled_h,
                               int64_t pooled_w, double spatial_scale, const T* dy, T* dx) {
  const int64_t channels = x_shape[1], h = x_shape[2], w = x_shape[3];
  std::fill(dx, dx + shape_numel(x_shape), T(0));
  auto scaled = [&](double coord) { return static_cast<int64_t>(std::round(coord * spatial_scale)); };
  auto bin_edge = [](double offset, int64_t start, int64_t size) {
    return std::clamp(static_cast<int64_t>(offset) + start, int64_t{0}, size);
  };
  for (int64_t r = 0; r < num_rois; ++r) {
    const double* box = rois + r * 5;
    const int64_t b = static_cast<int64_t>(box[0]);
    const int64_t start_w = scaled(box[1]), start_h = scaled(box[2]), end_w = scaled(box[3]), end_h = scaled(box[4]);
    const double bin_h = static_cast<double>(std::max<int64_t>(end_h - start_h + 1, 1)) / static_cast<double>(pooled_h);
    const double bin_w = static_cast<double>(std::max<int64_t>(end_w - start_w + 1, 1)) / static_cast<double>(pooled_w);
    for (int64_t c = 0; c < channels; ++c) {
      const T* plane = x + (b * channels + c) * h * w;
      T* dplane = dx + (b * channels + c) * h * w;
      for (int64_t ph = 0; ph < pooled_h; ++ph) {
        const int64_t h0 = bin_edge(std::floor(static_cast<double>(ph) * bin_h), start_h, h);
        const int64_t h1 = bin_edge(std::ceil(static_cast<double>(ph + 1) * bin_h), start_h, h);
        for (int64_t pw = 0; pw < pooled_w; ++pw) {
          const int64_t w0 = bin_edge(std::floor(static_cast<double>(pw) * bin_w), start_w, w);
          const int64_t w1 = bin_edge(std::ceil(static_cast<double>(pw + 1) * bin_w), start_w, w);
          int64_t best_at = -1;
          for (int64_t i = h0; i < h1; ++i)
            for (int64_t j = w0; j < w1; ++j)
              if (best_at < 0 || plane[i * w + j] > plane[best_at]) best_at = i * w + j;
          if (best_at >= 0) dplane[best_at] += dy[((r * channels + c) * pooled_h + ph) * pooled_w + pw];
        }
      }
    }
  }
}

#define ONNX_TRAIN_INSTANTIATE_CONV_POOL_GRAD_REF(T)                                                                   \
  template void conv_backward_weights_ref<T>(const T*, const Shape&, const T*, const Shape&, int64_t,                  \
                                             const WindowGeometry&, const Shape&, T*, T*);                             \
  template void channel_sum_ref<T>(const T*, const Shape&, T*);                                                        \
  template void max_pool_backward_ref<T>(const T*, const Shape&, const T*, const WindowGeometry&, T*);                 \
  template void average_pool_backward_ref<T>(const Shape&, const T*, const WindowGeometry&, bool, T*);                 \
  template void roi_align_backward_ref<T>(const T*, const Shape&, const double*, const int64_t*, int64_t,              \
                                          const RoiAlignParams&, const T*, T*);                                        \
  template void max_roi_pool_backward_ref<T>(const T*, const Shape&, const double*, int64_t, int64_t, int64_t, double, \
                                             const T*, T*);                                                            \
  template void lp_pool_backward_ref<T>(const T*, const Shape&, const T*, const T*, const WindowGeometry&, int64_t, T*);
ONNX_TRAIN_INSTANTIATE_CONV_POOL_GRAD_REF(float)
ONNX_TRAIN_INSTANTIATE_CONV_POOL_GRAD_REF(double)
#undef ONNX_TRAIN_INSTANTIATE_CONV_POOL_GRAD_REF

}  // namespace onnx_train
