#!/usr/bin/env python3
"""Exports torchvision's ResNet-18 (random weights) for the gradient-builder benchmark.

    /usr/bin/python3 tools/bench/export_resnet18.py OUT_DIR

writes OUT_DIR/resnet18_train.onnx (opset 15, BatchNormalization in training mode, every
parameter an initializer) and OUT_DIR/resnet18_eval.onnx (opset 13, inference form, as
users usually export). Input "input" [N, 3, 224, 224], output "logits" [N, 1000].
"""
import os
import sys

import torch
import torchvision


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    model = torchvision.models.resnet18()
    x = torch.randn(2, 3, 224, 224)
    axes = {"input": {0: "N"}, "logits": {0: "N"}}
    model.train()
    torch.onnx.export(model, x, os.path.join(out, "resnet18_train.onnx"), opset_version=15,
                      training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False,
                      input_names=["input"], output_names=["logits"], dynamic_axes=axes)
    model.eval()
    torch.onnx.export(model, x, os.path.join(out, "resnet18_eval.onnx"), opset_version=13,
                      input_names=["input"], output_names=["logits"], dynamic_axes=axes)


if __name__ == "__main__":
    main()
