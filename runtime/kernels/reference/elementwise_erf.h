// erf for float32 (and float16/bfloat16, which compute in float): a branch-free polynomial
// that vectorises, in place of std::erf per element. float64 keeps std::erf.
//
// Computed in double and rounded once to float, so the result is within one float ulp of
// erf(x) (both approximations are within 1.2e-11 of erf; the test compares against std::erf
// over a dense range):
//   |x| < 1:       erf(x) = x * S(x^2), S of degree 8 in u = x^2 (relative error 1.1e-12);
//   1 <= |x| < 4:  erf(|x|) = sum_k c_k T_k(s), a Chebyshev series of degree 18 in
//                  s = (|x| - 2.5) / 1.5, summed by Clenshaw's recurrence (absolute error 1.2e-11);
//   |x| >= 4:      erf = +-1 (1 - erf(4) = 1.5e-8 rounds to 1 in float);
//   NaN stays NaN; the sign comes from x (erf is odd).
// Coefficients: Chebyshev fits of Python's math.erf at 4000 (S, then converted to the power
// basis) and 8000 nodes (numpy.polynomial.chebyshev.chebfit).
//
// NOTE: under GCC's default -ftrapping-math the selects between the branches are not
// if-converted and the loop does not vectorise; erf_float32 (elementwise_erf.cc) is compiled
// without it (the runtime never enables floating-point traps, and the results are the same).
#pragma once

#include <cmath>
#include <cstdint>

namespace onnx_train {

namespace erf_detail {

inline constexpr double kSmall[9] = {1.1283791670947789,     -0.3761263888989777,     0.11283791314050973,
                                     -0.026866133669999525,  0.0052237851886435555,   -0.00085426746324463647,
                                     0.00011956997425375546, -1.3912029401232783e-05, 1.05961403393309e-06};

inline constexpr double kLarge[19] = {
    0.96969747945988305,     0.054251323896457142,    -0.038763756439035221,   0.0217974878038458,
    -0.0093141747928858886,  0.0027481118327048015,   -0.00035767517390320434, -0.00012686221071776465,
    8.8965241247720368e-05,  -2.2288475294231887e-05, 7.0401566191304811e-08,  1.8081714811412056e-06,
    -5.5176662635616816e-07, 2.3689180941323605e-08,  3.1720833851608599e-08,  -9.3891487033294764e-09,
    2.2594876785651768e-10,  5.0256385654826443e-10,  -1.1749128128271351e-10};

}  // namespace erf_detail

// out[i] = erf_float(in[i]) for i < n: one SIMD loop, split over every core when large.
void erf_float32(const float* in, float* out, int64_t n);

// erf(x) for a float x (see the file comment).
inline float erf_float(float x) {
  using namespace erf_detail;
  const double ax = std::fabs(static_cast<double>(x));
  const double u = ax * ax;
  double small = kSmall[8];
#pragma GCC unroll 8
  for (int k = 7; k >= 0; --k) small = small * u + kSmall[k];
  small *= ax;
  // Clenshaw: b_k = c_k + 2 s b_{k+1} - b_{k+2}; sum = c_0 + s b_1 - b_2.
  const double s = (ax - 2.5) * (1.0 / 1.5);
  double b1 = 0, b2 = 0;
#pragma GCC unroll 18
  for (int k = 18; k >= 1; --k) {
    const double b0 = kLarge[k] + 2.0 * s * b1 - b2;
    b2 = b1;
    b1 = b0;
  }
  const double large = kLarge[0] + s * b1 - b2;
  const double above_one = ax < 4.0 ? large : 1.0;
  const double r = ax < 1.0 ? small : above_one;
  const float signed_r = static_cast<float>(std::copysign(r, static_cast<double>(x)));
  return x != x ? x : signed_r;
}

}  // namespace onnx_train
