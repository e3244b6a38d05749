#!/usr/bin/python3
"""Makes the multi-step PyTorch training fixtures in tests/data/train_parity/ (for the
TrainingSession test: load an exported inference model, append a cross-entropy loss, build the
gradients, run 20 optimizer steps, compare with PyTorch).

Models (built and exported here, float32, input "x", output "logits", no dynamic axes,
do_constant_folding=False, onnx.checker-checked):
    mlp            Linear(12,32)-ReLU-Linear(32,16)-Tanh-Linear(16,5), x [8,12], 5 classes, opset 15
    cnn            Conv(1,4,3,p1)-ReLU-MaxPool(2)-Conv(4,8,3,p1)-ReLU-AvgPool(2)-Flatten-Linear(72,10),
                   x [8,1,12,12], 10 classes, opset 15 (torch exports AvgPool2d as an all-zero Pad
                   followed by AveragePool)
    resnet_block   stem Conv(3,8,3,p1,no bias)-BN-ReLU, one basic block (conv-BN-ReLU-conv-BN +
                   identity, ReLU), global average pool, Linear(8,4), x [6,3,8,8], 4 classes, opset 15.
                   BN momentum 0.1, non-trivial initial running stats and affine parameters. Trained
                   in train() mode (batch statistics; running stats updated every step).
                   torch's eval export folds every BN into its Conv even with do_constant_folding=False,
                   so this model is exported with training=torch.onnx.TrainingMode.TRAINING
                   (BatchNormalization training_mode=1 with the running-stat outputs; the runtime's
                   loader turns it into eval form). That export runs a train-mode forward, so it is
                   done on a copy, and the running stats it stored (moved by that forward) are
                   replaced in the file by the initial ones.
    transformer    nn.TransformerEncoderLayer(16, nhead=2, dim_feedforward=32, dropout=0.0,
                   batch_first=True), mean over seq, Linear(16,3), x [4,6,16], 3 classes, opset 17.
                   Its biases and LayerNorm weights are re-drawn at random: torch's exporter merges
                   initializers of equal value (the default all-0 / all-1 ones) into one.
Every trainable parameter (named_parameters) is checked to be an ONNX initializer with the same
name, shape and value, and for resnet_block so is every BN running_mean / running_var.

Training (each model x each config = 12 cases), 20 steps, model.train(), float32, deterministic:
    per step k (0-based): zero_grad; loss = F.cross_entropy(model(x_k), label_k) (mean), with
    batch k % 4; record loss.item(); loss.backward(); clip_grad_norm_ (if any) over all
    parameters; optimizer.step(); scheduler.step(). foreach=False. Two param groups: parameters
    with dim >= 2 get the weight decay, parameters with dim <= 1 (biases, BN / LayerNorm affine)
    weight_decay=0.
    sgd    SGD(lr=0.05, momentum=0.9, dampening=0, nesterov=False, weight_decay=5e-4), constant lr,
           no clipping
    adam   Adam(lr=0.01, betas=(0.9,0.999), eps=1e-8, weight_decay=1e-4), SequentialLR(
           [LinearLR(start_factor=0.1, end_factor=1, total_iters=5), CosineAnnealingLR(T_max=15)],
           milestones=[5]) (= onnx-train "cosine:base_lr=0.01,total_steps=20,warmup_steps=5,
           warmup_start_factor=0.1"), clip_grad_norm_ max_norm=1.0
    adamw  AdamW(lr=0.01, betas=(0.9,0.999), eps=1e-8, weight_decay=0.05), the same schedule,
           clip_grad_norm_ max_norm=0.5
Each case is run again in float64 (model.double(), data.double(), same initial values) for
losses_f64.txt, which shows how far float32 rounding alone moves the losses.
NOTE: the attention key bias, encoder.self_attn.in_proj_bias[16:32], has a gradient that is
mathematically zero (softmax ignores a shift shared by all keys), so it holds rounding noise;
SGD leaves it where it was up to ~1e-9, but Adam and AdamW normalise that noise into steps of
about lr, so in transformer_adam / transformer_adamw its final value is noise (float32 and float64
differ by ~1e-3 there, by < 4e-7 everywhere else): a test must not compare those 16 elements.

Layout (paths relative to tests/data/train_parity/):
    <model>/model.onnx                      the exported model with its initial weights, once per
                                            model (shared by its three cases)
    <model>/batch_<k>_x.pb, batch_<k>_label.pb   k = 0..3, TensorProto (x float32, label int64),
                                            once per model (config.txt says batches_dir <model>)
    <model>_<config>/config.txt             key value lines: model, batches_dir, optimizer, lr,
                                            momentum (sgd), weight_decay, betas and eps (adam,
                                            adamw), schedule, clip_grad_norm (0: none), steps,
                                            batches, input, output (no rename lines: every torch
                                            name is its ONNX initializer's name)
    <model>_<config>/losses.txt             the loss of steps 1..20, one a line, %.9g
    <model>_<config>/losses_f64.txt         the same in the float64 run, %.17g
    <model>_<config>/final/<name>.pb        every trainable parameter after step 20 (float32) and,
                                            for resnet_block, every BN running_mean / running_var
                                            (not num_batches_tracked); <name> = initializer name

Regenerate with /usr/bin/python3 tests/data/make_train_parity.py (Debian's python3-torch,
python3-onnx, python3-numpy); it rewrites train_parity/ and prints the float32-vs-float64
differences per case. The C++ test needs no PyTorch.
"""
import copy
import os
import shutil

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "train_parity")
STEPS = 20
BATCHES = 4
SCHEDULE = "cosine:base_lr=0.01,total_steps=20,warmup_steps=5,warmup_start_factor=0.1"


class ResNetBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(8)
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 4)
        with torch.no_grad():  # non-trivial running statistics and affine parameters
            for bn in (self.bn0, self.bn1, self.bn2):
                bn.running_mean.uniform_(-0.5, 0.5)
                bn.running_var.uniform_(0.5, 1.5)
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.5, 0.5)

    def forward(self, x):
        h = F.relu(self.bn0(self.conv0(x)))
        y = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(h))))) + h)
        return self.fc(y.mean(dim=(2, 3)))


class Transformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.fc = nn.Linear(16, 3)
        # torch's exporter merges initializers of equal value (out_proj.bias, norm1.bias and
        # norm2.bias all start at 0, the norm weights at 1) into one, read through Identity nodes,
        # which would tie them in training: give each its own values.
        with torch.no_grad():
            for name, p in self.encoder.named_parameters():
                if name.endswith("bias"):
                    p.uniform_(-0.2, 0.2)
                elif name.startswith("norm"):
                    p.uniform_(0.8, 1.2)

    def forward(self, x):
        return self.fc(self.encoder(x).mean(dim=1))


# name: (constructor, input shape, classes, opset, ONNX export mode)
EVAL, TRAINING = torch.onnx.TrainingMode.EVAL, torch.onnx.TrainingMode.TRAINING
MODELS = {
    "mlp": (lambda: nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 16), nn.Tanh(), nn.Linear(16, 5)),
            (8, 12), 5, 15, EVAL),
    "cnn": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                                  nn.Linear(8 * 3 * 3, 10)),
            (8, 1, 12, 12), 10, 15, EVAL),
    "resnet_block": (ResNetBlock, (6, 3, 8, 8), 4, 15, TRAINING),
    "transformer": (Transformer, (4, 6, 16), 3, 17, EVAL),
}

# name: (optimizer class, kwargs, weight_decay, warm-up + cosine schedule, clip max_norm or 0)
CONFIGS = {
    "sgd": (torch.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0, nesterov=False), 5e-4, False, 0.0),
    "adam": (torch.optim.Adam, dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8), 1e-4, True, 1.0),
    "adamw": (torch.optim.AdamW, dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8), 0.05, True, 0.5),
}


def save(path, tensor, name):
    array = tensor.detach().cpu().numpy()
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(array, name).SerializeToString())


def recorded_state(model):
    """The tensors a case records: named_parameters and the BN running statistics."""
    state = dict(model.named_parameters())
    state.update((n, b) for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    return state


def export(model, x, opset, mode, path):
    """Exports model and checks that every recorded tensor is an initializer of the same name,
    shape and value. A TRAINING export runs a train-mode forward, which moves the BN running
    statistics: it exports a copy, and the initial statistics are written back into the file."""
    torch.onnx.export(copy.deepcopy(model).train(mode == TRAINING), (x,), path, opset_version=opset,
                      do_constant_folding=False, training=mode, input_names=["x"], output_names=["logits"])
    proto = onnx.load(path)
    state = recorded_state(model)
    buffers = {n for n, _ in model.named_buffers()}
    for init in proto.graph.initializer:
        if init.name in buffers:
            init.CopyFrom(numpy_helper.from_array(state[init.name].numpy(), init.name))
    onnx.checker.check_model(proto)
    onnx.save(proto, path)
    stored = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    for name, tensor in state.items():
        assert name in stored, f"{name} is not an initializer of {path}"
        assert stored[name].shape == tuple(tensor.shape), name
        assert np.array_equal(stored[name], tensor.detach().numpy()), f"{name} differs from torch's initial value"
    if isinstance(model, ResNetBlock):
        assert sum(n.op_type == "BatchNormalization" for n in proto.graph.node) == 3, "a BN was folded away"


def make_data(shape, classes):
    return [(torch.randn(shape), torch.randint(0, classes, (shape[0],))) for _ in range(BATCHES)]


def train(model, batches, config, seed):
    """Runs STEPS steps; returns the losses and the recorded tensors after the last step."""
    cls, kwargs, weight_decay, scheduled, max_norm = CONFIGS[config]
    torch.manual_seed(seed)
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0}]
    opt = cls(groups, foreach=False, **kwargs)
    if scheduled:
        sched = torch.optim.lr_scheduler.SequentialLR(
            opt, [torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, end_factor=1.0, total_iters=5),
                  torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=15)], milestones=[5])
    else:
        sched = torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0)
    model.train()
    losses = []
    for step in range(STEPS):
        x, label = batches[step % BATCHES]
        opt.zero_grad()
        loss = F.cross_entropy(model(x), label)
        losses.append(loss.item())
        loss.backward()
        if max_norm:
            nn.utils.clip_grad_norm_(params, max_norm)
        opt.step()
        sched.step()
    return losses, {n: t.detach().clone() for n, t in recorded_state(model).items()}


def write_config(path, model_name, config):
    _, kwargs, weight_decay, scheduled, max_norm = CONFIGS[config]
    lines = [f"model {model_name}/model.onnx", f"batches_dir {model_name}", f"optimizer {config}",
             f"lr {kwargs['lr']:g}"]
    if config == "sgd":
        lines.append(f"momentum {kwargs['momentum']:g}")
    lines.append(f"weight_decay {weight_decay:g}")
    if "betas" in kwargs:
        lines += ["betas %g %g" % kwargs["betas"], f"eps {kwargs['eps']:g}"]
    lines += [f"schedule {SCHEDULE if scheduled else 'constant:base_lr=%g' % kwargs['lr']}",
              f"clip_grad_norm {max_norm:g}", f"steps {STEPS}", f"batches {BATCHES}", "input x", "output logits"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def compare(losses, losses64, final, final64):
    """float32 vs float64: the max relative loss difference, the max abs difference of the final
    tensors and where it is, and the atol |f32 - f64| <= atol + 1e-4 |f64| needs."""
    loss_rel = max(abs(a - b) / abs(b) for a, b in zip(losses, losses64))
    diffs = {n: (t.double() - final64[n]).abs() for n, t in final.items()}
    worst = max(diffs, key=lambda n: diffs[n].max().item())
    atol = max(max((d - 1e-4 * final64[n].abs()).max().item() for n, d in diffs.items()), 0.0)
    return loss_rel, diffs[worst].max().item(), worst, atol


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    shutil.rmtree(OUT, ignore_errors=True)
    for model_index, (model_name, (make, shape, classes, opset, mode)) in enumerate(MODELS.items()):
        torch.manual_seed(100 + model_index)
        model = make()
        batches = make_data(shape, classes)
        folder = os.path.join(OUT, model_name)
        os.makedirs(folder)
        export(model, batches[0][0], opset, mode, os.path.join(folder, "model.onnx"))
        for k, (x, label) in enumerate(batches):
            save(os.path.join(folder, f"batch_{k}_x.pb"), x, "x")
            save(os.path.join(folder, f"batch_{k}_label.pb"), label, "label")
        for config_index, config in enumerate(CONFIGS):
            seed = 1000 + 10 * model_index + config_index
            losses, final = train(copy.deepcopy(model), batches, config, seed)
            losses64, final64 = train(copy.deepcopy(model).double(), [(x.double(), y) for x, y in batches], config,
                                      seed)
            case = os.path.join(OUT, f"{model_name}_{config}")
            os.makedirs(os.path.join(case, "final"))
            write_config(os.path.join(case, "config.txt"), model_name, config)
            with open(os.path.join(case, "losses.txt"), "w") as f:
                f.write("".join("%.9g\n" % v for v in losses))
            with open(os.path.join(case, "losses_f64.txt"), "w") as f:
                f.write("".join("%.17g\n" % v for v in losses64))
            for name, t in final.items():
                save(os.path.join(case, "final", name + ".pb"), t, name)
            print("%-20s loss %.4f -> %.4f  f32 vs f64: loss rel %.1e, final abs %.1e (%s), atol at rtol 1e-4 %.1e"
                  % (f"{model_name}_{config}", losses[0], losses[-1], *compare(losses, losses64, final, final64)))


if __name__ == "__main__":
    main()
