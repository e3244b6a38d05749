#!/usr/bin/env python3
"""Makes the bundled model: a small CNN for 28x28 Fashion-MNIST images, exported from PyTorch.

Writes model.onnx (opset 13, dynamic batch), sample_input.pb (the first 4 test images,
scaled to [0, 1]) and sample_output.pb (PyTorch's logits for them) beside this script.
The weights are PyTorch's seeded initialisation: the model is untrained until onnx-train
trains it. Run with /usr/bin/python3 (Debian's python3-torch, python3-onnx).
"""
import gzip
import os

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGES = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"


class FashionCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),   # 16x14x14
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # 32x7x7
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def sample_images(count):
    """The first `count` Fashion-MNIST test images as float32 [count, 1, 28, 28] in [0, 1]."""
    if os.path.exists(IMAGES):
        with gzip.open(IMAGES, "rb") as f:
            data = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
        return (data[: count * 784].reshape(count, 1, 28, 28) / 255.0).astype(np.float32)
    return np.random.default_rng(0).random((count, 1, 28, 28), dtype=np.float32)


def main():
    torch.manual_seed(0)
    model = FashionCNN().eval()
    x = torch.from_numpy(sample_images(4))
    path = os.path.join(HERE, "model.onnx")
    torch.onnx.export(model, (x,), path, opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    onnx.checker.check_model(onnx.load(path))
    with torch.no_grad():
        y = model(x).numpy()
    for name, array in (("sample_input.pb", x.numpy()), ("sample_output.pb", y)):
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(numpy_helper.from_array(array, name.split("_")[1].split(".")[0]).SerializeToString())


if __name__ == "__main__":
    main()
