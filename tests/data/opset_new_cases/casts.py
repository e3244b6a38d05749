# Cases of the conversion op versions of opsets 19-21 (importers/lowerings/casts.cc): Cast and
# CastLike with saturate (19), QuantizeLinear with saturate (19) and output_dtype (21),
# DequantizeLinear-21; per tensor and per axis. See README.md here for the format.
import numpy as np
from onnx import TensorProto, helper

rng = np.random.default_rng(19)


def _x(*shape):
    return (rng.normal(size=shape) * 4).astype(np.float32)


CASES = [
    dict(name="cast_19_saturate_to_int", opset=19,
         nodes=[helper.make_node("Cast", ["x"], ["y"], to=TensorProto.INT32, saturate=1)],
         inputs={"x": _x(3, 4)}, outputs=["y"],
         doc="saturate (1, its default) applies to float8 targets only: a float to int32 cast truncates as "
             "Cast-13 (ONNX Runtime refuses saturate=0 on other targets; onnx-train accepts it)"),
    dict(name="cast_21_to_double", opset=21,
         nodes=[helper.make_node("Cast", ["x"], ["y"], to=TensorProto.DOUBLE)],
         inputs={"x": _x(2, 5)}, outputs=["y"]),
    dict(name="cast_23_float_to_bool", opset=23,
         nodes=[helper.make_node("Cast", ["x"], ["y"], to=TensorProto.BOOL)],
         inputs={"x": np.array([[0, 1.5, -2], [0, 0, 3]], np.float32)}, outputs=["y"]),
    dict(name="castlike_19_to_int64", opset=19,
         nodes=[helper.make_node("CastLike", ["x", "like"], ["y"])],
         inputs={"x": _x(4), "like": np.array([1], np.int64)}, outputs=["y"]),
    dict(name="quantizelinear_19_per_tensor", opset=19,
         nodes=[helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["y"], saturate=1)],
         inputs={"x": _x(3, 4)},
         initializers={"scale": np.array(0.05, np.float32), "zero": np.array(-3, np.int8)},
         outputs=["y"], doc="values beyond the int8 range saturate"),
    dict(name="quantizelinear_21_output_dtype", opset=21,
         nodes=[helper.make_node("QuantizeLinear", ["x", "scale"], ["y"], output_dtype=TensorProto.INT8)],
         inputs={"x": _x(2, 6)}, initializers={"scale": np.array(0.1, np.float32)}, outputs=["y"],
         doc="output_dtype without a zero point: int8 with zero point 0"),
    dict(name="quantizelinear_21_per_axis", opset=21,
         nodes=[helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["y"], axis=1)],
         inputs={"x": _x(2, 3, 4)},
         initializers={"scale": np.array([0.1, 0.2, 0.05], np.float32),
                       "zero": np.array([0, 10, 250], np.uint8)},
         outputs=["y"]),
    dict(name="dequantizelinear_21_per_axis", opset=21,
         nodes=[helper.make_node("DequantizeLinear", ["x", "scale", "zero"], ["y"], axis=-1)],
         inputs={"x": rng.integers(-128, 127, size=(3, 4)).astype(np.int8)},
         initializers={"scale": np.array([0.5, 0.25, 1.0, 2.0], np.float32),
                       "zero": np.array([0, -4, 7, 1], np.int8)},
         outputs=["y"]),
    dict(name="dequantize_quantize_21_round_trip", opset=21,
         nodes=[helper.make_node("QuantizeLinear", ["x", "scale"], ["q"], output_dtype=TensorProto.UINT8),
                helper.make_node("DequantizeLinear", ["q", "scale"], ["y"])],
         inputs={"x": np.abs(_x(5))}, initializers={"scale": np.array(0.02, np.float32)},
         outputs=["y"]),
]
