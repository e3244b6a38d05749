// Unit tests for the signal ops (runtime/kernels/reference/signal_ops.cc): window values,
// DFT of known signals (power-of-two and odd lengths, inverse, onesided, dft_length), STFT
// framing and the mel weight matrix shape and peaks.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "runtime/kernels/kernel.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

// Every signal op here is since opset 17: runs `op`-17 and returns its one output; an
// undefined Tensor is an omitted input.
Tensor run(const std::string& op, const std::vector<Tensor>& inputs, std::map<std::string, Attribute> attrs = {}) {
  return testing::run_op(op, 17, inputs, std::move(attrs))[0];
}

void expect_near(const std::vector<double>& got, const std::vector<double>& want, double tol = 1e-12) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "at " << i;
}

TEST(Windows, HannHammingBlackmanValues) {
  const Tensor size = Tensor::scalar<int64_t>(4);
  // Periodic Hann of size 4: 0.5 - 0.5 cos(pi n / 2).
  expect_near(run("HannWindow", {size}).to_doubles(), {0, 0.5, 1, 0.5}, 1e-7);
  // Symmetric Hann of size 3: 0.5 - 0.5 cos(pi n).
  expect_near(run("HannWindow", {Tensor::scalar<int32_t>(3)}, {{"periodic", Attribute::of_int(0)}}).to_doubles(),
              {0, 1, 0}, 1e-7);
  const double a0 = 25.0 / 46.0, a1 = 21.0 / 46.0;
  const Tensor hamming = run("HammingWindow", {size}, {{"output_datatype", Attribute::of_int(11)}});
  EXPECT_EQ(hamming.dtype(), DType::Float64);
  expect_near(hamming.to_doubles(), {a0 - a1, a0, a0 + a1, a0});
  expect_near(run("BlackmanWindow", {size}, {{"output_datatype", Attribute::of_int(11)}}).to_doubles(),
              {0.42 - 0.5 + 0.08, 0.42 - 0.08, 0.42 + 0.5 + 0.08, 0.42 - 0.08});
  EXPECT_THROW(run("HannWindow", {size}, {{"output_datatype", Attribute::of_int(8)}}), Error);
}

TEST(Dft, KnownSpectra) {
  // [1, 2, 3, 4] → [10, -2 + 2i, -2, -2 - 2i] (radix-2 path).
  const Tensor x4 = Tensor::from<double>({1, 4, 1}, {1, 2, 3, 4});
  expect_near(run("DFT", {x4}).to_doubles(), {10, 0, -2, 2, -2, 0, -2, -2});
  // [1, 2, 3] → [6, -1.5 + 0.866i, -1.5 - 0.866i] (direct sum path).
  const double s = std::sqrt(3.0) / 2;
  const Tensor x3 = Tensor::from<double>({1, 3, 1}, {1, 2, 3});
  expect_near(run("DFT", {x3}).to_doubles(), {6, 0, -1.5, s, -1.5, -s});
  // onesided keeps n / 2 + 1 bins.
  const Tensor half = run("DFT", {x4}, {{"onesided", Attribute::of_int(1)}});
  EXPECT_EQ(half.shape(), (Shape{1, 3, 2}));
  // dft_length pads with zeros: [1, 2, 3, 0] → [6, -2 - 2i, 2, -2 + 2i].
  expect_near(run("DFT", {x3, Tensor::scalar<int64_t>(4)}).to_doubles(), {6, 0, -2, -2, 2, 0, -2, 2});
}

TEST(Dft, FastPathMatchesTheDefinition) {
  // Power-of-two lengths take the radix-2 FFT; compare with the defining sum.
  for (int64_t n : {2, 8, 32}) {
    std::vector<double> data;
    for (int64_t t = 0; t < 2 * n; ++t) data.push_back(std::cos(0.3 * static_cast<double>(t * t)) - 0.2);
    const std::vector<double> got = run("DFT", {Tensor::from<double>({1, n, 2}, data)}).to_doubles();
    for (int64_t f = 0; f < n; ++f) {
      double re = 0, im = 0;
      for (int64_t t = 0; t < n; ++t) {
        const double angle = -2 * M_PI * static_cast<double>(f * t) / static_cast<double>(n);
        const double a = data[static_cast<size_t>(2 * t)], b = data[static_cast<size_t>(2 * t + 1)];
        re += a * std::cos(angle) - b * std::sin(angle);
        im += a * std::sin(angle) + b * std::cos(angle);
      }
      EXPECT_NEAR(got[static_cast<size_t>(2 * f)], re, 1e-10) << "n " << n << " bin " << f;
      EXPECT_NEAR(got[static_cast<size_t>(2 * f + 1)], im, 1e-10) << "n " << n << " bin " << f;
    }
  }
}

TEST(Dft, InverseUndoesForwardAlongAnAxis) {
  std::vector<double> data;
  for (int i = 0; i < 2 * 6 * 5; ++i) data.push_back(std::sin(0.7 * i) + 0.1 * i);
  const Tensor x = Tensor::from<double>({1, 6, 5, 2}, data);
  for (int64_t axis : {1, 2, -1}) {
    const Tensor y = run("DFT", {x}, {{"axis", Attribute::of_int(axis)}});
    const Tensor z = run("DFT", {y}, {{"axis", Attribute::of_int(axis)}, {"inverse", Attribute::of_int(1)}});
    expect_near(z.to_doubles(), data, 1e-10);
  }
  EXPECT_THROW(run("DFT", {x}, {{"onesided", Attribute::of_int(1)}}), Error);  // complex input
  EXPECT_THROW(run("DFT", {x}, {{"axis", Attribute::of_int(3)}}), Error);      // the real/imag axis
}

TEST(Stft, FramesAndWindow) {
  // Signal 0..7, frames of 4 every 2 → 3 frames; bin 0 is the windowed frame sum.
  std::vector<float> signal = {0, 1, 2, 3, 4, 5, 6, 7};
  const Tensor x = Tensor::from<float>({1, 8, 1}, signal);
  const Tensor window = Tensor::from<float>({4}, {0, 1, 1, 0});
  const Tensor y = run("STFT", {x, Tensor::scalar<int64_t>(2), window});
  ASSERT_EQ(y.shape(), (Shape{1, 3, 3, 2}));
  const std::vector<double> v = y.to_doubles();
  EXPECT_NEAR(v[0], 1 + 2, 1e-5);
  EXPECT_NEAR(v[6], 3 + 4, 1e-5);
  EXPECT_NEAR(v[12], 5 + 6, 1e-5);
  // Bin 2 (Nyquist) of frame 0: x1 * (-1) + x2 * (+1).
  EXPECT_NEAR(v[4], -1 + 2, 1e-5);
  // frame_length alone: a rectangular window; onesided = 0 keeps all bins.
  const Tensor z = run("STFT", {x, Tensor::scalar<int64_t>(4), Tensor(), Tensor::scalar<int64_t>(4)},
                       {{"onesided", Attribute::of_int(0)}});
  ASSERT_EQ(z.shape(), (Shape{1, 2, 4, 2}));
  EXPECT_NEAR(z.to_doubles()[0], 0 + 1 + 2 + 3, 1e-5);
  EXPECT_THROW(run("STFT", {x, Tensor::scalar<int64_t>(2), window, Tensor::scalar<int64_t>(5)}), Error);
}

TEST(MelWeightMatrix, ShapeAndPeaks) {
  const Tensor m =
      run("MelWeightMatrix", {Tensor::scalar<int32_t>(8), Tensor::scalar<int32_t>(16), Tensor::scalar<int32_t>(8192),
                              Tensor::scalar<float>(0), Tensor::scalar<float>(4096)});
  ASSERT_EQ(m.shape(), (Shape{9, 8}));
  // Every band peaks at 1.
  const std::vector<double> v = m.to_doubles();
  for (int band = 0; band < 8; ++band) {
    double peak = 0;
    for (int bin = 0; bin < 9; ++bin) peak = std::max(peak, v[static_cast<size_t>(bin * 8 + band)]);
    EXPECT_DOUBLE_EQ(peak, 1.0) << "band " << band;
  }
}

}  // namespace
}  // namespace onnx_train
