#!/usr/bin/env python3
"""The litert runner against the official benchmark_model, side by side on the same models (not a test).

Both through harness's own runners on this host's `local` device (the same containment, the same
RunOptions: threads, warm-up, at least --min-runs invokes and --min-s seconds per run, one process
per run): the litert runner (device_scripts/litert_runner.py: ai-edge-litert's CompiledModel) and a
real benchmark_model binary (classic TFLite interpreter + XNNPACK delegate). Interleaved: each round
runs every model once with each runner, the order of models shuffled and of the two runners
alternating, so drift and noisy neighbours hit both alike. Per model and runner: the median over
rounds of each run's median invoke (p50).

Then one profile run per runner of each model variant, to see where the two disagree: the share
of invoke time in ops the XNNPACK delegate took and in those it left to the runtime's own
kernels, by op type.

Models: MobileNetV2 (alpha 0.35, 96x96) in four variants, from harness's examples
(mobilenet_v2) and, when ../shared is beside the checkout, the reference models of
../shared/reference/benchmark_model_outputs/tf2.21-x86_64-local/mnv2/. Prints markdown tables;
writes benchmarks/out/benchmark_model_vs_litert.json.

    .venv/bin/python benchmarks/bench_benchmark_model.py --tool PATH/TO/benchmark_model \\
        [--rounds 5] [--threads 1] [--kernels xnnpack] [--min-s 1] [--min-runs 100]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
EXAMPLES = REPO / "harness" / "models" / "examples_data" / "mobilenet_v2"
REFERENCE = REPO.parent / "shared" / "reference" / "benchmark_model_outputs" / "tf2.21-x86_64-local" / "mnv2"
DEFAULT_TOOL = REPO.parent / "shared" / "tools" / "benchmark_model" / "linux-x86_64" / "benchmark_model"
OUT = REPO / "benchmarks" / "out" / "benchmark_model_vs_litert.json"
VARIANTS = ("fp32", "fp16", "dynamic", "int8")


def models() -> list[tuple[str, str, Path]]:
    found = [("mobilenet_v2", v, EXAMPLES / f"{v}.tflite") for v in VARIANTS]
    if REFERENCE.is_dir():
        found += [("mnv2 (reference)", v, REFERENCE / f"mnv2_{v}.tflite") for v in VARIANTS]
    return [m for m in found if m[2].is_file()]


def lscpu() -> dict[str, str]:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    keep = ("Model name", "CPU(s)", "Thread(s) per core", "Core(s) per socket", "Flags")
    info = {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in out.splitlines()) if k.strip() in keep}
    flags = info.pop("Flags", "").split()
    info["SIMD"] = " ".join(f for f in flags if f.startswith(("avx", "fma", "sse4", "f16c")))
    return info


class Side:
    """One runner on the local device, its models pushed once."""

    def __init__(self, name: str, runner) -> None:
        self.name, self.runner, self.remote = name, runner, {}

    def run(self, label: str, path: Path, options):
        from harness.fileio import sha256_file

        if label not in self.remote:
            self.remote[label] = self.runner.push_model(path, sha256_file(path))
        parsed = self.runner.parse(self.runner.run(self.remote[label], options))
        if parsed.run.get("status") != "ok":
            raise RuntimeError(f"{self.name} failed on {label}: {parsed.run.get('error_message')}")
        return parsed


def profile_shares(ops: list[dict]) -> dict[str, float]:
    """Share of the invoke profile by (delegated or not, op type), in percent."""
    invoke = [o for o in ops if o.get("phase") == "invoke" and o.get("per_run_ms") is not None]
    total = sum(o["per_run_ms"] for o in invoke) or 1.0
    shares: dict[str, float] = {}
    for o in invoke:
        key = ("XNNPACK " if o["delegated"] else "own kernel ") + o["op_type"]
        shares[key] = shares.get(key, 0.0) + 100.0 * o["per_run_ms"] / total
    return dict(sorted(shares.items(), key=lambda kv: -kv[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", type=Path, default=DEFAULT_TOOL, help="the real benchmark_model for this host")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--kernels", default="xnnpack", help="xnnpack, builtin, or both comma-separated")
    parser.add_argument("--min-s", type=float, default=1.0)
    parser.add_argument("--min-runs", type=int, default=100)
    parser.add_argument("--warmup-s", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.tool.is_file():
        print(f"no benchmark_model at {args.tool}; pass --tool PATH", file=sys.stderr)
        return 1

    from harness.config import LOCAL_DEVICE, Device, RunOptions
    from harness.fileio import sha256_file
    from harness.runners.benchmark_model import BenchmarkModelRunner
    from harness.runners.litert import LitertRunner
    from harness.transport.local import LocalTransport

    kernels = [k.strip() for k in args.kernels.split(",")]
    todo = models()
    rng = random.Random(args.seed)
    started = datetime.now(UTC)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-bm-") as tmp, \
            LocalTransport("local", workdir=Path(tmp) / "device") as transport:
        tool_device = Device(name="local", transport="local", runner="benchmark_model")
        sides = [Side("litert", LitertRunner(LOCAL_DEVICE, transport)),
                 Side("benchmark_model", BenchmarkModelRunner(tool_device, transport, args.tool, version="bench"))]
        for side in sides:
            side.runner.prepare()
        versions = {}
        p50: dict[tuple[str, str, str, str], list[float]] = {}
        t0 = time.monotonic()
        for r in range(args.rounds):
            order = list(todo)
            rng.shuffle(order)
            for i, (family, variant, path) in enumerate(order):
                for k in kernels:
                    options = RunOptions(threads=args.threads, kernels=k, warmup_min_s=args.warmup_s,
                                         min_runs=args.min_runs, min_s=args.min_s)
                    pair = sides if (r + i) % 2 == 0 else sides[::-1]
                    for side in pair:
                        parsed = side.run(f"{family}/{variant}", path, options)
                        p50.setdefault((family, variant, k, side.name), []).append(parsed.run["p50_us"])
                        versions[side.name] = parsed.run.get("runtime_version")
            print(f"round {r + 1}/{args.rounds} done ({time.monotonic() - t0:.0f} s)", file=sys.stderr, flush=True)
        profiles = {}
        for family, variant, path in todo:
            for k in kernels:
                options = RunOptions(threads=args.threads, kernels=k, mode="profile", warmup_min_s=args.warmup_s,
                                     min_runs=args.min_runs, min_s=args.min_s)
                for side in sides:
                    parsed = side.run(f"{family}/{variant}", path, options)
                    profiles[f"{family}/{variant}/{k}/{side.name}"] = {
                        "invoke_us": parsed.run.get("profile_invoke_us"), "shares": profile_shares(parsed.ops)}
    rows = []
    for family, variant, _ in todo:
        for k in kernels:
            lit = statistics.median(p50[(family, variant, k, "litert")])
            bm = statistics.median(p50[(family, variant, k, "benchmark_model")])
            rows.append({"model": family, "variant": variant, "kernels": k, "litert_p50_us": lit,
                         "benchmark_model_p50_us": bm, "tool_vs_litert": bm / lit,
                         "rounds": {"litert": p50[(family, variant, k, "litert")],
                                    "benchmark_model": p50[(family, variant, k, "benchmark_model")]}})
    document = {
        "benchmark": "bench_benchmark_model", "date": started.isoformat(timespec="seconds"),
        "machine": {**lscpu(), "python": platform.python_version(), "load_average_start": load_start,
                    "load_average_end": os.getloadavg()},
        "tool": {"path": str(args.tool), "sha256": sha256_file(args.tool)},
        "runtime_versions": versions, "settings": {k: str(v) for k, v in vars(args).items()},
        "rows": rows, "profiles": profiles,
    }
    print(f"\n{started:%Y-%m-%d %H:%M} UTC, {document['machine'].get('Model name')}, "
          f"{document['machine'].get('CPU(s)')} CPUs, threads {args.threads}, {args.rounds} interleaved rounds, "
          f"median of each run's p50; load {load_start[0]:.1f} -> {os.getloadavg()[0]:.1f}\n")
    print("| model | variant | kernels | litert runner p50 µs | benchmark_model p50 µs | tool / litert |")
    print("|---|---|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['model']} | {row['variant']} | {row['kernels']} | {row['litert_p50_us']:.0f} | "
              f"{row['benchmark_model_p50_us']:.0f} | {row['tool_vs_litert']:.2f}x |")
    print("\nProfiles (one profile run each): share of the profiled invoke by op type\n")
    for key, prof in profiles.items():
        top = ", ".join(f"{name} {pct:.0f} %" for name, pct in list(prof["shares"].items())[:5])
        own = sum(pct for name, pct in prof["shares"].items() if name.startswith("own kernel"))
        invoke = prof["invoke_us"]
        print(f"- {key}: invoke {invoke:.0f} µs, own kernels {own:.0f} %: {top}" if invoke else f"- {key}: {top}")
        if invoke:  # per op type in µs, for comparing the two runtimes op by op
            prof["us_by_op"] = {name: invoke * pct / 100.0 for name, pct in prof["shares"].items()}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    temp = OUT.with_suffix(".json.tmp")
    temp.write_text(json.dumps(document, indent=1) + "\n")
    os.replace(temp, OUT)
    print(f"\nwrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
