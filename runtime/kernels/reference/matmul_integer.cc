// MatMulInteger-10 as plain loops (reference/linalg_ref.h: matmul_integer_ref): int8/uint8
// matrices with zero points, int32 products.
#include "runtime/core/dispatch.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/reference/linalg_ref.h"
#include "runtime/kernels/registry.h"

namespace onnx_train {

namespace {

// MatMulInteger (10): Y (int32) = (A - a_zero_point) x (B - b_zero_point), numpy matmul
// shapes; A and B are int8 or uint8. a_zero_point is a scalar or one value per row of A
// ([M]); b_zero_point a scalar or one value per column of B ([N]).
class MatMulIntegerKernel : public Kernel {
 public:
  explicit MatMulIntegerKernel(const KernelInfo& info) : node_(info.node) {}

  void run(KernelContext& ctx) override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    const MatMulShape s = matmul_shape(a.shape(), b.shape(), node_.label());
    const Tensor* a_zero = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    const Tensor* b_zero = ctx.has_input(3) ? &ctx.input(3) : nullptr;
    const int64_t a_zero_count = zero_point_count(a_zero, a, s.m, "a_zero_point", "rows of A (M)");
    const int64_t b_zero_count = zero_point_count(b_zero, b, s.n, "b_zero_point", "columns of B (N)");
    Tensor& y = ctx.allocate_output(0, DType::Int32, s.output);
    if (y.numel() == 0) return;
    visit_int8(a.dtype(), [&](auto ta) {
      using TA = typename decltype(ta)::type;
      visit_int8(b.dtype(), [&](auto tb) {
        using TB = typename decltype(tb)::type;
        matmul_integer_ref(s, a.data<TA>(), a_zero != nullptr ? a_zero->data<TA>() : nullptr, a_zero_count,
                           b.data<TB>(), b_zero != nullptr ? b_zero->data<TB>() : nullptr, b_zero_count,
                           y.data<int32_t>());
      });
    });
  }

 private:
  template <typename F>
  void visit_int8(DType dtype, F&& f) const {
    if (dtype == DType::Int8)
      f(TypeTag<int8_t>{});
    else if (dtype == DType::UInt8)
      f(TypeTag<uint8_t>{});
    else
      OT_FAIL("{}: element type {} is not supported (MatMulInteger takes int8 or uint8)", node_.label(),
              dtype_name(dtype));
  }

  // 0 when absent, 1 for a per-tensor zero point, `per_slice` for one per row/column.
  int64_t zero_point_count(const Tensor* zero, const Tensor& x, int64_t per_slice, const char* name,
                           const char* slices) const {
    if (zero == nullptr) return 0;
    OT_CHECK(zero->dtype() == x.dtype(), "{}: {} is {} but its matrix is {}; they must have the same type",
             node_.label(), name, zero->describe(), x.describe());
    if (zero->numel() == 1) return 1;
    OT_CHECK(zero->rank() == 1 && zero->numel() == per_slice,
             "{}: {} {} is not supported: give a scalar or a 1-D tensor with one value per {} ({} values)",
             node_.label(), name, zero->describe(), slices, per_slice);
    return per_slice;
  }

  const Node& node_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(matmul_integer) { registry.add<MatMulIntegerKernel>("MatMulInteger", {10}); }

}  // namespace onnx_train
