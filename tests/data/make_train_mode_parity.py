#!/usr/bin/env python3
"""Makes the PyTorch train/eval-mode fixtures in tests/data/train_mode_parity/ (for
tests/gradients/train_mode_test.cc, which checks gradients/train_mode.h).

A small model with BatchNorm2d (momentum 0.1) and BatchNorm1d (momentum 0.3) and a
Dropout(p=0) (masks cannot match torch's RNG) is exported in eval form (the
torch.onnx.export default) at opsets 9 (BatchNormalization-9: training is signalled by the
extra outputs) and 15 (training_mode attribute). Then, in float32, for one batch x:
    train_y.pb                  model.train() output
    <bn>_running_mean.pb/_var   the running statistics after that forward pass
    <param>_grad.pb             d mean((y - label)^2) / d param in train mode (torch's
                                MSE loss, reduction mean) for conv.weight and bn2.weight
    eval_y.pb                   model.eval() output with the updated statistics
Layout: opset<k>/model.onnx, x.pb, label.pb, and the files above; opset15_training_export/
is the same model exported in training form (see make_training_export_case).

Regenerate with /usr/bin/python3 tests/data/make_train_mode_parity.py (Debian's
python3-torch, python3-onnx, python3-numpy); the test itself needs no PyTorch.
"""
import os
import shutil

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "train_mode_parity")


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(4, momentum=0.1)
        self.drop = torch.nn.Dropout(p=0.0)
        self.fc = torch.nn.Linear(4, 6)
        self.bn2 = torch.nn.BatchNorm1d(6, momentum=0.3)

    def forward(self, x):
        # ReLU between Conv and BN keeps the exporter from folding the BN into the Conv.
        h = self.drop(self.bn1(F.relu(self.conv(x))))
        h = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return self.bn2(self.fc(h))


def save(path, array):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(np.asarray(array, dtype=np.float32)).SerializeToString())


def make_case(opset):
    torch.manual_seed(4)
    net = Net()
    with torch.no_grad():  # non-trivial running statistics and affine parameters
        for bn in (net.bn1, net.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 1.5)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    x = torch.randn(4, 3, 5, 5)
    label = torch.randn(4, 6)
    out = os.path.join(OUT, f"opset{opset}")
    os.makedirs(out)
    net.eval()
    torch.onnx.export(net, (x,), os.path.join(out, "model.onnx"), opset_version=opset, input_names=["x"],
                      output_names=["y"])
    model = onnx.load(os.path.join(out, "model.onnx"))
    assert sum(n.op_type == "BatchNormalization" for n in model.graph.node) == 2, "a BN was folded away"
    save(os.path.join(out, "x.pb"), x)
    save(os.path.join(out, "label.pb"), label)

    net.train()
    y = net(x)
    F.mse_loss(y, label).backward()
    save(os.path.join(out, "train_y.pb"), y.detach())
    for name in ("bn1", "bn2"):
        bn = getattr(net, name)
        save(os.path.join(out, f"{name}_running_mean.pb"), bn.running_mean)
        save(os.path.join(out, f"{name}_running_var.pb"), bn.running_var)
    save(os.path.join(out, "conv.weight_grad.pb"), net.conv.weight.grad)
    save(os.path.join(out, "bn2.weight_grad.pb"), net.bn2.weight.grad)

    net.eval()
    with torch.no_grad():
        save(os.path.join(out, "eval_y.pb"), net(x))


def make_training_export_case():
    """torch's TrainingMode.TRAINING export (BatchNormalization training_mode=1 with its
    statistics outputs, Dropout with a training_mode input), for to_eval_form: eval_y.pb is
    model.eval()'s output with the running statistics stored in the exported model."""
    torch.manual_seed(5)
    net = Net()
    x = torch.randn(4, 3, 5, 5)
    out = os.path.join(OUT, "opset15_training_export")
    os.makedirs(out)
    net.train()
    torch.onnx.export(net, (x,), os.path.join(out, "model.onnx"), opset_version=15, input_names=["x"],
                      output_names=["y"], training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
    model = onnx.load(os.path.join(out, "model.onnx"))
    stored = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in model.graph.initializer}
    with torch.no_grad():  # export ran the model in train(): use the statistics it stored
        for name, buffer in net.named_buffers():
            if name in stored:
                buffer.copy_(stored[name])
    save(os.path.join(out, "x.pb"), x)
    net.eval()
    with torch.no_grad():
        save(os.path.join(out, "eval_y.pb"), net(x))


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    for opset in (9, 15):
        make_case(opset)
    make_training_export_case()


if __name__ == "__main__":
    main()
