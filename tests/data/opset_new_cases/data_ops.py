"""Cases of the reduction, shape, indexing and bitwise op versions of opsets 18-20.

Each case is one node (or a few) at a new op version; tests/data/make_opset_new.py builds it
into tests/data/opset_new/<name>/ with ONNX Runtime's outputs, and the runtime, which lowers
these versions to opset 17 at load, must match them. Axes, pads, shapes and splits given as
initializers are constants for the lowering; given as inputs they are known only at run time
(the lowerings that can, build them then).
"""
import numpy as np
from onnx import helper

rng = np.random.default_rng(18)


def f32(*shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, size=shape).astype(np.float32)


def i64(*values):
    return np.array(values, dtype=np.int64)


def node(op, inputs, outputs, **attrs):
    return helper.make_node(op, inputs, outputs, **attrs)


CASES = []


def case(name, opset, nodes, inputs, initializers=None, outputs=("y",), rtol=1e-4, atol=1e-5, shapes=None, doc=None):
    c = dict(name=name, opset=opset, nodes=nodes, inputs=inputs, initializers=initializers or {},
             outputs=list(outputs), rtol=rtol, atol=atol)
    if shapes:
        c["shapes"] = shapes
    if doc:
        c["doc"] = doc
    CASES.append(c)


# ---- Reduce*-18: axes as an input ---------------------------------------------------------
REDUCE_OPS = ["ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin",
              "ReduceProd", "ReduceSumSquare"]
for op in REDUCE_OPS:
    short = op[len("Reduce"):].lower()
    positive = op == "ReduceLogSum"
    x = f32(2, 3, 4, low=0.2 if positive else -2.0)
    case(f"reduce_{short}_18_axes", 18, [node(op, ["x", "axes"], ["y"])], {"x": x}, {"axes": i64(1)})
    case(f"reduce_{short}_18_negative_axes_keepdims0", 18, [node(op, ["x", "axes"], ["y"], keepdims=0)], {"x": x},
         {"axes": i64(-1, 0)})
    case(f"reduce_{short}_18_all_axes", 18, [node(op, ["x"], ["y"], keepdims=0)], {"x": x})
    case(f"reduce_{short}_18_empty_axes_noop", 18, [node(op, ["x", "axes"], ["y"], noop_with_empty_axes=1)],
         {"x": x}, {"axes": np.zeros([0], np.int64)})
    if op not in ("ReduceMax", "ReduceMin", "ReduceProd"):
        # axes a graph input: known only at run time (ReduceSum-13 takes axes as an input)
        case(f"reduce_{short}_18_runtime_axes", 18, [node(op, ["x", "axes"], ["y"])], {"x": x, "axes": i64(0, 2)})
        case(f"reduce_{short}_18_runtime_axes_keepdims0", 18, [node(op, ["x", "axes"], ["y"], keepdims=0)],
             {"x": x, "axes": i64(-1)})
# noop_with_empty_axes=1 and empty axes: nothing is reduced; the elementwise part of the op
# remains (|x| for L1 and L2, x * x for SumSquare, log x for LogSum), with axes known at load
# (the cases above), fed at run time, or absent.
for op in ("ReduceMean", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"):
    short = op[len("Reduce"):].lower()
    x = f32(3, 4, low=0.2 if op == "ReduceLogSum" else -2.0)
    case(f"reduce_{short}_18_runtime_empty_axes_noop", 18, [node(op, ["x", "axes"], ["y"], noop_with_empty_axes=1)],
         {"x": x, "axes": np.zeros([0], np.int64)})
    case(f"reduce_{short}_18_no_axes_noop", 18, [node(op, ["x"], ["y"], noop_with_empty_axes=1)], {"x": x})
case("reduce_l2_18_symbolic_batch", 18, [node("ReduceL2", ["x", "axes"], ["y"], keepdims=0)], {"x": f32(2, 3, 4)},
     {"axes": i64(-1)}, shapes={"x": ["N", 3, 4]})
case("reduce_logsumexp_18_large_values", 18, [node("ReduceLogSumExp", ["x", "axes"], ["y"])],
     {"x": f32(3, 4, low=80, high=120), "axes": i64(1)})
# later opsets run the -18 rule
case("reduce_mean_21_axes", 21, [node("ReduceMean", ["x", "axes"], ["y"], keepdims=0)], {"x": f32(4, 5)},
     {"axes": i64(1)})
case("reduce_max_20_axes", 20, [node("ReduceMax", ["x", "axes"], ["y"])], {"x": f32(3, 4)}, {"axes": i64(0)})
case("reduce_max_20_bool", 20, [node("ReduceMax", ["x", "axes"], ["y"], keepdims=0)],
     {"x": rng.uniform(size=(3, 4)) > 0.7}, {"axes": i64(1)})
case("reduce_min_20_bool", 20, [node("ReduceMin", ["x", "axes"], ["y"])],
     {"x": rng.uniform(size=(3, 4)) > 0.3}, {"axes": i64(0)})
case("reduce_max_18_int32", 18, [node("ReduceMax", ["x", "axes"], ["y"])],
     {"x": rng.integers(-50, 50, size=(3, 4)).astype(np.int32)}, {"axes": i64(1)})

# ---- Split-18: num_outputs ------------------------------------------------------------------
case("split_18_num_outputs_even", 18, [node("Split", ["x"], ["y0", "y1", "y2"], num_outputs=3)], {"x": f32(6, 4)},
     outputs=["y0", "y1", "y2"])
case("split_18_num_outputs_uneven", 18, [node("Split", ["x"], ["y0", "y1", "y2"], axis=1, num_outputs=3)],
     {"x": f32(2, 7)}, outputs=["y0", "y1", "y2"])
case("split_18_num_outputs_negative_axis", 18, [node("Split", ["x"], ["y0", "y1"], axis=-1, num_outputs=2)],
     {"x": f32(2, 3, 5)}, outputs=["y0", "y1"])
case("split_18_num_outputs_symbolic_dim", 18, [node("Split", ["x"], ["y0", "y1", "y2"], num_outputs=3)],
     {"x": f32(7, 2)}, outputs=["y0", "y1", "y2"], shapes={"x": ["N", 2]},
     doc="the split axis has no static size: the part sizes are computed at run time")
case("split_18_split_input", 18, [node("Split", ["x", "split"], ["y0", "y1"], axis=0)], {"x": f32(6, 2)},
     {"split": i64(2, 4)}, outputs=["y0", "y1"])
case("split_18_runtime_split", 18, [node("Split", ["x", "split"], ["y0", "y1", "y2"], axis=1)],
     {"x": f32(2, 6), "split": i64(1, 2, 3)}, outputs=["y0", "y1", "y2"])

# ---- Pad-18 (axes), Pad-19 (wrap) ------------------------------------------------------------
x_pad = f32(2, 3, 4)
case("pad_18_axes_constant", 18, [node("Pad", ["x", "pads", "value", "axes"], ["y"])], {"x": x_pad},
     {"pads": i64(1, 2), "value": np.array(1.5, np.float32), "axes": i64(2)})
case("pad_18_negative_axes_reflect", 18, [node("Pad", ["x", "pads", "", "axes"], ["y"], mode="reflect")],
     {"x": x_pad}, {"pads": i64(1, 0, 2, 1), "axes": i64(-1, 1)})
case("pad_18_edge_all_axes", 18, [node("Pad", ["x", "pads"], ["y"], mode="edge")], {"x": x_pad},
     {"pads": i64(0, 1, 2, 1, 0, 1)})
case("pad_18_axes_runtime_pads", 18, [node("Pad", ["x", "pads", "", "axes"], ["y"])],
     {"x": x_pad, "pads": i64(2, 1, 0, 3)}, {"axes": i64(0, 2)})
case("pad_18_axes_negative_pads", 18, [node("Pad", ["x", "pads", "", "axes"], ["y"])], {"x": x_pad},
     {"pads": i64(-1, 2), "axes": i64(2)})
case("pad_18_runtime_axes", 18, [node("Pad", ["x", "pads", "value", "axes"], ["y"])],
     {"x": x_pad, "axes": np.array([-1, 0], np.int32)}, {"pads": i64(1, 0, 2, 1), "value": np.array(-3, np.float32)},
     doc="axes fed at run time (int32, one negative): the pads are scattered to their positions then")
x_wrap = f32(3, 4)
case("pad_19_wrap", 19, [node("Pad", ["x", "pads"], ["y"], mode="wrap")], {"x": x_wrap}, {"pads": i64(1, 2, 2, 3)})
case("pad_19_wrap_axes", 19, [node("Pad", ["x", "pads", "", "axes"], ["y"], mode="wrap")], {"x": f32(2, 3, 4)},
     {"pads": i64(3, 1), "axes": i64(-1)})
case("pad_19_wrap_negative_pads", 19, [node("Pad", ["x", "pads"], ["y"], mode="wrap")], {"x": x_wrap},
     {"pads": i64(-1, 1, 0, -2)})
case("pad_19_reflect", 19, [node("Pad", ["x", "pads"], ["y"], mode="reflect")], {"x": x_wrap},
     {"pads": i64(1, 2, 1, 1)})
case("pad_19_wrap_symbolic_batch", 19, [node("Pad", ["x", "pads", "", "axes"], ["y"], mode="wrap")], {"x": x_wrap},
     {"pads": i64(2, 1), "axes": i64(1)}, shapes={"x": ["N", 4]})
case("pad_21_wrap", 21, [node("Pad", ["x", "pads"], ["y"], mode="wrap")], {"x": x_wrap}, {"pads": i64(0, 4, 2, 0)})

# ---- ScatterElements-18 / ScatterND-18: max, min ----------------------------------------------
data = f32(3, 4)
idx = np.array([[1, 0, 3], [2, 2, 0], [1, 1, 1]], np.int64)
upd = f32(3, 3)
for reduction in ("max", "min"):
    case(f"scatter_elements_18_{reduction}", 18,
         [node("ScatterElements", ["data", "indices", "updates"], ["y"], axis=1, reduction=reduction)],
         {"data": data, "updates": upd}, {"indices": idx})
    case(f"scatter_elements_18_{reduction}_axis0_int64", 18,
         [node("ScatterElements", ["data", "indices", "updates"], ["y"], axis=0, reduction=reduction)],
         {"data": rng.integers(-9, 9, size=(3, 3)).astype(np.int64),
          "updates": rng.integers(-9, 9, size=(2, 3)).astype(np.int64)},
         {"indices": np.array([[0, 2, 2], [0, 1, -1]], np.int64)})
    case(f"scatter_nd_18_{reduction}", 18,
         [node("ScatterND", ["data", "indices", "updates"], ["y"], reduction=reduction)],
         {"data": f32(4, 3), "updates": f32(3, 3)}, {"indices": np.array([[1], [3], [1]], np.int64)})
    case(f"scatter_nd_18_{reduction}_elements", 18,
         [node("ScatterND", ["data", "indices", "updates"], ["y"], reduction=reduction)],
         {"data": f32(2, 3), "updates": f32(4)}, {"indices": np.array([[0, 1], [1, 2], [0, 1], [1, 0]], np.int64)})
case("scatter_elements_18_add", 18,
     [node("ScatterElements", ["data", "indices", "updates"], ["y"], axis=1, reduction="add")],
     {"data": data, "updates": upd}, {"indices": idx})

# ---- BitwiseAnd/Or/Xor/Not-18 ----------------------------------------------------------------
a32 = rng.integers(-1000, 1000, size=(3, 4)).astype(np.int32)
b32 = rng.integers(-1000, 1000, size=(4,)).astype(np.int32)
case("bitwise_and_18_broadcast", 18, [node("BitwiseAnd", ["a", "b"], ["y"])], {"a": a32, "b": b32})
case("bitwise_or_18_uint8", 18, [node("BitwiseOr", ["a", "b"], ["y"])],
     {"a": rng.integers(0, 256, size=(2, 5)).astype(np.uint8), "b": rng.integers(0, 256, size=(2, 5)).astype(np.uint8)})
case("bitwise_xor_18_int64", 18, [node("BitwiseXor", ["a", "b"], ["y"])],
     {"a": rng.integers(-2**40, 2**40, size=(2, 1, 3)), "b": rng.integers(-2**40, 2**40, size=(4, 1))})
case("bitwise_not_18_int16", 18, [node("BitwiseNot", ["x"], ["y"])],
     {"x": rng.integers(-300, 300, size=(3, 2)).astype(np.int16)})
case("bitwise_not_18_uint16", 18, [node("BitwiseNot", ["x"], ["y"])],
     {"x": rng.integers(0, 60000, size=(5,)).astype(np.uint16)})

# ---- CenterCropPad-18 ------------------------------------------------------------------------
case("center_crop_pad_18_crop", 18, [node("CenterCropPad", ["x", "shape"], ["y"])], {"x": f32(10, 7, 3)},
     {"shape": i64(4, 4, 3)})
case("center_crop_pad_18_pad", 18, [node("CenterCropPad", ["x", "shape"], ["y"])], {"x": f32(3, 2)},
     {"shape": i64(6, 5)})
case("center_crop_pad_18_crop_and_pad_axes", 18, [node("CenterCropPad", ["x", "shape"], ["y"], axes=[1, 2])],
     {"x": f32(2, 9, 4)}, {"shape": i64(4, 7)})
case("center_crop_pad_18_negative_axes", 18, [node("CenterCropPad", ["x", "shape"], ["y"], axes=[-1])],
     {"x": f32(2, 3, 5)}, {"shape": i64(2)})
case("center_crop_pad_18_symbolic_sizes", 18, [node("CenterCropPad", ["x", "shape"], ["y"], axes=[0, 2])],
     {"x": f32(7, 3, 2)}, {"shape": i64(4, 5)}, shapes={"x": ["N", 3, "W"]},
     doc="sizes known only at run time: the crop starts and pads are computed then")

# ---- DFT-20: axis as an input ----------------------------------------------------------------
case("dft_20_axis_input", 20, [node("DFT", ["x", "", "axis"], ["y"])], {"x": f32(2, 8, 1)},
     {"axis": np.array(1, np.int64)}, rtol=1e-4, atol=1e-4)
case("dft_20_default_axis_complex", 20, [node("DFT", ["x"], ["y"])], {"x": f32(2, 3, 6, 2)}, rtol=1e-4, atol=1e-4)
case("dft_20_inverse_negative_axis", 20, [node("DFT", ["x", "", "axis"], ["y"], inverse=1)], {"x": f32(4, 5, 2)},
     {"axis": np.array(-3, np.int64)}, rtol=1e-4, atol=1e-4)
case("dft_20_onesided_length", 20, [node("DFT", ["x", "length", "axis"], ["y"], onesided=1)], {"x": f32(2, 6, 1)},
     {"length": np.array(8, np.int64), "axis": np.array(1, np.int64)}, rtol=1e-4, atol=1e-4)

# ---- Col2Im-18 -------------------------------------------------------------------------------
# image 4 x 5, block 2 x 2, stride 1: 3 x 4 = 12 block positions of C = 2 channels.
case("col2im_18", 18, [node("Col2Im", ["x", "image", "block"], ["y"])], {"x": f32(1, 8, 12)},
     {"image": i64(4, 5), "block": i64(2, 2)})
# strides 2, pads 1, dilation 2 on the width: (5 + 2 - 3) / 2 + 1 = 3 rows, (6 + 2 - 5) / 2 + 1 = 2 columns.
case("col2im_18_strides_pads_dilations", 18,
     [node("Col2Im", ["x", "image", "block"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1], dilations=[1, 2])],
     {"x": f32(2, 12, 6)}, {"image": i64(5, 6), "block": i64(2, 3)})
# (A 1-D Col2Im is not a case: ONNX Runtime 1.20 returns uninitialised values for it;
# tests/importers/lowering_data_test.cc checks one by hand.)
