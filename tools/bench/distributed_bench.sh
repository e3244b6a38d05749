#!/usr/bin/env bash
# Data-parallel throughput: the same model, the same per-process batch and the same number of
# steps, trained by one process and by `mpirun -np RANKS` (one kernel thread per process both
# times). Prints each run's samples/s (timed from the step lines of --log, warm-up steps left
# out), their ratio, and the 2-rank run's "allreduce" event (buckets, bytes, time in the
# allreduce, the part of it the backward pass did not hide, the hidden fraction).
#
#   bash tools/bench/distributed_bench.sh [--model M.onnx] [--batch B] [--steps S] [--warmup W]
#                                         [--ranks R] [--bucket-mb MB] [--build DIR] [--keep DIR]
#
# The model defaults to the bundled CNN (models/fashion_cnn/model.onnx, about 25 ms a step
# forward and backward at batch 64 on one thread); any classifier with one float input whose
# dimensions past the batch are fixed works. The data are random samples of the model's input
# shape and random labels of its classes (/usr/bin/python3 with numpy and onnx), made in a
# temporary folder (--keep DIR: made and kept there). --bucket-mb goes to the multi-rank run
# (default: the command's 25 MB, one bucket for the CNN's 0.4 MB of gradients, so that its
# allreduce starts only when the backward pass ends). Needs build/onnx-train and Open MPI's mpirun.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
model=$root/models/fashion_cnn/model.onnx
batch=64
steps=40
warmup=5
ranks=2
bucket=()
build=$root/build
keep=

while [ $# -gt 0 ]; do
  case $1 in
    --model) model=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --bucket-mb) bucket=(--bucket-mb "$2"); shift 2 ;;
    --build) build=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "distributed_bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

cli=$build/onnx-train
[ -x "$cli" ] || { echo "distributed_bench.sh: no $cli; build it (ninja -C build onnx-train)" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "distributed_bench.sh: mpirun is not on PATH (apt-get install openmpi-bin)" >&2; exit 1; }
[ "$steps" -gt "$warmup" ] || { echo "distributed_bench.sh: --steps must exceed --warmup" >&2; exit 2; }

if [ -n "$keep" ]; then
  work=$keep
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi

# One epoch of the multi-rank run holds every step: steps * batch * ranks samples.
/usr/bin/python3 - "$model" "$work/data/train" $((steps * batch * ranks)) <<'EOF'
import os
import sys

import numpy as np
import onnx

model, folder, count = onnx.load(sys.argv[1], load_external_data=False), sys.argv[2], int(sys.argv[3])
inp = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}][0]
dims = [d.dim_value for d in inp.type.tensor_type.shape.dim][1:]
classes = model.graph.output[0].type.tensor_type.shape.dim[-1].dim_value
if not all(dims) or not classes:
    sys.exit(f"distributed_bench.sh: {sys.argv[1]}: input {inp.name} or the output has an open dimension past the batch")
rng = np.random.default_rng(0)
os.makedirs(folder, exist_ok=True)
np.save(os.path.join(folder, inp.name + ".npy"), rng.random((count, *dims), dtype=np.float32))
np.save(os.path.join(folder, "label.npy"), rng.integers(0, classes, count, dtype=np.int64))
EOF

common=("$model" "$work/data" --batch-size "$batch" --max-steps "$steps" --threads 1 --quiet)
export OMP_NUM_THREADS=1
# Shared memory between the ranks without ptrace rights (containers refuse CMA).
export OMPI_MCA_btl_vader_single_copy_mechanism=none

"$cli" "${common[@]}" --log "$work/one.jsonl" -o "$work/one.onnx" >"$work/one.out"
mpirun --oversubscribe --allow-run-as-root --bind-to none -np "$ranks" \
  "$cli" "${common[@]}" ${bucket[@]+"${bucket[@]}"} --distributed --log "$work/many.jsonl" -o "$work/many.onnx" >"$work/many.out"

/usr/bin/python3 - "$work/one.jsonl" "$work/many.jsonl" "$batch" "$ranks" "$warmup" "$model" "$steps" <<'EOF'
import json
import sys

one_log, many_log, batch, ranks, warmup, model, steps = sys.argv[1:]
batch, ranks, warmup = int(batch), int(ranks), int(warmup)


def lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def rate(path, processes):
    """Samples a second over the steps after the warm-up, from the step lines' run time."""
    timed = [r for r in lines(path) if "loss" in r and "time" in r and "event" not in r]
    start = next(r for r in timed if r["step"] == warmup)
    end = timed[-1]
    return (end["step"] - start["step"]) * batch * processes / (end["time"] - start["time"])


one, many = rate(one_log, 1), rate(many_log, ranks)
print(f"model {model}: {batch} samples a process a step, {steps} steps (the first {warmup} not timed), --threads 1")
print(f"1 process: {one:10.1f} samples/s")
print(f"{ranks} ranks:   {many:10.1f} samples/s   ({many / one:.2f}x)")
event = [r for r in lines(many_log) if r.get("event") == "allreduce"]
if not event:
    sys.exit(f"distributed_bench.sh: {many_log} has no allreduce event")
e = event[-1]
print("allreduce: " + ", ".join(f"{k} {e[k]}" for k in e if k != "event"))
print(f"hidden fraction: {e['hidden_fraction']:.3f}")
EOF
