#!/usr/bin/python3
"""Records torch.optim's results for tests/optim/optimizers_test.cc.

Run with Debian's python3-torch: /usr/bin/python3 tests/data/make_optim_parity.py
Writes tests/data/optim_parity/<case>.txt, one file per optimizer configuration (and
<case>_f64.txt, the same in float64): two small
parameters (w [3, 4] with weight decay, b [5] with or without it), 20 deterministic gradients
each, the learning rate of each of the 20 steps, the parameters after step 20 and, for some
cases, the optimizer state after step 20. torch.optim runs its single-tensor path
(foreach=False). LAMB, which torch lacks, is run by a float64 numpy implementation of the
formula documented in runtime/optim/optimizers.h.

File format, one record per line, '#' starts a comment line:
  kind <sgd|adam|adamw|adagrad|rmsprop|lamb>
  dtype <float32|float64>
  option <name> <value>            an OptimizerOptions field (bools as 0/1)
  lr <v_1> ... <v_20>              the learning rate of each step
  param <name> <decay 0/1> <rank> <dims...>   starts a parameter; the lines below belong to it
  init <values>                    its initial value (row-major)
  grad <values>                    its gradient at step 1, 2, ... (one line per step)
  final <values>                   its value after the last step
  state <slot> <values>            its optimizer state <slot> after the last step
"""
import math
import os

import numpy as np
import torch

STEPS = 20
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim_parity")


def constant(lr):
    return [lr] * STEPS


def cosine(lr):
    # A warm-up-free cosine schedule that stays above zero: every step's lr differs.
    return [lr * (0.55 + 0.45 * math.cos(math.pi * t / STEPS)) for t in range(STEPS)]


# name, torch class, torch kwargs, OptimizerOptions (as the C++ test sets them), whether b
# decays, lr per step, whether to record the state.
CASES = [
    ("sgd", torch.optim.SGD, {}, {}, True, constant(0.1), False),
    ("sgd_nesterov", torch.optim.SGD, {"momentum": 0.9, "nesterov": True}, {"momentum": 0.9, "nesterov": 1},
     True, cosine(0.05), False),
    ("sgd_momentum_dampening_wd", torch.optim.SGD, {"momentum": 0.9, "dampening": 0.1, "weight_decay": 1e-2},
     {"momentum": 0.9, "dampening": 0.1, "weight_decay": 1e-2}, False, constant(0.05), True),
    ("adam", torch.optim.Adam, {}, {}, True, constant(1e-2), False),
    ("adam_amsgrad_wd", torch.optim.Adam, {"amsgrad": True, "weight_decay": 1e-2},
     {"amsgrad": 1, "weight_decay": 1e-2}, True, cosine(1e-2), True),
    ("adamw", torch.optim.AdamW, {}, {}, False, constant(1e-2), False),
    ("adagrad_lr_decay", torch.optim.Adagrad, {"lr_decay": 0.05, "initial_accumulator_value": 0.1},
     {"lr_decay": 0.05, "initial_accumulator_value": 0.1}, True, constant(0.1), True),
    ("rmsprop_centered_momentum", torch.optim.RMSprop,
     {"centered": True, "momentum": 0.9, "weight_decay": 1e-2},
     {"centered": 1, "momentum": 0.9, "weight_decay": 1e-2}, True, constant(1e-2), True),
    ("rmsprop", torch.optim.RMSprop, {}, {}, True, constant(1e-2), False),
]

SHAPES = {"w": [3, 4], "b": [5]}


def make_data(seed, dtype):
    """Initial values and STEPS gradients per parameter, all exactly representable in dtype."""
    gen = torch.Generator().manual_seed(seed)
    data = {}
    for name, shape in SHAPES.items():
        init = torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)
        # Gradients of varying scale, so the adaptive methods see more than one magnitude.
        grads = [(torch.randn(shape, generator=gen, dtype=torch.float64) * (0.5 + t % 3)).to(dtype)
                 for t in range(STEPS)]
        data[name] = (init, grads)
    return data


def fmt(values, dtype):
    spec = "%.9g" if dtype == "float32" else "%.17g"
    return " ".join(spec % v for v in np.asarray(values, dtype=np.float64).reshape(-1))


def write_case(name, kind, dtype, options, lrs, params, comment):
    """params: list of (name, decay, init, grads, final, {slot: values})."""
    lines = ["# " + comment, "# Made by tests/data/make_optim_parity.py; do not edit.", "kind " + kind,
             "dtype " + dtype]
    lines += ["option %s %r" % (k, v) for k, v in options.items()]
    lines.append("lr " + fmt(lrs, "float64"))
    for pname, decay, init, grads, final, state in params:
        shape = list(init.shape)
        lines.append("param %s %d %d %s" % (pname, int(decay), len(shape), " ".join(map(str, shape))))
        lines.append("init " + fmt(init, dtype))
        lines += ["grad " + fmt(g, dtype) for g in grads]
        lines.append("final " + fmt(final, dtype))
        lines += ["state %s %s" % (slot, fmt(v, dtype if slot != "step" else "float64")) for slot, v in state.items()]
    with open(os.path.join(OUT, name + ".txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def run_torch(seed, case, dtype):
    name, cls, kwargs, options, b_decays, lrs, record_state = case
    data = make_data(seed, dtype)
    w = torch.nn.Parameter(data["w"][0].clone())
    b = torch.nn.Parameter(data["b"][0].clone())
    groups = [{"params": [w]}, {"params": [b]}]
    if not b_decays:
        groups[1]["weight_decay"] = 0.0
    opt = cls(groups, lr=lrs[0], foreach=False, **kwargs)
    for t in range(STEPS):
        for group in opt.param_groups:
            group["lr"] = lrs[t]
        w.grad = data["w"][1][t].clone()
        b.grad = data["b"][1][t].clone()
        opt.step()
    params = []
    for pname, p, decay in (("w", w, True), ("b", b, b_decays)):
        state = {}
        if record_state:
            for slot, v in opt.state[p].items():
                state[slot] = v.detach().double().numpy() if slot != "step" else [float(v)]
        params.append((pname, decay, data[pname][0].numpy(), [g.numpy() for g in data[pname][1]],
                       p.detach().numpy(), state))
    kind = {"SGD": "sgd", "Adam": "adam", "AdamW": "adamw", "Adagrad": "adagrad", "RMSprop": "rmsprop"}[cls.__name__]
    comment = "torch %s torch.optim.%s(%s), lr per step as listed" % (torch.__version__, cls.__name__, kwargs)
    if dtype == torch.float32:
        write_case(name, kind, "float32", options, lrs, params, comment)
    else:
        write_case(name + "_f64", kind, "float64", options, lrs, params, comment + ", float64")


def lamb_numpy(p, grads, lrs, decay, beta1=0.9, beta2=0.999, eps=1e-6, weight_decay=1e-2):
    """The LAMB of runtime/optim/optimizers.h in float64."""
    p = p.copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    wd = weight_decay if decay else 0.0
    for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        u = (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps) + wd * p
        p_norm, u_norm = np.linalg.norm(p), np.linalg.norm(u)
        ratio = p_norm / u_norm if p_norm > 0 and u_norm > 0 else 1.0
        p = p - lr * ratio * u
    return p


def run_lamb(seed):
    data = make_data(seed, torch.float64)
    lrs = cosine(1e-2)
    params = []
    for pname, decay in (("w", True), ("b", False)):
        init = data[pname][0].numpy()
        if pname == "b":
            init = np.zeros_like(init)  # ||p|| = 0 on the first step: the trust ratio is 1
        grads = [g.numpy() for g in data[pname][1]]
        params.append((pname, decay, init, grads, lamb_numpy(init, grads, lrs, decay), {}))
    write_case("lamb", "lamb", "float64", {"weight_decay": 1e-2}, lrs, params,
               "numpy float64 LAMB of runtime/optim/optimizers.h, weight_decay 1e-2, b without decay")


def main():
    os.makedirs(OUT, exist_ok=True)
    for seed, case in enumerate(CASES):
        run_torch(seed, case, torch.float32)
        run_torch(seed, case, torch.float64)
    run_lamb(len(CASES))


if __name__ == "__main__":
    main()
