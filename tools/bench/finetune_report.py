#!/usr/bin/env python3
"""The fine-tuning benchmark's table, from the run folders finetune_bench.sh wrote.

    /usr/bin/python3 tools/bench/finetune_report.py OUT [--size S] [--threads N] [--batch B]
        [--seq T] [--wait-policy P] [--ours-loss TEXT]

Reads OUT/runs/<row>/: log.jsonl (ours: the --log step lines, step time = the difference of
consecutive `time` fields; PyTorch: `step_ms`), time.txt (/usr/bin/time -v: the peak RSS),
na.txt (the row could not run: why), ort.txt (ort_check.js's RESULT line). The step time is the
median over every step after the first (the first step builds and plans, or warms PyTorch's
allocator up). CPU % is the process's CPU time over its wall time (/usr/bin/time; 100 per busy
core, so 2 threads on a free machine approach 200): far below that, the machine was busy and the
step times say more about the load than about the engine. Writes OUT/table.md and OUT/results.json and prints the table.
"""
import argparse
import json
import os
import re
import statistics

MODES = ["full", "lora", "bf16", "recompute", "lora-recompute"]


def read_run(folder):
    """{'status': 'ok'|'n/a'|'failed', 'losses': [...], 'step_ms': median, 'peak_rss_mb': ...}."""
    run = dict(status="failed", losses=[], step_ms=None, peak_rss_mb=None, steps=0, note="", cpu_percent=None)
    if not os.path.isdir(folder):
        run.update(status="n/a", note="not run")
        return run
    na = os.path.join(folder, "na.txt")
    if os.path.exists(na):
        run.update(status="n/a", note=open(na).read().strip())
        return run
    log = os.path.join(folder, "log.jsonl")
    steps = []
    if os.path.exists(log):
        for line in open(log):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if "step" in rec and "loss" in rec and "event" not in rec:
                steps.append(rec)
    times = []
    for prev, cur in zip(steps, steps[1:]):
        if "step_ms" in cur:
            times.append(cur["step_ms"])
        elif "time" in cur and "time" in prev:
            times.append((cur["time"] - prev["time"]) * 1e3)
    run["losses"] = [s["loss"] for s in steps]
    run["steps"] = len(steps)
    if times:
        run["step_ms"] = statistics.median(times)
    tfile = os.path.join(folder, "time.txt")
    if os.path.exists(tfile):
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(tfile).read())
        if m:
            run["peak_rss_mb"] = int(m.group(1)) / 1024.0
        share = re.search(r"Percent of CPU this job got: (\d+)%", open(tfile).read())
        if share:
            run["cpu_percent"] = int(share.group(1))
        status = re.search(r"Exit status: (\d+)", open(tfile).read())
        if status and status.group(1) == "0" and steps:
            run["status"] = "ok"
        elif status:
            # The error's first line says what failed (an op, memory, the export); the steps
            # logged before it still count.
            out = os.path.join(folder, "out.txt")
            errors = [line.strip() for line in open(out, errors="replace") if "error:" in line] if os.path.exists(out) else []
            run["note"] = (errors[0] if errors else f"exit status {status.group(1)}") + f" (runs/{os.path.basename(folder)}/out.txt)"
    # Ours with --recompute prints the saved activations before and after the rewrite.
    out = os.path.join(folder, "out.txt")
    if os.path.exists(out):
        m = re.search(r"saved activations about ([0-9.]+) -> ([0-9.]+) MiB", open(out, errors="replace").read())
        if m:
            run["activations_mib"] = (float(m.group(1)), float(m.group(2)))
    ort = os.path.join(folder, "ort.txt")
    if os.path.exists(ort):
        results = [line for line in open(ort) if line.startswith("RESULT ")]
        run["ort"] = dict(kv.split("=", 1) for kv in results[-1].split()[1:]) if results else {"agree": "0"}
    return run


def max_rel_diff(a, b):
    n = min(len(a), len(b))
    if n == 0 or any(x is None for x in a[:n] + b[:n]):
        return None
    return max(abs(x - y) / max(abs(y), 1e-12) for x, y in zip(a[:n], b[:n]))


def max_abs_diff(a, b):
    n = min(len(a), len(b))
    if n == 0 or any(x is None for x in a[:n] + b[:n]):
        return None
    return max(abs(x - y) for x, y in zip(a[:n], b[:n]))


def fmt(x, spec, suffix=""):
    return "n/a" if x is None else f"{x:{spec}}{suffix}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--size", default="small")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--large-size", default="large", help="the model of the large-* rows (tiny in --quick)")
    parser.add_argument("--wait-policy", default="")
    parser.add_argument("--ours-loss", default="")
    args = parser.parse_args()
    runs_dir = os.path.join(args.out, "runs")
    runs = {name: read_run(os.path.join(runs_dir, name)) for name in sorted(os.listdir(runs_dir))
            if os.path.isdir(os.path.join(runs_dir, name))}
    base = runs.get("ours-full", {})
    base_ms, base_rss = base.get("step_ms"), base.get("peak_rss_mb")

    rows = []
    order = [f"{e}-{m}" for m in MODES for e in ("ours", "torch")]
    order += [f"{e}-large-{m}" for m in ("lora", "full") for e in ("ours", "torch")]
    for name in order:
        if name not in runs:
            continue
        r = runs[name]
        engine = "PyTorch" if name.startswith("torch-") else "onnx-train"
        what = name.split("-", 1)[1]
        if what.startswith("large-"):
            what = f"{what[6:]} ({args.large_size})"
        row = dict(row=name, engine=engine, mode=what, status=r["status"], steps=r["steps"], step_ms=r["step_ms"],
                   peak_rss_mb=r["peak_rss_mb"], cpu_percent=r["cpu_percent"], final_loss=r["losses"][-1] if r["losses"] else None, note=r["note"],
                   step_vs_ours_full=(r["step_ms"] / base_ms) if r["step_ms"] and base_ms else None,
                   rss_vs_ours_full=(r["peak_rss_mb"] / base_rss) if r["peak_rss_mb"] and base_rss else None)
        if "ort" in r:
            row["ort"] = r["ort"]
        if "activations_mib" in r:
            row["activations_mib"] = r["activations_mib"]
        rows.append(row)

    agreement = []
    for engine, prefix in (("onnx-train", "ours"), ("PyTorch", "torch")):
        full, bf16, rec = runs.get(f"{prefix}-full"), runs.get(f"{prefix}-bf16"), runs.get(f"{prefix}-recompute")
        if full and bf16 and full["status"] == "ok" and bf16["status"] == "ok":
            agreement.append(dict(engine=engine, check="bf16 vs fp32 loss, max relative difference",
                                  steps=min(len(full["losses"]), len(bf16["losses"])),
                                  value=max_rel_diff(bf16["losses"], full["losses"])))
        else:
            agreement.append(dict(engine=engine, check="bf16 vs fp32 loss, max relative difference", steps=0, value=None))
        if full and rec and full["status"] == "ok" and rec["status"] == "ok":
            agreement.append(dict(engine=engine, check="recompute vs plain loss, max absolute difference",
                                  steps=min(len(full["losses"]), len(rec["losses"])),
                                  value=max_abs_diff(rec["losses"], full["losses"])))
        else:
            agreement.append(dict(engine=engine, check="recompute vs plain loss, max absolute difference", steps=0,
                                  value=None))

    # PyTorch's nn.Linear outside oneDNN goes through whichever BLAS libblas.so.3 is.
    blas = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    blas = "OpenBLAS" if "openblas" in blas else ("reference BLAS" if os.path.exists(blas) else "no system BLAS")
    lines = [f"GPT-2-shaped causal LM ({args.size}), batch {args.batch}, sequence {args.seq}, {args.threads} threads, "
             f"AdamW lr 1e-3, byte corpus; ours: {args.ours_loss}; PyTorch's BLAS: {blas}; "
             f"OMP_WAIT_POLICY={args.wait_policy}; "
             f"load average at the end {open('/proc/loadavg').read().split()[0]}",
             "",
             "| row | engine | steps | step (ms) | step / our full | peak RSS (MiB) | RSS / our full | CPU % | final loss | note |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        note = r["note"] if r["status"] != "ok" else ""
        if "ort" in r:
            o = r["ort"]
            note = (f"export in ONNX Runtime: max relative difference {o.get('max_rel_diff', 'n/a')}, "
                    f"{'agrees' if o.get('agree') == '1' else 'DISAGREES'}")
        if "activations_mib" in r:
            before, after = r["activations_mib"]
            note = f"saved activations {before:.0f} -> {after:.0f} MiB ({before / max(after, 1e-9):.1f}x fewer)"
        if r["status"] == "failed" and not note:
            note = "failed"
        lines.append(f"| {r['mode']} | {r['engine']} | {r['steps']} | {fmt(r['step_ms'], '.0f')} | "
                     f"{fmt(r['step_vs_ours_full'], '.2f', 'x')} | {fmt(r['peak_rss_mb'], '.0f')} | "
                     f"{fmt(r['rss_vs_ours_full'], '.2f', 'x')} | {fmt(r['cpu_percent'], 'd')} | "
                     f"{fmt(r['final_loss'], '.4f')} | {note} |")
    lines += ["", "| agreement | engine | steps | value |", "|---|---|---|---|"]
    for a in agreement:
        lines.append(f"| {a['check']} | {a['engine']} | {a['steps']} | {fmt(a['value'], '.3g')} |")
    table = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(table)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(dict(blas=blas, size=args.size, batch=args.batch, seq=args.seq, threads=args.threads,
                       wait_policy=args.wait_policy, ours_loss=args.ours_loss, rows=rows, agreement=agreement,
                       losses={k: v["losses"] for k, v in runs.items()}), f, indent=1)
    print(table, end="")


if __name__ == "__main__":
    main()
