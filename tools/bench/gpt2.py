#!/usr/bin/env python3
"""The fine-tuning benchmark's model: a GPT-2-shaped causal language model, and its ONNX export.

    /usr/bin/python3 tools/bench/gpt2.py CACHE_DIR [--size tiny|small|large] [--seq T]
        [--batch B] [--variants logits,loss]

exports the models of --variants (default both) into CACHE_DIR/gpt2-<size>-seq<T>-b<B>-<hash>/
(the hash is of this file: a changed model re-exports, a file already there is kept), and prints
the folder:
  train.onnx       the training form (Dropout in training mode, every parameter an initializer
                   under its PyTorch name, no constant folding), opset 17: input `input_ids`
                   int64 [B, T], output `logits` float [B, T, V];
  train_loss.onnx  the same model computing its own loss: inputs `input_ids` and `label` (int64
                   [B, T], the next token), output `loss` (mean cross-entropy over B*T tokens, a
                   SoftmaxCrossEntropyLoss node): what `onnx-train --loss none` trains;
  spec.json        size, shape, parameter count, file names.
The large size (> 2 GB of weights) is written with its weights in ONE external file beside each
model (train.onnx.data, train_loss.onnx.data): torch 1.13 writes one file per tensor above 2 GB.

Sizes (GPT-2's shapes; the vocabulary is GPT-2's 50257 although the benchmark's data are bytes,
so that the embedding and the [B, T, V] logits cost what they cost in GPT-2):
  tiny   2 layers,  d 64,   4 heads, vocabulary 256, 128 positions  (smoke tests, seq 64)
  small  12 layers, d 768,  12 heads, vocabulary 50257, 1024 positions: 124.4M parameters
  large  36 layers, d 1280, 20 heads, vocabulary 50257, 1024 positions: 774.0M parameters
Every size: learned positions, the output projection tied to the token embedding, GELU (erf),
pre-LayerNorm blocks, dropout 0.1 after the embeddings, on the attention weights and after each
residual branch, GPT-2's initialisation (normal 0.02; residual projections 0.02/sqrt(2L)).

--batch 0 exports a dynamic batch axis (`N`); the default is the benchmark's fixed batch 4, which
lets shape inference make every shape static. onnx-train trains both to the same losses, the fixed
one no slower (tiny model, busy machine: 8-27 ms a step against 31-34 ms); ONNX Runtime loads both.
The same class is imported by torch_finetune.py, so PyTorch trains the very model exported here
(same seed, same initial weights).
"""
import argparse
import hashlib
import json
import math
import os
import sys

import torch
import torch.utils.checkpoint
from torch import nn

SIZES = {
    "tiny": dict(layers=2, d=64, heads=4, vocab=256, positions=128, seq=64),
    "small": dict(layers=12, d=768, heads=12, vocab=50257, positions=1024, seq=256),
    "large": dict(layers=36, d=1280, heads=20, vocab=50257, positions=1024, seq=256),
}
DROPOUT = 0.1
SEED = 0


class Block(nn.Module):
    """x + attn(ln_1(x)), then + mlp(ln_2(x)); x [B, T, d]."""

    def __init__(self, d, heads, dropout):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(d)
        self.c_attn = nn.Linear(d, 3 * d)  # q, k, v in one product
        self.attn_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.proj = nn.Linear(4 * d, d)
        self.attn_drop = nn.Dropout(dropout)
        self.resid_drop = nn.Dropout(dropout)

    def forward(self, x, mask):
        B, T, C = x.shape
        h = self.heads
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        # [B, T, C] -> [B, h, T, C/h]
        q = q.view(B, T, h, C // h).transpose(1, 2)
        k = k.view(B, T, h, C // h).transpose(1, 2)
        v = v.view(B, T, h, C // h).transpose(1, 2)
        a = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // h))  # [B, h, T, T]
        a = a.masked_fill(mask, float("-inf"))  # mask: True above the diagonal (the future)
        a = self.attn_drop(torch.softmax(a, dim=-1))
        y = (a @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.resid_drop(self.attn_proj(y))
        return x + self.resid_drop(self.proj(nn.functional.gelu(self.fc(self.ln_2(x)))))


class GPT(nn.Module):
    """GPT-2-shaped causal LM. forward(input_ids [B, T]) -> logits [B, T, V];
    forward(input_ids, label) -> the mean cross-entropy of the next-token predictions."""

    def __init__(self, layers, d, heads, vocab, positions, dropout=DROPOUT, **_):
        super().__init__()
        self.vocab = vocab
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(positions, d)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList([Block(d, heads, dropout) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied
        # One causal mask for every block, bool so that it never counts as a parameter.
        self.register_buffer("future", torch.ones(positions, positions, dtype=torch.bool).triu(1), persistent=False)
        self.checkpoint_blocks = False  # torch_finetune.py --recompute: torch.utils.checkpoint per block
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith("attn_proj.weight") or name.endswith(".proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * layers))

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, input_ids, label=None):
        B, T = input_ids.shape
        pos = torch.arange(0, T, dtype=torch.long, device=input_ids.device).unsqueeze(0)
        x = self.drop(self.wte(input_ids) + self.wpe(pos))
        mask = self.future[:T, :T]
        for block in self.h:
            if self.checkpoint_blocks and self.training:
                x = torch.utils.checkpoint.checkpoint(block, x, mask, use_reentrant=False)
            else:
                x = block(x, mask)
        logits = self.lm_head(self.ln_f(x))
        if label is None:
            return logits
        return nn.functional.cross_entropy(logits.reshape(-1, self.vocab), label.reshape(-1))


def build(size, seed=SEED):
    torch.manual_seed(seed)
    return GPT(**SIZES[size])


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())  # the tied weight once


def script_hash():
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def folder_for(cache, size, seq, batch):
    return os.path.join(cache, f"gpt2-{size}-seq{seq}-b{batch or 'N'}-{script_hash()}")


VARIANTS = {"logits": "train.onnx", "loss": "train_loss.onnx"}


def export(size, seq, batch, folder, variants):
    """Exports VARIANTS (names of VARIANTS) of the model into FOLDER and (re)writes spec.json."""
    import gc
    os.makedirs(folder, exist_ok=True)
    model = build(size)
    model.train()
    count = parameter_count(model)
    example_batch = batch or 2
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, SIZES[size]["vocab"], (example_batch, seq), generator=gen)
    label = torch.randint(0, SIZES[size]["vocab"], (example_batch, seq), generator=gen)
    common = dict(opset_version=17, training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
    big = count * 4 > 2 ** 31 - 1  # over protobuf's 2 GB: torch writes one file per tensor
    gather = []
    for variant in variants:
        file = VARIANTS[variant]
        args, names = ((ids,), ["input_ids"]) if variant == "logits" else ((ids, label), ["input_ids", "label"])
        outputs = ["logits"] if variant == "logits" else ["loss"]
        axes = None
        if not batch:
            axes = {n: {0: "N"} for n in names}
            if variant == "logits":
                axes["logits"] = {0: "N"}
        work = os.path.join(folder, "tmp-" + variant) if big else folder
        os.makedirs(work, exist_ok=True)
        torch.onnx.export(model, args, os.path.join(work, file), input_names=names, output_names=outputs,
                          dynamic_axes=axes, **common)
        if big:
            gather.append((os.path.join(work, file), os.path.join(folder, file)))
    # The re-save after the model is gone: the 774M model's weights are 3.1 GB in each of PyTorch,
    # the exporter and onnx.load, and one at a time is what a shared machine can afford.
    del model
    gc.collect()
    for tmp, path in gather:
        import onnx
        m = onnx.load(tmp, load_external_data=True)
        onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=os.path.basename(path) + ".data", size_threshold=1024)
        del m
        gc.collect()
        work = os.path.dirname(tmp)
        for f in os.listdir(work):
            os.remove(os.path.join(work, f))
        os.rmdir(work)
    spec = dict(size=size, seq=seq, batch=batch, vocab=SIZES[size]["vocab"], config=SIZES[size], parameters=count,
                dropout=DROPOUT, seed=SEED, opset=17, hash=script_hash(),
                models={v: f for v, f in VARIANTS.items() if os.path.exists(os.path.join(folder, f))})
    with open(os.path.join(folder, "spec.json"), "w") as f:
        json.dump(spec, f, indent=1)
    return spec


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cache")
    parser.add_argument("--size", default="small", choices=sorted(SIZES))
    parser.add_argument("--seq", type=int, default=0, help="sequence length (default: the size's, 256 or 64)")
    parser.add_argument("--batch", type=int, default=4, help="fixed batch of the export; 0: dynamic")
    parser.add_argument("--variants", default="logits,loss", help="which models: logits (train.onnx), loss "
                        "(train_loss.onnx) or both (the default); those already in the cache are kept")
    args = parser.parse_args()
    seq = args.seq or SIZES[args.size]["seq"]
    if seq > SIZES[args.size]["positions"]:
        parser.error(f"--seq {seq} is longer than the {SIZES[args.size]['positions']} positions of size {args.size}")
    variants = [v for v in args.variants.split(",") if v]
    if not variants or any(v not in VARIANTS for v in variants):
        parser.error(f"--variants takes a comma list of {', '.join(VARIANTS)}")
    folder = folder_for(args.cache, args.size, seq, args.batch)
    missing = [v for v in variants if not os.path.exists(os.path.join(folder, VARIANTS[v]))]
    if missing:
        torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
        spec = export(args.size, seq, args.batch, folder, missing)
        print(f"exported gpt2-{args.size} ({spec['parameters'] / 1e6:.1f}M parameters)", file=sys.stderr)
    print(folder)


if __name__ == "__main__":
    main()
