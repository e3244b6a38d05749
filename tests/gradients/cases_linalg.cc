// Gradient check rows of the linear-algebra rules (MatMul, Gemm, Einsum), CumSum and the
// reductions of rules/linalg.cc.
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

namespace {

// A 0-D int64 tensor (CumSum's axis).
Tensor int64_scalar(int64_t value) { return Tensor::scalar<int64_t>(value); }

}  // namespace

ONNX_TRAIN_GRAD_CASES(linalg) {
  std::vector<GradCase> rows = {
      // MatMul: 2-D, batched with broadcasting on either side, and the 1-D forms.
      GradCase("MatMul", 13).inputs({2, 3}, {3, 4}).output({2, 4}),
      GradCase("MatMul", 13).inputs({2, 2, 3}, {3, 4}).output({2, 2, 4}),
      GradCase("MatMul", 13).inputs({3, 4}, {2, 4, 5}).output({2, 3, 5}),
      GradCase("MatMul", 13).inputs({2, 3, 3}, {3, 3}),  // A has Y's shape
      GradCase("MatMul", 9).inputs({2, 1, 2, 3}, {3, 3, 2}).output({2, 3, 2, 2}),
      GradCase("MatMul", 13).inputs({2, 3, 2, 3}, {2, 1, 3, 2}).output({2, 3, 2, 2}),
      GradCase("MatMul", 7).inputs({2, 3}, {1, 3, 4}).output({1, 2, 4}),
      GradCase("MatMul", 13).inputs({3}, {3, 4}).output({4}),
      GradCase("MatMul", 13).inputs({3}, {3, 3}),  // the vector has Y's shape
      GradCase("MatMul", 7).inputs({3}, {2, 3, 4}).output({2, 4}),
      GradCase("MatMul", 13).inputs({3}, {2, 2, 3, 4}).output({2, 2, 4}),
      GradCase("MatMul", 13).inputs({2, 3}, {3}).output({2}),
      GradCase("MatMul", 7).inputs({2, 2, 3}, {3}).output({2, 2}),
      GradCase("MatMul", 13).inputs({2, 2, 3}, {3}).output({2, 2}),
      GradCase("MatMul", 13).inputs({4}, {4}).output({}),
      GradCase("MatMul", 9).inputs({4}, {4}).output({}),
      // Batch axes broadcast on both sides, and a vector with a 4-D matrix stack.
      GradCase("MatMul", 13).inputs({2, 1, 3, 4}, {5, 4, 2}).output({2, 5, 3, 2}),
      GradCase("MatMul", 13).inputs({1, 3, 4}, {2, 1, 4, 2}).output({2, 1, 3, 2}),
      GradCase("MatMul", 13).inputs({2, 1, 2, 3}, {3}).output({2, 1, 2}),

      // FusedMatMul(trans_b = 1): A @ B^T with B a matrix stored [N, K]; A 2-D, batched, 1-D.
      GradCase("FusedMatMul", 13).inputs({2, 3}, {4, 3}).output({2, 4}).attr("trans_b", 1).domain("ai.onnx_train"),
      GradCase("FusedMatMul", 13).inputs({2, 2, 3}, {4, 3}).output({2, 2, 4}).attr("trans_b", 1).domain("ai.onnx_train"),
      GradCase("FusedMatMul", 13).inputs({3}, {4, 3}).output({4}).attr("trans_b", 1).domain("ai.onnx_train"),
      GradCase("FusedMatMul", 13).inputs({2, 3}, {3, 4}).output({2, 4}).domain("ai.onnx_train"),  // trans_b = 0

      // Gemm: transposes, alpha/beta, C broadcast or absent (from 11).
      GradCase("Gemm", 13).inputs({2, 3}, {3, 4}, {2, 4}).output({2, 4}),
      GradCase("Gemm", 13)
          .inputs({3, 2}, {3, 4}, {4})
          .output({2, 4})
          .attr("transA", 1)
          .attr("alpha", 0.5f)
          .attr("beta", 2.0f),
      GradCase("Gemm", 11).inputs({2, 3}, {4, 3}, {2, 1}).output({2, 4}).attr("transB", 1).attr("alpha", 1.5f),
      GradCase("Gemm", 13)
          .inputs({3, 2}, {4, 3}, {})
          .output({2, 4})
          .attr("transA", 1)
          .attr("transB", 1)
          .attr("beta", 0.25f),
      GradCase("Gemm", 13).inputs({2, 3}, {3, 4}).output({2, 4}).attr("alpha", 2.0f),  // no C
      GradCase("Gemm", 11).inputs({3, 2}, {4, 3}).output({2, 4}).attr("transA", 1).attr("transB", 1),
      GradCase("Gemm", 7)
          .inputs({3, 2}, {4, 3}, {1, 4})
          .output({2, 4})
          .attr("transA", 1)
          .attr("transB", 1)
          .attr("alpha", 0.5f)
          .attr("beta", 1.5f),
      GradCase("Gemm", 9).inputs({2, 3}, {3, 4}, {2, 4}).output({2, 4}).attr("transB", 0).attr("beta", -1.0f),

      // CumSum: axis as a 0-D or 1-D input; reverse / exclusive.
      GradCase("CumSum", 14).input({3, 4}).fixed(1, int64_scalar(1)),
      GradCase("CumSum", 14).input({3, 4}).attr("reverse", 1).fixed(1, int64s({0})),
      GradCase("CumSum", 14).input({2, 3, 4}).attr("exclusive", 1).fixed(1, int64_scalar(-2)),
      GradCase("CumSum", 11).input({5}).attr("exclusive", 1).attr("reverse", 1).fixed(1, int64_scalar(0)),
      GradCase("CumSum", 11).input({2, 5}).fixed(1, int64_scalar(1)),

      // Einsum: the explicit two-operand forms, implicit output, one operand, ellipsis
      // broadcasting and letters summed away within one operand.
      GradCase("Einsum", 12).inputs({2, 3}, {3, 4}).output({2, 4}).attr("equation", "ij,jk->ik"),
      GradCase("Einsum", 12).inputs({2, 2, 3}, {2, 3, 4}).output({2, 2, 4}).attr("equation", "bij,bjk->bik"),
      GradCase("Einsum", 13).inputs({4}, {4}).output({}).attr("equation", "i,i->"),
      GradCase("Einsum", 13).inputs({2, 3}, {3, 4}).output({2, 4}).attr("equation", "ij, jk"),
      GradCase("Einsum", 13).inputs({2, 3}, {4, 3}).output({2, 4}).attr("equation", "ij,kj->ik"),
      GradCase("Einsum", 13).inputs({2, 3}, {3}).output({3, 2}).attr("equation", "ij,j->ji"),
      GradCase("Einsum", 13).inputs({2}, {3}).output({2, 3}).attr("equation", "i,j->ij"),
      GradCase("Einsum", 13).inputs({2, 3}, {3, 4}).output({2}).attr("equation", "ij,jk->i"),
      GradCase("Einsum", 13).input({2, 3, 4}).output({4, 2}).attr("equation", "ijk->ki"),
      GradCase("Einsum", 12).input({2, 3}).output({}).attr("equation", "ij->"),
      GradCase("Einsum", 13).inputs({2, 3}, {3}, {3, 2}).output({2, 2}).attr("equation", "ij,j,jk->ik"),
      GradCase("Einsum", 13).inputs({2, 2, 3}, {1, 3, 4}).output({2, 2, 4}).attr("equation", "...ij,...jk->...ik"),
      GradCase("Einsum", 13).inputs({3, 2, 5}, {2, 4}).output({3, 4}).attr("equation", "...jx,jk->...k"),
      GradCase("Einsum", 13).inputs({2, 2, 3}, {1, 3, 4}).output({2, 4}).attr("equation", "...ij,...jk->ik"),
      GradCase("Einsum", 13).input({2, 3, 4}).output({2, 4}).attr("equation", "i...j->ij"),
      GradCase("Einsum", 13).inputs({3, 2, 4}, {4, 5}).output({3, 5}).attr("equation", "i...j,jk->ik"),
  };

  // The reductions: keepdims 1 / 0, axes (negative too) or none, an old-opset row each.
  for (const char* op : {"ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare",
                         "ReduceLogSum", "ReduceLogSumExp"}) {
    const std::string name = op;
    const bool positive = name == "ReduceLogSum";
    rows.push_back(GradCase(op, 13).input({2, 3, 4}).output({1, 1, 1}).positive(positive));
    rows.push_back(GradCase(op, 13).input({2, 3, 4}).output({}).positive(positive).attr("keepdims", 0));
    rows.push_back(GradCase(op, 13).input({2, 3, 4}).output({2, 1, 4}).positive(positive).attr("axes", {1}));
    rows.push_back(
        GradCase(op, 13).input({2, 3, 4}).output({3}).positive(positive).attr("keepdims", 0).attr("axes", {0, -1}));
    rows.push_back(
        GradCase(op, 11).input({2, 3, 4}).output({2, 4}).positive(positive).attr("keepdims", 0).attr("axes", {-2}));
    rows.push_back(GradCase(op, 7).input({3, 4}).output({3}).positive(positive).attr("keepdims", 0).attr("axes", {1}));
    rows.push_back(GradCase(op, 7).input({3, 4}).output({1, 4}).positive(positive).attr("axes", {0}));
  }
  rows.push_back(GradCase("ReduceMax", 12).input({4, 3}).output({4}).attr("keepdims", 0).attr("axes", {1}));
  rows.push_back(GradCase("ReduceMin", 12).input({4, 3}).output({1, 3}).attr("axes", {0}));
  // Det: one matrix, 1 x 1, batched (two batch axes).
  rows.push_back(GradCase("Det", 11).input({3, 3}).output({}));
  rows.push_back(GradCase("Det", 13).input({1, 1}).output({}));
  rows.push_back(GradCase("Det", 17).input({2, 3, 2, 2}).output({2, 3}));
  rows.push_back(GradCase("Det", 11).input({2, 4, 4}).output({2}));
  // DFT: real / complex input, inverse, onesided (even and odd lengths), dft_length padding
  // and truncating the signal, another axis (negative).
  rows.push_back(GradCase("DFT", 17).input({2, 5, 1}).output({2, 5, 2}));
  rows.push_back(GradCase("DFT", 17).input({1, 4, 2}).attr("inverse", 1));
  rows.push_back(GradCase("DFT", 17).input({2, 6, 1}).output({2, 4, 2}).attr("onesided", 1));
  rows.push_back(GradCase("DFT", 17).input({2, 4, 1}).output({2, 3, 2}).attr("onesided", 1).attr("inverse", 1));
  rows.push_back(
      GradCase("DFT", 17).input({1, 3, 1}).output({1, 3, 2}).attr("onesided", 1).fixed(1, Tensor::scalar<int64_t>(5)));
  rows.push_back(GradCase("DFT", 17).input({1, 6, 2}).output({1, 4, 2}).fixed(1, Tensor::scalar<int64_t>(4)));
  rows.push_back(GradCase("DFT", 17).input({1, 3, 2}).output({1, 5, 2}).attr("inverse", 1).fixed(1, int64s({5})));
  rows.push_back(GradCase("DFT", 17).input({1, 2, 3, 2}).attr("axis", -1));
  // STFT (signal and window differentiated): onesided real, two-sided complex and real, an
  // odd frame length given as an input too, frames that overlap or skip samples.
  rows.push_back(GradCase("STFT", 17).inputs({2, 8, 1}, {4}).output({2, 3, 3, 2}).fixed(1, Tensor::scalar<int64_t>(2)));
  rows.push_back(GradCase("STFT", 17)
                     .inputs({1, 7, 2}, {3})
                     .output({1, 3, 3, 2})
                     .attr("onesided", 0)
                     .fixed(1, Tensor::scalar<int64_t>(2)));
  rows.push_back(
      GradCase("STFT", 17).inputs({1, 6, 1}, {4}).output({1, 3, 4, 2}).attr("onesided", 0).fixed(1, int64s({1})));
  rows.push_back(GradCase("STFT", 17)
                     .inputs({1, 9, 1}, {5})
                     .output({1, 2, 3, 2})
                     .fixed(1, Tensor::scalar<int64_t>(4))
                     .fixed(3, Tensor::scalar<int64_t>(5)));
  return rows;
}

}  // namespace onnx_train::testing
