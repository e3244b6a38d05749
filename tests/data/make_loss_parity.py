#!/usr/bin/env python3
"""Makes the PyTorch loss-parity fixtures in tests/data/loss_parity/ (for
tests/gradients/losses_test.cc, which checks gradients/losses.h).

Each case is a tiny model y = x * w (w of shape x.shape[1:], broadcast over the batch;
for NLL y = log_softmax(x * w, dim=1), as a model that already ends in LogSoftmax) scored
with one torch.nn.functional loss. PyTorch runs it in float32 and records the loss and
d loss / d w. Layout:
    <case>/case.txt   the loss options, one "key value" a line (kind, reduction,
                      label_smoothing, ignore_index, huber_delta, label_dtype, model,
                      class_axis: 1, or last for [N, T, C] scores scored as PyTorch's
                      F.cross_entropy(y.view(-1, C), t.view(-1)))
    <case>/x.pb, w.pb, label.pb   the batch, the weight and the target
    <case>/loss.pb, w_grad.pb     PyTorch's loss (a scalar) and gradient of w

Regenerate with /usr/bin/python3 tests/data/make_loss_parity.py (Debian's python3-torch,
python3-onnx, python3-numpy); the test itself needs no PyTorch.
"""
import os
import shutil

import numpy as np
import torch
import torch.nn.functional as F
from onnx import numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "loss_parity")


def class_labels(gen, shape, classes, ignored=(), ignore_index=-100):
    """Random class labels; the flat positions in `ignored` get ignore_index."""
    labels = torch.randint(0, classes, shape, generator=gen)
    flat = labels.view(-1)
    for i in ignored:
        flat[i] = ignore_index
    return labels


def loss_of(kind, y, label, options):
    reduction = options["reduction"]
    if options["class_axis"] == "last":  # a language model's [batch, tokens, vocabulary] logits
        y, label = y.reshape(-1, y.shape[-1]), label.reshape(-1)
    if kind == "cross-entropy":
        return F.cross_entropy(y, label.long(), reduction=reduction, ignore_index=options["ignore_index"],
                               label_smoothing=options["label_smoothing"])
    if kind == "nll":
        return F.nll_loss(y, label.long(), reduction=reduction, ignore_index=options["ignore_index"])
    if kind == "mse":
        return F.mse_loss(y, label, reduction=reduction)
    if kind == "l1":
        return F.l1_loss(y, label, reduction=reduction)
    if kind == "huber":
        return F.huber_loss(y, label, reduction=reduction, delta=options["huber_delta"])
    if kind == "bce-with-logits":
        return F.binary_cross_entropy_with_logits(y, label, reduction=reduction)
    raise ValueError(kind)


def save(path, name, array):
    tensor = numpy_helper.from_array(np.array(array), name)  # np.array keeps 0-d scalars 0-d
    with open(path, "wb") as f:
        f.write(tensor.SerializeToString())


def make(name, kind, shape, gen, reduction="mean", label_smoothing=0.0, ignore_index=-100, ignored=(),
         huber_delta=1.0, label_dtype="int64", class_axis="1"):
    options = dict(kind=kind, reduction=reduction, label_smoothing=label_smoothing, ignore_index=ignore_index,
                   huber_delta=huber_delta, label_dtype=label_dtype,
                   model="log_softmax" if kind == "nll" else "mul", class_axis=class_axis)
    x = torch.randn(shape, generator=gen)
    w = (torch.rand(shape[1:], generator=gen) + 0.5).requires_grad_()
    y = x * w
    if kind == "nll":
        y = F.log_softmax(y, dim=1)
    if kind in ("cross-entropy", "nll") and class_axis == "last":
        label = class_labels(gen, tuple(shape[:-1]), shape[-1], ignored, ignore_index)
        label = label.to(torch.int32 if label_dtype == "int32" else torch.int64)
    elif kind in ("cross-entropy", "nll"):
        label = class_labels(gen, (shape[0],) + tuple(shape[2:]), shape[1], ignored, ignore_index)
        label = label.to(torch.int32 if label_dtype == "int32" else torch.int64)
    elif kind == "bce-with-logits":
        label = torch.rand(shape, generator=gen)
    else:
        label = torch.randn(shape, generator=gen)
    loss = loss_of(kind, y, label, options)
    loss.backward()

    d = os.path.join(OUT, name)
    os.makedirs(d)
    with open(os.path.join(d, "case.txt"), "w") as f:
        for key, value in options.items():
            f.write(f"{key} {value}\n")
    save(os.path.join(d, "x.pb"), "x", x.numpy())
    save(os.path.join(d, "w.pb"), "w", w.detach().numpy())
    save(os.path.join(d, "label.pb"), "label", label.numpy())
    save(os.path.join(d, "loss.pb"), "loss", loss.detach().numpy())
    save(os.path.join(d, "w_grad.pb"), "w_grad", w.grad.numpy())


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    gen = torch.Generator().manual_seed(0)
    for reduction in ("mean", "sum"):
        make(f"ce_{reduction}", "cross-entropy", (4, 5), gen, reduction)
        make(f"ce_ignore_{reduction}", "cross-entropy", (5, 4), gen, reduction, ignored=(1, 3))
        make(f"ce_smooth_{reduction}", "cross-entropy", (4, 5), gen, reduction, label_smoothing=0.1)
        make(f"ce_smooth_ignore_{reduction}", "cross-entropy", (5, 4), gen, reduction, label_smoothing=0.2,
             ignore_index=3, ignored=(0, 2))
        make(f"ce_pixel_{reduction}", "cross-entropy", (2, 3, 2, 3), gen, reduction, ignored=(4,))
        make(f"ce_pixel_smooth_{reduction}", "cross-entropy", (2, 3, 2, 2), gen, reduction, label_smoothing=0.15,
             ignored=(1, 6))
        make(f"nll_{reduction}", "nll", (4, 5), gen, reduction, ignore_index=0, ignored=(2,))
        make(f"nll_pixel_{reduction}", "nll", (2, 4, 3), gen, reduction)
        make(f"mse_{reduction}", "mse", (3, 4), gen, reduction)
        make(f"l1_{reduction}", "l1", (3, 2, 2), gen, reduction)
        make(f"huber_{reduction}", "huber", (4, 3), gen, reduction)
        make(f"huber_delta_{reduction}", "huber", (4, 3), gen, reduction, huber_delta=0.3)
        make(f"bce_{reduction}", "bce-with-logits", (3, 4), gen, reduction)
    make("ce_int32_labels", "cross-entropy", (4, 5), gen, label_dtype="int32")
    # Classes on the last axis: [batch, tokens, vocabulary] logits against [batch, tokens] labels.
    for reduction in ("mean", "sum"):
        make(f"ce_tokens_{reduction}", "cross-entropy", (2, 5, 7), gen, reduction, ignored=(3,), class_axis="last")
    make("ce_tokens_smooth_mean", "cross-entropy", (3, 2, 6), gen, label_smoothing=0.2, ignored=(0, 4),
         class_axis="last")
    make("ce_tokens_rank4_int32", "cross-entropy", (2, 2, 3, 5), gen, label_dtype="int32", class_axis="last")


if __name__ == "__main__":
    main()
