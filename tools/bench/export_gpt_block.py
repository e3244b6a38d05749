"""A GPT-2-shaped language model for timing --precision bf16 against float32.

    python3 tools/bench/export_gpt_block.py OUT.onnx [--d 768] [--layers 4] [--heads 12]
                                             [--seq 256] [--batch 4] [--vocab 50257]
    build/train_step_bench OUT.onnx --threads 2 [--precision bf16] [--profile]

GPT-2's blocks (pre-LayerNorm attention with a causal mask, GELU MLP, Dropout 0.1), tied
input / output embeddings, exported by torch in training form (names kept, nn.Linear as
MatMul(x, Transpose(W))) with fixed shapes. The logits come out as [batch * seq, vocab] so
that train_step_bench's cross-entropy (classes on dimension 1) is the language-model loss.
"""
import argparse
import math

import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, d, heads, seq):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(d)
        self.attn_c = nn.Linear(d, 3 * d)
        self.attn_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.proj = nn.Linear(4 * d, d)
        self.drop = nn.Dropout(0.1)
        self.register_buffer("mask", torch.tril(torch.ones(seq, seq)).view(1, 1, seq, seq))

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.attn_c(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        a = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c // self.heads))
        a = a.masked_fill(self.mask[:, :, :t, :t] == 0, float("-inf"))
        a = self.drop(torch.softmax(a, dim=-1))
        y = (a @ v).transpose(1, 2).contiguous().view(b, t, c)
        x = x + self.drop(self.attn_proj(y))
        return x + self.drop(self.proj(nn.functional.gelu(self.fc(self.ln_2(x)))))


class GPT(nn.Module):
    def __init__(self, vocab, seq, d, heads, layers):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(seq, d)
        self.drop = nn.Dropout(0.1)
        self.h = nn.ModuleList([Block(d, heads, seq) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, idx):
        b, t = idx.shape
        pos = torch.arange(0, t, dtype=torch.long).unsqueeze(0)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x)).view(b * t, -1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--d", type=int, default=768)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--vocab", type=int, default=50257)
    a = p.parse_args()
    torch.manual_seed(0)
    m = GPT(a.vocab, a.seq, a.d, a.heads, a.layers).train()
    idx = torch.randint(0, a.vocab, (a.batch, a.seq))
    torch.onnx.export(m, (idx,), a.out, opset_version=17, input_names=["input_ids"], output_names=["logits"],
                      training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)


if __name__ == "__main__":
    main()
