#!/usr/bin/env python3
"""PyTorch's training step on a benchmark workload: the reference onnx-train is compared with.

    /usr/bin/python3 tools/bench/torch_step.py NAME [--tiny] [--batch N] [--threads N]
        [--repeat N] [--warmup N] [--steps N] [--optimizer sgd|adamw] [--lr R]

Builds the workload's model from workloads.py with the seed its export uses, in training mode
(BatchNorm with batch statistics, Dropout on), and times the step onnx-train's
train_step_bench times: zero_grad, forward, cross-entropy, backward, optimizer step (SGD with
momentum 0.9, or AdamW with weight decay 0.01 on parameters of rank >= 2 only, as onnx-train's
default). Random inputs of the workload's spec (standard normal floats, int64 ids uniform in
[0, high)) and random labels. After --warmup untimed steps, --repeat steps are timed one by
one; the median is reported.

--steps N (memory mode) runs N steps and reports the process's peak resident set size
(ru_maxrss, which includes PyTorch's own import: import_rss_mb is the peak before the model
was built). Ends with a `RESULT key=value ...` line, as train_step_bench does.
"""
import argparse
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads  # noqa: E402


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def make_optimizer(model, kind, lr):
    if kind == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    if kind == "adamw":
        decay = [p for p in model.parameters() if p.dim() >= 2]
        no_decay = [p for p in model.parameters() if p.dim() < 2]
        return torch.optim.AdamW([dict(params=decay, weight_decay=0.01), dict(params=no_decay, weight_decay=0.0)], lr=lr)
    raise SystemExit(f"unknown optimizer {kind}: sgd or adamw")


def random_batch(spec, batch, classes):
    gen = torch.Generator().manual_seed(1)
    inputs = []
    for i in spec["inputs"]:
        shape = [batch if d == "N" else d for d in i["shape"]]
        if i["dtype"] == "int64":
            inputs.append(torch.randint(0, i["high"], shape, generator=gen))
        else:
            inputs.append(torch.randn(*shape, generator=gen))
    return inputs, torch.randint(0, classes, (batch,), generator=gen)


def step(model, optimizer, inputs, labels):
    optimizer.zero_grad(set_to_none=False)
    loss = torch.nn.functional.cross_entropy(model(*inputs), labels)
    loss.backward()
    optimizer.step()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--batch", type=int, default=0, help="0: the workload's batch")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=0)
    parser.add_argument("--optimizer", default="sgd")
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import_rss = rss_mb()
    spec = workloads.workloads(args.tiny)[args.name]
    batch = args.batch or spec["batch"]
    torch.manual_seed(0)
    model = spec["build"]()
    model.train()
    inputs, _ = random_batch(spec, 2, 2)
    with torch.no_grad():
        classes = model.eval()(*inputs).shape[1]
    model.train()
    inputs, labels = random_batch(spec, batch, classes)
    optimizer = make_optimizer(model, args.optimizer, args.lr)
    memory = args.steps > 0
    warmup, repeat = (1, args.steps - 1) if memory else (args.warmup, args.repeat)
    for _ in range(warmup):
        step(model, optimizer, inputs, labels)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step(model, optimizer, inputs, labels)
        times.append((time.perf_counter() - start) * 1e3)
    ms = statistics.median(times) if times else 0.0
    mode = "memory" if memory else "step"
    print(f"pytorch {args.name}: batch {batch}, {args.optimizer}, {torch.get_num_threads()} threads: "
          f"step {ms:.2f} ms (median of {len(times)}), peak RSS {rss_mb():.1f} MB (import {import_rss:.1f} MB)")
    print(f"RESULT mode={mode} engine=pytorch workload={args.name} batch={batch} threads={torch.get_num_threads()} "
          f"optimizer={args.optimizer} steps={len(times)} step_ms={ms:.3f} peak_rss_mb={rss_mb():.1f} "
          f"import_rss_mb={import_rss:.1f}")


if __name__ == "__main__":
    main()
