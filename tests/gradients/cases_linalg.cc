// Gradient check rows of the linear-algebra rules (MatMul, Gemm, Einsum), CumSum and the
// reductions of rules/linalg.cc.
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

namespace {

// A 0-D int64 tensor (CumSum's axis).
Tensor int64_scalar(int64_t value) { return Tensor::scalar<int64_t>(value); }

}  // namespace

std::vector<GradCase> linalg_grad_cases() {
  std::vector<GradCase> rows = {
      // MatMul: 2-D, batched with broadcasting on either side, and the 1-D forms.
      {"MatMul", 13, {{2, 3}, {3, 4}}, {2, 4}},
      {"MatMul", 13, {{2, 2, 3}, {3, 4}}, {2, 2, 4}},
      {"MatMul", 13, {{3, 4}, {2, 4, 5}}, {2, 3, 5}},
      {"MatMul", 13, {{2, 3, 3}, {3, 3}}, {2, 3, 3}},  // A has Y's shape
      {"MatMul", 9, {{2, 1, 2, 3}, {3, 3, 2}}, {2, 3, 2, 2}},
      {"MatMul", 13, {{2, 3, 2, 3}, {2, 1, 3, 2}}, {2, 3, 2, 2}},
      {"MatMul", 7, {{2, 3}, {1, 3, 4}}, {1, 2, 4}},
      {"MatMul", 13, {{3}, {3, 4}}, {4}},
      {"MatMul", 13, {{3}, {3, 3}}, {3}},  // the vector has Y's shape
      {"MatMul", 7, {{3}, {2, 3, 4}}, {2, 4}},
      {"MatMul", 13, {{3}, {2, 2, 3, 4}}, {2, 2, 4}},
      {"MatMul", 13, {{2, 3}, {3}}, {2}},
      {"MatMul", 7, {{2, 2, 3}, {3}}, {2, 2}},
      {"MatMul", 13, {{2, 2, 3}, {3}}, {2, 2}},
      {"MatMul", 13, {{4}, {4}}, {}},
      {"MatMul", 9, {{4}, {4}}, {}},
      // Batch axes broadcast on both sides, and a vector with a 4-D matrix stack.
      {"MatMul", 13, {{2, 1, 3, 4}, {5, 4, 2}}, {2, 5, 3, 2}},
      {"MatMul", 13, {{1, 3, 4}, {2, 1, 4, 2}}, {2, 1, 3, 2}},
      {"MatMul", 13, {{2, 1, 2, 3}, {3}}, {2, 1, 2}},

      // Gemm: transposes, alpha/beta, C broadcast or absent (from 11).
      {"Gemm", 13, {{2, 3}, {3, 4}, {2, 4}}, {2, 4}},
      {"Gemm", 13, {{3, 2}, {3, 4}, {4}}, {2, 4}, false, {{"transA", 1}}, {}, {}, {{"alpha", 0.5f}, {"beta", 2.0f}}},
      {"Gemm", 11, {{2, 3}, {4, 3}, {2, 1}}, {2, 4}, false, {{"transB", 1}}, {}, {}, {{"alpha", 1.5f}}},
      {"Gemm", 13, {{3, 2}, {4, 3}, {}}, {2, 4}, false, {{"transA", 1}, {"transB", 1}}, {}, {}, {{"beta", 0.25f}}},
      {"Gemm", 13, {{2, 3}, {3, 4}}, {2, 4}, false, {}, {}, {}, {{"alpha", 2.0f}}},  // no C
      {"Gemm", 11, {{3, 2}, {4, 3}}, {2, 4}, false, {{"transA", 1}, {"transB", 1}}},
      {"Gemm",
       7,
       {{3, 2}, {4, 3}, {1, 4}},
       {2, 4},
       false,
       {{"transA", 1}, {"transB", 1}},
       {},
       {},
       {{"alpha", 0.5f}, {"beta", 1.5f}}},
      {"Gemm", 9, {{2, 3}, {3, 4}, {2, 4}}, {2, 4}, false, {{"transB", 0}}, {}, {}, {{"beta", -1.0f}}},

      // CumSum: axis as a 0-D or 1-D input; reverse / exclusive.
      {"CumSum", 14, {{3, 4}}, {3, 4}, false, {}, {}, {{1, int64_scalar(1)}}},
      {"CumSum", 14, {{3, 4}}, {3, 4}, false, {{"reverse", 1}}, {}, {{1, int64s({0})}}},
      {"CumSum", 14, {{2, 3, 4}}, {2, 3, 4}, false, {{"exclusive", 1}}, {}, {{1, int64_scalar(-2)}}},
      {"CumSum", 11, {{5}}, {5}, false, {{"exclusive", 1}, {"reverse", 1}}, {}, {{1, int64_scalar(0)}}},
      {"CumSum", 11, {{2, 5}}, {2, 5}, false, {}, {}, {{1, int64_scalar(1)}}},

      // Einsum: the explicit two-operand forms, implicit output, one operand, ellipsis
      // broadcasting and letters summed away within one operand.
      {"Einsum", 12, {{2, 3}, {3, 4}}, {2, 4}, false, {}, {}, {}, {}, {{"equation", "ij,jk->ik"}}},
      {"Einsum", 12, {{2, 2, 3}, {2, 3, 4}}, {2, 2, 4}, false, {}, {}, {}, {}, {{"equation", "bij,bjk->bik"}}},
      {"Einsum", 13, {{4}, {4}}, {}, false, {}, {}, {}, {}, {{"equation", "i,i->"}}},
      {"Einsum", 13, {{2, 3}, {3, 4}}, {2, 4}, false, {}, {}, {}, {}, {{"equation", "ij, jk"}}},
      {"Einsum", 13, {{2, 3}, {4, 3}}, {2, 4}, false, {}, {}, {}, {}, {{"equation", "ij,kj->ik"}}},
      {"Einsum", 13, {{2, 3}, {3}}, {3, 2}, false, {}, {}, {}, {}, {{"equation", "ij,j->ji"}}},
      {"Einsum", 13, {{2}, {3}}, {2, 3}, false, {}, {}, {}, {}, {{"equation", "i,j->ij"}}},
      {"Einsum", 13, {{2, 3}, {3, 4}}, {2}, false, {}, {}, {}, {}, {{"equation", "ij,jk->i"}}},
      {"Einsum", 13, {{2, 3, 4}}, {4, 2}, false, {}, {}, {}, {}, {{"equation", "ijk->ki"}}},
      {"Einsum", 12, {{2, 3}}, {}, false, {}, {}, {}, {}, {{"equation", "ij->"}}},
      {"Einsum", 13, {{2, 3}, {3}, {3, 2}}, {2, 2}, false, {}, {}, {}, {}, {{"equation", "ij,j,jk->ik"}}},
      {"Einsum", 13, {{2, 2, 3}, {1, 3, 4}}, {2, 2, 4}, false, {}, {}, {}, {}, {{"equation", "...ij,...jk->...ik"}}},
      {"Einsum", 13, {{3, 2, 5}, {2, 4}}, {3, 4}, false, {}, {}, {}, {}, {{"equation", "...jx,jk->...k"}}},
      {"Einsum", 13, {{2, 2, 3}, {1, 3, 4}}, {2, 4}, false, {}, {}, {}, {}, {{"equation", "...ij,...jk->ik"}}},
      {"Einsum", 13, {{2, 3, 4}}, {2, 4}, false, {}, {}, {}, {}, {{"equation", "i...j->ij"}}},
      {"Einsum", 13, {{3, 2, 4}, {4, 5}}, {3, 5}, false, {}, {}, {}, {}, {{"equation", "i...j,jk->ik"}}},
  };

  // The reductions: keepdims 1 / 0, axes (negative too) or none, an old-opset row each.
  for (const char* op : {"ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare",
                         "ReduceLogSum", "ReduceLogSumExp"}) {
    const std::string name = op;
    const bool positive = name == "ReduceLogSum";
    rows.push_back({op, 13, {{2, 3, 4}}, {1, 1, 1}, positive});
    rows.push_back({op, 13, {{2, 3, 4}}, {}, positive, {{"keepdims", 0}}});
    rows.push_back({op, 13, {{2, 3, 4}}, {2, 1, 4}, positive, {}, {{"axes", {1}}}});
    rows.push_back({op, 13, {{2, 3, 4}}, {3}, positive, {{"keepdims", 0}}, {{"axes", {0, -1}}}});
    rows.push_back({op, 11, {{2, 3, 4}}, {2, 4}, positive, {{"keepdims", 0}}, {{"axes", {-2}}}});
    rows.push_back({op, 7, {{3, 4}}, {3}, positive, {{"keepdims", 0}}, {{"axes", {1}}}});
    rows.push_back({op, 7, {{3, 4}}, {1, 4}, positive, {}, {{"axes", {0}}}});
  }
  rows.push_back({"ReduceMax", 12, {{4, 3}}, {4}, false, {{"keepdims", 0}}, {{"axes", {1}}}});
  rows.push_back({"ReduceMin", 12, {{4, 3}}, {1, 3}, false, {}, {{"axes", {0}}}});
  // Det: one matrix, 1 x 1, batched (two batch axes).
  rows.push_back({"Det", 11, {{3, 3}}, {}});
  rows.push_back({"Det", 13, {{1, 1}}, {}});
  rows.push_back({"Det", 17, {{2, 3, 2, 2}}, {2, 3}});
  rows.push_back({"Det", 11, {{2, 4, 4}}, {2}});
  // DFT: real / complex input, inverse, onesided (even and odd lengths), dft_length padding
  // and truncating the signal, another axis (negative).
  rows.push_back({"DFT", 17, {{2, 5, 1}}, {2, 5, 2}});
  rows.push_back({"DFT", 17, {{1, 4, 2}}, {1, 4, 2}, false, {{"inverse", 1}}});
  rows.push_back({"DFT", 17, {{2, 6, 1}}, {2, 4, 2}, false, {{"onesided", 1}}});
  rows.push_back({"DFT", 17, {{2, 4, 1}}, {2, 3, 2}, false, {{"onesided", 1}, {"inverse", 1}}});
  rows.push_back({"DFT", 17, {{1, 3, 1}}, {1, 3, 2}, false, {{"onesided", 1}}, {}, {{1, Tensor::scalar<int64_t>(5)}}});
  rows.push_back({"DFT", 17, {{1, 6, 2}}, {1, 4, 2}, false, {}, {}, {{1, Tensor::scalar<int64_t>(4)}}});
  rows.push_back({"DFT", 17, {{1, 3, 2}}, {1, 5, 2}, false, {{"inverse", 1}}, {}, {{1, int64s({5})}}});
  rows.push_back({"DFT", 17, {{1, 2, 3, 2}}, {1, 2, 3, 2}, false, {{"axis", -1}}});
  // STFT (signal and window differentiated): onesided real, two-sided complex and real, an
  // odd frame length given as an input too, frames that overlap or skip samples.
  rows.push_back({"STFT", 17, {{2, 8, 1}, {4}}, {2, 3, 3, 2}, false, {}, {}, {{1, Tensor::scalar<int64_t>(2)}}});
  rows.push_back(
      {"STFT", 17, {{1, 7, 2}, {3}}, {1, 3, 3, 2}, false, {{"onesided", 0}}, {}, {{1, Tensor::scalar<int64_t>(2)}}});
  rows.push_back({"STFT", 17, {{1, 6, 1}, {4}}, {1, 3, 4, 2}, false, {{"onesided", 0}}, {}, {{1, int64s({1})}}});
  rows.push_back({"STFT",
                  17,
                  {{1, 9, 1}, {5}},
                  {1, 2, 3, 2},
                  false,
                  {},
                  {},
                  {{1, Tensor::scalar<int64_t>(4)}, {3, Tensor::scalar<int64_t>(5)}}});
  return rows;
}

}  // namespace onnx_train::testing
