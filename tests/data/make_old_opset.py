#!/usr/bin/python3
"""Makes the fixtures in tests/data/old_opset/: one small CNN exported by torch.onnx.export at the
old opsets 9, 10 and 11 (which the class losses, built from ONNX ops of opset 12, used to refuse),
and the same CNN exported the plain way that loses its training structure.

The model (float32, input "x" [N, 1, 8, 8] with a dynamic batch axis, output "log_probs" [N, 3]):
    Conv(1, 4, 3, padding=1) - BatchNorm2d(4) - ReLU - MaxPool2d(2) - Flatten - Dropout(0.25)
    - Linear(64, 3) - LogSoftmax(1)
  The BatchNorm has non-trivial affine parameters and running statistics, so that eval form
  (running statistics) and training form (batch statistics) differ. The output is
  log-probabilities: `--loss nll` reads them as they are, and `--loss cross-entropy` gives the
  same loss on them (log_softmax(log_softmax(z)) = log_softmax(z)).

Files:
    cnn_opset<9|10|11>.onnx  torch.onnx.export(..., opset_version=V,
                             training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False):
                             the form for fine-tuning (BatchNormalization and Dropout kept, every
                             parameter under its torch name, e.g. "conv.weight", "bn.running_mean").
                             That export runs one train-mode forward, which moves the running
                             statistics; the file's values are copied back into the torch model, so
                             the reference below is computed on exactly the file's weights.
    cnn_folded.onnx          torch.onnx.export(model.eval(), ...) with torch's defaults (opset 14,
                             constant folding on): BatchNormalization folded into the Conv, whose
                             weight and bias become "onnx::Conv_<n>", Dropout removed.
    input.pb                 x [4, 1, 8, 8] (TensorProto), a fixed input
    expected_log_probs.pb    model.eval()(x) in torch on the weights of the files (every file gives
                             this up to float rounding: the folded one computes BatchNorm folded)
Every .onnx passes onnx.checker.check_model, and every named parameter of the training-form files
is checked to be an initializer with the torch name.

Run: /usr/bin/python3 tests/data/make_old_opset.py   (torch, onnx, numpy; writes next to itself)
"""
import os

import numpy as np
import onnx
import torch
from onnx import numpy_helper

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "old_opset")


class Cnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.pool = torch.nn.MaxPool2d(2)
        self.drop = torch.nn.Dropout(0.25)
        self.fc = torch.nn.Linear(64, 3)

    def forward(self, x):
        y = self.pool(torch.relu(self.bn(self.conv(x))))
        return torch.log_softmax(self.fc(self.drop(torch.flatten(y, 1))), dim=1)


def make_model():
    torch.manual_seed(0)
    model = Cnn()
    with torch.no_grad():
        model.bn.weight.copy_(torch.rand(4) + 0.5)
        model.bn.bias.copy_(torch.randn(4) * 0.1)
        model.bn.running_mean.copy_(torch.randn(4) * 0.1)
        model.bn.running_var.copy_(torch.rand(4) + 0.5)
    return model


def export(model, x, path, **kwargs):
    torch.onnx.export(model, x, path, input_names=["x"], output_names=["log_probs"],
                      dynamic_axes={"x": {0: "N"}, "log_probs": {0: "N"}}, **kwargs)
    onnx.checker.check_model(onnx.load(path))
    return onnx.load(path)


def main():
    os.makedirs(HERE, exist_ok=True)
    model = make_model()
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((4, 1, 8, 8)).astype(np.float32))
    stored = None
    for opset in (9, 10, 11):
        path = os.path.join(HERE, f"cnn_opset{opset}.onnx")
        copy = make_model()
        copy.train()
        proto = export(copy, x, path, opset_version=opset, training=torch.onnx.TrainingMode.TRAINING,
                       do_constant_folding=False)
        inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
        for name, value in list(model.state_dict().items()):
            if name.endswith("num_batches_tracked"):
                continue
            assert name in inits, f"{path}: parameter {name} is not an initializer: {sorted(inits)}"
            assert inits[name].shape == tuple(value.shape), name
        # Every opset's export ran the same train-mode forward on the same start: same statistics.
        if stored is None:
            stored = inits
        for name in ("bn.running_mean", "bn.running_var"):
            np.testing.assert_array_equal(stored[name], inits[name])
    with torch.no_grad():
        model.bn.running_mean.copy_(torch.from_numpy(stored["bn.running_mean"]))
        model.bn.running_var.copy_(torch.from_numpy(stored["bn.running_var"]))
    model.eval()
    with torch.no_grad():
        expected = model(x).numpy()
    export(model, x, os.path.join(HERE, "cnn_folded.onnx"))
    with open(os.path.join(HERE, "input.pb"), "wb") as f:
        f.write(numpy_helper.from_array(x.numpy(), "x").SerializeToString())
    with open(os.path.join(HERE, "expected_log_probs.pb"), "wb") as f:
        f.write(numpy_helper.from_array(expected, "log_probs").SerializeToString())


if __name__ == "__main__":
    main()
