#!/usr/bin/env python3
"""Makes the PyTorch parity fixtures in tests/data/torch_parity/.

Each model is built in PyTorch (torchvision architectures and the kinds of models users
export: transformers, RNNs, U-Nets, losses), exported with torch.onnx.export, and saved in
the layout of ONNX's own backend test data:
    <name>/model.onnx
    <name>/test_data_set_0/input_<i>.pb, output_<i>.pb   (PyTorch's outputs)
so the C++ test reads them like the conformance cases. Run with /usr/bin/python3 (Debian's
python3-torch, python3-torchvision, python3-onnx); the tests themselves need no PyTorch.
Widths are small to keep the files small; the graph structure is that of the full models.
"""
import os
import shutil

import numpy as np
import onnx
import torch
import torchvision
from onnx import numpy_helper
from torch import nn
from torchvision.models.efficientnet import EfficientNet, _efficientnet_conf
from torchvision.models.resnet import BasicBlock

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_parity")


class SmallResNet(nn.Module):
    """torchvision's ResNet layout (stem, 4 stages of BasicBlocks, avgpool, fc) at 1/4 width."""

    def __init__(self, widths=(16, 32, 64, 128), num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 7, 2, 3, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        layers, inplanes = [], widths[0]
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or inplanes != w:
                down = nn.Sequential(nn.Conv2d(inplanes, w, 1, stride, bias=False), nn.BatchNorm2d(w))
            layers += [BasicBlock(inplanes, w, stride, down), BasicBlock(w, w)]
            inplanes = w
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


class BertLike(nn.Module):
    """Token + position embeddings, a padding mask, hand-written attention and Erf GELU."""

    def __init__(self, vocab=50, d=32, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(16, d)
        self.heads = heads
        self.blocks = nn.ModuleList()
        for _ in range(layers):
            self.blocks.append(nn.ModuleDict(dict(qkv=nn.Linear(d, 3 * d), proj=nn.Linear(d, d), ln1=nn.LayerNorm(d),
                                                  ff1=nn.Linear(d, 4 * d), ff2=nn.Linear(4 * d, d),
                                                  ln2=nn.LayerNorm(d))))
        self.head = nn.Linear(d, 2)

    def forward(self, ids, mask):
        b, t = ids.shape
        pos = torch.arange(t, device=ids.device).unsqueeze(0)
        x = self.tok(ids) + self.pos(pos)
        neg = torch.where(mask.unsqueeze(1).unsqueeze(2) > 0, torch.zeros(()), torch.full((), -1e4))
        for blk in self.blocks:
            q, k, v = blk["qkv"](x).chunk(3, dim=-1)
            split = lambda z: z.reshape(b, t, self.heads, -1).transpose(1, 2)
            q, k, v = split(q), split(k), split(v)
            att = torch.softmax(q @ k.transpose(-1, -2) / (q.shape[-1] ** 0.5) + neg, dim=-1)
            y = (att @ v).transpose(1, 2).reshape(b, t, -1)
            x = blk["ln1"](x + blk["proj"](y))
            h = blk["ff1"](x)
            h = 0.5 * h * (1.0 + torch.erf(h / 1.4142135623730951))
            x = blk["ln2"](x + blk["ff2"](h))
        return self.head(x[:, 0])


class SmallUNet(nn.Module):
    def __init__(self, c=8):
        super().__init__()
        block = lambda i, o: nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU())
        self.d1, self.d2, self.mid = block(3, c), block(c, 2 * c), block(2 * c, 4 * c)
        self.up2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.u2 = block(4 * c, 2 * c)
        self.up1 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.u1 = block(2 * c + c, c)
        self.up0 = nn.Upsample(scale_factor=2, mode="nearest")
        self.out = nn.Conv2d(c, 2, 1)

    def forward(self, x):
        a = self.d1(x)
        b = self.d2(nn.functional.max_pool2d(a, 2))
        m = self.mid(nn.functional.max_pool2d(b, 2))
        y = self.u2(torch.cat([self.up2(m), b], 1))
        y = self.u1(torch.cat([self.up1(y), a], 1))
        return self.out(nn.functional.avg_pool2d(self.up0(y), 2))


class RNNModel(nn.Module):
    def __init__(self, kind):
        super().__init__()
        cls = dict(lstm=nn.LSTM, gru=nn.GRU, rnn=nn.RNN)[kind]
        self.rnn = cls(8, 16, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(32, 3)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[:, -1])


class LossModel(nn.Module):
    """Logits from a linear layer scored against labels, as exported training graphs are."""

    def __init__(self, kind):
        super().__init__()
        self.fc = nn.Linear(6, 5)
        self.kind = kind

    def forward(self, x, labels):
        logits = self.fc(x)
        if self.kind == "cross_entropy":
            return nn.functional.cross_entropy(logits, labels, ignore_index=1)
        return nn.functional.nll_loss(logits - logits.exp().sum(-1, keepdim=True).log(), labels, reduction="sum")


class ActivationZoo(nn.Module):
    """The activations and normalisations torch exports as their own ops or decomposed."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.group_norm = nn.GroupNorm(2, 8)  # exported decomposed: Reshape, InstanceNormalization, Mul, Add
        self.inst_norm = nn.InstanceNorm2d(8, affine=True)
        self.prelu = nn.PReLU(8)
        self.acts = nn.ModuleList([nn.Hardswish(), nn.Hardsigmoid(), nn.ELU(0.7), nn.SELU(), nn.LeakyReLU(0.2),
                                   nn.Softplus(), nn.Softsign(), nn.GELU(), nn.SiLU(), nn.Mish(), nn.Tanh(),
                                   nn.ReLU6()])

    def forward(self, x):
        y = self.inst_norm(self.group_norm(self.conv(x)))
        outs = [self.prelu(y)] + [act(y) for act in self.acts]
        return torch.stack(outs, 1).mean(dim=(3, 4))


def save_case(name, model, inputs, input_names, opset, dynamic_batch=True):
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(os.path.join(folder, "test_data_set_0"))
    model.eval()
    with torch.no_grad():
        outputs = model(*inputs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    output_names = [f"output_{i}" for i in range(len(outputs))]
    axes = {n: {0: "batch"} for n in input_names} if dynamic_batch else None
    torch.onnx.export(model, tuple(inputs), os.path.join(folder, "model.onnx"), opset_version=opset,
                      input_names=input_names, output_names=output_names, dynamic_axes=axes)
    onnx.checker.check_model(onnx.load(os.path.join(folder, "model.onnx")))
    for kind, names, tensors in (("input", input_names, inputs), ("output", output_names, outputs)):
        for i, (n, t) in enumerate(zip(names, tensors)):
            with open(os.path.join(folder, "test_data_set_0", f"{kind}_{i}.pb"), "wb") as f:
                f.write(numpy_helper.from_array(t.detach().numpy(), n).SerializeToString())


def main():
    torch.manual_seed(0)
    image = torch.randn(2, 3, 64, 64)
    m = torchvision.models
    save_case("resnet_small", SmallResNet(), [image], ["input"], 13)
    save_case("squeezenet1_1", m.squeezenet1_1(num_classes=10), [image], ["input"], 13)
    save_case("mobilenet_v2_035", m.mobilenet_v2(num_classes=10, width_mult=0.35), [image], ["input"], 13)
    save_case("mobilenet_v3_small", m.mobilenet_v3_small(num_classes=10), [image], ["input"], 13)
    save_case("shufflenet_v2_x0_5", m.shufflenet_v2_x0_5(num_classes=10), [image], ["input"], 13)
    save_case("densenet_small", m.DenseNet(growth_rate=8, block_config=(2, 2, 2, 2), num_init_features=16,
                                           num_classes=10), [image], ["input"], 13)
    setting, last = _efficientnet_conf("efficientnet_b0", width_mult=0.25, depth_mult=0.34)
    save_case("efficientnet_small", EfficientNet(setting, 0.2, num_classes=10, last_channel=last), [image],
              ["input"], 13)

    seq = torch.randn(2, 7, 32)
    for opset in (13, 17):  # LayerNorm is decomposed before opset 17, LayerNormalization from 17
        enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, batch_first=True), 2)
        save_case(f"transformer_encoder_opset{opset}", enc, [seq], ["input"], opset)
    ids = torch.randint(0, 50, (2, 9))
    mask = torch.ones(2, 9, dtype=torch.int64)
    mask[1, 6:] = 0
    save_case("bert_like", BertLike(), [ids, mask], ["ids", "mask"], 14)
    for kind in ("lstm", "gru", "rnn"):
        save_case(kind, RNNModel(kind), [torch.randn(2, 5, 8)], ["input"], 14)
    save_case("activation_zoo", ActivationZoo(), [torch.randn(2, 3, 8, 8)], ["input"], 14)
    save_case("unet_small", SmallUNet(), [torch.randn(2, 3, 32, 32)], ["input"], 13)
    labels = torch.tensor([0, 1, 4, 2])
    save_case("cross_entropy_loss", LossModel("cross_entropy"), [torch.randn(4, 6), labels], ["x", "labels"], 13)
    save_case("nll_loss", LossModel("nll"), [torch.randn(4, 6), labels], ["x", "labels"], 13)


if __name__ == "__main__":
    main()
