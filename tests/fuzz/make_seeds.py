#!/usr/bin/env python3
"""Writes the committed seed corpora of the model-side fuzz targets (tests/fuzz/seeds/<target>/).

  python3 tests/fuzz/make_seeds.py --fuzz-checkpoint build/tests/fuzz/fuzz_checkpoint

model_import:   the bundled model, test fixtures (MLP, CNN, BatchNormalization/Dropout in
                training form, transformer, RNN/GRU/LSTM, local functions, old and new opsets)
                and every 9th model of ONNX's node tests (/usr/share/libonnx-testdata), plus a
                few broken files (empty, truncated).
tensor_proto:   the bundled sample tensors, fixture batches, and the input_0.pb of every 15th
                ONNX node test (all element types ONNX's tests use).
training_graph: 2 bytes per base model and loss (no mutation), then a few mutation lists
                (see fuzz_training_graph.cc for the byte format).
checkpoint:     real checkpoints of the MLP session fuzz_checkpoint loads into (AdamW after 1
                and 3 steps, with a caller's metadata; SGD with momentum), written by that program
                (needs --fuzz-checkpoint; skipped without it), and a truncated one.

Deterministic: the same tree gives the same files. fuzz.sh adds the whole ONNX test data folder
at fuzz time; these are the small sample the plain build's seed tests replay.
"""
import argparse
import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TESTDATA = "/usr/share/libonnx-testdata/data/node"

MODELS = [
    "models/fashion_cnn/model.onnx",
    "tests/data/train_parity/mlp/model.onnx",
    "tests/data/train_parity/cnn/model.onnx",
    "tests/data/train_parity/transformer/model.onnx",
    "tests/data/train_parity/resnet_block/model.onnx",
    "tests/data/train_mode_parity/opset15/model.onnx",
    "tests/data/train_mode_parity/opset15_training_export/model.onnx",
    "tests/data/train_mode_parity/opset9/model.onnx",
    "tests/data/torch_parity/rnn/model.onnx",
    "tests/data/torch_parity/gru/model.onnx",
    "tests/data/torch_parity/lstm/model.onnx",
    "tests/data/local_functions/mlp.onnx",
    "tests/data/local_functions/nested.onnx",
    "tests/data/local_functions/recursion.onnx",
    "tests/data/old_opset/cnn_opset9.onnx",
    "tests/data/opset_models/cnn_opset23/model.onnx",
    "tests/data/opset_models/transformer_functions_opset18/model.onnx",
]

TENSORS = [
    "models/fashion_cnn/sample_input.pb",
    "models/fashion_cnn/sample_output.pb",
    "tests/data/train_parity/mlp/batch_0_x.pb",
    "tests/data/train_parity/mlp/batch_0_label.pb",
    "tests/data/local_functions/mlp_x.pb",
]

# Base models of fuzz_training_graph, in its kBaseModels order.
TRAINING_BASES = 10


def clean(folder):
    path = os.path.join(HERE, "seeds", folder)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def copy(src, dst_folder, name):
    shutil.copyfile(src, os.path.join(dst_folder, name))


def slug(rel):
    return rel.replace("tests/data/", "").replace("/", "_")


def node_tests():
    return sorted(os.listdir(TESTDATA)) if os.path.isdir(TESTDATA) else []


def model_import():
    out = clean("model_import")
    for rel in MODELS:
        src = os.path.join(ROOT, rel)
        if os.path.exists(src):
            copy(src, out, slug(rel))
    for i, test in enumerate(node_tests()):
        src = os.path.join(TESTDATA, test, "model.onnx")
        if i % 9 == 0 and os.path.getsize(src) < 16384:
            copy(src, out, "onnx_node_" + test + ".onnx")
    mlp = open(os.path.join(ROOT, "tests/data/train_parity/mlp/model.onnx"), "rb").read()
    open(os.path.join(out, "broken_empty.onnx"), "wb").close()
    open(os.path.join(out, "broken_truncated_mlp.onnx"), "wb").write(mlp[: len(mlp) // 2])


def tensor_proto():
    out = clean("tensor_proto")
    for rel in TENSORS:
        copy(os.path.join(ROOT, rel), out, slug(rel))
    for i, test in enumerate(node_tests()):
        src = os.path.join(TESTDATA, test, "test_data_set_0", "input_0.pb")
        if i % 15 == 0 and os.path.exists(src) and os.path.getsize(src) < 8192:
            copy(src, out, "onnx_node_" + test + "_input_0.pb")
    open(os.path.join(out, "broken_empty.pb"), "wb").close()


def training_graph():
    out = clean("training_graph")
    for base in range(TRAINING_BASES):
        for loss in range(2):
            open(os.path.join(out, f"base{base}_loss{loss}.bin"), "wb").write(bytes([base, loss]))
    rng = np.random.default_rng(15)
    for i in range(20):
        n = int(rng.integers(1, 6))
        data = bytes([i % TRAINING_BASES, i & 1]) + bytes(rng.integers(0, 256, size=5 * n, dtype=np.uint8))
        open(os.path.join(out, f"mutated_{i:02d}.bin"), "wb").write(data)


def checkpoint(fuzz_checkpoint):
    out = clean("checkpoint")
    # The target writes checkpoints of the session it loads into (after 1 and 3 steps, and one
    # of SGD with momentum) and exits.
    env = dict(os.environ, ONNX_TRAIN_FUZZ_WRITE_CHECKPOINTS=out)
    subprocess.run([fuzz_checkpoint], check=True, env=env, stdout=subprocess.DEVNULL)
    names = sorted(os.listdir(out))
    if not names:
        sys.exit("make_seeds.py: fuzz_checkpoint wrote no checkpoint")
    first = open(os.path.join(out, names[0]), "rb").read()
    open(os.path.join(out, "broken_truncated.ckpt"), "wb").write(first[: len(first) // 2])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz-checkpoint", help="the built fuzz_checkpoint program (any build), for the checkpoint seeds")
    args = parser.parse_args()
    model_import()
    tensor_proto()
    training_graph()
    if args.fuzz_checkpoint:
        checkpoint(os.path.abspath(args.fuzz_checkpoint))
    else:
        print("make_seeds.py: no --fuzz-checkpoint, checkpoint seeds left as they are")


if __name__ == "__main__":
    main()
