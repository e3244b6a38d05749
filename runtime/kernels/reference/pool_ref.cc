// Plain-loop reference implementations of the pooling ops (see pool_ref.h).
#include "runtime/kernels/reference/pool_ref.h"

#include <cmath>
#include <limits>

#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

// Calls f(i0, i1, i2) for every input position of output window (o0, o1, o2).
template <typename F>
void for_window(const Window3& g, int64_t o0, int64_t o1, int64_t o2, F&& f) {
  for_each_window_tap(g, g.in, o0, o1, o2, [&](int64_t i0, int64_t i1, int64_t i2, int64_t) { f(i0, i1, i2); });
}

// Calls f(plane, o0, o1, o2, out_offset) for every output element of every (n, c) plane.
template <typename F>
void for_outputs(const Shape& x_shape, const Window3& g, F&& f) {
  const int64_t planes = x_shape[0] * x_shape[1];
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t o0 = 0; o0 < g.out[0]; ++o0)
      for (int64_t o1 = 0; o1 < g.out[1]; ++o1)
        for (int64_t o2 = 0; o2 < g.out[2]; ++o2)
          f(p, o0, o1, o2, ((p * g.out[0] + o0) * g.out[1] + o1) * g.out[2] + o2);
}

// Number of window taps along one axis that fall inside [lo, hi).
int64_t taps_inside(int64_t start, int64_t k, int64_t d, int64_t lo, int64_t hi) {
  int64_t n = 0;
  for (int64_t j = 0; j < k; ++j) {
    const int64_t i = start + j * d;
    if (i >= lo && i < hi) ++n;
  }
  return n;
}

}  // namespace

template <typename T>
void max_pool_ref(const T* x, const Shape& x_shape, const WindowGeometry& geometry, T* y, int64_t* indices,
                  bool column_major) {
  const Window3 g = to_window3(spatial_of(x_shape), geometry);
  const int64_t in_size = g.in_size();
  for_outputs(x_shape, g, [&](int64_t p, int64_t o0, int64_t o1, int64_t o2, int64_t out) {
    const T* xp = x + p * in_size;
    T best = std::numeric_limits<T>::lowest();
    int64_t best_at = -1;
    for_window(g, o0, o1, o2, [&](int64_t i0, int64_t i1, int64_t i2) {
      const int64_t at = (i0 * g.in[1] + i1) * g.in[2] + i2;
      if (best_at < 0 || xp[at] > best) {
        best = xp[at];
        best_at = column_major ? i0 + g.in[0] * (i1 + g.in[1] * i2) : at;
      }
    });
    y[out] = best;
    if (indices != nullptr) indices[out] = best_at < 0 ? -1 : p * in_size + best_at;
  });
}

template <typename T>
void average_pool_ref(const T* x, const Shape& x_shape, const WindowGeometry& geometry, bool count_include_pad, T* y) {
  const Window3 g = to_window3(spatial_of(x_shape), geometry);
  // The padded input is [-pad_begin, in + pad_end) per axis (leading unit axes: [0, 1)).
  int64_t padded_end[3];
  const size_t lead = 3 - geometry.rank();
  for (size_t i = 0; i < 3; ++i) padded_end[i] = g.in[i] + (i >= lead ? geometry.pads_end[i - lead] : 0);
  const int64_t in_size = g.in_size();
  for_outputs(x_shape, g, [&](int64_t p, int64_t o0, int64_t o1, int64_t o2, int64_t out) {
    const T* xp = x + p * in_size;
    T sum = T(0);
    int64_t count = 0;
    for_window(g, o0, o1, o2, [&](int64_t i0, int64_t i1, int64_t i2) {
      sum += xp[(i0 * g.in[1] + i1) * g.in[2] + i2];
      ++count;
    });
    if (count_include_pad) {
      const int64_t o[3] = {o0, o1, o2};
      count = 1;
      for (size_t i = 0; i < 3; ++i)
        count *= taps_inside(o[i] * g.stride[i] - g.pad[i], g.kernel[i], g.dilation[i], -g.pad[i], padded_end[i]);
    }
    y[out] = count > 0 ? sum / static_cast<T>(count) : T(0);
  });
}

template <typename T>
void lp_pool_ref(const T* x, const Shape& x_shape, const WindowGeometry& geometry, int64_t p, T* y) {
  const Window3 g = to_window3(spatial_of(x_shape), geometry);
  const int64_t in_size = g.in_size();
  const T power = static_cast<T>(p);
  for_outputs(x_shape, g, [&](int64_t plane, int64_t o0, int64_t o1, int64_t o2, int64_t out) {
    const T* xp = x + plane * in_size;
    T sum = T(0);
    for_window(g, o0, o1, o2, [&](int64_t i0, int64_t i1, int64_t i2) {
      sum += std::pow(std::abs(xp[(i0 * g.in[1] + i1) * g.in[2] + i2]), power);
    });
    y[out] = std::pow(sum, T(1) / power);
  });
}

template <typename T>
void global_pool_ref(const T* x, const Shape& x_shape, bool max, T* y) {
  const int64_t planes = x_shape[0] * x_shape[1];
  const int64_t size = shape_numel(spatial_of(x_shape));
  for (int64_t p = 0; p < planes; ++p) {
    const T* xp = x + p * size;
    T acc = max ? std::numeric_limits<T>::lowest() : T(0);
    for (int64_t i = 0; i < size; ++i) acc = max ? (xp[i] > acc ? xp[i] : acc) : acc + xp[i];
    y[p] = max ? acc : acc / static_cast<T>(size);
  }
}

template <typename T>
void global_lp_pool_ref(const T* x, const Shape& x_shape, double p, T* y) {
  const int64_t planes = x_shape[0] * x_shape[1];
  const int64_t size = shape_numel(spatial_of(x_shape));
  const T power = static_cast<T>(p);
  for (int64_t plane = 0; plane < planes; ++plane) {
    const T* xp = x + plane * size;
    T sum = T(0);
    for (int64_t i = 0; i < size; ++i) sum += std::pow(std::abs(xp[i]), power);
    y[plane] = std::pow(sum, T(1) / power);
  }
}

template <typename T>
void max_unpool_ref(const T* x, const int64_t* indices, int64_t count, const Shape& unpooled_shape,
                    const Shape& y_shape, T* y) {
  const int64_t total = shape_numel(y_shape);
  for (int64_t i = 0; i < total; ++i) y[i] = T(0);
  const std::vector<int64_t> from = strides_of(unpooled_shape), to = strides_of(y_shape);
  for (int64_t i = 0; i < count; ++i) {
    int64_t rest = indices[i], at = 0;
    for (size_t a = 0; a < from.size(); ++a) {
      at += (rest / from[a]) * to[a];
      rest %= from[a];
    }
    y[at] = x[i];
  }
}

#define ONNX_TRAIN_INSTANTIATE_POOL_REF(T)                                                    \
  template void average_pool_ref<T>(const T*, const Shape&, const WindowGeometry&, bool, T*); \
  template void lp_pool_ref<T>(const T*, const Shape&, const WindowGeometry&, int64_t, T*);   \
  template void global_pool_ref<T>(const T*, const Shape&, bool, T*);                         \
  template void global_lp_pool_ref<T>(const T*, const Shape&, double, T*);                    \
  template void max_unpool_ref<T>(const T*, const int64_t*, int64_t, const Shape&, const Shape&, T*);
ONNX_TRAIN_INSTANTIATE_POOL_REF(float)
ONNX_TRAIN_INSTANTIATE_POOL_REF(double)
#undef ONNX_TRAIN_INSTANTIATE_POOL_REF

template void max_pool_ref<float>(const float*, const Shape&, const WindowGeometry&, float*, int64_t*, bool);
template void max_pool_ref<double>(const double*, const Shape&, const WindowGeometry&, double*, int64_t*, bool);
template void max_pool_ref<int8_t>(const int8_t*, const Shape&, const WindowGeometry&, int8_t*, int64_t*, bool);
template void max_pool_ref<uint8_t>(const uint8_t*, const Shape&, const WindowGeometry&, uint8_t*, int64_t*, bool);

}  // namespace onnx_train
