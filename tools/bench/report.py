#!/usr/bin/env python3
"""The benchmark's table, from the RESULT lines compare.sh collected.

    python3 tools/bench/report.py OUT_DIR CACHE_DIR [--threads N] [--size full|tiny]

reads OUT_DIR/results.txt (one `RESULT key=value ...` line per run, tagged by compare.sh with
workload=, engine=, kind=) and each workload's CACHE_DIR/<name>/spec.json, writes
OUT_DIR/results.json (every run, plus the derived ratios) and OUT_DIR/table.md, and prints
the table. Standard library only.

Ratios (the targets of the performance work in brackets): our step / PyTorch's step (<= 0.7),
our step / ONNX Runtime's forward (<= 3.0), our inference / ONNX Runtime's (<= 1.0), our
peak RSS / PyTorch's (<= 1.0; PyTorch's includes its import, reported beside it). MLP:
6 * batch * linear_macs flops per step against the SGEMM peak (>= 60%); step time per
sample across batch sizes and build time per layer across depths (flat = linear).
"""
import argparse
import json
import os


def number(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse(path):
    runs = []
    with open(path) as f:
        for line in f:
            if not line.startswith("RESULT "):
                continue
            fields = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
            runs.append({k: number(v) for k, v in fields.items()})
    return runs


def find(runs, **match):
    for r in runs:
        if all(r.get(k) == v for k, v in match.items()):
            return r
    return None


def ratio(a, b):
    return a / b if a and b else None


def fmt(v, digits=1, suffix=""):
    return "-" if v is None else f"{v:.{digits}f}{suffix}"


def workload_row(runs, name, spec):
    get = lambda engine, kind, key: (find(runs, workload=name, engine=engine, kind=kind) or {}).get(key)
    row = dict(workload=name, batch=spec.get("batch"), parameters=spec.get("parameters"),
               ours_step_ms=get("ours", "step", "step_ms"), pytorch_step_ms=get("pytorch", "step", "step_ms"),
               ort_forward_ms=get("onnxruntime", "inference", "inference_ms"),
               ours_inference_ms=get("ours", "inference", "inference_ms"),
               ours_peak_rss_mb=get("ours", "memory", "peak_rss_mb"),
               pytorch_peak_rss_mb=get("pytorch", "memory", "peak_rss_mb"),
               pytorch_import_rss_mb=get("pytorch", "memory", "import_rss_mb"), step_optimizer="sgd")
    if row["ours_step_ms"] is None and row["pytorch_step_ms"] is None:  # memory-only workload: AdamW steps
        row.update(ours_step_ms=get("ours", "memory", "step_ms"), pytorch_step_ms=get("pytorch", "memory", "step_ms"),
                   step_optimizer="adamw")
    row.update(step_vs_pytorch=ratio(row["ours_step_ms"], row["pytorch_step_ms"]),
               step_vs_ort=ratio(row["ours_step_ms"], row["ort_forward_ms"]),
               inference_vs_ort=ratio(row["ours_inference_ms"], row["ort_forward_ms"]),
               rss_vs_pytorch=ratio(row["ours_peak_rss_mb"], row["pytorch_peak_rss_mb"]))
    return row


def main_table(rows):
    lines = ["| workload | batch | our step ms | PyTorch step ms | ORT forward ms | our inference ms | "
             "ours / PyTorch step | our step / ORT fwd | our inference / ORT | our peak RSS MB | "
             "PyTorch peak RSS MB | RSS ours / PyTorch |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|",
             "| *target* | | | | | | *<= 0.7* | *<= 3.0* | *<= 1.0* | | | *<= 1.0* |"]
    for r in rows:
        mark = " (AdamW)" if r["step_optimizer"] == "adamw" else ""
        lines.append(f"| {r['workload']} | {r['batch']} | {fmt(r['ours_step_ms'])}{mark} | {fmt(r['pytorch_step_ms'])}{mark} "
                     f"| {fmt(r['ort_forward_ms'], 2)} | {fmt(r['ours_inference_ms'], 2)} | {fmt(r['step_vs_pytorch'], 2)} "
                     f"| {fmt(r['step_vs_ort'], 1)} | {fmt(r['inference_vs_ort'], 2)} | {fmt(r['ours_peak_rss_mb'], 0)} "
                     f"| {fmt(r['pytorch_peak_rss_mb'], 0)} | {fmt(r['rss_vs_pytorch'], 2)} |")
    return lines


def mlp_lines(runs, rows, specs, sgemm):
    lines, derived = [], {}
    mlp = next((r for r in rows if r["workload"] == "mlp"), None)
    macs = specs.get("mlp", {}).get("linear_macs")
    if mlp and mlp["ours_step_ms"] and macs:
        gflops = 6 * mlp["batch"] * macs / (mlp["ours_step_ms"] / 1e3) / 1e9
        derived.update(mlp_step_gflops=gflops, sgemm_peak_gflops=sgemm, mlp_fraction_of_peak=ratio(gflops, sgemm))
        lines.append(f"- MLP step (batch {mlp['batch']}, 6 x batch x {macs} flops): {gflops:.1f} GFLOP/s = "
                     f"{fmt(ratio(gflops, sgemm) and 100 * ratio(gflops, sgemm), 0, '%')} of the SGEMM peak "
                     f"{fmt(sgemm)} GFLOP/s (oneDNN sgemm, large square) [target >= 60%]")
    batches = sorted((r for r in runs if r.get("kind") == "batch"), key=lambda r: r["batch"])
    if batches:
        base = batches[0]["step_ms"] / batches[0]["batch"]
        derived["mlp_batches"] = [dict(batch=r["batch"], step_ms=r["step_ms"]) for r in batches]
        lines.append("- MLP step against batch (per-sample time relative to the smallest batch; 1.0 = linear): " +
                     ", ".join(f"b{r['batch']} {r['step_ms']:.2f} ms ({r['step_ms'] / r['batch'] / base:.2f})"
                               for r in batches))
    builds = sorted((r for r in runs if r.get("kind") == "build"), key=lambda r: r["depth"])
    if builds:
        base = builds[0]["build_ms"] / builds[0]["depth"]
        derived["build_depths"] = [dict(depth=r["depth"], build_ms=r["build_ms"]) for r in builds]
        lines.append("- Training-graph build (TrainingSession::from_file) against MLP depth (per-layer time relative to "
                     "the shallowest; 1.0 = linear): " +
                     ", ".join(f"{r['depth']} layers {r['build_ms']:.0f} ms ({r['build_ms'] / r['depth'] / base:.2f})"
                               for r in builds))
    return lines, derived


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("cache")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", default="full")
    parser.add_argument("--wait-policy", default="default", help="OMP_WAIT_POLICY of the run")
    args = parser.parse_args()
    runs = parse(os.path.join(args.out, "results.txt"))
    names = list(dict.fromkeys(r["workload"] for r in runs if r.get("kind") in ("step", "inference", "memory")))
    specs = {}
    for n in names + ["mlp"]:
        path = os.path.join(args.cache, n, "spec.json")
        if os.path.exists(path):
            with open(path) as f:
                specs[n] = json.load(f)
    rows = [workload_row(runs, n, specs.get(n, {})) for n in names]
    sgemm = (find(runs, kind="sgemm") or {}).get("sgemm_gflops")
    extra, derived = mlp_lines(runs, rows, specs, sgemm)
    # PyTorch's matrix products outside oneDNN go through whichever BLAS libblas.so.3 is.
    blas = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    blas = "OpenBLAS" if "openblas" in blas else ("reference BLAS" if os.path.exists(blas) else "no system BLAS")
    title = (f"onnx-train benchmark ({args.size}, {args.threads} threads, OMP_WAIT_POLICY {args.wait_policy}, "
             f"PyTorch's BLAS: {blas}; "
             f"medians; step = zero_grad + forward + "
             f"backward + SGD momentum 0.9 step unless marked; peak RSS: AdamW, a few steps, own process)")
    table = [title, ""] + main_table(rows) + [""] + extra
    text = "\n".join(table) + "\n"
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(dict(threads=args.threads, size=args.size, omp_wait_policy=args.wait_policy, workloads=rows, **derived, runs=runs), f, indent=1)
    print(text, end="")


if __name__ == "__main__":
    main()
