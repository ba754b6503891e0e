#!/usr/bin/env python3
"""Benchmark of device_scripts/litert_runner.py itself (not a test).

(1) Runner overhead: the runner's median latency (its own process, LiteRT C API through ctypes)
    against a plain in-process invoke loop with ai_edge_litert's Python CompiledModel API on the
    same model, same threads, XNNPACK kernels. Target: the runner within 3 %. The two are
    interleaved over several rounds so drift (thermal, noisy neighbours) hits both alike.
(2) Profiling overhead per kernel mode: the runner's median invoke with profiling on (profile
    mode) against without (latency mode), for xnnpack and builtin kernels.

Models: tiny_cnn fp32/int8 and, when present, mobilenet_v2 fp32/int8 from
harness/models/examples_data. Prints a markdown table; writes benchmarks/out/runner.json.

    .venv/bin/python benchmarks/bench_runner.py [--rounds 3] [--min-s 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RUNNER = REPO / "device_scripts" / "litert_runner.py"
EXAMPLES = REPO / "harness" / "models" / "examples_data"
OUT = REPO / "benchmarks" / "out" / "runner.json"


def runner_result(model: Path, extra: list) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        proc = subprocess.run([sys.executable, str(RUNNER), "--model", str(model),
                               "--out", str(out), *extra],
                              capture_output=True, text=True, errors="replace")
        if not out.is_file():
            raise RuntimeError(f"runner wrote no result: {proc.stderr[-1500:]}")
        result = json.loads(out.read_text())
    if result["status"] != "ok":
        raise RuntimeError(f"runner failed on {model}: {result['error']}")
    return result


def in_process_median(model: Path, threads: int, warmup_s: float, min_s: float,
                      min_runs: int) -> tuple:
    """Plain loop over ai_edge_litert's Python CompiledModel API, timed like the runner."""
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.cpu_options import CpuOptions
    from ai_edge_litert.options import Options

    options = Options(cpu_options=CpuOptions(num_threads=threads))
    compiled = CompiledModel.from_file(str(model), options=options)
    inputs = compiled.create_input_buffers(0)
    outputs = compiled.create_output_buffers(0)
    rng = np.random.default_rng(0)
    details = compiled.get_input_tensor_details(compiled.get_signature_by_index(0)["key"])
    for buffer, detail in zip(inputs, details.values(), strict=True):
        shape = [max(1, int(d)) for d in detail["shape"]]
        dtype = np.dtype(detail["dtype"])
        data = rng.random(shape)
        buffer.write(data.astype(dtype) if dtype.kind == "f" else (data * 100).astype(dtype))
    run = compiled.run_by_index
    clock = time.perf_counter_ns
    start = clock()
    while (clock() - start) / 1e9 < warmup_s:
        run(0, inputs, outputs)
    timings, timed = [], 0
    while len(timings) < min_runs or timed / 1e9 < min_s:
        t0 = clock()
        run(0, inputs, outputs)
        t1 = clock()
        timings.append((t1 - t0) / 1000.0)
        timed += t1 - t0
    compiled.close()
    return statistics.median(timings), len(timings)


def in_process_median_subprocess(model: Path, threads: int, warmup_s: float, min_s: float,
                                 min_runs: int) -> tuple:
    """The in-process loop, in a fresh process of its own (like each runner run)."""
    code = (f"import sys; sys.path.insert(0, {str(REPO / 'benchmarks')!r});"
            "import bench_runner as b, json;"
            f"print(json.dumps(b.in_process_median(b.Path({str(model)!r}), {threads}, "
            f"{warmup_s}, {min_s}, {min_runs})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          errors="replace", check=True)
    median, count = json.loads(proc.stdout.strip().splitlines()[-1])
    return median, count


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-s", type=float, default=2.0)
    parser.add_argument("--min-runs", type=int, default=200)
    parser.add_argument("--warmup-s", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile-runs", type=int, default=200)
    args = parser.parse_args()

    models = []
    for family in ("tiny_cnn", "mobilenet_v2"):
        for variant in ("fp32", "int8"):
            path = EXAMPLES / family / f"{variant}.tflite"
            if path.is_file():
                models.append((f"{family}/{variant}", path))
    if not models:
        print(f"no example models under {EXAMPLES}; build them first", file=sys.stderr)
        return 1

    timing = ["--threads", str(args.threads), "--warmup-min-s", str(args.warmup_s),
              "--min-s", str(args.min_s), "--min-runs", str(args.min_runs)]
    rows = []
    for label, path in models:
        runner_medians, loop_medians = [], []
        for _ in range(args.rounds):
            result = runner_result(path, timing)
            runner_medians.append(statistics.median(result["latencies_us"]))
            loop_medians.append(in_process_median_subprocess(
                path, args.threads, args.warmup_s, args.min_s, args.min_runs)[0])
        runner_us = statistics.median(runner_medians)
        loop_us = statistics.median(loop_medians)
        row = {"model": label, "runner_median_us": runner_us, "loop_median_us": loop_us,
               "runner_vs_loop_pct": 100.0 * (runner_us / loop_us - 1.0),
               "rounds": {"runner": runner_medians, "loop": loop_medians}}
        for kernels in ("xnnpack", "builtin"):
            plain, profiled = [], []
            for _ in range(args.rounds):
                latency = runner_result(path, timing + ["--kernels", kernels])
                plain.append(statistics.median(latency["latencies_us"]))
                prof = runner_result(path, timing + ["--kernels", kernels, "--mode", "profile",
                                                     "--profile-runs", str(args.profile_runs)])
                profiled.append(statistics.median(prof["latencies_us"]))
            plain_us, profiled_us = statistics.median(plain), statistics.median(profiled)
            row[f"{kernels}_median_us"] = plain_us
            row[f"{kernels}_profiled_median_us"] = profiled_us
            row[f"{kernels}_profiling_overhead_pct"] = 100.0 * (profiled_us / plain_us - 1.0)
        rows.append(row)
        print(f"{label}: done", file=sys.stderr, flush=True)

    machine = {"cpu_model": cpu_model(), "cores": os.cpu_count(),
               "machine": platform.machine(), "python": platform.python_version()}
    header = ("| model | runner median µs | in-process loop µs | runner vs loop | "
              "xnnpack µs | xnnpack profiled µs | overhead | builtin µs | builtin profiled µs "
              "| overhead |")
    print(f"\nMachine: {machine['cpu_model']}, {machine['cores']} cores, threads "
          f"{args.threads}, {args.rounds} interleaved rounds, median of round medians\n")
    print(header)
    print("|" + "---|" * 10)
    for r in rows:
        print(f"| {r['model']} | {r['runner_median_us']:.1f} | {r['loop_median_us']:.1f} | "
              f"{r['runner_vs_loop_pct']:+.1f} % | {r['xnnpack_median_us']:.1f} | "
              f"{r['xnnpack_profiled_median_us']:.1f} | "
              f"{r['xnnpack_profiling_overhead_pct']:+.1f} % | {r['builtin_median_us']:.1f} | "
              f"{r['builtin_profiled_median_us']:.1f} | "
              f"{r['builtin_profiling_overhead_pct']:+.1f} % |")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    document = {"benchmark": "bench_runner", "machine": machine, "settings": vars(args),
                "rows": rows}
    temp = OUT.with_suffix(".json.tmp")
    temp.write_text(json.dumps(document, indent=1) + "\n")
    os.replace(temp, OUT)
    print(f"\nwrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
