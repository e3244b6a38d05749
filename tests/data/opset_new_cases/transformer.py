"""The transformer op versions of opsets 18-23: Mish-18, Gelu-20, RMSNormalization-23,
RotaryEmbedding-23 and Attention-23 (importers/lowerings/transformer.cc and attention.cc), each
attribute and input form against ONNX Runtime. Rules refuse what they cannot lower in
tests/importers/lowering_transformer_test.cc; gradients are checked by
tests/gradients/cases_lowered_transformer.cc."""
import numpy as np
from onnx import helper

rng = np.random.default_rng(2023)


def normal(*shape):
    return rng.normal(size=shape).astype(np.float32)


def rope_caches(max_pos, half, base=10000.0):
    """cos and sin of position * base^(-i / half): the usual rotary tables, [max_pos, half]."""
    angle = np.arange(max_pos)[:, None] * base ** (-np.arange(half)[None, :] / half)
    return np.cos(angle).astype(np.float32), np.sin(angle).astype(np.float32)


def positions(batch, seq, max_pos):
    return rng.integers(0, max_pos, size=(batch, seq)).astype(np.int64)


def attention(inputs, outputs, **attrs):
    return [helper.make_node("Attention", inputs, outputs, **attrs)]


COS, SIN = rope_caches(12, 4)
COS2, SIN2 = rope_caches(12, 2)
# Bool masks: true = attend; every row keeps its first key so no row is empty.
MASK_3x5 = rng.random((3, 5)) > 0.4
MASK_3x5[:, 0] = True
MASK_B2_3x7 = rng.random((2, 1, 3, 7)) > 0.3
MASK_B2_3x7[..., 0] = True
# Rows without a key: row 0 keeps only keys that causality hides, row 1 none at all.
MASK_EMPTY_ROWS = np.array([[False, True, True, False], [False] * 4, [True, False, True, True]])

CASES = [
    # ---- Mish-18: x * tanh(softplus(x))
    dict(name="mish_18", opset=18, nodes=[helper.make_node("Mish", ["x"], ["y"])],
         inputs={"x": 3 * normal(3, 4)}, outputs=["y"]),
    dict(name="mish_18_at_opset22", opset=22, nodes=[helper.make_node("Mish", ["x"], ["y"])],
         inputs={"x": 3 * normal(2, 3, 5)}, outputs=["y"], doc="opset 22 (a types-only change) runs the Mish-18 rule"),
    # ---- Gelu-20
    dict(name="gelu_20", opset=20, nodes=[helper.make_node("Gelu", ["x"], ["y"])],
         inputs={"x": 2 * normal(2, 3, 4)}, outputs=["y"], doc="approximate defaults to 'none' (erf)"),
    dict(name="gelu_20_tanh", opset=20, nodes=[helper.make_node("Gelu", ["x"], ["y"], approximate="tanh")],
         inputs={"x": 2 * normal(4, 5)}, outputs=["y"]),
    dict(name="gelu_20_none_at_opset23", opset=23, nodes=[helper.make_node("Gelu", ["x"], ["y"], approximate="none")],
         inputs={"x": 2 * normal(6)}, shapes={"x": ["N"]}, outputs=["y"], doc="a symbolic dimension"),
    # ---- RMSNormalization-23: x / sqrt(mean(x^2 over axis..) + epsilon) * scale
    dict(name="rmsnorm_23", opset=23,
         nodes=[helper.make_node("RMSNormalization", ["x", "scale"], ["y"])],
         inputs={"x": normal(2, 3, 8)}, initializers={"scale": normal(8)}, outputs=["y"],
         doc="defaults: the last axis, epsilon 1e-5"),
    dict(name="rmsnorm_23_axis1", opset=23,
         nodes=[helper.make_node("RMSNormalization", ["x", "scale"], ["y"], axis=1)],
         inputs={"x": normal(2, 3, 4)}, initializers={"scale": normal(3, 4)}, outputs=["y"]),
    dict(name="rmsnorm_23_negative_axis_epsilon", opset=23,
         nodes=[helper.make_node("RMSNormalization", ["x", "scale"], ["y"], axis=-2, epsilon=0.1)],
         inputs={"x": 0.3 * normal(2, 2, 3, 4)}, initializers={"scale": normal(4)}, outputs=["y"],
         doc="the mean over the last two axes; a scale [4] broadcast to the normalized [3, 4]"),
    dict(name="rmsnorm_23_symbolic_batch_scale_input", opset=23,
         nodes=[helper.make_node("RMSNormalization", ["x", "scale"], ["y"], stash_type=1)],
         inputs={"x": normal(3, 6), "scale": normal(6)}, shapes={"x": ["N", 6]}, outputs=["y"]),
    dict(name="rmsnorm_23_stash_float64", opset=23,
         nodes=[helper.make_node("RMSNormalization", ["x", "scale"], ["y"], stash_type=11, epsilon=1e-3)],
         inputs={"x": normal(4, 5)}, initializers={"scale": normal(5)}, outputs=["y"],
         doc="stash_type 11: the statistics in float64 for a float32 input"),
    # ---- RotaryEmbedding-23
    dict(name="rotary_23_4d_position_ids", opset=23,
         nodes=[helper.make_node("RotaryEmbedding", ["x", "cos", "sin", "pos"], ["y"])],
         inputs={"x": normal(2, 2, 3, 8), "pos": positions(2, 3, 12)}, initializers={"cos": COS, "sin": SIN},
         outputs=["y"], doc="X [B, H, S, D], caches [max_pos, D/2] gathered at position_ids"),
    dict(name="rotary_23_4d_interleaved", opset=23,
         nodes=[helper.make_node("RotaryEmbedding", ["x", "cos", "sin", "pos"], ["y"], interleaved=1)],
         inputs={"x": normal(1, 3, 4, 8), "pos": positions(1, 4, 12)}, initializers={"cos": COS, "sin": SIN},
         outputs=["y"]),
    dict(name="rotary_23_3d_num_heads", opset=23,
         nodes=[helper.make_node("RotaryEmbedding", ["x", "cos", "sin", "pos"], ["y"], num_heads=2)],
         inputs={"x": normal(2, 3, 16), "pos": positions(2, 3, 12)}, initializers={"cos": COS, "sin": SIN},
         outputs=["y"], doc="X [B, S, H * D] with num_heads"),
    dict(name="rotary_23_4d_partial", opset=23,
         nodes=[helper.make_node("RotaryEmbedding", ["x", "cos", "sin", "pos"], ["y"], rotary_embedding_dim=4)],
         inputs={"x": normal(2, 2, 3, 8), "pos": positions(2, 3, 12)}, initializers={"cos": COS2, "sin": SIN2},
         outputs=["y"], doc="the first 4 of 8 channels rotate, the rest pass through"),
    dict(name="rotary_23_3d_interleaved_partial", opset=23,
         nodes=[helper.make_node("RotaryEmbedding", ["x", "cos", "sin", "pos"], ["y"], num_heads=3,
                                 interleaved=1, rotary_embedding_dim=4)],
         inputs={"x": normal(2, 4, 18), "pos": positions(2, 4, 12)}, initializers={"cos": COS2, "sin": SIN2},
         outputs=["y"]),
    dict(name="rotary_23_3d_caches_without_positions", opset=23,
         nodes=[helper.make_node("RotaryEmbedding", ["x", "cos", "sin"], ["y"], num_heads=2)],
         inputs={"x": normal(2, 3, 16), "cos": COS[[[1, 2, 3], [5, 6, 7]]], "sin": SIN[[[1, 2, 3], [5, 6, 7]]]},
         outputs=["y"], doc="no position_ids: the caches are [B, S, D/2] inputs"),
    dict(name="rotary_23_4d_symbolic_batch", opset=23,
         nodes=[helper.make_node("RotaryEmbedding", ["x", "cos", "sin", "pos"], ["y"])],
         inputs={"x": normal(2, 2, 3, 8), "pos": positions(2, 3, 12)}, shapes={"x": ["N", 2, "S", 8]},
         initializers={"cos": COS, "sin": SIN}, outputs=["y"]),
    # ---- Attention-23
    dict(name="attention_23_4d", opset=23, nodes=attention(["q", "k", "v"], ["y"]),
         inputs={"q": normal(2, 3, 4, 8), "k": normal(2, 3, 6, 8), "v": normal(2, 3, 6, 8)}, outputs=["y"],
         doc="[B, H, S, D] inputs, scale 1/sqrt(8)"),
    dict(name="attention_23_4d_gqa_value_head_size", opset=23, nodes=attention(["q", "k", "v"], ["y"]),
         inputs={"q": normal(2, 4, 3, 8), "k": normal(2, 2, 5, 8), "v": normal(2, 2, 5, 6)}, outputs=["y"],
         doc="grouped-query: 4 query heads share 2 key/value heads; V's head size differs"),
    dict(name="attention_23_3d_heads", opset=23,
         nodes=attention(["q", "k", "v"], ["y"], q_num_heads=2, kv_num_heads=2),
         inputs={"q": normal(2, 4, 16), "k": normal(2, 6, 16), "v": normal(2, 6, 8)}, outputs=["y"]),
    dict(name="attention_23_3d_gqa_causal_past_present", opset=23,
         nodes=attention(["q", "k", "v", "", "past_k", "past_v"], ["y", "present_k", "present_v"],
                         q_num_heads=4, kv_num_heads=2, is_causal=1),
         inputs={"q": normal(2, 3, 8), "k": normal(2, 3, 4), "v": normal(2, 3, 6),
                 "past_k": normal(2, 2, 2, 2), "past_v": normal(2, 2, 2, 3)},
         outputs=["y", "present_k", "present_v"],
         doc="causal with a past of 2: query i attends keys j <= i + 2; present_* are the concatenated caches"),
    dict(name="attention_23_bool_mask", opset=23, nodes=attention(["q", "k", "v", "mask"], ["y"]),
         inputs={"q": normal(2, 2, 3, 4), "k": normal(2, 2, 5, 4), "v": normal(2, 2, 5, 4), "mask": MASK_3x5},
         outputs=["y"], doc="a bool [Sq, T] mask, true = attend"),
    dict(name="attention_23_float_mask_causal", opset=23,
         nodes=attention(["q", "k", "v", "mask"], ["y"], is_causal=1),
         inputs={"q": normal(2, 2, 3, 4), "k": normal(2, 2, 5, 4), "v": normal(2, 2, 5, 4),
                 "mask": normal(2, 1, 3, 5)},
         outputs=["y"], doc="a float [B, 1, Sq, T] mask added, and causal upper-left with 5 keys for 3 queries"),
    dict(name="attention_23_bool_mask_causal_past", opset=23,
         nodes=attention(["q", "k", "v", "mask", "past_k", "past_v"], ["y", "present_k", "present_v"], is_causal=1),
         inputs={"q": normal(2, 1, 3, 4), "k": normal(2, 1, 3, 4), "v": normal(2, 1, 3, 4), "mask": MASK_B2_3x7,
                 "past_k": normal(2, 1, 4, 4), "past_v": normal(2, 1, 4, 4)},
         outputs=["y", "present_k", "present_v"], doc="a bool mask over past and new keys, with causal"),
    dict(name="attention_23_causal_more_queries", opset=23,
         nodes=attention(["q", "k", "v"], ["y"], is_causal=1),
         inputs={"q": normal(1, 2, 5, 4), "k": normal(1, 2, 3, 4), "v": normal(1, 2, 3, 4)}, outputs=["y"],
         doc="5 queries and 3 keys: the last queries see every key"),
    dict(name="attention_23_causal_symbolic_lengths", opset=23,
         nodes=attention(["q", "k", "v"], ["y"], is_causal=1, q_num_heads=2, kv_num_heads=1),
         inputs={"q": normal(2, 4, 8), "k": normal(2, 4, 4), "v": normal(2, 4, 4)},
         shapes={"q": ["N", "S", 8], "k": ["N", "S", 4], "v": ["N", "S", 4]}, outputs=["y"],
         doc="unknown sequence lengths: the causal bias is built at run time (Trilu)"),
    dict(name="attention_23_scale_softcap_qk_mode0", opset=23,
         nodes=attention(["q", "k", "v", "mask"], ["y", "", "", "qk"], scale=0.3, softcap=2.0),
         inputs={"q": normal(2, 2, 3, 4), "k": normal(2, 2, 5, 4), "v": normal(2, 2, 5, 4), "mask": normal(3, 5)},
         outputs=["y", "qk"], doc="qk_matmul_output_mode 0: the scaled Q K^T"),
    dict(name="attention_23_softcap_qk_mode1", opset=23,
         nodes=attention(["q", "k", "v", "mask"], ["y", "", "", "qk"], softcap=1.5, qk_matmul_output_mode=1),
         inputs={"q": normal(2, 2, 3, 4), "k": normal(2, 2, 5, 4), "v": normal(2, 2, 5, 4), "mask": normal(3, 5)},
         outputs=["y", "qk"],
         doc="mode 1: after softcap, before the mask (ONNX Runtime and ONNX's reference apply softcap first; the "
             "attribute's text lists the mask first)"),
    dict(name="attention_23_qk_mode2_bool_mask", opset=23,
         nodes=attention(["q", "k", "v", "mask"], ["y", "", "", "qk"], qk_matmul_output_mode=2),
         inputs={"q": normal(2, 2, 3, 4), "k": normal(2, 2, 5, 4), "v": normal(2, 2, 5, 4), "mask": MASK_3x5},
         outputs=["y", "qk"], doc="mode 2: after the mask, the masked keys at float32's lowest value"),
    dict(name="attention_23_bool_mask_causal_rows_without_keys_mode2", opset=23,
         nodes=attention(["q", "k", "v", "mask"], ["y", "", "", "qk"], is_causal=1, qk_matmul_output_mode=2),
         inputs={"q": normal(1, 2, 3, 4), "k": normal(1, 2, 4, 4), "v": normal(1, 2, 4, 4), "mask": MASK_EMPTY_ROWS},
         outputs=["y", "qk"],
         doc="queries left without keys give Y = 0 (as ONNX Runtime; the spec's softmax would give NaN); a key "
             "that the mask and causality both hide is float32's lowest once in the mode-2 output"),
    dict(name="attention_23_bool_mask_rows_without_keys_mode3", opset=23,
         nodes=attention(["q", "k", "v", "mask"], ["y", "", "", "qk"], qk_matmul_output_mode=3, q_num_heads=2,
                         kv_num_heads=2),
         inputs={"q": normal(2, 3, 8), "k": normal(2, 4, 8), "v": normal(2, 4, 8), "mask": MASK_EMPTY_ROWS},
         outputs=["y", "qk"], doc="the probabilities of a query without keys are 0"),
    dict(name="attention_23_qk_mode3_causal", opset=23,
         nodes=attention(["q", "k", "v"], ["y", "", "", "qk"], qk_matmul_output_mode=3, is_causal=1),
         inputs={"q": normal(1, 2, 4, 4), "k": normal(1, 2, 4, 4), "v": normal(1, 2, 4, 4)},
         outputs=["y", "qk"], doc="mode 3: the softmax"),
    dict(name="attention_23_after_rotary_symbolic_batch", opset=23,
         nodes=[helper.make_node("RotaryEmbedding", ["q", "cos", "sin", "pos"], ["q_rot"], num_heads=4),
                helper.make_node("RotaryEmbedding", ["k", "cos", "sin", "pos"], ["k_rot"], num_heads=2),
                *attention(["q_rot", "k_rot", "v"], ["y"], q_num_heads=4, kv_num_heads=2, is_causal=1)],
         inputs={"q": normal(2, 3, 32), "k": normal(2, 3, 16), "v": normal(2, 3, 16), "pos": positions(2, 3, 12)},
         shapes={"q": ["N", 3, 32], "k": ["N", 3, 16], "v": ["N", 3, 16], "pos": ["N", 3]},
         initializers={"cos": COS, "sin": SIN}, outputs=["y"],
         doc="rotated queries and keys into grouped-query causal attention, the batch symbolic: the head sizes "
             "survive the lowered RotaryEmbedding's reshapes"),
    dict(name="attention_23_3d_present_without_past", opset=23,
         nodes=attention(["q", "k", "v"], ["y", "present_k", "present_v"], q_num_heads=2, kv_num_heads=2),
         inputs={"q": normal(1, 3, 8), "k": normal(1, 4, 8), "v": normal(1, 4, 6)},
         outputs=["y", "present_k", "present_v"], doc="without a past, present_key/value are K and V as [B, H, S, D]"),
    dict(name="attention_23_float64_bool_mask_causal", opset=23,
         nodes=attention(["q", "k", "v", "mask"], ["y", "", "", "qk"], is_causal=1, qk_matmul_output_mode=3),
         inputs={"q": normal(1, 2, 3, 4).astype(np.float64), "k": normal(1, 2, 4, 4).astype(np.float64),
                 "v": normal(1, 2, 4, 4).astype(np.float64), "mask": MASK_EMPTY_ROWS[[2, 2, 2]]},
         outputs=["y", "qk"], rtol=1e-6, atol=1e-9,
         doc="float64 throughout (the masked value is float64's lowest); ONNX Runtime's float64 path agrees with a "
             "float64 computation to about 1e-8, hence the tolerance"),
    dict(name="attention_23_causal_symbolic_past", opset=23,
         nodes=attention(["q", "k", "v", "", "past_k", "past_v"], ["y", "present_k", "present_v"], is_causal=1),
         inputs={"q": normal(1, 2, 3, 4), "k": normal(1, 2, 3, 4), "v": normal(1, 2, 3, 4),
                 "past_k": normal(1, 2, 5, 4), "past_v": normal(1, 2, 5, 4)},
         shapes={"past_k": [1, 2, "P", 4], "past_v": [1, 2, "P", 4]}, outputs=["y", "present_k", "present_v"],
         doc="a past of unknown length: the causal diagonal (past + 1) is read from past_key's shape at run time"),
    dict(name="attention_23_softmax_precision_float", opset=23,
         nodes=attention(["q", "k", "v"], ["y"], softmax_precision=1, q_num_heads=2, kv_num_heads=2),
         inputs={"q": normal(2, 3, 8), "k": normal(2, 3, 8), "v": normal(2, 3, 8)}, outputs=["y"]),
]
