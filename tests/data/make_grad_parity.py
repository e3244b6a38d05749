#!/usr/bin/env python3
"""Makes the PyTorch gradient-parity fixtures in tests/data/grad_parity/.

Each fixture is a small model wrapped with its loss, so that the exported graph's only
output is the scalar loss: module(inputs..., targets) -> loss. PyTorch runs one batch in
float32 and records the loss and every parameter's gradient; the model is then exported
with torch.onnx.export, keeping every parameter as an initializer under its own name
(export_params=True, do_constant_folding=False). tests/models/grad_parity_test.cc builds
the backward graph of the exported model and compares. Layout:
    <name>/model.onnx
    <name>/inputs/<graph input>.pb      one TensorProto per graph input, named like it
    <name>/loss.pb                      PyTorch's loss (a float32 scalar)
    <name>/gradients/<initializer>.pb   PyTorch's .grad of each trainable parameter, the
                                        TensorProto named like the ONNX initializer
Batch normalisation's running statistics are buffers, not parameters: they get no file.

Regenerate with /usr/bin/python3 tests/data/make_grad_parity.py (Debian's python3-torch,
python3-torchvision, python3-onnx, python3-numpy); the test itself needs no PyTorch.
"""
import os
import shutil

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn
from torchvision.models.resnet import BasicBlock

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grad_parity")


class Classifier(nn.Module):
    """Any model producing logits, scored with cross-entropy (SoftmaxCrossEntropyLoss from opset 12)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, labels):
        return F.cross_entropy(self.model(x), labels)


class Regressor(nn.Module):
    """Any model scored with the mean squared error against a target (written out: torch
    cannot export F.mse_loss)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, target):
        return ((self.model(x) - target) ** 2).mean()


def mlp():
    return nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 5))


def lenet():
    return nn.Sequential(nn.Conv2d(1, 4, 5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(8 * 4 * 4, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(),
                         nn.Linear(16, 10))


def resnet_block():
    """torchvision's BasicBlock with a strided 1x1 downsample, pooled, then a linear head."""
    down = nn.Sequential(nn.Conv2d(4, 8, 1, stride=2, bias=False), nn.BatchNorm2d(8))
    return nn.Sequential(BasicBlock(4, 8, stride=2, downsample=down), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 3))


class TransformerClassifier(nn.Module):
    """Token embedding + learned positions, a 2-layer pre-norm encoder, mean pooling, a head."""

    def __init__(self, vocab=20, seq=6, d=16, heads=2, classes=3):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(0.1 * torch.randn(1, seq, d))
        layer = nn.TransformerEncoderLayer(d, heads, 32, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(d, classes)

    def forward(self, ids):
        return self.head(self.encoder(self.tok(ids) + self.pos).mean(dim=1))


class LSTMClassifier(nn.Module):
    """Embedding, a 2-layer bidirectional LSTM, a linear head on the last step's output."""

    def __init__(self, vocab=20, d=8, hidden=8, classes=3):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.lstm = nn.LSTM(d, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, classes)

    def forward(self, ids):
        y, _ = self.lstm(self.tok(ids))
        return self.head(y[:, -1])


class TiedLanguageModel(nn.Module):
    """Token scores from an output projection that shares the embedding's weight E, as
    language models tie them: scores = h @ E^T. The state dict names the weight twice
    (emb.weight and out.weight); the graph holds one initializer used twice."""

    def __init__(self, vocab=12, d=8):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.mix = nn.Linear(d, d)
        self.out = nn.Linear(d, vocab, bias=False)
        self.out.weight = self.emb.weight

    def forward(self, ids):
        return self.out(torch.tanh(self.mix(self.emb(ids))))


def conv_transpose_autoencoder():
    return nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.ReLU(),
                         nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1))


class GRURegressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 8, batch_first=True)
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        return self.out(self.gru(x)[0])


def write_tensor(path, array, name):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(np.array(array, order="C"), name).SerializeToString())


def file_name(tensor_name):
    return tensor_name.replace("/", "_").replace(":", "_") + ".pb"


def initializer_names(module, initializers):
    """ONNX initializer name of each trainable parameter of `module`, by identity.

    A tied parameter has several names in the state dict; the exporter keeps one of them.
    Each parameter must appear exactly once, holding the parameter's value.
    """
    names = {}
    state = module.state_dict(keep_vars=True)
    for param in {id(p): p for p in module.parameters() if p.requires_grad}.values():
        aliases = [n for n, t in state.items() if t is param]
        found = [n for n in aliases if n in initializers]
        assert len(found) == 1, f"parameter {aliases} appears as initializers {found}"
        assert np.array_equal(initializers[found[0]], param.detach().numpy()), f"{found[0]} holds another value"
        assert param.grad is not None, f"parameter {aliases} does not reach the loss"
        names[found[0]] = param
    return names


def save_fixture(name, module, inputs, input_names, opset, training=False):
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(os.path.join(folder, "inputs"))
    os.makedirs(os.path.join(folder, "gradients"))

    # A small random offset on every parameter. Fresh normalisation scales are all ones and
    # shifts all zeros, and TransformerEncoder's layers are copies of one layer: in eval mode
    # the exporter merges initializers of equal value into one, which would tie parameters
    # that PyTorch trains apart (and unit scales test their gradients less).
    with torch.no_grad():
        for param in module.parameters():
            param.add_(0.05 * torch.randn_like(param))
    module.train(training)
    module.zero_grad(set_to_none=True)
    loss = module(*inputs)
    loss.backward()

    path = os.path.join(folder, "model.onnx")
    mode = torch.onnx.TrainingMode.TRAINING if training else torch.onnx.TrainingMode.EVAL
    torch.onnx.export(module, tuple(inputs), path, opset_version=opset, input_names=input_names,
                      output_names=["loss"], export_params=True, do_constant_folding=False, training=mode)
    model = onnx.load(path)
    onnx.checker.check_model(model)
    initializers = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    names = initializer_names(module, initializers)
    buffers = {n for n, _ in module.named_buffers()}
    unknown = set(initializers) - set(names) - buffers
    assert not unknown, f"initializers that are neither parameters nor buffers: {sorted(unknown)}"

    for n, t in zip(input_names, inputs):
        write_tensor(os.path.join(folder, "inputs", file_name(n)), t.numpy(), n)
    write_tensor(os.path.join(folder, "loss.pb"), loss.detach().numpy(), "loss")
    for n, param in names.items():
        write_tensor(os.path.join(folder, "gradients", file_name(n)), param.grad.numpy(), n)
    ops = sorted({node.op_type for node in model.graph.node})
    print(f"{name}: loss {loss.item():.6f}, {len(os.listdir(os.path.join(folder, 'gradients')))} gradients, "
          f"ops {' '.join(ops)}")


# name, module, inputs and their names, opset, whether batch normalisation is in training mode.
# Each fixture is made from seed 0, so adding one does not change the others.
FIXTURES = [
    ("mlp", lambda: Classifier(mlp()), lambda: [torch.randn(8, 10), torch.randint(0, 5, (8,))], ["x", "labels"],
     13, False),
    ("lenet", lambda: Classifier(lenet()), lambda: [torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,))],
     ["x", "labels"], 13, False),
    ("resnet_block", lambda: Classifier(resnet_block()), lambda: [torch.randn(4, 4, 8, 8), torch.randint(0, 3, (4,))],
     ["x", "labels"], 15, True),
    ("transformer", lambda: Classifier(TransformerClassifier()),
     lambda: [torch.randint(0, 20, (3, 6)), torch.randint(0, 3, (3,))], ["ids", "labels"], 17, False),
    ("lstm_classifier", lambda: Classifier(LSTMClassifier()),
     lambda: [torch.randint(0, 20, (3, 5)), torch.randint(0, 3, (3,))], ["ids", "labels"], 14, False),
    ("tied_weights", lambda: Regressor(TiedLanguageModel()),
     lambda: [torch.randint(0, 12, (2, 5)), torch.randn(2, 5, 12)], ["ids", "target"], 13, False),
    ("conv_transpose_mse", lambda: Regressor(conv_transpose_autoencoder()),
     lambda: [torch.randn(2, 2, 8, 8), torch.randn(2, 2, 8, 8)], ["x", "target"], 13, False),
    ("gru_mse", lambda: Regressor(GRURegressor()), lambda: [torch.randn(2, 5, 4), torch.randn(2, 5, 2)],
     ["x", "target"], 14, False),
]


def main():
    for name, make_module, make_inputs, input_names, opset, training in FIXTURES:
        torch.manual_seed(0)
        module = make_module()
        save_fixture(name, module, make_inputs(), input_names, opset, training)


if __name__ == "__main__":
    main()
