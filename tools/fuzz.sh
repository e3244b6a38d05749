#!/usr/bin/env bash
# Runs every libFuzzer program of a fuzz build (DIR/tests/fuzz/fuzz_*) for N seconds each.
#
#   tools/fuzz.sh [--seconds N (default 60)] [--build DIR (default build-sanitize)]
#
# DIR is a clang build with -DONNX_TRAIN_SANITIZE=ON -DONNX_TRAIN_FUZZ=ON (README "Fuzzing").
# Each target <name> fuzzes a writable corpus DIR/fuzz-corpus/<name>, seeded from
# tests/fuzz/seeds/<name> and tests/fuzz/findings/<name>, and reads extra corpus folders: for
# model_import every model.onnx of ONNX's test data, for tensor_proto every .pb of it
# (/usr/share/libonnx-testdata/data). The protobuf targets (model_import, tensor_proto,
# checkpoint) use tests/fuzz/onnx.dict; any target with a tests/fuzz/<name>.dict uses that.
# Every sanitizer report, crash, leak, timeout (-timeout=25 s) and allocation over 2 GB is a
# finding: its reproducer is written to DIR/fuzz-findings/<name>/ (replay it with
# `DIR/tests/fuzz/fuzz_<name> FILE`). Prints per target the inputs executed, seconds, corpus
# size and findings, writes the table to DIR/fuzz-summary.txt, and exits 1 when any target
# found something (2 when there is nothing to run).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_EACH=60
BUILD="$ROOT/build-sanitize"
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_EACH="$2"; shift 2 ;;
    --seconds=*) SECONDS_EACH="${1#*=}"; shift ;;
    --build) BUILD="$2"; shift 2 ;;
    --build=*) BUILD="${1#*=}"; shift ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$SECONDS_EACH" in ''|*[!0-9]*) echo "fuzz.sh: --seconds takes a whole number" >&2; exit 2 ;; esac
BUILD="$(cd "$BUILD" 2>/dev/null && pwd)" || { echo "fuzz.sh: no build folder '$BUILD'" >&2; exit 2; }

TESTDATA=/usr/share/libonnx-testdata/data
# allocator_may_return_null: a request the allocator cannot serve fails as it does outside ASan
# (std::bad_alloc, which the reader must turn into an Error); -malloc_limit_mb still reports
# any single allocation over 2 GB that does succeed.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:allocator_may_return_null=1:symbolize=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:report_error_type=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
# One OpenMP thread (oneDNN) keeps the runs comparable and the machine free.
export OMP_NUM_THREADS=1

programs=()
for p in "$BUILD"/tests/fuzz/fuzz_*; do
  [ -f "$p" ] && [ -x "$p" ] && programs+=("$p")
done
if [ ${#programs[@]} -eq 0 ]; then
  echo "fuzz.sh: no fuzz_* programs in $BUILD/tests/fuzz (configure with -DONNX_TRAIN_FUZZ=ON, then ninja -C $BUILD fuzz targets)" >&2
  exit 2
fi

# The extra corpus folders: links to the files of ONNX's test data a target reads.
extra_corpus() {  # name -> prints a folder, or nothing
  local name="$1" dir="$BUILD/fuzz-extra/$1" pattern
  case "$name" in
    model_import) pattern='model.onnx' ;;
    tensor_proto) pattern='*.pb' ;;
    *) return ;;
  esac
  [ -d "$TESTDATA" ] || return
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    local i=0 f
    while IFS= read -r f; do
      ln -s "$f" "$dir/$(printf '%05d' $i)_$(basename "$(dirname "$f")")_$(basename "$f")"
      i=$((i + 1))
    done < <(find "$TESTDATA/node" "$TESTDATA/simple" "$TESTDATA/pytorch-operator" "$TESTDATA/real" \
               -name "$pattern" -size -1024k 2>/dev/null | sort)
  fi
  echo "$dir"
}

summary="$BUILD/fuzz-summary.txt"
printf '%-22s %12s %10s %8s %8s %9s  %s\n' target executed exec/s seconds corpus findings reproducers > "$summary"
status=0
for program in "${programs[@]}"; do
  target="$(basename "$program")"
  name="${target#fuzz_}"
  corpus="$BUILD/fuzz-corpus/$name"
  findings="$BUILD/fuzz-findings/$name"
  mkdir -p "$corpus" "$findings"
  for seed in "$ROOT/tests/fuzz/seeds/$name" "$ROOT/tests/fuzz/findings/$name"; do
    [ -d "$seed" ] && cp -rn "$seed"/. "$corpus"/ 2>/dev/null
  done
  folders=("$corpus")
  extra="$(extra_corpus "$name")"
  [ -n "$extra" ] && folders+=("$extra")
  flags=(-max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=25
         -print_final_stats=1 -artifact_prefix="$findings/" -close_fd_mask=1)
  if [ -f "$ROOT/tests/fuzz/$name.dict" ]; then
    flags+=(-dict="$ROOT/tests/fuzz/$name.dict")
  else
    case "$name" in model_import|tensor_proto|checkpoint) flags+=(-dict="$ROOT/tests/fuzz/onnx.dict") ;; esac
  fi
  log="$BUILD/fuzz-findings/$name.log"
  before="$(find "$findings" -maxdepth 1 -type f ! -name 'slow-unit-*' | wc -l)"
  marker="$BUILD/fuzz-findings/.$name.start"
  touch "$marker"
  echo "== $target: ${SECONDS_EACH}s, corpus $corpus${extra:+ + $extra}"
  start=$(date +%s)
  (cd "$BUILD" && "$program" "${flags[@]}" "${folders[@]}" </dev/null >"$log" 2>&1)
  rc=$?
  elapsed=$(( $(date +%s) - start ))
  executed="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  size="$(find "$corpus" -type f | wc -l)"
  after="$(find "$findings" -maxdepth 1 -type f ! -name 'slow-unit-*' | wc -l)"
  found=$(( after - before ))
  if [ "$rc" -ne 0 ] && [ "$found" -eq 0 ]; then found=1; fi  # e.g. a crash at start-up, before any input
  printf '   executed %s inputs in %ss (%s/s), corpus %s files, findings %s\n' "${executed:-?}" "$elapsed" "${rate:-?}" "$size" "$found"
  repro="-"
  if [ "$found" -ne 0 ]; then
    status=1
    repro="$(find "$findings" -maxdepth 1 -type f ! -name 'slow-unit-*' -newer "$marker" | tr '\n' ' ')"
    echo "   FINDING (exit $rc): reproducer(s) ${repro:-none written}; log $log"
    echo "   replay: $program <reproducer>"
    grep -m3 -E 'ERROR: |runtime error:|escaped|deadly signal|out-of-memory|timeout' "$log" | sed 's/^/   | /'
  fi
  printf '%-22s %12s %10s %8s %8s %9s  %s\n' "$name" "${executed:-?}" "${rate:-?}" "$elapsed" "$size" "$found" "$repro" >> "$summary"
done
echo
cat "$summary"
echo "summary written to $summary"
exit $status
