#!/usr/bin/env bash
# The fine-tuning benchmark: onnx-train against PyTorch on a GPT-2-shaped causal LM (gpt2.py,
# 124M parameters, sequence 256, batch 4) trained on Debian text (lm_corpus.py), and a LoRA
# fine-tune of the 774M variant whose export ONNX Runtime reloads.
#
#   bash tools/bench/finetune_bench.sh [--quick] [--threads N] [--steps N] [--loss-steps N]
#        [--no-large] [--out DIR]
#
# Rows, each one process, ours and PyTorch's (torch_finetune.py), AdamW lr 1e-3, data in file
# order, seed 0:
#   full       fp32, every parameter trains; --loss-steps steps (default 200)
#   bf16       ours: --precision bf16; PyTorch: autocast bf16; --loss-steps steps
#   lora       ours: --lora 8 --lora-alpha 8; PyTorch: LoRA r 8, alpha 8 on c_attn, attn_proj,
#              fc, proj; --steps steps (default 10)
#   recompute  ours: --recompute; PyTorch: torch.utils.checkpoint per block; --steps steps
#   lora-recompute  both of the above at once; --steps steps
#   large LoRA the 774M model (external data, one file), --steps steps, then its export checked in
#              ONNX Runtime (ort_check.js) against `onnx-train run` on the first validation batch
# Columns: median step time after the first step (ours: the differences of the --log `time`
# field; PyTorch: its own timer around zero_grad + forward + loss + backward + AdamW), peak RSS
# (/usr/bin/time -v, the whole process), both as ratios against our full fine-tune; the final
# loss. Agreement: bf16 against fp32 (the largest relative loss difference over the logged
# steps, each engine against itself) and recompute against plain (the largest loss difference
# over the common steps: 0 means the same gradients at every step, since each step's loss depends
# on every update before it). A row whose flag our build lacks (features built separately) is
# "n/a". Writes OUT/table.md, OUT/results.json and every run's files in OUT/runs/<row>/.
#
# --quick: the tiny model (seq 64), a few steps, 20 loss steps, the tiny model standing in for the
# large one: a few minutes, proof that the benchmark works (its figures mean nothing).
# Needs: /usr/bin/python3 with torch, numpy and onnx; node with onnxruntime-node (NODE_PATH, or
# tests/cli/node_modules: tools/test.sh installs it); /usr/bin/time; Debian's fortunes package for
# the text (installed with apt-get when run as root; /usr/share/common-licenses otherwise).
# Env: BENCH_PYTHON, BENCH_BUILD, BENCH_CACHE (exports and data, reused across runs),
# OURS_MODEL and OURS_LOSS (train.onnx, the logits [B, T, V], with "--loss cross-entropy", which reads
# the classes from the last axis; or train_loss.onnx, which computes its own loss, with "--loss none"), OMP_WAIT_POLICY
# (passive by default here: on a busy machine libgomp's spinning wait makes steps 10-100x slower).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH="$ROOT/tools/bench"
PY="${BENCH_PYTHON:-/usr/bin/python3}"
BUILD="${BENCH_BUILD:-$ROOT/build}"
quick=0 threads=2 steps="" loss_steps="" large=1 out=""
usage() { echo "usage: $0 [--quick] [--threads N] [--steps N] [--loss-steps N] [--no-large] [--out DIR]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --threads) threads="$2"; shift ;;
    --steps) steps="$2"; shift ;;
    --loss-steps) loss_steps="$2"; shift ;;
    --no-large) large=0 ;;
    --out) out="$2"; shift ;;
    *) usage ;;
  esac
  shift
done
if [ "$quick" = 1 ]; then
  size=tiny large_size=tiny seq=64 steps="${steps:-6}" loss_steps="${loss_steps:-20}"
else
  size=small large_size=large seq=256 steps="${steps:-10}" loss_steps="${loss_steps:-200}"
fi
batch=4
out="${out:-$BUILD/finetune-bench-$size}"
cache="${BENCH_CACHE:-$BUILD/bench-cache}"
mkdir -p "$out" "$cache"
out="$(cd "$out" && pwd)" cache="$(cd "$cache" && pwd)"
rm -rf "$out/runs"  # a row left from an earlier run (an n/a before its option existed) must not stay
mkdir -p "$out/runs"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}" OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads"
export NODE_PATH="$ROOT/tests/cli/node_modules:$BENCH/node_modules${NODE_PATH:+:$NODE_PATH}"
OURS_MODEL="${OURS_MODEL:-train.onnx}"
OURS_LOSS="${OURS_LOSS:---loss cross-entropy}"

# Prerequisites.
"$PY" -c "import torch, numpy, onnx" || { echo "finetune_bench.sh: $PY needs torch, numpy and onnx" >&2; exit 1; }
node -e "require('onnxruntime-node')" 2>/dev/null || {
  echo "finetune_bench.sh: node cannot load onnxruntime-node; install it with" >&2
  echo "  npm install --prefix tests/cli --ignore-scripts --no-save onnxruntime-node@1.31.1" >&2
  exit 1
}
[ -x /usr/bin/time ] || { echo "finetune_bench.sh: /usr/bin/time is missing (Debian package time)" >&2; exit 1; }
if [ ! -d /usr/share/games/fortunes ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "finetune_bench.sh: installing Debian's fortunes package for the text corpus"
  apt-get install -y --no-install-recommends fortunes >/dev/null 2>&1 ||
    echo "finetune_bench.sh: apt-get could not install fortunes; using /usr/share/common-licenses" >&2
fi
[ -f "$BUILD/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" --target onnx-train >/dev/null
if awk -v cores="$(nproc)" '{ exit !($1 > cores) }' /proc/loadavg; then
  echo "finetune_bench.sh: load average $(cut -d' ' -f1 /proc/loadavg) on $(nproc) cores: timings will be noisy" >&2
fi

# Our build's flags for the separately built features: a row without its flag is n/a.
help="$("$BUILD/onnx-train" train --help 2>&1)"
has() { grep -q -- "$1" <<<"$help"; }
declare -A ours_flags=([full]="" [bf16]="--precision bf16" [lora]="--lora 8 --lora-alpha 8" [recompute]="--recompute"
  [lora-recompute]="--lora 8 --lora-alpha 8 --recompute")
declare -A ours_needs=([full]="" [bf16]="--precision " [lora]="--lora " [recompute]="--recompute"
  [lora-recompute]="--recompute")

# Data and exports (cached: the corpus by its sequence length, the models by gpt2.py's hash).
data="$cache/lm-corpus-seq$seq"
[ -f "$data/corpus.json" ] || "$PY" "$BENCH/lm_corpus.py" "$data" --seq "$seq"
variant=loss
[ "$OURS_MODEL" = train.onnx ] && variant=logits
export_model() {
  "$PY" "$BENCH/gpt2.py" "$cache" --size "$1" --seq "$seq" --batch "$batch" --variants "$variant" \
    2>"$out/runs/export-$1.log" | tail -1
}
echo "finetune_bench.sh: exporting gpt2-$size (cached in $cache)"
model_dir="$(export_model "$size")" || {
  echo "finetune_bench.sh: exporting gpt2-$size failed:" >&2; tail -5 "$out/runs/export-$size.log" >&2; exit 1
}

failed=0
# ours ROW STEPS MODEL_DIR EXTRA_FLAGS: onnx-train on MODEL_DIR for STEPS steps in OUT/runs/ROW.
ours() {
  local row="$1" n="$2" dir="$3" extra="$4" run="$out/runs/$1"
  mkdir -p "$run"
  echo "finetune_bench.sh: $row (onnx-train, $n steps)"
  # shellcheck disable=SC2086  # the flags are words
  if ! /usr/bin/time -v -o "$run/time.txt" "$BUILD/onnx-train" "$dir/$OURS_MODEL" "$data/train" $OURS_LOSS \
      --batch-size "$batch" --threads "$threads" --max-steps "$n" --no-shuffle --seed 0 --log "$run/log.jsonl" \
      -o "$run/model.onnx" $extra >"$run/out.txt" 2>&1; then
    echo "finetune_bench.sh: $row FAILED:" >&2; tail -8 "$run/out.txt" >&2; failed=1
  fi
}
# pytorch ROW STEPS SIZE MODE: torch_finetune.py in OUT/runs/ROW.
pytorch() {
  local row="$1" n="$2" run="$out/runs/$1"
  mkdir -p "$run"
  echo "finetune_bench.sh: $row (PyTorch, $n steps)"
  if ! /usr/bin/time -v -o "$run/time.txt" "$PY" "$BENCH/torch_finetune.py" "$data" --size "$3" --mode "$4" \
      --batch "$batch" --threads "$threads" --steps "$n" --log "$run/log.jsonl" >"$run/out.txt" 2>&1; then
    echo "finetune_bench.sh: $row FAILED:" >&2; tail -8 "$run/out.txt" >&2; failed=1
  fi
}

for mode in full bf16 lora recompute lora-recompute; do
  n="$steps"
  [[ "$mode" == full || "$mode" == bf16 ]] && n="$loss_steps"
  if [ -z "${ours_needs[$mode]}" ] || has "${ours_needs[$mode]}"; then
    ours "ours-$mode" "$n" "$model_dir" "${ours_flags[$mode]}"
    rm -f "$out/runs/ours-$mode/model.onnx" "$out/runs/ours-$mode/model.onnx.data"
  else
    mkdir -p "$out/runs/ours-$mode"
    echo "onnx-train has no ${ours_needs[$mode]% } option" >"$out/runs/ours-$mode/na.txt"
  fi
  pytorch "torch-$mode" "$n" "$size" "$mode"
done

# The large model's LoRA fine-tune (in --quick, the tiny model's), and its export in ONNX Runtime.
if [ "$large" = 1 ]; then
  big="ours-large-lora" lflags="--lora 8 --lora-alpha 8"
  if ! has "--lora "; then
    mkdir -p "$out/runs/$big"
    echo "onnx-train has no --lora option" >"$out/runs/$big/na.txt"
    # Without LoRA, --quick still proves the export path with a full fine-tune of the tiny model.
    [ "$quick" = 1 ] && big="ours-large-full" lflags=""
  fi
  if [ ! -f "$out/runs/$big/na.txt" ]; then
    echo "finetune_bench.sh: exporting gpt2-$large_size"
    large_dir="$(export_model "$large_size")" || {
      echo "finetune_bench.sh: exporting gpt2-$large_size failed:" >&2; tail -5 "$out/runs/export-$large_size.log" >&2
      exit 1
    }
    ours "$big" "$steps" "$large_dir" "$lflags"
    run="$out/runs/$big"
    if [ -f "$run/model.onnx" ]; then
      # The first validation batch of each model input, as .npy (for node) and as a TensorProto
      # .pb (for onnx-train run); prints run's --input arguments.
      mapfile -t inputs < <("$PY" - "$run/model.onnx" "$data/val" "$run/check" "$batch" <<'EOF'
import os, sys
import numpy as np
import onnx
from onnx import numpy_helper
model, src, dst, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
os.makedirs(dst, exist_ok=True)
graph = onnx.load(model, load_external_data=False).graph
for i in [i for i in graph.input if i.name not in {t.name for t in graph.initializer}]:
    a = np.ascontiguousarray(np.load(os.path.join(src, i.name + ".npy"))[:batch])
    np.save(os.path.join(dst, i.name + ".npy"), a)
    with open(os.path.join(dst, i.name + ".pb"), "wb") as f:
        f.write(numpy_helper.from_array(a, i.name).SerializeToString())
    print("--input")
    print(f"{i.name}={os.path.join(dst, i.name + '.pb')}")
EOF
)
      "$BUILD/onnx-train" run "$run/model.onnx" "${inputs[@]}" >"$run/ours_run.txt" 2>&1 || true
      if ! node "$BENCH/ort_check.js" "$run/model.onnx" "$run/check" "$run/ours_run.txt" >"$run/ort.txt" 2>&1; then
        echo "finetune_bench.sh: $big: ONNX Runtime check FAILED:" >&2; tail -5 "$run/ort.txt" >&2; failed=1
      fi
    fi
  fi
  [ "$quick" = 1 ] || pytorch torch-large-lora "$steps" "$large_size" lora
fi

"$PY" "$BENCH/finetune_report.py" "$out" --size "$size" --large-size "$large_size" --threads "$threads" --batch "$batch" --seq "$seq" \
  --wait-policy "$OMP_WAIT_POLICY" --ours-loss "$OURS_MODEL $OURS_LOSS" || failed=1
exit "$failed"
