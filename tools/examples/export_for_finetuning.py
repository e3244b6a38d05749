#!/usr/bin/python3
"""Exports a PyTorch model to ONNX in the form onnx-train fine-tunes best (README: "Exporting a
model for fine-tuning").

    /usr/bin/python3 tools/examples/export_for_finetuning.py [OUT.onnx]
    build/onnx-train OUT.onnx DATA_DIR --freeze '^[01]\\.'   # e.g. keep the first Conv and BatchNorm

A plain torch.onnx.export(model.eval(), x, path) is made for inference: constant folding merges
each BatchNormalization into the Conv before it (whose weights become "onnx::Conv_193"-like
names), and Dropout disappears. Fine-tuning such a file trains the folded weights without batch
statistics, and --freeze / --train-only patterns cannot name the layers. Exporting in training
form keeps all of it: BatchNormalization with its running statistics, Dropout, and every
parameter under its PyTorch name (model.named_parameters()). onnx-train turns the graph into eval
form for validation and export, and into training form for the steps.

The model here is a small CNN for 1x28x28 images with 10 classes; put your own in make_model()
and your input shape in EXAMPLE_INPUT. Needs torch and onnx.
"""
import os
import sys

import onnx
from onnx import numpy_helper
import torch

EXAMPLE_INPUT = (1, 1, 28, 28)  # one sample; the batch axis is exported as dynamic


def make_model():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Dropout(0.25), torch.nn.Linear(32 * 7 * 7, 10))


def export_for_finetuning(model, example, path):
    # The training-mode export runs one forward in train() mode, which moves BatchNorm's running
    # statistics: export a copy's state and keep the model's own values in the file.
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    torch.onnx.export(
        model, example, path,
        training=torch.onnx.TrainingMode.TRAINING,  # keep BatchNormalization and Dropout
        do_constant_folding=False,                  # keep parameters as they are, under their names
        opset_version=13,                           # >= 12: the class losses' ONNX ops exist there
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    model.load_state_dict(state)
    proto = onnx.load(path)
    for init in proto.graph.initializer:
        if init.name in state:
            init.CopyFrom(numpy_helper.from_array(state[init.name].numpy(), init.name))
    onnx.checker.check_model(proto)
    onnx.save(proto, path)
    # Every parameter must be an initializer under its PyTorch name, or freezing by name fails.
    names = {i.name for i in proto.graph.initializer}
    missing = [n for n, _ in model.named_parameters() if n not in names]
    assert not missing, f"parameters not in the file under their names: {missing}"
    return proto


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "model.onnx"
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    torch.manual_seed(0)
    model = make_model()
    proto = export_for_finetuning(model, torch.randn(*EXAMPLE_INPUT), path)
    ops = sorted({n.op_type for n in proto.graph.node})
    print(f"wrote {path}: opset {proto.opset_import[0].version}, ops {', '.join(ops)}")
    print(f"parameters: {', '.join(n for n, _ in model.named_parameters())}")


if __name__ == "__main__":
    main()
