// Signal processing ops (ONNX opset 17): window functions (HannWindow, HammingWindow,
// BlackmanWindow), the discrete Fourier transform (DFT), the short-time Fourier transform
// (STFT) and the mel filter bank matrix (MelWeightMatrix).
//
// Complex values are stored as a trailing dimension of size 2 (real, imaginary); real
// signals have a trailing dimension of size 1. Transforms compute in double with a
// straightforward O(n^2) sum over a precomputed twiddle table (exact enough for any
// length; lengths in training graphs are small), or a radix-2 FFT when n is a power of 2.
#include <cmath>
#include <complex>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"

namespace onnx_train {

namespace {

using Complex = std::complex<double>;
constexpr double kPi = 3.14159265358979323846;

// The value of a scalar (or 1-element) integer input.
int64_t scalar_int(KernelContext& ctx, size_t i, const char* what) {
  const Tensor& t = ctx.input(i);
  OT_CHECK(t.numel() == 1, "{}: {} must be a scalar, got {}", ctx.node().label(), what, t.describe());
  return t.to_int64s()[0];
}

double scalar_double(KernelContext& ctx, size_t i, const char* what) {
  const Tensor& t = ctx.input(i);
  OT_CHECK(t.numel() == 1, "{}: {} must be a scalar, got {}", ctx.node().label(), what, t.describe());
  return t.to_doubles()[0];
}

// The output_datatype attribute, checked to be a numeric type the runtime holds.
DType output_datatype(const Node& node) {
  const DType dtype = static_cast<DType>(node.attr_int("output_datatype", 1));
  OT_CHECK(dtype_is_supported(dtype) && dtype != DType::Bool, "{}: output_datatype {} is not a numeric element type",
           node.label(), dtype_name(dtype));
  return dtype;
}

// Writes `values` into a new output of the given dtype (integers truncate toward zero).
void write_output(KernelContext& ctx, DType dtype, const Shape& shape, const std::vector<double>& values) {
  Tensor& out = ctx.allocate_output(0, dtype, shape);
  visit_numeric(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = out.data<T>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = from_compute<T>(values[i]);
  });
}

// ---------------------------------------------------------------------------------------
// HannWindow / HammingWindow / BlackmanWindow (17).
//
// size (scalar int) → output [size] of type output_datatype:
//   w[n] = a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N),  n = 0 .. size - 1,
// with N = size when periodic = 1 (default), N = size - 1 when periodic = 0 (symmetric).
//   Hann: a0 = 0.5, a1 = 0.5, a2 = 0; Hamming: a0 = 25/46, a1 = 21/46, a2 = 0;
//   Blackman: a0 = 0.42, a1 = 0.5, a2 = 0.08.
// ---------------------------------------------------------------------------------------
struct CosineWindow {
  double a0, a1, a2;
};

template <const CosineWindow& kCoefficients>
class WindowKernel : public Kernel {
 public:
  explicit WindowKernel(const KernelInfo& info)
      : periodic_(info.node.attr_int("periodic", 1) != 0), dtype_(output_datatype(info.node)) {}

  void run(KernelContext& ctx) override {
    const int64_t size = scalar_int(ctx, 0, "the window size");
    OT_CHECK(size >= 0, "{}: the window size {} must not be negative", ctx.node().label(), size);
    const double period = static_cast<double>(periodic_ ? size : size - 1);
    std::vector<double> values(static_cast<size_t>(size));
    for (int64_t n = 0; n < size; ++n) {
      const double phase = period > 0 ? 2 * kPi * static_cast<double>(n) / period : 0.0;
      values[static_cast<size_t>(n)] =
          kCoefficients.a0 - kCoefficients.a1 * std::cos(phase) + kCoefficients.a2 * std::cos(2 * phase);
    }
    write_output(ctx, dtype_, {size}, values);
  }

 private:
  bool periodic_;
  DType dtype_;
};

constexpr CosineWindow kHann{0.5, 0.5, 0.0};
constexpr CosineWindow kHamming{25.0 / 46.0, 21.0 / 46.0, 0.0};
constexpr CosineWindow kBlackman{0.42, 0.5, 0.08};

// ---------------------------------------------------------------------------------------
// The 1-D transform: y[f] = scale * sum_t x[t] exp(-+ 2 pi i f t / n) for f < bins, where
// the sign is + and scale = 1/n for the inverse transform.
// ---------------------------------------------------------------------------------------
class Transform1d {
 public:
  Transform1d(int64_t n, bool inverse) : n_(n), inverse_(inverse), twiddles_(static_cast<size_t>(n)) {
    const double sign = inverse ? 1.0 : -1.0;
    for (int64_t k = 0; k < n; ++k)
      twiddles_[static_cast<size_t>(k)] =
          std::polar(1.0, sign * 2 * kPi * static_cast<double>(k) / static_cast<double>(n));
    power_of_two_ = n > 0 && (n & (n - 1)) == 0;
  }

  // x has n values (already zero-padded or truncated); writes `bins` values to y.
  void run(std::vector<Complex>& x, int64_t bins, std::vector<Complex>& y) const {
    y.assign(static_cast<size_t>(bins), Complex());
    if (power_of_two_) {
      fft_in_place(x);
      for (int64_t f = 0; f < bins; ++f) y[static_cast<size_t>(f)] = x[static_cast<size_t>(f)];
    } else {
      for (int64_t f = 0; f < bins; ++f) {
        Complex sum;
        for (int64_t t = 0; t < n_; ++t)
          sum += x[static_cast<size_t>(t)] * twiddles_[static_cast<size_t>((f * t) % n_)];
        y[static_cast<size_t>(f)] = sum;
      }
    }
    if (inverse_)
      for (Complex& v : y) v /= static_cast<double>(n_);
  }

 private:
  // Iterative radix-2 Cooley-Tukey: bit-reversal permutation, then butterflies.
  void fft_in_place(std::vector<Complex>& x) const {
    const size_t n = static_cast<size_t>(n_);
    for (size_t i = 1, j = 0; i < n; ++i) {
      size_t bit = n >> 1;
      for (; j & bit; bit >>= 1) j ^= bit;
      j ^= bit;
      if (i < j) std::swap(x[i], x[j]);
    }
    for (size_t len = 2; len <= n; len <<= 1) {
      const size_t stride = n / len;
      for (size_t start = 0; start < n; start += len) {
        for (size_t k = 0; k < len / 2; ++k) {
          const Complex u = x[start + k];
          const Complex v = x[start + k + len / 2] * twiddles_[k * stride];
          x[start + k] = u + v;
          x[start + k + len / 2] = u - v;
        }
      }
    }
  }

  int64_t n_;
  bool inverse_;
  bool power_of_two_ = false;
  std::vector<Complex> twiddles_;
};

// ---------------------------------------------------------------------------------------
// DFT-17.
//
// input [batch, d1, ..., dN, 1 or 2] (real or complex), transform along `axis` (default 1;
// negative counts from the last signal dimension) with length n = dft_length (optional
// input; the signal is zero-padded or truncated to it) else the axis size. Output
// [batch, ..., n or n/2 + 1 (onesided, real input only), ..., 2] of the input's type.
// inverse = 1: exp(+i ...) and a 1/n scale.
// ---------------------------------------------------------------------------------------
class DftKernel : public Kernel {
 public:
  explicit DftKernel(const KernelInfo& info)
      : axis_(info.node.attr_int("axis", 1)),
        inverse_(info.node.attr_int("inverse", 0) != 0),
        onesided_(info.node.attr_int("onesided", 0) != 0) {}

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    OT_CHECK(x.rank() >= 2 && (x.dim(-1) == 1 || x.dim(-1) == 2),
             "{}: input {} must be [batch, signal dims..., 1 or 2] (real or complex)", node.label(), x.describe());
    const int64_t signal_rank = x.rank() - 1;
    OT_CHECK(axis_ >= -signal_rank && axis_ < signal_rank,
             "{}: axis {} is out of range [-{}, {}) for input {} (the last dimension holds real/imaginary parts)",
             node.label(), axis_, signal_rank, signal_rank, x.describe());
    const int64_t axis = axis_ < 0 ? axis_ + signal_rank : axis_;
    const int64_t components = x.dim(-1);
    OT_CHECK(!(onesided_ && components == 2), "{}: onesided = 1 needs a real input (last dimension 1), got {}",
             node.label(), x.describe());
    const int64_t n_in = x.dim(static_cast<int>(axis));
    int64_t n = n_in;
    if (ctx.has_input(1)) {
      n = scalar_int(ctx, 1, "dft_length");
      OT_CHECK(n > 0, "{}: dft_length {} must be positive", node.label(), n);
    }
    const int64_t bins = onesided_ ? n / 2 + 1 : n;
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= x.dim(static_cast<int>(i));
    for (int64_t i = axis + 1; i < x.rank() - 1; ++i) inner *= x.dim(static_cast<int>(i));
    Shape out_shape = x.shape();
    out_shape[static_cast<size_t>(axis)] = bins;
    out_shape.back() = 2;

    visit_float(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      Tensor& y = ctx.allocate_output(0, x.dtype(), out_shape);
      const T* in = x.data<T>();
      T* out = y.data<T>();
      const Transform1d transform(n, inverse_);
      std::vector<Complex> signal, spectrum;
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          signal.assign(static_cast<size_t>(n), Complex());
          for (int64_t t = 0; t < std::min(n, n_in); ++t) {
            const T* v = in + ((o * n_in + t) * inner + i) * components;
            signal[static_cast<size_t>(t)] =
                Complex(to_compute(v[0]), components == 2 ? static_cast<double>(to_compute(v[1])) : 0.0);
          }
          transform.run(signal, bins, spectrum);
          for (int64_t f = 0; f < bins; ++f) {
            T* w = out + ((o * bins + f) * inner + i) * 2;
            w[0] = from_compute<T>(spectrum[static_cast<size_t>(f)].real());
            w[1] = from_compute<T>(spectrum[static_cast<size_t>(f)].imag());
          }
        }
      }
    });
  }

 private:
  int64_t axis_;
  bool inverse_;
  bool onesided_;
};

// ---------------------------------------------------------------------------------------
// STFT-17.
//
// signal [batch, length, 1 or 2], frame_step (scalar), window [frame_length] (optional),
// frame_length (optional scalar; one of window / frame_length is needed, and they must
// agree when both are given) → output [batch, frames, bins, 2] with
//   frames = (length - frame_length) / frame_step + 1,
//   output[b, m, f] = sum_t signal[b, m * frame_step + t] window[t] exp(-2 pi i f t / frame_length),
// bins = frame_length / 2 + 1 when onesided = 1 (default; real signals only), else frame_length.
// ---------------------------------------------------------------------------------------
class StftKernel : public Kernel {
 public:
  explicit StftKernel(const KernelInfo& info) : onesided_(info.node.attr_int("onesided", 1) != 0) {}

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    OT_CHECK(x.rank() == 3 && (x.dim(2) == 1 || x.dim(2) == 2),
             "{}: signal {} must be [batch, signal_length, 1 or 2] (real or complex)", node.label(), x.describe());
    const int64_t components = x.dim(2);
    OT_CHECK(!(onesided_ && components == 2),
             "{}: onesided = 1 (the default) needs a real signal (last dimension 1), got {}; set onesided = 0",
             node.label(), x.describe());
    const int64_t step = scalar_int(ctx, 1, "frame_step");
    OT_CHECK(step > 0, "{}: frame_step {} must be positive", node.label(), step);
    const bool has_window = ctx.has_input(2);
    int64_t frame_length = -1;
    if (has_window) {
      const Tensor& window = ctx.input(2);
      OT_CHECK(window.rank() == 1, "{}: window {} must be 1-D", node.label(), window.describe());
      frame_length = window.dim(0);
    }
    if (ctx.has_input(3)) {
      const int64_t given = scalar_int(ctx, 3, "frame_length");
      OT_CHECK(!has_window || given == frame_length, "{}: frame_length {} differs from the window length {}",
               node.label(), given, frame_length);
      frame_length = given;
    }
    OT_CHECK(frame_length > 0, "{}: needs a window or a positive frame_length", node.label());
    const int64_t length = x.dim(1);
    OT_CHECK(length >= frame_length, "{}: signal {} is shorter than frame_length {}", node.label(), x.describe(),
             frame_length);
    const int64_t frames = (length - frame_length) / step + 1;
    const int64_t bins = onesided_ ? frame_length / 2 + 1 : frame_length;
    const std::vector<double> window =
        has_window ? ctx.input(2).to_doubles() : std::vector<double>(static_cast<size_t>(frame_length), 1.0);

    visit_float(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const int64_t batch = x.dim(0);
      Tensor& y = ctx.allocate_output(0, x.dtype(), {batch, frames, bins, 2});
      const T* in = x.data<T>();
      T* out = y.data<T>();
      const Transform1d transform(frame_length, false);
      std::vector<Complex> frame, spectrum;
      for (int64_t b = 0; b < batch; ++b) {
        for (int64_t m = 0; m < frames; ++m) {
          frame.resize(static_cast<size_t>(frame_length));
          for (int64_t t = 0; t < frame_length; ++t) {
            const T* v = in + (b * length + m * step + t) * components;
            const double re = to_compute(v[0]);
            const double im = components == 2 ? static_cast<double>(to_compute(v[1])) : 0.0;
            frame[static_cast<size_t>(t)] = Complex(re, im) * window[static_cast<size_t>(t)];
          }
          transform.run(frame, bins, spectrum);
          for (int64_t f = 0; f < bins; ++f) {
            T* w = out + ((b * frames + m) * bins + f) * 2;
            w[0] = from_compute<T>(spectrum[static_cast<size_t>(f)].real());
            w[1] = from_compute<T>(spectrum[static_cast<size_t>(f)].imag());
          }
        }
      }
    });
  }

 private:
  bool onesided_;
};

// ---------------------------------------------------------------------------------------
// MelWeightMatrix-17.
//
// num_mel_bins, dft_length, sample_rate (int scalars), lower_edge_hertz, upper_edge_hertz
// (float scalars) → [dft_length / 2 + 1, num_mel_bins] of type output_datatype. With
// mel(f) = 2595 log10(1 + f / 700), num_mel_bins + 2 edges are spaced by
// (mel(upper) - mel(lower)) / (num_mel_bins + 2) from mel(lower), mapped back to hertz and
// to spectrogram bins floor((dft_length + 1) * hz / sample_rate). Column i is the triangle
// rising from edge i to 1 at edge i + 1 and falling to edge i + 2 (ONNX's definition,
// including the spacing by num_mel_bins + 2). The mel edges are computed in the precision
// of the hertz inputs, as ONNX's numpy definition does.
// ---------------------------------------------------------------------------------------
class MelWeightMatrixKernel : public Kernel {
 public:
  explicit MelWeightMatrixKernel(const KernelInfo& info) : dtype_(output_datatype(info.node)) {}

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const int64_t num_mel_bins = scalar_int(ctx, 0, "num_mel_bins");
    const int64_t dft_length = scalar_int(ctx, 1, "dft_length");
    const int64_t sample_rate = scalar_int(ctx, 2, "sample_rate");
    OT_CHECK(num_mel_bins > 0 && dft_length > 0 && sample_rate > 0,
             "{}: num_mel_bins {}, dft_length {} and sample_rate {} must be positive", node.label(), num_mel_bins,
             dft_length, sample_rate);
    const double lower = scalar_double(ctx, 3, "lower_edge_hertz");
    const double upper = scalar_double(ctx, 4, "upper_edge_hertz");
    std::vector<int64_t> edges;
    if (ctx.input(3).dtype() == DType::Float64)
      edges = mel_edges<double>(lower, upper, num_mel_bins, dft_length, sample_rate);
    else
      edges = mel_edges<float>(lower, upper, num_mel_bins, dft_length, sample_rate);

    const int64_t num_spectrogram_bins = dft_length / 2 + 1;
    std::vector<double> values(static_cast<size_t>(num_spectrogram_bins * num_mel_bins), 0.0);
    auto set = [&](int64_t row, int64_t col, double v) {
      OT_CHECK(row >= 0 && row < num_spectrogram_bins,
               "{}: mel band {} reaches spectrogram bin {}, outside [0, {}); check that lower_edge_hertz {} and "
               "upper_edge_hertz {} lie within [0, sample_rate / 2 = {}]",
               node.label(), col, row, num_spectrogram_bins, lower, upper, sample_rate / 2);
      values[static_cast<size_t>(row * num_mel_bins + col)] = v;
    };
    for (int64_t i = 0; i < num_mel_bins; ++i) {
      const int64_t left = edges[static_cast<size_t>(i)], center = edges[static_cast<size_t>(i + 1)],
                    right = edges[static_cast<size_t>(i + 2)];
      const int64_t rise = center - left, fall = right - center;
      if (rise == 0) {
        set(center, i, 1.0);
      } else {
        for (int64_t j = left; j <= center; ++j) set(j, i, static_cast<double>(j - left) / static_cast<double>(rise));
      }
      for (int64_t j = center; fall > 0 && j < right; ++j)
        set(j, i, static_cast<double>(right - j) / static_cast<double>(fall));
    }
    write_output(ctx, dtype_, {num_spectrogram_bins, num_mel_bins}, values);
  }

 private:
  // The num_mel_bins + 2 band edges as spectrogram bin indices.
  template <typename F>
  static std::vector<int64_t> mel_edges(double lower, double upper, int64_t num_mel_bins, int64_t dft_length,
                                        int64_t sample_rate) {
    const F low_mel = F(2595) * std::log10(F(1) + static_cast<F>(lower) / F(700));
    const F high_mel = F(2595) * std::log10(F(1) + static_cast<F>(upper) / F(700));
    const F mel_step = (high_mel - low_mel) / static_cast<F>(num_mel_bins + 2);
    std::vector<int64_t> edges(static_cast<size_t>(num_mel_bins + 2));
    for (int64_t i = 0; i < num_mel_bins + 2; ++i) {
      const double mel = static_cast<double>(i) * static_cast<double>(mel_step) + static_cast<double>(low_mel);
      const double hz = 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0);
      edges[static_cast<size_t>(i)] =
          static_cast<int64_t>(std::floor(static_cast<double>(dft_length + 1) * hz / static_cast<double>(sample_rate)));
    }
    return edges;
  }

  DType dtype_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(signal) {
  registry.add<WindowKernel<kHann>>("HannWindow", {17});
  registry.add<WindowKernel<kHamming>>("HammingWindow", {17});
  registry.add<WindowKernel<kBlackman>>("BlackmanWindow", {17});
  registry.add<DftKernel>("DFT", {17});
  registry.add<StftKernel>("STFT", {17});
  registry.add<MelWeightMatrixKernel>("MelWeightMatrix", {17});
}

}  // namespace onnx_train
