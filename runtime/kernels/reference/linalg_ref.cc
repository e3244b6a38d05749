// Plain-loop reference implementations of MatMul, Gemm and MatMulInteger (see linalg_ref.h).
#include "runtime/kernels/reference/linalg_ref.h"

#include <algorithm>
#include <type_traits>

#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

// The accumulator of a dot product: 32-bit integers accumulate in 64 bits.
template <typename T>
using Accumulator = std::conditional_t<std::is_same_v<T, int32_t>, int64_t,
                                       std::conditional_t<std::is_same_v<T, uint32_t>, uint64_t, T>>;

// Y[i, j] = sum_p A[i, p] * B[p, j] for one [M, K] x [K, N] pair (row-major, dense).
template <typename T>
void matmul_single(int64_t m, int64_t k, int64_t n, const T* a, const T* b, T* y) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      Accumulator<T> acc = 0;
      for (int64_t p = 0; p < k; ++p) acc += static_cast<Accumulator<T>>(a[i * k + p]) * b[p * n + j];
      y[i * n + j] = static_cast<T>(acc);
    }
}

// Calls f(a_matrix_index, b_matrix_index, y_matrix_index) for every batch index of `s`.
template <typename F>
void for_each_batch(const MatMulShape& s, F&& f) {
  const int64_t count = shape_numel(s.batch);
  StridedWalk walk(s.batch, {broadcast_strides(s.a_batch, s.batch), broadcast_strides(s.b_batch, s.batch)});
  for (int64_t i = 0; i < count; ++i, walk.next()) f(walk.offset(0), walk.offset(1), i);
}

}  // namespace

MatMulShape matmul_shape(const Shape& a, const Shape& b, const std::string& who) {
  OT_CHECK(!a.empty() && !b.empty(), "{}: MatMul inputs must have rank >= 1, got A {} and B {}", who, shape_str(a),
           shape_str(b));
  MatMulShape s;
  const Shape a2 = a.size() == 1 ? Shape{1, a[0]} : a;
  const Shape b2 = b.size() == 1 ? Shape{b[0], 1} : b;
  s.m = a2[a2.size() - 2];
  s.k = a2[a2.size() - 1];
  s.n = b2[b2.size() - 1];
  OT_CHECK(s.k == b2[b2.size() - 2],
           "{}: MatMul inner dimensions differ: A {} has K = {} but B {} has K = {}; A's last dimension must equal "
           "B's second-to-last (or only) dimension",
           who, shape_str(a), s.k, shape_str(b), b2[b2.size() - 2]);
  const Shape a_batch(a2.begin(), a2.end() - 2);
  const Shape b_batch(b2.begin(), b2.end() - 2);
  try {
    s.batch = broadcast_shapes(a_batch, b_batch);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: MatMul batch dimensions of A {} and B {} do not broadcast: {}", who, shape_str(a),
                            shape_str(b), e.what()),
                e.category());
  }
  s.a_batch = Shape(s.batch.size() - a_batch.size(), 1);
  s.a_batch.insert(s.a_batch.end(), a_batch.begin(), a_batch.end());
  s.b_batch = Shape(s.batch.size() - b_batch.size(), 1);
  s.b_batch.insert(s.b_batch.end(), b_batch.begin(), b_batch.end());
  s.output = s.batch;
  if (a.size() > 1) s.output.push_back(s.m);
  if (b.size() > 1) s.output.push_back(s.n);
  return s;
}

template <typename T>
void matmul_ref(const MatMulShape& s, const T* a, const T* b, T* y) {
  for_each_batch(s, [&](int64_t ai, int64_t bi, int64_t yi) {
    matmul_single(s.m, s.k, s.n, a + ai * s.m * s.k, b + bi * s.k * s.n, y + yi * s.m * s.n);
  });
}

template <typename T>
void gemm_ref(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const T* a, const T* b,
              double beta, const T* c, int64_t c_stride_m, int64_t c_stride_n, T* y) {
  // Element strides of op(A) [M, K] and op(B) [K, N] in the stored A and B.
  const int64_t a_sm = trans_a ? 1 : k, a_sk = trans_a ? m : 1;
  const int64_t b_sk = trans_b ? 1 : n, b_sn = trans_b ? k : 1;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      Accumulator<T> acc = 0;
      for (int64_t p = 0; p < k; ++p)
        acc += static_cast<Accumulator<T>>(a[i * a_sm + p * a_sk]) * b[p * b_sk + j * b_sn];
      const T c_ij = c != nullptr ? c[i * c_stride_m + j * c_stride_n] : T(0);
      if constexpr (std::is_floating_point_v<T>) {
        y[i * n + j] = static_cast<T>(static_cast<T>(alpha) * acc + static_cast<T>(beta) * c_ij);
      } else if (alpha == 1 && (beta == 1 || c == nullptr)) {
        y[i * n + j] = static_cast<T>(acc + c_ij);  // exact integer arithmetic
      } else {
        y[i * n + j] = static_cast<T>(alpha * static_cast<double>(acc) + beta * static_cast<double>(c_ij));
      }
    }
}

template <typename TA, typename TB>
void matmul_integer_ref(const MatMulShape& s, const TA* a, const TA* a_zero, int64_t a_zero_count, const TB* b,
                        const TB* b_zero, int64_t b_zero_count, int32_t* y) {
  auto a_zero_of = [&](int64_t row) -> int32_t { return a_zero_count == 0 ? 0 : a_zero[a_zero_count == 1 ? 0 : row]; };
  auto b_zero_of = [&](int64_t col) -> int32_t { return b_zero_count == 0 ? 0 : b_zero[b_zero_count == 1 ? 0 : col]; };
  for_each_batch(s, [&](int64_t ai, int64_t bi, int64_t yi) {
    const TA* am = a + ai * s.m * s.k;
    const TB* bm = b + bi * s.k * s.n;
    int32_t* ym = y + yi * s.m * s.n;
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t j = 0; j < s.n; ++j) {
        int64_t acc = 0;
        for (int64_t p = 0; p < s.k; ++p)
          acc += (static_cast<int32_t>(am[i * s.k + p]) - a_zero_of(i)) *
                 (static_cast<int32_t>(bm[p * s.n + j]) - b_zero_of(j));
        ym[i * s.n + j] = static_cast<int32_t>(acc);  // wraps like a 32-bit accumulator
      }
  });
}

// Explicit instantiations: the element types the kernels run these on.
template void matmul_ref<float>(const MatMulShape&, const float*, const float*, float*);
template void matmul_ref<double>(const MatMulShape&, const double*, const double*, double*);
template void matmul_ref<int32_t>(const MatMulShape&, const int32_t*, const int32_t*, int32_t*);
template void matmul_ref<int64_t>(const MatMulShape&, const int64_t*, const int64_t*, int64_t*);
template void matmul_ref<uint32_t>(const MatMulShape&, const uint32_t*, const uint32_t*, uint32_t*);
template void matmul_ref<uint64_t>(const MatMulShape&, const uint64_t*, const uint64_t*, uint64_t*);
template void gemm_ref<float>(bool, bool, int64_t, int64_t, int64_t, double, const float*, const float*, double,
                              const float*, int64_t, int64_t, float*);
template void gemm_ref<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, const double*, double,
                               const double*, int64_t, int64_t, double*);
template void gemm_ref<int32_t>(bool, bool, int64_t, int64_t, int64_t, double, const int32_t*, const int32_t*, double,
                                const int32_t*, int64_t, int64_t, int32_t*);
template void gemm_ref<int64_t>(bool, bool, int64_t, int64_t, int64_t, double, const int64_t*, const int64_t*, double,
                                const int64_t*, int64_t, int64_t, int64_t*);
template void gemm_ref<uint32_t>(bool, bool, int64_t, int64_t, int64_t, double, const uint32_t*, const uint32_t*,
                                 double, const uint32_t*, int64_t, int64_t, uint32_t*);
template void gemm_ref<uint64_t>(bool, bool, int64_t, int64_t, int64_t, double, const uint64_t*, const uint64_t*,
                                 double, const uint64_t*, int64_t, int64_t, uint64_t*);

template void matmul_integer_ref<uint8_t, uint8_t>(const MatMulShape&, const uint8_t*, const uint8_t*, int64_t,
                                                   const uint8_t*, const uint8_t*, int64_t, int32_t*);
template void matmul_integer_ref<uint8_t, int8_t>(const MatMulShape&, const uint8_t*, const uint8_t*, int64_t,
                                                  const int8_t*, const int8_t*, int64_t, int32_t*);
template void matmul_integer_ref<int8_t, uint8_t>(const MatMulShape&, const int8_t*, const int8_t*, int64_t,
                                                  const uint8_t*, const uint8_t*, int64_t, int32_t*);
template void matmul_integer_ref<int8_t, int8_t>(const MatMulShape&, const int8_t*, const int8_t*, int64_t,
                                                 const int8_t*, const int8_t*, int64_t, int32_t*);

}  // namespace onnx_train
