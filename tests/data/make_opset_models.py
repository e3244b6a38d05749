#!/usr/bin/python3
"""Makes tests/data/opset_models/: a small CNN classifier and a small transformer encoder classifier,
written by hand with ONNX's Python helper at opsets 18, 20 and 23 in the forms current exporters
write (torch's dynamo exporter, onnxscript), so the op versions those opsets introduced are what
they are built of. tests/cli/opset_new_cli_test.cc trains each through the command line, exports it
and runs the export in ONNX Runtime.

Models (each a folder NAME/ with model.onnx and test_data_set_0/input_0.pb, x of 5 samples, and
output_0.pb, ONNX Runtime's logits on it; graph output "logits" [N, 3]; N is symbolic):
    cnn_opset18          x [N, 3, 8, 8] -> stem.conv (3->8, 3x3) -> stem.norm GroupNormalization-18
                         (4 groups, scale/bias per group) -> stem.act Mish-18 -> block.conv (8->8, 3x3,
                         stride 2) -> block.norm GroupNormalization-18 (2 groups) -> block.act Relu ->
                         pool ReduceMean-18 (axes input [2, 3]: global average pool) -> head Gemm
    cnn_opset20          the same with Gelu-20 (approximate "tanh") as stem.act
    cnn_opset23          GroupNormalization-21 (scale/bias per channel, stash_type 1) and Gelu-20
                         (approximate "none")
    transformer_opset18  x [N, 6, 4] -> embed (MatMul + bias + learned positions) -> one pre-norm
                         encoder layer: ln1 a LayerNorm written out with ReduceMean-18 (axes input
                         [-1]), attn.qkv MatMul -> attn.split Split-18 (num_outputs 3) -> 2 heads of
                         scaled dot-product attention (Reshape/Transpose/MatMul/Softmax) -> attn.out,
                         residual; ln2, mlp (fc1, Mish-18, fc2), residual -> pool ReduceMean-18 (axes
                         [1]) -> head Gemm
    transformer_opset20  the same with Gelu-20 in the MLP
    transformer_functions_opset18
                         transformer_opset18 with both LayerNorms as calls ("ln1", "ln2") of a
                         model-local function onnx_train_tests.LayerNorm(x, weight, bias), its
                         attribute "epsilon" bound by ref_attr_name (as onnxscript and torch's
                         dynamo exporter write modules): inlined, then lowered, at load
    transformer_opset23  RMSNormalization-23 for both norms, RotaryEmbedding-23 on q and k (3-D form,
                         num_heads 2; cos/sin caches rope.cos/rope.sin [6, 4], position_ids built from
                         the batch size: Expand of [[0..5]] to [N, 6]), Attention-23 (3-D, 2 heads),
                         Gelu-20 (approximate "tanh") in the MLP
Every node has a name ("stem.conv", "attn.split", ...), scalar constants (epsilons, the attention
scale) are Constant nodes, and every model carries metadata_props (author, task, and its own
"model_name"), so an export can be checked for keeping them. The rotary caches are weights a user
would freeze (--freeze '^rope\\.').

Data (npy, as the command line reads a folder: train/ and val/ with x.npy and label.npy, 3 classes):
    cnn_data/            x [48 | 24, 3, 8, 8]: the class is the band of rows (top, middle, bottom)
                         holding a bright stripe, on every channel, plus noise
    transformer_data/    x [48 | 24, 6, 4]: the class is the feature (0, 1, 2) raised by 1 over
                         the whole sequence, plus noise

ONNX Runtime (onnxruntime-node 1.31.1 for opset 23) gives the expected outputs, through
tests/data/opset_new_ort.js; it is found on NODE_PATH or in tests/cli/node_modules.
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "opset_models")
ORT_SCRIPT = os.path.join(HERE, "opset_new_ort.js")
IR_VERSION = {18: 8, 20: 9, 23: 11}
CLASSES = 3


class Graph:
    """Nodes and initializers of one model, with names that say what each is."""

    def __init__(self, rng):
        self.rng = rng
        self.nodes, self.inits = [], []

    def node(self, op, inputs, name, outputs=None, **attrs):
        outputs = outputs or [name]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    def weight(self, name, shape, scale=None):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        value = self.rng.normal(0.0, scale if scale is not None else 1.0 / np.sqrt(fan_in), size=shape)
        return self.init(name, value.astype(np.float32))

    def init(self, name, value):
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def scalar(self, name, value):
        """A float scalar as a Constant node (a setting, not a weight: training leaves it)."""
        return self.node("Constant", [], name, value=numpy_helper.from_array(np.array(value, np.float32), name))

    def ints(self, name, values):
        return self.node("Constant", [], name, value=numpy_helper.from_array(np.array(values, np.int64), name))

    def linear(self, x, prefix, n_in, n_out):
        """x @ W + b, as torch's exporter writes nn.Linear on 3-D inputs."""
        h = self.node("MatMul", [x, self.weight(f"{prefix}.weight", [n_in, n_out])], f"{prefix}.matmul")
        return self.node("Add", [h, self.init(f"{prefix}.bias", np.zeros(n_out, np.float32))], f"{prefix}.add")


def save_model(g, name, opset, x_shape, doc, task, functions=()):
    graph = helper.make_graph(
        g.nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"] + x_shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES])], g.inits)
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(FUNCTIONS, 1)] * bool(functions)
    model = helper.make_model(graph, opset_imports=opsets, functions=list(functions),
                              producer_name="onnx-train tests/data/make_opset_models.py", doc_string=doc)
    model.ir_version = IR_VERSION[opset]
    helper.set_model_props(model, {"author": "onnx-train tests", "task": task, "model_name": name})
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(os.path.join(folder, "test_data_set_0"))
    onnx.save(model, os.path.join(folder, "model.onnx"))
    return folder


# ---- CNN

def group_norm(g, x, prefix, channels, groups, opset):
    # GroupNormalization-18: scale and bias per group; -21: per channel, and stash_type.
    n = groups if opset < 21 else channels
    scale = g.init(f"{prefix}.weight", (1.0 + 0.1 * g.rng.normal(size=n)).astype(np.float32))
    bias = g.init(f"{prefix}.bias", (0.1 * g.rng.normal(size=n)).astype(np.float32))
    attrs = dict(num_groups=groups, epsilon=1e-5)
    if opset >= 21:
        attrs["stash_type"] = 1
    return g.node("GroupNormalization", [x, scale, bias], prefix, **attrs)


def activation(g, x, name, opset, approximate):
    if opset < 20:
        return g.node("Mish", [x], name)
    return g.node("Gelu", [x], name, approximate=approximate)


def cnn(opset, rng):
    g = Graph(rng)
    h = g.node("Conv", ["x", g.weight("stem.conv.weight", [8, 3, 3, 3]), g.init("stem.conv.bias", np.zeros(8, np.float32))],
               "stem.conv", pads=[1, 1, 1, 1], kernel_shape=[3, 3])
    h = group_norm(g, h, "stem.norm", 8, 4, opset)
    h = activation(g, h, "stem.act", opset, "tanh" if opset == 20 else "none")
    h = g.node("Conv", [h, g.weight("block.conv.weight", [8, 8, 3, 3]), g.init("block.conv.bias", np.zeros(8, np.float32))],
               "block.conv", pads=[1, 1, 1, 1], strides=[2, 2], kernel_shape=[3, 3])
    h = group_norm(g, h, "block.norm", 8, 2, opset)
    h = g.node("Relu", [h], "block.act")
    h = g.node("ReduceMean", [h, g.ints("pool.axes", [2, 3])], "pool", keepdims=0)
    g.node("Gemm", [h, g.weight("head.weight", [CLASSES, 8]), g.init("head.bias", np.zeros(CLASSES, np.float32))],
           "head", outputs=["logits"], transB=1)
    norm = "GroupNormalization-18" if opset < 21 else "GroupNormalization-21"
    act = "Mish-18" if opset < 20 else "Gelu-20"
    return save_model(g, f"cnn_opset{opset}", opset, [3, 8, 8],
                      f"A small CNN classifier at opset {opset}: {norm}, {act}, ReduceMean-18 as global pooling",
                      "stripe position, 3 classes")


# ---- Transformer

T, F, D, HEADS = 6, 4, 16, 2


def layer_norm(g, x, prefix):
    """LayerNorm over the last axis written out, as exporters do without LayerNormalization."""
    axes = g.ints(f"{prefix}.axes", [-1])
    mean = g.node("ReduceMean", [x, axes], f"{prefix}.mean", keepdims=1)
    c = g.node("Sub", [x, mean], f"{prefix}.center")
    var = g.node("ReduceMean", [g.node("Mul", [c, c], f"{prefix}.square"), axes], f"{prefix}.var", keepdims=1)
    std = g.node("Sqrt", [g.node("Add", [var, g.scalar(f"{prefix}.eps", 1e-5)], f"{prefix}.var_eps")], f"{prefix}.std")
    n = g.node("Div", [c, std], f"{prefix}.normalize")
    n = g.node("Mul", [n, g.init(f"{prefix}.weight", np.ones(D, np.float32))], f"{prefix}.scale")
    return g.node("Add", [n, g.init(f"{prefix}.bias", np.zeros(D, np.float32))], f"{prefix}.shift")


FUNCTIONS = "onnx_train_tests"


def layer_norm_function(opset):
    """layer_norm's nodes as the function onnx_train_tests.LayerNorm(x, weight, bias), attribute epsilon."""
    eps = helper.make_node("Constant", [], ["eps"], name="eps")
    ref = onnx.AttributeProto(name="value_float", ref_attr_name="epsilon", type=onnx.AttributeProto.FLOAT)
    eps.attribute.append(ref)
    nodes = [helper.make_node("Constant", [], ["axes"], name="axes", value_ints=[-1]),
             helper.make_node("ReduceMean", ["x", "axes"], ["mean"], name="mean", keepdims=1),
             helper.make_node("Sub", ["x", "mean"], ["c"], name="center"),
             helper.make_node("Mul", ["c", "c"], ["sq"], name="square"),
             helper.make_node("ReduceMean", ["sq", "axes"], ["var"], name="var", keepdims=1), eps,
             helper.make_node("Add", ["var", "eps"], ["var_eps"], name="var_eps"),
             helper.make_node("Sqrt", ["var_eps"], ["std"], name="std"),
             helper.make_node("Div", ["c", "std"], ["n"], name="normalize"),
             helper.make_node("Mul", ["n", "weight"], ["scaled"], name="scale"),
             helper.make_node("Add", ["scaled", "bias"], ["y"], name="shift")]
    return helper.make_function(FUNCTIONS, "LayerNorm", ["x", "weight", "bias"], ["y"], nodes,
                                [helper.make_opsetid("", opset)], ["epsilon"])


def norm(g, x, prefix, opset, functions=False):
    if functions:
        return g.node("LayerNorm", [x, g.init(f"{prefix}.weight", np.ones(D, np.float32)),
                                    g.init(f"{prefix}.bias", np.zeros(D, np.float32))], prefix, domain=FUNCTIONS,
                      epsilon=1e-5)
    if opset < 23:
        return layer_norm(g, x, prefix)
    return g.node("RMSNormalization", [x, g.init(f"{prefix}.weight", np.ones(D, np.float32))], prefix, axis=-1,
                  epsilon=1e-5)


def heads_attention(g, q, k, v):
    """Scaled dot-product attention over 2 heads with Reshape/Transpose/MatMul/Softmax."""
    split = g.ints("attn.head_shape", [0, 0, HEADS, D // HEADS])
    qh = g.node("Transpose", [g.node("Reshape", [q, split], "attn.q_heads")], "attn.q_t", perm=[0, 2, 1, 3])
    kh = g.node("Transpose", [g.node("Reshape", [k, split], "attn.k_heads")], "attn.k_t", perm=[0, 2, 3, 1])
    vh = g.node("Transpose", [g.node("Reshape", [v, split], "attn.v_heads")], "attn.v_t", perm=[0, 2, 1, 3])
    scores = g.node("Mul", [g.node("MatMul", [qh, kh], "attn.qk"), g.scalar("attn.scale", 1 / np.sqrt(D // HEADS))],
                    "attn.scaled")
    p = g.node("Softmax", [scores], "attn.softmax", axis=-1)
    o = g.node("Transpose", [g.node("MatMul", [p, vh], "attn.pv")], "attn.o_t", perm=[0, 2, 1, 3])
    return g.node("Reshape", [o, g.ints("attn.merge_shape", [0, 0, D])], "attn.merge")


def rotary_attention(g, q, k, v):
    """RotaryEmbedding-23 on q and k, then Attention-23, both in their 3-D forms."""
    rot = D // HEADS
    inv = 1.0 / (10000 ** (np.arange(0, rot, 2) / rot))
    angles = np.outer(np.arange(T), inv)
    cos, sin = g.init("rope.cos", np.cos(angles).astype(np.float32)), g.init("rope.sin", np.sin(angles).astype(np.float32))
    batch = g.node("Shape", ["x"], "rope.batch", start=0, end=1)
    shape = g.node("Concat", [batch, g.ints("rope.seq", [T])], "rope.ids_shape", axis=0)
    ids = g.node("Expand", [g.ints("rope.positions", [list(range(T))]), shape], "rope.position_ids")
    qr = g.node("RotaryEmbedding", [q, cos, sin, ids], "attn.q_rotary", num_heads=HEADS)
    kr = g.node("RotaryEmbedding", [k, cos, sin, ids], "attn.k_rotary", num_heads=HEADS)
    return g.node("Attention", [qr, kr, v], "attn.attention", q_num_heads=HEADS, kv_num_heads=HEADS)


def transformer(opset, rng, functions=False):
    g = Graph(rng)
    h = g.linear("x", "embed", F, D)
    h = g.node("Add", [h, g.weight("embed.positions", [T, D], scale=0.1)], "embed.add_positions")
    n = norm(g, h, "ln1", opset, functions)
    qkv = g.linear(n, "attn.qkv", D, 3 * D)
    q, k, v = g.node("Split", [qkv], "attn.split", outputs=["attn.q", "attn.k", "attn.v"], axis=-1, num_outputs=3)
    a = heads_attention(g, q, k, v) if opset < 23 else rotary_attention(g, q, k, v)
    h = g.node("Add", [h, g.linear(a, "attn.out", D, D)], "attn.residual")
    n = norm(g, h, "ln2", opset, functions)
    m = activation(g, g.linear(n, "mlp.fc1", D, 2 * D), "mlp.act", opset, "none" if opset == 20 else "tanh")
    h = g.node("Add", [h, g.linear(m, "mlp.fc2", 2 * D, D)], "mlp.residual")
    h = g.node("ReduceMean", [h, g.ints("pool.axes", [1])], "pool", keepdims=0)
    g.node("Gemm", [h, g.weight("head.weight", [CLASSES, D]), g.init("head.bias", np.zeros(CLASSES, np.float32))],
           "head", outputs=["logits"], transB=1)
    parts = ("a LayerNorm of ReduceMean-18, Split-18, Mish-18" if opset == 18 else
             "a LayerNorm of ReduceMean-18, Split-18, Gelu-20" if opset == 20 else
             "RMSNormalization-23, Split-18, RotaryEmbedding-23, Attention-23, Gelu-20")
    if functions:
        parts += ", its LayerNorms calls of the local function onnx_train_tests.LayerNorm"
    return save_model(g, f"transformer{'_functions' * functions}_opset{opset}", opset, [T, F],
                      f"A one-layer transformer encoder classifier at opset {opset}: {parts}, ReduceMean-18 pooling",
                      "raised feature, 3 classes", [layer_norm_function(opset)] if functions else ())


# ---- Data

def cnn_data(n, rng):
    label = np.arange(n, dtype=np.int64) % CLASSES
    rng.shuffle(label)
    x = rng.normal(0.0, 0.3, size=(n, 3, 8, 8)).astype(np.float32)
    for i, c in enumerate(label):
        x[i, :, 3 * c:3 * c + 2, :] += 1.5  # rows 0-1, 3-4 or 6-7
    return x, label


def transformer_data(n, rng):
    label = np.arange(n, dtype=np.int64) % CLASSES
    rng.shuffle(label)
    x = rng.normal(0.0, 0.5, size=(n, T, F)).astype(np.float32)
    x[np.arange(n), :, label] += 1.0
    return x, label


def save_data(name, make, rng):
    for split, n in (("train", 48), ("val", 24)):
        folder = os.path.join(OUT, name, split)
        os.makedirs(folder, exist_ok=True)
        x, label = make(n, rng)
        np.save(os.path.join(folder, "x.npy"), x)
        np.save(os.path.join(folder, "label.npy"), label)


def save_input(folder, x):
    with open(os.path.join(folder, "test_data_set_0", "input_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(x, "x").SerializeToString())


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(1820)
    save_data("cnn_data", cnn_data, rng)
    save_data("transformer_data", transformer_data, rng)
    folders = []
    for opset in (18, 20, 23):
        folders.append(cnn(opset, rng))
        save_input(folders[-1], cnn_data(5, rng)[0])
        folders.append(transformer(opset, rng))
        save_input(folders[-1], transformer_data(5, rng)[0])
    folders.append(transformer(18, rng, functions=True))
    save_input(folders[-1], transformer_data(5, rng)[0])
    env = dict(os.environ)
    env["NODE_PATH"] = os.pathsep.join(
        p for p in (env.get("NODE_PATH"), os.path.join(HERE, "..", "cli", "node_modules")) if p)
    run = subprocess.run([shutil.which("node") or "/usr/bin/node", ORT_SCRIPT] + folders, env=env)
    if run.returncode != 0:
        sys.exit("make_opset_models: ONNX Runtime did not run every model")
    return 0


if __name__ == "__main__":
    sys.exit(main())
