#!/usr/bin/env bash
# The benchmark: onnx-train against PyTorch (training step, peak memory) and ONNX Runtime
# (inference), every workload of tools/bench/workloads.py, at one thread count.
#
#   bash tools/bench/compare.sh [--tiny] [--only NAME,NAME] [--threads N] [--out DIR]
#
# For each workload, each measurement in its own process:
#   1. exports it (train.onnx, eval.onnx, spec.json) into a cache folder named by the hash of
#      the export scripts, so a re-run skips the export;
#   2. our training step: build/train_step_bench on train.onnx, SGD momentum 0.9 (zero_grad +
#      forward + backward + optimizer step), median of many steps after warm-up;
#   3. our inference: train_step_bench --inference on eval.onnx (Session::run, the path of
#      `onnx-train run`), median;
#   4. PyTorch's training step: tools/bench/torch_step.py, the same model, same step, median;
#   5. ONNX Runtime's inference: tools/bench/ort_time.js on eval.onnx, median;
#   6. peak RSS of a short training run (AdamW, 4 steps) of ours and of PyTorch;
# then the MLP against the machine's SGEMM peak (build/sgemm_peak), the MLP step at four batch
# sizes, and the training-graph build time of 10/100/1000-layer MLPs (tools/bench/deep_mlp.py).
# Prints the table (tools/bench/report.py) and writes OUT/table.md, OUT/results.json, the raw
# OUT/results.txt (one RESULT line per run) and every run's output in OUT/logs/.
#
# --tiny: every workload tiny, few repeats, a couple of minutes: CI runs it to prove the
# benchmark works (its numbers mean nothing). Exits non-zero when any run failed.
# Needs: build/ (configured; the bench targets are built here), /usr/bin/python3 with torch and
# torchvision (Debian python3-torch python3-torchvision python3-onnx), node with onnxruntime-node
# (tools/test.sh installs it into tests/cli/node_modules). BENCH_PYTHON, BENCH_BUILD and
# BENCH_CACHE override the interpreter, the build folder and the export cache; OMP_WAIT_POLICY
# passes through to the OpenMP runtimes (see below).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH="$ROOT/tools/bench"
PY="${BENCH_PYTHON:-/usr/bin/python3}"
BUILD="${BENCH_BUILD:-$ROOT/build}"
tiny=0 only="" threads=2 out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tiny) tiny=1 ;;
    --only) only="$2"; shift ;;
    --threads) threads="$2"; shift ;;
    --out) out="$2"; shift ;;
    *) echo "usage: $0 [--tiny] [--only NAME,NAME] [--threads N] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done
size=full tiny_flag=()
if [ "$tiny" = 1 ]; then size=tiny tiny_flag=(--tiny); fi
out="${out:-$BUILD/bench-$size}"
mkdir -p "$out/logs"
out="$(cd "$out" && pwd)"
: >"$out/results.txt"

# Repeats: timed steps/runs after warm-up; memory runs take this many AdamW steps.
if [ "$tiny" = 1 ]; then
  repeat=3 warmup=1 ort_repeat=5 memory_steps=2 batches=(8 16) depths=10,100 sgemm=(--size 1024 --repeat 3)
else
  repeat=20 warmup=3 ort_repeat=50 memory_steps=4 batches=(32 64 128 256) depths=10,100,1000 sgemm=(--repeat 10)
fi

export OMP_NUM_THREADS="$threads"
# On a busy machine (more runnable threads than cores) libgomp's default wait, which spins,
# makes every OpenMP barrier of ours and of PyTorch wait for a descheduled thread: steps grow
# 10-100x while ONNX Runtime's own pool barely moves. OMP_WAIT_POLICY=passive (set by the
# caller; recorded in the table) keeps a busy machine's figures usable.
policy="${OMP_WAIT_POLICY:-default}"
if awk -v cores="$(nproc)" '{ exit !($1 > cores) }' /proc/loadavg; then
  echo "compare.sh: load average $(cut -d' ' -f1 /proc/loadavg) on $(nproc) cores: timings will be noisy" \
    "(OMP_WAIT_POLICY=$policy; passive suits a busy machine)" >&2
fi
export NODE_PATH="$ROOT/tests/cli/node_modules:$BENCH/node_modules${NODE_PATH:+:$NODE_PATH}"
node -e "require('onnxruntime-node')" 2>/dev/null || {
  echo "compare.sh: node cannot load onnxruntime-node; install it with" >&2
  echo "  npm install --prefix tests/cli --ignore-scripts --no-save onnxruntime-node@1.31.1" >&2
  exit 1
}
"$PY" -c "import torch, torchvision, onnx" || { echo "compare.sh: $PY needs torch, torchvision and onnx" >&2; exit 1; }
[ -f "$BUILD/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" --target train_step_bench sgemm_peak >/dev/null

# 1. The export cache: one folder per version of the export scripts and size.
hash="$(cat "$BENCH/workloads.py" "$BENCH/deep_mlp.py" | sha256sum | cut -c1-12)"
cache="${BENCH_CACHE:-$BUILD/bench-cache}/$hash-$size"
mapfile -t names < <("$PY" "$BENCH/workloads.py" --list "${tiny_flag[@]}" | cut -d' ' -f1)
if [ -n "$only" ]; then
  IFS=, read -r -a wanted <<<"$only"
  selected=()
  for n in "${names[@]}"; do [[ ",$only," == *",$n,"* ]] && selected+=("$n"); done
  [ ${#selected[@]} -eq ${#wanted[@]} ] || { echo "compare.sh: --only $only: workloads are ${names[*]}" >&2; exit 2; }
  names=("${selected[@]}")
fi
missing=()
for n in "${names[@]}"; do [ -f "$cache/$n/spec.json" ] || missing+=("$n"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "compare.sh: exporting ${missing[*]} into $cache"
  (IFS=,; "$PY" "$BENCH/workloads.py" "$cache" "${tiny_flag[@]}" --only "${missing[*]}") >"$out/logs/export.log" 2>&1 ||
    { tail -20 "$out/logs/export.log" >&2; exit 1; }
fi
if [[ " ${names[*]} " == *" mlp "* && ! -f "$cache/mlp_depth${depths##*,}/train.onnx" ]]; then
  "$PY" "$BENCH/deep_mlp.py" "$cache" "$depths" >>"$out/logs/export.log"
fi

failed=0
# run TAG FIELDS -- COMMAND...: runs COMMAND (output in logs/TAG.log), appends its last RESULT
# line to results.txt with FIELDS (workload=, engine=, kind=) in front.
run() {
  local tag="$1" fields="$2"
  shift 3
  echo "compare.sh: $tag"
  if "$@" >"$out/logs/$tag.log" 2>&1 && grep -q '^RESULT ' "$out/logs/$tag.log"; then
    echo "RESULT $fields $(grep '^RESULT ' "$out/logs/$tag.log" | tail -1 | cut -d' ' -f2-)" >>"$out/results.txt"
  else
    echo "compare.sh: $tag FAILED:" >&2
    tail -15 "$out/logs/$tag.log" >&2
    failed=1
  fi
}

# The integer range of a workload's int64 inputs (token ids), for train_step_bench.
int_range() { "$PY" -c "import json,sys; s=json.load(open(sys.argv[1])); print(max([i.get('high', 2) for i in s['inputs']]))" "$1"; }
batch_of() { "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['batch'])" "$1"; }

run sgemm "workload=machine engine=onednn kind=sgemm" -- "$BUILD/sgemm_peak" --threads "$threads" "${sgemm[@]}"

for n in "${names[@]}"; do
  dir="$cache/$n" b="$(batch_of "$cache/$n/spec.json")"
  ours=("$BUILD/train_step_bench" --threads "$threads" --int-range "$(int_range "$dir/spec.json")" --batch "$b")
  torch_step=("$PY" "$BENCH/torch_step.py" "$n" "${tiny_flag[@]}" --threads "$threads" --batch "$b")
  small=() ort_n="$ort_repeat"  # bert6_memory is for memory: a few timed runs only
  if [ "$n" = bert6_memory ]; then small=(--repeat 3 --warmup 1) ort_n=3; fi
  if [ "$n" != bert6_memory ]; then
    run "$n.ours.step" "workload=$n engine=ours kind=step" -- \
      "${ours[@]}" "$dir/train.onnx" --repeat "$repeat" --warmup "$warmup" --no-predict
    run "$n.torch.step" "workload=$n engine=pytorch kind=step" -- \
      "${torch_step[@]}" --repeat "$repeat" --warmup "$warmup"
  fi
  run "$n.ours.inference" "workload=$n engine=ours kind=inference" -- \
    "${ours[@]}" "$dir/eval.onnx" --inference --repeat "$repeat" --warmup "$warmup" "${small[@]}"
  run "$n.ort.inference" "workload=$n engine=onnxruntime kind=inference" -- \
    node "$BENCH/ort_time.js" "$dir/eval.onnx" "$b" "$ort_n" "$threads"
  run "$n.ours.memory" "workload=$n engine=ours kind=memory" -- \
    "${ours[@]}" "$dir/train.onnx" --steps "$memory_steps" --optimizer adamw
  run "$n.torch.memory" "workload=$n engine=pytorch kind=memory" -- \
    "${torch_step[@]}" --steps "$memory_steps" --optimizer adamw
done

# The MLP's step against batch size, and the training-graph build time against depth.
if [[ " ${names[*]} " == *" mlp "* ]]; then
  for b in "${batches[@]}"; do
    run "mlp.ours.batch$b" "workload=mlp engine=ours kind=batch" -- "$BUILD/train_step_bench" "$cache/mlp/train.onnx" \
      --threads "$threads" --batch "$b" --repeat "$repeat" --warmup "$warmup" --no-predict
  done
  for d in ${depths//,/ }; do
    run "mlp_depth$d.ours.build" "workload=mlp_depth$d engine=ours kind=build depth=$d" -- \
      "$BUILD/train_step_bench" "$cache/mlp_depth$d/train.onnx" --threads "$threads" --build-only
  done
fi

"$PY" "$BENCH/report.py" "$out" "$cache" --threads "$threads" --size "$size" --wait-policy "$policy"
if [ "$failed" != 0 ]; then
  echo "compare.sh: some runs failed (see above and $out/logs)" >&2
  exit 1
fi
