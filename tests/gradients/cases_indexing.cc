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

}  // namespace

ONNX_TRAIN_GRAD_CASES(indexing) {
  return {
      // GatherND: repeated and negative tuples, slices, batch_dims (12+).
      GradCase("GatherND", 11).input({3, 4}).output({4}).fixed(1, int64s_of({4, 2}, {0, 1, 2, 3, 0, 1, -1, 0})),
      GradCase("GatherND", 13).input({2, 3}).output({3, 3}).fixed(1, int64s_of({3, 1}, {1, -2, 1})),
      GradCase("GatherND", 12)
          .input({2, 3, 2})
          .output({2, 2, 2})
          .attr("batch_dims", 1)
          .fixed(1, int64s_of({2, 2, 1}, {2, 0, -2, 1})),
      GradCase("GatherND", 13)
          .input({2, 3, 4})
          .output({2, 3})
          .attr("batch_dims", 1)
          .fixed(1, int64s_of({2, 3, 2}, {0, 1, 2, 3, 0, 1, 1, -1, 1, -1, 0, 0})),

      // ScatterElements / Scatter: data and updates differentiated; indices distinct along the
      // axis for reduction none, repeated for add.
      GradCase("ScatterElements", 11).inputs({3, 3}, {2, 3}).fixed(1, int64s_of({2, 3}, {1, 0, -1, 0, 2, 1})),
      GradCase("ScatterElements", 13).inputs({2, 4}, {2, 2}).attr("axis", 1).fixed(1, int64s_of({2, 2}, {3, -4, 1, 2})),
      GradCase("ScatterElements", 16)
          .inputs({3, 2}, {3, 2})
          .attr("axis", 0)
          .fixed(1, int64s_of({3, 2}, {1, 1, 1, 0, 2, 1}))
          .attr("reduction", "add"),
      GradCase("ScatterElements", 16)
          .inputs({2, 3}, {2, 2})
          .attr("axis", -1)
          .fixed(1, int64s_of({2, 2}, {2, 0, -3, -1}))
          .attr("reduction", "none"),
      GradCase("Scatter", 9).inputs({3, 3}, {2, 3}).attr("axis", 1).fixed(1, int64s_of({2, 3}, {2, 0, 1, 1, 2, 0})),
      GradCase("Scatter", 10).inputs({3, 2}, {2, 2}).fixed(1, int64s_of({2, 2}, {2, 0, 0, 2})),

      // ScatterND: element and slice updates, negative indices, reduction add with repeats.
      GradCase("ScatterND", 11).inputs({4, 3}, {2, 3}).fixed(1, int64s_of({2, 1}, {1, 3})),
      GradCase("ScatterND", 13).inputs({2, 3}, {2}).fixed(1, int64s_of({2, 2}, {0, 2, 1, -1})),
      GradCase("ScatterND", 16).inputs({3, 2}, {3, 2}).fixed(1, int64s_of({3, 1}, {1, 1, -3})).attr("reduction", "add"),
      GradCase("ScatterND", 16).inputs({3, 2}, {2, 2}).fixed(1, int64s_of({2, 1}, {-1, 0})).attr("reduction", "none"),

      // Compress: along an axis, over the flattened input (condition shorter than it), negative axis.
      GradCase("Compress", 9).input({2, 4}).output({2, 3}).attr("axis", 1).fixed(1, bools({true, false, true, true})),
      GradCase("Compress", 11).input({2, 3}).output({3}).fixed(1, bools({false, true, true, false, true})),
      GradCase("Compress", 11).input({2, 3}).output({1, 3}).attr("axis", -2).fixed(1, bools({false, true})),

      // DepthToSpace (DCR, CRD, the mode-less opset-1 form) and SpaceToDepth.
      GradCase("DepthToSpace", 9).input({1, 8, 2, 1}).output({1, 2, 4, 2}).attr("blocksize", 2),
      GradCase("DepthToSpace", 11).input({1, 8, 1, 2}).output({1, 2, 2, 4}).attr("blocksize", 2).attr("mode", "CRD"),
      GradCase("DepthToSpace", 13).input({2, 4, 2, 2}).output({2, 1, 4, 4}).attr("blocksize", 2).attr("mode", "DCR"),
      GradCase("DepthToSpace", 13).input({1, 12, 1, 1}).output({1, 3, 2, 2}).attr("blocksize", 2).attr("mode", "CRD"),
      GradCase("SpaceToDepth", 7).input({1, 2, 4, 2}).output({1, 8, 2, 1}).attr("blocksize", 2),
      GradCase("SpaceToDepth", 13).input({2, 1, 4, 4}).output({2, 4, 2, 2}).attr("blocksize", 2),

      // ReverseSequence: time-major and batch-major, lengths from 1 to the full length.
      GradCase("ReverseSequence", 10)
          .input({4, 2, 3})
          .attr("time_axis", 0)
          .attr("batch_axis", 1)
          .fixed(1, int64s({3, 1})),
      GradCase("ReverseSequence", 10)
          .input({2, 4, 2})
          .attr("time_axis", 1)
          .attr("batch_axis", 0)
          .fixed(1, int64s({4, 2})),

      // Trilu: upper without k, lower with a negative k, batched.
      GradCase("Trilu", 14).input({3, 4}),
      GradCase("Trilu", 14).input({2, 3, 3}).attr("upper", 0).fixed(1, Tensor::scalar<int64_t>(-1)),
      GradCase("Trilu", 14).input({4, 3}).attr("upper", 1).fixed(1, Tensor::scalar<int64_t>(1)),

      // TopK: k as an attribute (1) and as an input (10, 11), smallest values, a negative axis.
      GradCase("TopK", 7).input({3, 4}).output({3, 2}).attr("k", 2).attr("axis", 1).unweighed(1),
      GradCase("TopK", 10).input({4, 3}).output({2, 3}).attr("axis", 0).fixed(1, int64s({2})).unweighed(1),
      GradCase("TopK", 11)
          .input({2, 5})
          .output({2, 3})
          .attr("axis", -1)
          .attr("largest", 0)
          .fixed(1, int64s({3}))
          .unweighed(1),

      // SumToShape (the project's own broadcast adjoint): trailing, leading and inner axes.
      GradCase("SumToShape", 13).input({2, 3, 4}).output({3, 1}).fixed(1, int64s({3, 1})).domain("ai.onnx_train"),
      GradCase("SumToShape", 13).input({2, 3}).fixed(1, int64s({2, 3})).domain("ai.onnx_train"),
      GradCase("SumToShape", 13).input({2, 3, 4}).output({2, 1, 4}).fixed(1, int64s({2, 1, 4})).domain("ai.onnx_train"),
  };
}

}  // namespace onnx_train::testing
