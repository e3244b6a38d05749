#!/usr/bin/env python3
"""Writes the hostile-input corpus of tests/hostile/ (README.md there says what it is for).

Every file is built here from fixed bytes and seeded generators, so running the script again
writes the same bytes (zip entries carry a fixed date, gzip streams mtime 0). The files are
committed; the tests read them and never need Python.

    /usr/bin/python3 tests/hostile/make_hostile.py          # rewrite the files and MANIFEST.tsv

MANIFEST.tsv keeps lines it did not write (findings other people added) after its own, in
their order. Each case below is: the path under tests/hostile, the role, the expected error
category, a fragment of the expected message, and what is wrong with the file.
"""
import gzip
import io
import os
import struct
import sys
import zipfile
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = []  # (path, role, category, fragment, what)


def case(path, role, category, fragment, what, data):
    full = os.path.join(HERE, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data)
    CASES.append((path, role, category, fragment, what))


def extra(path, data):
    """A file a case needs beside it (external data), in the case's own folder."""
    full = os.path.join(HERE, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data)


# ---- Models: the linear classifier the tests build too (tests/cli/cli_harness.h make_linear):
# x [N, 4] -> Flatten -> Gemm(fc.weight [3, 4], fc.bias [3], transB) -> logits [N, 3].

def weights():
    rng = np.random.RandomState(11)
    w = numpy_helper.from_array((rng.randn(3, 4) * 0.05).astype(np.float32), "fc.weight")
    b = numpy_helper.from_array((rng.randn(3) * 0.05).astype(np.float32), "fc.bias")
    return w, b


def linear_graph(nodes=None, initializers=None, inputs=None, outputs=None):
    w, b = weights()
    if nodes is None:
        nodes = [helper.make_node("Flatten", ["x"], ["flat"]),
                 helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], transB=1)]
    return helper.make_graph(
        nodes, "linear",
        inputs if inputs is not None else [helper.make_tensor_value_info("x", TensorProto.FLOAT, [-1, 4])],
        outputs if outputs is not None else [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [-1, 3])],
        initializers if initializers is not None else [w, b])


def model_bytes(graph=None, opset=13, ir_version=7, opsets=None):
    m = helper.make_model(graph if graph is not None else linear_graph(),
                          opset_imports=opsets if opsets is not None else [helper.make_opsetid("", opset)],
                          ir_version=ir_version, producer_name="make_hostile")
    return m.SerializeToString()


def raw_tensor(name, dims, raw, dtype=TensorProto.FLOAT):
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    t.raw_data = raw
    return t


def gather_model(w):
    """y = Gather(w, i): the weight w alone decides whether the model loads."""
    g = helper.make_graph([helper.make_node("Gather", ["w", "i"], ["y"])], "gather",
                          [helper.make_tensor_value_info("i", TensorProto.INT64, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    return model_bytes(g)


def external_tensor(name, dims, location, offset=None, length=None):
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend(dims)
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        if value is not None:
            e = t.external_data.add()
            e.key = key
            e.value = str(value)
    return t


def linear_with(w=None, b=None):
    w0, b0 = weights()
    return model_bytes(linear_graph(initializers=[w if w is not None else w0, b if b is not None else b0]))


def models():
    base = model_bytes()
    M = "model"
    case("model/truncated-protobuf.onnx", M, "model", "truncated-protobuf.onnx: not a valid",
         "the linear model cut in half, inside the graph's bytes", base[: len(base) // 2])
    case("model/garbage-bytes.onnx", M, "model", "garbage-bytes.onnx",
         "4 KB of seeded random bytes", np.random.RandomState(1).bytes(4096))
    case("model/empty-file.onnx", M, "model", "empty-file.onnx",
         "zero bytes: parses as an empty ModelProto (no graph, no opset)", b"")
    # ModelProto.graph (field 7) sent as a varint: protobuf keeps it as an unknown field.
    case("model/graph-wrong-wire-type.onnx", M, "model", "graph-wrong-wire-type.onnx",
         "ir_version 7, then field 7 (graph) with wire type 0 instead of 2", b"\x08\x07\x38\x05")
    case("model/length-past-end.onnx", M, "model", "length-past-end.onnx: not a valid",
         "a graph field whose length prefix claims 2 GB", b"\x08\x07\x3a\xff\xff\xff\xff\x07" + b"\x00" * 16)
    case("model/no-opset-import.onnx", M, "model", "no-opset-import.onnx",
         "a valid graph without any opset_import", model_bytes(opsets=[]))
    case("model/opset-9999.onnx", M, "unsupported", "opset-9999.onnx",
         "ai.onnx opset 9999, which no ONNX release has", model_bytes(opset=9999))
    case("model/opset-zero.onnx", M, "model", "opset-zero.onnx",
         "ai.onnx opset 0", model_bytes(opset=0))
    case("model/no-graph.onnx", M, "model", "no-graph.onnx",
         "opset 13 and ir_version 7 but no graph",
         b"\x08\x07\x42\x04\x0a\x00\x10\x0d")
    case("model/dims-overflow-int64.onnx", M, "model", "initializer 'w'",
         "w has dims [2^62 + 1, 4], whose product wraps to 4, and 16 bytes",
         gather_model(raw_tensor("w", [(1 << 62) + 1, 4], b"\0" * 16)))
    case("model/dims-product-overflow-huge.onnx", M, "model", "initializer 'w'",
         "w has dims [2^40, 2^40] (the product overflows int64) and 64 bytes",
         gather_model(raw_tensor("w", [1 << 40, 1 << 40], b"\0" * 64)))
    case("model/negative-dim.onnx", M, "model", "initializer 'w'",
         "w has dims [-3, 4]", gather_model(raw_tensor("w", [-3, 4], b"\0" * 48)))
    case("model/raw-data-short.onnx", M, "model", "initializer 'fc.weight'",
         "fc.weight float32[3, 4] needs 48 bytes; raw_data has 20",
         linear_with(w=raw_tensor("fc.weight", [3, 4], b"\0" * 20)))
    case("model/raw-data-long.onnx", M, "model", "initializer 'fc.weight'",
         "fc.weight float32[3, 4] needs 48 bytes; raw_data has 100",
         linear_with(w=raw_tensor("fc.weight", [3, 4], b"\0" * 100)))
    case("model/huge-declared-initializer.onnx", M, "model", "initializer 'w'",
         "w declares float32[16, 50000000] (3.2 GB) in 64 bytes of raw_data",
         gather_model(raw_tensor("w", [16, 50000000], b"\0" * 64)))
    t = TensorProto()
    t.name = "fc.weight"
    t.data_type = TensorProto.FLOAT
    t.dims.extend([3, 4])
    t.float_data.extend([0.5] * 5)
    case("model/float-data-count.onnx", M, "model", "initializer 'fc.weight'",
         "fc.weight float32[3, 4] with 5 values in float_data", linear_with(w=t))
    case("model/initializer-dtype-999.onnx", M, "model", "fc.weight",
         "fc.weight has data_type 999", linear_with(w=raw_tensor("fc.weight", [3, 4], b"\0" * 48, dtype=999)))
    t = TensorProto()
    t.name = "w"
    t.data_type = TensorProto.STRING
    t.dims.extend([3])
    t.string_data.append(b"only one")
    case("model/string-tensor-count.onnx", M, "unsupported", "initializer 'w'",
         "a string tensor w of dims [3] holding one string", gather_model(t))
    t = raw_tensor("w", [2, 2], b"\0" * 16, dtype=TensorProto.STRING)
    case("model/string-tensor-raw-data.onnx", M, "unsupported", "initializer 'w'",
         "a string tensor whose values are in raw_data (ONNX forbids it)", gather_model(t))
    # Sparse initializers: values [2], indices out of [0, 12).
    sp = onnx.SparseTensorProto()
    sp.dims.extend([3, 4])
    sp.values.CopyFrom(numpy_helper.from_array(np.array([1.0, 2.0], np.float32), "fc.weight"))
    sp.indices.CopyFrom(numpy_helper.from_array(np.array([3, 99], np.int64), ""))
    _, b = weights()
    g = linear_graph(initializers=[b])
    g.sparse_initializer.append(sp)
    case("model/sparse-index-out-of-range.onnx", M, "model", "out of range",
         "a sparse initializer fc.weight [3, 4] with index 99", model_bytes(g))
    sp2 = onnx.SparseTensorProto()
    sp2.CopyFrom(sp)
    del sp2.indices.dims[:]
    sp2.indices.dims.extend([5])
    g = linear_graph(initializers=[b])
    g.sparse_initializer.append(sp2)
    case("model/sparse-indices-count.onnx", M, "model", "but NNZ is 2",
         "a sparse initializer with 2 values and indices dims [5] (2 present)", model_bytes(g))
    # Graph structure.
    nodes = [helper.make_node("Add", ["x", "b"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Flatten", ["b"], ["flat"]),
             helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], transB=1)]
    case("model/cycle.onnx", M, "model", "cycle.onnx", "Add reads b, which the Relu after it computes from Add's a",
         model_bytes(linear_graph(nodes=nodes)))
    nodes = [helper.make_node("Flatten", ["nowhere"], ["flat"]),
             helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], transB=1)]
    case("model/undefined-input.onnx", M, "model", "nowhere", "Flatten reads 'nowhere', which nothing defines",
         model_bytes(linear_graph(nodes=nodes)))
    nodes = [helper.make_node("Flatten", ["x"], ["flat"]), helper.make_node("Relu", ["x"], ["flat"]),
             helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], transB=1)]
    case("model/duplicate-output.onnx", M, "model", "flat", "Flatten and Relu both write 'flat'",
         model_bytes(linear_graph(nodes=nodes)))
    w, b = weights()
    case("model/duplicate-initializer.onnx", M, "model", "fc.weight", "two initializers named fc.weight",
         model_bytes(linear_graph(initializers=[w, w, b])))
    case("model/graph-output-undefined.onnx", M, "model", "graph-output-undefined.onnx: the loss 'missing_out'",
         "the graph output 'missing_out' is computed by no node",
         model_bytes(linear_graph(outputs=[helper.make_tensor_value_info("missing_out", TensorProto.FLOAT, [-1, 3])])))
    nodes = [helper.make_node("Flatten", ["x"], ["flat"]), helper.make_node("FrobnicateTensor", ["flat"], ["f2"]),
             helper.make_node("Gemm", ["f2", "fc.weight", "fc.bias"], ["logits"], transB=1)]
    case("model/unknown-op.onnx", M, "model", "FrobnicateTensor", "an op no ONNX opset defines, in ai.onnx",
         model_bytes(linear_graph(nodes=nodes)))
    nodes = [helper.make_node("Flatten", ["x"], ["flat"]),
             helper.make_node("Frobnicate", ["flat"], ["f2"], domain="com.example.hostile"),
             helper.make_node("Gemm", ["f2", "fc.weight", "fc.bias"], ["logits"], transB=1)]
    case("model/custom-domain-op.onnx", M, "unsupported", "Frobnicate",
         "an op of a custom domain the runtime has no kernel for",
         model_bytes(linear_graph(nodes=nodes), opsets=[helper.make_opsetid("", 13),
                                                        helper.make_opsetid("com.example.hostile", 1)]))
    nodes = [helper.make_node("Flatten", ["x"], ["flat"]),
             helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], transB="yes")]
    case("model/attribute-wrong-type.onnx", M, "model", "transB", "Gemm's transB given as a string",
         model_bytes(linear_graph(nodes=nodes)))
    nodes = [helper.make_node("Flatten", ["x"], ["flat"], axis=7),
             helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], transB=1)]
    case("model/attribute-out-of-range.onnx", M, "model", "axis 7 is out of range", "Flatten's axis 7 on a rank-2 input",
         model_bytes(linear_graph(nodes=nodes)))
    nodes = [helper.make_node("Flatten", ["x"], ["flat"]),
             helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], transB=0)]
    case("model/shape-mismatch.onnx", M, "model", "Gemm", "Gemm of [N, 4] by fc.weight [3, 4] without transB",
         model_bytes(linear_graph(nodes=nodes)))
    case("model/no-outputs.onnx", M, "model", "no-outputs.onnx", "a graph that declares no output",
         model_bytes(linear_graph(outputs=[])))
    # Subgraphs.
    then_g = helper.make_graph([helper.make_node("Identity", ["ghost"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, [-1, 4])])
    else_g = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", TensorProto.FLOAT, [-1, 4])])
    cond = numpy_helper.from_array(np.array(True), "cond")
    w, b = weights()
    nodes = [helper.make_node("If", ["cond"], ["picked"], then_branch=then_g, else_branch=else_g),
             helper.make_node("Gemm", ["picked", "fc.weight", "fc.bias"], ["logits"], transB=1)]
    case("model/if-branch-undefined-input.onnx", M, "model", "ghost",
         "If's then_branch reads 'ghost', defined nowhere", model_bytes(linear_graph(nodes=nodes, initializers=[w, b, cond])))
    nodes = [helper.make_node("If", ["cond"], ["picked"], then_branch=else_g),
             helper.make_node("Gemm", ["picked", "fc.weight", "fc.bias"], ["logits"], transB=1)]
    case("model/if-missing-else.onnx", M, "model", "else_branch", "If without its else_branch",
         model_bytes(linear_graph(nodes=nodes, initializers=[w, b, cond])))
    body = helper.make_graph([helper.make_node("Identity", ["c_in"], ["c_out"])], "body",
                             [helper.make_tensor_value_info("c_in", TensorProto.BOOL, [])],
                             [helper.make_tensor_value_info("c_out", TensorProto.BOOL, [])])
    trip = numpy_helper.from_array(np.array(2, np.int64), "trip")
    nodes = [helper.make_node("Loop", ["trip", "cond", "x"], ["looped"], body=body),
             helper.make_node("Gemm", ["looped", "fc.weight", "fc.bias"], ["logits"], transB=1)]
    case("model/loop-body-arity.onnx", M, "unsupported", "Loop",
         "Loop with one carried value whose body takes 1 input (needs iteration, condition, carried)",
         model_bytes(linear_graph(nodes=nodes, initializers=[w, b, cond, trip])))
    # A local function that calls itself: inlining must stop.
    f = helper.make_function("local.hostile", "Recurse", ["a"], ["b"],
                             [helper.make_node("Recurse", ["a"], ["b"], domain="local.hostile")],
                             [helper.make_opsetid("", 13), helper.make_opsetid("local.hostile", 1)])
    nodes = [helper.make_node("Recurse", ["x"], ["r"], domain="local.hostile"),
             helper.make_node("Gemm", ["r", "fc.weight", "fc.bias"], ["logits"], transB=1)]
    mp = helper.make_model(linear_graph(nodes=nodes), opset_imports=[helper.make_opsetid("", 13),
                                                                     helper.make_opsetid("local.hostile", 1)],
                           ir_version=8, functions=[f])
    case("model/recursive-function.onnx", M, "model", "Recurse", "a local function Recurse whose body calls Recurse",
         mp.SerializeToString())
    # External data: each case in a folder of its own with the data file beside the model.
    d = "model/external-outside-folder/"
    case(d + "model.onnx", M, "model", "fc.weight", "fc.weight's external data at ../../../../../../etc/hostname",
         linear_with(w=external_tensor("fc.weight", [3, 4], "../../../../../../etc/hostname")))
    d = "model/external-absolute-path/"
    case(d + "model.onnx", M, "model", "fc.weight", "fc.weight's external data at the absolute path /etc/hostname",
         linear_with(w=external_tensor("fc.weight", [3, 4], "/etc/hostname")))
    d = "model/external-missing-file/"
    case(d + "model.onnx", M, "io", "missing-weights.bin", "fc.weight's external data file is not there",
         linear_with(w=external_tensor("fc.weight", [3, 4], "missing-weights.bin")))
    d = "model/external-offset-past-end/"
    extra(d + "weights.bin", b"\0" * 48)
    case(d + "model.onnx", M, "model", "weights.bin", "offset 4096 into a 48-byte weights.bin",
         linear_with(w=external_tensor("fc.weight", [3, 4], "weights.bin", offset=4096, length=48)))
    d = "model/external-length-mismatch/"
    extra(d + "weights.bin", b"\0" * 48)
    case(d + "model.onnx", M, "model", "external data length 40", "length 40 where float32[3, 4] needs 48",
         linear_with(w=external_tensor("fc.weight", [3, 4], "weights.bin", offset=0, length=40)))
    d = "model/external-bad-offset/"
    extra(d + "weights.bin", b"\0" * 48)
    case(d + "model.onnx", M, "model", "fc.weight", "offset 'twelve', not a number",
         linear_with(w=external_tensor("fc.weight", [3, 4], "weights.bin", offset="twelve")))
    d = "model/external-truncated-data/"
    extra(d + "model.onnx.data", b"\0" * 40)
    case(d + "model.onnx", M, "model", "model.onnx.data' has 40 bytes",
         "fc.weight's 48 bytes (no length given) in a model.onnx.data cut to 40, as a copy interrupted leaves it",
         linear_with(w=external_tensor("fc.weight", [3, 4], "model.onnx.data", offset=0)))
    d = "model/external-huge-length/"
    extra(d + "weights.bin", b"\0" * 48)
    case(d + "model.onnx", M, "model", "needs 4398046511104 bytes",
         "fc.weight declared [1048576, 1048576] with a matching length of 4 TiB in a 48-byte weights.bin",
         linear_with(w=external_tensor("fc.weight", [1048576, 1048576], "weights.bin", offset=0,
                                       length=4398046511104)))


# ---- Checkpoints of the linear model, as TrainingSession::save_checkpoint writes them (no
# content CRC: it is optional, and each case changes one thing). cli.args names model.onnx and
# data relative to the folder the test runs `onnx-train export` in.

def checkpoint_bytes(drop=(), replace=None, meta=None, graph_name="onnx_train_checkpoint"):
    rng = np.random.RandomState(5)
    tensors = {
        "parameter/fc.weight": rng.randn(3, 4).astype(np.float32),
        "parameter/fc.bias": rng.randn(3).astype(np.float32),
        "optimizer/fc.weight/exp_avg": np.zeros((3, 4), np.float32),
        "optimizer/fc.weight/exp_avg_sq": np.zeros((3, 4), np.float32),
        "optimizer/fc.weight/step": np.array(2, np.int64),
        "optimizer/fc.bias/exp_avg": np.zeros(3, np.float32),
        "optimizer/fc.bias/exp_avg_sq": np.zeros(3, np.float32),
        "optimizer/fc.bias/step": np.array(2, np.int64),
    }
    protos = [numpy_helper.from_array(v, k) for k, v in tensors.items() if k not in drop]
    for k, t in (replace or {}).items():
        protos = [p if p.name != k else t for p in protos]
        if all(p.name != k for p in protos):
            protos.append(t)
    entries = {
        "onnx_train.checkpoint_format": "1",
        "cli.args": "model.onnx\ndata",
        "model": "model.onnx",
        "optimizer": "adamw",
        "schedule": "constant:base_lr=0.001,total_steps=2,warmup_start_factor=0,warmup_steps=0",
        "seed": "0",
        "step": "2",
    }
    entries.update(meta or {})
    m = helper.make_model(helper.make_graph([], graph_name, [], [], protos), ir_version=8,
                          opset_imports=[helper.make_opsetid("", 13)])
    for k, v in entries.items():
        if v is None:
            continue
        p = m.metadata_props.add()
        p.key = k
        p.value = v
    return m.SerializeToString()


def checkpoints():
    C = "checkpoint"
    good = checkpoint_bytes()
    case("checkpoint/truncated.ckpt", C, "checkpoint", "truncated.ckpt: not a valid",
         "a checkpoint of the linear model cut before its end", good[: len(good) - 37])
    case("checkpoint/garbage.ckpt", C, "checkpoint", "garbage.ckpt", "2 KB of seeded random bytes",
         np.random.RandomState(2).bytes(2048))
    case("checkpoint/a-model-not-a-checkpoint.ckpt", C, "checkpoint", "not an onnx-train checkpoint",
         "the linear model itself, renamed .ckpt", model_bytes())
    case("checkpoint/format-99.ckpt", C, "checkpoint", "checkpoint format 99",
         "onnx_train.checkpoint_format 99", checkpoint_bytes(meta={"onnx_train.checkpoint_format": "99"}))
    case("checkpoint/crc-mismatch.ckpt", C, "checkpoint", "crc-mismatch.ckpt: the checkpoint is damaged",
         "a content CRC-32 that is not the content's", checkpoint_bytes(meta={"onnx_train.content_crc32": "12345"}))
    case("checkpoint/missing-tensor.ckpt", C, "checkpoint", "parameter/fc.bias",
         "no parameter/fc.bias", checkpoint_bytes(drop=("parameter/fc.bias",)))
    case("checkpoint/wrong-shape.ckpt", C, "checkpoint", "parameter/fc.weight",
         "parameter/fc.weight is [4, 3]",
         checkpoint_bytes(replace={"parameter/fc.weight": numpy_helper.from_array(
             np.zeros((4, 3), np.float32), "parameter/fc.weight")}))
    case("checkpoint/wrong-dtype.ckpt", C, "checkpoint", "parameter/fc.bias",
         "parameter/fc.bias is float64",
         checkpoint_bytes(replace={"parameter/fc.bias": numpy_helper.from_array(
             np.zeros(3, np.float64), "parameter/fc.bias")}))
    case("checkpoint/wrong-model.ckpt", C, "checkpoint", "parameter/conv1.weight",
         "the parameters of another model (conv1.weight)",
         checkpoint_bytes(replace={"parameter/conv1.weight": numpy_helper.from_array(
             np.zeros((8, 1, 3, 3), np.float32), "parameter/conv1.weight")}))
    case("checkpoint/raw-data-short.ckpt", C, "checkpoint", "parameter/fc.weight",
         "parameter/fc.weight float32[3, 4] in 8 bytes of raw_data",
         checkpoint_bytes(replace={"parameter/fc.weight": raw_tensor("parameter/fc.weight", [3, 4], b"\0" * 8)}))
    case("checkpoint/dims-overflow.ckpt", C, "checkpoint", "parameter/fc.weight",
         "parameter/fc.weight with dims [2^62 + 1, 4] (the product wraps to 4) and 16 bytes",
         checkpoint_bytes(replace={"parameter/fc.weight": raw_tensor(
             "parameter/fc.weight", [(1 << 62) + 1, 4], b"\0" * 16)}))
    case("checkpoint/external-outside-folder.ckpt", C, "checkpoint", "parameter/fc.weight",
         "parameter/fc.weight stored as external data at ../../../../etc/hostname",
         checkpoint_bytes(replace={"parameter/fc.weight": external_tensor(
             "parameter/fc.weight", [3, 4], "../../../../etc/hostname")}))
    d = "checkpoint/external-truncated/"
    extra(d + "step-000000001.ckpt.data", b"\0" * 40)
    case(d + "step-000000001.ckpt", C, "checkpoint", "step-000000001.ckpt.data' has 40 bytes",
         "parameter/fc.weight's 48 bytes in the checkpoint's external data file, cut to 40",
         checkpoint_bytes(replace={"parameter/fc.weight": external_tensor(
             "parameter/fc.weight", [3, 4], "step-000000001.ckpt.data", offset=0, length=48)}))
    case("checkpoint/step-not-a-number.ckpt", C, "checkpoint", "step 'two'", "step 'two'",
         checkpoint_bytes(meta={"step": "two"}))
    case("checkpoint/no-optimizer-entry.ckpt", C, "checkpoint", "'optimizer'", "no optimizer entry",
         checkpoint_bytes(meta={"optimizer": None}))
    case("checkpoint/other-optimizer.ckpt", C, "checkpoint", "other-optimizer.ckpt",
         "made with sgd, loaded into an adamw session", checkpoint_bytes(meta={"optimizer": "sgd"}))
    case("checkpoint/bad-schedule.ckpt", C, "checkpoint", "bad-schedule.ckpt", "schedule 'sawtooth:period=-1'",
         checkpoint_bytes(meta={"schedule": "sawtooth:period=-1"}))


# ---- TensorProto files, read as the model input x of ONNX's test_data_set layout.

def tensors():
    T = "tensor"
    good = numpy_helper.from_array(np.zeros((8, 4), np.float32), "x").SerializeToString()
    case("tensor/truncated.pb", T, "data", "input_0.pb: not a valid TensorProto", "a float32[8, 4] tensor cut inside its raw_data",
         good[: len(good) - 20])
    case("tensor/garbage.pb", T, "data", "input_0.pb: not a valid TensorProto", "1 KB of seeded random bytes",
         np.random.RandomState(3).bytes(1024))
    case("tensor/dims-overflow.pb", T, "data", "input_0.pb: shape [4611686018427388160, 4] is corrupt",
         "N x 4 floats with N * 16 wrapping to 4096 bytes",
         raw_tensor("x", [(1 << 62) + 256, 4], b"\0" * 4096).SerializeToString())
    case("tensor/negative-dim.pb", T, "data", "input_0.pb: negative dimension", "dims [-8, 4]",
         raw_tensor("x", [-8, 4], b"\0" * 128).SerializeToString())
    case("tensor/raw-data-short.pb", T, "data", "input_0.pb: raw_data has 64 bytes", "float32[8, 4] in 64 bytes",
         raw_tensor("x", [8, 4], b"\0" * 64).SerializeToString())
    case("tensor/dtype-999.pb", T, "data", "input_0.pb: element type dtype(999)", "data_type 999",
         raw_tensor("x", [8, 4], b"\0" * 128, dtype=999).SerializeToString())
    t = TensorProto()
    t.name = "x"
    t.data_type = TensorProto.STRING
    t.dims.extend([8, 4])
    t.string_data.extend([b"a"] * 32)
    case("tensor/string-tensor.pb", T, "unsupported", "input_0.pb: element type string", "a string tensor for the float input x",
         t.SerializeToString())
    t = external_tensor("x", [8, 4], "../../../../../../etc/hostname")
    case("tensor/external-outside-folder.pb", T, "data", "input_0.pb: external data location",
         "the tensor's data as external data at ../../../../../../etc/hostname", t.SerializeToString())
    case("tensor/huge-declared.pb", T, "data", "input_0.pb: raw_data has 128 bytes", "float32[1000000000, 4] in 128 bytes",
         raw_tensor("x", [1000000000, 4], b"\0" * 128).SerializeToString())


# ---- npy: the array x.npy beside a good label.npy of 8 samples.

def npy_bytes(descr, shape, data, fortran=False, version=(1, 0), header=None):
    if header is None:
        dims = ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "")
        header = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (descr, fortran, dims)
        header += " " * (63 - (10 + len(header)) % 64) + "\n"
    header = header.encode("latin-1")
    return b"\x93NUMPY" + bytes(version) + struct.pack("<H", len(header)) + header + data


def npys():
    N = "npy"
    x = np.random.RandomState(4).randn(8, 4).astype(np.float32).tobytes()
    case("npy/bad-magic.npy", N, "data", "x.npy: not an npy file", "starts with \\x93NUMPZ",
         npy_bytes("<f4", [8, 4], x).replace(b"NUMPY", b"NUMPZ", 1))
    case("npy/header-claims-more-rows.npy", N, "data", "x.npy: the header describes float32 [800, 4]",
         "shape (800, 4) and the bytes of 8 rows", npy_bytes("<f4", [800, 4], x))
    case("npy/shape-overflow.npy", N, "data", "x.npy: shape [4611686018427387905, 4] is corrupt",
         "shape (4611686018427387905, 4): the product wraps to 4", npy_bytes("<f4", [(1 << 62) + 1, 4], x[:16]))
    case("npy/fortran-order.npy", N, "data", "x.npy: the array is stored in Fortran", "fortran_order True",
         npy_bytes("<f4", [8, 4], x, fortran=True))
    case("npy/unsupported-dtype.npy", N, "data", "x.npy: element type '<c8'", "complex64 ('<c8') values",
         npy_bytes("<c8", [8, 4], x + x))
    case("npy/object-dtype.npy", N, "data", "x.npy: element type '|O'", "descr '|O', pickled Python objects",
         npy_bytes("|O", [8, 4], x))
    case("npy/truncated-data.npy", N, "data", "x.npy: the header describes float32 [8, 4]", "float32 (8, 4) cut 40 bytes short",
         npy_bytes("<f4", [8, 4], x)[:-40])
    case("npy/header-length-past-end.npy", N, "data", "x.npy: truncated",
         "a header length of 65535 in a 200-byte file", npy_bytes("<f4", [8, 4], x)[:8] + b"\xff\xff" + b" " * 190)
    case("npy/header-not-a-dict.npy", N, "data", "x.npy: the npy header '[1, 2, 3]'", "the header is not a Python dict",
         npy_bytes("<f4", [8, 4], x, header="[1, 2, 3]" + " " * 53 + "\n"))
    case("npy/negative-shape.npy", N, "data", "x.npy: the npy header", "shape (-8, 4)", npy_bytes("<f4", [-8, 4], x))
    case("npy/version-9.npy", N, "data", "x.npy: npy format version 9.0", "format version 9.0", npy_bytes("<f4", [8, 4], x,
                                                                                        version=(9, 0)))
    case("npy/escape-in-descr.npy", N, "data", "x.npy: element type '\\x1b[2J", "descr is an escape sequence that clears a terminal",
         npy_bytes("\x1b[2J\x1b[H", [8, 4], x))
    nan = np.random.RandomState(4).randn(8, 4).astype(np.float32)
    nan[5, 2] = np.nan
    case("npy/nan-value.npy", N, "data", "x.npy, sample 5: field 'x' holds nan", "sample 5 holds a NaN", npy_bytes("<f4", [8, 4], nan.tobytes()))
    case("npy/wrong-sample-shape.npy", N, "data", "x.npy: field 'x' takes samples of shape [4]", "(8, 5) for an input of 4 features",
         npy_bytes("<f4", [8, 5], np.zeros((8, 5), np.float32).tobytes()))


# ---- npz: the file given as DATA (the training split), arrays x and label.

def zip_bytes(members, compression=zipfile.ZIP_STORED):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = compression
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    return out.getvalue()


def npzs():
    Z = "npz"
    x = np.random.RandomState(6).randn(8, 4).astype(np.float32)
    label = (np.arange(8) % 3).astype(np.int64)
    x_npy, label_npy = npy_bytes("<f4", [8, 4], x.tobytes()), npy_bytes("<i8", [8], label.tobytes())
    good = zip_bytes([("x.npy", x_npy), ("label.npy", label_npy)])
    case("npz/not-a-zip.npz", Z, "data", "not-a-zip.npz", "an npy file named .npz", x_npy)
    case("npz/truncated.npz", Z, "data", "truncated.npz", "an archive cut before its central directory",
         good[: len(good) // 2])
    case("npz/missing-member.npz", Z, "data", "missing-member.npz", "holds label.npy but no x.npy",
         zip_bytes([("label.npy", label_npy)]))
    case("npz/member-not-npy.npz", Z, "data", "member-not-npy.npz", "x.npy inside is text",
         zip_bytes([("x.npy", b"this is not an array\n" * 4), ("label.npy", label_npy)]))
    # A deflated member whose directory entries claim 4 GB - 16 bytes uncompressed.
    bomb = bytearray(zip_bytes([("x.npy", x_npy), ("label.npy", label_npy)], zipfile.ZIP_DEFLATED))
    at = bomb.find(b"PK\x01\x02")
    while at >= 0:
        name_len = struct.unpack_from("<H", bomb, at + 28)[0]
        if bytes(bomb[at + 46: at + 46 + name_len]) == b"x.npy":
            struct.pack_into("<I", bomb, at + 24, 0xFFFFFFF0)
        at = bomb.find(b"PK\x01\x02", at + 4)
    local = bomb.find(b"PK\x03\x04")
    struct.pack_into("<I", bomb, local + 22, 0xFFFFFFF0)
    case("npz/member-claims-huge-size.npz", Z, "data", "member-claims-huge-size.npz",
         "x.npy's entries claim 4294967280 bytes uncompressed for a few hundred deflated ones", bytes(bomb))
    crc = bytearray(good)
    at = crc.find(b"x.npy", crc.find(b"PK\x03\x04")) + len("x.npy")
    crc[at + 100] ^= 0xFF  # a byte of x.npy's data, inside the stored member
    case("npz/member-crc-mismatch.npz", Z, "data", "member-crc-mismatch.npz",
         "a byte of the stored x.npy flipped after its CRC was written", bytes(crc))
    case("npz/sample-count-mismatch.npz", Z, "data", "sample-count-mismatch.npz", "x holds 8 samples, label 5",
         zip_bytes([("x.npy", x_npy), ("label.npy", npy_bytes("<i8", [5], label[:5].tobytes()))]))
    case("npz/empty-archive.npz", Z, "data", "empty-archive.npz", "a zip with no members", zip_bytes([]))


# ---- CSV: the file given as DATA; columns a,b,c,d and label.

def csvs():
    S = "csv"
    rows = ["a,b,c,d,label"] + ["%d.5,1,2,3,%d" % (i, i % 3) for i in range(8)]

    def text(lines):
        return ("\n".join(lines) + "\n").encode()
    case("csv/ragged-rows.csv", S, "data", "ragged-rows.csv", "row 4 has 3 cells, the header 5",
         text(rows[:4] + ["1,2,0"] + rows[5:]))
    case("csv/non-numeric.csv", S, "data", "non-numeric.csv", "cell 'twelve' in column b",
         text(rows[:3] + ["0.5,twelve,2,3,1"] + rows[4:]))
    case("csv/huge-field.csv", S, "data", "huge-field.csv, line 3, column 3 ('c'): '9999", "a 50000-digit number in column c",
         text(rows[:2] + ["0.5,1," + "9" * 50000 + ",3,1"] + rows[3:]))
    case("csv/embedded-nul.csv", S, "data", "embedded-nul.csv", "a NUL byte inside a cell",
         text(rows[:2] + ["0.5,1\x002,2,3,1"] + rows[3:]))
    case("csv/unterminated-quote.csv", S, "data", "unterminated-quote.csv", "a quoted cell that never closes",
         text(rows[:2] + ['0.5,"1,2,3,1'] + rows[3:]))
    case("csv/utf16-bom.csv", S, "data", "utf16-bom.csv", "UTF-16 text after a byte-order mark",
         ("\n".join(rows) + "\n").encode("utf-16"))
    case("csv/empty-file.csv", S, "data", "empty-file.csv", "zero bytes", b"")
    case("csv/header-only.csv", S, "data", "header-only.csv", "a header and no rows", text(rows[:1]))
    case("csv/label-out-of-range.csv", S, "data", "label-out-of-range.csv", "label 7 for a 3-class model",
         text(rows[:3] + ["0.5,1,2,3,7"] + rows[4:]))
    case("csv/nan-cell.csv", S, "data", "nan-cell.csv", "a nan cell in column a",
         text(rows[:3] + ["nan,1,2,3,1"] + rows[4:]))
    case("csv/no-label-column.csv", S, "data", "no-label-column.csv", "columns a,b,c,d,e and no label",
         text(["a,b,c,d,e"] + [r for r in rows[1:]]))
    case("csv/binary-garbage.csv", S, "data", "binary-garbage.csv", "2 KB of seeded random bytes",
         np.random.RandomState(7).bytes(2048))


# ---- IDX: beside a good companion (the test writes good labels next to an images case, and
# good 28 x 28 images next to a labels case: "labels" in the name says which).

def idx_header(code, dims):
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)


def gz(data):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=9) as g:
        g.write(data)
    return out.getvalue()


def idxs():
    I = "idx"
    pixels = bytes(np.random.RandomState(8).randint(0, 256, 2 * 28 * 28).astype(np.uint8))
    good = idx_header(0x08, [2, 28, 28]) + pixels
    case("idx/bad-magic-images-idx3-ubyte", I, "data", "bad-magic-images-idx3-ubyte", "magic 0x0108 (byte 0 is 1)",
         b"\x01" + good[1:])
    case("idx/dims-overflow-images-idx3-ubyte", I, "data", "dims-overflow-images-idx3-ubyte",
         "dims [4294967295, 4294967295, 4294967295]", idx_header(0x08, [0xFFFFFFFF] * 3) + pixels[:64])
    case("idx/truncated-images-idx3-ubyte", I, "data", "truncated-images-idx3-ubyte",
         "2 images of 28 x 28 cut 100 bytes short", good[:-100])
    case("idx/unknown-type-images-idx3-ubyte", I, "data", "unknown-type-images-idx3-ubyte",
         "type code 0x05, which IDX does not define", idx_header(0x05, [2, 28, 28]) + pixels)
    case("idx/header-truncated-images-idx3-ubyte", I, "data", "header-truncated-images-idx3-ubyte",
         "rank 3 and only one of its dimensions", idx_header(0x08, [2, 28, 28])[:8])
    case("idx/zero-size-images-idx3-ubyte", I, "data", "zero-size-images-idx3-ubyte", "2 images of 0 x 28",
         idx_header(0x08, [2, 0, 28]))
    case("idx/truncated-images-idx3-ubyte.gz", I, "data", "truncated-images-idx3-ubyte.gz",
         "a gzip stream cut in half", gz(good)[: len(gz(good)) // 2])
    bad = bytearray(gz(good))
    for i in range(20, 60):
        bad[i] ^= 0x5A
    case("idx/corrupt-images-idx3-ubyte.gz", I, "data", "corrupt-images-idx3-ubyte.gz",
         "a gzip stream with 40 bytes of its deflate data flipped", bytes(bad))
    case("idx/count-mismatch-labels-idx1-ubyte", I, "data", "count-mismatch-labels-idx1-ubyte",
         "5 labels for 2 images", idx_header(0x08, [5]) + bytes([0, 1, 2, 3, 4]))
    case("idx/label-out-of-range-labels-idx1-ubyte", I, "data", "label-out-of-range-labels-idx1-ubyte",
         "label 200 for a 10-class model", idx_header(0x08, [2]) + bytes([1, 200]))


# ---- Images: one class folder holds the case, beside good images (the test writes those).

def png_chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png_bytes(width, height, rows=None, crc_ok=True, idat=None):
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    if idat is None:
        raw = b"".join(b"\0" + bytes(width * 3) for _ in range(height)) if rows is None else rows
        idat = zlib.compress(raw, 9)
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    if not crc_ok:
        out = bytearray(out)
        out[29] ^= 0xFF  # the IHDR chunk's CRC
        out = bytes(out)
    return out


def pngs():
    P = "png"
    good = png_bytes(8, 8)
    case("png/truncated.png", P, "data", "truncated.png", "an 8 x 8 PNG cut inside IDAT", good[: len(good) - 30])
    case("png/bad-crc.png", P, "data", "bad-crc.png", "the IHDR chunk's CRC flipped", png_bytes(8, 8, crc_ok=False))
    case("png/huge-dimensions.png", P, "data", "huge-dimensions.png",
         "69 bytes claiming 13000 x 13000 RGB", png_bytes(13000, 13000, idat=b"\x78\x9c\x63\x60\x64\x62\x06\x00\x00\x0e\x00\x07"))
    case("png/zero-width.png", P, "data", "zero-width.png", "width 0", png_bytes(0, 8, idat=zlib.compress(b"\0" * 8)))
    case("png/corrupt-idat.png", P, "data", "corrupt-idat.png", "IDAT is not a zlib stream",
         png_bytes(8, 8, idat=b"\x12\x34" + bytes(range(40))))
    case("png/not-a-png.png", P, "data", "not-a-png.png", "text with a .png name", b"hello, I am not a picture\n")


def jpeg_bytes(width, height, body=b""):
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + sof + body + b"\xff\xd9"


def jpegs():
    J = "jpeg"
    case("jpeg/huge-dimensions.jpg", J, "data", "huge-dimensions.jpg", "a frame header claiming 65000 x 65000",
         jpeg_bytes(65000, 65000))
    case("jpeg/zero-height.jpg", J, "data", "zero-height.jpg", "a frame header with height 0", jpeg_bytes(8, 0))
    case("jpeg/truncated.jpg", J, "data", "truncated.jpg", "SOI, JFIF and half a frame header",
         jpeg_bytes(8, 8)[:28])
    case("jpeg/no-scan.jpg", J, "data", "no-scan.jpg", "a frame header and no Huffman tables or scan",
         jpeg_bytes(8, 8))
    case("jpeg/garbage-after-soi.jpg", J, "data", "garbage-after-soi.jpg", "SOI then 1 KB of random bytes",
         b"\xff\xd8" + np.random.RandomState(9).bytes(1024))


# ---- test_data_set folders: the folder is the training split (DATA/train), each
# test_data_set_K inside it holding input_0.pb (x) and label.pb.

def data_sets():
    D = "test_data_set"
    x = numpy_helper.from_array(np.zeros((8, 4), np.float32), "x").SerializeToString()
    label = numpy_helper.from_array((np.arange(8) % 3).astype(np.int64), "label").SerializeToString()
    d = "test_data_set/missing-input/"
    case(d + "test_data_set_0/label.pb", D, "data", "test_data_set_0", "a set with label.pb and no input_0.pb", label)
    d = "test_data_set/bad-pb/"
    extra(d + "test_data_set_0/label.pb", label)
    case(d + "test_data_set_0/input_0.pb", D, "data", "input_0.pb", "input_0.pb is random bytes",
         np.random.RandomState(10).bytes(512))
    d = "test_data_set/shapes-differ/"
    extra(d + "test_data_set_0/input_0.pb", x)
    extra(d + "test_data_set_0/label.pb", label)
    extra(d + "test_data_set_1/label.pb", label)
    case(d + "test_data_set_1/input_0.pb", D, "data", "test_data_set_1",
         "set 1's input is float32[8, 5], set 0's float32[8, 4]",
         numpy_helper.from_array(np.zeros((8, 5), np.float32), "x").SerializeToString())
    d = "test_data_set/wrong-dtype/"
    extra(d + "test_data_set_0/label.pb", label)
    t = TensorProto()
    t.name = "x"
    t.data_type = TensorProto.STRING
    t.dims.extend([8, 4])
    t.string_data.extend([b"a"] * 32)
    case(d + "test_data_set_0/input_0.pb", D, "unsupported", "input_0.pb: element type string", "x stored as a string tensor",
         t.SerializeToString())


def main():
    models()
    checkpoints()
    tensors()
    npys()
    npzs()
    csvs()
    idxs()
    pngs()
    jpegs()
    data_sets()
    manifest = os.path.join(HERE, "MANIFEST.tsv")
    ours = {c[0] for c in CASES}
    kept = []
    if os.path.exists(manifest):
        with open(manifest, encoding="utf-8") as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                if line.split("\t")[0] not in ours:
                    kept.append(line.rstrip("\n"))
    with open(manifest, "w", encoding="utf-8") as f:
        f.write("# path\trole\tcategory\tmessage fragment\twhat is wrong (see README.md)\n")
        for c in CASES:
            assert all("\t" not in p and "\n" not in p for p in c), c
            f.write("\t".join(c) + "\n")
        for line in kept:
            f.write(line + "\n")
    print("%d cases written, %d other lines kept" % (len(CASES), len(kept)))


if __name__ == "__main__":
    sys.exit(main())
