// The fused MatMul gradient kernel, MatMulGrad (project domain ai.onnx_train, version 1).
//
// It resolves numpy matmul semantics from the actual shapes at run time, so the gradient
// rule needs no ranks at build time (exported transformers reshape with computed shapes and
// leave shape inference without them). float32 runs on oneDNN, with transposes expressed as
// strides or gemm flags, never materialised: a gradient that sums over no batch axis is one
// batched matmul primitive (cached per shape); one whose input was broadcast along batch axes
// is a loop of sgemm calls accumulating into each of its matrices, in parallel over them; a
// batch sharing one B folds into the rows of a single sgemm. float16/bfloat16 widen to
// float32; float64 runs the same loops over a plain-loop reference gemm.
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <oneapi/dnnl/dnnl.hpp>
#include <type_traits>
#include <utility>
#include <vector>

#include "runtime/kernels/dnnl/dnnl_common.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/reference/linalg_ref.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

// A row-major gemm C [m, n] (+)= op(A) @ op(B): op(A) is [m, k] (A stored [k, m] when
// trans_a), op(B) is [k, n] (B stored [n, k] when trans_b); lda, ldb, ldc are the stored
// row lengths.
struct GemmCall {
  bool trans_a, trans_b;
  int64_t m, n, k;
  int64_t lda, ldb, ldc;
};

// C = op(A) @ op(B) when `overwrite`, else C += op(A) @ op(B); false when the gemm failed.
bool gemm_f32(const GemmCall& c, const float* a, const float* b, float* out, bool overwrite) {
  return dnnl_sgemm(c.trans_a ? 'T' : 'N', c.trans_b ? 'T' : 'N', c.m, c.n, c.k, 1.f, a, c.lda, b, c.ldb,
                    overwrite ? 0.f : 1.f, out, c.ldc) == dnnl_success;
}

// The same in plain loops (float64).
template <typename T>
bool gemm_ref(const GemmCall& c, const T* a, const T* b, T* out, bool overwrite) {
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = 0; j < c.n; ++j) {
      T sum = 0;
      for (int64_t p = 0; p < c.k; ++p) {
        const T av = c.trans_a ? a[p * c.lda + i] : a[i * c.lda + p];
        const T bv = c.trans_b ? b[j * c.ldb + p] : b[p * c.ldb + j];
        sum += av * bv;
      }
      out[i * c.ldc + j] = overwrite ? sum : out[i * c.ldc + j] + sum;
    }
  }
  return true;
}

// For each batch index of Y, the batch index of an operand with batch dims `operand_batch`
// (left-padded to Y's rank) that broadcasting maps onto it.
std::vector<int64_t> operand_index(const Shape& operand_batch, const Shape& batch) {
  std::vector<int64_t> index(static_cast<size_t>(shape_numel(batch)));
  StridedWalk walk(batch, {broadcast_strides(operand_batch, batch)});
  for (auto& i : index) {
    i = walk.offset(0);
    walk.next();
  }
  return index;
}

// For each matrix of an operand's gradient, the batch indices of Y whose terms sum into it.
std::vector<std::vector<int64_t>> batches_per_target(const Shape& operand_batch, const std::vector<int64_t>& index) {
  std::vector<std::vector<int64_t>> groups(static_cast<size_t>(shape_numel(operand_batch)));
  for (size_t i = 0; i < index.size(); ++i) groups[static_cast<size_t>(index[i])].push_back(static_cast<int64_t>(i));
  return groups;
}

// A matmul operand as oneDNN sees it: dims (batch..., rows, cols) and element strides.
struct View {
  dnnl::memory::dims dims;
  dnnl::memory::dims strides;
};

// The plain row-major [batch..., rows, cols] tensor, or (transposed) its [batch..., cols,
// rows] transpose read through swapped strides.
View matrix_view(const Shape& batch, int64_t rows, int64_t cols, bool transposed) {
  Shape shape = batch;
  shape.insert(shape.end(), {rows, cols});
  View v{dnnl::memory::dims(shape.begin(), shape.end()), strides_of(shape)};
  if (transposed) {
    const size_t r = v.dims.size();
    std::swap(v.dims[r - 1], v.dims[r - 2]);
    std::swap(v.strides[r - 1], v.strides[r - 2]);
  }
  return v;
}

// Batched oneDNN matmul primitives, one per problem (dims and strides), built once and
// cached: dst (plain) = src @ weights, the batch axes of src and weights broadcast to dst's.
class BatchedMatMul {
 public:
  // All three of type `dt` (f32, or bf16 with f32 accumulation inside oneDNN).
  void run(const View& src, const View& weights, const View& dst, const void* src_data, const void* weights_data,
           void* dst_data, dnnl::memory::data_type dt = dnnl::memory::data_type::f32) {
    std::vector<int64_t> key{static_cast<int64_t>(dt)};
    for (const auto* v : {&src.dims, &src.strides, &weights.dims, &weights.strides, &dst.dims}) {
      key.push_back(static_cast<int64_t>(v->size()));
      key.insert(key.end(), v->begin(), v->end());
    }
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      using dnnl::memory;
      Entry e{memory::desc(src.dims, dt, src.strides), memory::desc(weights.dims, dt, weights.strides),
              memory::desc(dst.dims, dt, strides_of(Shape(dst.dims.begin(), dst.dims.end()))),
              {}};
      e.primitive = dnnl::matmul(
          dnnl::matmul::primitive_desc(dnnl::matmul::desc(e.src, e.weights, e.dst), dnnl_common::cpu_engine()));
      it = cache_.emplace(std::move(key), std::move(e)).first;
    }
    const Entry& e = it->second;
    auto wrap = [](const dnnl::memory::desc& d, const void* p) {
      return dnnl::memory(d, dnnl_common::cpu_engine(), const_cast<void*>(p));
    };
    e.primitive.execute(dnnl_common::cpu_stream(), {{DNNL_ARG_SRC, wrap(e.src, src_data)},
                                                    {DNNL_ARG_WEIGHTS, wrap(e.weights, weights_data)},
                                                    {DNNL_ARG_DST, wrap(e.dst, dst_data)}});
    dnnl_common::cpu_stream().wait();
  }

 private:
  struct Entry {
    dnnl::memory::desc src, weights, dst;
    dnnl::matmul primitive;
  };
  std::map<std::vector<int64_t>, Entry> cache_;
};

// MatMulGrad(dY, A, B) -> (dA?, dB?), the gradient of Y = MatMul(A, B) (numpy semantics).
//   A [..., M, K] (a 1-D A is [1, K]), B [..., K, N] (a 1-D B is [K, 1]), dY Y's shape
//   [broadcast(...), M, N] (without the promoted axes).
//   Per batch index of Y: dA_b = dY_b @ B_b^T, dB_b = A_b^T @ dY_b; each summed over the
//   batch axes its input was broadcast along, so dA has A's shape and dB B's shape.
//   Both outputs are optional: only the wanted ones are computed.
// With trans_b = 1 it is the gradient of FusedMatMul(A, B, trans_b = 1), Y = A @ B^T with B a
// matrix stored [N, K] (a torch nn.Linear weight [out, in]):
//   dA [..., M, K] = dY [..., M, N] @ B [N, K];  dB [N, K] = sum_b dY_b^T @ A_b,
// both with the batch folded into the rows (B is one matrix), dB in B's stored layout: the
// weight's gradient needs no transpose back, and the forward pass needed no transposed copy.
// The same kernel as trans_b = 0 (a second op would repeat its dtypes and checks); the
// attribute only changes the gemm flags.
class MatMulGradKernel : public Kernel {
 public:
  explicit MatMulGradKernel(const KernelInfo& info) : node_(info.node), trans_b_(info.node.attr_int("trans_b", 0) != 0) {}

  void run(KernelContext& ctx) override {
    const Tensor& dy = ctx.input(0);
    const Tensor& a = ctx.input(1);
    const Tensor& b = ctx.input(2);
    OT_CHECK(a.dtype() == b.dtype() && dy.dtype() == a.dtype(),
             "{}: dY {}, A {} and B {} must have the same element type", node_.label(), dy.describe(), a.describe(),
             b.describe());
    OT_CHECK(dtype_is_float(a.dtype()), "{}: element type {} is not supported (expected a float type)", node_.label(),
             dtype_name(a.dtype()));
    OT_CHECK(!trans_b_ || b.rank() == 2, "{}: with trans_b = 1, B must be a matrix [N, K], but it is {}",
             node_.label(), b.describe());
    // The shapes of the product, with B's logical [K, N] (the stored [N, K] transposed when trans_b).
    const MatMulShape s = matmul_shape(a.shape(), trans_b_ ? Shape{b.dim(1), b.dim(0)} : b.shape(), node_.label());
    OT_CHECK(dy.shape() == s.output, "{}: dY {} does not have the shape of MatMul(A {}, B {}), {}", node_.label(),
             dy.describe(), shape_str(a.shape()), shape_str(b.shape()), shape_str(s.output));
    Tensor* da = ctx.output_wanted(0) ? &ctx.allocate_output(0, a.dtype(), a.shape()) : nullptr;
    Tensor* db = ctx.output_wanted(1) ? &ctx.allocate_output(1, b.dtype(), b.shape()) : nullptr;
    if (dy.numel() == 0 || s.k == 0) return;  // empty sums: the zero-filled outputs
    bool ok = false;
    if (a.dtype() == DType::Float32) {
      ok = compute<float>(s, dy.data<float>(), a.data<float>(), b.data<float>(), da ? da->data<float>() : nullptr,
                          db ? db->data<float>() : nullptr, gemm_f32);
    } else if (a.dtype() == DType::Float64) {
      ok = compute<double>(s, dy.data<double>(), a.data<double>(), b.data<double>(), da ? da->data<double>() : nullptr,
                           db ? db->data<double>() : nullptr, gemm_ref<double>);
    } else if (a.dtype() == DType::BFloat16 && dnnl_common::native_bf16() &&
               compute_bf16(s, dy.data<BFloat16>(), a.data<BFloat16>(), b.data<BFloat16>(),
                            da ? da->data<BFloat16>() : nullptr, db ? db->data<BFloat16>() : nullptr)) {
      ok = true;
    } else {  // float16, and bfloat16 in forms compute_bf16 does not take: through float32
      // Widened into kernel-owned buffers (allocated once per shape); every element of dA32 and
      // dB32 is written (the first term of each sum overwrites).
      const float* dy32 = to_float32(dy, dy32_);
      const float* a32 = to_float32(a, a32_);
      const float* b32 = to_float32(b, b32_);
      if (da) da32_.resize(static_cast<size_t>(da->numel()));
      if (db) db32_.resize(static_cast<size_t>(db->numel()));
      ok = compute<float>(s, dy32, a32, b32, da ? da32_.data() : nullptr, db ? db32_.data() : nullptr, gemm_f32);
      if (da) store_float32(da32_.data(), *da);
      if (db) store_float32(db32_.data(), *db);
    }
    OT_CHECK(ok, "{}: oneDNN sgemm failed for dY {}, A {}, B {}", node_.label(), dy.describe(), a.describe(),
             b.describe());
  }

 private:
  // dA and dB (either may be null: not wanted) through `gemm`; false when a gemm failed.
  // float32 gradients that sum over no batch axis run as one batched oneDNN matmul each.
  template <typename T, typename Gemm>
  bool compute(const MatMulShape& s, const T* dy, const T* a, const T* b, T* da, T* db, Gemm gemm) {
    const int64_t m = s.m, n = s.n, k = s.k;
    // dA_b [M, K] = dY_b [M, N] @ B_b^T (B_b stored [K, N]); dB_b [K, N] = A_b^T (A_b stored
    // [M, K]) @ dY_b [M, N].
    const GemmCall da_call{false, true, m, k, n, n, n, k};
    const GemmCall db_call{true, false, k, n, m, k, n, n};
    if (trans_b_) {
      // B stored [N, K], one matrix: the batch folds into the rows.
      // dA [rows, K] = dY [rows, N] @ B [N, K];  dB [N, K] = dY^T (dY stored [rows, N]) @ A [rows, K].
      const int64_t rows = shape_numel(s.batch) * m;
      const bool da_ok = !da || gemm(GemmCall{false, false, rows, k, n, n, k, k}, dy, b, da, true);
      return da_ok && (!db || gemm(GemmCall{true, false, n, k, rows, n, k, k}, dy, a, db, true));
    }
    const bool b_shared = shape_numel(s.b_batch) == 1;  // then Y's batch is A's
    const int64_t rows = shape_numel(s.batch) * m;
    if (b_shared) {
      // One matrix B for every batch: fold the batch into M. dA [rows, K] = dY [rows, N] @ B^T,
      // dB = sum_b A_b^T @ dY_b = A [rows, K]^T @ dY [rows, N].
      const bool da_ok = !da || gemm(GemmCall{false, true, rows, k, n, n, n, k}, dy, b, da, true);
      return da_ok && (!db || gemm(GemmCall{true, false, k, n, rows, k, n, n}, a, dy, db, true));
    }
    if constexpr (std::is_same_v<T, float>) {
      if (s.batch.size() + 2 <= DNNL_MAX_NDIMS) {
        if (da && s.a_batch == s.batch) {  // dA = dY @ B^T
          batched_.run(matrix_view(s.batch, m, n, false), matrix_view(s.b_batch, k, n, true),
                       matrix_view(s.batch, m, k, false), dy, b, da);
          da = nullptr;
        }
        if (db && s.b_batch == s.batch) {  // dB = A^T @ dY
          batched_.run(matrix_view(s.a_batch, m, k, true), matrix_view(s.batch, m, n, false),
                       matrix_view(s.batch, k, n, false), a, dy, db);
          db = nullptr;
        }
      }
    }
    const int64_t a_size = m * k, b_size = k * n, y_size = m * n;
    const std::vector<int64_t> a_index = operand_index(s.a_batch, s.batch);
    const std::vector<int64_t> b_index = operand_index(s.b_batch, s.batch);
    bool ok = true;
    if (da) {
      ok = sum_terms(batches_per_target(s.a_batch, a_index), a_size, da, [&](int64_t i, T* out, bool overwrite) {
        return gemm(da_call, dy + i * y_size, b + b_index[static_cast<size_t>(i)] * b_size, out, overwrite);
      });
    }
    if (db && ok) {
      ok = sum_terms(batches_per_target(s.b_batch, b_index), b_size, db, [&](int64_t i, T* out, bool overwrite) {
        return gemm(db_call, a + a_index[static_cast<size_t>(i)] * a_size, dy + i * y_size, out, overwrite);
      });
    }
    return ok;
  }

  // bfloat16 dA and dB (either may be null) as oneDNN bf16 matmuls (float32 accumulation, one
  // rounding per element), transposes read through strides; false (nothing done) for a
  // gradient that sums over broadcast batch axes other than B shared by every batch.
  bool compute_bf16(const MatMulShape& s, const BFloat16* dy, const BFloat16* a, const BFloat16* b, BFloat16* da,
                    BFloat16* db) {
    constexpr auto bf16 = dnnl::memory::data_type::bf16;
    const int64_t m = s.m, n = s.n, k = s.k;
    if (trans_b_) {  // B stored [N, K]: as compute's trans_b form, the batch folded into the rows
      const int64_t rows = shape_numel(s.batch) * m;
      if (da) batched_.run(matrix_view({}, rows, n, false), matrix_view({}, n, k, false), matrix_view({}, rows, k, false),
                           dy, b, da, bf16);
      if (db) batched_.run(matrix_view({}, rows, n, true), matrix_view({}, rows, k, false), matrix_view({}, n, k, false),
                           dy, a, db, bf16);
      return true;
    }
    if (s.batch.size() + 2 > DNNL_MAX_NDIMS) return false;
    if (shape_numel(s.b_batch) == 1) {
      // One B for every batch (a linear layer): the batch folds into the rows.
      // dA [rows, K] = dY [rows, N] @ B^T;  dB [K, N] = A^T [K, rows] @ dY [rows, N].
      const int64_t rows = shape_numel(s.batch) * m;
      if (da) batched_.run(matrix_view({}, rows, n, false), matrix_view({}, k, n, true), matrix_view({}, rows, k, false),
                           dy, b, da, bf16);
      if (db) batched_.run(matrix_view({}, rows, k, true), matrix_view({}, rows, n, false), matrix_view({}, k, n, false),
                           a, dy, db, bf16);
      return true;
    }
    if ((da && s.a_batch != s.batch) || (db && s.b_batch != s.batch)) return false;
    if (da)  // dA = dY @ B^T, B's batch broadcast by oneDNN
      batched_.run(matrix_view(s.batch, m, n, false), matrix_view(s.b_batch, k, n, true),
                   matrix_view(s.batch, m, k, false), dy, b, da, bf16);
    if (db)  // dB = A^T @ dY
      batched_.run(matrix_view(s.a_batch, m, k, true), matrix_view(s.batch, m, n, false),
                   matrix_view(s.batch, k, n, false), a, dy, db, bf16);
    return true;
  }

  // Matrix t of `out` (each `size` elements) = the sum over i in groups[t] of the terms
  // term(i, dst, overwrite), each a single-threaded gemm writing (or adding) into dst; false
  // when a term failed. Parallel over the matrices when there are at least as many as
  // threads; else over each matrix's terms, into per-thread partial sums added at the end
  // (a loop of small multi-threaded gemms is slow, worse on a busy machine).
  template <typename T, typename Term>
  static bool sum_terms(const std::vector<std::vector<int64_t>>& groups, int64_t size, T* out, Term term) {
    const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    const int64_t count = static_cast<int64_t>(groups.size());
    std::atomic<bool> ok{true};  // no exception may leave an OpenMP region
    auto sum_into = [&](const std::vector<int64_t>& terms, size_t first, size_t step, T* dst) {
      for (size_t j = first; j < terms.size(); j += step)
        if (!term(terms[j], dst, j == first)) ok = false;
    };
    if (threads > 1 && count >= threads) {
#pragma omp parallel for schedule(dynamic)
      for (int64_t t = 0; t < count; ++t) sum_into(groups[static_cast<size_t>(t)], 0, 1, out + t * size);
      return ok;
    }
    std::vector<T> partial;
    for (int64_t t = 0; t < count; ++t) {
      const std::vector<int64_t>& terms = groups[static_cast<size_t>(t)];
      T* dst = out + t * size;
      const int workers = static_cast<int>(std::min<size_t>(static_cast<size_t>(threads), terms.size()));
      if (workers <= 1) {
        sum_into(terms, 0, 1, dst);
        continue;
      }
      partial.resize(static_cast<size_t>((workers - 1) * size));
      // Each share w exactly once, even if the team is smaller than asked for.
#pragma omp parallel num_threads(workers)
      for (int w = omp_get_thread_num(); w < workers; w += omp_get_num_threads())
        sum_into(terms, static_cast<size_t>(w), static_cast<size_t>(workers),
                 w == 0 ? dst : partial.data() + (w - 1) * size);
      for (int w = 1; w < workers; ++w)
        for (int64_t e = 0; e < size; ++e) dst[e] += partial[static_cast<size_t>((w - 1) * size + e)];
    }
    return ok;
  }

  const Node& node_;
  const bool trans_b_;  // the gradient of FusedMatMul(A, B, trans_b = 1): B stored [N, K]
  BatchedMatMul batched_;
  std::vector<float> dy32_, a32_, b32_, da32_, db32_;  // float32 copies (float16 / bfloat16)
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(matmul_grad) { registry.add<MatMulGradKernel>("MatMulGrad", {1}, kProjectDomain); }

}  // namespace onnx_train
