#!/usr/bin/env python3
"""PyTorch's side of the fine-tuning benchmark: the GPT-2-shaped model of gpt2.py trained on the
byte corpus of lm_corpus.py.

    /usr/bin/python3 tools/bench/torch_finetune.py DATA_DIR [--size small] [--seq T]
        [--mode full|lora|bf16|recompute|lora-recompute] [--lora-rank 8] [--lora-alpha 8] [--batch 4]
        [--threads 2] [--steps 5] [--warmup 1] [--lr 1e-3] [--log FILE.jsonl]

Builds gpt2.build(size) (the seed and initial weights the ONNX export has), in training mode
(dropout 0.1 on), and runs --steps optimizer steps over DATA_DIR/train (input_ids.npy and
label.npy, int64 [N, T]) in file order, batch --batch. One step: zero_grad, forward, mean
next-token cross-entropy over B*T tokens, backward, AdamW (torch.optim.AdamW, weight decay 0.01
on parameters of rank >= 2 and 0 on the others, onnx-train's default; lr --lr).

Modes:
  full       every parameter trains (124.4M for the small size)
  lora       LoRA: the base is frozen; each nn.Linear c_attn, attn_proj, fc, proj gets
             y = W x + b + (alpha / r) * B (A x), A [r, in] (kaiming-uniform, a = sqrt(5), as
             nn.Linear), B [out, r] zeros, so the first step starts from the base model; only A
             and B train (written here, no PEFT package)
  bf16       torch.autocast("cpu", dtype=torch.bfloat16) around the forward pass and the loss;
             parameters, gradients and AdamW state stay float32
  recompute  torch.utils.checkpoint around each transformer block (use_reentrant=False; the
             RNG state is restored, so the dropout masks and the loss are the plain run's)

Writes one JSON line per step (`step`, `loss`, `step_ms`, and `cpu_ms`: the CPU time of every
thread, which says how much of a slow step a busy machine took away) to --log (or nowhere), then prints a
summary: the median step time over the steps after --warmup, the peak resident set size of the
process (getrusage ru_maxrss, which includes PyTorch's own import; import_rss_mb is the peak
before the model was built), the trainable parameter count, and a last `RESULT key=value ...`
line as torch_step.py prints.
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt2  # noqa: E402

LORA_TARGETS = ("c_attn", "attn_proj", "fc", "proj")


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


class LoRALinear(nn.Module):
    """base(x) + (alpha / r) * (x A^T) B^T with the base frozen; x [..., in] -> [..., out]."""

    def __init__(self, base, rank, alpha):
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scale = alpha / rank

    def forward(self, x):
        return self.base(x) + (x @ self.lora_A.t() @ self.lora_B.t()) * self.scale


def add_lora(model, rank, alpha):
    for p in model.parameters():
        p.requires_grad_(False)
    for block in model.h:
        for name in LORA_TARGETS:
            setattr(block, name, LoRALinear(getattr(block, name), rank, alpha))


def make_optimizer(model, lr):
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [dict(params=decay, weight_decay=0.01)]
    if no_decay:
        groups.append(dict(params=no_decay, weight_decay=0.0))
    return torch.optim.AdamW(groups, lr=lr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data")
    parser.add_argument("--size", default="small", choices=sorted(gpt2.SIZES))
    parser.add_argument("--mode", default="full", choices=["full", "lora", "bf16", "recompute", "lora-recompute"])
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--lora-alpha", type=float, default=8.0)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="steps left out of the median")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--log", default="", help="one JSON line per step")
    args = parser.parse_args()
    if args.steps <= args.warmup:
        parser.error("--steps must be more than --warmup")
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    import_rss = rss_mb()

    ids = np.load(os.path.join(args.data, "train", "input_ids.npy"), mmap_mode="r")
    labels = np.load(os.path.join(args.data, "train", "label.npy"), mmap_mode="r")
    seq = ids.shape[1]
    if seq > gpt2.SIZES[args.size]["positions"]:
        raise SystemExit(f"torch_finetune.py: the data's sequences ({seq}) are longer than the model's positions")
    batches = len(ids) // args.batch
    if batches < 1:
        raise SystemExit(f"torch_finetune.py: {len(ids)} samples make no batch of {args.batch}")

    model = gpt2.build(args.size)
    if args.mode in ("lora", "lora-recompute"):
        add_lora(model, args.lora_rank, args.lora_alpha)
    model.checkpoint_blocks = args.mode in ("recompute", "lora-recompute")
    model.train()
    optimizer = make_optimizer(model, args.lr)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    autocast = args.mode == "bf16"
    log = open(args.log, "w") if args.log else None

    times = []
    losses = []
    for step in range(1, args.steps + 1):
        b = (step - 1) % batches
        x = torch.from_numpy(np.array(ids[b * args.batch:(b + 1) * args.batch]))
        y = torch.from_numpy(np.array(labels[b * args.batch:(b + 1) * args.batch]))
        start, cpu = time.perf_counter(), time.process_time()
        optimizer.zero_grad(set_to_none=False)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = model(x, y)
        loss.backward()
        optimizer.step()
        ms = (time.perf_counter() - start) * 1e3
        cpu_ms = (time.process_time() - cpu) * 1e3
        losses.append(loss.item())
        if step > args.warmup:
            times.append(ms)
        if log:
            log.write(json.dumps(dict(step=step, loss=losses[-1], step_ms=ms, cpu_ms=cpu_ms)) + "\n")
            log.flush()
    median = statistics.median(times)
    peak = rss_mb()
    print(f"pytorch gpt2-{args.size} {args.mode}: batch {args.batch}, seq {seq}, {torch.get_num_threads()} threads, "
          f"{trainable / 1e6:.2f}M trainable: step {median:.1f} ms (median of {len(times)}), peak RSS {peak:.0f} MB "
          f"(import {import_rss:.0f} MB), loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    print(f"RESULT engine=pytorch model=gpt2-{args.size} mode={args.mode} batch={args.batch} seq={seq} "
          f"threads={torch.get_num_threads()} steps={args.steps} timed={len(times)} step_ms={median:.3f} "
          f"peak_rss_mb={peak:.1f} import_rss_mb={import_rss:.1f} trainable={trainable} "
          f"first_loss={losses[0]:.6f} last_loss={losses[-1]:.6f}")


if __name__ == "__main__":
    main()
