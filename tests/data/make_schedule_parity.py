#!/usr/bin/env python3
"""Makes the PyTorch fixtures in tests/data/schedule_parity/ (for tests/optim/schedules_test.cc
and tests/optim/clipping_test.cc, which check runtime/optim/schedules.h and clipping.h).

schedules.txt: for each case, the learning rate torch.optim.lr_scheduler gives for the first
60 optimizer steps, the scheduler stepped once after every optimizer step. Layout, one case
per two lines:
    case <name> <spec>      spec in parse_schedule's syntax: kind:key=value,...
    lr <60 values>          lr used by optimizer steps 0..59 (printed with repr: exact doubles)
A case with warmup_steps > 0 is SequentialLR([LinearLR(start_factor, 1.0, warmup), main],
milestones=[warmup]), main built over total_steps - warmup steps.

clipping.txt: torch.nn.utils.clip_grad_norm_ / clip_grad_value_ on a few small gradients.
    clip <name> <norm|value> <max_norm or clip_value> <norm_type> <float32|float64> <count>
    total <total norm returned (norm only; 0 for value)>
    then per gradient: "shape d0 d1 ...", "before v...", "after v..."

Regenerate with /usr/bin/python3 tests/data/make_schedule_parity.py (Debian's python3-torch);
the tests themselves need no PyTorch.
"""
import math
import os
import warnings

import torch
from torch.optim import lr_scheduler as sched

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schedule_parity")
STEPS = 60
BASE_LR = 0.1

# name -> spec options (as parse_schedule reads them). total_steps is 60 everywhere.
CASES = [
    ("constant", dict(kind="constant")),
    ("constant_warmup", dict(kind="constant", warmup_steps=10, warmup_start_factor=0.25)),
    ("step", dict(kind="step", step_size=7, gamma=0.5)),
    ("step_warmup", dict(kind="step", step_size=7, gamma=0.5, warmup_steps=5, warmup_start_factor=0.1)),
    ("multistep", dict(kind="multistep", milestones=[10, 25, 25, 40], gamma=0.3)),
    ("multistep_warmup", dict(kind="multistep", milestones=[10, 25, 40], warmup_steps=8, warmup_start_factor=0.5)),
    ("exponential", dict(kind="exponential", gamma=0.95)),
    ("exponential_warmup", dict(kind="exponential", gamma=0.9, warmup_steps=3, warmup_start_factor=1 / 3)),
    ("cosine", dict(kind="cosine", eta_min=0.001)),
    ("cosine_past_end", dict(kind="cosine", total_steps=40)),
    ("cosine_warmup", dict(kind="cosine", warmup_steps=6, warmup_start_factor=0.01, eta_min=1e-4)),
    ("cosine_restarts", dict(kind="cosine-restarts", t0=10, eta_min=0.002)),
    ("cosine_restarts_mult", dict(kind="cosine-restarts", t0=4, t_mult=2)),
    ("cosine_restarts_warmup", dict(kind="cosine-restarts", t0=5, t_mult=3, warmup_steps=5, warmup_start_factor=0.2)),
    ("linear", dict(kind="linear", end_factor=0.05)),
    ("linear_short", dict(kind="linear", start_factor=0.5, end_factor=1.0, total_steps=20)),
    ("linear_warmup", dict(kind="linear", end_factor=0.0, warmup_steps=12, warmup_start_factor=0.1)),
    ("onecycle", dict(kind="onecycle", max_lr=0.4)),
    ("onecycle_linear_three", dict(kind="onecycle", max_lr=1.0, pct_start=0.25, anneal="linear", three_phase=1,
                                   div_factor=10.0, final_div_factor=100.0)),
    ("onecycle_warmup", dict(kind="onecycle", max_lr=0.4, warmup_steps=10, warmup_start_factor=0.5)),
]


def main_scheduler(opt, o, total):
    kind = o["kind"]
    if kind == "constant":
        return sched.ConstantLR(opt, factor=1.0, total_iters=0)
    if kind == "step":
        return sched.StepLR(opt, o["step_size"], gamma=o.get("gamma", 0.1))
    if kind == "multistep":
        return sched.MultiStepLR(opt, o["milestones"], gamma=o.get("gamma", 0.1))
    if kind == "exponential":
        return sched.ExponentialLR(opt, o["gamma"])
    if kind == "cosine":
        return sched.CosineAnnealingLR(opt, total, eta_min=o.get("eta_min", 0))
    if kind == "cosine-restarts":
        return sched.CosineAnnealingWarmRestarts(opt, o["t0"], T_mult=o.get("t_mult", 1), eta_min=o.get("eta_min", 0))
    if kind == "linear":
        return sched.LinearLR(opt, start_factor=o.get("start_factor", 1.0), end_factor=o["end_factor"],
                              total_iters=total)
    if kind == "onecycle":
        return sched.OneCycleLR(opt, o["max_lr"], total_steps=total, pct_start=o.get("pct_start", 0.3),
                                anneal_strategy=o.get("anneal", "cos"), div_factor=o.get("div_factor", 25.0),
                                final_div_factor=o.get("final_div_factor", 1e4),
                                three_phase=bool(o.get("three_phase", 0)))
    raise ValueError(kind)


def schedule_lrs(o):
    total = o.get("total_steps", STEPS)
    warmup = o.get("warmup_steps", 0)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=BASE_LR)
    if warmup:
        first = sched.LinearLR(opt, start_factor=o["warmup_start_factor"], end_factor=1.0, total_iters=warmup)
        rest = main_scheduler(opt, o, total - warmup)
        scheduler = sched.SequentialLR(opt, [first, rest], milestones=[warmup])
    else:
        scheduler = main_scheduler(opt, o, total)
    lrs = []
    # OneCycleLR refuses to step past total_steps; the others continue their formula.
    steps = min(STEPS, total + 1) if o["kind"] == "onecycle" else STEPS
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return lrs


def spec_of(o):
    options = dict(o)
    kind = options.pop("kind")
    if kind != "onecycle":  # OneCycleLR sets the rate itself from max_lr
        options.setdefault("base_lr", BASE_LR)
    options.setdefault("total_steps", STEPS)
    parts = []
    for key, value in options.items():
        if isinstance(value, list):
            value = "/".join(str(v) for v in value)
        elif isinstance(value, float):
            value = repr(value)
        parts.append(f"{key}={value}")
    return kind + ":" + ",".join(parts)


def fmt(values):
    return " ".join(repr(float(v)) for v in values)


def write_schedules():
    with open(os.path.join(OUT, "schedules.txt"), "w") as f:
        f.write("# made by tests/data/make_schedule_parity.py with torch " + torch.__version__ + "\n")
        for name, o in CASES:
            f.write(f"case {name} {spec_of(o)}\n")
            f.write("lr " + fmt(schedule_lrs(o)) + "\n")


CLIP_CASES = [
    # name, mode, limit, norm_type, dtype, scale of the random values
    ("norm2_clipped_f32", "norm", 1.0, 2.0, torch.float32, 1.0),
    ("norm2_unclipped_f32", "norm", 100.0, 2.0, torch.float32, 1.0),
    ("norm2_clipped_f64", "norm", 0.5, 2.0, torch.float64, 3.0),
    ("norm1_clipped_f32", "norm", 2.0, 1.0, torch.float32, 1.0),
    ("norm3_clipped_f64", "norm", 0.25, 3.0, torch.float64, 1.0),
    ("norminf_clipped_f32", "norm", 0.5, math.inf, torch.float32, 2.0),
    ("norminf_unclipped_f64", "norm", 10.0, math.inf, torch.float64, 2.0),
    ("value_f32", "value", 0.3, 0.0, torch.float32, 1.0),
    ("value_f64", "value", 1.5, 0.0, torch.float64, 2.0),
]
SHAPES = [(3, 4), (5,), (2, 1, 3)]


def write_clipping():
    gen = torch.Generator().manual_seed(4)
    with open(os.path.join(OUT, "clipping.txt"), "w") as f:
        f.write("# made by tests/data/make_schedule_parity.py with torch " + torch.__version__ + "\n")
        for name, mode, limit, norm_type, dtype, scale in CLIP_CASES:
            params = [torch.zeros(s, dtype=dtype, requires_grad=True) for s in SHAPES]
            for p in params:
                p.grad = (torch.randn(p.shape, generator=gen, dtype=torch.float64) * scale).to(dtype)
            before = [p.grad.clone() for p in params]
            total = 0.0
            if mode == "norm":
                total = float(torch.nn.utils.clip_grad_norm_(params, limit, norm_type=norm_type))
            else:
                torch.nn.utils.clip_grad_value_(params, limit)
            f.write(f"clip {name} {mode} {limit!r} {norm_type!r} {str(dtype).replace('torch.', '')} {len(params)}\n")
            f.write(f"total {total!r}\n")
            for p, b in zip(params, before):
                f.write("shape " + " ".join(str(d) for d in p.shape) + "\n")
                f.write("before " + fmt(b.flatten().tolist()) + "\n")
                f.write("after " + fmt(p.grad.flatten().tolist()) + "\n")


if __name__ == "__main__":
    warnings.simplefilter("ignore")  # the scheduler's deprecation notes about step(epoch)
    os.makedirs(OUT, exist_ok=True)
    write_schedules()
    write_clipping()
