// Gradient check rows of the rules in gradients/rules/indexing.cc: repeated indices where the
// op accumulates them, negative indices, batch_dims, each mode, and old-opset forms.
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

namespace {

Tensor int64s_of(const Shape& shape, const std::vector<int64_t>& values) {
  return Tensor::from<int64_t>(shape, values);
}

Tensor bools(const std::vector<bool>& values) {
  return Tensor::from<bool>({static_cast<int64_t>(values.size())}, values);
}

// TopK must have its Indices output, which the loss does not weigh.
GradCase with_unweighed_indices(GradCase c) {
  c.unweighed_outputs = 1;
  return c;
}

// An op of the project's own domain.
GradCase project_op(GradCase c) {
  c.domain = "ai.onnx_train";
  return c;
}

}  // namespace

std::vector<GradCase> indexing_grad_cases() {
  return {
      // GatherND: repeated and negative tuples, slices, batch_dims (12+).
      {"GatherND", 11, {{3, 4}}, {4}, false, {}, {}, {{1, int64s_of({4, 2}, {0, 1, 2, 3, 0, 1, -1, 0})}}},
      {"GatherND", 13, {{2, 3}}, {3, 3}, false, {}, {}, {{1, int64s_of({3, 1}, {1, -2, 1})}}},
      {"GatherND",
       12,
       {{2, 3, 2}},
       {2, 2, 2},
       false,
       {{"batch_dims", 1}},
       {},
       {{1, int64s_of({2, 2, 1}, {2, 0, -2, 1})}}},
      {"GatherND",
       13,
       {{2, 3, 4}},
       {2, 3},
       false,
       {{"batch_dims", 1}},
       {},
       {{1, int64s_of({2, 3, 2}, {0, 1, 2, 3, 0, 1, 1, -1, 1, -1, 0, 0})}}},

      // ScatterElements / Scatter: data and updates differentiated; indices distinct along the
      // axis for reduction none, repeated for add.
      {"ScatterElements", 11, {{3, 3}, {2, 3}}, {3, 3}, false, {}, {}, {{1, int64s_of({2, 3}, {1, 0, -1, 0, 2, 1})}}},
      {"ScatterElements",
       13,
       {{2, 4}, {2, 2}},
       {2, 4},
       false,
       {{"axis", 1}},
       {},
       {{1, int64s_of({2, 2}, {3, -4, 1, 2})}}},
      {"ScatterElements",
       16,
       {{3, 2}, {3, 2}},
       {3, 2},
       false,
       {{"axis", 0}},
       {},
       {{1, int64s_of({3, 2}, {1, 1, 1, 0, 2, 1})}},
       {},
       {{"reduction", "add"}}},
      {"ScatterElements",
       16,
       {{2, 3}, {2, 2}},
       {2, 3},
       false,
       {{"axis", -1}},
       {},
       {{1, int64s_of({2, 2}, {2, 0, -3, -1})}},
       {},
       {{"reduction", "none"}}},
      {"Scatter", 9, {{3, 3}, {2, 3}}, {3, 3}, false, {{"axis", 1}}, {}, {{1, int64s_of({2, 3}, {2, 0, 1, 1, 2, 0})}}},
      {"Scatter", 10, {{3, 2}, {2, 2}}, {3, 2}, false, {}, {}, {{1, int64s_of({2, 2}, {2, 0, 0, 2})}}},

      // ScatterND: element and slice updates, negative indices, reduction add with repeats.
      {"ScatterND", 11, {{4, 3}, {2, 3}}, {4, 3}, false, {}, {}, {{1, int64s_of({2, 1}, {1, 3})}}},
      {"ScatterND", 13, {{2, 3}, {2}}, {2, 3}, false, {}, {}, {{1, int64s_of({2, 2}, {0, 2, 1, -1})}}},
      {"ScatterND",
       16,
       {{3, 2}, {3, 2}},
       {3, 2},
       false,
       {},
       {},
       {{1, int64s_of({3, 1}, {1, 1, -3})}},
       {},
       {{"reduction", "add"}}},
      {"ScatterND",
       16,
       {{3, 2}, {2, 2}},
       {3, 2},
       false,
       {},
       {},
       {{1, int64s_of({2, 1}, {-1, 0})}},
       {},
       {{"reduction", "none"}}},

      // Compress: along an axis, over the flattened input (condition shorter than it), negative axis.
      {"Compress", 9, {{2, 4}}, {2, 3}, false, {{"axis", 1}}, {}, {{1, bools({true, false, true, true})}}},
      {"Compress", 11, {{2, 3}}, {3}, false, {}, {}, {{1, bools({false, true, true, false, true})}}},
      {"Compress", 11, {{2, 3}}, {1, 3}, false, {{"axis", -2}}, {}, {{1, bools({false, true})}}},

      // DepthToSpace (DCR, CRD, the mode-less opset-1 form) and SpaceToDepth.
      {"DepthToSpace", 9, {{1, 8, 2, 1}}, {1, 2, 4, 2}, false, {{"blocksize", 2}}},
      {"DepthToSpace", 11, {{1, 8, 1, 2}}, {1, 2, 2, 4}, false, {{"blocksize", 2}}, {}, {}, {}, {{"mode", "CRD"}}},
      {"DepthToSpace", 13, {{2, 4, 2, 2}}, {2, 1, 4, 4}, false, {{"blocksize", 2}}, {}, {}, {}, {{"mode", "DCR"}}},
      {"DepthToSpace", 13, {{1, 12, 1, 1}}, {1, 3, 2, 2}, false, {{"blocksize", 2}}, {}, {}, {}, {{"mode", "CRD"}}},
      {"SpaceToDepth", 7, {{1, 2, 4, 2}}, {1, 8, 2, 1}, false, {{"blocksize", 2}}},
      {"SpaceToDepth", 13, {{2, 1, 4, 4}}, {2, 4, 2, 2}, false, {{"blocksize", 2}}},

      // ReverseSequence: time-major and batch-major, lengths from 1 to the full length.
      {"ReverseSequence",
       10,
       {{4, 2, 3}},
       {4, 2, 3},
       false,
       {{"time_axis", 0}, {"batch_axis", 1}},
       {},
       {{1, int64s({3, 1})}}},
      {"ReverseSequence",
       10,
       {{2, 4, 2}},
       {2, 4, 2},
       false,
       {{"time_axis", 1}, {"batch_axis", 0}},
       {},
       {{1, int64s({4, 2})}}},

      // Trilu: upper without k, lower with a negative k, batched.
      {"Trilu", 14, {{3, 4}}, {3, 4}},
      {"Trilu", 14, {{2, 3, 3}}, {2, 3, 3}, false, {{"upper", 0}}, {}, {{1, Tensor::scalar<int64_t>(-1)}}},
      {"Trilu", 14, {{4, 3}}, {4, 3}, false, {{"upper", 1}}, {}, {{1, Tensor::scalar<int64_t>(1)}}},

      // TopK: k as an attribute (1) and as an input (10, 11), smallest values, a negative axis.
      with_unweighed_indices({"TopK", 7, {{3, 4}}, {3, 2}, false, {{"k", 2}, {"axis", 1}}}),
      with_unweighed_indices({"TopK", 10, {{4, 3}}, {2, 3}, false, {{"axis", 0}}, {}, {{1, int64s({2})}}}),
      with_unweighed_indices(
          {"TopK", 11, {{2, 5}}, {2, 3}, false, {{"axis", -1}, {"largest", 0}}, {}, {{1, int64s({3})}}}),

      // SumToShape (the project's own broadcast adjoint): trailing, leading and inner axes.
      project_op({"SumToShape", 13, {{2, 3, 4}}, {3, 1}, false, {}, {}, {{1, int64s({3, 1})}}}),
      project_op({"SumToShape", 13, {{2, 3}}, {2, 3}, false, {}, {}, {{1, int64s({2, 3})}}}),
      project_op({"SumToShape", 13, {{2, 3, 4}}, {2, 1, 4}, false, {}, {}, {{1, int64s({2, 1, 4})}}}),
  };
}

}  // namespace onnx_train::testing
