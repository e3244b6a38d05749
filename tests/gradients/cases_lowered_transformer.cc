// Gradient check rows of the transformer op versions that load lowered (Mish-18, Gelu-20,
// RMSNormalization-23, RotaryEmbedding-23, Attention-23; importers/lowerings/transformer.cc and
// attention.cc): each row's model is written at the new opset, so the check runs the gradients of
// the ops the lowering emits.
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

namespace {

Tensor bools(const Shape& shape, const std::vector<bool>& values) { return Tensor::from<bool>(shape, values); }

Tensor positions(const Shape& shape, const std::vector<int64_t>& values) {
  return Tensor::from<int64_t>(shape, values);
}

}  // namespace

ONNX_TRAIN_GRAD_CASES(lowered_transformer) {
  // A bool mask [Sq 3, T 5]; every row keeps a key.
  const Tensor mask_3x5 = bools({3, 5}, {1, 0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 1});
  return {
      GradCase("Mish", 18).input({3, 4}),
      GradCase("Mish", 22).input({2, 5}).magnitude(0.5, 3.0),
      GradCase("Gelu", 20).input({3, 4}),
      GradCase("Gelu", 20).input({3, 4}).attr("approximate", "tanh").magnitude(0.2, 2.5),
      GradCase("RMSNormalization", 23).inputs({2, 3, 4}, {4}),
      GradCase("RMSNormalization", 23).inputs({2, 3, 4}, {3, 4}).attr("axis", 1),
      GradCase("RMSNormalization", 23).inputs({2, 2, 3}, {3}).attr("axis", -2).attr("epsilon", 0.1f),
      // RotaryEmbedding: X, cos_cache, sin_cache differentiated; position_ids fixed.
      GradCase("RotaryEmbedding", 23).inputs({1, 2, 3, 4}, {5, 2}, {5, 2}).fixed(3, positions({1, 3}, {4, 0, 2})),
      GradCase("RotaryEmbedding", 23)
          .inputs({2, 2, 2, 4}, {5, 2}, {5, 2})
          .fixed(3, positions({2, 2}, {1, 3, 4, 0}))
          .attr("interleaved", 1),
      GradCase("RotaryEmbedding", 23)
          .inputs({1, 3, 12}, {4, 2}, {4, 2})
          .fixed(3, positions({1, 3}, {0, 3, 1}))
          .attr("num_heads", 2)
          .attr("rotary_embedding_dim", 4),
      GradCase("RotaryEmbedding", 23)
          .inputs({1, 2, 3, 6}, {4, 1}, {4, 1})
          .fixed(3, positions({1, 3}, {2, 1, 3}))
          .attr("rotary_embedding_dim", 2)
          .attr("interleaved", 1),
      GradCase("RotaryEmbedding", 23).inputs({1, 3, 8}, {1, 3, 2}, {1, 3, 2}).attr("num_heads", 2),
      // Attention: Q, K, V (and a float mask, the past) differentiated.
      GradCase("Attention", 23).inputs({1, 2, 3, 4}, {1, 2, 5, 4}, {1, 2, 5, 4}),
      GradCase("Attention", 23).inputs({1, 2, 3, 4}, {1, 2, 5, 4}, {1, 2, 5, 4}).fixed(3, mask_3x5),
      GradCase("Attention", 23).inputs({1, 2, 3, 4}, {1, 2, 5, 4}, {1, 2, 5, 3}, {2, 1, 3, 5}).output({1, 2, 3, 3}),
      GradCase("Attention", 23).inputs({2, 1, 4, 3}, {2, 1, 4, 3}, {2, 1, 4, 3}).attr("is_causal", 1),
      GradCase("Attention", 23)
          .inputs({1, 4, 3, 4}, {1, 2, 3, 4}, {1, 2, 3, 4})
          .attr("is_causal", 1)
          .attr("scale", 0.4f)
          .attr("softcap", 1.5f),
      GradCase("Attention", 23)
          .inputs({2, 3, 8}, {2, 3, 4}, {2, 3, 4})
          .attr("q_num_heads", 2)
          .attr("kv_num_heads", 1)
          .fixed(3, bools({3, 3}, {1, 1, 0, 0, 1, 1, 1, 0, 1})),
      // Query 1 has no key to attend: its probabilities are zeroed, so its Y is 0.
      GradCase("Attention", 23)
          .inputs({1, 1, 3, 2}, {1, 1, 4, 2}, {1, 1, 4, 2})
          .fixed(3, bools({3, 4}, {1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1})),
      // A past of 2 with a float mask over the 5 keys; present_key weighed too.
      GradCase("Attention", 23)
          .inputs({1, 2, 3, 4}, {1, 2, 3, 4}, {1, 2, 3, 4}, {3, 5}, {1, 2, 2, 4})
          .input({1, 2, 2, 4})
          .more_output({1, 2, 5, 4})
          .attr("is_causal", 1),
  };
}

}  // namespace onnx_train::testing
