"""Makes tests/data/recompute/gpt_tiny.onnx: a 3-block GPT (pre-LayerNorm, causal attention,
Dropout 0.1 on attention and residual branches, tied embedding) exported by torch 1.13 in
training form with its own cross-entropy loss, for the activation recomputation tests.

  inputs:  input_ids int64 [batch, 16], targets int64 [batch, 16]
  outputs: loss float [] (mean cross-entropy over every position), logits float [batch, 16, 64]

Run with /usr/bin/python3 tests/data/make_recompute_gpt.py (torch 1.13, onnx 1.12)."""
import math
import os

import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, d, h, T):
        super().__init__()
        self.h = h
        self.ln_1 = nn.LayerNorm(d)
        self.attn_c = nn.Linear(d, 3 * d)
        self.attn_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.proj = nn.Linear(4 * d, d)
        self.drop = nn.Dropout(0.1)
        self.register_buffer("mask", torch.tril(torch.ones(T, T)).view(1, 1, T, T))

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.attn_c(self.ln_1(x)).split(C, dim=2)
        q = q.view(B, T, self.h, C // self.h).transpose(1, 2)
        k = k.view(B, T, self.h, C // self.h).transpose(1, 2)
        v = v.view(B, T, self.h, C // self.h).transpose(1, 2)
        a = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // self.h))
        a = a.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
        a = self.drop(torch.softmax(a, dim=-1))
        y = (a @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.drop(self.attn_proj(y))
        x = x + self.drop(self.proj(nn.functional.gelu(self.fc(self.ln_2(x)))))
        return x


class GPT(nn.Module):
    def __init__(self, V=64, T=16, d=32, h=4, L=3):
        super().__init__()
        self.V = V
        self.wte = nn.Embedding(V, d)
        self.wpe = nn.Embedding(T, d)
        self.drop = nn.Dropout(0.1)
        self.h = nn.ModuleList([Block(d, h, T) for _ in range(L)])
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, V, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, idx, targets):
        B, T = idx.shape
        pos = torch.arange(0, T, dtype=torch.long).unsqueeze(0)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for b in self.h:
            x = b(x)
        logits = self.lm_head(self.ln_f(x))
        loss = nn.functional.cross_entropy(logits.view(-1, self.V), targets.view(-1))
        return loss, logits


torch.manual_seed(0)
m = GPT()
m.train()
idx = torch.randint(0, 64, (2, 16))
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recompute", "gpt_tiny.onnx")
os.makedirs(os.path.dirname(out), exist_ok=True)
torch.onnx.export(m, (idx, idx), out, opset_version=17, input_names=["input_ids", "targets"],
                  output_names=["loss", "logits"], training=torch.onnx.TrainingMode.TRAINING,
                  do_constant_folding=False,
                  dynamic_axes={"input_ids": {0: "batch"}, "targets": {0: "batch"}, "logits": {0: "batch"}})
print("wrote", out, os.path.getsize(out), "bytes")
