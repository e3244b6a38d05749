// Kernels of the gather/scatter gradients, in the project's own domain (ai.onnx_train):
// GatherGrad, GatherElementsGrad, GatherNDGrad, DetGrad and STFTGrad.
//
// The gradient of a gather is a scatter-add of the incoming gradient into zeros of the data
// shape: every element of dY goes back to the data element it was read from, and elements
// read several times (repeated indices) accumulate. The sums are formed in double (GatherGrad
// and GatherElementsGrad add in the compute type, multi-threaded over disjoint parts of dX:
// no atomics, so results do not depend on the thread count). oneDNN has no scatter,
// determinant or STFT-adjoint primitive, so every type runs the plain loops here.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "runtime/core/dispatch.h"
#include "runtime/core/parallel.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

constexpr double kPi = 3.14159265358979323846;

// The int32/int64 values of an index tensor; `what` names it in the error.
std::vector<int64_t> index_values(const Tensor& t, const Node& node, const char* what) {
  OT_CHECK(t.dtype() == DType::Int64 || t.dtype() == DType::Int32, "{}: {} {} must be int32 or int64", node.label(),
           what, t.describe());
  return t.to_int64s();
}

// index in [-size, size) mapped to [0, size); otherwise an error.
int64_t wrap_index(int64_t index, int64_t size, size_t axis, const Node& node) {
  OT_CHECK(index >= -size && index < size, "{}: index {} is out of range [{}, {}] along data axis {}", node.label(),
           index, -size, size - 1, axis);
  return index < 0 ? index + size : index;
}

// The data shape input (int64 1-D) of a scatter-add kernel.
Shape target_shape(const Tensor& shape, const Node& node) {
  OT_CHECK(shape.rank() == 1 && shape.dtype() == DType::Int64, "{}: shape {} must be a 1-D int64 tensor", node.label(),
           shape.describe());
  Shape s = shape.to_int64s();
  for (int64_t d : s) OT_CHECK(d >= 0, "{}: shape {} has a negative dimension", node.label(), shape_str(s));
  return s;
}

// Writes sums (one double per element of out) into out, of out's float type.
void store_sums(const std::vector<double>& sums, Tensor& out) {
  visit_float(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = compute_t<T>;
    T* o = out.data<T>();
    for (size_t i = 0; i < sums.size(); ++i) o[i] = from_compute<T>(static_cast<C>(sums[i]));
  });
}

// The elements of a float tensor as doubles.
std::vector<double> as_doubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  visit_float(t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = t.data<T>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(to_compute(p[i]));
  });
  return v;
}

// GatherNDGrad(dY, indices, data_shape) -> dData; attribute batch_dims b (default 0).
// The adjoint of GatherND(data, indices, batch_dims) (inputs in the order of GatherGrad /
// GatherElementsGrad): data_shape (int64) is data's shape [B..., D...] (b batch dims),
// indices [B..., J..., m] (int32/int64 tuples into D[0:m]), dY has GatherND's output shape
// B + J + D[m:];
//   dData = zeros(data_shape);  dData[B, indices[B, J, :], S] += dY[B, J, S].
// Negative indices count from the end; repeated tuples accumulate.
class GatherNDGradKernel : public Kernel {
 public:
  explicit GatherNDGradKernel(const KernelInfo& info) : batch_dims_(info.node.attr_int("batch_dims", 0)) {
    OT_CHECK(batch_dims_ >= 0, "{}: batch_dims {} must be >= 0", info.node.label(), batch_dims_);
  }

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& dy = ctx.input(0);
    const Tensor& index_tensor = ctx.input(1);
    const Shape shape = target_shape(ctx.input(2), node);
    const size_t b = static_cast<size_t>(batch_dims_);
    const size_t r = shape.size();
    OT_CHECK(index_tensor.rank() >= 1 && b < std::min<size_t>(r, static_cast<size_t>(index_tensor.rank())),
             "{}: batch_dims {} needs data shape {} and indices {} of higher rank", node.label(), b, shape_str(shape),
             index_tensor.describe());
    const size_t m = static_cast<size_t>(index_tensor.shape().back());
    OT_CHECK(m >= 1 && m <= r - b, "{}: the last dimension of indices {} must be in [1, {}] for data shape {}",
             node.label(), index_tensor.describe(), r - b, shape_str(shape));
    for (size_t d = 0; d < b; ++d)
      OT_CHECK(shape[d] == index_tensor.shape()[d], "{}: data shape {} and indices {} differ in batch dimension {}",
               node.label(), shape_str(shape), index_tensor.describe(), d);
    Shape dy_shape(index_tensor.shape().begin(), index_tensor.shape().end() - 1);
    dy_shape.insert(dy_shape.end(), shape.begin() + static_cast<std::ptrdiff_t>(b + m), shape.end());
    OT_CHECK(dy.shape() == dy_shape, "{}: gradient {} must have GatherND's output shape {}", node.label(),
             dy.describe(), shape_str(dy_shape));

    const std::vector<int64_t> indices = index_values(index_tensor, node, "indices");
    const std::vector<double> grad = as_doubles(dy);
    const std::vector<int64_t> strides = strides_of(shape);
    int64_t batches = 1, batch_size = 1, slice = 1;
    for (size_t d = 0; d < r; ++d) (d < b ? batches : batch_size) *= shape[d];
    for (size_t d = b + m; d < r; ++d) slice *= shape[d];
    const size_t tuples = indices.size() / m;
    const size_t tuples_per_batch = batches == 0 ? 0 : tuples / static_cast<size_t>(batches);

    Tensor& out = ctx.allocate_output(0, dy.dtype(), shape);
    std::vector<double> sums(static_cast<size_t>(out.numel()), 0.0);
    for (size_t t = 0; t < tuples; ++t) {
      int64_t offset = static_cast<int64_t>(t / tuples_per_batch) * batch_size;
      for (size_t j = 0; j < m; ++j)
        offset += wrap_index(indices[t * m + j], shape[b + j], b + j, node) * strides[b + j];
      for (int64_t s = 0; s < slice; ++s)
        sums[static_cast<size_t>(offset + s)] += grad[t * static_cast<size_t>(slice) + static_cast<size_t>(s)];
    }
    store_sums(sums, out);
  }

 private:
  int64_t batch_dims_;
};

// The determinant of the m x m row-major matrix a, by LU elimination with partial pivoting.
double lu_determinant(std::vector<double> a, int64_t m) {
  double det = 1;
  for (int64_t k = 0; k < m; ++k) {
    int64_t pivot = k;
    for (int64_t i = k + 1; i < m; ++i)
      if (std::abs(a[static_cast<size_t>(i * m + k)]) > std::abs(a[static_cast<size_t>(pivot * m + k)])) pivot = i;
    if (a[static_cast<size_t>(pivot * m + k)] == 0) return 0;
    if (pivot != k) {
      for (int64_t j = 0; j < m; ++j)
        std::swap(a[static_cast<size_t>(k * m + j)], a[static_cast<size_t>(pivot * m + j)]);
      det = -det;
    }
    const double p = a[static_cast<size_t>(k * m + k)];
    det *= p;
    for (int64_t i = k + 1; i < m; ++i) {
      const double f = a[static_cast<size_t>(i * m + k)] / p;
      for (int64_t j = k + 1; j < m; ++j) a[static_cast<size_t>(i * m + j)] -= f * a[static_cast<size_t>(k * m + j)];
    }
  }
  return det;
}

// The cofactor matrix of the m x m row-major matrix a, cof[i][j] = (-1)^(i + j) det(minor_ij),
// from the minors' determinants: O(m^5), for singular matrices.
std::vector<double> cofactors_by_minors(const std::vector<double>& a, int64_t m) {
  std::vector<double> cof(a.size(), 0.0);
  if (m == 1) {
    cof[0] = 1;
    return cof;
  }
  std::vector<double> minor(static_cast<size_t>((m - 1) * (m - 1)));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < m; ++j) {
      size_t k = 0;
      for (int64_t r = 0; r < m; ++r)
        for (int64_t c = 0; c < m; ++c)
          if (r != i && c != j) minor[k++] = a[static_cast<size_t>(r * m + c)];
      cof[static_cast<size_t>(i * m + j)] = ((i + j) % 2 == 0 ? 1 : -1) * lu_determinant(minor, m - 1);
    }
  return cof;
}

// The cofactor matrix of a = det(a) inverse(a)^T, with inverse(a) and det(a) from Gauss-Jordan
// elimination of [a | I] with partial pivoting (O(m^3)); a singular a takes the minors.
std::vector<double> cofactors(const std::vector<double>& a, int64_t m) {
  const size_t n = static_cast<size_t>(m);
  std::vector<double> lu = a, inv(n * n, 0.0);
  for (size_t i = 0; i < n; ++i) inv[i * n + i] = 1;
  double det = 1;
  for (size_t k = 0; k < n; ++k) {
    size_t pivot = k;
    for (size_t i = k + 1; i < n; ++i)
      if (std::abs(lu[i * n + k]) > std::abs(lu[pivot * n + k])) pivot = i;
    if (lu[pivot * n + k] == 0) return cofactors_by_minors(a, m);
    if (pivot != k) {
      for (size_t j = 0; j < n; ++j) {
        std::swap(lu[k * n + j], lu[pivot * n + j]);
        std::swap(inv[k * n + j], inv[pivot * n + j]);
      }
      det = -det;
    }
    const double p = lu[k * n + k];
    det *= p;
    for (size_t j = 0; j < n; ++j) {
      lu[k * n + j] /= p;
      inv[k * n + j] /= p;
    }
    for (size_t i = 0; i < n; ++i) {
      if (i == k || lu[i * n + k] == 0) continue;
      const double f = lu[i * n + k];
      for (size_t j = 0; j < n; ++j) {
        lu[i * n + j] -= f * lu[k * n + j];
        inv[i * n + j] -= f * inv[k * n + j];
      }
    }
  }
  std::vector<double> cof(n * n);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) cof[i * n + j] = det * inv[j * n + i];
  return cof;
}

// DetGrad(A, dY) -> dA. The adjoint of Det: A [..., M, M], dY [...] (Det's output shape);
//   dA[..., i, j] = dY[...] * cofactor(A[...])[i, j] = dY det(A) inverse(A)^T[i, j],
// the cofactor form (Jacobi's formula) also holding for singular A.
class DetGradKernel : public Kernel {
 public:
  explicit DetGradKernel(const KernelInfo&) {}

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& a = ctx.input(0);
    const Tensor& dy = ctx.input(1);
    OT_CHECK(a.rank() >= 2 && a.dim(-1) == a.dim(-2), "{}: input {} must be [..., M, M] (square matrices)",
             node.label(), a.describe());
    const Shape batch_shape(a.shape().begin(), a.shape().end() - 2);
    OT_CHECK(dy.shape() == batch_shape && dy.dtype() == a.dtype(), "{}: gradient {} must be {} of shape {}",
             node.label(), dy.describe(), dtype_name(a.dtype()), shape_str(batch_shape));
    const int64_t m = a.dim(-1);
    const size_t mm = static_cast<size_t>(m * m);
    const std::vector<double> values = as_doubles(a);
    const std::vector<double> grad = as_doubles(dy);
    Tensor& out = ctx.allocate_output(0, a.dtype(), a.shape());
    std::vector<double> sums(values.size());
    for (size_t b = 0; b < grad.size(); ++b) {
      const std::vector<double> cof =
          cofactors(std::vector<double>(values.begin() + static_cast<std::ptrdiff_t>(b * mm),
                                        values.begin() + static_cast<std::ptrdiff_t>((b + 1) * mm)),
                    m);
      for (size_t k = 0; k < mm; ++k) sums[b * mm + k] = grad[b] * cof[k];
    }
    store_sums(sums, out);
  }
};

// The single integer of input i (frame_step, frame_length).
int64_t scalar_input(KernelContext& ctx, size_t i, const char* what) {
  const Tensor& t = ctx.input(i);
  OT_CHECK(t.numel() == 1, "{}: {} must be a single integer, got {}", ctx.node().label(), what, t.describe());
  return t.to_int64s()[0];
}

// STFTGrad(dY, signal, frame_step, window?, frame_length?) -> dSignal, dWindow (optional);
// attribute onesided (default 1). The adjoint of STFT with the same inputs: signal
// [B, N, c] (c = 1 real, 2 complex), window [L] (all ones when absent), dY [B, M, bins, 2],
// M = (N - L) / frame_step + 1. STFT computes, with frame[b, m, t] = signal[b, m s + t] w[t],
//   Y[b, m, f] = sum_t frame[b, m, t] exp(-2 pi i f t / L),  f < bins;
// for the real loss Re <dY, Y> the gradient of frame[b, m, t] (as a complex number) is
//   G[b, m, t] = sum_f dY[b, m, f] exp(+2 pi i f t / L),
// and the overlap-add of the frames gives
//   dSignal[b, m s + t] += w[t] G[b, m, t]   (its real part for a real signal),
//   dWindow[t] = sum_{b, m} Re G Re signal + Im G Im signal  (at position m s + t).
class StftGradKernel : public Kernel {
 public:
  explicit StftGradKernel(const KernelInfo& info) : onesided_(info.node.attr_int("onesided", 1) != 0) {}

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& dy = ctx.input(0);
    const Tensor& x = ctx.input(1);
    OT_CHECK(x.rank() == 3 && (x.dim(2) == 1 || x.dim(2) == 2), "{}: signal {} must be [batch, signal_length, 1 or 2]",
             node.label(), x.describe());
    const int64_t step = scalar_input(ctx, 2, "frame_step");
    OT_CHECK(step > 0, "{}: frame_step {} must be positive", node.label(), step);
    const bool has_window = ctx.has_input(3);
    int64_t frame_length = has_window ? ctx.input(3).numel() : -1;
    if (ctx.has_input(4)) frame_length = scalar_input(ctx, 4, "frame_length");
    const int64_t batch = x.dim(0), length = x.dim(1), components = x.dim(2);
    OT_CHECK(frame_length > 0 && frame_length <= length && (!has_window || ctx.input(3).numel() == frame_length),
             "{}: needs a window or frame_length in [1, {}] (and the two agreeing)", node.label(), length);
    const int64_t frames = (length - frame_length) / step + 1;
    const int64_t bins = onesided_ ? frame_length / 2 + 1 : frame_length;
    const Shape dy_shape{batch, frames, bins, 2};
    OT_CHECK(dy.shape() == dy_shape && dy.dtype() == x.dtype(), "{}: gradient {} must be {} of shape {}", node.label(),
             dy.describe(), dtype_name(x.dtype()), shape_str(dy_shape));

    const std::vector<double> grad = as_doubles(dy), signal = as_doubles(x);
    const std::vector<double> window =
        has_window ? as_doubles(ctx.input(3)) : std::vector<double>(static_cast<size_t>(frame_length), 1.0);
    // exp(2 pi i k / L) for k = f t mod L.
    std::vector<double> cosines(static_cast<size_t>(frame_length)), sines(static_cast<size_t>(frame_length));
    for (int64_t k = 0; k < frame_length; ++k) {
      const double angle = 2 * kPi * static_cast<double>(k) / static_cast<double>(frame_length);
      cosines[static_cast<size_t>(k)] = std::cos(angle);
      sines[static_cast<size_t>(k)] = std::sin(angle);
    }
    std::vector<double> d_signal(signal.size(), 0.0), d_window(window.size(), 0.0);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t m = 0; m < frames; ++m) {
        const double* g = grad.data() + (b * frames + m) * bins * 2;
        for (int64_t t = 0; t < frame_length; ++t) {
          double re = 0, im = 0;
          for (int64_t f = 0; f < bins; ++f) {
            const size_t k = static_cast<size_t>((f * t) % frame_length);
            re += g[2 * f] * cosines[k] - g[2 * f + 1] * sines[k];
            im += g[2 * f] * sines[k] + g[2 * f + 1] * cosines[k];
          }
          const size_t at = static_cast<size_t>((b * length + m * step + t) * components);
          const size_t w = static_cast<size_t>(t);
          d_signal[at] += window[w] * re;
          d_window[w] += re * signal[at];
          if (components == 2) {
            d_signal[at + 1] += window[w] * im;
            d_window[w] += im * signal[at + 1];
          }
        }
      }
    store_sums(d_signal, ctx.allocate_output(0, x.dtype(), x.shape()));
    if (ctx.output_wanted(1)) {
      OT_CHECK(has_window, "{}: dWindow needs the window input", node.label());
      store_sums(d_window, ctx.allocate_output(1, ctx.input(3).dtype(), ctx.input(3).shape()));
    }
  }

 private:
  bool onesided_;
};

// The int64 values of an int32/int64 index tensor, mapped into [0, size) (negative indices
// count from the end); an index outside [-size, size - 1] is an error.
std::vector<int64_t> resolved_indices(const Tensor& indices, int64_t size, const Node& node) {
  OT_CHECK(indices.dtype() == DType::Int32 || indices.dtype() == DType::Int64,
           "{}: indices must be int32 or int64, got {}", node.label(), indices.describe());
  std::vector<int64_t> values = indices.to_int64s();
  for (int64_t& k : values) {
    OT_CHECK(k >= -size && k < size, "{}: index {} is out of range [{}, {}]", node.label(), k, -size, size - 1);
    if (k < 0) k += size;
  }
  return values;
}

// The data shape input (int64 1-D) of the gather gradients.
Shape read_data_shape(const Tensor& shape, const Node& node) {
  OT_CHECK(shape.dtype() == DType::Int64 && shape.rank() == 1, "{}: data_shape must be an int64 1-D tensor, got {}",
           node.label(), shape.describe());
  Shape s = shape.to_int64s();
  for (int64_t d : s) OT_CHECK(d >= 0, "{}: data_shape {} has a negative dimension", node.label(), shape_str(s));
  return s;
}

// dst[i] += src[i] for i < n, in the compute type of T.
template <typename T>
void add_row(T* __restrict dst, const T* __restrict src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = from_compute<T>(to_compute(dst[i]) + to_compute(src[i]));
}

// GatherGrad(dY, indices, data_shape) -> dX, in the project domain: the adjoint of Gather.
//   data_shape: int64 [r], the shape d of Gather's data; indices: int32/int64, any shape I
//   (negative values count from the end of the axis); dY: d[:axis] + I + d[axis+1:];
//   attribute axis (default 0, may be negative). dX: shape d, dY's type, zero except
//     dX[o, indices[j], p] += dY[o, j, p]   (repeated indices accumulate)
//   with o over d[:axis], j over I, p over d[axis+1:]. One pass over dY; the rows
//   [o, k, :] of dX are split into one contiguous range per thread, each thread adding only
//   the rows it owns (so for an embedding table, every thread reads the indices and adds
//   the dY rows that land in its part of the vocabulary).
class GatherGradKernel : public Kernel {
 public:
  explicit GatherGradKernel(const KernelInfo& info) : node_(info.node), axis_(info.node.attr_int("axis", 0)) {}

  void run(KernelContext& ctx) override {
    const Tensor& dy = ctx.input(0);
    const Tensor& index_tensor = ctx.input(1);
    const Shape data_shape = read_data_shape(ctx.input(2), node_);
    OT_CHECK(!data_shape.empty(), "{}: Gather data must have rank >= 1", node_.label());
    const size_t axis = static_cast<size_t>(normalize_axis(axis_, static_cast<int64_t>(data_shape.size())));
    Shape expected(data_shape.begin(), data_shape.begin() + axis);
    expected.insert(expected.end(), index_tensor.shape().begin(), index_tensor.shape().end());
    expected.insert(expected.end(), data_shape.begin() + axis + 1, data_shape.end());
    OT_CHECK(dtype_is_float(dy.dtype()) && dy.shape() == expected,
             "{}: gradient {} must be a floating-point tensor of shape {} (data {}, indices {}, axis {})",
             node_.label(), dy.describe(), shape_str(expected), shape_str(data_shape), index_tensor.describe(), axis);
    const int64_t size = data_shape[axis];
    const std::vector<int64_t> indices = resolved_indices(index_tensor, size, node_);
    int64_t outer = 1, inner = 1;
    for (size_t d = 0; d < data_shape.size(); ++d)
      if (d != axis) (d < axis ? outer : inner) *= data_shape[d];
    const int64_t count = static_cast<int64_t>(indices.size());
    Tensor& dx = ctx.allocate_output(0, dy.dtype(), data_shape);
    if (count == 0 || dx.numel() == 0) return;
    visit_float(dy.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* g = dy.data<T>();
      T* out = dx.data<T>();
      const int64_t rows = outer * size;
      const int threads = outer * count * inner >= kParallelMinCheapElements ? omp_get_max_threads() : 1;
#pragma omp parallel num_threads(threads)
      {
        const int64_t parts = omp_get_num_threads(), part = omp_get_thread_num();
        const int64_t begin = rows * part / parts, end = rows * (part + 1) / parts;
        for (int64_t o = begin / size; o < outer && o * size < end; ++o) {
          for (int64_t j = 0; j < count; ++j) {
            const int64_t row = o * size + indices[static_cast<size_t>(j)];
            if (row >= begin && row < end) add_row(out + row * inner, g + (o * count + j) * inner, inner);
          }
        }
      }
    });
  }

 private:
  const Node& node_;
  int64_t axis_;
};

// Data offsets of every position of shape[begin:end] (row-major), read with `strides`.
std::vector<int64_t> offsets_of(const Shape& shape, const std::vector<int64_t>& strides, size_t begin, size_t end) {
  const Shape part(shape.begin() + begin, shape.begin() + end);
  std::vector<int64_t> offsets(static_cast<size_t>(shape_numel(part)));
  StridedWalk walk(part, {std::vector<int64_t>(strides.begin() + begin, strides.begin() + end)});
  for (size_t i = 0; i < offsets.size(); ++i, walk.next()) offsets[i] = walk.offset(0);
  return offsets;
}

// GatherElementsGrad(dY, indices, data_shape) -> dX, in the project domain: the adjoint of
// GatherElements.
//   data_shape: int64 [r], the shape d of the data; indices: int32/int64 of rank r, no
//   larger than d except along the axis (negative values count from the end); dY: the
//   indices' shape; attribute axis (default 0). dX: shape d, dY's type, zero except
//     dX[p with p[axis] = indices[p]] += dY[p]   for every position p of indices.
//   Positions that differ outside the axis write different elements of dX, so the work is
//   split over (dims before the axis) x (blocks of the dims after it), race-free.
class GatherElementsGradKernel : public Kernel {
 public:
  explicit GatherElementsGradKernel(const KernelInfo& info) : node_(info.node), axis_(info.node.attr_int("axis", 0)) {}

  void run(KernelContext& ctx) override {
    const Tensor& dy = ctx.input(0);
    const Tensor& index_tensor = ctx.input(1);
    const Shape data_shape = read_data_shape(ctx.input(2), node_);
    const Shape& ishape = index_tensor.shape();
    OT_CHECK(!data_shape.empty() && ishape.size() == data_shape.size(),
             "{}: indices {} must have the rank (>= 1) of the data {}", node_.label(), index_tensor.describe(),
             shape_str(data_shape));
    const size_t axis = static_cast<size_t>(normalize_axis(axis_, static_cast<int64_t>(data_shape.size())));
    for (size_t d = 0; d < data_shape.size(); ++d)
      OT_CHECK(d == axis || ishape[d] <= data_shape[d], "{}: indices {} are larger than the data {} along axis {}",
               node_.label(), index_tensor.describe(), shape_str(data_shape), d);
    OT_CHECK(dtype_is_float(dy.dtype()) && dy.shape() == ishape,
             "{}: gradient {} must be a floating-point tensor of the indices' shape {}", node_.label(), dy.describe(),
             shape_str(ishape));
    const std::vector<int64_t> indices = resolved_indices(index_tensor, data_shape[axis], node_);
    const std::vector<int64_t> strides = strides_of(data_shape);
    const std::vector<int64_t> outer_offsets = offsets_of(ishape, strides, 0, axis);
    const std::vector<int64_t> inner_offsets = offsets_of(ishape, strides, axis + 1, ishape.size());
    const int64_t outer = static_cast<int64_t>(outer_offsets.size());
    const int64_t inner = static_cast<int64_t>(inner_offsets.size());
    const int64_t along = ishape[axis], axis_stride = strides[axis];
    constexpr int64_t kBlock = 256;
    const int64_t blocks = (inner + kBlock - 1) / kBlock;
    Tensor& dx = ctx.allocate_output(0, dy.dtype(), data_shape);
    visit_float(dy.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* g = dy.data<T>();
      T* out = dx.data<T>();
      const bool parallel = dy.numel() >= kParallelMinCheapElements;
#pragma omp parallel for collapse(2) if (parallel) schedule(static)
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t b = 0; b < blocks; ++b) {
          const int64_t first = b * kBlock, last = std::min(inner, first + kBlock);
          for (int64_t k = 0; k < along; ++k) {
            const int64_t position = (o * along + k) * inner;
            for (int64_t i = first; i < last; ++i) {
              T& target =
                  out[outer_offsets[o] + inner_offsets[i] + indices[static_cast<size_t>(position + i)] * axis_stride];
              target = from_compute<T>(to_compute(target) + to_compute(g[position + i]));
            }
          }
        }
      }
    });
  }

 private:
  const Node& node_;
  int64_t axis_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(indexing_grad) {
  registry.add<GatherGradKernel>("GatherGrad", {1}, kProjectDomain);
  registry.add<GatherElementsGradKernel>("GatherElementsGrad", {1}, kProjectDomain);
  registry.add<GatherNDGradKernel>("GatherNDGrad", {1}, kProjectDomain);
  registry.add<DetGradKernel>("DetGrad", {1}, kProjectDomain);
  registry.add<StftGradKernel>("STFTGrad", {1}, kProjectDomain);
}

}  // namespace onnx_train
