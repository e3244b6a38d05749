"""LoRA parity fixture: a tiny GPT-style model and a hand-written PyTorch LoRA trained on it.

Writes tests/data/lora_parity/:
  model.onnx         the base model (torch.onnx.export in training form, opset 17, no constant
                     folding: nn.Linear is MatMul(x, Transpose(W))); it computes its own LM loss
                     (output "loss", inputs "input_ids" and "labels" [B, T])
  batch_<k>_input_ids.pb, batch_<k>_labels.pb   the batches, stepped in turn
  init/<name>.pb     the adapters' A at the start, in onnx-train's layout ([in, r]: lora_A.weight^T)
  <optimizer>/final/<name>.pb   A and B after the last step (B as lora_B.weight^T: [r, out]),
  <optimizer>/losses.txt        the loss of every step (before its update),
  <optimizer>/config.txt        optimizer, lr, momentum, weight_decay, steps
                     for SGD with momentum and for AdamW

The adapters are PEFT's: y = x W^T + b + (alpha / r) * (x A^T) B^T with A [r, in] drawn by
kaiming_uniform_(a=sqrt(5)), B [out, r] zero, on every nn.Linear of the blocks (attn_c,
attn_proj, fc, proj); lm_head shares the embedding's weight (tied), so it has none. Only A and B
train (the optimizer over them alone). No dropout anywhere, so both sides compute the same thing.

Run: /usr/bin/python3 tests/data/make_lora_parity.py (torch 1.13, onnx 1.12).
"""
import math
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lora_parity")
V, T, D, H, L = 40, 8, 16, 2, 1
RANK, ALPHA = 4, 8.0
STEPS, BATCHES, B = 4, 2, 2
CASES = {"sgd": dict(lr=0.05, momentum=0.9, weight_decay=0.0), "adamw": dict(lr=1e-2, momentum=0.0, weight_decay=0.01)}


class Block(nn.Module):
    def __init__(s):
        super().__init__()
        s.ln_1 = nn.LayerNorm(D)
        s.attn_c = nn.Linear(D, 3 * D)
        s.attn_proj = nn.Linear(D, D)
        s.ln_2 = nn.LayerNorm(D)
        s.fc = nn.Linear(D, 4 * D)
        s.proj = nn.Linear(4 * D, D)
        s.register_buffer("mask", torch.tril(torch.ones(T, T)).view(1, 1, T, T))

    def forward(s, x):
        b, t, c = x.shape
        q, k, v = s.attn_c(s.ln_1(x)).split(c, dim=2)
        q = q.view(b, t, H, c // H).transpose(1, 2)
        k = k.view(b, t, H, c // H).transpose(1, 2)
        v = v.view(b, t, H, c // H).transpose(1, 2)
        a = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c // H))
        a = a.masked_fill(s.mask[:, :, :t, :t] == 0, float("-inf"))
        a = torch.softmax(a, dim=-1)
        y = (a @ v).transpose(1, 2).contiguous().view(b, t, c)
        x = x + s.attn_proj(y)
        x = x + s.proj(F.gelu(s.fc(s.ln_2(x))))
        return x


class GPT(nn.Module):
    def __init__(s):
        super().__init__()
        s.wte = nn.Embedding(V, D)
        s.wpe = nn.Embedding(T, D)
        s.h = nn.ModuleList([Block() for _ in range(L)])
        s.ln_f = nn.LayerNorm(D)
        s.lm_head = nn.Linear(D, V, bias=False)
        s.lm_head.weight = s.wte.weight

    def forward(s, idx, labels):
        b, t = idx.shape
        pos = torch.arange(0, t, dtype=torch.long).unsqueeze(0)
        x = s.wte(idx) + s.wpe(pos)
        for blk in s.h:
            x = blk(x)
        logits = s.lm_head(s.ln_f(x))
        return F.cross_entropy(logits.view(-1, V), labels.view(-1))


class LoraLinear(nn.Module):
    """PEFT's LoRA around a frozen nn.Linear."""

    def __init__(s, base, generator):
        super().__init__()
        s.base = base
        s.A = nn.Parameter(torch.empty(RANK, base.in_features))
        s.B = nn.Parameter(torch.zeros(base.out_features, RANK))
        bound = 1 / math.sqrt(base.in_features)  # kaiming_uniform_(a=sqrt(5)) on [r, in]
        with torch.no_grad():
            s.A.uniform_(-bound, bound, generator=generator)

    def forward(s, x):
        return s.base(x) + (x @ s.A.t() @ s.B.t()) * (ALPHA / RANK)


def save(tensor, path):
    t = numpy_helper.from_array(np.ascontiguousarray(tensor.detach().numpy()), os.path.basename(path)[:-3])
    with open(path, "wb") as f:
        f.write(t.SerializeToString())


def main():
    torch.manual_seed(0)
    os.makedirs(os.path.join(OUT, "init"), exist_ok=True)
    model = GPT()
    model.train()
    idx = torch.randint(0, V, (B, T))
    torch.onnx.export(model, (idx, idx), os.path.join(OUT, "model.onnx"), opset_version=17,
                      input_names=["input_ids", "labels"], output_names=["loss"],
                      training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False,
                      dynamic_axes={"input_ids": {0: "batch"}, "labels": {0: "batch"}})
    exported = onnx.load(os.path.join(OUT, "model.onnx"))
    names = {t.name for t in exported.graph.initializer}

    for p in model.parameters():
        p.requires_grad_(False)
    g = torch.Generator().manual_seed(1)
    adapters = {}
    for i, blk in enumerate(model.h):
        for attr in ("attn_c", "attn_proj", "fc", "proj"):
            lora = LoraLinear(getattr(blk, attr), g)
            setattr(blk, attr, lora)
            weight = f"h.{i}.{attr}.weight"
            assert weight in names, weight
            adapters[weight] = lora
    for w, lora in adapters.items():
        save(lora.A.t(), os.path.join(OUT, "init", w + ".lora_A.pb"))

    batches = []
    for k in range(BATCHES):
        ids = torch.randint(0, V, (B, T))
        labels = torch.randint(0, V, (B, T))
        save(ids, os.path.join(OUT, f"batch_{k}_input_ids.pb"))
        save(labels, os.path.join(OUT, f"batch_{k}_labels.pb"))
        batches.append((ids, labels))

    start = {w: (lora.A.detach().clone(), lora.B.detach().clone()) for w, lora in adapters.items()}
    for kind, c in CASES.items():
        with torch.no_grad():
            for w, lora in adapters.items():
                lora.A.copy_(start[w][0])
                lora.B.copy_(start[w][1])
        params = [p for lora in adapters.values() for p in (lora.A, lora.B)]
        if kind == "sgd":
            opt = torch.optim.SGD(params, lr=c["lr"], momentum=c["momentum"], weight_decay=c["weight_decay"])
        else:
            opt = torch.optim.AdamW(params, lr=c["lr"], weight_decay=c["weight_decay"])
        losses = []
        for step in range(STEPS):
            ids, labels = batches[step % BATCHES]
            opt.zero_grad()
            loss = model(ids, labels)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        out = os.path.join(OUT, kind)
        os.makedirs(os.path.join(out, "final"), exist_ok=True)
        for w, lora in adapters.items():
            save(lora.A.t(), os.path.join(out, "final", w + ".lora_A.pb"))
            save(lora.B.t(), os.path.join(out, "final", w + ".lora_B.pb"))
        with open(os.path.join(out, "losses.txt"), "w") as f:
            f.write("\n".join(repr(l) for l in losses) + "\n")
        with open(os.path.join(out, "config.txt"), "w") as f:
            f.write(f"optimizer {kind}\nlr {c['lr']}\nmomentum {c['momentum']}\nweight_decay {c['weight_decay']}\n"
                    f"steps {STEPS}\n")
        print(kind, "losses", losses)


if __name__ == "__main__":
    main()
