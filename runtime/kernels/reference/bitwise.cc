// The bitwise ops of ONNX opset 18 (BitwiseAnd, BitwiseOr, BitwiseXor, BitwiseNot) as kernels
// of the project's domain (ai.onnx_train, version 1): opset-18 models reach them through the
// lowering of importers/lowerings/indexing.cc, since opset 17, where the runtime's ONNX
// schemas end, has no such op.
//
// Integer types only (signed and unsigned, 8 to 64 bits); the binary ops broadcast as numpy
// does and both inputs have one type. No gradient (integer outputs).
#include "runtime/core/dispatch.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/reference/elementwise_loops.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

enum class Bitwise { And, Or, Xor };

bool is_integer(DType d) {
  return d == DType::Int8 || d == DType::Int16 || d == DType::Int32 || d == DType::Int64 || d == DType::UInt8 ||
         d == DType::UInt16 || d == DType::UInt32 || d == DType::UInt64;
}

void check_integer(const Node& node, const Tensor& t, const char* what) {
  OT_CHECK(is_integer(t.dtype()), "{}: {} {} is not an integer tensor; bitwise ops take integer types", node.label(),
           what, t.describe());
}

// C = A op B bit by bit, A and B of one integer type, broadcast.
template <Bitwise Op>
class BitwiseBinaryKernel : public Kernel {
 public:
  explicit BitwiseBinaryKernel(const KernelInfo& info) : node_(info.node) {}

  void run(KernelContext& ctx) override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    check_integer(node_, a, "A");
    OT_CHECK(a.dtype() == b.dtype(), "{}: inputs have different element types ({} and {}); insert a Cast",
             node_.label(), a.describe(), b.describe());
    Shape out_shape;
    try {
      out_shape = broadcast_shapes(a.shape(), b.shape());
    } catch (const Error&) {
      OT_FAIL("{}: inputs {} and {} do not broadcast", node_.label(), a.describe(), b.describe());
    }
    Tensor& c = ctx.allocate_output(0, a.dtype(), out_shape);
    visit_integer(a.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      broadcast_binary(a.data<T>(), a.shape(), b.data<T>(), b.shape(), c.data<T>(), out_shape, [](T x, T y) {
        if constexpr (Op == Bitwise::And) return static_cast<T>(x & y);
        if constexpr (Op == Bitwise::Or) return static_cast<T>(x | y);
        return static_cast<T>(x ^ y);
      });
    });
  }

 private:
  const Node& node_;
};

// Y = ~X bit by bit.
class BitwiseNotKernel : public Kernel {
 public:
  explicit BitwiseNotKernel(const KernelInfo& info) : node_(info.node) {}

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    check_integer(node_, x, "X");
    Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
    visit_integer(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      map_unary(x.data<T>(), y.data<T>(), x.numel(), [](T v) { return static_cast<T>(~v); });
    });
  }

 private:
  const Node& node_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(bitwise) {
  registry.add<BitwiseBinaryKernel<Bitwise::And>>("BitwiseAnd", {1}, kProjectDomain);
  registry.add<BitwiseBinaryKernel<Bitwise::Or>>("BitwiseOr", {1}, kProjectDomain);
  registry.add<BitwiseBinaryKernel<Bitwise::Xor>>("BitwiseXor", {1}, kProjectDomain);
  registry.add<BitwiseNotKernel>("BitwiseNot", {1}, kProjectDomain);
}

}  // namespace onnx_train
