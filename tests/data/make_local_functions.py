#!/usr/bin/python3
"""Makes the fixtures in tests/data/local_functions/: small models whose parts are model-local
functions (ModelProto.functions, as onnxscript and torch's dynamo exporter write them), built with
ONNX's Python helper (Debian's python3-onnx 1.12) and numpy; load_onnx_model inlines the calls.

Every model is at opset 13 of the default domain and imports the function domain "custom" 1.

Files:
    mlp.onnx            x [N, 4] -> hidden = custom.LinearAct(x, W1, b1, alpha=0.2) -> y = hidden @ W2 + b2,
                        y [N, 3] (logits). LinearAct(x, W, b) = LeakyRelu(x @ W + b) with its attribute
                        "alpha" bound by ref_attr_name. The call node is named "lin" and the graph also has
                        a value named "lin/u" (what the function's own "u" would become), which inlining
                        must not reuse. Passes onnx.checker.check_model.
    nested.onnx         x [N, 4] -> custom.Block(x, W1, b1) -> custom.Block(., W2, b2) -> y [N, 3], where
                        Block(x, W, b) = Tanh(custom.Affine(x, W, b)) and Affine(x, W, b) = x @ W + b:
                        a function calling a function, called twice. Also holds custom.Unused, which no
                        node calls. Passes onnx.checker.check_model.
    recursion.onnx      y = custom.f(x), f calls custom.g, g calls custom.f.
    wrong_inputs.onnx   node "bad_call" calls custom.LinearAct (3 inputs) with 4.
    exponential.onnx    y = custom.f25(x), f_k(x) = f_{k-1}(f_{k-1}(x)), f_0 = Relu: 2^25 nodes inlined.
    opset_mismatch.onnx mlp.onnx with LinearAct importing opset 12 of the default domain.
    mlp_x.pb, mlp_y.pb          a fixed x [5, 4] and mlp.onnx's y on it, computed with numpy
    nested_x.pb, nested_y.pb    the same for nested.onnx
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "local_functions")
OPSET = 13
rng = np.random.default_rng(12)


def opsets(default=OPSET):
    return [helper.make_opsetid("", default), helper.make_opsetid("custom", 1)]


def ref_attr(name, ref, attr_type):
    a = onnx.AttributeProto()
    a.name = name
    a.ref_attr_name = ref
    a.type = attr_type
    return a


def linear_act(default_opset=OPSET):
    leaky = helper.make_node("LeakyRelu", ["u"], ["y"], name="act")
    leaky.attribute.append(ref_attr("alpha", "alpha", onnx.AttributeProto.FLOAT))
    return helper.make_function(
        "custom", "LinearAct", ["x", "W", "b"], ["y"],
        [helper.make_node("MatMul", ["x", "W"], ["t"], name="mm"),
         helper.make_node("Add", ["t", "b"], ["u"], name="add"), leaky],
        [helper.make_opsetid("", default_opset)], ["alpha"])


def weights(shape):
    return rng.normal(0.0, 0.5, size=shape).astype(np.float32)


def init(name, value):
    return numpy_helper.from_array(value, name)


def save(model, name, check=True):
    if check:
        onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, name))


def save_tensor(value, name, file):
    with open(os.path.join(OUT, file), "wb") as f:
        f.write(numpy_helper.from_array(value, name).SerializeToString())


def io(name, cols):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", cols])


def mlp_model(default_opset=OPSET):
    W1, b1, W2, b2 = weights((4, 8)), weights((8,)), weights((8, 3)), weights((3,))
    call = helper.make_node("LinearAct", ["x", "W1", "b1"], ["hidden"], name="lin", domain="custom", alpha=0.2)
    graph = helper.make_graph(
        [call, helper.make_node("MatMul", ["hidden", "W2"], ["lin/u"], name="out_mm"),
         helper.make_node("Add", ["lin/u", "b2"], ["y"], name="out_add")],
        "mlp", [io("x", 4)], [io("y", 3)],
        [init("W1", W1), init("b1", b1), init("W2", W2), init("b2", b2)])
    model = helper.make_model(graph, opset_imports=opsets(), functions=[linear_act(default_opset)])
    return model, (W1, b1, W2, b2)


def leaky(v, alpha):
    return np.where(v >= 0, v, alpha * v).astype(np.float32)


def make_mlp():
    model, (W1, b1, W2, b2) = mlp_model()
    save(model, "mlp.onnx")
    x = rng.normal(0.0, 1.0, size=(5, 4)).astype(np.float32)
    y = leaky(x @ W1 + b1, np.float32(0.2)) @ W2 + b2
    save_tensor(x, "x", "mlp_x.pb")
    save_tensor(y.astype(np.float32), "y", "mlp_y.pb")


def make_nested():
    affine = helper.make_function(
        "custom", "Affine", ["x", "W", "b"], ["y"],
        [helper.make_node("MatMul", ["x", "W"], ["t"]), helper.make_node("Add", ["t", "b"], ["y"])],
        [helper.make_opsetid("", OPSET)])
    block = helper.make_function(
        "custom", "Block", ["x", "W", "b"], ["y"],
        [helper.make_node("Affine", ["x", "W", "b"], ["a"], name="affine", domain="custom"),
         helper.make_node("Tanh", ["a"], ["y"], name="tanh")],
        [helper.make_opsetid("", OPSET), helper.make_opsetid("custom", 1)])
    unused = helper.make_function("custom", "Unused", ["x"], ["y"], [helper.make_node("Neg", ["x"], ["y"])],
                                  [helper.make_opsetid("", OPSET)])
    W1, b1, W2, b2 = weights((4, 6)), weights((6,)), weights((6, 3)), weights((3,))
    graph = helper.make_graph(
        [helper.make_node("Block", ["x", "W1", "b1"], ["h"], name="block1", domain="custom"),
         helper.make_node("Block", ["h", "W2", "b2"], ["y"], name="block2", domain="custom")],
        "nested", [io("x", 4)], [io("y", 3)],
        [init("W1", W1), init("b1", b1), init("W2", W2), init("b2", b2)])
    save(helper.make_model(graph, opset_imports=opsets(), functions=[affine, block, unused]), "nested.onnx")
    x = rng.normal(0.0, 1.0, size=(5, 4)).astype(np.float32)
    y = np.tanh(np.tanh(x @ W1 + b1) @ W2 + b2)
    save_tensor(x, "x", "nested_x.pb")
    save_tensor(y.astype(np.float32), "y", "nested_y.pb")


def single_call_model(name, fname, functions, inputs=("x",), extra_inits=()):
    graph = helper.make_graph(
        [helper.make_node(fname, list(inputs), ["y"], name="call", domain="custom")],
        name, [io("x", 4)], [io("y", 4)], list(extra_inits))
    return helper.make_model(graph, opset_imports=opsets(), functions=functions)


def make_recursion():
    f = helper.make_function("custom", "f", ["x"], ["y"], [helper.make_node("g", ["x"], ["y"], domain="custom")],
                             [helper.make_opsetid("custom", 1)])
    g = helper.make_function("custom", "g", ["x"], ["y"], [helper.make_node("f", ["x"], ["y"], domain="custom")],
                             [helper.make_opsetid("custom", 1)])
    save(single_call_model("recursion", "f", [f, g]), "recursion.onnx", check=False)


def make_wrong_inputs():
    W, b = weights((4, 4)), weights((4,))
    graph = helper.make_graph(
        [helper.make_node("LinearAct", ["x", "W", "b", "b"], ["y"], name="bad_call", domain="custom", alpha=0.1)],
        "wrong_inputs", [io("x", 4)], [io("y", 4)], [init("W", W), init("b", b)])
    save(helper.make_model(graph, opset_imports=opsets(), functions=[linear_act()]), "wrong_inputs.onnx",
         check=False)


def make_exponential():
    functions = [helper.make_function("custom", "f0", ["x"], ["y"], [helper.make_node("Relu", ["x"], ["y"])],
                                      [helper.make_opsetid("", OPSET)])]
    for k in range(1, 26):
        functions.append(helper.make_function(
            "custom", f"f{k}", ["x"], ["y"],
            [helper.make_node(f"f{k - 1}", ["x"], ["h"], domain="custom"),
             helper.make_node(f"f{k - 1}", ["h"], ["y"], domain="custom")],
            [helper.make_opsetid("custom", 1)]))
    save(single_call_model("exponential", "f25", functions), "exponential.onnx", check=False)


def make_opset_mismatch():
    model, _ = mlp_model(default_opset=12)
    save(model, "opset_mismatch.onnx", check=False)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    make_mlp()
    make_nested()
    make_recursion()
    make_wrong_inputs()
    make_exponential()
    make_opset_mismatch()
