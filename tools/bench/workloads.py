#!/usr/bin/env python3
"""The benchmark's workloads: each a PyTorch model, its input specification and batch size.

    /usr/bin/python3 tools/bench/workloads.py OUT_DIR [--tiny] [--only NAME,NAME]
    /usr/bin/python3 tools/bench/workloads.py --list [--tiny]

exports every workload to OUT_DIR/<name>/:
  train.onnx  the training form (BatchNormalization and Dropout in training mode, every
              parameter an initializer, no constant folding), the model onnx-train trains;
  eval.onnx   the inference form users usually export, the model timed for inference;
  spec.json   inputs (name, dtype, shape with "N" for the batch, integer range), batch size,
              class count, parameter count, multiply-adds per sample of the nn.Linear layers:
              what the timing scripts of every engine read.

`--list` prints the workload names, one a line, with their batch size.

`--tiny` shrinks every workload (small batch, small images or sequences, fewer layers) so the
whole benchmark runs in a minute: CI uses it to prove the benchmark works, never to time.
The same builders are imported by torch_step.py, so PyTorch times the very model exported here.
"""
import argparse
import json
import os

import torch
import torchvision
from torch import nn


class MLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers[:-1])

    def forward(self, x):
        return self.net(x)


class LeNet(nn.Module):
    """The LeNet-style CNN of the bundled Fashion-MNIST model (models/fashion_cnn)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class EncoderClassifier(nn.Module):
    """Token embedding + learned positions, a pre-built nn.TransformerEncoder, mean pooling, a linear head."""

    def __init__(self, vocab, seq, d, heads, ff, layers, classes):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(1, seq, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, classes)

    def forward(self, tokens):
        return self.head(self.encoder(self.embed(tokens) + self.pos).mean(dim=1))


class LSTMClassifier(nn.Module):
    def __init__(self, features, hidden, classes):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def efficientnet_b0():
    """torchvision's EfficientNet-B0 without stochastic depth: its random per-sample drop cannot be
    exported in training form (ConstantOfShape of a traced shape), so both engines train without it."""
    model = torchvision.models.efficientnet_b0(num_classes=10)
    for m in model.modules():
        if isinstance(m, torchvision.ops.StochasticDepth):
            m.p = 0.0
    return model


def workloads(tiny=False):
    """name -> dict(build=callable, inputs=[...], batch=int, opset=int)."""
    image = 32 if tiny else 64

    def float_input(*dims):
        return [dict(name="input", dtype="float32", shape=["N", *dims])]

    def tokens(seq, vocab):
        return [dict(name="tokens", dtype="int64", shape=["N", seq], high=vocab)]

    seq, vocab = (16, 1000) if tiny else (64, 1000)
    bert_seq = 16 if tiny else 128
    return {
        "mlp": dict(build=lambda: MLP([784, 512, 256, 10]), inputs=float_input(784), batch=8 if tiny else 64, opset=13),
        "lenet": dict(build=LeNet, inputs=float_input(1, 28, 28), batch=8 if tiny else 64, opset=13),
        "resnet18": dict(build=lambda: torchvision.models.resnet18(num_classes=10), inputs=float_input(3, image, image),
                         batch=2 if tiny else 16, opset=15),
        # Tiny: batch 4, since at 32x32 its last BatchNorms see 1x1 maps, and with 2 samples
        # PyTorch's own gradients overflow by the third SGD step (so do ours).
        "mobilenet_v2": dict(build=lambda: torchvision.models.mobilenet_v2(num_classes=10),
                             inputs=float_input(3, image, image), batch=4 if tiny else 16, opset=15),
        "efficientnet_b0": dict(build=efficientnet_b0, inputs=float_input(3, image, image), batch=2 if tiny else 8, opset=15),
        "transformer": dict(build=lambda: EncoderClassifier(vocab, seq, 128, 4, 512, 1 if tiny else 2, 10),
                            inputs=tokens(seq, vocab), batch=2 if tiny else 16, opset=17),
        "lstm": dict(build=lambda: LSTMClassifier(64, 128, 10), inputs=float_input(8 if tiny else 32, 64),
                     batch=4 if tiny else 32, opset=13),
        "bert6_memory": dict(build=lambda: EncoderClassifier(8000, bert_seq, 768 if not tiny else 64, 12 if not tiny else 4,
                                                              3072 if not tiny else 128, 1 if tiny else 6, 2),
                             inputs=tokens(bert_seq, 8000), batch=2 if tiny else 8, opset=17),
    }


def example_inputs(spec, batch):
    out = []
    for i in spec["inputs"]:
        shape = [batch if d == "N" else d for d in i["shape"]]
        if i["dtype"] == "int64":
            out.append(torch.randint(0, i["high"], shape))
        else:
            out.append(torch.randn(*shape))
    return tuple(out)


def export(name, spec, out_dir):
    torch.manual_seed(0)
    model = spec["build"]()
    folder = os.path.join(out_dir, name)
    os.makedirs(folder, exist_ok=True)
    args = example_inputs(spec, 2)
    names = [i["name"] for i in spec["inputs"]]
    axes = {n: {0: "N"} for n in names}
    axes["logits"] = {0: "N"}
    common = dict(input_names=names, output_names=["logits"], dynamic_axes=axes, opset_version=spec["opset"])
    model.train()
    torch.onnx.export(model, args, os.path.join(folder, "train.onnx"), training=torch.onnx.TrainingMode.TRAINING,
                      do_constant_folding=False, **common)
    model.eval()
    torch.onnx.export(model, args, os.path.join(folder, "eval.onnx"), **common)
    with torch.no_grad():
        classes = model(*args).shape[1]
    # Multiply-adds per sample of the model's nn.Linear layers: an MLP's whole work, so its step
    # is 6 * batch * linear_macs flops (forward, and two products per layer backward).
    linear_macs = sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, nn.Linear))
    with open(os.path.join(folder, "spec.json"), "w") as f:
        json.dump(dict(name=name, inputs=spec["inputs"], batch=spec["batch"], classes=classes,
                       parameters=sum(p.numel() for p in model.parameters()), linear_macs=linear_macs), f, indent=1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out", nargs="?")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--only", default="")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    if args.list:
        for name, spec in workloads(args.tiny).items():
            print(name, spec["batch"])
        return
    if not args.out:
        parser.error("give the output folder (or --list)")
    torch.set_num_threads(1)
    chosen = [n for n in args.only.split(",") if n]
    for name, spec in workloads(args.tiny).items():
        if chosen and name not in chosen:
            continue
        export(name, spec, args.out)
        print(f"exported {name} to {os.path.join(args.out, name)}")


if __name__ == "__main__":
    main()
