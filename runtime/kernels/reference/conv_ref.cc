// Plain-loop reference implementations of Conv and ConvTranspose (see conv_ref.h).
#include "runtime/kernels/reference/conv_ref.h"

namespace onnx_train {

template <typename T>
void conv_ref(const T* x, const Shape& x_shape, const T* w, const Shape& w_shape, const T* bias, int64_t group,
              const WindowGeometry& geometry, T* y) {
  const Window3 g = to_window3(spatial_of(x_shape), geometry);
  const int64_t batch = x_shape[0], channels = x_shape[1], maps = w_shape[0];
  const int64_t cg = channels / group, mg = maps / group;
  const int64_t in_size = g.in_size(), out_size = g.out_size(), k_size = g.kernel_size();
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t m = 0; m < maps; ++m) {
      const T* x_group = x + (n * channels + (m / mg) * cg) * in_size;
      const T* w_map = w + m * cg * k_size;
      T* y_map = y + (n * maps + m) * out_size;
      for (int64_t o0 = 0; o0 < g.out[0]; ++o0) {
        for (int64_t o1 = 0; o1 < g.out[1]; ++o1) {
          for (int64_t o2 = 0; o2 < g.out[2]; ++o2) {
            T acc = bias != nullptr ? bias[m] : T(0);
            for (int64_t c = 0; c < cg; ++c) {
              const T* xc = x_group + c * in_size;
              const T* wc = w_map + c * k_size;
              for_each_window_tap(g, g.in, o0, o1, o2, [&](int64_t i0, int64_t i1, int64_t i2, int64_t tap) {
                acc += xc[(i0 * g.in[1] + i1) * g.in[2] + i2] * wc[tap];
              });
            }
            y_map[(o0 * g.out[1] + o1) * g.out[2] + o2] = acc;
          }
        }
      }
    }
  }
}

template <typename T>
void conv_transpose_ref(const T* x, const Shape& x_shape, const T* w, const Shape& w_shape, const T* bias,
                        int64_t group, const WindowGeometry& geometry, T* y) {
  const Window3 g = to_window3(spatial_of(x_shape), geometry);
  const int64_t batch = x_shape[0], channels = x_shape[1], mg = w_shape[1];
  const int64_t cg = channels / group, maps = mg * group;
  const int64_t in_size = g.in_size(), out_size = g.out_size(), k_size = g.kernel_size();
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t m = 0; m < maps; ++m) {
      T* y_map = y + (n * maps + m) * out_size;
      for (int64_t o = 0; o < out_size; ++o) y_map[o] = bias != nullptr ? bias[m] : T(0);
    }
    for (int64_t c = 0; c < channels; ++c) {
      const T* xc = x + (n * channels + c) * in_size;
      const int64_t first_map = (c / cg) * mg;
      for (int64_t m = 0; m < mg; ++m) {
        const T* wc = w + (c * mg + m) * k_size;
        T* y_map = y + (n * maps + first_map + m) * out_size;
        for (int64_t i0 = 0; i0 < g.in[0]; ++i0) {
          for (int64_t i1 = 0; i1 < g.in[1]; ++i1) {
            for (int64_t i2 = 0; i2 < g.in[2]; ++i2) {
              const T v = xc[(i0 * g.in[1] + i1) * g.in[2] + i2];
              for_each_window_tap(g, g.out, i0, i1, i2, [&](int64_t o0, int64_t o1, int64_t o2, int64_t tap) {
                y_map[(o0 * g.out[1] + o1) * g.out[2] + o2] += v * wc[tap];
              });
            }
          }
        }
      }
    }
  }
}

#define ONNX_TRAIN_INSTANTIATE_CONV_REF(T)                                                                            \
  template void conv_ref<T>(const T*, const Shape&, const T*, const Shape&, const T*, int64_t, const WindowGeometry&, \
                            T*);                                                                                      \
  template void conv_transpose_ref<T>(const T*, const Shape&, const T*, const Shape&, const T*, int64_t,              \
                                      const WindowGeometry&, T*);
ONNX_TRAIN_INSTANTIATE_CONV_REF(float)
ONNX_TRAIN_INSTANTIATE_CONV_REF(double)
#undef ONNX_TRAIN_INSTANTIATE_CONV_REF

}  // namespace onnx_train
