"""Ops whose versions opsets 18-23 did not change, in models of those opsets: the lowering leaves
them as they are and only the opset the model imports changes (with its IR version). Every other
family's cases rely on this path for the nodes around the new versions."""
import numpy as np
from onnx import helper

rng = np.random.default_rng(1823)


def normal(*shape):
    return rng.normal(size=shape).astype(np.float32)


CASES = [
    dict(name="unchanged_relu_add_opset23", opset=23,
         nodes=[helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Add", ["r", "b"], ["y"])],
         inputs={"x": normal(2, 3, 4)}, initializers={"b": normal(4)}, outputs=["y"],
         doc="Relu-14 and Add-14 (broadcast) at opset 23, IR 11"),
    dict(name="unchanged_conv_softmax_opset18", opset=18,
         nodes=[helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
                helper.make_node("Softmax", ["c"], ["y"], axis=1)],
         inputs={"x": normal(2, 3, 6, 6)}, initializers={"w": normal(4, 3, 3, 3), "b": normal(4)}, outputs=["y"],
         doc="Conv-11 and Softmax-13 at opset 18"),
    dict(name="unchanged_matmul_layernorm_opset21", opset=21,
         nodes=[helper.make_node("MatMul", ["x", "w"], ["h"]),
                helper.make_node("LayerNormalization", ["h", "scale", "bias"], ["y"], axis=-1, epsilon=1e-5)],
         inputs={"x": normal(3, 5)}, initializers={"w": normal(5, 6), "scale": normal(6), "bias": normal(6)},
         outputs=["y"], doc="MatMul-13 and LayerNormalization-17 at opset 21"),
    dict(name="unchanged_gemm_two_outputs_symbolic_batch_opset20", opset=20,
         nodes=[helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1),
                helper.make_node("Tanh", ["h"], ["t"]), helper.make_node("Sigmoid", ["h"], ["s"])],
         inputs={"x": normal(4, 3)}, shapes={"x": ["N", 3]},
         initializers={"w": normal(2, 3), "b": normal(2)}, outputs=["t", "s"],
         doc="a symbolic batch dimension and two outputs at opset 20"),
    dict(name="unchanged_argmax_int_output_opset22", opset=22,
         nodes=[helper.make_node("ArgMax", ["x"], ["y"], axis=1, keepdims=0)],
         inputs={"x": normal(4, 7)}, outputs=["y"],
         doc="an int64 output (its type comes from ONNX Runtime's result) at opset 22"),
]
