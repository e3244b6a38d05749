// Linear-algebra kernels: MatMul, FusedMatMul (ai.onnx_train) and Gemm (MatMulInteger, plain
// loops, is in reference/matmul_integer.cc).
//
// float32 runs on oneDNN's matmul primitive, built once per shape and cached in the kernel;
// bfloat16 too, in bfloat16 with float32 accumulation, where oneDNN has bf16
// (dnnl_common::native_bf16; Gemm only without C); float16 and the other bfloat16 cases are
// widened to float32, computed and rounded (the reference of the bfloat16 path); float64 and
// the integer types run the plain-loop references of reference/linalg_ref.h.
#include <cstring>
#include <map>
#include <unordered_map>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/dnnl/dnnl_common.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/reference/linalg_ref.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

using dnnl::memory;

// A strided view of a matmul operand: dims (batch..., rows, cols) and element strides.
struct Operand {
  memory::dims dims;
  memory::dims strides;
};

Operand plain_operand(memory::dims dims) {
  Operand op{std::move(dims), {}};
  op.strides = strides_of(Shape(op.dims.begin(), op.dims.end()));
  return op;
}

// oneDNN matmul primitives, one per distinct problem (shapes, strides, alpha, bias,
// accumulate), built on first use and cached.
// Computes Y = alpha * A x B (+ bias [1, N] broadcast over the rows) (+ Y when `accumulate`)
// with oneDNN's batch broadcasting.
class DnnlMatMul {
 public:
  // `dt`: the type of A, B and Y (f32, or bf16 with f32 accumulation inside oneDNN); the bias
  // is float32.
  void run(const Operand& a, const Operand& b, const memory::dims& y_dims, float alpha, bool accumulate,
           const void* a_data, const void* b_data, void* y_data, const float* bias = nullptr,
           memory::data_type dt = memory::data_type::f32) {
    std::vector<int64_t> key;
    for (const auto* v : {&a.dims, &a.strides, &b.dims, &b.strides, &y_dims}) {
      key.push_back(static_cast<int64_t>(v->size()));
      key.insert(key.end(), v->begin(), v->end());
    }
    key.push_back((accumulate ? 1 : 0) + (bias != nullptr ? 2 : 0));
    key.push_back(static_cast<int64_t>(dt));
    int32_t alpha_bits;
    std::memcpy(&alpha_bits, &alpha, sizeof alpha_bits);
    key.push_back(alpha_bits);

    auto it = cache_.find(key);
    if (it == cache_.end()) it = cache_.emplace(std::move(key), build(a, b, y_dims, alpha, accumulate, bias, dt)).first;
    const Entry& e = it->second;
    auto wrap = [](const memory::desc& d, const void* p) {
      return memory(d, dnnl_common::cpu_engine(), const_cast<void*>(p));
    };
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, wrap(e.a, a_data)}, {DNNL_ARG_WEIGHTS, wrap(e.b, b_data)}, {DNNL_ARG_DST, wrap(e.y, y_data)}};
    if (bias != nullptr) args.emplace(DNNL_ARG_BIAS, dnnl_common::wrap_f32(e.bias, bias));
    e.primitive.execute(dnnl_common::cpu_stream(), args);
    dnnl_common::cpu_stream().wait();
  }

 private:
  struct Entry {
    memory::desc a, b, y, bias;
    dnnl::matmul primitive;
  };

  static Entry build(const Operand& a, const Operand& b, const memory::dims& y_dims, float alpha, bool accumulate,
                     const float* bias, memory::data_type dt) {
    Entry e{memory::desc(a.dims, dt, a.strides), memory::desc(b.dims, dt, b.strides),
            memory::desc(y_dims, dt, strides_of(Shape(y_dims.begin(), y_dims.end()))), memory::desc(), {}};
    dnnl::primitive_attr attr;
    if (alpha != 1.f) attr.set_output_scales(0, {alpha});
    if (accumulate) {
      dnnl::post_ops ops;
      ops.append_sum(1.f);
      attr.set_post_ops(ops);
    }
    if (bias != nullptr) {
      memory::dims bias_dims(y_dims.size(), 1);
      bias_dims.back() = y_dims.back();
      e.bias = dnnl_common::plain_f32_desc(bias_dims);
    }
    const dnnl::matmul::desc d =
        bias != nullptr ? dnnl::matmul::desc(e.a, e.b, e.bias, e.y) : dnnl::matmul::desc(e.a, e.b, e.y);
    e.primitive = dnnl::matmul(dnnl::matmul::primitive_desc(d, attr, dnnl_common::cpu_engine()));
    return e;
  }

  std::map<std::vector<int64_t>, Entry> cache_;
};

// Largest rank oneDNN takes (DNNL_MAX_NDIMS).
constexpr size_t kMaxDnnlRank = DNNL_MAX_NDIMS;

// The integer element types MatMul-9+ and Gemm-9+ allow.
template <typename F>
void visit_matmul_integer(DType dtype, const std::string& who, F&& f) {
  switch (dtype) {
    case DType::Int32: f(TypeTag<int32_t>{}); return;
    case DType::Int64: f(TypeTag<int64_t>{}); return;
    case DType::UInt32: f(TypeTag<uint32_t>{}); return;
    case DType::UInt64: f(TypeTag<uint64_t>{}); return;
    default:
      OT_FAIL(
          "{}: element type {} is not supported (expected float16, bfloat16, float32, float64, int32, int64, "
          "uint32 or uint64)",
          who, dtype_name(dtype));
  }
}

// B [N, K] transposed into a new [K, N] tensor (the reference path of FusedMatMul: float64
// and the integer types, and ranks beyond oneDNN's).
template <typename T>
Tensor transposed_matrix(const Tensor& b) {
  const int64_t rows = b.dim(0), cols = b.dim(1);
  Tensor t(b.dtype(), {cols, rows});
  const T* src = b.data<T>();
  T* dst = t.data<T>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = src[r * cols + c];
  return t;
}

// MatMul (1, 9, 13): Y = A x B with numpy matmul semantics.
//   A [..., M, K], B [..., K, N] -> Y [broadcast(...), M, N]; a 1-D A is [1, K] and a 1-D B
//   is [K, 1], with the promoted dimension dropped from Y.
// FusedMatMul (ai.onnx_train, 1; made by runtime/transforms/transposed_matmul.h) with
// trans_b = 1: Y = A x B^T with B a matrix stored [N, K] (a torch nn.Linear weight [out, in]),
// the MatMul(A, Transpose(W)) of an exported model without the transposed copy of W: oneDNN
// reads B through the strides (1, K) of its [K, N] view. With trans_b = 0 it is MatMul.
// The same kernel class: the product, its batch folding and its dtypes are MatMul's; only the
// strides of B differ.
class MatMulKernel : public Kernel {
 public:
  explicit MatMulKernel(const KernelInfo& info)
      : node_(info.node), trans_b_(info.node.domain == kProjectDomain && info.node.attr_int("trans_b", 0) != 0) {}

  void run(KernelContext& ctx) override {
    const Tensor& a = ctx.input(0);
    const Tensor& stored_b = ctx.input(1);
    OT_CHECK(a.dtype() == stored_b.dtype(), "{}: A is {} but B is {}; both inputs must have the same element type",
             node_.label(), a.describe(), stored_b.describe());
    OT_CHECK(!trans_b_ || stored_b.rank() == 2, "{}: with trans_b = 1, B must be a matrix [N, K], but it is {}",
             node_.label(), stored_b.describe());
    // The logical B [K, N] of the product (B^T of the stored [N, K] when trans_b).
    const MatMulShape s =
        matmul_shape(a.shape(), trans_b_ ? Shape{stored_b.dim(1), stored_b.dim(0)} : stored_b.shape(), node_.label());
    // The paths that read B plainly (float64, integers, ranks beyond oneDNN's) get a transposed
    // copy; oneDNN reads the stored B through strides.
    Tensor b_copy;
    auto plain_b = [&](auto tag) -> const Tensor& {
      using T = typename decltype(tag)::type;
      if (!trans_b_) return stored_b;
      if (!b_copy.defined()) b_copy = transposed_matrix<T>(stored_b);
      return b_copy;
    };
    const Tensor& b = stored_b;
    // oneDNN writes every element of Y (float32, K > 0, within its rank); the other paths
    // accumulate into Y or leave it as the empty sum, so they start from zeros.
    // oneDNN writes every element of Y (float32, K > 0, within its rank), and so does the
    // rounding of a widened bfloat16 product; the other paths accumulate into Y or leave it as
    // the empty sum, so they start from zeros.
    // With trans_b, B is one matrix: the batch folds into M and oneDNN takes any rank of A.
    const bool within_rank = s.k > 0 && (trans_b_ || s.batch.size() + 2 <= kMaxDnnlRank);
    const bool overwritten = (a.dtype() == DType::Float32 || a.dtype() == DType::BFloat16) && within_rank;
    Tensor& y = overwritten ? ctx.allocate_output_to_overwrite(0, a.dtype(), s.output)
                            : ctx.allocate_output(0, a.dtype(), s.output);
    if (y.numel() == 0 || s.k == 0) return;  // empty, or an empty sum: zeros

    if (a.dtype() == DType::BFloat16 && within_rank && dnnl_common::native_bf16()) {
      // bfloat16 A, B, Y with float32 accumulation inside oneDNN.
      run_dnnl(s, a.data<BFloat16>(), b.data<BFloat16>(), y.data<BFloat16>(), memory::data_type::bf16);
    } else if (a.dtype() == DType::Float32 || a.dtype() == DType::BFloat16 || a.dtype() == DType::Float16) {
      // float16 and bfloat16 widen into kernel-owned buffers, multiply in float32 and round once.
      const float* a32 = to_float32(a, a32_);
      const float* b32 = to_float32(b, b32_);
      if (a.dtype() == DType::Float32) {
        run_float32(s, a32, b32, y.data<float>());
      } else {
        y32_.resize(static_cast<size_t>(y.numel()));
        std::fill(y32_.begin(), y32_.end(), 0.f);
        run_float32(s, a32, b32, y32_.data());
        store_float32(y32_.data(), y);
      }
    } else if (a.dtype() == DType::Float64) {
      matmul_ref(s, a.data<double>(), plain_b(TypeTag<double>{}).data<double>(), y.data<double>());
    } else {
      visit_matmul_integer(a.dtype(), node_.label(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        matmul_ref(s, a.data<T>(), plain_b(tag).template data<T>(), y.data<T>());
      });
    }
  }

 private:
  void run_float32(const MatMulShape& s, const float* a, const float* b, float* y) {
    if (!trans_b_ && s.batch.size() + 2 > kMaxDnnlRank) {
      matmul_ref(s, a, b, y);
      return;
    }
    run_dnnl(s, a, b, y, memory::data_type::f32);
  }

  // Y = A x B on oneDNN, A, B, Y of type dt (at most oneDNN's rank).
  void run_dnnl(const MatMulShape& s, const void* a, const void* b, void* y, memory::data_type dt) {
    bool b_broadcast = true;  // B is one matrix for every batch: fold A's batch into M
    for (int64_t d : s.b_batch) b_broadcast &= d == 1;
    if (b_broadcast) {
      const int64_t rows = shape_numel(s.batch) * s.m;
      // B^T when trans_b: the stored [N, K] read as [K, N] through strides (1, K).
      const Operand b_view = trans_b_ ? Operand{{s.k, s.n}, {1, s.k}} : plain_operand({s.k, s.n});
      dnnl_.run(plain_operand({rows, s.k}), b_view, {rows, s.n}, 1.f, false, a, b, y, nullptr, dt);
      return;
    }
    memory::dims a_dims(s.a_batch.begin(), s.a_batch.end()), b_dims(s.b_batch.begin(), s.b_batch.end());
    memory::dims y_dims(s.batch.begin(), s.batch.end());
    a_dims.insert(a_dims.end(), {s.m, s.k});
    b_dims.insert(b_dims.end(), {s.k, s.n});
    y_dims.insert(y_dims.end(), {s.m, s.n});
    dnnl_.run(plain_operand(a_dims), plain_operand(b_dims), y_dims, 1.f, false, a, b, y, nullptr, dt);
  }

  const Node& node_;
  const bool trans_b_;  // FusedMatMul: B stored [N, K], the product reads B^T
  DnnlMatMul dnnl_;
  std::vector<float> a32_, b32_, y32_;  // float32 copies of float16 / bfloat16 operands
};

// Gemm (7, 9, 11, 13): Y [M, N] = alpha * op(A) x op(B) + beta * C.
//   op(A) = A^T when transA (A is [K, M]) else A [M, K]; likewise op(B) [K, N].
//   C broadcasts unidirectionally to [M, N]; it is optional (0) from Gemm-11 on.
class GemmKernel : public Kernel {
 public:
  explicit GemmKernel(const KernelInfo& info)
      : node_(info.node),
        alpha_(info.node.attr_float("alpha", 1.f)),
        beta_(info.node.attr_float("beta", 1.f)),
        trans_a_(info.node.attr_int("transA", 0) != 0),
        trans_b_(info.node.attr_int("transB", 0) != 0) {
    OT_CHECK(node_.since_version >= 11 || node_.has_input(2),
             "{}: Gemm-{} needs input C (C is optional only from opset 11); pass a zero bias or use opset >= 11",
             node_.label(), node_.since_version);
  }

  void run(KernelContext& ctx) override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    OT_CHECK(a.rank() == 2 && b.rank() == 2, "{}: A {} and B {} must both be matrices (rank 2)", node_.label(),
             a.describe(), b.describe());
    OT_CHECK(a.dtype() == b.dtype(), "{}: A is {} but B is {}; both inputs must have the same element type",
             node_.label(), a.describe(), b.describe());
    const int64_t m = trans_a_ ? a.dim(1) : a.dim(0);
    const int64_t k = trans_a_ ? a.dim(0) : a.dim(1);
    const int64_t kb = trans_b_ ? b.dim(1) : b.dim(0);
    const int64_t n = trans_b_ ? b.dim(0) : b.dim(1);
    OT_CHECK(k == kb,
             "{}: inner dimensions differ: op(A) is [{}, {}] (A {}, transA={}) but op(B) is [{}, {}] (B {}, "
             "transB={})",
             node_.label(), m, k, shape_str(a.shape()), trans_a_, kb, n, shape_str(b.shape()), trans_b_);
    const Tensor* c = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    std::vector<int64_t> c_strides{0, 0};
    if (c != nullptr) {
      OT_CHECK(c->dtype() == a.dtype(), "{}: C is {} but A is {}; they must have the same element type", node_.label(),
               c->describe(), a.describe());
      bool fits = c->rank() <= 2;
      for (int i = 0; fits && i < c->rank(); ++i) {
        const int64_t want = i == c->rank() - 1 ? n : m;
        fits = c->dim(i) == 1 || c->dim(i) == want;
      }
      OT_CHECK(fits, "{}: C {} does not broadcast to the output shape [{}, {}]", node_.label(), c->describe(), m, n);
      c_strides = broadcast_strides(c->shape(), {m, n});
    }
    // bfloat16 without C (autocast adds Gemm's bias after the Cast back to float32): oneDNN in
    // bfloat16 with float32 accumulation.
    const bool native_bf16 =
        a.dtype() == DType::BFloat16 && dnnl_common::native_bf16() && k > 0 && (c == nullptr || beta_ == 0.f);
    // Float32 with K > 0: run_float32 writes every element (beta * C first, or oneDNN alone).
    Tensor& y = (a.dtype() == DType::Float32 && k > 0) || native_bf16
                    ? ctx.allocate_output_to_overwrite(0, a.dtype(), {m, n})
                    : ctx.allocate_output(0, a.dtype(), {m, n});
    if (y.numel() == 0) return;

    if (native_bf16) {
      dnnl_.run(operand_a(m, k), operand_b(k, n), {m, n}, alpha_, false, a.data<BFloat16>(), b.data<BFloat16>(),
                y.data<BFloat16>(), nullptr, memory::data_type::bf16);
    } else if (dtype_is_float(a.dtype()) && a.dtype() != DType::Float64) {
      const Tensor a32 = to_float32(a);
      const Tensor b32 = to_float32(b);
      const Tensor c32 = c != nullptr ? to_float32(*c) : Tensor();
      Tensor y32 = a.dtype() == DType::Float32 ? y : Tensor(DType::Float32, {m, n});
      run_float32(m, n, k, a32.data<float>(), b32.data<float>(), c != nullptr ? c32.data<float>() : nullptr, c_strides,
                  y32.data<float>());
      if (a.dtype() != DType::Float32) store_float32(y32, y);
    } else if (a.dtype() == DType::Float64) {
      run_ref<double>(m, n, k, a, b, c, c_strides, y);
    } else {
      visit_matmul_integer(a.dtype(), node_.label(),
                           [&](auto tag) { run_ref<typename decltype(tag)::type>(m, n, k, a, b, c, c_strides, y); });
    }
  }

 private:
  template <typename T>
  void run_ref(int64_t m, int64_t n, int64_t k, const Tensor& a, const Tensor& b, const Tensor* c,
               const std::vector<int64_t>& c_strides, Tensor& y) const {
    gemm_ref(trans_a_, trans_b_, m, n, k, alpha_, a.data<T>(), b.data<T>(), beta_,
             c != nullptr ? c->data<T>() : nullptr, c_strides[0], c_strides[1], y.data<T>());
  }

  // y = beta * C (broadcast), then oneDNN adds alpha * op(A) x op(B) onto it; a bias row C
  // ([N] or [1, N]) with alpha = beta = 1 goes to oneDNN as the matmul's bias instead (one
  // pass over y). NOTE: oneDNN scales the bias by its output scale too, hence alpha 1.
  void run_float32(int64_t m, int64_t n, int64_t k, const float* a, const float* b, const float* c,
                   const std::vector<int64_t>& c_strides, float* y) {
    const bool with_c = c != nullptr && beta_ != 0.f;
    const bool bias_row =
        with_c && beta_ == 1.f && alpha_ == 1.f && c_strides[0] == 0 && (c_strides[1] == 1 || n == 1) && k > 0;
    if (with_c && !bias_row)
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) y[i * n + j] = beta_ * c[i * c_strides[0] + j * c_strides[1]];
    if (k == 0) return;  // the product is an empty sum
    dnnl_.run(operand_a(m, k), operand_b(k, n), {m, n}, alpha_, with_c && !bias_row, a, b, y, bias_row ? c : nullptr);
  }

  // op(A) [M, K] and op(B) [K, N] as strided views of A and B (no transposed copy).
  Operand operand_a(int64_t m, int64_t k) const {
    return {{m, k}, trans_a_ ? memory::dims{1, m} : memory::dims{k, 1}};
  }
  Operand operand_b(int64_t k, int64_t n) const {
    return {{k, n}, trans_b_ ? memory::dims{1, k} : memory::dims{n, 1}};
  }

  const Node& node_;
  const float alpha_;
  const float beta_;
  const bool trans_a_;
  const bool trans_b_;
  DnnlMatMul dnnl_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(linalg) {
  registry.add<MatMulKernel>("MatMul", {1, 9, 13});
  registry.add<MatMulKernel>("FusedMatMul", {1}, kProjectDomain);
  registry.add<GemmKernel>("Gemm", {7, 9, 11, 13});
}

}  // namespace onnx_train
